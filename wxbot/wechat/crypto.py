"""The callback's cryptography: signatures and the AES envelope of compatible and safe mode.

wechatpy supplies the cipher (AES-256-CBC, IV = key[:16]) and the PKCS#7 block size; the checks around
them are ours: signatures compare in constant time, the random prefix comes from `secrets`, and a
ciphertext that does not unpack cleanly (bad base64, bad padding, impossible length, foreign appid)
raises CryptoError instead of whatever exception the slicing happened to hit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from xml.sax.saxutils import escape

from wechatpy.crypto.base import WeChatCipher
from wechatpy.crypto.pkcs7 import PKCS7Encoder

_BLOCK = PKCS7Encoder.block_size  # WeChat pads to 32 bytes, not AES's 16
_RANDOM_PREFIX = 16
_LENGTH = struct.Struct(">I")


class CryptoError(ValueError):
    """The ciphertext or its signature is not acceptable; the message says why (no secrets in it)."""


def signature(token: str, *parts: str) -> str:
    """sha1 over the sorted, concatenated strings: `signature` (token, timestamp, nonce) and
    `msg_signature` (the same plus Encrypt)."""
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()  # noqa: S324 (WeChat's scheme)


def signature_matches(given: str, token: str, *parts: str) -> bool:
    return hmac.compare_digest(given.encode(), signature(token, *parts).encode())


class MessageCrypto:
    """Decrypts deliveries and encrypts replies for one official account."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("encoding_aes_key must decode to 32 bytes")
        self.token = token
        self.appid = appid.encode()
        self._key = key

    def decrypt(self, encrypted: str) -> bytes:
        """The XML inside a base64 `Encrypt` value; CryptoError unless it is well formed and ours."""
        try:
            ciphertext = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("Encrypt is not base64") from exc
        if not ciphertext or len(ciphertext) % _BLOCK:
            raise CryptoError("Encrypt has an impossible length")
        plain = WeChatCipher(self._key).decrypt(ciphertext)
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        content = plain[_RANDOM_PREFIX:-pad]
        if len(content) < _LENGTH.size:
            raise CryptoError("ciphertext too short")
        (length,) = _LENGTH.unpack_from(content)
        xml, appid = content[_LENGTH.size : _LENGTH.size + length], content[_LENGTH.size + length :]
        if len(xml) != length:
            raise CryptoError("message length out of range")
        if not hmac.compare_digest(appid, self.appid):
            raise CryptoError("appid in the ciphertext is not ours")
        return xml

    def encrypt(self, xml: bytes, random_prefix: bytes | None = None) -> str:
        """base64 ciphertext of `xml`; random_prefix is fixed only by tests reproducing published vectors."""
        prefix = secrets.token_bytes(_RANDOM_PREFIX) if random_prefix is None else random_prefix
        plain = PKCS7Encoder.encode(prefix + _LENGTH.pack(len(xml)) + xml + self.appid)
        return base64.b64encode(WeChatCipher(self._key).encrypt(plain)).decode()

    def envelope(self, xml: bytes, timestamp: str, nonce: str, random_prefix: bytes | None = None) -> str:
        """The encrypted reply body: Encrypt, its MsgSignature, and the timestamp and nonce it was signed with."""
        encrypted = self.encrypt(xml, random_prefix)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature(self.token, timestamp, nonce, encrypted)}]]></MsgSignature>\n"
            f"<TimeStamp>{escape(timestamp)}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )
