"""Mini-program codes for events: asked for through the signed platform API, drawn by WeChat (the sandbox's
getwxacodeunlimit), resolved by the mini program's page, scans and sign-ups counted per source."""

from __future__ import annotations

import io
import re

import pytest
import segno

from tests.conftest import MP
from tests.events_helpers import event_payload
from tests.helpers import platform_post
from tests.mp_helpers import assert_error
from tests.openapi_check import openapi_checked  # noqa: F401
from tests.test_events_mp import form, student
from wxbot.sandbox import SandboxError
from wxbot.sandbox.wxacode import opened_by

WXACODE = "/wxa/getwxacodeunlimit"
PAGE = "pages/event/index"

pytestmark = pytest.mark.usefixtures("openapi_checked")


@pytest.fixture
def event(client, sandbox, clock):
    sandbox.wxacodes.publish(MP["appid"], PAGE)
    assert platform_post(client, "/platform/events", event_payload(capacity=10)).status_code == 201


def platform_get(client, path):
    return platform_post(client, path, b"", method="GET")


def new_code(client, source=None, **extra):
    body = {**({"source": source} if source is not None else {}), **extra}
    return platform_post(client, "/platform/events/ev-1/code", body)


def test_a_code_is_drawn_for_a_random_scene_and_kept(client, sandbox, event):
    created = new_code(client, "清华大学 海报第 3 批")
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    scene = answer["scene"]
    assert re.fullmatch(r"[A-Za-z0-9]{16}", scene) and "ev-1" not in scene
    assert (answer["source"], answer["miniprogram"], answer["page"]) == ("清华大学 海报第 3 批", "mp", PAGE)
    (call,) = sandbox.calls(WXACODE)
    assert call.appid == MP["appid"] and call.body["scene"] == scene and call.body["page"] == PAGE
    image = platform_get(client, answer["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data == sandbox.wxacodes.drawn[-1].png  # what WeChat drew, kept
    assert platform_get(client, "/platform/events/ev-1/codes/AAAAAAAAAAAAAAAA/image").status_code == 404
    assert client.get(answer["url"]).status_code == 401  # the platform's signature, like every /platform call
    assert new_code(client).get_json()["scene"] != scene  # every code its own key


def test_the_scene_resolves_to_the_event_and_scans_and_signups_count_per_source(client, db, services, event):
    posters = new_code(client, "poster").get_json()["scene"]
    door = new_code(client, "hall door").get_json()["scene"]
    alice, bob = student(db, services, 1), student(db, services, 2)
    resolved = client.get(f"/mp/mp/scene/{posters}", headers=alice)
    assert resolved.status_code == 200
    assert resolved.get_json()["event"]["event_id"] == "ev-1" and resolved.get_json()["scene"] == posters
    client.get(f"/mp/mp/scene/{posters}", headers=bob)
    client.get(f"/mp/mp/scene/{door}", headers=bob)
    assert (
        client.post("/mp/mp/events/ev-1/signup", json={**form(), "scene": posters}, headers=alice).status_code
        == 201
    )
    assert (
        client.post("/mp/mp/events/ev-1/signup", json={**form(), "scene": "forged"}, headers=bob).status_code
        == 201
    )
    assert_error(client.get("/mp/mp/scene/AAAAAAAAAAAAAAAA", headers=alice), 404, "scene_not_found")
    assert_error(client.get("/mp/mp/scene/x", headers=alice), 404, "scene_not_found")
    assert client.get(f"/mp/mp/scene/{posters}").status_code == 401
    counts = platform_get(client, "/platform/events/ev-1/codes").get_json()["codes"]
    assert {c["source"]: (c["scans"], c["signups"]) for c in counts} == {
        "poster": (2, 1),
        "hall door": (1, 0),
    }


def test_an_unpublished_page_and_wechats_limit_are_clear_refusals(client, sandbox, event, config_dict):
    sandbox.wxacodes.reset()  # the page is not in the released version
    refused = assert_error(new_code(client), 409, "page_not_published")
    assert refused["errcode"] == 41030 and PAGE in refused["message"]
    sandbox.wxacodes.publish(MP["appid"], PAGE)
    sandbox.inject(WXACODE, errcode=45009, times=1)
    assert_error(new_code(client), 429, "rate_limited")
    assert platform_get(client, "/platform/events/ev-1/codes").get_json()["codes"] == []  # nothing kept
    assert_error(new_code(client, source="x" * 65), 400, "invalid_field")
    assert_error(new_code(client, miniprogram="nosuch"), 400, "invalid_field")
    assert_error(platform_post(client, "/platform/events/nosuch/code", {}), 404, "event_not_found")


def test_codes_per_minute_are_capped_before_wechat_is_asked(client, sandbox, event, config_dict, clock):
    # the cap is WeChat's 5,000 a minute; configured lower here to reach it
    client.application.extensions["wxbot"].settings.events.codes_per_minute = 2
    assert [new_code(client).status_code for _ in range(3)] == [201, 201, 429]
    assert len(sandbox.calls(WXACODE)) == 2
    clock.advance(minutes=1)
    assert new_code(client).status_code == 201


def test_the_sandbox_draws_a_scannable_code_of_what_it_opens(sandbox):
    sandbox.wxacodes.publish(MP["appid"], PAGE)
    png = sandbox.wxacodes.draw(MP["appid"], {"scene": "abcDEF123", "page": PAGE})
    assert opened_by(MP["appid"], PAGE, "abcDEF123") == f"wxapp://{MP['appid']}/{PAGE}?scene=abcDEF123"
    expected = io.BytesIO()  # the QR code of exactly that text: what a scanner reads back
    segno.make(opened_by(MP["appid"], PAGE, "abcDEF123"), error="m").save(expected, kind="png", scale=7)
    assert png == expected.getvalue()
    for bad in ({"scene": "x" * 33}, {"scene": "中文"}, {"scene": ""}):
        with pytest.raises(SandboxError, match="scene"):
            sandbox.wxacodes.draw(MP["appid"], {**bad, "page": PAGE})
