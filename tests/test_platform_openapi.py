"""/platform/openapi.json: served without a signature, every /platform route and its error codes in it, the
signature's worked example the one the server computes. The answers themselves are checked against it by
the platform test modules (tests/openapi_check.py, platform_openapi_checked)."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from wxbot.platform import sign
from wxbot.platform.openapi import EXAMPLE, SPEC


def test_the_document_is_served_unsigned(client):
    answer = client.get("/platform/openapi.json")
    assert answer.status_code == 200
    assert answer.get_json() == SPEC


def test_every_platform_route_is_documented_with_its_methods(app):
    routes = {
        (re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/platform")), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/platform/") and rule.rule != "/platform/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, operations in SPEC["paths"].items() for method in operations}
    assert routes == documented


def test_every_schema_is_valid_json_schema_and_every_operation_is_signed():
    for schema in SPEC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises, naming the fault
    for operations in SPEC["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"timestamp": [], "nonce": [], "signature": []}]
            assert {"401", "409", "413"} <= set(operation["responses"])


def test_the_worked_example_is_the_servers_signature():
    computed = sign(EXAMPLE["secret"], EXAMPLE["timestamp"], EXAMPLE["nonce"], EXAMPLE["method"], EXAMPLE["path"],
                    EXAMPLE["body"].encode())  # fmt: skip
    assert computed == EXAMPLE["signature"]
    assert EXAMPLE["signature"] in SPEC["info"]["description"]


def test_every_error_code_the_signature_check_answers_is_documented():
    described = SPEC["components"]["responses"]
    for status, codes in {"401": ("unsigned", "bad_timestamp", "bad_nonce", "stale", "bad_signature"),
                          "409": ("replayed",), "413": ("too_large",)}.items():  # fmt: skip
        assert all(f"`{code}`" in described[f"E{status}"]["description"] for code in codes)
