"""The customer-service agents: accounts, passwords, logins, letting them in or keeping them out, and the
audit log's name for what they do."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.errors import Conflict, Invalid, NotFound
from wxbot.models.conversations import ROLES, Agent, Conversation
from wxbot.passwords import hash_password, password_matches
from wxbot.privacy import audit
from wxbot.texts import N_

USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
MIN_PASSWORD = 10
# compared against when the username is unknown, so a miss costs as long as a wrong password
_DUMMY_HASH = hash_password("not a real password")


def create_agent(
    session: Session, *, username: str, password: str, role: str = "agent", actor: str = "cli"
) -> Agent:
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise Invalid("invalid_username", N_("username: 2-64 lower-case letters, digits, '.', '_' or '-'"))
    if role not in ROLES:
        raise Invalid("invalid_role", f"role: one of {', '.join(ROLES)}")
    _check_password(password)
    if session.scalar(select(Agent.id).where(Agent.username == username)) is not None:
        raise Conflict("username_taken", N_("this username is taken"))
    agent = Agent(username=username, password_hash=hash_password(password), role=role)
    session.add(agent)
    session.flush()
    audit.log(session, actor=actor, action="agent.create", subject_type="agent", subject_id=agent.id,
              detail=f"role {role}")  # fmt: skip
    return agent


def all_agents(session: Session) -> list[Agent]:
    return list(session.scalars(select(Agent).order_by(Agent.username)))


def reset_password(session: Session, username: str, password: str, *, actor: str) -> Agent:
    """A new password set by an admin: the agent's sessions end (they log in with it)."""
    agent = _by_username(session, username)
    _check_password(password)
    agent.password_hash = hash_password(password)
    agent.session_generation += 1
    audit.log(session, actor=actor, action="agent.password_reset", subject_type="agent", subject_id=agent.id)
    return agent


def _by_username(session: Session, username: str) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.username == username.strip().lower()))
    if agent is None:
        raise NotFound("no_agent", f"no agent {username!r}")
    return agent


def set_active(session: Session, username: str, active: bool, *, actor: str) -> tuple[Agent, int]:
    """Let an agent in again, or keep them out: a deactivated agent's console sessions end at their next
    request, they cannot log in, and the unresolved conversations assigned to them go back to the queue.
    Returns the agent and how many conversations were unassigned."""
    agent = _by_username(session, username)
    agent.active = active
    released = 0
    if not active:
        agent.session_generation += 1  # its sessions stay void when the agent is let in again
        released = session.execute(  # type: ignore[attr-defined]
            update(Conversation)
            .where(Conversation.assignee_id == agent.id, Conversation.open_identity_id.is_not(None))
            .values(assignee_id=None)
            .execution_options(synchronize_session=False)
        ).rowcount
    audit.log(session, actor=actor, action="agent.activate" if active else "agent.deactivate",
              subject_type="agent", subject_id=agent.id, detail=f"unassigned {released}" if released else "")  # fmt: skip
    return agent, released


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 256:
        raise Invalid("invalid_password", N_("password: 10 to 256 characters"))  # MIN_PASSWORD


def authenticate(session: Session, username: str, password: str) -> Agent | None:
    agent = session.scalar(select(Agent).where(Agent.username == username.strip().lower()))
    if agent is None or not agent.active:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(agent.password_hash, password):
        return None
    agent.last_login_at = clock.now()
    return agent


def actor(agent: Agent) -> str:
    """The audit log's name for an agent: role and id, never the username."""
    return f"{agent.role}:{agent.id}"


def audit_conversation(
    session: Session, agent: Agent, action: str, conversation: Conversation, detail: str = ""
) -> None:
    """What an agent did to a conversation, in the audit log."""
    audit.log(
        session,
        actor=actor(agent),
        action=action,
        subject_type="conversation",
        subject_id=conversation.id,
        detail=detail,
    )
