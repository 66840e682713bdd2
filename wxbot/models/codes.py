"""Mini-program codes for campus events (wxa/getwxacodeunlimit): posters and the hall's door."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column
from wxbot.models.campus import Event

MAX_IMAGE_BYTES = 2**24 - 1  # MEDIUMBLOB on MySQL/MariaDB; WeChat's codes are tens of kilobytes
IMAGE_TYPE = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


class EventCode(Base):
    """One code: a random scene key (never an id or a phone) bound to an event and an optional source label
    (a school, a poster batch), with the image WeChat drew and what came of it: scans (the page resolving the
    key) and sign-ups carrying it."""

    __tablename__ = "event_codes"

    scene: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True, nullable=False
    )
    app_name: Mapped[str] = mapped_column(String(32), nullable=False)
    source: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    page: Mapped[str] = mapped_column(String(128), nullable=False)
    image: Mapped[bytes] = mapped_column(IMAGE_TYPE, nullable=False)  # PNG or JPEG
    scans: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    signups: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    event: Mapped[Event] = relationship()
