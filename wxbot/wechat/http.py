"""HTTP to WeChat's API host: one urllib3 pool per process, shared by every thread.

urllib3 directly rather than through requests: the sender makes hundreds of calls a second, and requests'
per-request machinery (preparing, merging settings, finding proxies in the environment again each time) cost
more CPU than the call itself. The environment's proxy settings are read once, for the one host every call
goes to. Failures to reach WeChat (connection, timeout, protocol) become WeChatUnavailable here.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3

from wxbot.wechat.errors import WeChatUnavailable


@dataclass(frozen=True)
class Answer:
    """What WeChat answered: the parts of a response wechatpy and the facade read."""

    status_code: int
    content: bytes
    headers: Any  # case-insensitive, like requests'
    request: None = None  # wechatpy's errors carry the request of the response; we keep none

    def json(self) -> Any:
        return json.loads(self.content)


def json_bytes(data: Any) -> bytes:
    """WeChat expects UTF-8 JSON with Chinese left as it is (escaped \\uXXXX counts against its byte limits)."""
    return json.dumps(data, ensure_ascii=False).encode()


class Http:
    """`max_bytes` bounds every answer: reading stops there (a media file is not downloaded whole first)."""

    def __init__(self, base_url: str, *, connections: int, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        options: dict[str, Any] = {
            "maxsize": connections,  # kept alive per host; more are opened when needed, not kept
            "retries": False,  # the facade decides what is retried
            "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE")
            or os.environ.get("SSL_CERT_FILE")
            or certifi.where(),
        }
        proxy = environment_proxy(base_url)
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        params: dict[str, Any] | None = None,
        data: bytes | str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        if json is not None:
            data = json_bytes(json)
            headers = {**(headers or {}), "Content-Type": "application/json; charset=utf-8"}
        if isinstance(data, str):
            data = data.encode()
        try:
            response = self._pool.request(
                method, url, body=data, headers=headers, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                redirect=False, preload_content=False,
            )  # fmt: skip
            try:
                content = response.read(self._max_bytes + 1)
            finally:
                response.release_conn()
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            raise WeChatUnavailable(f"no connection to WeChat: {type(exc).__name__}") from exc
        except urllib3.exceptions.HTTPError as exc:
            # sent, or partly: a read timeout, a connection lost before the answer
            raise WeChatUnavailable(f"request to WeChat failed: {type(exc).__name__}", unsure=True) from exc
        if len(content) > self._max_bytes:
            raise WeChatUnavailable(f"answer larger than {self._max_bytes} bytes")
        return Answer(response.status, content, response.headers)


def environment_proxy(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) names for `url`, if any."""
    proxies = urllib.request.getproxies_environment()
    host = urlsplit(url).hostname or ""
    if "no" in proxies and urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(urlsplit(url).scheme) or proxies.get("all")
