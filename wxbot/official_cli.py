"""`wxbot menu`, `wxbot followers` and `wxbot doctor`: putting an official account in WeChat in the state the
config describes, and saying whether it is (docs/operations.md, "Switching an existing official account").
Registered on the `wxbot` command by wxbot.cli."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from wxbot.config import Settings
from wxbot.config.menus import conditional_json, menu_json, validate_menus, wanted_menus, wechat_menus
from wxbot.config.schema import OfficialAccount

if TYPE_CHECKING:
    from wxbot.services import Services


def _settings() -> Settings:
    from wxbot.cli import _settings as configured

    return configured()


@contextmanager
def _services() -> Iterator[Services]:
    from wxbot.services import build_services

    services = build_services(_settings())
    try:
        yield services
    finally:
        services.engine.dispose()


def _accounts(settings: Settings, name: str | None) -> list[OfficialAccount]:
    if name is None:
        return list(settings.wechat.official)
    account = settings.official_account(name)
    if account is None:
        raise click.ClickException(f"--app {name}: no [[wechat.official]] of that name")
    return [account]


def _wechat_failure(exc: Exception) -> click.ClickException:
    from wxbot.wechat.errors import WeChatError

    if isinstance(exc, WeChatError):
        return click.ClickException(f"WeChat answered {exc.errcode}: {exc.errmsg}")
    return click.ClickException(f"WeChat unavailable: {exc}")


def _pretty(menu: dict[str, Any]) -> str:
    return json.dumps(menu, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------- wxbot menu


@click.group("menu")
def menu_group() -> None:
    """The official accounts' menus: [[wechat.official.menu]] in the config, menu/create in WeChat."""


app_option = click.option("--app", "app_name", default=None, help="one official account (default: every one)")


@menu_group.command("show")
@app_option
def menu_show(app_name: str | None) -> None:
    """Print the configured menu as menu/create will receive it, and the click rules no menu reaches."""
    settings = _settings()
    for account in _accounts(settings, app_name):
        click.echo(f"# {account.name}")
        click.echo(_pretty(menu_json(settings, account)) if account.menu else "(no menu configured)")
        for conditional in conditional_json(settings, account):
            click.echo(f"# {account.name}, followers with tag {conditional['matchrule']['tag_id']}")
            click.echo(_pretty(conditional))
    for warning in validate_menus(settings):
        click.echo(f"warning: {warning}", err=True)


@menu_group.command("diff")
@app_option
def menu_diff(app_name: str | None) -> None:
    """Compare WeChat's menu (menu/get) with the config; exit 1 when one differs."""
    from wxbot.wechat import official
    from wxbot.wechat.errors import WeChatError, WeChatUnavailable

    differ = False
    with _services() as services:
        for account in _accounts(services.settings, app_name):
            try:
                current = official.get_menu(services.wechat, account.name)
            except (WeChatError, WeChatUnavailable) as exc:
                raise _wechat_failure(exc) from exc
            lines = menu_difference(services.settings, account, current)
            differ = differ or bool(lines)
            click.echo(f"{account.name}: " + ("differs" if lines else "as configured"))
            for line in lines:
                click.echo(line)
    if differ:
        sys.exit(1)


def menu_difference(
    settings: Settings, account: OfficialAccount, current: dict[str, Any] | None
) -> list[str]:
    """A unified diff from WeChat's menus (default and conditional) to the configured ones (empty: the same)."""
    wanted, have = _pretty(wanted_menus(settings, account)), _pretty(wechat_menus(current))
    if wanted == have:
        return []
    return list(difflib.unified_diff(have.splitlines(), wanted.splitlines(), "wechat", "config", lineterm=""))


@menu_group.command("sync")
@app_option
def menu_sync(app_name: str | None) -> None:
    """Send the configured menus to WeChat where they differ: menu/create, and with conditional menus on either
    side, menu/delete first and menu/addconditional after (followers see no menu for that moment). An account
    configured without a menu is left alone. Followers' clients show a new menu within minutes."""
    from wxbot.wechat import official
    from wxbot.wechat.errors import WeChatError, WeChatUnavailable

    with _services() as services:
        for account in _accounts(services.settings, app_name):
            if not account.menu:
                click.echo(f"{account.name}: no menu configured, left as it is")
                continue
            try:
                current = official.get_menu(services.wechat, account.name)
                if not menu_difference(services.settings, account, current):
                    click.echo(f"{account.name}: already as configured")
                    continue
                conditional = conditional_json(services.settings, account)
                if conditional or wechat_menus(current)["conditional"]:
                    official.delete_menu(services.wechat, account.name)
                official.create_menu(services.wechat, account.name, menu_json(services.settings, account))
                for menu in conditional:
                    official.add_conditional_menu(services.wechat, account.name, menu)
            except (WeChatError, WeChatUnavailable) as exc:
                raise _wechat_failure(exc) from exc
            extra = f", {len(conditional)} conditional" if conditional else ""
            click.echo(f"{account.name}: menu created ({len(account.menu)} buttons{extra})")


# ---------------------------------------------------------------- wxbot followers


@click.group("followers")
def followers_group() -> None:
    """The official accounts' followers as WeChat lists them."""


@followers_group.command("sync")
@app_option
@click.option("--rate", type=float, default=20.0, show_default=True, help="calls to WeChat a second, at most")
@click.option("--restart", is_flag=True, help="walk from the first page, not from where the last run stopped")
def followers_sync(app_name: str | None, rate: float, restart: bool) -> None:
    """Back-fill the followers who followed before wxbot: user/get lists them (10,000 a page), their
    identities are created, user/info/batchget (100 a call) tells their unionid and whether they still follow.
    Resumes where a stopped run was. Spends user/get's daily quota (500) at 1 call per 10,000 followers."""
    import time

    from wxbot.identity import backfill
    from wxbot.wechat.errors import WeChatError, WeChatUnavailable

    if rate <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--rate")
    with _services() as services:
        for account in _accounts(services.settings, app_name):
            began = time.monotonic()
            with _ProgressBar(account.name) as bar:
                try:
                    done = backfill.sync(services.session_factory, services.wechat, account.name, rate=rate,
                                         restart=restart, progress=bar.show)  # fmt: skip
                except (WeChatError, WeChatUnavailable) as exc:
                    again = "the walk stopped where it was: run `wxbot followers sync` again"
                    raise click.ClickException(f"{_wechat_failure(exc).message}; {again}") from exc
            resumed = " (resumed)" if done.resumed else ""
            click.echo(
                f"{account.name}{resumed}: {done.listed} followers listed of {done.total}, "
                f"{done.created} identities created, {done.unionids} unionids learned, {done.left} no longer "
                f"following; {done.calls} calls to WeChat in {time.monotonic() - began:.1f} s"
            )


class _ProgressBar:
    """click's progress bar over the followers walked, with the counts beside it and click's estimate."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def show(self, state: Any) -> None:
        if self.bar is None and state.total:
            self.bar = click.progressbar(length=state.total, label=self.app_name, show_eta=True, show_pos=True,
                                         item_show_func=lambda text: text, file=sys.stderr)  # fmt: skip
            self.bar.render_progress()
        if self.bar is None:
            return
        counts = f"{state.created} created · {state.unionids} unionids · {state.calls} calls"
        self.bar.update(max(state.walked - self.shown, 0), counts)
        self.shown = max(state.walked, self.shown)


# ---------------------------------------------------------------- wxbot doctor


@click.command("doctor")
def doctor() -> None:
    """Check each configured app in WeChat without changing anything: token (IP whitelist), permissions,
    templates, menu, the callback's last delivery, daily quotas, health. Exits 1 when something is wrong."""
    from wxbot import doctor as checks

    with _services() as services:
        findings = checks.examine(services.settings, services.wechat, services.session_factory)
    click.echo(checks.table(findings))
    failed = [f for f in findings if f.status == checks.FAIL]
    warned = sum(1 for f in findings if f.status == checks.WARN)
    click.echo(f"{len(failed)} wrong, {warned} to look at, {len(findings) - len(failed) - warned} ok")
    if failed:
        sys.exit(1)


COMMANDS = (menu_group, followers_group, doctor)
