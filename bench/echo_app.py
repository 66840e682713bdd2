"""The baseline of bench/callback.py: a minimal Flask + wechatpy callback that only verifies, parses and
replies (no storage, no dedupe, no routing). Configured from the environment by the benchmark:
BENCH_TOKEN, BENCH_AES_KEY, BENCH_APPID (the keyed account, safe mode) and the plaintext account's name.

    gunicorn bench.echo_app:app
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

TOKEN = os.environ.get("BENCH_TOKEN", "benchtoken")
crypto = WeChatCrypto(
    TOKEN, os.environ.get("BENCH_AES_KEY", "a" * 43), os.environ.get("BENCH_APPID", "wxbench")
)

app = Flask(__name__)


class Refused(Exception):
    pass


def verified_message() -> Any:
    """The request's message, its signature checked and (safe mode) decrypted."""
    args = request.args
    try:
        check_signature(TOKEN, args["signature"], args["timestamp"], args["nonce"])
        xml = request.get_data()
        if args.get("encrypt_type") == "aes":
            xml = crypto.decrypt_message(xml, args["msg_signature"], args["timestamp"], args["nonce"])
    except (KeyError, InvalidSignatureException, InvalidAppIdException) as exc:
        raise Refused from exc
    return parse_message(xml)


def echo(message: Any) -> Response:
    args = request.args
    reply = create_reply(f"echo: {getattr(message, 'content', '')}", message).render()
    if args.get("encrypt_type") == "aes":
        reply = crypto.encrypt_message(reply, args["nonce"], args["timestamp"])
    return Response(reply, mimetype="application/xml")


@app.post("/wechat/<name>")
def callback(name: str) -> Response:
    try:
        return echo(verified_message())
    except Refused:
        return Response("refused", status=403)
