"""WeChat's rules for the values of template and subscribe message fields (wechat-platform.md §6.2, §7.4).

A field's kind is its key without the trailing number: `thing1` is a `thing`. Two uses:
  check_field_template(): at config load, the configured text of a field (literal text with `{name}`
      placeholders) must already obey the rules, so a bad template stops start-up instead of every send;
  render_field(): at send time, fill the placeholders and cut the value so that WeChat accepts it,
      whatever the data: control characters, line breaks and emoji go, and long text is shortened without
      splitting a character from its combining marks.
Lengths are counted in UTF-16 code units, which is never less than what WeChat counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ELLIPSIS = "…"
# Template messages on the official account: every field at most 20 characters since 2023-05-04.
OFFICIAL_LIMIT = 20
# Since 2023-05-04 WeChat drops the first line, the remark and every colour (wechat-platform.md §6.2): a
# template that still has them would not show what its author wrote.
RETIRED_KEYS = frozenset({"first", "remark"})
_COLOUR_KEY = re.compile(r"(top)?colou?r[0-9]*|.*_colou?r", re.I)


@dataclass(frozen=True)
class Kind:
    limit: int
    allowed: re.Pattern[str] | None = None  # characters outside it are dropped
    ellipsis: bool = False  # a cut value ends with … (only where the kind allows symbols)


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KINDS: dict[str, Kind] = {
    "thing": Kind(20, ellipsis=True),
    "number": Kind(32, re.compile(r"[0-9.]")),
    "letter": Kind(32, re.compile(r"[A-Za-z]")),
    "symbol": Kind(5, re.compile(r"[!-/:-@\[-`{-~]")),
    "character_string": Kind(32, re.compile(r"[!-~]")),
    "time": Kind(32),
    "date": Kind(32),
    "amount": Kind(16),
    "phone_number": Kind(17, re.compile(r"[0-9+\-() ]")),
    "car_number": Kind(8, re.compile(rf"[A-Za-z0-9{_CJK}]")),
    "name": Kind(20, re.compile(r"[A-Za-z. ]")),  # or, for a Chinese name, see _NAME_CJK
    "phrase": Kind(5, re.compile(rf"[{_CJK}]")),
    "const": Kind(20, ellipsis=True),
}
# a name is 10 Chinese characters (with ·) or 20 letters, never a mix
_NAME_CJK = Kind(10, re.compile(rf"[·{_CJK}]"))

# Emoji and pictographs WeChat strips (or refuses): the symbol blocks, flags, keycaps, variation selectors.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\ufe00-\ufe0f\u20e3\u3030\u303d\u3297\u3299"
    "\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"\s+")


class FieldRuleError(ValueError):
    """A configured field text breaks WeChat's rules; the message says how."""


def kind_of(field_key: str) -> str:
    """`thing1` -> `thing`; `character_string12` -> `character_string`."""
    return field_key.rstrip("0123456789")


def utf16_len(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def clean(text: str) -> str:
    """No control or format characters, no line breaks, no emoji; runs of whitespace become one space."""
    text = _EMOJI.sub("", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Zl", "Zp") or ch in "\r\n\t\v\f":
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn") and not (category == "So" and ord(ch) > 0xFFFF):
            kept.append(ch)
    return _SPACES.sub(" ", "".join(kept)).strip()


def _cut(text: str, limit: int, ellipsis: bool) -> str:
    if utf16_len(text) <= limit:
        return text
    room = limit - (1 if ellipsis else 0)
    end, used = 0, 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > room:
            break
        used += size
        end += 1
    # A character must not lose its combining marks: cut before it instead.
    while end > 0 and end < len(text) and unicodedata.combining(text[end]):
        end -= 1
    head = text[:end].rstrip()
    return head + ELLIPSIS if ellipsis else head


def fit(kind: str, value: str, *, official: bool = False) -> str:
    """`value` made acceptable for a field of `kind` (official: a template message, at most 20 characters)."""
    rule = KINDS.get(kind, KINDS["thing"])
    text = clean(value)
    if kind == "name" and re.search(f"[{_CJK}]", text):
        rule = _NAME_CJK
    if rule.allowed is not None:
        text = "".join(ch for ch in text if rule.allowed.fullmatch(ch))
        text = _SPACES.sub(" ", text).strip()
    limit = rule.limit
    if official:
        limit = min(limit, OFFICIAL_LIMIT)
    return _cut(text, limit, rule.ellipsis)


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def check_field_template(
    field_key: str, template: str, data_names: Iterable[str] | None = None, *, official: bool = False
) -> None:
    """Raise FieldRuleError unless the configured text of `field_key` can produce a valid value."""
    if field_key in RETIRED_KEYS:
        raise FieldRuleError(
            "WeChat dropped the first line and the remark on 2023-05-04; use the category template's keywords "
            "(thing1, time2, ...)"
        )
    if _COLOUR_KEY.fullmatch(field_key):
        raise FieldRuleError("WeChat ignores colours since 2023-05-04; remove the key")
    kind = kind_of(field_key)
    if kind not in KINDS:
        raise FieldRuleError(f"unknown field kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    if data_names is not None:
        known = set(data_names)
        for name in placeholders(template):
            if name not in known:
                raise FieldRuleError(f"unknown placeholder {{{name}}} (known: {', '.join(sorted(known))})")
    literal = PLACEHOLDER.sub("", template)
    if clean(literal) != literal.strip():
        raise FieldRuleError("no line breaks, control characters, emoji or repeated spaces")
    rule = KINDS[kind]
    if rule.allowed is not None:
        bad = [ch for ch in literal if not rule.allowed.fullmatch(ch)]
        if bad:
            raise FieldRuleError(f"character {bad[0]!r} is not allowed in a {kind} field")
    limit = min(rule.limit, OFFICIAL_LIMIT) if official else rule.limit
    if utf16_len(literal) > limit:
        raise FieldRuleError(f"fixed text is longer than the {limit} characters of a {kind} field")
    if not template.strip():
        raise FieldRuleError("empty")


class MissingTemplateData(KeyError):
    """The data of a notification lacks a name its configured template uses."""


def render_field(field_key: str, template: str, data: Mapping[str, object], *, official: bool) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in data or data[name] is None:
            raise MissingTemplateData(name)
        return str(data[name])

    return fit(kind_of(field_key), PLACEHOLDER.sub(value, template), official=official)


def render_fields(
    fields: Mapping[str, str], data: Mapping[str, object], *, official: bool
) -> dict[str, dict[str, str]]:
    """The `data` object of a template/subscribe send: {"thing1": {"value": "..."}, ...}."""
    return {
        key: {"value": render_field(key, template, data, official=official)}
        for key, template in fields.items()
    }
