"""Production refuses laptop defaults: no config file, the sandbox, cookies over http, demo apps, weak or
placeholder secrets. Shown through create_app() and the `wxbot` command with a config file, as an operator
starts it; the same settings in development start."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import base_config
from wxbot import create_app
from wxbot.cli import main
from wxbot.config import ConfigError, load_settings, settings_from_dict
from wxbot.config.loading import embedded_defaults
from wxbot.config.strength import PLACEHOLDER_TOKENS, generated, weak_key, weak_secret

FRESH = generated()


def production_config(tmp_path: Path) -> dict[str, Any]:
    """base_config as production has it: strong secrets, no development."""
    raw = base_config(tmp_path)
    raw["app"].update(environment="production", secret_key=FRESH["secret_key"])
    raw["platform"]["secret"] = FRESH["platform_secret"]
    raw["security"] = {"pii_keys": [FRESH["pii_key"]], "hash_key": FRESH["hash_key"]}
    return raw


def toml_of(raw: dict[str, Any]) -> str:
    """The little TOML these tests need: tables of scalars and lists, arrays of tables of scalars."""
    lines: list[str] = []
    for section, table in raw.items():
        scalars = {
            k: v for k, v in table.items() if not (isinstance(v, list) and v and isinstance(v[0], dict))
        }
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
        for key, items in table.items():
            if key not in scalars:
                for item in items:
                    lines.append(f"[[{section}.{key}]]")
                    lines += [f"{k} = {json.dumps(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def write_config(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(toml_of(raw), encoding="utf-8")
    return path


ZERO_KEY = base64.b64encode(bytes(32)).decode()

REFUSALS = {
    "sandbox": (lambda c: c.update(sandbox={"enabled": True}), "sandbox.enabled"),
    "cookie over http": (lambda c: c.update(console={"secure_cookie": False}), "console.secure_cookie"),
    "short secret_key": (lambda c: c["app"].update(secret_key="x"), "app.secret_key"),
    "placeholder secret_key": (lambda c: c["app"].update(secret_key="change-me-" * 4), "app.secret_key"),
    "platform secret": (lambda c: c["platform"].update(secret="secret"), "platform.secret"),
    "long placeholder platform secret": (
        lambda c: c["platform"].update(secret="your-platform-secret-goes-here-0123"),
        "platform.secret",
    ),
    "missing platform secret": (lambda c: c["platform"].update(secret=""), "platform.secret"),
    "all-zero pii key": (lambda c: c["security"].update(pii_keys=[ZERO_KEY]), r"security.pii_keys\[0\]"),
    "hash key = pii key": (lambda c: c["security"].update(hash_key=FRESH["pii_key"]), "security.hash_key"),
    "all-zero hash key": (lambda c: c["security"].update(hash_key=ZERO_KEY), "security.hash_key"),
    "token 'token'": (
        lambda c: c["wechat"]["official"][0].update(token="token"),
        r"wechat.official\[0\].token",
    ),
    "demo token": (
        lambda c: c["wechat"]["official"][0].update(
            token=embedded_defaults()["wechat"]["official"][0]["token"]
        ),
        r"wechat.official\[0\].token",
    ),
    "demo app": (
        # (its menu left out: write_config writes no nested tables)
        lambda c: c["wechat"].update(
            official=[
                {k: v for k, v in a.items() if k != "menu"} for a in embedded_defaults()["wechat"]["official"]
            ]
        ),
        r"wechat.official\[0\]",
    ),
}
SECRETS = ("secret_key", "platform secret", "pii key", "hash key", "token")


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_production_refuses_laptop_settings_naming_the_key(tmp_path, monkeypatch, case):
    change, key = REFUSALS[case]
    raw = production_config(tmp_path)
    change(raw)
    monkeypatch.setenv("WXBOT_CONFIG", str(write_config(tmp_path, raw)))
    monkeypatch.delenv("WXBOT_APP_ENVIRONMENT", raising=False)
    with pytest.raises(ConfigError, match="^" + key) as refused:
        create_app()
    if any(word in case for word in SECRETS) and "demo" not in case:
        assert "wxbot keys generate" in str(refused.value)
    # the same file is a laptop's once it says development (or the environment does)
    monkeypatch.setenv("WXBOT_APP_ENVIRONMENT", "development")
    assert load_settings().app.environment == "development"


def test_a_strong_production_config_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("WXBOT_CONFIG", str(write_config(tmp_path, production_config(tmp_path))))
    monkeypatch.delenv("WXBOT_APP_ENVIRONMENT", raising=False)
    app = create_app()
    assert app.extensions["wxbot"].settings.app.environment == "production"
    assert not [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/sandbox")]
    app.extensions["wxbot"].engine.dispose()


def test_production_is_the_default_and_needs_a_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="WXBOT_CONFIG") as refused:
        load_settings(env={"WXBOT_DATABASE_URL": "mysql+pymysql://u@db/wxbot"})
    assert "config.toml" in str(refused.value) and "WXBOT_APP_ENVIRONMENT=development" in str(refused.value)
    with pytest.raises(ConfigError, match="^app.environment"):
        settings_from_dict(base_config(tmp_path), env={"WXBOT_APP_ENVIRONMENT": "staging"})


def test_the_cli_stops_in_production_without_a_config_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXBOT_")}
    done = subprocess.run([str(Path(sys.executable).parent / "wxbot"), "db", "upgrade"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert "no config file" in done.stderr and "WXBOT_CONFIG" in done.stderr
    assert not (tmp_path / "var").exists()  # nothing invented, nothing created


def test_the_cli_names_a_weak_secret_and_how_to_generate_one(tmp_path):
    raw = production_config(tmp_path)
    raw["app"]["secret_key"] = "secret"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"WXBOT_CONFIG": str(write_config(tmp_path, raw)),
                                                             "WXBOT_APP_ENVIRONMENT": None})  # fmt: skip
    assert result.exit_code != 0
    assert "app.secret_key" in result.output and "wxbot keys generate" in result.output


def test_development_invents_secrets_only_there(tmp_path):
    raw = base_config(tmp_path)
    raw["app"]["secret_key"] = ""
    assert settings_from_dict(raw, env={}).app.secret_key  # development: invented, kept under var/
    raw["app"]["environment"] = "production"
    with pytest.raises(ConfigError, match="^app.secret_key: missing"):
        settings_from_dict(raw, env={})


@pytest.mark.parametrize("as_env", [False, True])
def test_keys_generate_prints_values_production_accepts(tmp_path, as_env):
    result = CliRunner().invoke(main, ["keys", "generate", *(["--env"] if as_env else [])])
    assert result.exit_code == 0
    raw = production_config(tmp_path)
    if as_env:
        env = dict(
            line.split("=", 1) for line in result.output.splitlines() if line and not line.startswith("#")
        )
        token = env.pop("WXBOT_WECHAT_NAME_TOKEN")
        env["WXBOT_WECHAT_OA_TOKEN"] = token
        settings = settings_from_dict(raw, env=env)
        assert settings.app.secret_key == env["WXBOT_APP_SECRET_KEY"]
    else:
        import tomllib

        printed = tomllib.loads(result.output)
        for section in ("app", "platform", "security"):
            raw[section].update(printed[section])
        token = re.search(r'token = "([0-9a-f]+)"', result.output).group(1)  # type: ignore[union-attr]
        raw["wechat"]["official"][0]["token"] = token
        settings = settings_from_dict(raw, env={})
        assert settings.security.hash_key == printed["security"]["hash_key"]
    assert settings.official_account("oa").token == token and 3 <= len(token) <= 32
    # fresh every time
    assert CliRunner().invoke(main, ["keys", "generate"]).output != result.output


# ---------------------------------------------------------------- the strength checker


@given(st.binary(min_size=32, max_size=32))
def test_a_key_is_weak_exactly_when_it_repeats_a_shorter_piece(raw):
    repeated = any(raw == raw[:n] * (32 // n) for n in (1, 2, 4, 8, 16))
    assert (weak_key(base64.b64encode(raw).decode()) is not None) == repeated


@given(st.binary(max_size=64).filter(lambda b: len(b) != 32))
def test_a_key_of_another_length_is_weak(raw):
    assert "32 bytes" in (weak_key(base64.b64encode(raw).decode()) or "")


@given(st.integers(0, 255))
def test_a_key_of_one_byte_value_is_weak(byte):
    assert weak_key(base64.b64encode(bytes([byte]) * 32).decode()) == "all 32 bytes are the same value"


@given(st.text(max_size=31))
def test_a_secret_under_32_characters_is_weak(text):
    assert weak_secret(text) == "shorter than 32 characters"


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8), st.integers(2, 40))
def test_a_repeated_secret_is_weak(piece, times):
    assert weak_secret(piece * max(times, 32 // len(piece) + 1)) is not None


@given(st.sampled_from(["changeme", "CHANGE_ME", "replace", "Example", "placeholder", "your-", "dummy"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=32, max_size=40))  # fmt: skip
def test_a_secret_holding_a_placeholder_word_is_weak(word, noise):
    assert "placeholder" in (weak_secret(noise[:10] + word + noise[10:]) or "")


@given(st.randoms(use_true_random=True))
def test_generated_secrets_are_strong(_):
    fresh = generated()
    assert weak_secret(fresh["secret_key"]) is None and weak_secret(fresh["platform_secret"]) is None
    assert weak_key(fresh["pii_key"]) is None and weak_key(fresh["hash_key"]) is None
    assert fresh["callback_token"] not in PLACEHOLDER_TOKENS


# ---------------------------------------------------------------- the callback's mode at start-up


def test_start_up_warns_once_of_a_production_account_in_plaintext(tmp_path, caplog):
    raw = production_config(tmp_path)
    raw["wechat"]["official"].append({"name": "plain", "appid": "wxplain000000001", "appsecret": "s",
                                      "token": FRESH["callback_token"]})  # fmt: skip
    with caplog.at_level(logging.WARNING):
        app = create_app(settings_from_dict(raw, env={}))
    app.extensions["wxbot"].engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if "plaintext mode" in r.getMessage()]
    assert len(warnings) == 1 and "account(s) plain in plaintext mode" in warnings[0]
    caplog.clear()
    raw["app"]["environment"] = "development"
    with caplog.at_level(logging.WARNING):
        app = create_app(settings_from_dict(raw, env={}))
    app.extensions["wxbot"].engine.dispose()
    assert not [r for r in caplog.records if "plaintext mode" in r.getMessage()]
