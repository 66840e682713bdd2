"""What WeChat charges for: the mini programs' phone-number quota (wechat-platform.md §7.2, §12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base


class PhoneQuota(Base):
    """One mini program's paid quota of phone-number verifications: what WeChat said at its last check
    (wxa/charge/usage/get, the daily job), the successes we counted since, and when WeChat last answered
    1400001 (no quota left)."""

    __tablename__ = "phone_quotas"

    app_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    total: Mapped[int | None] = mapped_column(Integer)  # every pack, the trial one included
    used: Mapped[int | None] = mapped_column(Integer)
    successes_since_check: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    successes_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    exhausted_at: Mapped[datetime | None] = mapped_column(DateTime)
