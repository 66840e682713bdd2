"""Canned replies: texts agents pick for a reply, with a few $variables filled in."""

from __future__ import annotations

import string

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot.conversations.replies import MAX_TEXT
from wxbot.errors import Conflict, Invalid, NotFound
from wxbot.models.conversations import CannedReply
from wxbot.texts import N_

VARIABLES = ("agent", "conversation", "target_hours")


def render(body: str, **variables: str) -> str:
    return string.Template(body).safe_substitute({k: variables.get(k, "") for k in VARIABLES})


def check(title: str, body: str) -> tuple[str, str]:
    """A canned reply's title and text, trimmed, or Invalid saying what is wrong."""
    title, body = title.strip(), body.strip()
    if not title or len(title) > 64:
        raise Invalid("invalid_title", N_("title: 1 to 64 characters"))
    if not body or len(body) > MAX_TEXT:
        raise Invalid("invalid_text", f"text: 1 to {MAX_TEXT} characters")
    used: set[str] = set()
    for match in string.Template.pattern.finditer(body):
        if match.group("invalid") is not None:
            raise Invalid("invalid_text", N_("text: a '$' must start a variable; write $$ for a dollar sign"))
        name = match.group("named") or match.group("braced")
        if name:
            used.add(name)
    unknown = sorted(used - set(VARIABLES))
    if unknown:
        known = ", ".join(f"${v}" for v in VARIABLES)
        raise Invalid("unknown_variable", f"unknown variable ${unknown[0]}; known: {known}")
    return title, body


def save(session: Session, *, title: str, body: str, canned_id: int | None = None) -> CannedReply:
    title, body = check(title, body)
    canned = session.get(CannedReply, canned_id) if canned_id else CannedReply()
    if canned is None:
        raise NotFound("no_canned_reply", N_("no such canned reply"))
    clash = session.scalar(select(CannedReply.id).where(CannedReply.title == title))
    if clash is not None and clash != canned.id:
        raise Conflict("canned_title_taken", f"a canned reply titled {title!r} exists")
    canned.title, canned.body = title, body
    session.add(canned)
    session.flush()
    return canned


def all_by_title(session: Session) -> list[CannedReply]:
    return list(session.scalars(select(CannedReply).order_by(CannedReply.title)))
