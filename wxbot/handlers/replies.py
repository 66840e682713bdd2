"""The reply texts under wxbot/templates/replies/ (editable without code), rendered into the reply types of
wxbot.wechat.replies."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from wxbot.wechat.replies import NewsReply, TextReply

REPLY_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "replies"


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


def render_reply_text(name: str, **variables: Any) -> str:
    """The text of wxbot/templates/replies/<name>.txt, rendered with `variables`."""
    return _environment().get_template(f"{name}.txt").render(**variables).strip()


def text_reply(name: str, **variables: Any) -> TextReply:
    return TextReply(render_reply_text(name, **variables))


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
