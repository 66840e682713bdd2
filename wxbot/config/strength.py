"""How strong a secret must be before production starts with it, and the fresh values `wxbot keys generate`
prints. Each check answers why a value is too weak (for the refusal's message), or None."""

from __future__ import annotations

import base64
import secrets

MIN_SECRET_CHARS = 32
GENERATE_HINT = "generate one with `wxbot keys generate`"

# Words that mark a value someone meant to replace: a random value of 32+ characters holds none of them.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replace", "example", "placeholder", "your-",
                      "your_", "dummy", "secret-key", "secret_key", "password", "default", "insecure")  # fmt: skip
# Callback tokens seen in samples and tutorials (the token is WeChat's 3-32 letters and digits).
PLACEHOLDER_TOKENS = frozenset({"token", "demotoken", "mytoken", "wechat", "weixin", "test", "testtoken",
                                "changeme", "123456", "abc123"})  # fmt: skip


def _repeats(value: str | bytes) -> bool:
    """Whether the value is one shorter piece said over and over ("abab...", b"\\x00" * 32)."""
    n = len(value)
    return any(n % size == 0 and value == value[:size] * (n // size) for size in range(1, n // 2 + 1))


def weak_secret(value: str) -> str | None:
    """Why `value` cannot be a secret_key or the platform secret, or None."""
    if len(value) < MIN_SECRET_CHARS:
        return f"shorter than {MIN_SECRET_CHARS} characters"
    folded = value.lower()
    word = next((w for w in _PLACEHOLDER_WORDS if w in folded), None)
    if word is not None:
        return f"looks like a placeholder (contains {word!r})"
    if _repeats(value) or len(set(value)) < 8:
        return "too little variety to be random"
    return None


def weak_key(value: str) -> str | None:
    """Why `value` cannot be a pii key or the hash key (base64 of 32 random bytes), or None."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return "not valid base64"
    if len(raw) != 32:
        return "must be 32 bytes (base64 of 32 random bytes)"
    if len(set(raw)) == 1:
        return "all 32 bytes are the same value"
    if _repeats(raw):
        return "a repeated pattern, not random bytes"
    return None


def weak_token(value: str) -> str | None:
    """Why `value` cannot be a callback token in production, or None."""
    if value.lower() in PLACEHOLDER_TOKENS:
        return "a well-known placeholder"
    return None


def generated() -> dict[str, str]:
    """Fresh values for every secret the settings hold (an EncodingAESKey is WeChat's console's to generate)."""
    return {
        "secret_key": secrets.token_urlsafe(32),
        "platform_secret": secrets.token_urlsafe(32),
        "pii_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "callback_token": secrets.token_hex(16),  # WeChat's token: 3-32 letters and digits
    }


def generated_config(env: bool = False) -> str:
    """generated() as config.toml lines, or as WXBOT_* environment lines."""
    v = generated()
    if env:
        return "\n".join((
            f"WXBOT_APP_SECRET_KEY={v['secret_key']}",
            f"WXBOT_PLATFORM_SECRET={v['platform_secret']}",
            f"WXBOT_SECURITY_PII_KEYS={v['pii_key']}",
            f"WXBOT_SECURITY_HASH_KEY={v['hash_key']}",
            "# the callback token of an official account named NAME (the same in WeChat's console):",
            f"WXBOT_WECHAT_NAME_TOKEN={v['callback_token']}",
        ))  # fmt: skip
    return "\n".join((
        "[app]",
        f'secret_key = "{v["secret_key"]}"',
        "[platform]",
        f'secret = "{v["platform_secret"]}"',
        "[security]",
        f'pii_keys = ["{v["pii_key"]}"]  # rotation: put a new key first, keep the old ones after it',
        f'hash_key = "{v["hash_key"]}"',
        "# an official account's callback token (the same in WeChat's console), under [[wechat.official]]:",
        f'# token = "{v["callback_token"]}"',
    ))  # fmt: skip
