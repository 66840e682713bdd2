"""The outbox: what domain code enqueues for a person, and how the sender gets it to WeChat.

enqueue          a message for a person (typed PushContent), in the caller's transaction
policy           the rules that hold a message back: reminder choice, quiet hours, daily cap
grants           the mini program's subscribe authorisations
planning         which channel (and identity) a due message can use now
sender           claim due messages and turn each into one WeChat call (jobs/sender.py drives it)
results          record what WeChat answered (and its delivery reports)
limits           WeChat's limits: a pause of one API of one app (45009, 45011), lifted by an operator
app_health       an app whose sends keep failing with token errors (wxbot doctor, metrics)
explain          "why did or didn't I get this?"
template_fields  WeChat's rules for template and subscribe field values
personal_data    the outbox's part of the users' rights (export, erasure, retention)
"""
