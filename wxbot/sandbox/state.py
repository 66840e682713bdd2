"""What the sandbox WeChat knows and the rules it applies, behind one lock (tests drive it from many threads).

Time comes from wxbot.clock, so a test that freezes or moves the clock moves WeChat's clock too (token expiry,
the customer-service window, code lifetimes).

Long: one class holds all of WeChat's state behind one lock, with the rules of every endpoint the project
calls; split by endpoint, the lock and the state shared between endpoints (tokens, followers, windows)
would be spread over modules.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wxbot import clock
from wxbot.sandbox.official import OfficialState
from wxbot.sandbox.rules import (
    SandboxError,
    check_subscribe_data,
    check_template_data,
    delivered_template_data,
)
from wxbot.sandbox.wxacode import WxaCodes
from wxbot.wechat import errors

CLASSIC_GRACE = timedelta(minutes=5)  # a superseded cgi-bin/token token stays valid this long
STABLE_ROTATE_BEFORE = timedelta(minutes=5)  # stable_token hands out a new token this long before expiry
CODE_LIFETIME = timedelta(minutes=5)  # login and phone codes
PHONE_TRIAL_PACK = 1000  # free phone verifications per mini program (wechat-platform.md §7.2)
MAX_QR_EXPIRE_SECONDS = 2_592_000  # 30 days
DEFAULT_QR_EXPIRE_SECONDS = 30  # a temporary code without expire_seconds
# The customer-service window each trigger opens (wechat-platform.md §5.1): (messages allowed, valid for);
# a mini program's "action" is the user entering its customer-service chat.
WINDOW_RULES = {"message": (5, timedelta(hours=48)), "action": (3, timedelta(minutes=1))}
MINIPROGRAM_WINDOW_RULES = {"message": (5, timedelta(hours=48)), "action": (2, timedelta(minutes=1))}
CUSTOM_MSGTYPES = frozenset({"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle",
                             "msgmenu", "wxcard", "miniprogrampage"})  # fmt: skip
MAX_TEXT_BYTES = 2048
# template/send and subscribe/send keep one message per openid and client_msg_id this long (§12, 防重入):
# a repeat is answered as the first was and not delivered again
CLIENT_MSG_ID_WINDOW = timedelta(minutes=10)
# template/send refuses the same message to the same follower within this with 40241 (§12)
DUPLICATE_WINDOW = timedelta(seconds=60)
MAX_RECORDED_CALLS = 200_000
INJECTED_HTTP_FAILURE = (
    -1
)  # Call.errcode of a call answered with an injected HTTP error: no errcode of WeChat's


@dataclass(frozen=True)
class Call:
    """One request the sandbox received, with what it answered."""

    path: str
    params: dict[str, str]
    body: Any  # the parsed JSON body, or None
    at: datetime
    appid: str | None
    errcode: int  # 0 for success; the injected or computed error otherwise; or INJECTED_HTTP_FAILURE
    http_status: int = 200


@dataclass
class Injection:
    errcode: int | None
    times: int | None  # None: every call until reset()
    latency: float
    http_status: int | None
    answer_late: bool = False  # the call does its work first; only its answer waits `latency`


@dataclass
class Delivered:
    """A message WeChat put in a follower's chat: custom, template or subscribe."""

    kind: str
    body: dict[str, Any]
    at: datetime


@dataclass
class ChatLine:
    """One line of a follower's chat as the follower page shows it: what they did, what the bot answered."""

    who: str  # follower | bot (a passive reply) | wechat (a failure WeChat would show)
    text: str
    at: datetime


@dataclass
class Grant:
    """Customer-service messages one trigger allows."""

    kind: str
    remaining: int
    expires_at: datetime


@dataclass
class Follower:
    appid: str
    openid: str
    subscribed: bool = True
    unionid: str | None = None
    subscribed_at: datetime | None = None
    scene: str = "ADD_SCENE_SEARCH"
    qr_scene_str: str = ""
    grants: list[Grant] = field(default_factory=list)
    subscriptions: Counter[str] = field(default_factory=Counter)
    long_term: set[str] = field(default_factory=set)  # long-term 订阅通知 templates they accepted
    inbox: list[Delivered] = field(default_factory=list)
    chat: list[ChatLine] = field(default_factory=list)


@dataclass
class App:
    appid: str
    secret: str
    kind: str  # official | miniprogram


@dataclass
class Token:
    appid: str
    value: str
    stable: bool
    expires_at: datetime
    revoked_at: datetime | None = None  # superseded (classic: after a grace period) or force-refreshed

    def error_at(self, now: datetime) -> int:
        if self.revoked_at is not None and now >= self.revoked_at:
            return errors.TOKEN_INVALID
        if now >= self.expires_at:
            return errors.TOKEN_EXPIRED
        return 0


@dataclass
class Code:
    appid: str
    payload: dict[str, Any]
    expires_at: datetime
    used: bool = False
    owner: str | None = None  # the openid a phone code was issued to


class SandboxState:
    """The sandbox WeChat's memory: apps, tokens, followers, codes, media, QR tickets, injections, calls."""

    def __init__(self, token_lifetime: int = 7200) -> None:
        self._lock = threading.RLock()
        self._default_token_lifetime = token_lifetime
        self.base_url = ""  # where the sandbox is served; set by whoever serves it
        self._apps: dict[str, App] = {}
        self.wxacodes = WxaCodes()  # getwxacodeunlimit (wxbot.sandbox.wxacode)
        self.reset()

    # ------------------------------------------------------------ set-up (tests and the follower page)

    def reset(self) -> None:
        """Forget everything but the registered apps."""
        self.wxacodes.reset()
        with self._lock:
            self.token_lifetime = self._default_token_lifetime  # seconds; tests shorten it
            # The most recent calls (a long benchmark or `make run` session must not grow without bound).
            self._calls: deque[Call] = deque(maxlen=MAX_RECORDED_CALLS)
            self._injections: dict[str, list[Injection]] = {}
            self._tokens: dict[str, Token] = {}
            self._followers: dict[tuple[str, str], Follower] = {}
            self._login_codes: dict[tuple[str, str], Code] = {}
            self._phone_codes: dict[tuple[str, str], Code] = {}
            self._phone_quota: dict[str, list[int]] = {}  # appid -> [total, used]
            self._media: dict[tuple[str, str], tuple[bytes, str]] = {}
            self._tickets: dict[str, dict[str, Any]] = {}
            # (path, appid, openid, client_msg_id) -> (first accepted at, its answer)
            self._client_msg_ids: dict[tuple[str, str, str, str], tuple[datetime, dict[str, Any]]] = {}
            self.official = (
                OfficialState()
            )  # menus, follower list, templates, quotas (wxbot.sandbox.official)
            self._last_templates: dict[tuple[str, str, str], datetime] = {}  # (appid, openid, content) -> at
            # intercepted template messages, as queryblocktmplmsg lists them
            self._blocked: list[dict[str, Any]] = []

    def add_app(self, appid: str, secret: str, kind: str = "official") -> None:
        with self._lock:
            self._apps[appid] = App(appid, secret, kind)

    def apps(self) -> list[App]:
        with self._lock:
            return list(self._apps.values())

    def set_follower(self, appid: str, openid: str, subscribed: bool = True, unionid: str | None = None,
                     scene: str | None = None) -> None:  # fmt: skip
        """Make `openid` a user of `appid` (for a mini program: someone who opened it)."""
        with self._lock:
            follower = self._followers.get((appid, openid))
            if follower is None:
                follower = self._followers[(appid, openid)] = Follower(appid, openid)
            if (subscribed and not follower.subscribed) or follower.subscribed_at is None:
                follower.subscribed_at = clock.now()
            follower.subscribed = subscribed
            if scene is not None:
                follower.scene = scene
            if unionid is not None:
                follower.unionid = unionid

    def touch(self, appid: str, openid: str, kind: str) -> None:
        """The user did something that opens the customer-service window: `message` or `action`."""
        with self._lock:
            rules = MINIPROGRAM_WINDOW_RULES if self._apps[appid].kind == "miniprogram" else WINDOW_RULES
            allowed, valid_for = rules[kind]
            follower = self._follower(appid, openid)
            # A newer trigger of the same kind replaces the older one.
            follower.grants = [g for g in follower.grants if g.kind != kind]
            follower.grants.append(Grant(kind, allowed, clock.now() + valid_for))

    def grant_subscription(self, appid: str, openid: str, template_id: str, count: int = 1, *,
                           long_term: bool = False) -> None:  # fmt: skip
        """The user tapped "allow" for a one-time subscribe template: one send each (a long-term 订阅通知:
        every send until withdrawn)."""
        with self._lock:
            follower = self._follower(appid, openid)
            if long_term:
                follower.long_term.add(template_id)
            else:
                follower.subscriptions[template_id] += count

    def withdraw_subscription(self, appid: str, openid: str, template_id: str) -> None:
        """The user turned the template off in WeChat's settings: nothing of it may be sent any more."""
        with self._lock:
            follower = self._follower(appid, openid)
            follower.subscriptions[template_id] = 0
            follower.long_term.discard(template_id)

    def add_login_code(self, appid: str, code: str, openid: str, session_key: str,
                       unionid: str | None = None) -> None:  # fmt: skip
        with self._lock:
            if (appid, openid) not in self._followers:
                self.set_follower(appid, openid, unionid=unionid)
            payload: dict[str, Any] = {"openid": openid, "session_key": session_key}
            if unionid is not None:
                payload["unionid"] = unionid
            self._login_codes[(appid, code)] = Code(appid, payload, clock.now() + CODE_LIFETIME)

    def add_phone_code(self, appid: str, code: str, phone: str, country_code: str = "86",
                       openid: str | None = None) -> None:  # fmt: skip
        """A getPhoneNumber code, issued to `openid` when given (getuserphonenumber checks it then)."""
        pure = phone.removeprefix("+" + country_code) if phone.startswith("+") else phone
        with self._lock:
            self._phone_codes[(appid, code)] = Code(
                appid,
                {"phoneNumber": phone, "purePhoneNumber": pure, "countryCode": country_code},
                clock.now() + CODE_LIFETIME,
                owner=openid,
            )

    def set_phone_quota(self, appid: str, total: int, used: int = 0) -> None:
        """The mini program's paid phone verifications (the trial pack of 1,000 unless set)."""
        with self._lock:
            self._phone_quota[appid] = [total, used]

    def phone_quota(self, appid: str) -> dict[str, Any]:
        """wxa/charge/usage/get for the quick-verification product."""
        with self._lock:
            self._require_kind(appid, "miniprogram")
            total, used = self._phone_quota.setdefault(appid, [PHONE_TRIAL_PACK, 0])
        return {"errcode": 0, "errmsg": "ok", "all": total - used, "effectiveAll": total, "effectiveUse": used,
                "total": 1, "detailList": [{"spuId": "10000077", "status": 1, "all": total, "used": used}]}  # fmt: skip

    def add_media(self, appid: str, media_id: str, content: bytes, content_type: str) -> None:
        with self._lock:
            self._media[(appid, media_id)] = (content, content_type)

    def expire_tokens(self, appid: str) -> None:
        """Every token of `appid` expires now (WeChat answers 42001 to them)."""
        with self._lock:
            for token in self._tokens.values():
                if token.appid == appid:
                    token.expires_at = min(token.expires_at, clock.now())

    def revoke_tokens(self, appid: str) -> None:
        """Every token of `appid` is revoked now (WeChat answers 40001 to them), as after a forced refresh."""
        with self._lock:
            now = clock.now()
            for token in self._tokens.values():
                if token.appid == appid and (token.revoked_at is None or token.revoked_at > now):
                    token.revoked_at = now

    def inject(self, path: str, errcode: int | None = None, times: int | None = 1, latency: float = 0.0,
               http_status: int | None = None, answer_late: bool = False) -> None:  # fmt: skip
        """The next `times` calls to `path` (None: all of them) wait `latency` seconds, then answer `errcode`
        (or an HTTP error with a non-JSON body) instead of doing their work. `answer_late`: they do their
        work at once and answer only after `latency` (a timeout after WeChat accepted: delivered, answer lost)."""
        with self._lock:
            self._injections.setdefault(path, []).append(
                Injection(errcode, times, latency, http_status, answer_late)
            )

    def take_injection(self, path: str) -> Injection | None:
        with self._lock:
            queue = self._injections.get(path)
            if not queue:
                return None
            injection = queue[0]
            if injection.times is not None:
                injection.times -= 1
                if injection.times <= 0:
                    queue.pop(0)
            return injection

    # ------------------------------------------------------------ what happened

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, path: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if path is None or c.path == path]

    def say(self, appid: str, openid: str, who: str, text: str) -> None:
        """Add a line to the follower's chat (the follower page's record of callbacks and passive replies)."""
        with self._lock:
            follower = self._followers.get((appid, openid))
            if follower is None:
                follower = self._followers[(appid, openid)] = Follower(appid, openid, subscribed=False)
            follower.chat.append(ChatLine(who, text, clock.now()))

    def conversation(self, appid: str, openid: str) -> list[ChatLine | Delivered]:
        """The chat lines and the messages WeChat delivered, in time order."""
        with self._lock:
            follower = self._followers.get((appid, openid))
            if follower is None:
                return []
            merged: list[ChatLine | Delivered] = [*follower.chat, *follower.inbox]
        return sorted(merged, key=lambda item: item.at)

    def tickets(self, appid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t, ticket=key) for key, t in self._tickets.items() if t["appid"] == appid]

    def inbox(self, appid: str, openid: str) -> list[Delivered]:
        with self._lock:
            follower = self._followers.get((appid, openid))
            return list(follower.inbox) if follower else []

    def follower(self, appid: str, openid: str) -> Follower | None:
        with self._lock:
            return self._followers.get((appid, openid))

    def openids(self, appid: str) -> list[tuple[str, bool]]:
        """(openid, follows now) of everyone who met `appid`, in the order they first did."""
        with self._lock:
            return [(f.openid, f.subscribed) for f in self._followers.values() if f.appid == appid]

    def ticket(self, ticket: str) -> dict[str, Any] | None:
        with self._lock:
            return self._tickets.get(ticket)

    # ------------------------------------------------------------ the endpoints' rules

    def _app(self, appid: str, secret: str | None = None) -> App:
        app = self._apps.get(appid)
        if app is None:
            raise SandboxError(errors.APPID_INVALID, "invalid appid")
        if secret is not None and not secrets.compare_digest(app.secret, secret):
            raise SandboxError(errors.APPSECRET_INVALID, "invalid appsecret")
        return app

    def _require_kind(self, appid: str, kind: str) -> None:
        """An official-account API called with a mini program's token (or the reverse): 48001."""
        if self._apps[appid].kind != kind:
            raise SandboxError(errors.API_UNAUTHORIZED, "api unauthorized")

    def _follower(self, appid: str, openid: str) -> Follower:
        follower = self._followers.get((appid, openid))
        if follower is None:
            raise SandboxError(errors.OPENID_UNKNOWN, "invalid openid")
        return follower

    def issue_token(self, appid: str, secret: str) -> dict[str, Any]:
        """cgi-bin/token: always a new token; the previous ones stay valid for a short grace period."""
        with self._lock:
            self._app(appid, secret)
            now = clock.now()
            for token in self._tokens.values():
                if token.appid == appid and not token.stable and token.revoked_at is None:
                    token.revoked_at = now + CLASSIC_GRACE
            return self._new_token(appid, stable=False)

    def issue_stable_token(self, appid: str, secret: str, force_refresh: bool) -> dict[str, Any]:
        """cgi-bin/stable_token: the same token while it has over 5 minutes left; force_refresh revokes it."""
        with self._lock:
            self._app(appid, secret)
            now = clock.now()
            current = next(
                (t for t in self._tokens.values() if t.appid == appid and t.stable and t.error_at(now) == 0),
                None,
            )
            if current is not None and force_refresh:
                current.revoked_at = now
            elif current is not None and current.expires_at - now > STABLE_ROTATE_BEFORE:
                return {
                    "access_token": current.value,
                    "expires_in": int((current.expires_at - now).total_seconds()),
                }
            return self._new_token(appid, stable=True)

    def _new_token(self, appid: str, *, stable: bool) -> dict[str, Any]:
        value = secrets.token_urlsafe(48)
        self._tokens[value] = Token(
            appid, value, stable, clock.now() + timedelta(seconds=self.token_lifetime)
        )
        return {"access_token": value, "expires_in": self.token_lifetime}

    def app_for_token(self, value: str | None) -> str:
        """The appid an access_token belongs to; 41001/40001/42001 when missing, unknown/revoked, expired."""
        if not value:
            raise SandboxError(errors.TOKEN_MISSING, "access_token missing")
        with self._lock:
            token = self._tokens.get(value)
            if token is None:
                raise SandboxError(
                    errors.TOKEN_INVALID, "invalid credential, access_token is invalid or not latest"
                )
            errcode = token.error_at(clock.now())
            if errcode == errors.TOKEN_INVALID:
                raise SandboxError(
                    errors.TOKEN_INVALID, "invalid credential, access_token is invalid or not latest"
                )
            if errcode == errors.TOKEN_EXPIRED:
                raise SandboxError(errors.TOKEN_EXPIRED, "access_token expired")
            return token.appid

    def user_info(self, appid: str, openid: str) -> dict[str, Any]:
        with self._lock:
            self._require_kind(appid, "official")
            follower = self._follower(appid, openid)
            if not follower.subscribed:
                return {"subscribe": 0, "openid": openid}
            info: dict[str, Any] = {
                "subscribe": 1,
                "openid": openid,
                "language": "zh_CN",
                "subscribe_time": _unix(follower.subscribed_at),
                "remark": "",
                "groupid": 0,
                "tagid_list": [],
                "subscribe_scene": follower.scene,
                "qr_scene": 0,
                "qr_scene_str": follower.qr_scene_str,
            }
            if follower.unionid:
                info["unionid"] = follower.unionid
            return info

    def send_custom(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_MSGTYPES:
            raise SandboxError(errors.MESSAGE_TYPE_INVALID, "invalid message type")
        content = body.get(msgtype)
        if not isinstance(content, dict):
            raise SandboxError(errors.DATA_FORMAT_INVALID, f"data format error: {msgtype} missing")
        if msgtype == "text":
            text = content.get("content")
            if not isinstance(text, str) or not text:
                raise SandboxError(errors.CONTENT_EMPTY, "empty content")
            if len(text.encode()) > MAX_TEXT_BYTES:
                raise SandboxError(errors.CONTENT_TOO_LONG, "content size out of limit")
        if msgtype == "news" and len(content.get("articles") or []) > 1:
            raise SandboxError(errors.ARTICLES_TOO_MANY, "article size out of limit")
        with self._lock:
            if msgtype == "image" and (appid, str(content.get("media_id", ""))) not in self._media:
                raise SandboxError(errors.MEDIA_ID_INVALID, "invalid media_id")
            follower = self._follower(appid, str(body.get("touser", "")))
            if self._apps[appid].kind == "official" and not follower.subscribed:
                raise SandboxError(
                    errors.WINDOW_CLOSED, "response out of time limit or subscription is canceled"
                )
            now = clock.now()
            follower.grants = [g for g in follower.grants if g.expires_at > now]
            if not follower.grants:
                raise SandboxError(
                    errors.WINDOW_CLOSED, "response out of time limit or subscription is canceled"
                )
            usable = sorted((g for g in follower.grants if g.remaining > 0), key=lambda g: g.expires_at)
            if not usable:
                raise SandboxError(errors.WINDOW_SPENT, "out of response count limit")
            usable[0].remaining -= 1
            follower.inbox.append(Delivered("custom", body, now))
        return {"errcode": 0, "errmsg": "ok"}

    def _repeat(self, path: str, appid: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The first answer to this openid and client_msg_id within the window, if this is a repeat."""
        key = body.get("client_msg_id")
        if not isinstance(key, str) or not key:
            return None
        found = self._client_msg_ids.get((path, appid, str(body.get("touser", "")), key))
        if found is None or clock.now() - found[0] >= CLIENT_MSG_ID_WINDOW:
            return None
        return found[1]

    def _accepted(
        self, path: str, appid: str, body: dict[str, Any], answer: dict[str, Any]
    ) -> dict[str, Any]:
        key = body.get("client_msg_id")
        if isinstance(key, str) and key:
            self._client_msg_ids[(path, appid, str(body.get("touser", "")), key)] = (clock.now(), answer)
        return answer

    def send_template(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_kind(appid, "official")
            follower = self._follower(appid, str(body.get("touser", "")))
            repeat = self._repeat("template", appid, body)
            if repeat is not None:
                return repeat
            if not follower.subscribed:
                raise SandboxError(errors.UNFOLLOWED, "require subscribe")
            _check_template_id(body.get("template_id"))
            check_template_data(body.get("data"))
            miniprogram = body.get("miniprogram")
            if miniprogram is not None and not (
                isinstance(miniprogram, dict) and isinstance(miniprogram.get("appid"), str)
            ):
                raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: miniprogram")
            content = repr((body.get("template_id"), sorted(body["data"].items())))
            last = self._last_templates.get((appid, follower.openid, content))
            if last is not None and clock.now() - last < DUPLICATE_WINDOW:
                raise SandboxError(errors.ALREADY_SENT, "duplicate in 60 seconds")
            self._last_templates[(appid, follower.openid, content)] = clock.now()
            msgid = secrets.randbelow(2**62)
            shown = {k: v for k, v in body.items() if k not in ("topcolor", "color")}  # colours: ignored
            delivered = {**shown, "data": delivered_template_data(body["data"]), "msgid": msgid}
            follower.inbox.append(Delivered("template", delivered, clock.now()))
            return self._accepted("template", appid, body, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def intercept_template(self, appid: str, openid: str) -> None:
        """WeChat intercepts the follower's latest template message (judged marketing): it leaves their chat
        and is listed by queryblocktmplmsg."""
        with self._lock:
            follower = self._follower(appid, openid)
            latest = next(d for d in reversed(follower.inbox) if d.kind == "template")
            follower.inbox.remove(latest)
            self._blocked.append({
                "id": len(self._blocked) + 1, "appid": appid, "tmpl_msg_id": latest.body["template_id"],
                "title": "模板消息", "content": " ".join(v["value"] for v in latest.body["data"].values()),
                "send_timestamp": _unix(latest.at), "openid": openid,
            })  # fmt: skip

    def blocked_templates(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_kind(appid, "official")
            _check_template_id(body.get("tmpl_msg_id"))
            largest_id, limit = body.get("largest_id"), body.get("limit")
            if not isinstance(largest_id, int) or not isinstance(limit, int) or not 0 < limit <= 100:
                raise SandboxError(errors.ARGS_INVALID, "invalid args: largest_id, limit (at most 100)")
            found = [
                {k: v for k, v in entry.items() if k != "appid"}
                for entry in self._blocked
                if entry["appid"] == appid and entry["tmpl_msg_id"] == body["tmpl_msg_id"]
                and entry["id"] > largest_id
            ]  # fmt: skip
            return {"errcode": 0, "errmsg": "ok", "msginfo": found[:limit]}

    def send_subscribe(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_kind(appid, "miniprogram")
            follower = self._follower(appid, str(body.get("touser", "")))
            repeat = self._repeat("subscribe", appid, body)
            if repeat is not None:
                return repeat
            template_id = body.get("template_id")
            _check_template_id(template_id)
            if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
                raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: miniprogram_state")
            check_subscribe_data(body.get("data"))
            if follower.subscriptions[str(template_id)] <= 0:
                raise SandboxError(errors.REFUSED, "user refuse to accept the msg")
            follower.subscriptions[str(template_id)] -= 1
            follower.inbox.append(Delivered("subscribe", body, clock.now()))
            return self._accepted("subscribe", appid, body, {"errcode": 0, "errmsg": "ok"})

    def send_notice(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """message/subscribe/bizsend: an official account's 订阅通知, to someone who allowed that template."""
        with self._lock:
            self._require_kind(appid, "official")
            follower = self._follower(appid, str(body.get("touser", "")))
            template_id = body.get("template_id")
            _check_template_id(template_id)
            page, miniprogram = body.get("page"), body.get("miniprogram")
            if page is not None and not isinstance(page, str):
                raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: page")
            if miniprogram is not None and not (
                isinstance(miniprogram, dict) and isinstance(miniprogram.get("appid"), str)
            ):
                raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: miniprogram")
            check_subscribe_data(body.get("data"))
            if str(template_id) not in follower.long_term:
                if follower.subscriptions[str(template_id)] <= 0:
                    raise SandboxError(errors.REFUSED, "user refuse to accept the msg")
                follower.subscriptions[str(template_id)] -= 1
            msgid = secrets.randbelow(2**62)
            follower.inbox.append(Delivered("notice", {**body, "msgid": msgid}, clock.now()))
            return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def code2session(self, appid: str, secret: str, code: str, grant_type: str) -> dict[str, Any]:
        with self._lock:
            self._app(appid, secret)
            self._require_kind(appid, "miniprogram")
            if grant_type != "authorization_code":
                raise SandboxError(errors.GRANT_TYPE_INVALID, "invalid grant_type")
            payload = self._use_code(self._login_codes, appid, code)
        # Like WeChat, a successful login answer carries no errcode.
        return dict(payload)

    def phone_number(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        code, openid = body.get("code"), body.get("openid")
        if not isinstance(code, str) or not isinstance(openid, str | None):
            raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: code")
        with self._lock:
            self._require_kind(appid, "miniprogram")
            entry = self._phone_codes.get((appid, code))
            if entry is not None and openid is not None and entry.owner not in (None, openid):
                raise SandboxError(errors.CODE_INVALID, "invalid code: not issued to this openid")
            quota = self._phone_quota.setdefault(appid, [PHONE_TRIAL_PACK, 0])
            if quota[1] >= quota[0]:
                raise SandboxError(
                    errors.PHONE_QUOTA_EXHAUSTED, "no quota left for phone number verification"
                )
            payload = self._use_code(self._phone_codes, appid, code)
            quota[1] += 1
        watermark = {"timestamp": clock.timestamp(), "appid": appid}
        return {"errcode": 0, "errmsg": "ok", "phone_info": {**payload, "watermark": watermark}}

    def _use_code(self, codes: dict[tuple[str, str], Code], appid: str, code: str) -> dict[str, Any]:
        entry = codes.get((appid, code))
        if entry is None or entry.expires_at <= clock.now():
            raise SandboxError(errors.CODE_INVALID, "invalid code")
        if entry.used:
            raise SandboxError(errors.CODE_USED, "code been used")
        entry.used = True
        return entry.payload

    def media(self, appid: str, media_id: str) -> tuple[bytes, str]:
        with self._lock:
            found = self._media.get((appid, media_id))
        if found is None:
            raise SandboxError(errors.MEDIA_ID_INVALID, "invalid media_id")
        return found

    def create_qrcode(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_kind(appid, "official")
        action = body.get("action_name")
        scene = (
            (body.get("action_info") or {}).get("scene")
            if isinstance(body.get("action_info"), dict)
            else None
        )
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            raise SandboxError(errors.ACTION_NAME_INVALID, "invalid action name")
        if not isinstance(scene, dict):
            raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error: action_info.scene")
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise SandboxError(errors.ARGS_INVALID, "invalid args: scene_str must be 1 to 64 characters")
        else:
            value = scene.get("scene_id")
            limit = 100_000 if action.startswith("QR_LIMIT") else 2**32 - 1
            if not isinstance(value, int) or not 1 <= value <= limit:
                raise SandboxError(errors.ARGS_INVALID, "invalid args: scene_id")
        answer: dict[str, Any] = {}
        if not action.startswith("QR_LIMIT"):
            expire = body.get("expire_seconds", DEFAULT_QR_EXPIRE_SECONDS)
            if not isinstance(expire, int) or expire < 1:
                raise SandboxError(errors.ARGS_INVALID, "invalid args: expire_seconds")
            answer["expire_seconds"] = min(expire, MAX_QR_EXPIRE_SECONDS)
        ticket = secrets.token_urlsafe(36)
        answer.update({"ticket": ticket, "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}"})
        with self._lock:
            self._tickets[ticket] = {"appid": appid, "scene": str(value), "created_at": clock.now(), **answer}
        return answer


def _unix(moment: datetime | None) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) if moment else 0


def _check_template_id(template_id: Any) -> None:
    if (
        not isinstance(template_id, str)
        or not template_id
        or len(template_id) > 64
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in template_id)
    ):
        raise SandboxError(errors.TEMPLATE_ID_INVALID, "invalid template_id")
