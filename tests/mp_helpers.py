"""Helpers for the mini-program API tests."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import func, select

from wxbot import clock
from wxbot.db import Base

MP_APPID = "wxmp000000000001"
PHONE = "13800138000"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row_counts(db: Any) -> dict[str, int]:
    """Rows per table: a refusal must leave these unchanged (but for the access token's copy, which the
    WeChat call behind the refusal may have fetched)."""
    db.expire_all()
    tables = [t for t in Base.metadata.sorted_tables if t.name != "access_tokens"]
    counts = {t.name: db.scalar(select(func.count()).select_from(t)) for t in tables}
    db.rollback()  # on SQLite every transaction holds the write lock (BEGIN IMMEDIATE): let the app write
    return counts


def fetch(db: Any, statement: Any) -> list[Any]:
    """Rows of a query, fresh from the database and detached, with the read transaction ended (on SQLite it
    holds the write lock the app needs next)."""
    db.expire_all()
    rows = list(db.scalars(statement))
    db.expunge_all()
    db.rollback()
    return rows


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def encrypt_user_data(session_key: str, iv: str, payload: dict) -> str:
    """What the WeChat client does (AES-128-CBC, PKCS#7), written independently of the code under test."""
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(payload).encode()) + padder.finalize()
    encryptor = Cipher(
        algorithms.AES(base64.b64decode(session_key)), modes.CBC(base64.b64decode(iv))
    ).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def new_session_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


class MiniProgramUser:
    """A WeChat user of the test mini program: wx.login codes and phone codes registered in the sandbox."""

    def __init__(self, client, sandbox, openid="o-mp-1", unionid=None):
        self.client, self.sandbox, self.openid, self.unionid = client, sandbox, openid, unionid
        self.session_key: str | None = None
        self.token: str | None = None
        self._codes = 0

    def code(self) -> str:
        self._codes += 1
        return f"{self.openid}-code-{self._codes}"

    def login(self):
        code, self.session_key = self.code(), new_session_key()
        self.sandbox.add_login_code(MP_APPID, code, self.openid, self.session_key, unionid=self.unionid)
        answer = self.client.post("/mp/mp/login", json={"code": code})
        if answer.status_code == 200:
            self.token = answer.get_json()["token"]
        return answer

    def authorise_phone(self, phone=PHONE, **extra):
        code = self.code()
        self.sandbox.add_phone_code(MP_APPID, code, phone, openid=self.openid)
        return self.post("/mp/mp/phone", {"code": code, "consent": True, **extra})

    def authorise_phone_legacy(self, phone=PHONE, *, session_key=None, appid=MP_APPID, issued=None):
        iv = new_session_key()
        issued = clock.timestamp() if issued is None else issued
        payload = {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
                   "watermark": {"appid": appid, "timestamp": issued}}  # fmt: skip
        data = encrypt_user_data(session_key or self.session_key, iv, payload)
        return self.post("/mp/mp/phone", {"encrypted_data": data, "iv": iv, "consent": True})

    def post(self, path, body):
        return self.client.post(path, json=body, headers=bearer(self.token))

    def me(self):
        return self.client.get("/mp/mp/me", headers=bearer(self.token)).get_json()
