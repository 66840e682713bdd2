"""Every delivery WeChat documents is accepted: each documented message and event, as WeChat's docs show it
(nested lists included), through signed and encrypted callbacks; values padded with whitespace around their
CDATA are taken stripped; nesting deeper than any documented delivery is still refused."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.wechat_helpers import Follower
from wxbot.handlers import render_reply_text
from wxbot.models import InboundMessage
from wxbot.wechat.messages import MAX_DEPTH, BadMessage, parse_xml

# The bodies of WeChat's documentation samples (官方文档 "接收事件推送", "自定义菜单事件推送", "事件推送群发结果",
# "发布能力 - 事件推送"), without the common head that each test fills in for its follower.
DOCUMENTED = {
    "text": "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId>",
    "image": "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId><MsgId>1234567890123456</MsgId>",
    "voice": "<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>1234567890123456</MsgId>",
    "video": "<MsgType><![CDATA[video]]></MsgType><MediaId><![CDATA[media_id]]></MediaId><ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId><MsgId>1234567890123456</MsgId>",
    "shortvideo": "<MsgType><![CDATA[shortvideo]]></MsgType><MediaId><![CDATA[media_id]]></MediaId><ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId><MsgId>1234567890123456</MsgId>",
    "location": "<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId>",
    "link": "<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[公众平台官网链接]]></Description><Url><![CDATA[url]]></Url><MsgId>1234567890123456</MsgId>",
    "subscribe": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>",
    "subscribe via QR code": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
    "unsubscribe": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event>",
    "SCAN": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[SCENE_VALUE]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
    "LOCATION": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
    "CLICK": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[EVENTKEY]]></EventKey>",
    "VIEW": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[www.qq.com]]></EventKey><MenuId>MENUID</MenuId>",
    "view_miniprogram": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[view_miniprogram]]></Event><EventKey><![CDATA[pages/index/index]]></EventKey><MenuId>MENUID</MenuId>",
    "scancode_push": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scancode_push]]></Event><EventKey><![CDATA[6]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
    "scancode_waitmsg": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scancode_waitmsg]]></Event><EventKey><![CDATA[6]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[2]]></ScanResult></ScanCodeInfo>",
    "pic_sysphoto": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_sysphoto]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "pic_photo_or_album": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_photo_or_album]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "pic_weixin": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_weixin]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    "location_select": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[location_select]]></Event><EventKey><![CDATA[6]]></EventKey><SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
    "TEMPLATESENDJOBFINISH": "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>",
    "MASSSENDJOBFINISH": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID>"
        "<Status><![CDATA[err(30003)]]></Status><TotalCount>0</TotalCount><FilterCount>0</FilterCount>"
        "<SentCount>0</SentCount><ErrorCount>0</ErrorCount><CopyrightCheckResult><Count>2</Count><ResultList>"
        "<item><ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState>"
        "<OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl><OriginalArticleType>1</OriginalArticleType>"
        "<CanReprint>1</CanReprint><NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource></item>"
        "<item><ArticleIdx>2</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState>"
        "<OriginalArticleUrl><![CDATA[Url_2]]></OriginalArticleUrl><OriginalArticleType>1</OriginalArticleType>"
        "<CanReprint>1</CanReprint><NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource></item>"
        "</ResultList><CheckState>2</CheckState></CopyrightCheckResult>"
        "<ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx><ArticleUrl><![CDATA[Url]]></ArticleUrl></item></ResultList></ArticleUrlResult>"
    ),
    "PUBLISHJOBFINISH": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
        "<publish_id>2247503051</publish_id><publish_status>0</publish_status>"
        "<article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4]]></article_id><article_detail><count>1</count>"
        "<item><idx>1</idx><article_url><![CDATA[ARTICLE_URL]]></article_url></item></article_detail></PublishEventInfo>"
    ),
    "PUBLISHJOBFINISH failed": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
        "<publish_id>2247503051</publish_id><publish_status>2</publish_status><fail_idx>1</fail_idx><fail_idx>2</fail_idx>"
        "</PublishEventInfo>"
    ),
    "subscribe_msg_popup_event": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent>"
        "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "<List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bsA]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "</SubscribeMsgPopupEvent>"
    ),
    "subscribe_msg_change_event": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_change_event]]></Event><SubscribeMsgChangeEvent>"
        "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent>"
    ),
    "subscribe_msg_sent_event": (
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"
        "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId><MsgID>1700827132819554304</MsgID>"
        "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent>"
    ),
}  # fmt: skip
# One value of each nested sample, as the handlers see it in the stored fields.
NESTED = {
    "pic_sysphoto": (("SendPicsInfo", "PicList", "item", "PicMd5Sum"), "1b5f7c23b5bf75682a53e7b6d163e185"),
    "pic_photo_or_album": (("SendPicsInfo", "Count"), "1"),
    "pic_weixin": (("SendPicsInfo", "PicList", "item", 1, "PicMd5Sum"), "1b5f7c23b5bf75682a53e7b6d163e185"),
    "location_select": (("SendLocationInfo", "Label"), "广州市海珠区客村艺苑路 106号"),
    "scancode_push": (("ScanCodeInfo", "ScanResult"), "1"),
    "MASSSENDJOBFINISH": (("CopyrightCheckResult", "ResultList", "item", 1, "OriginalArticleUrl"), "Url_2"),
    "PUBLISHJOBFINISH": (("PublishEventInfo", "article_detail", "item", "article_url"), "ARTICLE_URL"),
    "PUBLISHJOBFINISH failed": (("PublishEventInfo", "fail_idx"), ["1", "2"]),
}


def stored(db):
    rows = list(db.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))
    db.expunge_all()
    db.rollback()
    return rows


def body(follower, sample, create_time):
    head = (f"<ToUserName><![CDATA[{follower.account.original_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{follower.openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>")  # fmt: skip
    return f"<xml>{head}{DOCUMENTED[sample]}</xml>"


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
@pytest.mark.parametrize("sample", sorted(DOCUMENTED))
def test_every_documented_delivery_is_accepted_and_stored(plain_app, client, db, clock, sample, mode):
    follower = Follower(client, "plain" if mode == "plaintext" else "oa")
    reply = follower.deliver(body(follower, sample, follower.fields()["CreateTime"]))
    assert reply.status == 200, (sample, reply.text)
    (row,) = stored(db)
    if sample in NESTED:
        path, value = NESTED[sample]
        found = row.fields
        for step in path:
            found = found[step]
        assert found == value


@pytest.mark.parametrize("sample", ["text", "CLICK", "pic_weixin", "MASSSENDJOBFINISH"])
def test_a_retried_documented_delivery_is_stored_once(client, db, clock, sample):
    follower = Follower(client)
    xml = body(follower, sample, follower.fields()["CreateTime"])
    first = follower.deliver(xml)
    assert follower.deliver(xml).text == first.text
    assert len(stored(db)) == 1


def padded(xml: str, pad: str) -> str:
    """Every value's CDATA or text with `pad` before and after it, inside its element."""
    return re.sub(r">(<!\[CDATA\[.*?\]\]>|[^<>]+)</", lambda m: f">{pad}{m.group(1)}{pad}</", xml)


def test_values_padded_with_whitespace_are_taken_stripped(client, db):
    follower = Follower(client)
    fields = follower.fields(MsgType="text", Content="帮助", MsgId=1234567890123456)
    xml = "<xml>" + "".join(f"<{k}>\n    <![CDATA[{v}]]>\n  </{k}>" if isinstance(v, str) else f"<{k}> {v}\n</{k}>"
                            for k, v in fields.items()) + "</xml>"  # fmt: skip
    reply = follower.deliver(xml)
    assert reply.status == 200 and reply.content == render_reply_text("help")
    (row,) = stored(db)
    assert row.msg_id == "1234567890123456" and row.fields["Content"] == "帮助"


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=st.sampled_from(sorted(DOCUMENTED)), pad=st.text(alphabet=" \t\r\n", min_size=1, max_size=6))
def test_whitespace_around_any_value_parses_as_without_it(sample, pad):
    xml = (
        f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><CreateTime>1</CreateTime>{DOCUMENTED[sample]}</xml>"
    )
    assert parse_xml(padded(xml, pad).encode()) == parse_xml(xml.encode())


@given(depth=st.integers(min_value=1, max_value=12))
def test_nesting_is_accepted_to_the_documented_depth_and_refused_beyond(depth):
    xml = "<xml>" + "<a>" * depth + "v" + "</a>" * depth + "</xml>"
    if depth + 1 <= MAX_DEPTH:  # <xml> is the first level
        found = parse_xml(xml.encode())
        for _ in range(depth):
            found = found["a"]
        assert found == "v"
    else:
        with pytest.raises(BadMessage, match="nested too deeply"):
            parse_xml(xml.encode())
