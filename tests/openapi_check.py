"""Validate every /mp and /platform answer a test provokes against its OpenAPI document
(wxbot/miniprogram/openapi.py, wxbot/platform/openapi.py).

Use the fixture in a test module: `pytestmark = pytest.mark.usefixtures("openapi_checked")` (import it
from here), or `platform_openapi_checked` for the platform API. An answer whose route, method or status is
undocumented, or whose body does not match the documented schema, fails the test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import request, request_finished
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from wxbot.miniprogram.openapi import SPEC
from wxbot.platform.openapi import SPEC as PLATFORM_SPEC

SPEC_URI = "urn:wxbot:mp-openapi"
PLATFORM_URI = "urn:wxbot:platform-openapi"


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def spec_path(rule: str) -> str | None:
    """/mp/<name>/me/link -> /me/link; None for routes outside the mini-program API."""
    if not rule.startswith("/mp/<name>/"):
        return None
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len("/mp/<name>") :])


def platform_path(rule: str) -> str | None:
    """/platform/events/<event_id> -> /events/{event_id}; None for other routes and the document itself."""
    if not rule.startswith("/platform/") or rule == "/platform/openapi.json":
        return None
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len("/platform") :])


def check(
    path: str, method: str, status: int, body: Any, spec: dict[str, Any] = SPEC, uri: str = SPEC_URI
) -> list[str]:
    """Problems of one answer against the document (empty when it conforms)."""
    operation = spec["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path} is not documented"]
    response = operation["responses"].get(str(status))
    location = ["paths", path, method.lower(), "responses", str(status)]
    if response is None:
        return [f"{method} {path} answers {status}, which is not documented"]
    if "$ref" in response:
        location = response["$ref"].removeprefix("#/").split("/")
        response = spec
        for part in location:
            response = response[part]
    if "content" not in response:
        return [] if body is None else [f"{method} {path} {status} has a body but documents none"]
    if "application/json" not in response["content"]:
        return []  # documented as another type (CSV): nothing JSON to check
    pointer = _pointer(*location, "content", "application/json", "schema")
    registry: Registry = Registry().with_resource(uri, Resource.from_contents(spec, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry)
    return [
        f"{method} {path} {status}: {e.message} at {list(e.absolute_path)}"
        for e in validator.iter_errors(body)
    ]


@pytest.fixture
def openapi_checked(app: Any) -> Any:
    problems: list[str] = []

    def on_response(sender: Any, response: Any, **_: Any) -> None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        path = spec_path(rule) if rule else None
        if path is None:
            return
        body = response.get_json(silent=True) if response.data else None
        problems.extend(check(path, request.method, response.status_code, body))

    request_finished.connect(on_response, app)
    yield problems
    request_finished.disconnect(on_response, app)
    assert not problems, "answers that break the OpenAPI document:\n" + "\n".join(problems)


@pytest.fixture
def platform_openapi_checked(app: Any) -> Any:
    """The same for every /platform answer, against wxbot/platform/openapi.py."""
    problems: list[str] = []

    def on_response(sender: Any, response: Any, **_: Any) -> None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        path = platform_path(rule) if rule else None
        if path is None:
            return
        body = response.get_json(silent=True) if response.mimetype == "application/json" else None
        method = "GET" if request.method == "HEAD" else request.method  # a GET without its body
        problems.extend(check(path, method, response.status_code, body, PLATFORM_SPEC, PLATFORM_URI))

    request_finished.connect(on_response, app)
    yield problems
    request_finished.disconnect(on_response, app)
    assert not problems, "answers that break the platform's OpenAPI document:\n" + "\n".join(problems)
