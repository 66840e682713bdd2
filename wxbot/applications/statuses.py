"""The statuses of a job application, as the platform reports them, and what a push says about each."""

from __future__ import annotations

# status -> what the seeker reads
LABELS: dict[str, str] = {
    "delivered": "投递成功",
    "viewed": "被查看",
    "to_communicate": "待沟通",
    "interview": "面试邀请",
    "rejected": "不合适",
    "hired": "已录用",
}
STATUSES = tuple(LABELS)
# The `key` reminder choice keeps only these (the privacy policy: 仅提醒待沟通和面试邀请).
KEY_STATUSES = frozenset({"to_communicate", "interview"})
# Sent at once even in quiet hours and over the daily cap: an interview invitation cannot wait for morning.
URGENT_STATUSES = frozenset({"interview"})
# The channels a status push tries, in this order unless [notify] status_channels says otherwise for its
# status: template message, the official account's 订阅通知, the mini program's subscribe message.
CHANNELS = ("template", "oa_subscribe", "subscribe")
# The names a status template may use in its fields: {job_title}, {company}, ...
TEMPLATE_DATA = ("job_title", "company", "status", "changed_at", "application_id")


def template_key(status: str) -> str:
    """The [notify.templates] key of a status: `status_interview`."""
    return f"status_{status}"
