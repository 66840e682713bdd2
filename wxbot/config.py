"""Settings: one TOML file plus WXBOT_* environment overrides, turned into typed, validated dataclasses.

Where the file comes from: the path in WXBOT_CONFIG, else ./config.toml if present, else the embedded defaults
(SQLite under var/, in-process cache and scheduler, the sandbox WeChat with a demo official account).

Environment overrides: WXBOT_<SECTION>_<KEY> for any scalar key of a section (WXBOT_DATABASE_URL,
WXBOT_PLATFORM_SECRET, ...), and WXBOT_WECHAT_<APP NAME>_<KEY> for an app's secrets
(WXBOT_WECHAT_DEMO_APPSECRET). A missing or invalid value stops start-up with a message naming the key.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import secrets
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the key."""


@dataclass
class AppSettings:
    secret_key: str = ""
    log_format: str = "text"  # text | json
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    var_dir: str = "var"
    # reverse proxies in front of wxbot that append to X-Forwarded-For/-Proto (0: trust no such header; the
    # client's address, e.g. for the console's login limit, is then the socket's)
    proxy_hops: int = 0


@dataclass
class DatabaseSettings:
    url: str = "sqlite:///var/wxbot.db"
    echo: bool = False


@dataclass
class RedisSettings:
    url: str = ""  # empty: in-process cache (one process only)
    prefix: str = "wxbot:"


@dataclass
class OfficialAccount:
    name: str
    appid: str
    appsecret: str
    token: str
    encoding_aes_key: str = ""  # empty: plaintext mode only
    original_id: str = ""  # gh_... ; used as FromUserName of passive replies when the request lacks it


@dataclass
class MiniProgram:
    name: str
    appid: str
    appsecret: str


WECHAT_API_HOST = "https://api.weixin.qq.com"
SANDBOX_API_PATH = (
    "/sandbox/wechat"  # where the app mounts the sandbox WeChat API when the sandbox is enabled
)


@dataclass
class WechatSettings:
    api_base_url: str = WECHAT_API_HOST
    token_mode: str = "stable"  # noqa: S105  stable: cgi-bin/stable_token; classic: cgi-bin/token behind a shared lock
    timeout_seconds: float = 5.0
    official: list[OfficialAccount] = field(default_factory=list)
    miniprogram: list[MiniProgram] = field(default_factory=list)


@dataclass
class CallbackSettings:
    max_body_bytes: int = 64 * 1024
    timestamp_window_seconds: int = 300
    dedupe_ttl_seconds: int = 600


@dataclass
class SandboxSettings:
    enabled: bool = False  # mount the sandbox WeChat under /sandbox and point api_base_url at it
    public_url: str = "http://127.0.0.1:8000"  # where the sandbox reaches the bot's callbacks


@dataclass
class SchedulerSettings:
    embedded: bool = True  # run jobs inside the web process (laptop); production runs `wxbot jobs`


@dataclass
class PlatformSettings:
    secret: str = ""  # HMAC-SHA256 key shared with the platform
    max_age_seconds: int = 300


@dataclass
class IdentitySettings:
    """Mini-program logins, phone authorisation and account binding."""

    login_ttl_seconds: int = 7 * 24 * 3600  # how long a mini-program login token lives
    # phone lookups cost money per success (wechat-platform.md 7.2): daily caps, per user and per mini program
    phone_lookups_per_identity_per_day: int = 5
    phone_lookups_per_app_per_day: int = 2000
    bind_token_ttl_seconds: int = 600  # the one-time token of the official account's 绑定 link
    bind_qr_ttl_seconds: int = 600  # the temporary QR code of POST /platform/bind-qr
    bind_miniprogram: str = ""  # which mini program the 绑定 link opens; empty: the first configured one
    bind_page: str = "pages/bind/index"  # its page; the token is added as ?token=...
    bind_web_url: str = ""  # where the link goes on clients that cannot open a mini program


@dataclass
class SecuritySettings:
    # base64 of 32 random bytes each; the first encrypts, every key decrypts (rotation)
    pii_keys: list[str] = field(default_factory=list)
    # base64 of 32 random bytes: the key of the lookup hashes (phone -> account)
    hash_key: str = ""
    # former hash keys, still matched in lookups until `wxbot keys rotate` has rehashed under hash_key
    retired_hash_keys: list[str] = field(default_factory=list)


@dataclass
class ConsoleSettings:
    first_response_target_hours: float = 4.0  # a conversation waiting longer than this is marked overdue
    session_hours: float = 8.0  # a console session ends after this long without a request
    secure_cookie: bool = True  # send the session cookie over HTTPS only (false only on a laptop)
    login_attempts: int = 5  # failed logins per username (and 4x per address) in 15 minutes
    # where followers open a signed link to read replies they could not get in the chat (the fallback)
    public_url: str = ""
    reply_link_days: int = 7


@dataclass
class EventsSettings:
    reminder_hours_before: float = 24.0  # the sign-up reminder goes out this long before the start
    checkin_opens_minutes_before: int = 120  # check-in codes are accepted from then until the end
    miniprogram: str = ""  # the mini program the official account's 「活动」 reply links into
    list_url: str = ""  # https URL (a URL Link) that opens that mini program's event list
    list_picurl: str = ""  # picture of that news item


@dataclass
class PrivacySettings:
    # days between POST me/cancel and the erasure, during which the user can revoke it (the policy: <= 15)
    cancellation_review_days: int = 7


@dataclass
class RetentionSettings:
    """How long each data class is kept (days) before the daily retention job deletes or anonymises it."""

    inbound_messages_days: int = 30  # the raw inbound message log (dedupe, debugging)
    resolved_conversations_days: int = 180  # 留言 conversations, counted from resolution
    notifications_days: int = 90  # push records (outbox rows), counted from creation
    login_sessions_days: int = 30  # mini-program login sessions, counted from expiry
    event_signups_days: int = 30  # event sign-ups, counted from the end of the event
    unsubscribed_followers_days: int = 30  # a follower's identity data, counted from the unsubscribe

    def days(self, data_class: str) -> int:
        value = getattr(self, f"{data_class}_days", None)
        if not isinstance(value, int):
            raise KeyError(f"no retention period for {data_class!r} (add {data_class}_days to [retention])")
        return value


@dataclass
class NotifyTemplate:
    """One message template of one app: a template message (official account) or a subscribe message (mini
    program). `fields` maps WeChat's field keys to text with {placeholders} filled from the notification."""

    template_id: str
    fields: dict[str, str] = field(default_factory=dict)
    page: str = ""  # mini-program page opened by the message ({placeholders} allowed)
    url: str = ""  # template messages: web page opened when no mini program is linked
    miniprogram: str = ""  # template messages: name of the linked mini program that `page` belongs to


@dataclass
class NotifySettings:
    # Pushes that are not urgent wait for the end of the quiet hours (app.timezone); empty start: none.
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "08:00"
    daily_cap: int = 10  # non-urgent pushes per account per day; 0: no cap
    # sender
    batch_size: int = 200  # rows claimed per round
    concurrency: int = 32  # WeChat requests in flight per sender process
    lease_seconds: int = 120  # a claimed row returns to the queue after this if its sender died
    max_attempts: int = 8
    retry_base_seconds: float = 15.0  # exponential backoff: base * 2^(attempt-1), capped
    retry_max_seconds: float = 3600.0
    # template key -> app name -> template (status pushes use the keys status_<status>)
    templates: dict[str, dict[str, NotifyTemplate]] = field(default_factory=dict)

    def template(self, key: str, app_name: str) -> NotifyTemplate | None:
        return self.templates.get(key, {}).get(app_name)


@dataclass
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    wechat: WechatSettings = field(default_factory=WechatSettings)
    callback: CallbackSettings = field(default_factory=CallbackSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    def official_account(self, name: str) -> OfficialAccount | None:
        return next((a for a in self.wechat.official if a.name == name), None)

    def miniprogram(self, name: str) -> MiniProgram | None:
        return next((a for a in self.wechat.miniprogram if a.name == name), None)

    def app_by_appid(self, appid: str) -> OfficialAccount | MiniProgram | None:
        apps: list[OfficialAccount | MiniProgram] = [*self.wechat.official, *self.wechat.miniprogram]
        return next((a for a in apps if a.appid == appid), None)

    def pii_key_bytes(self) -> list[bytes]:
        return [base64.b64decode(k) for k in self.security.pii_keys]

    def hash_key_bytes(self) -> bytes:
        return base64.b64decode(self.security.hash_key)

    def retired_hash_key_bytes(self) -> list[bytes]:
        return [base64.b64decode(k) for k in self.security.retired_hash_keys]


# ---------------------------------------------------------------- loading


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the config file (see module doc), apply environment overrides, validate."""
    env = dict(os.environ) if env is None else env
    if path is None:
        path = env.get("WXBOT_CONFIG") or ("config.toml" if Path("config.toml").exists() else None)
    if path is None:
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
    raw = _apply_env(_deepcopy(raw), env or {})
    settings = _build(Settings, raw, "")
    _fill_dev_secrets(settings)
    _point_at_sandbox(settings)
    validate(settings)
    return settings


def embedded_defaults() -> dict[str, Any]:
    """The laptop setup: SQLite, in-process cache and scheduler, the sandbox with a demo official account."""
    return {
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
                }
            ],
            "miniprogram": [{"name": "demo-mp", "appid": "wxdemo00000000002", "appsecret": "demo-mp-secret"}],
        },
    }


def _deepcopy(raw: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(raw)


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
    """With the sandbox on (a laptop), missing secrets are generated once and kept under var/.

    Outside the sandbox nothing is invented: validate() names what is missing.
    """
    if not settings.sandbox.enabled:
        return
    missing = (
        not settings.app.secret_key
        or not settings.security.pii_keys
        or not settings.security.hash_key
        or not settings.platform.secret
    )
    if not missing:
        return
    import json

    store = Path(settings.app.var_dir) / "dev-secrets.json"
    if store.exists():
        generated = json.loads(store.read_text())
    else:
        generated = {
            "secret_key": secrets.token_urlsafe(32),
            "pii_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            "hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            "platform_secret": secrets.token_urlsafe(32),
        }
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(generated))
        store.chmod(0o600)
    settings.app.secret_key = settings.app.secret_key or generated["secret_key"]
    settings.security.pii_keys = settings.security.pii_keys or [generated["pii_key"]]
    settings.security.hash_key = settings.security.hash_key or generated["hash_key"]
    settings.platform.secret = settings.platform.secret or generated["platform_secret"]


_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


def _check_key32(value: str, key: str) -> None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{key}: not valid base64") from exc
    if len(raw) != 32:
        raise ConfigError(f"{key}: must be 32 bytes (base64 of 32 random bytes)")


def validate(settings: Settings) -> None:
    if not settings.app.secret_key:
        raise ConfigError("app.secret_key: missing (or set WXBOT_APP_SECRET_KEY)")
    if settings.app.log_format not in ("text", "json"):
        raise ConfigError("app.log_format: must be text or json")
    if not 0 <= settings.app.proxy_hops <= 5:
        raise ConfigError("app.proxy_hops: must be 0 to 5")
    url = settings.database.url
    if not (url.startswith("sqlite") or url.startswith("mysql+pymysql://")):
        raise ConfigError("database.url: must be sqlite:///... or mysql+pymysql://...")
    if settings.wechat.token_mode not in ("stable", "classic"):
        raise ConfigError("wechat.token_mode: must be stable or classic")
    if not settings.wechat.api_base_url.startswith(("http://", "https://")):
        raise ConfigError("wechat.api_base_url: must be an http(s) URL")
    if not settings.sandbox.public_url.startswith(("http://", "https://")):
        raise ConfigError("sandbox.public_url: must be an http(s) URL")
    names: set[str] = set()
    apps_by_kind: list[tuple[str, list[OfficialAccount | MiniProgram]]] = [
        ("official", list(settings.wechat.official)),
        ("miniprogram", list(settings.wechat.miniprogram)),
    ]
    for kind, apps in apps_by_kind:
        for i, a in enumerate(apps):
            where = f"wechat.{kind}[{i}]"
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", a.name):
                raise ConfigError(f"{where}.name: 1-32 letters, digits, - or _")
            if a.name in names:
                raise ConfigError(f"{where}.name: {a.name!r} is used twice")
            names.add(a.name)
            for key in ("appid", "appsecret"):
                if not getattr(a, key):
                    raise ConfigError(f"{where}.{key}: missing")
    for i, oa in enumerate(settings.wechat.official):
        where = f"wechat.official[{i}]"
        if not oa.token:
            raise ConfigError(f"{where}.token: missing")
        if oa.encoding_aes_key and not _AES_KEY.match(oa.encoding_aes_key):
            raise ConfigError(f"{where}.encoding_aes_key: must be 43 letters and digits")
    if not settings.security.pii_keys:
        raise ConfigError("security.pii_keys: missing (or set WXBOT_SECURITY_PII_KEYS)")
    for i, k in enumerate(settings.security.pii_keys):
        _check_key32(k, f"security.pii_keys[{i}]")
        if k in settings.security.pii_keys[:i]:
            raise ConfigError(f"security.pii_keys[{i}]: the same key is listed twice")
    if not settings.security.hash_key:
        raise ConfigError("security.hash_key: missing (or set WXBOT_SECURITY_HASH_KEY)")
    _check_key32(settings.security.hash_key, "security.hash_key")
    for i, retired in enumerate(settings.security.retired_hash_keys):
        _check_key32(retired, f"security.retired_hash_keys[{i}]")
    if not settings.platform.secret:
        raise ConfigError("platform.secret: missing (or set WXBOT_PLATFORM_SECRET)")
    if settings.console.first_response_target_hours <= 0:
        raise ConfigError("console.first_response_target_hours: must be positive")
    if settings.console.session_hours <= 0:
        raise ConfigError("console.session_hours: must be positive")
    if settings.console.login_attempts < 1:
        raise ConfigError("console.login_attempts: at least 1")
    if settings.console.public_url and not settings.console.public_url.startswith(("http://", "https://")):
        raise ConfigError("console.public_url: must be an http(s) URL")
    if settings.console.reply_link_days < 1:
        raise ConfigError("console.reply_link_days: at least 1")
    ident = settings.identity
    for key in (
        "login_ttl_seconds",
        "phone_lookups_per_identity_per_day",
        "phone_lookups_per_app_per_day",
        "bind_token_ttl_seconds",
    ):
        if getattr(ident, key) < 1:
            raise ConfigError(f"identity.{key}: at least 1")
    # WeChat's temporary QR codes live 60 s to 30 days
    if not 60 <= ident.bind_qr_ttl_seconds <= 2592000:
        raise ConfigError("identity.bind_qr_ttl_seconds: between 60 and 2592000")
    if ident.bind_miniprogram and settings.miniprogram(ident.bind_miniprogram) is None:
        raise ConfigError(
            f"identity.bind_miniprogram: no [[wechat.miniprogram]] named {ident.bind_miniprogram!r}"
        )
    if ident.bind_web_url and not ident.bind_web_url.startswith("https://"):
        raise ConfigError("identity.bind_web_url: must be an https URL")
    if settings.callback.max_body_bytes < 1024:
        raise ConfigError("callback.max_body_bytes: at least 1024")
    if settings.callback.timestamp_window_seconds < 1:
        raise ConfigError("callback.timestamp_window_seconds: at least 1")
    _validate_events(settings)
    if not 1 <= settings.privacy.cancellation_review_days <= 15:
        raise ConfigError("privacy.cancellation_review_days: between 1 and 15 (the policy promises 15 days)")
    for f in dataclasses.fields(RetentionSettings):
        if getattr(settings.retention, f.name) < 1:
            raise ConfigError(f"retention.{f.name}: at least 1 day")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(settings.app.timezone)
    except Exception as exc:
        raise ConfigError(f"app.timezone: unknown time zone {settings.app.timezone!r}") from exc
    _validate_notify(settings)


_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _validate_notify(settings: Settings) -> None:
    from wxbot.applications import statuses as application_status
    from wxbot.push.template_fields import FieldRuleError, check_field_template, placeholders

    notify = settings.notify
    for key in ("quiet_hours_start", "quiet_hours_end"):
        value = getattr(notify, key)
        if value and not _CLOCK_TIME.match(value):
            raise ConfigError(f"notify.{key}: HH:MM (24-hour clock) or empty")
    if bool(notify.quiet_hours_start) != bool(notify.quiet_hours_end):
        raise ConfigError("notify.quiet_hours_end: set both ends of the quiet hours, or neither")
    for key, low in (("daily_cap", 0), ("batch_size", 1), ("concurrency", 1), ("lease_seconds", 10),
                     ("max_attempts", 1)):  # fmt: skip
        if getattr(notify, key) < low:
            raise ConfigError(f"notify.{key}: at least {low}")
    if notify.retry_base_seconds <= 0 or notify.retry_max_seconds < notify.retry_base_seconds:
        raise ConfigError("notify.retry_max_seconds: must be at least retry_base_seconds (> 0)")
    status_keys = {application_status.template_key(s) for s in application_status.STATUSES}
    for key, per_app in notify.templates.items():
        for app_name, template in per_app.items():
            where = f"notify.templates.{key}.{app_name}"
            official = settings.official_account(app_name) is not None
            if not official and settings.miniprogram(app_name) is None:
                raise ConfigError(f"{where}: no official account or mini program named {app_name!r}")
            if not template.template_id:
                raise ConfigError(f"{where}.template_id: missing")
            if not template.fields:
                raise ConfigError(f"{where}.fields: missing")
            if template.miniprogram and settings.miniprogram(template.miniprogram) is None:
                raise ConfigError(f"{where}.miniprogram: no mini program named {template.miniprogram!r}")
            names = application_status.TEMPLATE_DATA if key in status_keys else None
            for field_key, text in template.fields.items():
                try:
                    check_field_template(field_key, text, names, official=official)
                except FieldRuleError as exc:
                    raise ConfigError(f"{where}.fields.{field_key}: {exc}") from exc
            if names is not None:
                unknown = [n for n in placeholders(template.page) if n not in names]
                if unknown:
                    raise ConfigError(f"{where}.page: unknown placeholder {{{unknown[0]}}}")


def _validate_events(settings: Settings) -> None:
    events = settings.events
    if not 0 < events.reminder_hours_before <= 24 * 14:
        raise ConfigError("events.reminder_hours_before: more than 0 and at most 336 (14 days)")
    if not 0 <= events.checkin_opens_minutes_before <= 24 * 60:
        raise ConfigError("events.checkin_opens_minutes_before: 0 to 1440")
    if events.miniprogram and settings.miniprogram(events.miniprogram) is None:
        raise ConfigError(f"events.miniprogram: no mini program named {events.miniprogram!r}")
    if events.list_url and not events.list_url.startswith("https://"):
        raise ConfigError("events.list_url: must be an https URL")
    if events.list_picurl and not events.list_picurl.startswith("https://"):
        raise ConfigError("events.list_picurl: must be an https URL")
