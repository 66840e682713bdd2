from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import base_config
from wxbot.config import ConfigError, load_settings, settings_from_dict
from wxbot.config.strength import generated


def test_example_config_is_complete_and_valid_in_production(tmp_path):
    fresh = generated()
    settings = load_settings("config.example.toml", env={
        "WXBOT_APP_SECRET_KEY": fresh["secret_key"],
        "WXBOT_WECHAT_JOBS_APPSECRET": "s",
        "WXBOT_WECHAT_JOBS_TOKEN": fresh["callback_token"],
        "WXBOT_WECHAT_JOBS_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "WXBOT_WECHAT_CAMPUS_APPSECRET": "s",
        "WXBOT_PLATFORM_SECRET": fresh["platform_secret"],
        "WXBOT_SECURITY_PII_KEYS": fresh["pii_key"],
        "WXBOT_SECURITY_HASH_KEY": fresh["hash_key"],
    })  # fmt: skip
    assert settings.app.environment == "production"
    assert settings.official_account("jobs").token == fresh["callback_token"]
    assert settings.miniprogram("campus").appsecret == "s"
    assert settings.official_account("jobs").mode == "safe"


def test_embedded_defaults_run_the_sandbox_on_sqlite_in_development(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"WXBOT_APP_ENVIRONMENT": "development"}
    settings = load_settings(env=env)
    assert settings.database.url.startswith("sqlite")
    assert settings.redis.url == ""
    assert settings.sandbox.enabled
    assert settings.official_account("demo") is not None
    # generated once, then the same on every start
    assert load_settings(env=env).security.pii_keys == settings.security.pii_keys


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c["database"].update(url="postgres://x"), "database.url"),
        (
            lambda c: c["wechat"]["official"][0].update(encoding_aes_key="short"),
            "wechat.official[0].encoding_aes_key",
        ),
        (lambda c: c["wechat"]["official"][0].pop("token"), "wechat.official[0].token"),
        (lambda c: c["security"].update(pii_keys=["bm90MzJieXRlcw=="]), "security.pii_keys[0]"),
        (
            lambda c: (
                c["callback"].update(max_body_bytes="big")
                if "callback" in c
                else c.update(callback={"max_body_bytes": "big"})
            ),
            "callback.max_body_bytes",
        ),  # noqa: E501
        (lambda c: c["app"].update(colour="blue"), "app.colour"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_key(tmp_path, change, key):
    raw = base_config(tmp_path)
    change(raw)
    with pytest.raises(ConfigError, match="^" + re.escape(key)):
        settings_from_dict(raw, env={})


def test_the_database_is_sqlite_or_mysql_through_pymysql_or_mysqlclient(tmp_path):
    for url in ("mysql+pymysql://u@db/wxbot", "mysql+mysqldb://u@db/wxbot", "sqlite:///x.db"):
        assert settings_from_dict(base_config(tmp_path), env={"WXBOT_DATABASE_URL": url}).database.url == url


def test_environment_overrides_the_file(tmp_path):
    raw = base_config(tmp_path)
    settings = settings_from_dict(
        raw, env={"WXBOT_DATABASE_URL": "sqlite:///other.db", "WXBOT_WECHAT_OA_TOKEN": "t2"}
    )
    assert settings.database.url == "sqlite:///other.db"
    assert settings.official_account("oa").token == "t2"


@given(st.text(max_size=20))
def test_arbitrary_integer_text_from_env_is_refused_or_parsed(text):
    raw = {"app": {"environment": "development", "secret_key": "k"}, "platform": {"secret": "p"},
           "security": {"pii_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
                        "hash_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}  # fmt: skip
    try:
        s = settings_from_dict(raw, env={"WXBOT_CALLBACK_MAX_BODY_BYTES": text})
    except ConfigError as exc:
        assert str(exc).startswith("WXBOT_CALLBACK_MAX_BODY_BYTES") or str(exc).startswith("callback.")
    else:
        assert s.callback.max_body_bytes == int(text)
