"""The official-account router: explicit rules (message type, event, menu key, keyword, regex, predicate)
with priorities, and a default. Handlers are plain functions of a HandlerContext returning a reply or None.
Each handler module adds its rules in `register(router)`; create_app() calls them from one list
(wxbot.handlers.MODULES):

    def register(router: Router) -> None:
        router.keyword("帮助", "help", "?")(help_text)

Rules are tried from the highest priority (the `Priority` scale below) down, in registration order within a priority; the first that
matches answers. A handler that raises is logged with its traceback and the follower gets a polite
apology; whatever it wrote is rolled back, the message itself is still stored. A lock conflict (1213
deadlock, 1205 lock wait timeout) is not the handler's failure: it goes up to the delivery's transaction,
which is run again (wxbot.callback.inbound.receive).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from wxbot import metrics
from wxbot.callback.inbound import FallbackReply, Inbound
from wxbot.db import is_lock_conflict
from wxbot.handlers.replies import text_reply
from wxbot.identity.identities import linked_account
from wxbot.models.identity import Account, Identity
from wxbot.services import Services
from wxbot.wechat.replies import NewsReply, Reply, TextReply

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Which rule wins when several match: one scale for every handler module."""

    RIGHTS = 100  # 我的数据, 注销...: a rights request is never taken for anything else
    CONVERSATION_COMMAND = 60  # 「留言」 and 「结束」 keep their meaning inside an open conversation
    FOLLOWER_COMMAND = 55  # [console] follower_commands: answered inside an open conversation, and noted
    CAPTURE = 50  # while a 留言 conversation is open, what the follower sends goes to the agents
    SCENE = 50  # a scan of a code that carries its own purpose (a binding QR code)
    ACCOUNT_COMMAND = 10  # 「绑定」 above ordinary keywords
    DEFAULT = 0
    FOLLOW_UP = -10  # what no keyword took, soon after a Resolve: back to the agents (reopens it)


@dataclass
class HandlerContext:
    message: Inbound
    identity_id: int  # the follower's identity; most messages need no more than its id
    session: Session
    services: Services
    match: re.Match[str] | None = None  # set for regex rules

    @property
    def identity(self) -> Identity:
        """The follower's identity, loaded on first use (then from the session's identity map)."""
        return self.session.get_one(Identity, self.identity_id)

    @property
    def account(self) -> Account | None:
        """The follower's platform account (wxbot.identity.identities.linked_account), or None."""
        return linked_account(self.identity)


Handler = Callable[[HandlerContext], Reply | None]
# What a report from WeChat (a delivery state, a job's end) changes, applied in the delivery's transaction.
Report = Callable[[Session, Inbound], None]
Matcher = Callable[[HandlerContext], "bool | re.Match[str] | None"]


@dataclass(frozen=True)
class Rule:
    description: str
    matches: Matcher
    handler: Handler
    priority: int
    order: int


def normalise(text: str) -> str:
    return text.strip().casefold()


@dataclass
class Router:
    rules: list[Rule] = field(default_factory=list)
    default_handler: Handler | None = None
    click_keys: frozenset[str] = frozenset()  # every menu key a click rule answers (menus are checked on it)
    reports: dict[str, Report] = field(default_factory=dict)

    def add(
        self, matches: Matcher, handler: Handler, *, priority: int = Priority.DEFAULT, description: str = ""
    ) -> Handler:
        rule = Rule(description or handler.__name__, matches, handler, priority, len(self.rules))
        self.rules.append(rule)
        self.rules.sort(key=lambda r: (-r.priority, r.order))
        return handler

    def _register(self, matches: Matcher, priority: int, description: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            return self.add(matches, handler, priority=priority, description=description)

        return decorator

    def keyword(self, *words: str, priority: int = Priority.DEFAULT) -> Callable[[Handler], Handler]:
        """Text messages that are exactly one of `words` (ignoring case and surrounding blanks)."""
        wanted = frozenset(normalise(w) for w in words)

        def matches(ctx: HandlerContext) -> bool:
            content = ctx.message.content
            return ctx.message.msg_type == "text" and content is not None and normalise(content) in wanted

        return self._register(matches, priority, f"keyword {sorted(wanted)}")

    def regex(
        self, pattern: str | re.Pattern[str], *, priority: int = Priority.DEFAULT
    ) -> Callable[[Handler], Handler]:
        """Text messages in which `pattern` is found; the handler gets the match as ctx.match."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern

        def matches(ctx: HandlerContext) -> re.Match[str] | None:
            content = ctx.message.content
            if ctx.message.msg_type != "text" or content is None:
                return None
            return compiled.search(content)

        return self._register(matches, priority, f"regex {compiled.pattern!r}")

    def event(self, *events: str, priority: int = Priority.DEFAULT) -> Callable[[Handler], Handler]:
        """Events by name, case-insensitive (subscribe, unsubscribe, SCAN, CLICK, TEMPLATESENDJOBFINISH...).
        A follow through a QR code is a `subscribe` too; its ctx.message.scene says which code."""
        wanted = frozenset(e.lower() for e in events)
        return self._register(lambda ctx: ctx.message.event in wanted, priority, f"event {sorted(wanted)}")

    def click(self, *keys: str, priority: int = Priority.DEFAULT) -> Callable[[Handler], Handler]:
        """Menu clicks (CLICK events) by EventKey."""
        wanted = frozenset(keys)
        self.click_keys |= wanted

        def matches(ctx: HandlerContext) -> bool:
            return ctx.message.event == "click" and ctx.message.event_key in wanted

        return self._register(matches, priority, f"click {sorted(wanted)}")

    def msg_type(self, *types: str, priority: int = Priority.DEFAULT) -> Callable[[Handler], Handler]:
        """Messages by MsgType (text, image, voice, video, shortvideo, location, link, event)."""
        wanted = frozenset(t.lower() for t in types)
        return self._register(
            lambda ctx: ctx.message.msg_type in wanted, priority, f"msg_type {sorted(wanted)}"
        )

    def when(
        self, predicate: Callable[[HandlerContext], bool], *, priority: int = Priority.DEFAULT
    ) -> Callable[[Handler], Handler]:
        """Anything the predicate accepts, e.g. everything while a conversation is open (give it a high priority)."""
        return self._register(predicate, priority, f"when {getattr(predicate, '__name__', 'predicate')}")

    def report(self, *events: str) -> Callable[[Report], Report]:
        """WeChat's reports by event name (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH, subscribe_msg_sent_event):
        never answered, never routed, and not the follower's doing. The callback stores them and applies
        `report` on its fast path (wxbot.callback.inbound.receive_report); one from a follower not known yet
        goes the ordinary way, where this rule applies it."""
        wanted = frozenset(e.lower() for e in events)

        def decorator(report: Report) -> Report:
            for event in wanted:
                self.reports[event] = report
            self.add(
                lambda ctx: ctx.message.event in wanted,
                lambda ctx: report(ctx.session, ctx.message),
                description=f"report {sorted(wanted)}",
            )
            return report

        return decorator

    def report_for(self, message: Inbound) -> Report | None:
        """The report registered for this delivery's event, or None when it is not a report."""
        return self.reports.get(message.event) if message.event is not None else None

    def default(self, handler: Handler) -> Handler:
        """What answers when no rule matches."""
        self.default_handler = handler
        return handler

    def handler_below(self, ctx: HandlerContext, priority: int) -> Handler | None:
        """The handler of the first rule under `priority` that matches (or the default): what would answer
        were the rules from `priority` up not there."""
        for rule in self.rules:
            if rule.priority < priority:
                found = rule.matches(ctx)
                if found:
                    ctx.match = found if isinstance(found, re.Match) else None
                    return rule.handler
        return self.default_handler

    def dispatch(self, ctx: HandlerContext) -> Reply | None:
        """The reply of the first matching rule (or the default). A handler that fails is logged and turned
        into FallbackReply(apology): the delivery is then stored without anything the handler wrote."""
        handler, description = self.default_handler, "default"
        for rule in self.rules:
            found = rule.matches(ctx)
            if found:
                handler, description = rule.handler, rule.description
                ctx.match = found if isinstance(found, re.Match) else None
                break
        if handler is None:
            return None
        name = getattr(handler, "__name__", type(handler).__name__)
        metrics.ROUTER_RULE_HITS.labels(name).inc()
        try:
            reply = handler(ctx)
            if reply is not None and not isinstance(reply, TextReply | NewsReply):
                raise TypeError(f"handler returned {type(reply).__name__}, not a reply")
            return reply
        except Exception as exc:
            if isinstance(exc, DBAPIError) and is_lock_conflict(exc):
                raise  # the whole delivery runs again; an apology would store it without the handler's work
            metrics.HANDLER_ERRORS.labels(name).inc()
            log.exception(
                "handler %s (%s) failed on %s/%s app=%s",
                getattr(handler, "__qualname__", type(handler).__name__),
                description,
                ctx.message.msg_type,
                ctx.message.event or "-",
                ctx.message.app_name,
            )
            raise FallbackReply(text_reply("error").to_dict()) from exc
