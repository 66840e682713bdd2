"""tests.wechat_helpers.Follower over real HTTP: the same signing and encryption, posted with requests to a
running server (many followers from many threads at once), instead of Flask's test client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from tests.wechat_helpers import CallbackReply, Follower


@dataclass
class _Answer:
    """The little of a Flask test response that Follower.read_reply reads."""

    status_code: int
    body: str

    def get_data(self, as_text: bool = True) -> str:
        return self.body


@dataclass
class _AppOnly:
    """Follower reads the account's settings from `client.application`; the posting is done here."""

    application: Any


class HttpFollower(Follower):
    def __init__(self, app: Any, base_url: str, http: requests.Session, **kwargs: Any) -> None:
        super().__init__(_AppOnly(app), **kwargs)
        self.url = f"{base_url}/wechat/{self.app}"
        self.http = http

    def post(self, body: bytes, params: dict[str, str]) -> _Answer:
        response = self.http.post(
            self.url, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=30
        )
        return _Answer(response.status_code, response.text)

    def send_text_as(self, content: str, msg_id: int) -> CallbackReply:
        """A text with a given MsgId: what a re-delivery of that message looks like."""
        return self.send(self.fields(MsgType="text", Content=content, MsgId=msg_id))
