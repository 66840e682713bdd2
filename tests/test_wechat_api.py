"""The WeChat API facade against the sandbox WeChat: what each call sends, what it returns, how it fails."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import MP, OA
from wxbot.wechat.api import UnknownApp, WeChatApi
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

TEXT = {"msgtype": "text", "text": {"content": "您好"}}


@pytest.fixture
def api(services, sandbox):
    return services.wechat


def errcode_of(call) -> int:
    with pytest.raises(WeChatError) as info:
        call()
    return info.value.errcode


def test_one_api_per_process(services, sandbox):
    assert services.wechat is services.wechat


def test_code2session_returns_the_login_and_never_fetches_a_token(api, sandbox):
    sandbox.add_login_code(MP["appid"], "code-1", "mp-openid-1", "sk-1", unionid="union-1")
    sandbox.add_login_code(MP["appid"], "code-2", "mp-openid-2", "sk-2")

    assert api.code2session("mp", "code-1") == {
        "openid": "mp-openid-1",
        "session_key": "sk-1",
        "unionid": "union-1",
    }
    assert api.code2session("mp", "code-2")["unionid"] is None

    (call, _) = sandbox.calls("/sns/jscode2session")
    assert call.params == {"appid": MP["appid"], "secret": MP["appsecret"], "js_code": "code-1",
                           "grant_type": "authorization_code"}  # fmt: skip
    assert sandbox.calls("/cgi-bin/stable_token") == [] and sandbox.calls("/cgi-bin/token") == []


def test_code2session_codes_are_single_use_and_must_exist(api, sandbox):
    sandbox.add_login_code(MP["appid"], "code-1", "mp-openid-1", "sk-1")
    api.code2session("mp", "code-1")
    assert errcode_of(lambda: api.code2session("mp", "code-1")) == 40163
    assert errcode_of(lambda: api.code2session("mp", "never-issued")) == 40029


def test_phone_number_returns_phone_info(api, sandbox):
    sandbox.add_phone_code(MP["appid"], "pc-1", "13800138000")
    info = api.phone_number("mp", "pc-1")
    assert info["purePhoneNumber"] == "13800138000" and info["countryCode"] == "86"
    assert info["watermark"]["appid"] == MP["appid"]
    assert sandbox.calls("/wxa/business/getuserphonenumber")[0].body == {"code": "pc-1"}
    assert errcode_of(lambda: api.phone_number("mp", "pc-1")) == 40163
    assert errcode_of(lambda: api.phone_number("mp", "other")) == 40029


def test_user_info_for_followers_and_former_followers(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1", unionid="union-1")
    sandbox.set_follower(OA["appid"], "oa-2", subscribed=False, unionid="union-2")

    info = api.user_info("oa", "oa-1")
    assert info["subscribe"] == 1 and info["unionid"] == "union-1"
    assert api.user_info("oa", "oa-2") == {"subscribe": 0, "openid": "oa-2"}
    assert errcode_of(lambda: api.user_info("oa", "stranger")) == 40003
    assert sandbox.calls("/cgi-bin/user/info")[0].params["openid"] == "oa-1"


def test_custom_messages_follow_the_window_rules(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    assert errcode_of(lambda: api.send_custom("oa", "oa-1", TEXT)) == 45015

    sandbox.touch(OA["appid"], "oa-1", "message")
    for _ in range(5):
        assert api.send_custom("oa", "oa-1", TEXT)["errcode"] == 0
    assert errcode_of(lambda: api.send_custom("oa", "oa-1", TEXT)) == 45047

    inbox = sandbox.inbox(OA["appid"], "oa-1")
    assert len(inbox) == 5 and inbox[0].kind == "custom" and inbox[0].body["text"] == {"content": "您好"}
    assert sandbox.calls("/cgi-bin/message/custom/send")[0].body == {"touser": "oa-1", **TEXT}


def test_custom_window_after_an_action_is_three_messages_for_a_minute(api, sandbox, clock):
    sandbox.set_follower(OA["appid"], "oa-1")
    sandbox.touch(OA["appid"], "oa-1", "action")
    for _ in range(3):
        api.send_custom("oa", "oa-1", TEXT)
    assert errcode_of(lambda: api.send_custom("oa", "oa-1", TEXT)) == 45047

    sandbox.touch(OA["appid"], "oa-1", "action")
    clock.advance(seconds=61)
    assert errcode_of(lambda: api.send_custom("oa", "oa-1", TEXT)) == 45015


def test_custom_message_to_someone_who_unfollowed(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    sandbox.touch(OA["appid"], "oa-1", "message")
    sandbox.set_follower(OA["appid"], "oa-1", subscribed=False)
    assert errcode_of(lambda: api.send_custom("oa", "oa-1", TEXT)) == 45015
    assert errcode_of(lambda: api.send_custom("oa", "nobody", TEXT)) == 40003


def test_template_message(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    data = {
        "thing1": {"value": "面试邀请：一个很长很长很长很长很长很长的职位名称"},
        "time2": {"value": "2026-12-01 10:00"},
    }
    answer = api.send_template("oa", "oa-1", "TPL-1", data, url="https://example.com/a", client_msg_id="n-1")
    assert isinstance(answer["msgid"], int)

    body = sandbox.calls("/cgi-bin/message/template/send")[0].body
    assert body == {"touser": "oa-1", "template_id": "TPL-1", "data": data, "url": "https://example.com/a",
                    "client_msg_id": "n-1"}  # fmt: skip
    (delivered,) = sandbox.inbox(OA["appid"], "oa-1")
    assert delivered.kind == "template" and delivered.body["msgid"] == answer["msgid"]
    assert len(delivered.body["data"]["thing1"]["value"]) == 20  # WeChat cuts, silently


def test_template_message_refusals(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    sandbox.set_follower(OA["appid"], "gone", subscribed=False)
    data = {"thing1": {"value": "x"}}
    assert errcode_of(lambda: api.send_template("oa", "gone", "TPL-1", data)) == 43004
    assert errcode_of(lambda: api.send_template("oa", "stranger", "TPL-1", data)) == 40003
    assert errcode_of(lambda: api.send_template("oa", "oa-1", "bad template!", data)) == 40037
    assert errcode_of(lambda: api.send_template("oa", "oa-1", "TPL-1", {"thing1": "x"})) == 47003
    assert sandbox.inbox(OA["appid"], "oa-1") == []


def test_subscribe_message_consumes_one_authorisation_per_send(api, sandbox):
    sandbox.set_follower(MP["appid"], "mp-1")
    data = {"thing1": {"value": "面试邀请"}, "time2": {"value": "2026年12月1日 10:00"}}
    assert errcode_of(lambda: api.send_subscribe("mp", "mp-1", "SUB-1", data)) == 43101

    sandbox.grant_subscription(MP["appid"], "mp-1", "SUB-1")
    assert api.send_subscribe("mp", "mp-1", "SUB-1", data, page="pages/a/a")["errcode"] == 0
    assert errcode_of(lambda: api.send_subscribe("mp", "mp-1", "SUB-1", data)) == 43101

    (delivered,) = sandbox.inbox(MP["appid"], "mp-1")
    assert delivered.kind == "subscribe" and delivered.body["page"] == "pages/a/a"


@pytest.mark.parametrize(
    "data",
    [
        {"thing1": {"value": "二十一个字二十一个字二十一个字二十一个字二"}},
        {"thing1": {"value": "两行\n文字"}},
        {"number1": {"value": "12a"}},
        {"phrase1": {"value": "太长的一个短语"}},
        {"amount1": {"value": "12345678901元"}},
        {"unknownkey": {"value": "x"}},
        {"thing1": {"value": ""}},
    ],
)
def test_subscribe_message_data_must_fit_the_keyword_types(api, sandbox, data):
    sandbox.set_follower(MP["appid"], "mp-1")
    sandbox.grant_subscription(MP["appid"], "mp-1", "SUB-1")
    assert errcode_of(lambda: api.send_subscribe("mp", "mp-1", "SUB-1", data)) == 47003
    # A refused send does not use the authorisation up.
    assert api.send_subscribe("mp", "mp-1", "SUB-1", {"thing1": {"value": "ok"}})["errcode"] == 0


def test_get_media(api, sandbox):
    sandbox.add_media(OA["appid"], "media-1", b"\x89PNG...", "image/png")
    assert api.get_media("oa", "media-1") == (b"\x89PNG...", "image/png")
    assert sandbox.calls("/cgi-bin/media/get")[0].params["media_id"] == "media-1"
    assert errcode_of(lambda: api.get_media("oa", "media-2")) == 40007


def test_get_media_follows_the_link_wechat_gives_for_a_video(api, sandbox):
    sandbox.add_media(OA["appid"], "video-1", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    assert api.get_media("oa", "video-1") == (b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    assert len(sandbox.calls("/video")) == 1


@pytest.mark.parametrize("content_type", ["image/png", "video/mp4"])  # a video comes through its link
def test_media_over_the_limit_is_refused_without_being_read_whole(
    services, sandbox, monkeypatch, content_type
):
    monkeypatch.setattr("wxbot.wechat.api.MAX_MEDIA_BYTES", 1000)
    api = WeChatApi(
        services.settings, services.cache, services.wechat.tokens.vault
    )  # its HTTP pool is sized when it is built
    sandbox.add_media(OA["appid"], "fits", b"x" * 1000, content_type)
    sandbox.add_media(OA["appid"], "too-big", b"x" * 1001, content_type)
    assert api.get_media("oa", "fits") == (b"x" * 1000, content_type)
    with pytest.raises(WeChatUnavailable, match="larger than 1000 bytes"):
        api.get_media("oa", "too-big")


def test_create_qrcode(api, sandbox):
    answer = api.create_qrcode("oa", "event-42", 3600)
    assert answer["expire_seconds"] == 3600 and answer["url"].startswith("http://weixin.qq.com/q/")
    body = sandbox.calls("/cgi-bin/qrcode/create")[0].body
    assert body == {"expire_seconds": 3600, "action_name": "QR_STR_SCENE",
                    "action_info": {"scene": {"scene_str": "event-42"}}}  # fmt: skip
    image = requests.get(answer["image_url"], timeout=5)
    assert image.status_code == 200 and "event-42" in image.text
    assert sandbox.ticket(answer["ticket"])["scene"] == "event-42"


def test_unknown_apps_are_refused_before_any_call(api, sandbox):
    with pytest.raises(UnknownApp):
        api.user_info("mp", "x")  # a mini program has no user/info
    with pytest.raises(UnknownApp):
        api.send_custom("nope", "x", TEXT)
    assert sandbox.calls() == []


# ---------------------------------------------------------------- failures and injection


def test_wechat_errors_carry_their_code(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    sandbox.inject("/cgi-bin/user/info", errcode=-1)
    with pytest.raises(WeChatError) as info:
        api.user_info("oa", "oa-1")
    assert info.value.errcode == -1 and "rid:" in info.value.errmsg
    assert api.user_info("oa", "oa-1")["subscribe"] == 1  # the injection was for one call


def test_http_errors_and_non_json_answers_are_unavailable(api, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    sandbox.inject("/cgi-bin/user/info", http_status=502)
    with pytest.raises(WeChatUnavailable):
        api.user_info("oa", "oa-1")
    sandbox.inject("/cgi-bin/user/info", http_status=200)  # an HTML page with status 200
    with pytest.raises(WeChatUnavailable):
        api.user_info("oa", "oa-1")
    sandbox.inject("/cgi-bin/stable_token", http_status=503)
    sandbox.expire_tokens(OA["appid"])
    with pytest.raises(WeChatUnavailable):
        api.user_info("oa", "oa-1")


@pytest.fixture
def short_timeout(config_dict):
    config_dict["wechat"]["timeout_seconds"] = 1.0


def test_a_slow_wechat_times_out_as_unavailable(short_timeout, api, sandbox, monkeypatch):
    sandbox.set_follower(OA["appid"], "oa-1")
    # The first user/info is answered only once the caller has given up (however long that takes).
    gave_up, take = threading.Event(), sandbox.take_injection

    def answer_when_the_caller_gave_up(path):
        if path == "/cgi-bin/user/info" and not gave_up.is_set():
            gave_up.wait(60)
        return take(path)

    monkeypatch.setattr(sandbox, "take_injection", answer_when_the_caller_gave_up)
    with pytest.raises(WeChatUnavailable):
        api.user_info("oa", "oa-1")
    gave_up.set()
    sandbox.inject("/cgi-bin/user/info", latency=0.1)  # slow but in time
    assert api.user_info("oa", "oa-1")["subscribe"] == 1
    # The late answer is recorded in this test, not in the next one's.
    deadline = time.monotonic() + 30
    while len(sandbox.calls("/cgi-bin/user/info")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sandbox.calls("/cgi-bin/user/info")) == 2


def test_unreachable_wechat_is_unavailable(services):
    # Without the sandbox fixture the base URL points at a closed port.
    with pytest.raises(WeChatUnavailable):
        services.wechat.user_info("oa", "oa-1")


def test_one_api_serves_many_threads_at_once(api, sandbox):
    """The sender's pool shares one WeChatApi: every call goes out whole, to the right follower, once."""
    openids = [f"oa-{i}" for i in range(24)]
    for openid in openids:
        sandbox.set_follower(OA["appid"], openid)
        sandbox.touch(OA["appid"], openid, "message")
    sandbox.inject("/cgi-bin/message/custom/send", latency=0.05, times=None)

    def send(openid):
        return api.send_custom("oa", openid, {"msgtype": "text", "text": {"content": f"to {openid}"}})

    with ThreadPoolExecutor(12) as pool:
        assert all(answer["errcode"] == 0 for answer in pool.map(send, openids))

    for openid in openids:
        (delivered,) = sandbox.inbox(OA["appid"], openid)
        assert delivered.body["text"]["content"] == f"to {openid}"
    assert len(sandbox.calls("/cgi-bin/stable_token")) == 1


@pytest.mark.parametrize("no_proxy, reaches_wechat", [("", False), ("127.0.0.1", True)])
def test_the_environments_proxy_settings_are_honoured(
    services, sandbox, monkeypatch, no_proxy, reaches_wechat
):
    """Read once when the facade is built (not per request), but still read: a proxy on a closed port
    stops every call unless NO_PROXY exempts WeChat's host."""
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    sandbox.set_follower(OA["appid"], "oa-1")
    api = WeChatApi(
        services.settings, services.cache, services.wechat.tokens.vault
    )  # the environment is read when it is built
    if reaches_wechat:
        assert api.user_info("oa", "oa-1")["openid"] == "oa-1"
    else:
        with pytest.raises(WeChatUnavailable):
            api.user_info("oa", "oa-1")
        assert sandbox.calls("/cgi-bin/user/info") == []
