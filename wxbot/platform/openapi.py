"""The OpenAPI 3.1 document of the platform API, served unsigned at /platform/openapi.json.

Every endpoint, field and error code, the signature scheme with its worked example (docs/platform.md, the
same figures), and the idempotency rules. Schemas are JSON Schema 2020-12, so the tests validate real
answers against them (tests/openapi_check.py). The document is served by a blueprint of its own: the
platform blueprint's signature check does not apply to it.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint

from wxbot.applications.statuses import STATUSES
from wxbot.campus.spec import MAX_CAPACITY, SIGNUP_FIELDS
from wxbot.models.campus import EVENT_KINDS, EVENT_STATUSES
from wxbot.platform import MAX_BODY_BYTES

docs_bp = Blueprint("platform_docs", __name__)

# The worked example of docs/platform.md (tests/test_platform_signature.py checks both against the code).
EXAMPLE = {
    "secret": "Kq3vW9xZ2mB7nR4tY8pL1sD6fG0hJ5cA",
    "timestamp": "1764670000",
    "nonce": "n0nce-EXAMPLE_0123456789",
    "method": "POST",
    "path": "/platform/events?source=docs",
    "body": '{"event_id":"EV1","version":7}',
    "signature": "sha256=c016060b4f0ee3ed92bb4fb1d82a83f4ea1569e289e1f764f739fefaa79be9fc",
}

_SIGNATURE = f"""Every request is signed with the shared secret `[platform] secret`; a signature is good for one
request, one method and path, for `[platform] max_age_seconds` (300) either side of wxbot's clock.

Headers: `X-Wxbot-Timestamp` (unix seconds, ASCII digits), `X-Wxbot-Nonce` (16-64 of `A-Z a-z 0-9 _ -`, new
for every request, retries included), `X-Wxbot-Signature` = `sha256=` + lowercase hex of
HMAC-SHA256(secret, message), where the message is the bytes of
`timestamp "\\n" nonce "\\n" METHOD "\\n" path "\\n"` followed by the raw body (nothing for an empty body);
`path` is the request target as sent: path and query string, no scheme or host.

Worked example: secret `{EXAMPLE["secret"]}`, timestamp `{EXAMPLE["timestamp"]}`, nonce `{EXAMPLE["nonce"]}`,
`{EXAMPLE["method"]} {EXAMPLE["path"]}`, body `{EXAMPLE["body"]}` (30 bytes) ->
`{EXAMPLE["signature"]}`.

Refusals: 401 `unsigned` (a header missing), `bad_timestamp`, `bad_nonce`, `stale` (outside the window),
`bad_signature`; 409 `replayed` (the nonce was accepted before, within twice the window); 413 `too_large`
(body over {MAX_BODY_BYTES} bytes). A nonce is used up by a correctly signed request even when the request
then fails: a retry signs again with a new nonce."""

_IDEMPOTENCY = """Retries are safe by the platform's own ids: a status change is stored once per `event_id` (a repeat
with the same body answers as the first did; with another body 409 `conflict`); an event upsert carries
`version`, and one not above the stored version changes nothing (200, `stale: true`); an account upsert is by
`account_id`; a check-in code is good once (`already_checked_in` afterwards). Each retry needs a new nonce
and signature."""

_ERRORS = {
    400: "Bad input: `invalid_json` (the body is not a JSON object), `invalid_field` / `missing_field` (`field`"
    " names the first wrong field; event upserts name all of them in `fields`)",
    401: "The signature: `unsigned`, `bad_timestamp`, `bad_nonce`, `stale`, `bad_signature`",
    404: "`unknown_account` (POST /platform/accounts first), `event_not_found`, `code_not_found`, `not_found`",
    409: "`replayed` (a used nonce), `conflict` (an event_id seen with another body, an application of another"
    " account), `event_cancelled` (a cancelled event cannot be rescheduled), `page_not_published` (the code's"
    " mini-program page, WeChat's 41030)",
    410: "`erased`: the event's personal data is erased",
    413: "`too_large`: the body is over the limit",
    429: "`rate_limited`: codes over `[events] codes_per_minute`, or WeChat's own limit (with `errcode`)",
    500: "`internal_error`: a fault in wxbot, nothing stored; the log has it (quote the X-Request-Id)",
    502: "`wechat_error` (WeChat refused, with its `errcode`) or `wechat_unavailable` (no answer)",
    503: "`unavailable`: the database did not answer in time; nothing stored, retry with a new signature",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, **_json(_ref(name))}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in (401, 409, 413, 500, 503, *statuses)}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, **_json(_ref(name))}


_ID = {"type": ["string", "integer"], "description": "the platform's id: 1-64 letters, digits or . _ : -"}
_TIME = {"type": "string", "description": "ISO 8601 with a UTC offset, e.g. 2026-03-01T14:00:00+08:00"}
_TIME_OR_NULL = {"type": ["string", "null"], "description": "ISO 8601 with the event's UTC offset"}
_TEXT = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
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
                    "field": {"type": "string", "description": "the first field at fault"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "every wrong field and what is wrong with it (event upserts)",
                    },
                    "errcode": {"type": "integer", "description": "WeChat's errcode"},
                },
            }
        },
    },
    "AccountIn": {
        "type": "object",
        "required": ["account_id", "phone"],
        "properties": {
            "account_id": {**_ID, "maxLength": 64},
            "phone": {"type": "string", "maxLength": 32, "description": "a mainland China mobile number"},
        },
    },
    "Account": {
        "type": "object",
        "required": ["account_id", "created"],
        "additionalProperties": False,
        "properties": {"account_id": {"type": "string"}, "created": {"type": "boolean"}},
    },
    "StatusChangeIn": {
        "type": "object",
        "required": [
            "event_id",
            "account_id",
            "application_id",
            "job_title",
            "company",
            "status",
            "changed_at",
        ],
        "properties": {
            "event_id": {**_ID, "description": "the platform's id of this change: a retry repeats it"},
            "account_id": _ID,
            "application_id": _ID,
            "job_title": {"type": "string", "maxLength": 200},
            "company": {"type": "string", "maxLength": 200},
            "status": {"enum": list(STATUSES)},
            "changed_at": _TIME,
        },
    },
    "StatusChange": {
        "type": "object",
        "required": ["event_id", "application_id", "status", "queued", "reason", "explanation"],
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string"},
            "application_id": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "queued": {"type": "boolean", "description": "the push is waiting, being sent, or sent"},
            "reason": {
                "type": ["string", "null"],
                "description": "why not queued: stale, unchanged, preference, "
                "no_channel, superseded, ... (wxbot.push.explain.REASONS)",
            },  # fmt: skip
            "explanation": {"type": "string", "description": "the same in the seeker's words (Chinese)"},
        },
    },
    "BindQrIn": {
        "type": "object",
        "required": ["account_id"],
        "properties": {
            "account_id": _ID,
            "official_account": {"type": "string", "description": "default: the first configured one"},
        },
    },
    "BindQr": {
        "type": "object",
        "required": ["url", "image_url", "expires_in"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": ["string", "null"], "description": "what the QR code encodes"},
            "image_url": {"type": ["string", "null"]},
            "expires_in": {"type": "integer", "description": "seconds"},
        },
    },
    "EventIn": {
        "type": "object",
        "required": ["event_id", "version", "kind", "title", "organiser", "starts_at", "ends_at"],
        "properties": {
            "event_id": {"type": "string", "maxLength": 64},
            "version": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**63 - 1,
                "description": "the platform's counter for this event, raised with every change",
            },  # fmt: skip
            "kind": {"enum": list(EVENT_KINDS), "description": "宣讲会, 空中宣讲, 双选会"},
            "title": {"type": "string", "maxLength": 200},
            "organiser": {"type": "string", "maxLength": 200},
            "school": {**_TEXT, "maxLength": 100},
            "city": {**_TEXT, "maxLength": 64},
            "starts_at": _TIME,
            "ends_at": {**_TIME, "description": "after starts_at, at most 31 days later"},
            "venue": {**_TEXT, "maxLength": 200, "description": "required for talk and job_fair"},
            "live_url": {**_TEXT, "maxLength": 500, "description": "https; required for online_talk"},
            "capacity": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_CAPACITY,
                "description": "null: unlimited",
            },  # fmt: skip
            "signup_deadline": _TIME,
            "cancel_deadline": _TIME,
            "fields": {"type": "array", "uniqueItems": True, "items": {"enum": list(SIGNUP_FIELDS)}},
            "status": {"enum": list(EVENT_STATUSES), "default": "scheduled"},
        },
    },
    "EventUpsert": {
        "type": "object",
        "required": ["event_id", "created", "moved", "cancelled", "notified", "promoted", "stale"],
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string"},
            "created": {"type": "boolean"},
            "moved": {"type": "boolean", "description": "its time or place changed: sign-ups are told"},
            "cancelled": {"type": "boolean"},
            "notified": {"type": "integer", "description": "people told of the change"},
            "promoted": {"type": "integer", "description": "waitlisted people given a seat"},
            "stale": {"type": "boolean", "description": "the version was not above the stored one"},
        },
    },
    "Event": {
        "type": "object",
        "required": [
            "event_id",
            "kind",
            "title",
            "organiser",
            "starts_at",
            "ends_at",
            "capacity",
            "seats_left",
            "signup_open",
            "fields",
            "status",
            "counts",
            "personal_data_erased",
            "version",
        ],  # fmt: skip
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string"},
            "kind": {"enum": list(EVENT_KINDS)},
            "title": {"type": "string"},
            "organiser": {"type": "string"},
            "school": _TEXT,
            "city": _TEXT,
            "starts_at": _TIME_OR_NULL,
            "ends_at": _TIME_OR_NULL,
            "venue": _TEXT,
            "live_url": _TEXT,
            "capacity": {"type": ["integer", "null"]},
            "seats_left": {"type": ["integer", "null"]},
            "signup_deadline": _TIME_OR_NULL,
            "cancel_deadline": _TIME_OR_NULL,
            "signup_open": {"type": "boolean"},
            "fields": {"type": "array", "items": {"enum": list(SIGNUP_FIELDS)}},
            "status": {"enum": list(EVENT_STATUSES)},
            "counts": {
                "type": "object",
                "required": ["confirmed", "waitlisted", "cancelled", "attended"],
                "additionalProperties": False,
                "properties": {
                    k: {"type": "integer"} for k in ("confirmed", "waitlisted", "cancelled", "attended")
                },
            },
            "personal_data_erased": {"type": "boolean"},
            "version": {"type": ["integer", "null"], "description": "null: created before versions"},
        },
    },
    "EventCodeIn": {
        "type": "object",
        "properties": {
            "source": {
                "type": ["string", "null"],
                "description": "where the code is shown, e.g. a poster batch",
            },
            "miniprogram": {"type": "string", "description": "default: [events] miniprogram"},
        },
    },
    "EventCode": {
        "type": "object",
        "required": ["event_id", "scene", "source", "miniprogram", "page", "url"],
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string"},
            "scene": {"type": "string", "description": "the code's random scene key"},
            "source": {"type": ["string", "null"]},
            "miniprogram": {"type": "string"},
            "page": {"type": "string"},
            "url": {"type": "string", "description": "the image, a signed GET"},
        },
    },
    "EventCodes": {
        "type": "object",
        "required": ["event_id", "codes"],
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string"},
            "codes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["scene", "source", "scans", "signups"],
                    "additionalProperties": False,
                    "properties": {
                        "scene": {"type": "string"},
                        "source": {"type": ["string", "null"]},
                        "scans": {"type": "integer"},
                        "signups": {"type": "integer"},
                    },  # fmt: skip
                },
            },
        },
    },
    "CheckinIn": {
        "type": "object",
        "required": ["event_id", "code"],
        "properties": {
            "event_id": {"type": "string"},
            "code": {"type": "string", "description": "the seat's code"},
        },
    },
    "Checkin": {
        "type": "object",
        "required": ["result"],
        "additionalProperties": False,
        "properties": {
            "result": {
                "enum": ["ok", "already_checked_in", "unknown", "cancelled", "wrong_event", "not_open"]
            }
        },
    },
}

_EVENT_ID = [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}]

PATHS: dict[str, Any] = {
    "/accounts": {
        "post": {
            "summary": "Create or update a platform account (its phone number, for phone proofs)",
            "requestBody": _body("AccountIn"),
            "responses": {"200": _ok("Account", "updated"), "201": _ok("Account", "created"), **_errors(400)},
        }
    },
    "/applications/status": {
        "post": {
            "summary": "An application's status changed: the seeker is told as they chose",
            "requestBody": _body("StatusChangeIn"),
            "responses": {"200": _ok("StatusChange"), **_errors(400)},
        }
    },
    "/bind-qr": {
        "post": {
            "summary": "A temporary QR code that links whoever follows or scans it to the account",
            "requestBody": _body("BindQrIn"),
            "responses": {"200": _ok("BindQr"), **_errors(400, 404, 502)},
        }
    },
    "/events": {
        "post": {
            "summary": "Create or update a campus event (by event_id and version)",
            "requestBody": _body("EventIn"),
            "responses": {
                "200": _ok("EventUpsert", "updated, or stale"),
                "201": _ok("EventUpsert", "created"),
                **_errors(400),
            },  # fmt: skip
        }
    },
    "/events/{event_id}": {
        "get": {
            "summary": "An event as stored, with its counts",
            "parameters": _EVENT_ID,
            "responses": {"200": _ok("Event"), **_errors(404)},
        }
    },
    "/events/{event_id}/code": {
        "post": {
            "summary": "A new mini-program code for the event (getwxacodeunlimit), with a scene key of its own",
            "parameters": _EVENT_ID,
            "requestBody": {"required": False, **_json(_ref("EventCodeIn"))},
            "responses": {"201": _ok("EventCode", "created"), **_errors(400, 404, 429, 502)},
        }
    },
    "/events/{event_id}/codes": {
        "get": {
            "summary": "Scans and sign-ups per code of the event",
            "parameters": _EVENT_ID,
            "responses": {"200": _ok("EventCodes"), **_errors(404)},
        }
    },
    "/events/{event_id}/codes/{scene}/image": {
        "get": {
            "summary": "The code to print, as WeChat drew it",
            "parameters": [
                *_EVENT_ID,
                {"name": "scene", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "the image", "content": {"image/png": {}, "image/jpeg": {}}},
                **_errors(404),
            },
        }
    },
    "/checkin": {
        "post": {
            "summary": "Check a seat's code at the door",
            "requestBody": _body("CheckinIn"),
            "responses": {"200": _ok("Checkin"), **_errors(400)},
        }
    },
    "/events/{event_id}/attendees.csv": {
        "get": {
            "summary": "The organiser's attendee list (consenting confirmed sign-ups, phones masked), UTF-8 CSV",
            "parameters": _EVENT_ID,
            "responses": {
                "200": {
                    "description": "CSV with a byte-order mark",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                **_errors(404, 410),
            },
        }
    },
}

_SIGNED: list[dict[str, list[str]]] = [{"timestamp": [], "nonce": [], "signature": []}]
for _operations in PATHS.values():
    for _operation in _operations.values():
        _operation["security"] = _SIGNED

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "wxbot platform API",
        "version": "2",
        "description": f"Server to server, JSON in and out (docs/platform.md).\n\n{_SIGNATURE}\n\n{_IDEMPOTENCY}\n\n"
        'Every answer that is not 2xx is {"error": {"code", "message"}}, with `field` (and `fields`) for bad '
        "input and `errcode` for WeChat's refusals.",
    },
    "servers": [{"url": "/platform"}],
    "components": {
        "securitySchemes": {
            "timestamp": {"type": "apiKey", "in": "header", "name": "X-Wxbot-Timestamp"},
            "nonce": {"type": "apiKey", "in": "header", "name": "X-Wxbot-Nonce"},
            "signature": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Wxbot-Signature",
                "description": "sha256=<hex HMAC-SHA256>; see info.description",
            },  # fmt: skip
        },
        "schemas": SCHEMAS,
        "responses": {f"E{s}": {"description": text, **_json(_ref("Error"))} for s, text in _ERRORS.items()},
    },
    "paths": PATHS,
    "x-signature-example": EXAMPLE,
}


@docs_bp.get("/platform/openapi.json")
def openapi_json() -> dict[str, Any]:
    return copy.deepcopy(SPEC)
