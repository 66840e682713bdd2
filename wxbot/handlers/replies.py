"""What a handler answers with, and the reply texts under wxbot/templates/replies/ (editable without code).

A reply is stored with the message it answers (as a dict), so a retried delivery gets the same one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

REPLY_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "replies"


@dataclass(frozen=True)
class TextReply:
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", **asdict(self)}


@dataclass(frozen=True)
class NewsReply:
    """One article card (WeChat shows only one in answer to a user's message)."""

    title: str
    description: str
    url: str
    picurl: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "news", **asdict(self)}


Reply = TextReply | NewsReply


def reply_from_dict(data: dict[str, Any]) -> Reply:
    kind = data.get("type")
    values = {k: v for k, v in data.items() if k != "type"}
    if kind == "text":
        return TextReply(**values)
    if kind == "news":
        return NewsReply(**values)
    raise ValueError(f"unknown reply type {kind!r}")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Plain text, not HTML: nothing to escape. auto_reload picks up edited files without a restart.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPLY_TEMPLATES),
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=True,
    )


def render_reply(name: str, **variables: Any) -> str:
    """The text of wxbot/templates/replies/<name>.txt, rendered with `variables`."""
    return _environment().get_template(f"{name}.txt").render(**variables).strip()


def text_reply(name: str, **variables: Any) -> TextReply:
    return TextReply(render_reply(name, **variables))


def news_reply(name: str, **variables: Any) -> NewsReply:
    """An article card from <name>.txt: the rendered text is the description; the template sets
    `title`, `url` and optionally `picurl` with {% set %}."""
    module = _environment().get_template(f"{name}.txt").make_module(variables)
    return NewsReply(
        title=str(getattr(module, "title", "")),
        description=str(module).strip(),
        url=str(getattr(module, "url", "")),
        picurl=str(getattr(module, "picurl", "")),
    )
