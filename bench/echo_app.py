"""The baseline of bench/callback.py: a minimal Flask + wechatpy callback that only verifies, parses and
replies (no storage, no dedupe, no routing). Configured from the environment by the benchmark:
BENCH_TOKEN, BENCH_AES_KEY, BENCH_APPID (the keyed account, safe mode) and the plaintext account's name.

    gunicorn bench.echo_app:app
"""

from __future__ import annotations

import os

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


@app.post("/wechat/<name>")
def callback(name: str) -> Response:
    args = request.args
    try:
        check_signature(TOKEN, args["signature"], args["timestamp"], args["nonce"])
        xml = request.get_data()
        if args.get("encrypt_type") == "aes":
            xml = crypto.decrypt_message(xml, args["msg_signature"], args["timestamp"], args["nonce"])
    except (KeyError, InvalidSignatureException, InvalidAppIdException):
        return Response("refused", status=403)
    message = parse_message(xml)
    reply = create_reply(f"echo: {getattr(message, 'content', '')}", message).render()
    if args.get("encrypt_type") == "aes":
        reply = crypto.encrypt_message(reply, args["nonce"], args["timestamp"])
    return Response(reply, mimetype="application/xml")
