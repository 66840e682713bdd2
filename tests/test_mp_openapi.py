"""The OpenAPI document of the mini-program API: served, complete, and able to catch a wrong answer."""

from __future__ import annotations

from tests.openapi_check import check, spec_path


def test_document_is_served(client):
    doc = client.get("/mp/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/me" in doc["paths"]


def test_every_route_is_documented_and_every_documented_route_exists(app):
    from wxbot.miniprogram.openapi import SPEC

    routes = {
        (spec_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if spec_path(rule.rule) is not None
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in SPEC["paths"].items() for method in ops}
    assert routes == documented


def test_checker_catches_answers_that_break_the_document():
    assert check("/me", "GET", 200, {"linked": "yes"})
    assert check("/me", "GET", 418, {})
    assert check("/nope", "GET", 200, {})
    assert check("/me", "GET", 401, {"error": {"code": "invalid_token"}})  # no message
    assert not check("/me", "GET", 401, {"error": {"code": "invalid_token", "message": "log in"}})
