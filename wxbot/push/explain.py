"""Why did or didn't I get this? A notification's outcome as data and as one sentence for the person (or
the agent looking at their account)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.outbox import Notification
from wxbot.wechat.errors import REFUSED, UNFOLLOWED, WINDOW_CLOSED, WINDOW_SPENT

CHANNEL_LABELS = {"custom": "公众号客服消息", "template": "公众号模板消息", "subscribe": "小程序订阅消息",
                  "oa_subscribe": "公众号订阅通知"}  # fmt: skip

# reason codes (Notification.reason) and what they mean to a person
REASONS: dict[str, str] = {
    "preference": "按提醒设置不发送",
    "no_channel": "没有可用的渠道",
    "superseded": "已被更新的状态取代",
    "quiet_hours": "免打扰时段",
    "daily_cap": "今日提醒已达上限",
    "paused": "微信发送额度已用完（该接口暂停）",
    "retrying": "微信暂时不可用，稍后重试",
    "gave_up": "多次重试仍失败",
    "wechat_error": "微信拒绝了这条消息",
    "bad_content": "消息内容不完整",
    "blocked_by_user": "用户已拒收公众号消息",
    "delivery_failed": "微信投递失败",
    "account_closed": "账号已注销",
    "cancelled": "已取消",
    "delivery_unknown": "微信没有回答，可能已送达",
    "already_sent": "微信已收到同一条消息",
    "intercepted": "被微信拦截",
}
# why a channel could not be used (in Notification.detail / ended_channels)
CHANNEL_REASONS: dict[str, str] = {
    "window_closed": "客服消息窗口已关闭",
    "not_following": "未关注公众号",
    "no_template": "没有配置模板",
    "no_authorisation": "没有小程序订阅授权",
    "no_notice_authorisation": "没有订阅通知授权",
    "paused": "今日额度已用完",
    "no_identity": "没有可用的微信身份",
    str(UNFOLLOWED): "未关注公众号",
    str(REFUSED): "用户未授权或授权已用完",
    str(WINDOW_CLOSED): "客服消息窗口已关闭",
    str(WINDOW_SPENT): "客服消息条数已用完",
}


def outcome(notification: Notification, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """The answer as data: {"outcome", "channel", "at", "reason", "errcode", "explanation"}."""
    n = notification
    at = {
        "sent": n.sent_at,
        "delivered": n.delivered_at or n.sent_at,
        "held": n.next_attempt_at,
        "pending": n.next_attempt_at,
    }.get(n.status, n.updated_at)
    return {
        "outcome": n.status,
        "channel": n.channel if n.status in ("sent", "delivered", "failed", "sending") else None,
        "at": clock.local_iso(at, tz),
        "reason": n.reason,
        "errcode": n.errcode,
        "explanation": explain(n, tz),
    }


def history(
    session: Session, account_id: int, tz: str = "Asia/Shanghai", *, limit: int = 50
) -> list[dict[str, Any]]:
    """The account's latest notifications with their answers, newest first (the console's account page)."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.account_id == account_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return [
        {"id": n.id, "purpose": n.purpose, "created_at": clock.local_iso(n.created_at, tz), **outcome(n, tz)}
        for n in rows
    ]


def explain(notification: Notification, tz: str = "Asia/Shanghai") -> str:
    """One sentence for the person (or the agent looking at their account): what happened and why."""
    n = notification
    channel = CHANNEL_LABELS.get(n.channel or "", n.channel or "")
    when = clock.local_text(n.next_attempt_at, tz)
    match n.status:
        case "sent" if n.reason == "already_sent":
            return f"已通过{channel}发送（{clock.local_text(n.sent_at, tz)}，{REASONS['already_sent']}）"
        case "sent":
            return f"已通过{channel}发送（{clock.local_text(n.sent_at, tz)}）"
        case "delivered":
            return f"已通过{channel}送达（{clock.local_text(n.delivered_at or n.sent_at, tz)}）"
        case "sending":
            return "正在发送"
        case "held":
            return f"{REASONS.get(n.reason or '', '暂缓发送')}，将于 {when} 发送"
        case "pending" if n.reason in ("retrying", "paused"):
            code = f"（错误码 {n.errcode}）" if n.errcode else ""
            return f"{REASONS[n.reason or '']}{code}，将于 {when} 再试"
        case "pending":
            return "排队等待发送"
        case "skipped" if n.reason == "no_channel":
            return f"未发送：没有可用的渠道（{_channel_reasons(n.detail)}）"
        case "skipped" | "superseded" | "cancelled":
            return f"未发送：{REASONS.get(n.reason or '', n.reason or '')}"
        case "failed" if n.reason == "intercepted":
            return f"未送达：{channel}{REASONS['intercepted']}（{clock.local_text(n.sent_at, tz)} 发送，微信判定不符合模板消息规范）"
        case "failed" if n.reason in ("wechat_error", "gave_up"):
            return f"发送失败：{REASONS[n.reason or '']}（{channel} 错误码 {n.errcode}）"
        case "failed":
            return f"发送失败：{REASONS.get(n.reason or '', n.reason or '')}"
        case "unknown":
            return f"送达情况未知：{REASONS['delivery_unknown']}（{channel}），需人工确认后重发"
    return n.status


def _channel_reasons(detail: str | None) -> str:
    parts = []
    for item in (detail or "").split(";"):
        channel, _, why = item.strip().partition(":")
        if channel:
            label = CHANNEL_LABELS.get(channel, channel)
            parts.append(f"{label}：{CHANNEL_REASONS.get(why, why)}")
    return "；".join(parts) or "未配置渠道"


def explain_channels(why_not: list[str]) -> str:
    """Why each channel cannot be used, from a plan's why_not ("template:no_template", ...)."""
    return _channel_reasons("; ".join(why_not))
