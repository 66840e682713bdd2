"""`wxbot doctor` against the sandbox WeChat: a table of what is right and wrong per app, exit 1 when
something is wrong, and nothing changed in WeChat (only reads in the sandbox's record)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tests.conftest import MP, OA
from tests.wechat_helpers import Follower
from wxbot import clock as clock_module
from wxbot.cli import main as cli
from wxbot.config.loading import DEMO_MENU
from wxbot.config.menus import menu_json
from wxbot.push import app_health
from wxbot.wechat import errors

TEMPLATE_ID = "tpl-interview-0001"
FIELDS = {"thing1": "{job_title}", "thing2": "{company}", "time4": "{changed_at}"}
READS = {"/cgi-bin/stable_token", "/cgi-bin/menu/get", "/cgi-bin/template/get_all_private_template",
         "/cgi-bin/openapi/quota/get"}  # fmt: skip


@pytest.fixture
def config_dict(config_dict):
    config_dict["wechat"]["official"][0]["menu"] = DEMO_MENU
    config_dict["notify"] = {
        "templates": {"status_interview": {"oa": {"template_id": TEMPLATE_ID, "fields": FIELDS}}}
    }
    return config_dict


@pytest.fixture
def set_up_right(settings, sandbox):
    """The account as wxbot wants it: its templates, the configured menu."""
    sandbox.official.add_template(OA["appid"], TEMPLATE_ID, ["thing1", "thing2", "time4"])
    sandbox.official.set_menu(OA["appid"], menu_json(settings, settings.wechat.official[0]))


def doctor(settings):
    return CliRunner().invoke(cli, ["doctor"], obj=settings)


def row(output, app, check):
    """(status, detail) of the table's row for app and check."""
    for line in output.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=3)
        if parts[:2] == [app, check]:
            return parts[2], parts[3] if len(parts) > 3 else ""
    raise AssertionError(f"no row {app} {check} in:\n{output}")


def test_an_account_set_up_right_passes_and_nothing_is_changed(
    settings, services, client, sandbox, set_up_right
):
    Follower(client).send_text("帮助")  # WeChat reaches the callback

    shown = doctor(settings)

    assert shown.exit_code == 0, shown.output
    for check in ("token", "permission: template messages", "permission: menus", "template: status_interview",
                  "menu", "quota: message/template/send", "quota: user/get", "health"):  # fmt: skip
        assert row(shown.output, "oa", check)[0] == "ok", check
    assert row(shown.output, "oa", "callback")[1].startswith("last delivery ")
    assert row(shown.output, "oa", "quota: user/get")[1] == "500 of 500 left today"
    assert row(shown.output, "mp", "token") == ("ok", "access token fetched")
    assert {c.path for c in sandbox.calls()} <= READS  # reads only: no menu/create, no send


def test_what_is_wrong_is_named_and_the_exit_status_is_1(settings, services, db, sandbox, clock):
    sandbox.official.add_template(OA["appid"], "some-other-template", ["thing1"])
    sandbox.official.set_menu(OA["appid"], {"button": [{"type": "click", "name": "旧菜单", "key": "HELP"}]})
    sandbox.official.use_quota(OA["appid"], "/cgi-bin/message/template/send", 100_000)
    sandbox.official.use_quota(OA["appid"], "/cgi-bin/message/custom/send", 480_000)
    for _ in range(settings.wechat.unhealthy_after_token_failures):
        app_health.token_failed(db, settings, "oa", errors.TOKEN_INVALID, clock_module.now())
    db.commit()

    shown = doctor(settings)

    assert shown.exit_code == 1
    assert row(shown.output, "oa", "template: status_interview") == (
        "FAIL",
        f"{TEMPLATE_ID} is not among the account's templates",
    )
    assert row(shown.output, "oa", "menu") == (
        "FAIL",
        "WeChat's menu differs from the config: `wxbot menu diff`",
    )
    assert row(shown.output, "oa", "quota: message/template/send") == ("FAIL", "0 of 100000 left today")
    assert row(shown.output, "oa", "quota: message/custom/send") == ("warn", "20000 of 500000 left today")
    assert row(shown.output, "oa", "callback")[0] == "warn"
    assert row(shown.output, "oa", "health")[0] == "FAIL"


def test_template_keywords_that_do_not_match_are_named(settings, services, sandbox, set_up_right):
    sandbox.official.reset_templates(OA["appid"])
    sandbox.official.add_template(OA["appid"], TEMPLATE_ID, ["thing1", "thing2", "time3"])
    shown = doctor(settings)
    assert row(shown.output, "oa", "template: status_interview") == (
        "FAIL",
        f"fields time4 are not keywords of {TEMPLATE_ID} (thing1, thing2, time3)",
    )


def test_an_address_off_the_ip_whitelist_is_named(settings, services, sandbox, set_up_right):
    sandbox.inject("/cgi-bin/stable_token", errcode=errors.IP_NOT_WHITELISTED)
    shown = doctor(settings)
    assert shown.exit_code == 1
    status, detail = row(shown.output, "oa", "token")
    assert status == "FAIL" and detail.startswith(
        "40164: add 127.0.0.1 (this server's egress IP) to the account's IP whitelist"
    )
    assert row(shown.output, "oa", "WeChat") == ("warn", "not asked: no access token")
    assert row(shown.output, "mp", "token")[0] == "ok"


def test_a_capability_the_account_lacks_is_named(settings, services, sandbox, set_up_right):
    sandbox.inject("/cgi-bin/menu/get", errcode=errors.API_UNAUTHORIZED)
    sandbox.inject("/cgi-bin/template/get_all_private_template", errcode=errors.API_UNAUTHORIZED)
    shown = doctor(settings)
    assert shown.exit_code == 1
    assert row(shown.output, "oa", "permission: menus")[0] == "FAIL"
    assert row(shown.output, "oa", "permission: template messages") == (
        "FAIL",
        "48001: this account may not use template messages (a verified 服务号 may)",
    )


def test_the_sandbox_quota_endpoint_answers_as_wechat(services, sandbox):
    from wxbot.wechat.errors import WeChatError

    with pytest.raises(WeChatError) as refused:
        services.wechat.quota("oa", "cgi-bin/message/template/send")  # no leading /
    assert refused.value.errcode == errors.CGI_PATH_INVALID
    assert services.wechat.quota("oa", "/cgi-bin/user/get") == {
        "daily_limit": 500,
        "used": 0,
        "remain": 500,
    }
    assert MP["appid"] not in {c.appid for c in sandbox.calls("/cgi-bin/openapi/quota/get")}
