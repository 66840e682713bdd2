"""Phone numbers cost money: getuserphonenumber with the user's openid, a linked user not asked for again,
WeChat's 1400001 (no quota left) as a clear 503, and the daily quota job with what operators see."""

from __future__ import annotations

import logging

import pytest

from jobs.phone_quota import check_phone_quota
from tests.console_helpers import login, make_agent
from tests.mp_helpers import MP_APPID, PHONE, MiniProgramUser, assert_error
from tests.openapi_check import openapi_checked  # noqa: F401

PHONE_API = "/wxa/business/getuserphonenumber"
USAGE_API = "/wxa/charge/usage/get"

pytestmark = pytest.mark.usefixtures("openapi_checked")


@pytest.fixture
def user(client, sandbox):
    user = MiniProgramUser(client, sandbox)
    user.login()
    return user


def test_the_openid_goes_with_the_code_and_a_code_of_another_user_is_refused(user, sandbox):
    sandbox.add_phone_code(MP_APPID, "someone-elses", PHONE, openid="o-someone-else")
    error = assert_error(user.post("/mp/mp/phone", {"code": "someone-elses", "consent": True}), 400,
                         "invalid_code")  # fmt: skip
    assert error["errcode"] == 40029
    assert user.authorise_phone().status_code == 200
    assert [c.body["openid"] for c in sandbox.calls(PHONE_API)] == [user.openid, user.openid]


def test_a_user_linked_through_a_phone_is_not_charged_again(user, sandbox, client, db):
    assert user.authorise_phone().get_json()["linked"] is True
    again = user.authorise_phone()
    assert again.status_code == 200 and again.get_json()["linked"] is True
    assert len(sandbox.calls(PHONE_API)) == 1
    assert user.authorise_phone(change_phone=True).status_code == 200  # asked for: WeChat is asked
    assert len(sandbox.calls(PHONE_API)) == 2
    assert_error(user.authorise_phone(change_phone="yes"), 400, "invalid_field", "change_phone")


def test_no_quota_left_is_a_clear_503_and_the_operator_is_told(user, sandbox, client, db, caplog):
    sandbox.set_phone_quota(MP_APPID, total=1000, used=1000)
    with caplog.at_level(logging.ERROR, logger="wxbot.miniprogram.auth"):
        error = assert_error(user.authorise_phone(), 503, "phone_quota_exhausted")
    assert error["errcode"] == 1400001 and "额度已用完" in error["message"]
    (line,) = [r.getMessage() for r in caplog.records if "phone quota exhausted" in r.getMessage()]
    assert "app=mp" in line and user.openid not in line and PHONE not in line
    assert user.me()["linked"] is False
    make_agent(db, "root", role="admin")
    login(client, "root")
    page = client.get("/console/limits").get_data(as_text=True)
    assert "手机号快速验证额度" in page and "额度不足" in page


def test_the_daily_job_records_the_quota_and_warns_below_the_threshold(user, sandbox, client, db, caplog):
    services = client.application.extensions["wxbot"]
    sandbox.set_phone_quota(MP_APPID, total=1000, used=850)
    assert check_phone_quota(services) == 0
    assert user.authorise_phone().status_code == 200  # counted: 149 left by our estimate
    make_agent(db, "root", role="admin")
    login(client, "root")
    page = client.get("/console/limits").get_data(as_text=True)
    assert "<td>149</td>" in page and "额度不足" not in page
    sandbox.set_phone_quota(MP_APPID, total=1000, used=930)
    with caplog.at_level(logging.WARNING, logger="jobs.phone_quota"):
        assert check_phone_quota(services) == 1
    (line,) = [r.getMessage() for r in caplog.records if "phone quota low" in r.getMessage()]
    assert "app=mp remaining=70" in line
    page = client.get("/console/limits").get_data(as_text=True)
    assert "<td>70 <span" in page and "额度不足" in page
    assert [c.params["spuId"] for c in sandbox.calls(USAGE_API)] == ["10000077", "10000077"]


def test_a_top_up_clears_the_warning(user, sandbox, client, db):
    services = client.application.extensions["wxbot"]
    sandbox.set_phone_quota(MP_APPID, total=1000, used=1000)
    assert_error(user.authorise_phone(), 503, "phone_quota_exhausted")
    sandbox.set_phone_quota(MP_APPID, total=11000, used=1000)
    assert check_phone_quota(services) == 0
    assert user.authorise_phone().status_code == 200
