"""The checks of single fields, shared by the platform's event payload, the sign-up form and corrections:
text, years, the age they reveal. A `FieldErrors` collects every wrong field so that one answer names them all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from wxbot.errors import Invalid, Refused
from wxbot.privacy import age


def invalid_fields(problems: Mapping[str, str]) -> Invalid:
    """One or more wrong fields: `field` names the first, `fields` maps each to what is wrong with it."""
    first, message = next(iter(problems.items()))
    return Invalid("invalid_field", f"{first}: {message}", field=first, fields=dict(problems))


class FieldErrors:
    """Collects field errors so that one answer names every wrong field."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise invalid_fields(self.errors)


def clean_text(value: Any, name: str, max_len: int, errors: FieldErrors, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            errors.add(name, "required")
        return ""
    if not isinstance(value, str):
        errors.add(name, "must be a string")
        return ""
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        errors.add(name, "contains control or unassigned characters")
        return ""
    if not text:
        if required:
            errors.add(name, "required")
        return ""
    if len(text) > max_len:
        errors.add(name, f"at most {max_len} characters")
        return ""
    return text


def clean_year(value: Any, name: str, low: int, high: int, errors: FieldErrors) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "required: a year such as 2026")
        return None
    if not low <= value <= high:
        errors.add(name, f"a year from {low} to {high}")
        return None
    return value


def check_age(clean: dict[str, Any]) -> None:
    """Refuse when the fields show the person is under 16 (privacy policy §九), naming the field."""
    for name in ("birth_year", "graduation_year"):
        value = clean.get(name)
        if value is None:
            continue
        try:
            age.check_age(**{name: value})
        except age.UnderAgeError as exc:
            raise Refused(exc.code, exc.message, field=name) from None
        except Invalid as exc:
            raise invalid_fields({name: exc.message}) from None
