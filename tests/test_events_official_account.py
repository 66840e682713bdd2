"""「活动」 / 「宣讲会」 on the official account, through signed callbacks."""

from __future__ import annotations

import pytest

from tests.events_helpers import event_payload
from tests.helpers import platform_post
from tests.wechat_helpers import Follower


@pytest.fixture
def linked_list(config_dict):
    config_dict["events"] = {
        "list_url": "https://wxaurl.cn/events",
        "list_picurl": "https://img.example.com/e.png",
    }


def add_events(client, count):
    for n in range(count):
        body = event_payload(f"ev-{n}", days_ahead=n + 1, title=f"宣讲会第{n}场", city="上海")
        assert platform_post(client, "/platform/events", body).status_code == 201


def test_upcoming_events_as_one_card_into_the_mini_program(linked_list, client, clock):
    add_events(client, 7)
    platform_post(client, "/platform/events", event_payload("ev-0", days_ahead=1, status="cancelled"))
    reply = Follower(client).send_text("宣讲会")
    assert reply.msg_type == "news"
    (card,) = reply.articles
    assert card["Url"] == "https://wxaurl.cn/events" and card["PicUrl"] == "https://img.example.com/e.png"
    assert "校园活动" in card["Title"]
    assert "宣讲会第0场" not in card["Description"]  # cancelled
    assert [f"宣讲会第{n}场" in card["Description"] for n in range(1, 7)] == [True] * 5 + [False]
    assert "还有更多活动" in card["Description"] and "（上海）" in card["Description"]


def test_without_a_link_the_list_comes_as_text(client, clock):
    add_events(client, 1)
    reply = Follower(client).send_text("活动")
    assert reply.msg_type == "text" and "宣讲会第0场" in reply.content and "小程序" in reply.content


def test_no_upcoming_events(linked_list, client, clock):
    add_events(client, 1)
    clock.advance(days=2)  # it has happened
    reply = Follower(client).send_text("活动")
    assert reply.msg_type == "text" and "暂无" in reply.content
