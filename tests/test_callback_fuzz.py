"""Arbitrary bodies, correctly signed (and encrypted): always a 4xx or a valid reply, never a 500, and nothing
stored on refusal."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import OA
from tests.wechat_helpers import Follower, xml_of
from wxbot.models import Identity, InboundMessage

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
FIELD_NAMES = st.sampled_from(
    [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
        "MsgId",
        "Event",
        "EventKey",
        "Encrypt",
        "X",
    ]
)
FIELD_VALUES = st.one_of(
    TEXT,
    st.integers(-(2**70), 2**70),
    st.sampled_from(
        [
            "text",
            "event",
            "image",
            "subscribe",
            "SCAN",
            "CLICK",
            "unsubscribe",
            OA["original_id"],
            "oAbCdEfGhIjKlMnOpQrStUvWxYz0",
            "]]>",
            "<!DOCTYPE x>",
            "&amp;",
            "1700000000",
        ]
    ),  # fmt: skip
    st.dictionaries(st.sampled_from(["List", "TemplateId", "a"]), TEXT, max_size=2),
)
NEARLY_VALID = st.fixed_dictionaries(
    {
        "ToUserName": st.sampled_from([OA["original_id"], "gh_plain0000001"]),
        "FromUserName": st.sampled_from(["oAbCdEfGhIjKlMnOpQrStUvWxYz0", "oZyXwVuTsRqPoNmLkJiHgFeDcBa9"]),
        "CreateTime": st.integers(1, 2**32 + 5),
        "MsgType": st.sampled_from(["text", "event", "image", "Location", "new_kind"]),
    },
    optional={
        "Content": TEXT,
        "MsgId": st.integers(0, 2**64),
        "Event": st.sampled_from(["subscribe", "SCAN", "CLICK", "VIEW", "odd"]),
        "EventKey": TEXT,
        "Extra": FIELD_VALUES,
    },  # fmt: skip
)
DELIVERIES = st.one_of(NEARLY_VALID, st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=8)).map(xml_of)
MUTATED = st.tuples(DELIVERIES, st.integers(0, 400), TEXT).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :])
BODIES = st.one_of(DELIVERIES, MUTATED, st.binary(max_size=300), TEXT.map(str.encode))


def counts(services) -> tuple[int, int]:
    with services.session_factory() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)),
            session.scalar(sa.select(sa.func.count()).select_from(Identity)),
        )


@pytest.mark.parametrize("mode", ["plaintext", "safe", "compatible"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_signed_body_gets_a_4xx_or_a_valid_reply(plain_app, client, services, mode, body):
    follower = Follower(client, "plain" if mode == "plaintext" else "oa", mode=mode)
    before = counts(services)
    reply = follower.deliver(body)  # the helper checks (and decrypts) every 200 answer
    assert reply.status == 200 or 400 <= reply.status < 500, reply.text
    if reply.status != 200:
        assert counts(services) == before
    statuses.add(reply.status)


statuses: set[int] = set()


def test_the_bodies_above_were_both_accepted_and_refused():
    """Guards the generator: a fuzz test that never reaches the handlers would prove little."""
    if statuses:  # only meaningful after the fuzz test ran in this session
        assert 200 in statuses and any(400 <= s < 500 for s in statuses)
