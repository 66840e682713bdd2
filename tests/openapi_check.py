"""Validate every /mp answer a test provokes against the OpenAPI document (wxbot/miniprogram/openapi.py).

Use the fixture in a test module: `pytestmark = pytest.mark.usefixtures("openapi_checked")` (import it
from here). An answer whose route, method or status is undocumented, or whose body does not match the
documented schema, fails the test.
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

SPEC_URI = "urn:wxbot:mp-openapi"


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def spec_path(rule: str) -> str | None:
    """/mp/<name>/me/link -> /me/link; None for routes outside the mini-program API."""
    if not rule.startswith("/mp/<name>/"):
        return None
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len("/mp/<name>") :])


def check(path: str, method: str, status: int, body: Any) -> list[str]:
    """Problems of one answer against the document (empty when it conforms)."""
    operation = SPEC["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path} is not documented"]
    response = operation["responses"].get(str(status))
    location = ["paths", path, method.lower(), "responses", str(status)]
    if response is None:
        return [f"{method} {path} answers {status}, which is not documented"]
    if "$ref" in response:
        location = response["$ref"].removeprefix("#/").split("/")
        response = SPEC
        for part in location:
            response = response[part]
    if "content" not in response:
        return [] if body is None else [f"{method} {path} {status} has a body but documents none"]
    pointer = _pointer(*location, "content", "application/json", "schema")
    registry: Registry = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)
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
