"""The WeChat API as the rest of the project sees it: twelve calls, WeChatError / WeChatUnavailable, nothing else.

Underneath, one wechatpy client per configured app, with wechatpy's own retry off: tokens come from the shared
TokenStore, and a token error (40001/40014/42001) refreshes once, only if the failing token is still the
current one, then retries once; a token refused again after that refresh is not refreshed for again (the call
fails and is tried later) until the token changes. Every request goes to `[wechat] api_base_url`, with `[wechat] timeout_seconds`,
over one connection pool per process (wxbot.wechat.http) that the sender's threads share.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from urllib3 import encode_multipart_formdata
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from wxbot import metrics
from wxbot.cache import Cache
from wxbot.config import Settings
from wxbot.wechat.errors import TOKEN_ERRORS, WeChatError, WeChatUnavailable
from wxbot.wechat.http import Answer, Http, json_bytes
from wxbot.wechat.tokens import HeldToken, TokenStore, TokenVault, classic_token_fetcher, stable_token_fetcher

log = logging.getLogger(__name__)

WECHAT_API_HOST = "https://api.weixin.qq.com"
WECHAT_QRCODE_HOST = "https://mp.weixin.qq.com"
# Endpoints authenticated by appid + secret, never by an access token.
TOKENLESS_PATHS = frozenset({"/sns/jscode2session", "/cgi-bin/token", "/cgi-bin/stable_token"})
MAX_MEDIA_BYTES = 20 * 1024 * 1024
QUOTA_FIELDS = ("daily_limit", "used", "remain")
WXA_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@._~-]{1,32}")  # getwxacodeunlimit's scene
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
PHONE_QUICK_VERIFICATION_SPU = "10000077"  # wxa/charge's product id of the phone-number quick verification

T = TypeVar("T")


class UnknownApp(LookupError):
    """No configured app of that name and kind."""


class _Client(WeChatClient):  # type: ignore[misc]
    """A wechatpy client that sends to our base URL with the token the facade pinned for this call."""

    def __init__(self, appid: str, secret: str, *, base_url: str, timeout: float, http: Http) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._http = http
        self.base_url = base_url
        self._pinned = threading.local()

    @property
    def access_token(self) -> str:
        token: str | None = getattr(self._pinned, "token", None)
        if token is None:
            raise RuntimeError("no access token pinned: call through WeChatApi")
        return token

    def fetch_access_token(self) -> None:
        raise RuntimeError("access tokens come from the TokenStore")

    def pin(self, token: str | None) -> None:
        self._pinned.token = token

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        # wechatpy's API classes name WeChat's host (or their own base) explicitly; send everything to ours.
        if url_or_endpoint.startswith(("http://", "https://")):
            url = url_or_endpoint
        else:
            url = kwargs.pop("api_base_url", self.API_BASE_URL) + url_or_endpoint
        kwargs.pop("api_base_url", None)
        if not url.startswith(WECHAT_API_HOST + "/"):
            raise ValueError(f"not a WeChat API URL: {url.split('?')[0]}")
        path = url.removeprefix(WECHAT_API_HOST)
        url = self.base_url + path
        params = kwargs.setdefault("params", {})
        if path.split("?")[0] not in TOKENLESS_PATHS:
            params["access_token"] = self.access_token
        if isinstance(kwargs.get("data"), dict):
            kwargs["data"] = json_bytes(kwargs["data"])
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        kwargs["timeout"] = self.timeout
        result_processor = kwargs.pop("result_processor", None)
        endpoint, errcode, started = metrics.endpoint_label(path), metrics.UNAVAILABLE, time.perf_counter()
        try:
            response = self._http.request(method=method, url=url, **kwargs)
            if response.status_code >= 400:
                # the request reached a server: WeChat may have acted on it
                raise WeChatUnavailable(f"{endpoint} answered HTTP {response.status_code}", unsure=True)
            result = self._handle_result(response, method, url, result_processor, **kwargs)
            errcode = "0"
            return result
        except WeChatClientException as exc:
            errcode = metrics.UNAVAILABLE if exc.errcode is None else str(exc.errcode)
            raise
        finally:
            metrics.wechat_call(endpoint, errcode, time.perf_counter() - started)


class WeChatApi:
    """One per process (see .wechat); safe to call from many threads."""

    def __init__(self, settings: Settings, cache: Cache, vault: TokenVault) -> None:
        wechat = settings.wechat
        self.base_url = wechat.api_base_url.rstrip("/")
        self.timeout = wechat.timeout_seconds
        self.http = Http(
            self.base_url, connections=max(settings.notify.concurrency, 8), max_bytes=MAX_MEDIA_BYTES
        )
        stable = wechat.token_mode == "stable"  # noqa: S105  (a mode name, not a secret)
        self.tokens = TokenStore(cache, vault)
        fetcher = stable_token_fetcher if stable else classic_token_fetcher
        self._clients: dict[str, tuple[str, _Client]] = {}
        apps: list[tuple[str, Any]] = [("official", a) for a in wechat.official]
        apps += [("miniprogram", a) for a in wechat.miniprogram]
        for kind, app in apps:
            client = _Client(
                app.appid, app.appsecret, base_url=self.base_url, timeout=self.timeout, http=self.http
            )
            self._clients[app.name] = (kind, client)
            self.tokens.add_app(
                app.appid, fetcher(self.http, self.base_url, app.appid, app.appsecret, self.timeout)
            )

    # ------------------------------------------------------------ the twelve calls

    def code2session(self, mp_name: str, code: str) -> dict[str, Any]:
        """A mini-program login code -> openid, session_key, unionid (None unless the app is bound)."""
        client = self._client(mp_name, "miniprogram")
        answer = self._attempt(client, None, lambda c: c.wxa.code_to_session(code))
        # A successful answer may carry no errcode at all; what makes it a success is the openid.
        if not isinstance(answer.get("openid"), str) or not isinstance(answer.get("session_key"), str):
            raise WeChatUnavailable("jscode2session answer lacks openid or session_key")
        return {
            "openid": answer["openid"],
            "session_key": answer["session_key"],
            "unionid": answer.get("unionid"),
        }

    def phone_number(self, mp_name: str, code: str, *, openid: str | None = None) -> dict[str, Any]:
        """A getPhoneNumber code -> WeChat's phone_info (phoneNumber, purePhoneNumber, countryCode, watermark).
        With `openid`, WeChat also checks that the code was issued to that user."""
        client = self._client(mp_name, "miniprogram")
        body = {"code": code, **({"openid": openid} if openid else {})}
        answer = self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/wxa/business/getuserphonenumber", data=body)
        )
        info = answer.get("phone_info")
        if not isinstance(info, dict):
            raise WeChatUnavailable("getuserphonenumber answer lacks phone_info")
        watermark = info.get("watermark")
        if isinstance(watermark, dict) and watermark.get("appid") not in (None, client.appid):
            raise WeChatUnavailable("phone_info watermark names another app")
        return info

    def phone_quota(self, mp_name: str) -> dict[str, int]:
        """The paid phone-number quota (手机号快速验证组件, spuId 10000077) from wxa/charge/usage/get:
        total (every pack, the trial one included) and used."""
        client = self._client(mp_name, "miniprogram")
        params = {"spuId": PHONE_QUICK_VERIFICATION_SPU, "offset": 0, "limit": 20}
        answer = self._call(client, lambda c: c.get(f"{WECHAT_API_HOST}/wxa/charge/usage/get", params=params))
        try:
            return {"total": int(answer["effectiveAll"]), "used": int(answer["effectiveUse"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise WeChatUnavailable("charge/usage/get answer lacks effectiveAll/effectiveUse") from exc

    def wxa_code(self, mp_name: str, scene: str, page: str, *, check_path: bool = True,
                 env_version: str = "release", width: int = 430) -> bytes:  # fmt: skip
        """A mini-program code (wxa/getwxacodeunlimit) opening `page` with `scene` in its query: the image
        (PNG or JPEG, as WeChat draws it).
        `scene`: at most 32 visible characters of WXA_SCENE; WeChat answers errors as JSON (41030: the page
        is not published, 45009: over the limit)."""
        if not WXA_SCENE.fullmatch(scene):
            raise ValueError("scene must be 1 to 32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@._~-]")
        client = self._client(mp_name, "miniprogram")
        body = {"scene": scene, "page": page, "check_path": check_path, "env_version": env_version,
                "width": width}  # fmt: skip
        answer = self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/wxa/getwxacodeunlimit", data=body), json_only=False
        )
        if isinstance(answer, dict) or not answer.content.startswith(IMAGE_SIGNATURES):
            raise WeChatUnavailable("getwxacodeunlimit answered neither an image nor an error")
        return bytes(answer.content)

    def user_info(self, oa_name: str, openid: str) -> dict[str, Any]:
        client = self._client(oa_name, "official")
        return self._call(client, lambda c: c.user.get(openid))

    def send_custom(self, app_name: str, openid: str, message: dict[str, Any]) -> dict[str, Any]:
        """A customer-service message; `message` is {"msgtype": "text", "text": {"content": ...}} and the like."""
        client = self._client(app_name)
        body = {"touser": openid, **message}
        return self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/message/custom/send", data=body)
        )

    def upload_image(self, app_name: str, content: bytes, content_type: str) -> str:
        """A temporary image (cgi-bin/media/upload, kept by WeChat 3 days) for a customer-service image
        message of an official account or a mini program: its media_id."""
        client = self._client(app_name)
        extension = "png" if content_type == "image/png" else "jpg"
        body, multipart = encode_multipart_formdata({"media": (f"reply.{extension}", content, content_type)})
        answer = self._call(
            client,
            lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/media/upload", params={"type": "image"}, data=body,
                             headers={"Content-Type": multipart}),
        )  # fmt: skip
        if not isinstance(answer.get("media_id"), str) or not answer["media_id"]:
            raise WeChatUnavailable("media/upload answer lacks media_id", unsure=True)
        return str(answer["media_id"])

    def send_template(self, oa_name: str, openid: str, template_id: str, data: dict[str, Any], *,
                      url: str | None = None, miniprogram: dict[str, str] | None = None,
                      client_msg_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        client = self._client(oa_name, "official")
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        optional = {"url": url, "miniprogram": miniprogram, "client_msg_id": client_msg_id}
        body.update({k: v for k, v in optional.items() if v is not None})
        answer = self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/message/template/send", data=body)
        )
        if "msgid" not in answer:
            raise WeChatUnavailable("template/send answer lacks msgid", unsure=True)
        return answer

    def send_subscribe(self, mp_name: str, openid: str, template_id: str, data: dict[str, Any], *,
                       page: str | None = None, client_msg_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        client = self._client(mp_name, "miniprogram")
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        optional = {"page": page, "client_msg_id": client_msg_id}
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/message/subscribe/send", data=body)
        )

    def send_notice(self, oa_name: str, openid: str, template_id: str, data: dict[str, Any], *,
                    page: str | None = None, miniprogram: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """A 订阅通知 of the official account (message/subscribe/bizsend): `page` is a web page to open,
        `miniprogram` {"appid", "pagepath"} a linked mini program's page. No client_msg_id (none documented)."""
        client = self._client(oa_name, "official")
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        body.update({k: v for k, v in {"page": page, "miniprogram": miniprogram}.items() if v is not None})
        return self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/message/subscribe/bizsend", data=body)
        )

    def blocked_templates(self, oa_name: str, template_id: str, largest_id: int = 0,
                          limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
        """One page of the template messages of `template_id` WeChat intercepted (wxa/sec/queryblocktmplmsg):
        entries with id (the next page's largest_id), tmpl_msg_id, openid, send_timestamp, title."""
        client = self._client(oa_name, "official")
        body = {"tmpl_msg_id": template_id, "largest_id": largest_id, "limit": limit}
        answer = self._call(
            client, lambda c: c.post(f"{WECHAT_API_HOST}/wxa/sec/queryblocktmplmsg", data=body)
        )
        found = answer.get("msginfo", [])
        # the docs' sample answers one object where the API answers a list
        items = found if isinstance(found, list) else [found]
        return [item for item in items if isinstance(item, dict)]

    def get_media(self, app_name: str, media_id: str) -> tuple[bytes, str]:
        """A temporary media file a user sent (to an official account, or a mini program's customer service):
        (content, content type)."""
        client = self._client(app_name)
        answer = self._call(client, lambda c: c.media.download(media_id), json_only=False)
        if isinstance(answer, dict):
            # Videos come as {"video_url": ...}; everything else as the file itself.
            video_url = answer.get("video_url")
            if not isinstance(video_url, str) or not video_url.startswith(("http://", "https://")):
                raise WeChatUnavailable("media/get answered JSON without a video_url")
            answer = self._download(video_url)
        content_type = answer.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        return answer.content, content_type

    def create_qrcode(self, oa_name: str, scene_str: str, expire_seconds: int) -> dict[str, Any]:
        """A temporary parametric QR code: ticket, url (what the code encodes), expire_seconds, image_url."""
        client = self._client(oa_name, "official")
        body = {"expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene_str}}}  # fmt: skip
        answer = self._call(client, lambda c: c.qrcode.create(body))
        if not isinstance(answer.get("ticket"), str):
            raise WeChatUnavailable("qrcode/create answer lacks ticket")
        image_host = WECHAT_QRCODE_HOST if self.base_url == WECHAT_API_HOST else self.base_url
        return {**answer, "image_url": f"{image_host}/cgi-bin/showqrcode?ticket={quote(answer['ticket'])}"}

    def quota(self, app_name: str, cgi_path: str) -> dict[str, int]:
        """Today's quota of one API of one app: daily_limit, used, remain (wechat-platform.md §10)."""
        client = self._client(app_name)
        answer = self._call(
            client,
            lambda c: c.post(f"{WECHAT_API_HOST}/cgi-bin/openapi/quota/get", data={"cgi_path": cgi_path}),
        )
        quota = answer.get("quota")
        if not isinstance(quota, dict) or not all(isinstance(quota.get(k), int) for k in QUOTA_FIELDS):
            raise WeChatUnavailable("openapi/quota/get answer lacks quota")
        return {k: int(quota[k]) for k in QUOTA_FIELDS}

    def call(self, app_name: str, kind: str, method: str, path: str, *, params: dict[str, str] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """Any JSON API of WeChat's (`path` as /cgi-bin/...), with the shared token and its refresh: for the
        account-management calls of wxbot.wechat.official."""
        client = self._client(app_name, kind)
        url = f"{WECHAT_API_HOST}{path}"
        if method == "GET":
            return self._call(client, lambda c: c.get(url, params=dict(params or {})))
        return self._call(client, lambda c: c.post(url, params=dict(params or {}), data=body or {}))

    def appid(self, app_name: str) -> str:
        return self._client(app_name).appid

    # ------------------------------------------------------------ plumbing

    def _client(self, name: str, kind: str | None = None) -> _Client:
        found = self._clients.get(name)
        if found is None or (kind is not None and found[0] != kind):
            raise UnknownApp(f"no {kind or 'WeChat'} app named {name!r}")
        return found[1]

    def _call(self, client: _Client, operation: Callable[[_Client], Any], *, json_only: bool = True) -> Any:
        token = self._token(lambda: self.tokens.get(client.appid))
        try:
            return self._attempt(client, token, operation, json_only=json_only)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            fresh = self._token(lambda: self.tokens.replace(client.appid, token))
            if fresh is None:  # refused after a refresh already: no other refresh until the token changes
                raise
        try:
            return self._attempt(client, fresh, operation, json_only=json_only)
        except WeChatError as exc:
            if exc.errcode in TOKEN_ERRORS:
                self.tokens.refuse(client.appid, fresh)
            raise

    @staticmethod
    def _token(fetch: Callable[[], T]) -> T:
        """The token `fetch` gives. Its failure, even an ambiguous one, is sure: the call itself was never sent."""
        try:
            return fetch()
        except WeChatUnavailable as exc:
            if not exc.unsure:
                raise
            raise WeChatUnavailable(str(exc)) from exc

    def _attempt(self, client: _Client, token: HeldToken | None, operation: Callable[[_Client], T], *,
                 json_only: bool = True) -> T:  # fmt: skip
        client.pin(token.value if token else None)
        try:
            answer = operation(client)
        except WeChatClientException as exc:
            if exc.errcode is None:
                raise WeChatUnavailable("WeChat answered an HTTP error") from exc
            raise WeChatError(int(exc.errcode), str(exc.errmsg or "")) from exc
        finally:
            client.pin(None)
        if json_only and not isinstance(answer, dict):
            raise WeChatUnavailable("WeChat's answer is not a JSON object", unsure=True)
        return answer

    def _download(self, url: str) -> Answer:
        # another host (a video's URL), rarely: a pool of its own, with that host's proxy settings
        response = Http(url, connections=1, max_bytes=MAX_MEDIA_BYTES).request(
            "GET", url, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise WeChatUnavailable(f"media download answered HTTP {response.status_code}")
        return response
