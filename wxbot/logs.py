"""Logging: one formatter (JSON lines in production) and the masking filter, installed once by create_app()."""

from __future__ import annotations

import json
import logging
import re

from wxbot.pii import mask_phone

# Mainland mobile numbers, with or without +86, not inside a longer run of digits.
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d{9})(?!\d)")
# Resident ID numbers: 17 digits and a check digit or X.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
# openids and unionids: 28-char base64url-ish strings starting with o (official/mini program ids look like that)
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])(o[A-Za-z0-9_-]{4})[A-Za-z0-9_-]{18,30}(?![A-Za-z0-9_-])")


def mask_text(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)[-1]}", text)
    text = _PHONE.sub(lambda m: mask_phone(m.group(1)), text)
    return _OPENID.sub(lambda m: f"{m.group(1)}***", text)


class MaskingFilter(logging.Filter):
    """Masks phone numbers, ID numbers, openids and unionids in every record, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


_installed = False


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Install the handler and the masking filter on the root logger, once per process."""
    global _installed
    root = logging.getLogger()
    root.setLevel(level)
    if _installed:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    # Filters on the root logger's handlers also see records of child loggers; caplog and other handlers
    # added later get the filter through install_masking().
    install_masking(root)
    _installed = True


def install_masking(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
