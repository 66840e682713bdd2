"""[identity] settings: defaults, and invalid values stop start-up naming the key."""

from __future__ import annotations

import pytest

from tests.conftest import base_config
from wxbot.config import ConfigError, settings_from_dict


def test_defaults(tmp_path):
    settings = settings_from_dict(base_config(tmp_path), env={})
    assert settings.identity.login_ttl_seconds == 7 * 24 * 3600
    assert settings.identity.bind_qr_ttl_seconds == 600


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"login_ttl_seconds": 0}, "identity.login_ttl_seconds"),
        ({"phone_lookups_per_identity_per_day": 0}, "identity.phone_lookups_per_identity_per_day"),
        ({"bind_qr_ttl_seconds": 30}, "identity.bind_qr_ttl_seconds"),
        ({"bind_qr_ttl_seconds": 2592001}, "identity.bind_qr_ttl_seconds"),
        ({"bind_miniprogram": "nope"}, "identity.bind_miniprogram"),
        ({"bind_web_url": "http://example.com/bind"}, "identity.bind_web_url"),
        ({"login_ttl_seconds": "7d"}, "identity.login_ttl_seconds"),
    ],
)
def test_invalid_values_name_the_key(tmp_path, values, key):
    raw = base_config(tmp_path)
    raw["identity"] = values
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_from_dict(raw, env={})


def test_environment_overrides(tmp_path):
    settings = settings_from_dict(base_config(tmp_path), env={"WXBOT_IDENTITY_LOGIN_TTL_SECONDS": "3600"})
    assert settings.identity.login_ttl_seconds == 3600
