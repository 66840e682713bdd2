"""[privacy] and [retention] settings: sensible defaults, refused when they would break a promise."""

from __future__ import annotations

import pytest

from tests.conftest import PII_KEY, base_config
from wxbot.config import ConfigError, settings_from_dict


def test_defaults(tmp_path):
    settings = settings_from_dict(base_config(tmp_path), env={})
    assert 1 <= settings.privacy.cancellation_review_days <= 15
    assert settings.retention.days("inbound_messages") == 30
    assert settings.retention.days("event_signups") == 30
    with pytest.raises(KeyError, match="retention"):
        settings.retention.days("nothing_like_this")


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("privacy", {"cancellation_review_days": 16}, "privacy.cancellation_review_days"),
        ("privacy", {"cancellation_review_days": 0}, "privacy.cancellation_review_days"),
        ("retention", {"notifications_days": 0}, "retention.notifications_days"),
        ("retention", {"forever_days": 3}, "retention.forever_days: unknown setting"),
        ("security", {"pii_keys": [PII_KEY, PII_KEY]}, "listed twice"),
    ],
)
def test_refused(tmp_path, section, values, message):
    raw = base_config(tmp_path)
    raw.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=message):
        settings_from_dict(raw, env={})


def test_environment_overrides(tmp_path):
    env = {"WXBOT_PRIVACY_CANCELLATION_REVIEW_DAYS": "15", "WXBOT_RETENTION_LOGIN_SESSIONS_DAYS": "7"}
    settings = settings_from_dict(base_config(tmp_path), env=env)
    assert settings.privacy.cancellation_review_days == 15 and settings.retention.login_sessions_days == 7
