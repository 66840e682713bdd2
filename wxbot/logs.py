"""Logging: one formatter (JSON lines in production) and the masking, installed once by create_app().

Masking happens where every log record is born: install_masking() wraps the process's LogRecord factory, so
each record is masked before any handler sees it -- ours, pytest's caplog, gunicorn's, or one added later.
What is masked: mainland mobile numbers, resident ID numbers, openids and unionids, and the values of
secrets (session_key, access tokens, app secrets, bearer tokens, login codes, callback signatures, the tokens
of /replies/ links, which become their token id) -- in the message, its arguments, the exception and stack
text, and string `extra` fields. Don't log those things in the first place; this is the net under the rule,
not the rule.

Every record also carries `request_id`: the id of the HTTP request (X-Request-Id, wxbot.request_ids) or the job
run the thread works for, "-" outside both; both formatters print it. It is masked like any `extra` field,
since a client chooses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from wxbot.privacy.pii import ID_NUMBER_PATTERN, PHONE_PATTERN, mask_id_number, mask_identifier, mask_phone

# Keys whose values are secrets or identifiers, in key=value (URLs, forms), "key": "value" (JSON),
# 'key': 'value' (Python reprs) and <Key><![CDATA[value]]> (WeChat XML) shapes.
_SECRET_NAMES = "|".join(
    (
        "session_key",
        "[a-z_]*token",
        "[a-z_]*secret(?:_key)?",
        "js_code",
        "encoding_?aes_?key",
        "passw(?:or)?d",
        "[a-z_]*ticket",
        # a callback's query signs a plaintext body for its timestamp window (a dev server logs the query)
        "[a-z_]*signature",
        "echostr",
    )
)
_ID_KEYS = r"openid|unionid|fromusername|touser|phone_?number|pure_?phone_?number|phone|mobile|id_number"
_KEY_VALUE = re.compile(
    rf"""(?P<key>(?<![A-Za-z0-9])["']?(?:{_SECRET_NAMES}|{_ID_KEYS})["']?)"""
    r"""(?P<sep>\s*[=:]\s*["']?)(?P<value>[^\s"'&,;}\]<>]+)""",
    re.IGNORECASE,
)
_XML_FIELD = re.compile(
    r"<(?P<tag>FromUserName|OpenID|UnionID)>(?P<cdata><!\[CDATA\[)?(?P<value>[^<\]*]++)(?!\*)", re.I
)
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# The token of a reader link (wxbot.console.reader): whoever holds it reads that follower's replies.
_READER_LINK = re.compile(r"(?P<path>/replies/)(?P<token>[A-Za-z0-9_.-]+)")

# openids and unionids: 26-30 character base64url strings beginning with "o" (as WeChat issues them).
# Requiring a capital or a digit keeps long snake_case words that begin with "o" readable.
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])o(?=[a-z_-]*[A-Z0-9])[A-Za-z0-9_-]{25,29}(?![A-Za-z0-9_-])")


def link_token_id(token: str) -> str:
    """How logs name a reader link's token: a short hash, enough to match log lines, useless as a link."""
    return "#" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _mask_key_value(match: re.Match[str]) -> str:
    key = match.group("key").strip("\"'").lower().replace("_", "")
    value = match.group("value")
    if "*" in value:  # masked already
        return match.group(0)
    if key in ("openid", "unionid", "fromusername", "touser"):
        masked = mask_identifier(value)
    elif key in ("idnumber",):
        masked = mask_id_number(value)
    elif "phone" in key or key == "mobile":
        masked = mask_phone(re.sub(r"\D", "", value)) or "***"
    else:
        masked = "***"
    return f"{match.group('key')}{match.group('sep')}{masked}"


def mask_text(text: str) -> str:
    """The text with personal data and secrets masked; masking masked text changes nothing."""
    text = _KEY_VALUE.sub(_mask_key_value, text)
    text = _XML_FIELD.sub(
        lambda m: f"<{m.group('tag')}>{m.group('cdata') or ''}{mask_identifier(m.group('value'))}", text
    )
    text = _BEARER.sub(lambda m: f"{m.group('scheme')}***", text)
    text = _READER_LINK.sub(lambda m: m.group("path") + link_token_id(m.group("token")), text)
    text = ID_NUMBER_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _OPENID.sub(lambda m: mask_identifier(m.group(0)), text)
    return PHONE_PATTERN.sub(lambda m: mask_phone(m.group(1) + m.group(2) + m.group(3)), text)


# The attributes every LogRecord has; anything else on a record came from `extra=` and is masked too.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place: the formatted message (args folded in), exception and stack text, extras."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what can be shown, masked
        message = f"{record.msg!s} {record.args!r}"
    record.msg, record.args = mask_text(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        # Formatters print exc_text when it is set, so the live exc_info is never rendered again.
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    for name, value in list(record.__dict__.items()):
        if name not in _STANDARD_ATTRS and isinstance(value, str):
            setattr(record, name, mask_text(value))
    return record


class MaskingFilter(logging.Filter):
    """The same masking as a handler filter, for handlers built outside this process's record factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


# The id of the request (or job run) this thread works for: every record carries it as `request_id`.
NO_REQUEST = "-"
request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


class _MaskingRecordFactory:
    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        record.request_id = request_id.get()
        return mask_record(record)


def install_masking() -> None:
    """Mask every record created from now on in this process, whichever logger or handler takes it."""
    if not isinstance(logging.getLogRecordFactory(), _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


_installed = False


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Install masking, and a handler with the project's formatter on the root logger, once per process."""
    global _installed
    install_masking()
    root = logging.getLogger()
    root.setLevel(level)
    # APScheduler reports every run of every job at INFO (the sender runs every few seconds): only problems.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    if _installed:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
            defaults={"request_id": NO_REQUEST},
        )
    )
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    _installed = True
