"""The mini program's JSON deliveries: the parser takes any bytes and answers fields or BadMessage, and signed,
encrypted arbitrary JSON to /wechat/mp/<name> gets a 200 or a 4xx, never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AES_KEY
from tests.mp_push_helpers import MpUser
from wxbot.wechat.messages import MAX_DEPTH, BadMessage, parse_json

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {
        "ToUserName": st.just("gh_mp0000000001"),
        "FromUserName": st.sampled_from(["oAbCdEfGhIjKlMnOpQrStUvWxYz0", "bad openid!", ""]),
        "CreateTime": st.one_of(st.integers(-5, 2**33), TEXT),
        "MsgType": st.sampled_from(["text", "image", "miniprogrampage", "event", "voice", ""]),
    },
    optional={"Content": JSON_VALUES, "MsgId": JSON_VALUES, "Event": st.sampled_from(["user_enter_tempsession", "x"]),
              "SessionFrom": JSON_VALUES, "MediaId": JSON_VALUES, "PagePath": JSON_VALUES},
)  # fmt: skip


@given(body=st.binary(max_size=200))
def test_any_bytes_are_fields_or_a_bad_message(body):
    try:
        fields = parse_json(body)
    except BadMessage:
        return
    assert isinstance(fields, dict) and fields


@given(value=st.dictionaries(st.text(min_size=1, max_size=10), TEXT, min_size=1, max_size=5))
def test_flat_text_objects_come_back_as_they_were(value):
    assert parse_json(json.dumps(value).encode()) == value


@given(depth=st.integers(MAX_DEPTH - 1, 5000))
def test_deep_nesting_is_refused(depth):
    with pytest.raises(BadMessage, match="nested too deeply|malformed"):
        parse_json(('{"a":' + "[" * depth + "]" * depth + "}").encode())
    # as deep as WeChat's documented deliveries go (the XML form's limit)
    deepest = {"a": {"b": {"c": {"d": "x"}}}}
    assert parse_json(json.dumps(deepest).encode()) == deepest


@pytest.fixture
def config_dict(config_dict):
    config_dict["wechat"]["miniprogram"][0].update(
        token="mptoken", encoding_aes_key=AES_KEY, data_format="json"
    )
    return config_dict


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=FIELDS)
def test_signed_arbitrary_json_is_never_a_server_error(client, fields):
    user = MpUser(client)
    answer = user.deliver(json.dumps(fields).encode(), fields)
    assert answer.status == 200 or 400 <= answer.status < 500, answer
