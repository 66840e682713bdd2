"""Personal data at rest: authenticated encryption with rotating keys, keyed lookup hashes, masking.

Pure functions over bytes and strings; the keys come from settings ([security] pii_keys, hash_key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"


class PiiKeys:
    """The newest key encrypts; every key decrypts. A ciphertext names its key by a short fingerprint."""

    def __init__(self, keys: list[bytes], hash_key: bytes) -> None:
        if not keys:
            raise ValueError("at least one PII key is needed")
        self.keys = keys
        self.hash_key = hash_key
        self._by_id = {self._key_id(k): k for k in keys}

    @staticmethod
    def _key_id(key: bytes) -> bytes:
        return hashlib.sha256(b"wxbot-pii-key-id" + key).digest()[:4]

    def encrypt(self, plaintext: str) -> str:
        key = self.keys[0]
        nonce = os.urandom(12)
        blob = _VERSION + self._key_id(key) + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), _VERSION)
        return base64.urlsafe_b64encode(blob).decode()

    def decrypt(self, token: str) -> str:
        blob = base64.urlsafe_b64decode(token.encode())
        if blob[:2] != _VERSION:
            raise ValueError("unknown ciphertext version")
        key = self._by_id.get(blob[2:6])
        if key is None:
            raise ValueError("ciphertext key is not configured")
        try:
            return AESGCM(key).decrypt(blob[6:18], blob[18:], _VERSION).decode()
        except InvalidTag as exc:
            raise ValueError("ciphertext failed authentication") from exc

    def is_current(self, token: str) -> bool:
        return base64.urlsafe_b64decode(token.encode())[2:6] == self._key_id(self.keys[0])

    def lookup_hash(self, value: str, purpose: str = "phone") -> str:
        """Keyed hash for equality lookups; `purpose` separates namespaces."""
        return hmac.new(self.hash_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


_DIGITS = re.compile(r"\D")


def normalise_phone(raw: str) -> str:
    """+86 138-0013-8000 -> 13800138000; raises ValueError for anything that is not a mainland mobile."""
    digits = _DIGITS.sub("", raw or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise ValueError("not a mainland mobile number")
    return digits


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678."""
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"
