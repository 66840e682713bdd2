"""The layout's rules (docs: DESIGN.md "Layout"), checked on the source: every import of every module under
wxbot/ and jobs/, read with `ast` (function-level and TYPE_CHECKING imports count too), and every module's length.

(a) The domain packages import neither the web framework nor wechatpy, nor an edge.
(b) wxbot/wechat/ is the WeChat client only: no web framework, and from wxbot nothing but itself and the leaf
    helpers in WECHAT_MAY_USE.
(c) A module over MAX_LINES lines says why in its docstring, in a paragraph that starts with "Long:" (for
    example "Long: one class behind one lock; ..."). Splitting it is the other way to pass.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wxbot", "jobs")

DOMAIN = tuple(
    f"wxbot.{name}" for name in ("identity", "conversations", "push", "campus", "applications", "privacy")
)
WEB = ("flask", "werkzeug")
EDGES = ("wxbot.handlers", "wxbot.console", "wxbot.miniprogram", "wxbot.platform", "wxbot.callback",
         "wxbot.sandbox", "wxbot.web")  # fmt: skip
# What wxbot/wechat may use from the rest of wxbot, and why.
WECHAT_MAY_USE = {
    "wxbot.cache": "the token store keeps tokens and its refresh lock in the shared cache",
    "wxbot.config": "WeChatApi is built from the settings (the schema: plain dataclasses)",
    "wxbot.metrics": "the client counts its calls and token fetches (a leaf: prometheus_client only)",
}

MAX_LINES = 500
LONG_REASON = re.compile(r"(^|\n)\s*Long: \S")
# Alembic revisions are history: generated once, never edited afterwards.
NOT_MODULES = ("wxbot/migrations/versions/",)


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            yield ".".join(parts), path


MODULES = dict(_modules())


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in the file. `from a import b` names a.b when that is one
    of our modules (so `from wxbot import clock` is wxbot.clock), else a."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else base


def _within(name: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _crossings(applies_to: tuple[str, ...], forbidden: Callable[[str], str | None]) -> list[str]:
    found = []
    for module, path in MODULES.items():
        if not _within(module, applies_to):
            continue
        for line, name in sorted(set(_imports(module, path))):
            why = forbidden(name)
            if why:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({why})")
    return found


def test_the_import_walk_sees_every_kind_of_import():
    imported = {name for _, name in _imports("wxbot.callback.views", MODULES["wxbot.callback.views"])}
    assert {"flask", "wxbot.clock", "wxbot.callback.inbound", "wxbot.wechat.crypto"} <= imported
    # function-level imports too
    imported = {name for _, name in _imports("wxbot", MODULES["wxbot"])}
    assert "wxbot.sandbox.web" in imported


def test_domain_packages_import_no_web_framework_no_wechatpy_and_no_edge():
    def forbidden(name: str) -> str | None:
        if _within(name, WEB):
            return "the web framework belongs to the edges"
        if _within(name, ("wechatpy",)):
            return "only wxbot.wechat talks to WeChat"
        if _within(name, EDGES):
            return "an edge: data flows edge -> domain, never back"
        return None

    crossings = _crossings(DOMAIN, forbidden)
    assert not crossings, "domain package crossing:\n" + "\n".join(crossings)


def test_the_wechat_client_imports_nothing_of_the_project_but_itself_and_leaf_helpers():
    def forbidden(name: str) -> str | None:
        if _within(name, WEB):
            return "the client has no web framework"
        if _within(name, ("wxbot",)) and not _within(name, ["wxbot.wechat", *WECHAT_MAY_USE]):
            return f"not wxbot.wechat nor one of {sorted(WECHAT_MAY_USE)}"
        return None

    crossings = _crossings(("wxbot.wechat",), forbidden)
    assert not crossings, "wxbot/wechat crossing:\n" + "\n".join(crossings)


def _long_modules() -> Iterator[tuple[str, int, bool]]:
    """(path, lines, says why) of every module over MAX_LINES lines."""
    for path in MODULES.values():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(NOT_MODULES):
            continue
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_LINES:
            docstring = ast.get_docstring(ast.parse(source)) or ""
            yield relative, lines, bool(LONG_REASON.search(docstring))


def test_a_long_module_says_why_in_its_docstring():
    unexplained = [
        f"{path}: {lines} lines, and no 'Long: <why>' paragraph in its docstring"
        for path, lines, says_why in _long_modules()
        if not says_why
    ]
    assert not unexplained, f"over {MAX_LINES} lines:\n" + "\n".join(unexplained)
