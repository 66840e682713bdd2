"""The OpenAPI 3.1 document of the mini-program API: /mp/<name>/openapi.json for each mini program (its server
URL and name filled in), /mp/<name>/docs to read it (Swagger UI from the project's own files: wxbot.api_docs),
and /mp/openapi.json (the first mini program's, as before).

Schemas are JSON Schema 2020-12 (OpenAPI 3.1), so the tests validate real answers against them directly.
Route modules document their own paths with add_paths(); paths are relative to /mp/{name}.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, request

from wxbot.api_docs import mp_document, page_response
from wxbot.web import abort_api, services

docs_bp = Blueprint("miniprogram_docs", __name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def ok(schema_name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, **json_content(_ref(schema_name))}


def errors(*statuses: int) -> dict[str, Any]:
    """The error answers of an operation: each status references a shared response."""
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, **json_content(schema)}


AUTH: list[dict[str, list[str]]] = [{"bearer": []}]

_ERROR_TEXT = {
    400: "Bad input: invalid JSON, or a field (named in `field`) missing or malformed; `invalid_code` for a "
    "WeChat code that is invalid or used (WeChat's errcode 40029/40163)",
    401: "Missing, unknown, expired or revoked login token (`invalid_token`)",
    403: "The user has not linked an account yet (`not_linked`)",
    404: "Unknown mini program (`unknown_miniprogram`) or unknown resource",
    409: "Conflict: `session_expired` (log in again, then retry), `already_linked`, `used_token`, ...",
    429: "Rate-limited (`rate_limited`): our daily caps, or WeChat's (with `errcode`)",
    502: "WeChat refused (`wechat_error`, with WeChat's `errcode`) or did not answer (`wechat_unavailable`)",
    503: "Temporarily unavailable: `phone_quota_exhausted` (the mini program's paid phone verifications are "
    "used up; `message` is for the user)",
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "wxbot mini-program API",
        "version": "1",
        "description": 'JSON in and out. Every answer that is not 2xx is {"error": {"code", "message"}}, '
        "with `field` for bad input and `errcode` for WeChat's refusals.",
    },
    "servers": [{"url": "/mp/{name}", "variables": {"name": {"default": "campus"}}}],
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "the token of POST login"}
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "additionalProperties": False,
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string", "description": "the input field at fault"},
                            "errcode": {"type": "integer", "description": "WeChat's errcode"},
                        },
                    }
                },
            },
            "Account": {
                "type": ["object", "null"],
                "required": ["platform_account_id", "phone"],
                "additionalProperties": False,
                "properties": {
                    "platform_account_id": {"type": ["string", "null"]},
                    "phone": {
                        "type": ["string", "null"],
                        "pattern": r"^\d{3}\*{4}\d{4}$",
                        "description": "masked",
                    },
                },
            },
            "Me": {
                "type": "object",
                "required": ["linked", "account", "identities", "preferences"],
                "additionalProperties": False,
                "properties": {
                    "linked": {"type": "boolean"},
                    "account": _ref("Account"),
                    "identities": {
                        "type": "array",
                        "description": "the WeChat identities linked to the account (just this one when not linked)",
                        "items": {
                            "type": "object",
                            "required": ["app", "kind", "current", "subscribed"],
                            "additionalProperties": False,
                            "properties": {
                                "app": {"type": "string"},
                                "kind": {"enum": ["official", "miniprogram"]},
                                "current": {"type": "boolean"},
                                "subscribed": {
                                    "type": ["boolean", "null"],
                                    "description": "official accounts only",
                                },
                            },
                        },
                    },
                    "preferences": {
                        "type": ["object", "null"],
                        "required": ["reminders"],
                        "properties": {"reminders": {"enum": ["all", "key", "off"]}},
                    },
                },
            },
            "Login": {
                "type": "object",
                "required": ["token", "expires_in", "linked", "account"],
                "additionalProperties": False,
                "properties": {
                    "token": {"type": "string", "description": "send as Authorization: Bearer <token>"},
                    "expires_in": {"type": "integer", "description": "seconds"},
                    "linked": {"type": "boolean"},
                    "account": _ref("Account"),
                },
            },
            "LoggedOut": {
                "type": "object",
                "required": ["logged_out"],
                "additionalProperties": False,
                "properties": {"logged_out": {"const": True}},
            },
        },
        "responses": {
            f"E{status}": {"description": text, **json_content(_ref("Error"))}
            for status, text in _ERROR_TEXT.items()
        },
    },
    "paths": {},
}


def add_paths(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> None:
    """Document routes (paths relative to /mp/{name}) and the schemas they reference."""
    for path, operations in paths.items():
        SPEC["paths"].setdefault(path, {}).update(operations)
    SPEC["components"]["schemas"].update(schemas or {})


def document(name: str, server_url: str) -> dict[str, Any]:
    """The document for one mini program: its name in the title, its own server URL."""
    doc = copy.deepcopy(SPEC)
    doc["info"]["title"] = f"wxbot mini-program API: {name}"
    doc["servers"] = [
        {"url": f"{server_url.rstrip('/')}/mp/{name}", "description": f"the mini program {name}"}
    ]
    return doc


@docs_bp.get("/mp/openapi.json")
def openapi_json() -> dict[str, Any]:
    first = next(iter(services().settings.wechat.miniprogram), None)
    return document(first.name, request.url_root) if first is not None else copy.deepcopy(SPEC)


def _known(name: str) -> None:
    if services().settings.miniprogram(name) is None:
        abort_api(404, "unknown_miniprogram", "no such mini program")


@docs_bp.get("/mp/<name>/openapi.json")
def openapi_for(name: str) -> dict[str, Any]:
    _known(name)
    return document(name, request.url_root)


@docs_bp.get("/mp/<name>/docs")
def docs_page(name: str) -> Response:
    _known(name)
    return page_response(f"{name} · 小程序接口 (wxbot mini-program API)", [mp_document(name)])


add_paths(
    {
        "/openapi.json": {
            "get": {
                "summary": "This document, with this mini program's server URL and name",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", **json_content({"type": "object"})},
                    **errors(404),
                },  # fmt: skip
            }
        },
        "/docs": {
            "get": {
                "summary": "This document to read (Swagger UI, HTML)",
                "responses": {"200": {"description": "an HTML page"}, **errors(404)},
            }
        },
    }
)
