"""Property tests of what agents and followers type: canned-reply texts, login forms, inbound message fields."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.console_helpers import form_csrf
from wxbot.conversations import canned as canned_replies
from wxbot.conversations import conversations
from wxbot.errors import DomainError

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
with_dollars = st.lists(st.sampled_from(["$", "$$", "${", "}", "agent", "phone", "你好", " ", "target_hours", "_"]),
                        max_size=12).map("".join)  # fmt: skip


@given(title=texts, body=st.one_of(texts, with_dollars))
def test_a_canned_reply_is_accepted_whole_or_refused_with_a_reason(title, body):
    try:
        _, checked = canned_replies.check(title, body)
    except DomainError as exc:
        assert str(exc)
        return
    values = {"agent": "alice", "conversation": "7", "target_hours": "4"}
    # every placeholder of an accepted text is a known variable: strict substitution agrees with the console's
    assert canned_replies.render(checked, **values) == string.Template(checked).substitute(values)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(username=texts, password=texts)
def test_any_login_form_gets_a_clear_refusal_never_a_500(client, username, password):
    page = client.get("/console/login").get_data(as_text=True)
    response = client.post("/console/login", data={"username": username, "password": password,
                                                   "csrf_token": form_csrf(page)})  # fmt: skip
    assert response.status_code in (400, 401, 429)


@given(kind=st.sampled_from(conversations.INBOUND_KINDS), fields=st.dictionaries(
    st.sampled_from(["MediaId", "Location_X", "Location_Y", "Label", "Title", "Url", "Description", "Recognition"]),
    texts, max_size=5))  # fmt: skip
def test_details_of_any_inbound_fields_round_trip(kind, fields):
    message = conversations.TicketMessage(kind=kind, details=conversations._details(kind, fields))
    shown = conversations.details(message)
    assert all(isinstance(v, str) for v in shown.values())
