"""The settings schema: one typed dataclass per section of config.toml (config.example.toml comments every
key), and the error that names a wrong one. Loading is wxbot.config.loading, checks wxbot.config.validation."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the key."""


ENVIRONMENTS = ("production", "development")
CALLBACK_MODES = ("plaintext", "compatible", "safe")


@dataclass
class AppSettings:
    # production | development; only development has the embedded defaults, invented secrets and the sandbox
    environment: str = "production"
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
    # A Redis that accepts connections but does not answer costs each call this long; after
    # breaker_failures failures in a row no call goes to Redis for breaker_reset_seconds (then one tries).
    socket_timeout_seconds: float = 0.5
    breaker_failures: int = 3
    breaker_reset_seconds: float = 5.0


@dataclass
class MenuButton:
    """One entry of an official account's menu (wxbot.config.menus checks it against WeChat's limits)."""

    name: str
    type: str = ""  # click | view | miniprogram; empty for a button that opens sub_button
    key: str = ""  # click: the EventKey a router rule answers
    url: str = ""  # view: the page; miniprogram: the page for clients that cannot open mini programs
    miniprogram: str = ""  # miniprogram: the name of a configured [[wechat.miniprogram]]
    pagepath: str = ""  # miniprogram: its page
    sub_button: list[MenuButton] = field(default_factory=list)


@dataclass
class ConditionalMenu:
    """The menu the followers with one tag see instead of the default (menu/addconditional, matched by tag)."""

    tag_id: str  # the tag's id in WeChat (用户标签)
    button: list[MenuButton] = field(default_factory=list)


@dataclass
class OfficialAccount:
    name: str
    appid: str
    appsecret: str
    token: str
    encoding_aes_key: str = ""  # 43 characters; needed by the compatible and safe modes
    original_id: str = ""  # gh_... ; used as FromUserName of passive replies when the request lacks it
    # 消息加解密方式 as set in WeChat's console: plaintext | compatible | safe; empty: safe when
    # encoding_aes_key is set, else plaintext
    mode: str = ""
    menu: list[MenuButton] = field(default_factory=list)  # `wxbot menu sync` sends it to WeChat
    conditional_menu: list[ConditionalMenu] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mode = self.mode or ("safe" if self.encoding_aes_key else "plaintext")


DATA_FORMATS = ("xml", "json")


@dataclass
class MiniProgram:
    name: str
    appid: str
    appsecret: str
    # 消息推送 (customer service) at /wechat/mp/<name>, as set in the mini program's admin console; an empty
    # token: no message push (the URL answers 404)
    token: str = ""
    encoding_aes_key: str = ""  # 43 characters; needed by the compatible and safe modes
    mode: str = ""  # plaintext | compatible | safe; empty: safe when encoding_aes_key is set, else plaintext
    data_format: str = "xml"  # 数据格式: xml | json
    original_id: str = ""  # gh_... ; when set, a push addressed to another ToUserName is refused

    def __post_init__(self) -> None:
        self.mode = self.mode or ("safe" if self.encoding_aes_key else "plaintext")
        self.data_format = self.data_format.lower()


WECHAT_API_HOST = "https://api.weixin.qq.com"
SANDBOX_API_PATH = (
    "/sandbox/wechat"  # where the app mounts the sandbox WeChat API when the sandbox is enabled
)


@dataclass
class WechatSettings:
    api_base_url: str = WECHAT_API_HOST
    token_mode: str = "stable"  # noqa: S105  stable: cgi-bin/stable_token; classic: cgi-bin/token behind a shared lock
    timeout_seconds: float = 5.0
    # sends in a row that fail with a token error after the refresh-and-retry before the app is unhealthy
    unhealthy_after_token_failures: int = 5
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
    # the paid quota of phone verifications (checked daily): below this many left, the console and the log
    # say so
    phone_quota_warn_below: int = 100
    bind_token_ttl_seconds: int = 600  # the one-time token of the official account's 绑定 link
    bind_qr_ttl_seconds: int = 600  # the temporary QR code of POST /platform/bind-qr
    bind_miniprogram: str = ""  # which mini program the 绑定 link opens; empty: the first configured one
    bind_page: str = "pages/bind/index"  # its page; the token is added as ?token=...
    bind_web_url: str = ""  # where the link goes on clients that cannot open a mini program
    # the legacy encryptedData phone flow: a watermark older than this is refused (replayed data)
    watermark_max_age_seconds: int = 24 * 3600


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
    session_hours: float = 2.0  # a console session ends after this long without a request
    session_lifetime_hours: float = 12.0  # and this long after its login, however busy
    secure_cookie: bool = True  # send the session cookie over HTTPS only (false only on a laptop)
    # failed logins per username before each further one locks it (1 minute, doubling, at most 15)
    login_attempts: int = 5
    login_failures_per_address: int = 100  # in 15 minutes; successes never count
    # where followers open a signed link to read replies they could not get in the chat (the fallback)
    public_url: str = ""
    reply_link_days: int = 7
    # while a 留言 is open these keywords are still answered as usual (and noted in the conversation)
    follower_commands: list[str] = field(
        default_factory=lambda: [
            "帮助",
            "help",
            "订阅全部",
            "全部提醒",
            "只提醒关键",
            "关键提醒",
            "退订",
            "关闭提醒",
            "提醒设置",
            "绑定",
            "活动",
        ]  # fmt: skip
    )
    reopen_hours: float = 24.0  # a follower's message this long after Resolve reopens the conversation


@dataclass
class EventsSettings:
    reminder_hours_before: float = 24.0  # the sign-up reminder goes out this long before the start
    checkin_opens_minutes_before: int = 120  # check-in codes are accepted from then until the end
    miniprogram: str = ""  # the mini program the official account's 「活动」 reply links into
    list_url: str = ""  # https URL (a URL Link) that opens that mini program's event list
    list_picurl: str = ""  # picture of that news item
    # mini-program codes for events (POST /platform/events/<id>/code): the page they open (published),
    # with ?scene=<key>; the version to open (release | trial | develop); WeChat's limit of 5,000 a minute
    code_page: str = "pages/event/index"
    code_env_version: str = "release"
    code_check_path: bool = True  # false: WeChat takes an unpublished page (for trial versions)
    codes_per_minute: int = 5000


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
    url: str = ""  # official account: web page opened when no mini program is linked
    miniprogram: str = ""  # official account: name of the linked mini program that `page` belongs to
    # 订阅通知 ([notify.notices]): a long-term template; one acceptance allows every send until withdrawn
    long_term: bool = False


@dataclass
class NotifySettings:
    # Pushes that are not urgent wait for the end of the quiet hours (app.timezone); empty start: none.
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "08:00"
    daily_cap: int = 10  # non-urgent pushes per account per day; 0: no cap
    # sender
    batch_size: int = 200  # rows claimed per round
    concurrency: int = 32  # WeChat requests in flight per sender process
    # a claimed row returns to the queue this long after its sender stopped renewing the claim (it died)
    lease_seconds: int = 20
    max_attempts: int = 8
    retry_base_seconds: float = 15.0  # exponential backoff: base * 2^(attempt-1), capped
    retry_max_seconds: float = 3600.0
    # template key -> app name -> template (status pushes use the keys status_<status>)
    templates: dict[str, dict[str, NotifyTemplate]] = field(default_factory=dict)
    # the official accounts' 订阅通知 (message/subscribe/bizsend), by the same keys: key -> app name -> template
    notices: dict[str, dict[str, NotifyTemplate]] = field(default_factory=dict)
    # status -> the channels its push tries, in order (default: template message, 订阅通知, mini-program
    # subscribe message); a status may use fewer
    status_channels: dict[str, list[str]] = field(default_factory=dict)

    def template(self, key: str, app_name: str) -> NotifyTemplate | None:
        return self.templates.get(key, {}).get(app_name)

    def notice(self, key: str, app_name: str) -> NotifyTemplate | None:
        return self.notices.get(key, {}).get(app_name)


@dataclass
class MetricsSettings:
    """Prometheus metrics (docs/operations.md)."""

    # the bearer token GET /metrics on the web service asks for; empty: /metrics is not served (development:
    # served to anyone who reaches the loopback-bound laptop server)
    token: str = ""
    # where each `wxbot jobs` process serves its metrics (its own port; `wxbot jobs --metrics-bind` per process)
    jobs_bind: str = "127.0.0.1:9108"
    # the daily quotas the `quota` job samples (openapi/quota/get) for each official account / mini program
    official_quota_apis: list[str] = field(
        default_factory=lambda: ["/cgi-bin/message/template/send", "/cgi-bin/message/custom/send"]
    )
    miniprogram_quota_apis: list[str] = field(default_factory=lambda: ["/cgi-bin/message/subscribe/send"])


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
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def development(self) -> bool:
        return self.app.environment == "development"

    def official_account(self, name: str) -> OfficialAccount | None:
        return next((a for a in self.wechat.official if a.name == name), None)

    def miniprogram(self, name: str) -> MiniProgram | None:
        return next((a for a in self.wechat.miniprogram if a.name == name), None)

    def pii_key_bytes(self) -> list[bytes]:
        return [base64.b64decode(k) for k in self.security.pii_keys]

    def hash_key_bytes(self) -> bytes:
        return base64.b64decode(self.security.hash_key)

    def retired_hash_key_bytes(self) -> list[bytes]:
        return [base64.b64decode(k) for k in self.security.retired_hash_keys]
