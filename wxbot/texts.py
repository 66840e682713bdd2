"""Marks a text that people read, written where it is decided (a domain module), for the message catalogs.

The text is its own msgid (English); the edge that shows it translates it (the console: `_(text)` in its
templates). Domain packages cannot import the web framework's gettext; this marker is all they need.
"""


def N_(text: str) -> str:
    return text
