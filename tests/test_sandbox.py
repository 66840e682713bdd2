"""The sandbox WeChat over HTTP, as any client sees it: WeChat's token rules, checks, error codes, injection."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import MP, OA
from wxbot.sandbox import SandboxError
from wxbot.sandbox.rules import check_subscribe_data, check_template_data, delivered_template_data


@pytest.fixture
def wx(sandbox):
    """get(path, **params) / post(path, body, **params) against the sandbox, answers parsed."""

    class Client:
        def get(self, path, **params):
            return requests.get(sandbox.base_url + path, params=params, timeout=5).json()

        def post(self, path, body, **params):
            data = body if isinstance(body, bytes) else None
            json_body = None if isinstance(body, bytes) else body
            answer = requests.post(
                sandbox.base_url + path, params=params, data=data, json=json_body, timeout=5
            )
            return answer.json()

        def classic(self, appid=OA["appid"], secret=OA["appsecret"]):
            return self.get("/cgi-bin/token", grant_type="client_credential", appid=appid, secret=secret)

        def stable(self, force=False):
            body = {"grant_type": "client_credential", "appid": OA["appid"], "secret": OA["appsecret"],
                    "force_refresh": force}  # fmt: skip
            return self.post("/cgi-bin/stable_token", body)

        def user_info(self, token, openid="oa-1"):
            return self.get("/cgi-bin/user/info", access_token=token, openid=openid)

    sandbox.set_follower(OA["appid"], "oa-1")
    return Client()


def test_classic_tokens_replace_each_other_after_a_grace_period(wx, clock):
    first = wx.classic()
    assert first["expires_in"] == 7200
    second = wx.classic()
    assert second["access_token"] != first["access_token"]
    assert wx.user_info(first["access_token"])["subscribe"] == 1  # still valid for five minutes
    clock.advance(minutes=5)
    assert wx.user_info(first["access_token"])["errcode"] == 40001
    assert wx.user_info(second["access_token"])["subscribe"] == 1


def test_stable_tokens_repeat_until_five_minutes_before_expiry(wx, clock):
    first = wx.stable()
    clock.advance(minutes=100)
    again = wx.stable()
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7200 - 6000
    clock.advance(seconds=7200 - 6000 - 299)
    rotated = wx.stable()
    assert rotated["access_token"] != first["access_token"] and rotated["expires_in"] == 7200
    assert wx.user_info(first["access_token"])["subscribe"] == 1  # the old one lives until it expires


def test_stable_force_refresh_revokes_the_current_token(wx):
    first = wx.stable()
    forced = wx.stable(force=True)
    assert forced["access_token"] != first["access_token"]
    assert wx.user_info(first["access_token"])["errcode"] == 40001


def test_revoking_ends_every_token_at_once_even_one_in_its_grace_period(wx, sandbox):
    old, new = wx.classic()["access_token"], wx.classic()["access_token"]
    sandbox.revoke_tokens(OA["appid"])
    assert wx.user_info(old)["errcode"] == 40001 and wx.user_info(new)["errcode"] == 40001


def test_stable_and_classic_tokens_do_not_disturb_each_other(wx):
    stable = wx.stable()["access_token"]
    wx.classic()
    wx.classic()
    assert wx.user_info(stable)["subscribe"] == 1


def test_tokens_expire(wx, clock):
    token = wx.classic()["access_token"]
    clock.advance(seconds=7200)
    assert wx.user_info(token)["errcode"] == 42001


def test_token_requests_are_checked(wx):
    assert wx.classic(secret="wrong")["errcode"] == 40125
    assert wx.classic(appid="wx-unknown")["errcode"] == 40013
    assert wx.get("/cgi-bin/token", appid=OA["appid"], secret=OA["appsecret"])["errcode"] == 40002
    assert wx.get("/cgi-bin/user/info", openid="oa-1")["errcode"] == 41001
    assert wx.user_info("made-up")["errcode"] == 40001


def test_official_account_apis_refuse_a_mini_program_token_and_the_reverse(wx, sandbox):
    sandbox.set_follower(MP["appid"], "mp-1")
    sandbox.grant_subscription(OA["appid"], "oa-1", "SUB-1")
    mp_token = wx.classic(MP["appid"], MP["appsecret"])["access_token"]
    oa_token = wx.classic()["access_token"]
    data = {"thing1": {"value": "x"}}
    assert wx.user_info(mp_token, "mp-1")["errcode"] == 48001
    assert wx.post("/cgi-bin/qrcode/create", {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 1}}},
                   access_token=mp_token)["errcode"] == 48001  # fmt: skip
    assert wx.post("/cgi-bin/message/template/send", {"touser": "mp-1", "template_id": "T", "data": data},
                   access_token=mp_token)["errcode"] == 48001  # fmt: skip
    assert wx.post("/cgi-bin/message/subscribe/send", {"touser": "oa-1", "template_id": "SUB-1", "data": data},
                   access_token=oa_token)["errcode"] == 48001  # fmt: skip
    assert (
        wx.post("/wxa/business/getuserphonenumber", {"code": "x"}, access_token=oa_token)["errcode"] == 48001
    )


def test_a_token_works_for_its_own_app_only(wx, sandbox):
    sandbox.set_follower(MP["appid"], "mp-1")
    token = wx.classic()["access_token"]
    assert wx.user_info(token, "mp-1")["errcode"] == 40003


def test_bad_json_bodies_are_refused(wx):
    token = wx.classic()["access_token"]
    assert wx.post("/cgi-bin/message/custom/send", b"{not json", access_token=token)["errcode"] == 47001
    assert wx.post("/cgi-bin/message/custom/send", [1, 2], access_token=token)["errcode"] == 47001


def test_custom_message_checks(wx, sandbox):
    token = wx.classic()["access_token"]
    sandbox.touch(OA["appid"], "oa-1", "message")

    def send(body):
        return wx.post("/cgi-bin/message/custom/send", {"touser": "oa-1", **body}, access_token=token)[
            "errcode"
        ]

    assert send({"msgtype": "telepathy", "telepathy": {}}) == 40008
    assert send({"msgtype": "text"}) == 47001
    assert send({"msgtype": "text", "text": {"content": ""}}) == 44004
    assert send({"msgtype": "text", "text": {"content": "长" * 683}}) == 45002  # 2049 bytes
    articles = [{"title": "a", "url": "https://e.x"}] * 2
    assert send({"msgtype": "news", "news": {"articles": articles}}) == 45008
    assert sandbox.inbox(OA["appid"], "oa-1") == []
    assert send({"msgtype": "text", "text": {"content": "长" * 682}}) == 0


def test_qrcode_checks(wx):
    token = wx.classic()["access_token"]

    def create(body):
        return wx.post("/cgi-bin/qrcode/create", body, access_token=token)

    scene = {"scene": {"scene_str": "x"}}
    assert create({"action_name": "QR_NOPE", "action_info": scene})["errcode"] == 40052
    assert (
        create({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}})["errcode"]
        == 40097
    )
    assert (
        create({"action_name": "QR_STR_SCENE", "expire_seconds": 0, "action_info": scene})["errcode"] == 40097
    )
    assert create({"action_name": "QR_STR_SCENE", "action_info": scene})["expire_seconds"] == 30
    assert (
        create({"action_name": "QR_STR_SCENE", "expire_seconds": 10**8, "action_info": scene})[
            "expire_seconds"
        ]
        == 2592000
    )
    permanent = create({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}})
    assert "expire_seconds" not in permanent and permanent["ticket"]


def test_every_call_is_recorded_with_its_answer(wx, sandbox):
    token = wx.classic()["access_token"]
    wx.user_info(token)
    wx.user_info(token, "nobody")
    calls = sandbox.calls("/cgi-bin/user/info")
    assert [(c.params["openid"], c.errcode, c.appid) for c in calls] == [("oa-1", 0, OA["appid"]),
                                                                           ("nobody", 40003, OA["appid"])]  # fmt: skip
    assert [c.path for c in sandbox.calls()] == ["/cgi-bin/token", "/cgi-bin/user/info", "/cgi-bin/user/info"]


def test_injections_last_as_many_calls_as_asked(wx, sandbox):
    token = wx.classic()["access_token"]
    sandbox.inject("/cgi-bin/user/info", errcode=45009, times=2)
    assert [wx.user_info(token).get("errcode", 0) for _ in range(3)] == [45009, 45009, 0]

    sandbox.inject("/cgi-bin/user/info", errcode=-1, times=None)
    assert [wx.user_info(token).get("errcode") for _ in range(4)] == [-1] * 4
    sandbox.reset()
    sandbox.set_follower(OA["appid"], "oa-1")
    token = wx.classic()["access_token"]
    assert wx.user_info(token)["subscribe"] == 1


def test_latency_injection_delays_the_answer(wx, sandbox):
    token = wx.classic()["access_token"]
    sandbox.inject("/cgi-bin/user/info", latency=0.3)
    started = time.monotonic()
    assert wx.user_info(token)["subscribe"] == 1
    assert time.monotonic() - started >= 0.3


def test_concurrent_sends_respect_the_window_quota_exactly(wx, sandbox):
    """Many threads at once: the state's rules hold (five messages per user message, no more)."""
    token = wx.classic()["access_token"]
    sandbox.touch(OA["appid"], "oa-1", "message")
    body = {"touser": "oa-1", "msgtype": "text", "text": {"content": "hi"}}
    barrier = threading.Barrier(8)

    def send(_):
        barrier.wait()
        return [
            wx.post("/cgi-bin/message/custom/send", body, access_token=token)["errcode"] for _ in range(5)
        ]

    with ThreadPoolExecutor(8) as pool:
        codes = [code for batch in pool.map(send, range(8)) for code in batch]

    assert codes.count(0) == 5 and codes.count(45047) == 35
    assert len(sandbox.inbox(OA["appid"], "oa-1")) == 5
    assert len(sandbox.calls("/cgi-bin/message/custom/send")) == 40


def test_a_new_user_message_reopens_the_window(wx, sandbox, clock):
    body = {"touser": "oa-1", "msgtype": "text", "text": {"content": "hi"}}
    sandbox.touch(OA["appid"], "oa-1", "message")
    clock.advance(hours=48)
    token = wx.classic()["access_token"]
    assert wx.post("/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 45015
    sandbox.touch(OA["appid"], "oa-1", "message")
    assert wx.post("/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 0


def test_login_codes_expire_after_five_minutes(wx, sandbox, clock):
    sandbox.add_login_code(MP["appid"], "c1", "mp-1", "sk")
    clock.advance(minutes=5)
    answer = wx.get("/sns/jscode2session", appid=MP["appid"], secret=MP["appsecret"], js_code="c1",
                    grant_type="authorization_code")  # fmt: skip
    assert answer["errcode"] == 40029


# ---------------------------------------------------------------- WeChat's data rules, as properties

_printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


def _refused(check, data) -> bool:
    try:
        check(data)
    except SandboxError as exc:
        assert exc.errcode == 47003 and exc.errmsg.startswith("argument invalid!")
        return True
    return False


@given(_printable)
def test_a_thing_value_is_accepted_exactly_when_it_has_at_most_20_characters(value):
    assert _refused(check_subscribe_data, {"thing1": {"value": value}}) == (len(value) > 20)


@given(st.text(max_size=40))
def test_a_number_value_is_digits_only(value):
    ok = 0 < len(value) <= 32 and all(c in "0123456789." for c in value)
    assert _refused(check_subscribe_data, {"number2": {"value": value}}) == (not ok)


@given(_printable, st.sampled_from(["\n", "\r", "\t", "\x00"]))
def test_control_characters_are_refused_in_every_subscribe_value(value, control):
    assert _refused(check_subscribe_data, {"thing1": {"value": value[:10] + control}})


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8))  # fmt: skip
def test_any_malformed_data_is_refused_not_crashed(data):
    # Only {"key": {"value": "..."}} objects can pass; anything else is a 47003, never another exception.
    well_formed = (
        isinstance(data, dict)
        and data
        and all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values())
    )
    assert _refused(check_template_data, data) == (not well_formed)


# what WeChat keeps of a template value: anything but control characters and the emoji blocks
_no_symbols = _printable.filter(
    lambda t: not re.search("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3]", t)
)


@given(
    st.dictionaries(st.from_regex(r"[a-z]{1,8}[0-9]", fullmatch=True), _no_symbols, min_size=1, max_size=5)
)
def test_template_values_are_delivered_cut_to_20_characters(values):
    delivered = delivered_template_data({k: {"value": v} for k, v in values.items()})
    assert delivered == {key: {"value": value[:20]} for key, value in values.items()}


def test_template_delivery_drops_line_breaks_and_the_retired_first_and_remark():
    data = {"first": {"value": "您好"}, "thing1": {"value": "第一行\n第二行"}, "remark": {"value": "谢谢"}}
    assert delivered_template_data(data) == {"thing1": {"value": "第一行第二行"}}


def test_template_delivery_drops_emoji_since_2023():
    data = {"thing1": {"value": "面试👍邀请✅️"}, "thing2": {"value": "🚀" * 30 + "到岗"}}
    assert delivered_template_data(data) == {"thing1": {"value": "面试邀请"}, "thing2": {"value": "到岗"}}
