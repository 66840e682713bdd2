"""Checking the settings once loaded: a wrong value stops start-up with a ConfigError naming the key."""

from __future__ import annotations

import base64
import dataclasses
import re
import zoneinfo

from wxbot.config.menus import validate_menus
from wxbot.config.schema import (
    CALLBACK_MODES,
    DATA_FORMATS,
    ENVIRONMENTS,
    ConfigError,
    MiniProgram,
    OfficialAccount,
    RetentionSettings,
    Settings,
)
from wxbot.config.strength import GENERATE_HINT, weak_key, weak_secret, weak_token

_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


def _check_key32(value: str, key: str) -> None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{key}: not valid base64") from exc
    if len(raw) != 32:
        raise ConfigError(f"{key}: must be 32 bytes (base64 of 32 random bytes)")


def validate(settings: Settings) -> None:
    if settings.app.environment not in ENVIRONMENTS:
        raise ConfigError("app.environment: must be production or development")
    if not settings.app.secret_key:
        raise ConfigError(f"app.secret_key: missing (or set WXBOT_APP_SECRET_KEY); {GENERATE_HINT}")
    if settings.app.log_format not in ("text", "json"):
        raise ConfigError("app.log_format: must be text or json")
    if not 0 <= settings.app.proxy_hops <= 5:
        raise ConfigError("app.proxy_hops: must be 0 to 5")
    url = settings.database.url
    # mysqlclient (mysql+mysqldb, the C driver: pip install 'wxbot[mysqlclient]') is an option; PyMySQL the default
    if not url.startswith(("sqlite", "mysql+pymysql://", "mysql+mysqldb://")):
        raise ConfigError("database.url: must be sqlite:///..., mysql+pymysql://... or mysql+mysqldb://...")
    if settings.wechat.token_mode not in ("stable", "classic"):
        raise ConfigError("wechat.token_mode: must be stable or classic")
    if settings.wechat.unhealthy_after_token_failures < 1:
        raise ConfigError("wechat.unhealthy_after_token_failures: must be at least 1")
    if settings.redis.socket_timeout_seconds <= 0 or settings.redis.breaker_failures < 1:
        raise ConfigError("redis.socket_timeout_seconds must be > 0 and redis.breaker_failures at least 1")
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
        if oa.mode not in CALLBACK_MODES:
            raise ConfigError(f"{where}.mode: must be plaintext, compatible or safe (as in WeChat's console)")
        if oa.mode != "plaintext" and not oa.encoding_aes_key:
            raise ConfigError(f"{where}.encoding_aes_key: missing ({oa.mode} mode decrypts with it)")
    for i, mp in enumerate(settings.wechat.miniprogram):
        _validate_message_push(f"wechat.miniprogram[{i}]", mp)
    if not settings.security.pii_keys:
        raise ConfigError(f"security.pii_keys: missing (or set WXBOT_SECURITY_PII_KEYS); {GENERATE_HINT}")
    for i, k in enumerate(settings.security.pii_keys):
        _check_key32(k, f"security.pii_keys[{i}]")
        if k in settings.security.pii_keys[:i]:
            raise ConfigError(f"security.pii_keys[{i}]: the same key is listed twice")
    if not settings.security.hash_key:
        raise ConfigError(f"security.hash_key: missing (or set WXBOT_SECURITY_HASH_KEY); {GENERATE_HINT}")
    _check_key32(settings.security.hash_key, "security.hash_key")
    for i, retired in enumerate(settings.security.retired_hash_keys):
        _check_key32(retired, f"security.retired_hash_keys[{i}]")
    if not settings.platform.secret:
        raise ConfigError(f"platform.secret: missing (or set WXBOT_PLATFORM_SECRET); {GENERATE_HINT}")
    if settings.console.first_response_target_hours <= 0:
        raise ConfigError("console.first_response_target_hours: must be positive")
    if settings.console.session_hours <= 0:
        raise ConfigError("console.session_hours: must be positive")
    if settings.console.session_lifetime_hours < settings.console.session_hours:
        raise ConfigError("console.session_lifetime_hours: at least console.session_hours")
    if settings.console.login_attempts < 1:
        raise ConfigError("console.login_attempts: at least 1")
    if settings.console.login_failures_per_address < settings.console.login_attempts:
        raise ConfigError("console.login_failures_per_address: at least console.login_attempts")
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
    if ident.phone_quota_warn_below < 0:
        raise ConfigError("identity.phone_quota_warn_below: 0 or more")
    # WeChat's temporary QR codes live 60 s to 30 days
    if not 60 <= ident.bind_qr_ttl_seconds <= 2592000:
        raise ConfigError("identity.bind_qr_ttl_seconds: between 60 and 2592000")
    if ident.bind_miniprogram and settings.miniprogram(ident.bind_miniprogram) is None:
        raise ConfigError(
            f"identity.bind_miniprogram: no [[wechat.miniprogram]] named {ident.bind_miniprogram!r}"
        )
    if ident.bind_web_url and not ident.bind_web_url.startswith("https://"):
        raise ConfigError("identity.bind_web_url: must be an https URL")
    if ident.watermark_max_age_seconds < 60:
        raise ConfigError("identity.watermark_max_age_seconds: at least 60")
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
        zoneinfo.ZoneInfo(settings.app.timezone)
    except Exception as exc:
        raise ConfigError(f"app.timezone: unknown time zone {settings.app.timezone!r}") from exc
    _validate_notify(settings)
    validate_menus(settings)
    if not settings.development:
        _validate_production(settings)


def _validate_production(settings: Settings) -> None:
    """What only a laptop may run with: the sandbox, cookies over http, demo apps, weak secrets."""
    from wxbot.config.loading import embedded_defaults

    laptop = '(development only: set app.environment = "development" on a laptop)'
    if settings.sandbox.enabled:
        raise ConfigError(f"sandbox.enabled: lets anyone act as any follower; set it to false {laptop}")
    if not settings.console.secure_cookie:
        raise ConfigError(f"console.secure_cookie: must be true, the console runs over HTTPS {laptop}")
    for key, value in (
        ("app.secret_key", settings.app.secret_key),
        ("platform.secret", settings.platform.secret),
        *([("metrics.token", settings.metrics.token)] if settings.metrics.token else []),
    ):
        problem = weak_secret(value)
        if problem:
            raise ConfigError(f"{key}: {problem}; {GENERATE_HINT}")
    keys = [(f"security.pii_keys[{i}]", k) for i, k in enumerate(settings.security.pii_keys)]
    for key, value in [*keys, ("security.hash_key", settings.security.hash_key)]:
        problem = weak_key(value)
        if problem:
            raise ConfigError(f"{key}: {problem}; {GENERATE_HINT}")
    if settings.security.hash_key in settings.security.pii_keys:
        raise ConfigError(f"security.hash_key: the same as a pii key; each key is its own, {GENERATE_HINT}")
    demo = embedded_defaults()["wechat"]
    demo_values = {
        v
        for app in demo["official"] + demo["miniprogram"]
        for k, v in app.items()
        if k not in ("name", "menu") and v
    }
    apps: list[tuple[str, OfficialAccount | MiniProgram]] = [
        *((f"wechat.official[{i}]", a) for i, a in enumerate(settings.wechat.official)),
        *((f"wechat.miniprogram[{i}]", a) for i, a in enumerate(settings.wechat.miniprogram)),
    ]
    for where, app in apps:
        for key in ("appid", "appsecret", "token"):
            if getattr(app, key, None) in demo_values:
                raise ConfigError(f"{where}.{key}: the demo app's value {laptop}")
    for i, oa in enumerate(settings.wechat.official):
        problem = weak_token(oa.token)
        if problem:
            raise ConfigError(
                f"wechat.official[{i}].token: {problem}; choose 3-32 random letters and digits and set the "
                "same in WeChat's console (`wxbot keys generate` prints one)"
            )
    for i, mp in enumerate(settings.wechat.miniprogram):
        problem = weak_token(mp.token) if mp.token else None
        if problem:
            raise ConfigError(
                f"wechat.miniprogram[{i}].token: {problem}; choose 3-32 random letters and digits and set the "
                "same in the mini program's 消息推送 settings"
            )


def _validate_message_push(where: str, mp: MiniProgram) -> None:
    """A mini program's 消息推送 settings: none at all (no token), or a complete set."""
    if not mp.token:
        return
    if mp.encoding_aes_key and not _AES_KEY.match(mp.encoding_aes_key):
        raise ConfigError(f"{where}.encoding_aes_key: must be 43 letters and digits")
    if mp.mode not in CALLBACK_MODES:
        raise ConfigError(
            f"{where}.mode: must be plaintext, compatible or safe (as in the 消息推送 settings)"
        )
    if mp.mode != "plaintext" and not mp.encoding_aes_key:
        raise ConfigError(f"{where}.encoding_aes_key: missing ({mp.mode} mode decrypts with it)")
    if mp.data_format not in DATA_FORMATS:
        raise ConfigError(f"{where}.data_format: must be xml or json (数据格式 in the 消息推送 settings)")


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
    for key, low in (("daily_cap", 0), ("batch_size", 1), ("concurrency", 1), ("lease_seconds", 2),
                     ("max_attempts", 1)):  # fmt: skip
        if getattr(notify, key) < low:
            raise ConfigError(f"notify.{key}: at least {low}")
    if notify.lease_seconds <= 2 * settings.wechat.timeout_seconds:
        # a send that began just before the sender lost its lease must end before another sender may start
        raise ConfigError("notify.lease_seconds: more than twice wechat.timeout_seconds")
    if notify.retry_base_seconds <= 0 or notify.retry_max_seconds < notify.retry_base_seconds:
        raise ConfigError("notify.retry_max_seconds: must be at least retry_base_seconds (> 0)")
    status_keys = {application_status.template_key(s) for s in application_status.STATUSES}
    for section, templates in (("templates", notify.templates), ("notices", notify.notices)):
        for key, per_app in templates.items():
            for app_name, template in per_app.items():
                where = f"notify.{section}.{key}.{app_name}"
                official = settings.official_account(app_name) is not None
                if section == "notices" and not official:
                    raise ConfigError(f"{where}: 订阅通知 are the official accounts'; no official account "
                                      f"named {app_name!r}")  # fmt: skip
                if not official and settings.miniprogram(app_name) is None:
                    raise ConfigError(f"{where}: no official account or mini program named {app_name!r}")
                if template.long_term and section != "notices":
                    raise ConfigError(f"{where}.long_term: only 订阅通知 ([notify.notices]) are long-term")
                if not template.template_id:
                    raise ConfigError(f"{where}.template_id: missing")
                if not template.fields:
                    raise ConfigError(f"{where}.fields: missing")
                if template.miniprogram and settings.miniprogram(template.miniprogram) is None:
                    raise ConfigError(f"{where}.miniprogram: no mini program named {template.miniprogram!r}")
                names = application_status.TEMPLATE_DATA if key in status_keys else None
                for field_key, text in template.fields.items():
                    try:  # a template message has the 2023 limits; 订阅通知 the subscribe message's rules
                        check_field_template(
                            field_key, text, names, official=official and section == "templates"
                        )
                    except FieldRuleError as exc:
                        raise ConfigError(f"{where}.fields.{field_key}: {exc}") from exc
                if names is not None:
                    unknown = [n for n in placeholders(template.page) if n not in names]
                    if unknown:
                        raise ConfigError(f"{where}.page: unknown placeholder {{{unknown[0]}}}")
    for status, channels in notify.status_channels.items():
        where = f"notify.status_channels.{status}"
        if status not in application_status.STATUSES:
            raise ConfigError(f"{where}: unknown status; one of {', '.join(application_status.STATUSES)}")
        if (
            not channels
            or len(set(channels)) != len(channels)
            or not set(channels) <= set(application_status.CHANNELS)
        ):
            raise ConfigError(
                f"{where}: distinct channels of {', '.join(application_status.CHANNELS)}, in order"
            )


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
    if (
        not re.fullmatch(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*", events.code_page)
        or len(events.code_page) > 128
    ):
        raise ConfigError(
            "events.code_page: a mini-program page path such as pages/event/index (no leading /)"
        )
    if events.code_env_version not in ("release", "trial", "develop"):
        raise ConfigError("events.code_env_version: release, trial or develop")
    if not 1 <= events.codes_per_minute <= 5000:
        raise ConfigError("events.codes_per_minute: 1 to 5000 (WeChat's limit)")
