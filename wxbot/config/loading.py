"""Loading the settings: one TOML file plus WXBOT_* environment overrides, turned into the typed dataclasses
of wxbot.config.schema, then validated (wxbot.config.validation).

Where the file comes from: the path in WXBOT_CONFIG, else ./config.toml if present, else -- in the development
environment only (WXBOT_APP_ENVIRONMENT=development, as `make run` sets) -- the embedded defaults (SQLite under
var/, in-process cache and scheduler, the sandbox WeChat with a demo official account, invented secrets).
Production (the default environment) without a file stops, saying how to give one.

Environment overrides: WXBOT_<SECTION>_<KEY> for any scalar key of a section (WXBOT_DATABASE_URL,
WXBOT_PLATFORM_SECRET, ...), and WXBOT_WECHAT_<APP NAME>_<KEY> for an app's secrets
(WXBOT_WECHAT_DEMO_APPSECRET). A missing or invalid value stops start-up with a message naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from wxbot.config import strength
from wxbot.config.schema import SANDBOX_API_PATH, WECHAT_API_HOST, ConfigError, Settings
from wxbot.config.validation import validate


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the config file (see module doc), apply environment overrides, validate."""
    env = dict(os.environ) if env is None else env
    if path is None:
        path = env.get("WXBOT_CONFIG") or ("config.toml" if Path("config.toml").exists() else None)
    if path is None:
        if env.get("WXBOT_APP_ENVIRONMENT", "production") != "development":
            raise ConfigError(
                "no config file: set WXBOT_CONFIG=/path/to/config.toml or put config.toml in the working "
                "directory (start from config.example.toml); on a laptop, WXBOT_APP_ENVIRONMENT=development "
                "runs the embedded defaults (make run does)"
            )
        raw = embedded_defaults()
    else:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return settings_from_dict(raw, env)


def settings_from_dict(raw: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    raw = _apply_env(copy.deepcopy(raw), env or {})
    settings = _build(Settings, raw, "")
    _fill_dev_secrets(settings)
    _point_at_sandbox(settings)
    validate(settings)
    return settings


# The demo account's menu; its click keys are answered in wxbot.handlers (basic, conversations).
DEMO_MENU: list[dict[str, Any]] = [
    {"type": "click", "name": "最新职位", "key": "JOBS"},
    {
        "name": "帮助",
        "sub_button": [
            {"type": "click", "name": "使用帮助", "key": "HELP"},
            {"type": "click", "name": "留言给客服", "key": "LEAVE_MESSAGE"},
        ],
    },
    {"type": "click", "name": "关于我们", "key": "ABOUT"},
]


def embedded_defaults() -> dict[str, Any]:
    """The laptop setup: SQLite, in-process cache and scheduler, the sandbox with a demo official account."""
    return {
        "app": {"environment": "development"},
        "sandbox": {"enabled": True},
        "console": {"secure_cookie": False, "public_url": "http://127.0.0.1:8000"},
        "wechat": {
            "official": [
                {
                    "name": "demo",
                    "appid": "wxdemo00000000001",
                    "appsecret": "demo-official-secret",
                    "token": "demotoken",
                    "encoding_aes_key": "",
                    "original_id": "gh_demo00000001",
                    "menu": DEMO_MENU,
                }
            ],
            "miniprogram": [
                {
                    "name": "demo-mp",
                    "appid": "wxdemo00000000002",
                    "appsecret": "demo-mp-secret",
                    "token": "demomptoken",
                    "original_id": "gh_demomp000001",
                }
            ],
        },
        # the status pushes, and the demo mini program's "a reply is waiting" subscribe message (the
        # customer-service fallback)
        "notify": {
            "templates": {
                **_demo_status_templates(),
                "ticket_reply": {
                    "demo-mp": {
                        "template_id": "demo-mp-reply-waiting",
                        "fields": {"thing1": "客服已回复你的留言", "time2": "{replied_at}"},
                        "page": "pages/replies/index",
                    }
                },
            }
        },
    }


def _demo_status_templates() -> dict[str, Any]:
    """The demo account's status pushes: a status change from the platform arrives in /sandbox as a template
    message (a seeker who does not follow gets the demo mini program's subscribe message, where allowed)."""
    from wxbot.applications.statuses import STATUSES, template_key

    fields = {"thing1": "{job_title}", "thing2": "{company}", "phrase3": "{status}", "time4": "{changed_at}"}
    page = "pages/applications/detail?id={application_id}"
    return {
        template_key(status): {
            "demo": {
                "template_id": "demo-status-template",
                "fields": fields,
                "page": page,
                "miniprogram": "demo-mp",
            },
            "demo-mp": {"template_id": "demo-mp-status-template", "fields": fields, "page": page},
        }  # fmt: skip
        for status in STATUSES
    }


def _apply_env(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    for section_field in dataclasses.fields(Settings):
        section_cls = _resolve(Settings, section_field.name)
        section = raw.setdefault(section_field.name, {})
        if not isinstance(section, dict):
            continue
        for f in dataclasses.fields(section_cls):
            hint = _resolve(section_cls, f.name)
            if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
                continue
            key = f"WXBOT_{section_field.name}_{f.name}".upper()
            if key in env:
                section[f.name] = _parse_env_value(env[key], hint, key)
    for kind in ("official", "miniprogram"):
        for app in raw.get("wechat", {}).get(kind, []) or []:
            if not isinstance(app, dict) or not isinstance(app.get("name"), str):
                continue
            slug = re.sub(r"[^A-Za-z0-9]", "_", app["name"]).upper()
            for key in ("appsecret", "token", "encoding_aes_key"):
                value = env.get(f"WXBOT_WECHAT_{slug}_{key.upper()}")
                if value is not None:
                    app[key] = value
    return raw


def _parse_env_value(value: str, hint: Any, key: str) -> Any:
    if hint is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: expected an integer") from exc
    if hint is float:
        try:
            return float(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: expected a number") from exc
    if typing.get_origin(hint) is list:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _resolve(cls: type, name: str) -> Any:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls][name]


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{_join(path, unknown[0])}: unknown setting")
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = _join(path, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing")
            continue
        values[name] = _coerce(_resolve(cls, name), raw[name], key)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)  # type: ignore[arg-type]
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table")
        _, item = typing.get_args(hint)
        return {str(k): _coerce(item, v, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string")
        return value
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _point_at_sandbox(settings: Settings) -> None:
    """With the sandbox on and WeChat's own host configured, calls go to the sandbox this app mounts instead:
    a laptop never talks to the real WeChat by accident. An explicit other URL (tests, benchmarks) stays."""
    if settings.sandbox.enabled and settings.wechat.api_base_url.rstrip("/") == WECHAT_API_HOST:
        settings.wechat.api_base_url = settings.sandbox.public_url.rstrip("/") + SANDBOX_API_PATH


def _fill_dev_secrets(settings: Settings) -> None:
    """In development (a laptop), missing secrets are generated once and kept under var/.

    In production nothing is invented: validate() names what is missing.
    """
    if not settings.development:
        return
    missing = (
        not settings.app.secret_key
        or not settings.security.pii_keys
        or not settings.security.hash_key
        or not settings.platform.secret
    )
    if not missing:
        return
    store = Path(settings.app.var_dir) / "dev-secrets.json"
    if store.exists():
        generated = json.loads(store.read_text())
    else:
        generated = strength.generated()
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(generated))
        store.chmod(0o600)
    settings.app.secret_key = settings.app.secret_key or generated["secret_key"]
    settings.security.pii_keys = settings.security.pii_keys or [generated["pii_key"]]
    settings.security.hash_key = settings.security.hash_key or generated["hash_key"]
    settings.platform.secret = settings.platform.secret or generated["platform_secret"]
