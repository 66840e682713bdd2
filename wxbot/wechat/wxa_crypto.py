"""The legacy encryptedData + iv flow of mini programs (wechat-platform.md 7.3), around wechatpy's
WeChatWxaCrypto: AES-128-CBC with the user's session_key, then the watermark appid must be ours and its
timestamp recent (data captured once must not link a phone number for as long as the session_key lives)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from wechatpy.crypto import WeChatWxaCrypto
from wechatpy.exceptions import InvalidAppIdException

MAX_ENCRYPTED_DATA = 4096  # a phone number's payload is ~200 bytes; user info ~600


class MalformedData(ValueError):
    """encrypted_data or iv is not what WeChat sends; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StaleSessionKey(Exception):
    """The data does not decrypt under this session_key: a newer wx.login replaced it (or the data is forged)."""


class WrongApp(Exception):
    """It decrypted, but the watermark names another app."""


class StaleWatermark(Exception):
    """It decrypted, but the watermark's timestamp is missing, too old or too far in the future."""


CLOCK_SKEW_SECONDS = 300  # a watermark this far ahead of our clock is still taken (WeChat's clock vs ours)


def check_watermark_age(data: dict[str, Any], *, now: int, max_age_seconds: int) -> None:
    """Raise StaleWatermark unless the decrypted data's watermark timestamp is within max_age_seconds of now."""
    watermark = data.get("watermark")
    issued = watermark.get("timestamp") if isinstance(watermark, dict) else None
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise StaleWatermark("the watermark has no timestamp")
    if issued > now + CLOCK_SKEW_SECONDS or now - issued > max_age_seconds:
        raise StaleWatermark("the watermark is too old (or in the future)")


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedData(field, f"{field} is not base64") from exc


def decrypt_user_data(appid: str, session_key: str, encrypted_data: str, iv: str) -> dict[str, Any]:
    """The decrypted JSON object; raises MalformedData, StaleSessionKey or WrongApp."""
    if len(encrypted_data) > MAX_ENCRYPTED_DATA:
        raise MalformedData("encrypted_data", "encrypted_data is too long")
    data = _b64(encrypted_data, "encrypted_data")
    if not data or len(data) % 16:
        raise MalformedData("encrypted_data", "encrypted_data is not AES-CBC ciphertext")
    if len(_b64(iv, "iv")) != 16:
        raise MalformedData("iv", "iv must be 16 bytes")
    try:
        decrypted = WeChatWxaCrypto(session_key, iv, appid).decrypt_message(encrypted_data)
    except InvalidAppIdException as exc:
        raise WrongApp("watermark names another app") from exc
    # A wrong key yields garbage: bad padding, bytes that are not UTF-8 or JSON, or JSON without a watermark.
    except (ValueError, KeyError, TypeError) as exc:
        raise StaleSessionKey("data does not decrypt under the current session_key") from exc
    if not isinstance(decrypted, dict):
        raise StaleSessionKey("data does not decrypt to a JSON object")
    return decrypted
