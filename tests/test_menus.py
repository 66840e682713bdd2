"""Menus as code: `[[wechat.official.menu]]` checked at load (WeChat's limits, the router's click keys),
`wxbot menu show|diff|sync` against the sandbox WeChat (its record of menu/create), and the sandbox's menu
endpoints with WeChat's errcodes."""

from __future__ import annotations

import copy
import logging
import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import MP, OA, base_config
from wxbot.cli import main as cli
from wxbot.config import ConfigError, settings_from_dict
from wxbot.config.loading import DEMO_MENU, embedded_defaults
from wxbot.sandbox.official import check_menu
from wxbot.sandbox.rules import SandboxError
from wxbot.wechat import errors, official
from wxbot.wechat.errors import WeChatError

MENU = [
    {"type": "click", "name": "最新职位", "key": "JOBS"},
    {"name": "帮助", "sub_button": [
        {"type": "click", "name": "使用帮助", "key": "HELP"},
        {"type": "click", "name": "留言给客服", "key": "LEAVE_MESSAGE"},
        {"type": "miniprogram", "name": "我的投递", "url": "https://jobs.example.com/", "miniprogram": "mp",
         "pagepath": "pages/applications/index"},
    ]},
    {"type": "view", "name": "官网", "url": "https://jobs.example.com/"},
]  # fmt: skip
CREATE = "/cgi-bin/menu/create"


def with_menu(tmp_path, menu):
    raw = base_config(tmp_path)
    raw["wechat"]["official"][0]["menu"] = copy.deepcopy(menu)
    return raw


def load(tmp_path, menu):
    return settings_from_dict(with_menu(tmp_path, menu), env={})


# ---------------------------------------------------------------- checked at load


def test_the_demo_account_has_the_menu_whose_clicks_the_handlers_answer(tmp_path):
    raw = embedded_defaults()
    raw["app"]["var_dir"] = str(tmp_path)
    (demo,) = settings_from_dict(raw, env={}).wechat.official
    keys = {e.key for b in demo.menu for e in (b.sub_button or [b])}
    assert keys == {"JOBS", "HELP", "LEAVE_MESSAGE", "ABOUT"}
    assert [b.name for b in demo.menu] == ["最新职位", "帮助", "关于我们"]


def sub(n, **entry):
    return {
        "name": "菜单",
        "sub_button": [{"type": "click", "name": f"项{i}", "key": "HELP", **entry} for i in range(n)],
    }


@pytest.mark.parametrize(
    ("menu", "where"),
    [
        ([{"type": "click", "name": "一", "key": "HELP"}] * 4, "wechat.official[0].menu: at most 3"),
        ([sub(6)], "menu[0].sub_button: at most 5"),
        ([{"type": "click", "name": "六个汉字名字", "key": "HELP"}], "menu[0].name: at most 16 bytes"),
        ([sub(1, name="长" * 21)], "menu[0].sub_button[0].name: at most 60 bytes"),
        ([{"type": "click", "name": " ", "key": "HELP"}], "menu[0].name: missing"),
        ([{"type": "click", "name": "帮助", "key": "K" * 129}], "menu[0].key: 1 to 128 bytes"),
        ([{"type": "click", "name": "帮助", "key": "NOBODY_ANSWERS"}], "no rule answers the click key 'NOBODY_ANSWERS'"),
        ([{"type": "view", "name": "官网", "url": "ftp://x"}], "menu[0].url: an http(s) URL"),
        ([{"type": "view", "name": "官网", "url": "https://x/" + "a" * 1024}], "menu[0].url"),
        ([{"type": "scancode_push", "name": "扫码", "key": "HELP"}], "menu[0].type: one of click, view, miniprogram"),
        ([{"type": "miniprogram", "name": "小程序", "url": "https://x/", "miniprogram": "nope", "pagepath": "p"}],
         "menu[0].miniprogram: no [[wechat.miniprogram]] named 'nope'"),
        ([{"type": "miniprogram", "name": "小程序", "url": "https://x/", "miniprogram": "mp"}], "menu[0].pagepath"),
        ([{"name": "菜单", "sub_button": [sub(1)]}], "sub_button[0].sub_button: WeChat has one level"),
        ([{"name": "菜单", "type": "click", "key": "HELP", "sub_button": [sub(1)["sub_button"][0]]}],
         "menu[0]: a button with sub_button has no type"),
    ],
)  # fmt: skip
def test_a_menu_beyond_wechats_limits_or_the_routers_keys_is_refused_at_load(tmp_path, menu, where):
    with pytest.raises(ConfigError, match=None) as refused:
        load(tmp_path, menu)
    assert where in str(refused.value)


def test_click_rules_that_no_menu_reaches_are_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "wxbot.config.menus")
    load(tmp_path, MENU)  # no ABOUT entry
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "wxbot.config.menus"]
    assert warning == "wechat.official[0].menu: no menu entry sends the click key(s) ABOUT that rules answer"
    caplog.clear()
    load(tmp_path, DEMO_MENU)
    assert not [r for r in caplog.records if r.name == "wxbot.config.menus"]


KEYS = ["JOBS", "HELP", "ABOUT", "LEAVE_MESSAGE"]
names = st.text(alphabet="帮助职位ab1", min_size=0, max_size=24)  # (a blank name: refused by the config only)
entries = st.one_of(
    st.fixed_dictionaries({"type": st.just("click"), "name": names, "key": st.sampled_from(KEYS)}),
    st.fixed_dictionaries({"type": st.just("view"), "name": names,
                           "url": st.sampled_from(["https://x.example/", "https://x.example/" + "a" * 1100])}),
)  # fmt: skip
buttons = st.one_of(
    entries, st.fixed_dictionaries({"name": names, "sub_button": st.lists(entries, min_size=1, max_size=7)})
)


@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(menu=st.lists(buttons, min_size=1, max_size=5))
def test_the_config_accepts_exactly_the_menus_wechat_accepts(tmp_path, menu):
    """Within the router's keys, load's checks and the sandbox's (WeChat's) rules agree on every menu."""
    try:
        settings = load(tmp_path, menu)
    except ConfigError:
        accepted_by_config = False
    else:
        accepted_by_config = True
        assert official_menu_json(settings) is not None
    try:
        check_menu({"button": menu})
        accepted_by_wechat = True
    except SandboxError:
        accepted_by_wechat = False
    assert accepted_by_config == accepted_by_wechat, menu


def official_menu_json(settings):
    from wxbot.config.menus import menu_json

    return menu_json(settings, settings.wechat.official[0])


# ---------------------------------------------------------------- wxbot menu, against the sandbox


@pytest.fixture
def config_dict(config_dict):
    config_dict["wechat"]["official"][0]["menu"] = copy.deepcopy(MENU)
    return config_dict


def run(settings, *args):
    return CliRunner().invoke(cli, list(args), obj=settings)


def test_menu_show_prints_what_menu_create_will_get(settings):
    shown = run(settings, "menu", "show", "--app", "oa")
    assert shown.exit_code == 0, shown.output
    assert (
        f'"appid": "{MP["appid"]}"' in shown.output
        and '"pagepath": "pages/applications/index"' in shown.output
    )
    assert "warning: wechat.official[0].menu: no menu entry sends the click key(s) ABOUT" in shown.output


def test_sync_creates_the_configured_menu_and_diff_then_agrees(settings, sandbox, services):
    before = run(settings, "menu", "diff")
    assert before.exit_code == 1 and "oa: differs" in before.output and '-  "menu": null,' in before.output

    synced = run(settings, "menu", "sync", "--app", "oa")
    assert synced.exit_code == 0, synced.output
    assert "oa: menu created (3 buttons)" in synced.output
    (call,) = sandbox.calls(CREATE)
    assert call.appid == OA["appid"] and call.errcode == 0
    assert call.body["button"][1]["sub_button"][2] == {
        "type": "miniprogram", "name": "我的投递", "url": "https://jobs.example.com/", "appid": MP["appid"],
        "pagepath": "pages/applications/index"}  # fmt: skip
    assert "key" not in call.body["button"][2]

    after = run(settings, "menu", "diff")
    assert after.exit_code == 0 and "oa: as configured" in after.output
    again = run(settings, "menu", "sync")
    assert "oa: already as configured" in again.output and len(sandbox.calls(CREATE)) == 1


def test_diff_names_what_someone_changed_in_wechat(settings, sandbox, services):
    assert run(settings, "menu", "sync").exit_code == 0
    changed = copy.deepcopy(sandbox.calls(CREATE)[0].body)
    changed["button"][2]["name"] = "旧官网"
    sandbox.official.set_menu(OA["appid"], changed)
    shown = run(settings, "menu", "diff")
    assert shown.exit_code == 1
    assert re.search(r'^-\s+"name": "旧官网",$', shown.output, re.M)
    assert re.search(r'^\+\s+"name": "官网",$', shown.output, re.M)


def test_a_refusal_of_wechat_is_shown_with_its_errcode(settings, sandbox, services):
    sandbox.inject(CREATE, errcode=errors.API_UNAUTHORIZED)
    failed = run(settings, "menu", "sync")
    assert failed.exit_code == 1 and "WeChat answered 48001" in failed.output


# ---------------------------------------------------------------- the sandbox's menu endpoints


def test_the_sandbox_menu_endpoints_answer_as_wechat(services, sandbox):
    api = services.wechat
    assert official.get_menu(api, "oa") is None  # 46003: no menu
    with pytest.raises(WeChatError) as refused:
        official.add_conditional_menu(api, "oa", {"button": MENU[:1], "matchrule": {"tag_id": "2"}})
    assert refused.value.errcode == errors.NO_DEFAULT_MENU

    official.create_menu(api, "oa", {"button": [{"type": "click", "name": "帮助", "key": "HELP"}]})
    with pytest.raises(WeChatError) as refused:
        official.add_conditional_menu(api, "oa", {"button": MENU[:1], "matchrule": {}})
    assert refused.value.errcode == errors.MATCHRULE_EMPTY
    menuid = official.add_conditional_menu(
        api,
        "oa",
        {"button": [{"type": "click", "name": "学生", "key": "JOBS"}], "matchrule": {"tag_id": "2"}},
    )
    got = official.get_menu(api, "oa")
    assert got["menu"]["button"] == [{"type": "click", "name": "帮助", "key": "HELP", "sub_button": []}]
    assert got["conditionalmenu"][0]["menuid"] == menuid and got["conditionalmenu"][0]["matchrule"] == {
        "tag_id": "2"
    }

    official.delete_menu(api, "oa")
    assert official.get_menu(api, "oa") is None


@pytest.mark.parametrize(
    ("menu", "errcode"),
    [
        ({"button": []}, errors.MENU_BUTTONS_INVALID),
        ({"button": [{"type": "click", "name": "a", "key": "k"}] * 4}, errors.MENU_BUTTONS_INVALID),
        ({"button": [{"type": "dance", "name": "a", "key": "k"}]}, errors.MENU_BUTTON_TYPE_INVALID),
        ({"button": [{"type": "click", "name": "名字太长了啊", "key": "k"}]}, errors.MENU_NAME_INVALID),
        ({"button": [{"type": "click", "name": "a", "key": ""}]}, errors.MENU_KEY_INVALID),
        ({"button": [{"type": "view", "name": "a"}]}, errors.MENU_URL_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"type": "click", "name": "b", "key": "k"}] * 6}]},
         errors.MENU_SUB_BUTTONS_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"type": "x", "name": "b", "key": "k"}]}]}, errors.MENU_SUB_TYPE_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"type": "click", "name": "b" * 61, "key": "k"}]}]},
         errors.MENU_SUB_NAME_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"type": "click", "name": "b", "key": "k" * 129}]}]},
         errors.MENU_SUB_KEY_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"type": "view", "name": "b", "url": "x"}]}]},
         errors.MENU_SUB_URL_INVALID),
        ({"button": [{"name": "a", "sub_button": [{"name": "b", "sub_button": [{"type": "click", "name": "c", "key": "k"}]}]}]},
         errors.MENU_LEVEL_INVALID),
    ],
)  # fmt: skip
def test_the_sandbox_refuses_a_menu_with_wechats_errcodes(services, sandbox, menu, errcode):
    with pytest.raises(WeChatError) as refused:
        official.create_menu(services.wechat, "oa", menu)
    assert refused.value.errcode == errcode
    assert sandbox.calls(CREATE)[-1].errcode == errcode


def test_a_mini_program_may_not_have_a_menu(services, sandbox):
    with pytest.raises(WeChatError) as refused:
        services.wechat.call("mp", "miniprogram", "GET", "/cgi-bin/menu/get")
    assert refused.value.errcode == errors.API_UNAUTHORIZED


# ---------------------------------------------------------------- conditional menus, by tag

STUDENTS = {"tag_id": "101", "button": [{"type": "click", "name": "校园招聘", "key": "JOBS"},
                                        {"type": "click", "name": "关于我们", "key": "ABOUT"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda oa: oa.pop("menu"), "conditional_menu[0]: needs the default menu"),
        (lambda oa: oa["conditional_menu"][0].update(tag_id="students"), "conditional_menu[0].tag_id"),
        (lambda oa: oa["conditional_menu"].append(copy.deepcopy(STUDENTS)), "conditional_menu[1].tag_id"),
        (lambda oa: oa["conditional_menu"][0].update(button=[]), "conditional_menu[0].button: missing"),
        (lambda oa: oa["conditional_menu"][0]["button"].append({"type": "click", "name": "x", "key": "NOPE"}),
         "conditional_menu[0].button[2].key: no rule answers"),
    ],
)  # fmt: skip
def test_a_wrong_conditional_menu_is_refused_at_load(tmp_path, change, where):
    raw = with_menu(tmp_path, MENU)
    raw["wechat"]["official"][0]["conditional_menu"] = [copy.deepcopy(STUDENTS)]
    change(raw["wechat"]["official"][0])
    with pytest.raises(ConfigError) as refused:
        settings_from_dict(raw, env={})
    assert where in str(refused.value)


def test_conditional_menus_are_synced_after_the_default_and_compared_by_tag(config_dict, sandbox, tmp_path):
    config_dict["wechat"]["official"][0]["conditional_menu"] = [copy.deepcopy(STUDENTS)]
    settings = settings_from_dict(config_dict, env={})
    from wxbot import create_app
    from wxbot.db import Base

    app = create_app(settings)
    Base.metadata.create_all(app.extensions["wxbot"].engine)
    assert "oa, followers with tag 101" in run(settings, "menu", "show").output

    synced = run(settings, "menu", "sync")
    assert "oa: menu created (3 buttons, 1 conditional)" in synced.output, synced.output
    paths = [c.path for c in sandbox.calls() if c.path.startswith("/cgi-bin/menu/")]
    assert paths == ["/cgi-bin/menu/get", "/cgi-bin/menu/delete", CREATE, "/cgi-bin/menu/addconditional"]
    (added,) = sandbox.calls("/cgi-bin/menu/addconditional")
    assert added.body["matchrule"] == {"tag_id": "101"} and added.body["button"][0]["name"] == "校园招聘"
    assert run(settings, "menu", "diff").exit_code == 0
    assert "already as configured" in run(settings, "menu", "sync").output

    # a conditional menu WeChat has and the config no longer does is a difference too
    config_dict["wechat"]["official"][0]["conditional_menu"] = []
    plain = settings_from_dict(config_dict, env={})
    shown = run(plain, "menu", "diff")
    assert shown.exit_code == 1 and '-      "tag_id": "101",' in shown.output
    assert run(plain, "menu", "sync").exit_code == 0 and run(plain, "menu", "diff").exit_code == 0
    app.extensions["wxbot"].engine.dispose()
