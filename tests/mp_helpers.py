"""Helpers for the mini-program API tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from wxbot.db import Base


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row_counts(db: Any) -> dict[str, int]:
    """Rows per table: a refusal must leave these unchanged."""
    db.expire_all()
    counts = {t.name: db.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
    db.rollback()  # on SQLite every transaction holds the write lock (BEGIN IMMEDIATE): let the app write
    return counts


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error
