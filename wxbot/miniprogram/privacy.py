"""The users' rights in the mini program: /mp/<name>/me/... export, corrections, deletions, consents,
cancellation, and the user's own requests. Thin: the rules are in wxbot.privacy (access, corrections,
deletions, withdrawals, cancellation, requests); its refusals are answered by wxbot.web.

Export, correction requests, deletions, cancellation and the request list need only a login: a user who never
linked an account (no phone authorised) still has data with us (identity, logins, messages, 留言), and the
policy promises everyone access, correction and deletion. Those are answered for the person behind the
identity (wxbot.privacy.access.export_identity and the identity-keyed requests). Profile corrections and consents
are an account's."""

from __future__ import annotations

from typing import Any

from flask import g, request

from wxbot.miniprogram import bp, login_required
from wxbot.miniprogram.openapi import AUTH, add_paths, errors, ok, request_body
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import access, consent, corrections, deletions, withdrawals
from wxbot.privacy import requests as privacy_requests
from wxbot.privacy.cancellation import pending_cancellation, request_cancellation, revoke_cancellation
from wxbot.web import abort_api, db, json_body, services

CHANNEL = "miniprogram"
EXPORTS_PER_HOUR = 10


def _actor() -> str:
    return f"user:identity:{g.identity.id}"


def _request_view(r: PrivacyRequest) -> dict[str, Any]:
    return {"id": r.id, **privacy_requests.describe_request(r)}


def _subject() -> tuple[int | None, int]:
    """(account id or None, identity id): whose data a request is about."""
    return (g.account.id if g.account is not None else None), g.identity.id


@bp.get("/me/export")
@login_required
def export() -> dict[str, Any]:
    account_id, identity_id = _subject()
    who = f"account:{account_id}" if account_id is not None else f"identity:{identity_id}"
    if services().cache.incr(f"privacy:export:{who}", 3600) > EXPORTS_PER_HOUR:
        abort_api(429, "rate_limited", f"at most {EXPORTS_PER_HOUR} exports an hour")
    session = db()
    if account_id is not None:
        data = access.export_account(session, services().pii, account_id, actor=_actor(), channel=CHANNEL)
    else:
        data = access.export_identity(session, identity_id, actor=_actor(), channel=CHANNEL)
    session.commit()
    return data


@bp.get("/me/profile")
@login_required
def correctable() -> dict[str, Any]:
    if g.account is None:  # nothing of an account's to correct; what their identities hold, to delete
        return {"correctable": {}, "deletable": deletions.deletable(linked=False)}
    return {"correctable": corrections.correctable_fields(), "deletable": deletions.deletable()}


@bp.patch("/me/profile")
@login_required(linked=True)
def correct() -> dict[str, Any]:
    changes = json_body().get("changes")
    if not isinstance(changes, dict) or not all(isinstance(v, dict) for v in changes.values()):
        abort_api(400, "invalid_field", "changes must be {module: {field: value}}", field="changes")
    session = db()
    changed = corrections.correct_profile(session, g.account.id, changes, actor=_actor(), channel=CHANNEL)
    session.commit()
    return {"changed": changed}


@bp.post("/me/correction-requests")
@login_required
def correction_request() -> tuple[dict[str, Any], int]:
    message = json_body().get("message")
    if not isinstance(message, str):
        abort_api(400, "invalid_field", "message must be a string", field="message")
    session = db()
    account_id, identity_id = _subject()
    created = corrections.request_correction(
        session, account_id, message, identity_id=identity_id, channel=CHANNEL
    )
    session.commit()
    return _request_view(created), 202


def _delete(what: str) -> dict[str, Any]:
    session = db()
    account_id, identity_id = _subject()
    count = deletions.delete_data(
        session, account_id, what, identity_id=identity_id, actor=_actor(), channel=CHANNEL
    )
    session.commit()
    return {"deleted": count}


@bp.delete("/me/conversations")
@login_required
def delete_conversations() -> dict[str, Any]:
    return _delete("conversations")


@bp.delete("/me/data/<what>")
@login_required
def delete_data(what: str) -> dict[str, Any]:
    return _delete(what)


def _consents_view() -> dict[str, Any]:
    rows = consent.history(db(), account_id=g.account.id)
    return {"consents": [consent.describe(c) for c in rows]}


@bp.get("/me/consents")
@login_required(linked=True)
def consents() -> dict[str, Any]:
    return _consents_view()


@bp.delete("/me/consents/<kind>")
@login_required(linked=True)
def withdraw(kind: str) -> dict[str, Any]:
    scope = request.args.get("scope", "")
    if len(scope) > 64:
        abort_api(400, "invalid_field", "scope is at most 64 characters", field="scope")
    session = db()
    withdrawals.withdraw_consent(session, g.account.id, kind, scope=scope, actor=_actor(), channel=CHANNEL)
    session.commit()
    return _consents_view()


@bp.get("/me/cancel")
@login_required
def cancellation() -> dict[str, Any]:
    account_id, identity_id = _subject()
    pending = pending_cancellation(db(), account_id, identity_id=identity_id)
    return {"pending": _request_view(pending) if pending else None}


@bp.post("/me/cancel")
@login_required
def cancel() -> tuple[dict[str, Any], int]:
    account_id, identity_id = _subject()
    session = db()
    started = request_cancellation(
        session,
        account_id,
        identity_id=identity_id,
        review_days=services().settings.privacy.cancellation_review_days,
        channel=CHANNEL,
        actor=_actor(),
    )
    session.commit()
    return {"pending": _request_view(started)}, 202


@bp.delete("/me/cancel")
@login_required
def revoke_cancel() -> dict[str, Any]:
    account_id, identity_id = _subject()
    session = db()
    revoked = revoke_cancellation(session, account_id, identity_id=identity_id, actor=_actor())
    session.commit()
    return {"revoked": _request_view(revoked)}


@bp.get("/me/privacy-requests")
@login_required
def my_requests() -> dict[str, Any]:
    account_id, identity_id = _subject()
    rows = privacy_requests.requests_of(db(), account_id, identity_id=identity_id)
    return {"requests": [_request_view(r) for r in rows]}


_REQUEST = {
    "type": "object",
    "required": ["id", "kind", "status", "requested_at", "due_at", "effective_at", "completed_at"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["export", "correction", "deletion", "cancellation", "withdrawal"]},
        "status": {"enum": ["pending", "completed", "revoked", "rejected"]},
        "requested_at": {"type": "string"},
        "due_at": {"type": "string", "description": "the 15-day promise"},
        "effective_at": {"type": ["string", "null"], "description": "cancellation: when the erasure runs"},
        "completed_at": {"type": ["string", "null"]},
    },
}
_TIME_OR_NULL = {"type": ["string", "null"]}

add_paths(
    {
        "/me/export": {
            "get": {
                "summary": "Everything wxbot holds about the account, from every module (phone numbers masked); "
                "for a user who never linked an account, about their WeChat identities (`account` null)",
                "security": AUTH,
                "responses": {"200": ok("PrivacyExport"), **errors(401, 404, 429)},
            }
        },
        "/me/profile": {
            "get": {
                "summary": "The profile fields the user may correct, and the data the user may delete, by module "
                "(without an account: nothing to correct, what their WeChat identities hold to delete)",
                "security": AUTH,
                "responses": {"200": ok("PrivacyProfile"), **errors(401, 404)},
            },
            "patch": {
                "summary": "Correct profile fields, all or nothing: {changes: {module: {field: value}}}",
                "security": AUTH,
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["changes"],
                        "properties": {
                            "changes": {"type": "object", "additionalProperties": {"type": "object"}}
                        },
                    }
                ),
                "responses": {"200": ok("PrivacyCorrected"), **errors(400, 401, 403, 404)},
            },
        },
        "/me/correction-requests": {
            "post": {
                "summary": "Ask staff to correct what the user cannot correct here; answered within 15 days",
                "security": AUTH,
                "requestBody": request_body(
                    {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
                ),
                "responses": {"202": ok("PrivacyRequest"), **errors(400, 401, 404)},
            }
        },
        "/me/conversations": {
            "delete": {
                "summary": "Delete the user's 留言 conversations (without an account: those of their WeChat "
                "identities)",
                "security": AUTH,
                "responses": {"200": ok("PrivacyDeleted"), **errors(401, 404)},
            }
        },
        "/me/data/{what}": {
            "delete": {
                "summary": "Delete one kind of the user's data (see GET me/profile `deletable`)",
                "security": AUTH,
                "parameters": [
                    {"name": "what", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": ok("PrivacyDeleted"), **errors(401, 404)},
            }
        },
        "/me/consents": {
            "get": {
                "summary": "The user's consents, given and withdrawn, with the policy version",
                "security": AUTH,
                "responses": {"200": ok("PrivacyConsents"), **errors(401, 403, 404)},
            }
        },
        "/me/consents/{kind}": {
            "delete": {
                "summary": "Withdraw a consent at once (optional ?scope=, e.g. an event id); the privacy policy "
                "and the phone authorisation are withdrawn by cancelling the account (409 needs_cancellation)",
                "security": AUTH,
                "parameters": [
                    {"name": "kind", "in": "path", "required": True, "schema": {"enum": list(consent.KINDS)}},
                    {"name": "scope", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {"200": ok("PrivacyConsents"), **errors(400, 401, 403, 404, 409)},
            }
        },
        "/me/cancel": {
            "get": {
                "summary": "The pending account cancellation, if any",
                "security": AUTH,
                "responses": {"200": ok("PrivacyCancellation"), **errors(401, 404)},
            },
            "post": {
                "summary": "Cancel the account (without one: the user's WeChat identities and their data): "
                "erased when the review period ends, unless revoked before",
                "security": AUTH,
                "responses": {"202": ok("PrivacyCancellation"), **errors(401, 404)},
            },
            "delete": {
                "summary": "Revoke a pending cancellation",
                "security": AUTH,
                "responses": {"200": ok("PrivacyRevoked"), **errors(401, 404)},
            },
        },
        "/me/privacy-requests": {
            "get": {
                "summary": "The user's privacy requests and their due dates",
                "security": AUTH,
                "responses": {"200": ok("PrivacyRequests"), **errors(401, 404)},
            }
        },
    },
    {
        "PrivacyRequest": _REQUEST,
        "PrivacyExport": {
            "type": "object",
            "required": ["generated_at", "policy_version", "account", "modules"],
            "properties": {
                "generated_at": {"type": "string"},
                "policy_version": {"type": "string"},
                "account": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["phone", "consents", "privacy_requests"],
                            "properties": {
                                "phone": {"type": ["string", "null"], "pattern": r"^\d{3}\*{4}\d{4}$"},
                            },
                        },
                        {"type": "null", "description": "the user never linked an account"},
                    ]
                },
                "person": {
                    "type": "object",
                    "description": "without an account: the consents and requests of the user's identities",
                    "required": ["consents", "privacy_requests"],
                    "properties": {
                        "consents": {"type": "array"},
                        "privacy_requests": {"type": "array"},
                    },
                },
                "modules": {
                    "type": "object",
                    "description": "one entry per registered module (without an account: the modules that "
                    "hold data found through WeChat identities)",
                },
            },
        },
        "PrivacyProfile": {
            "type": "object",
            "required": ["correctable", "deletable"],
            "additionalProperties": False,
            "properties": {
                "correctable": {"type": "object", "additionalProperties": {"type": "array"}},
                "deletable": {"type": "array", "items": {"type": "string"}},
            },
        },
        "PrivacyCorrected": {
            "type": "object",
            "required": ["changed"],
            "additionalProperties": False,
            "properties": {"changed": {"type": "object", "additionalProperties": {"type": "array"}}},
        },
        "PrivacyDeleted": {
            "type": "object",
            "required": ["deleted"],
            "additionalProperties": False,
            "properties": {"deleted": {"type": "integer"}},
        },
        "PrivacyConsents": {
            "type": "object",
            "required": ["consents"],
            "additionalProperties": False,
            "properties": {
                "consents": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "kind",
                            "scope",
                            "policy_version",
                            "channel",
                            "given_at",
                            "withdrawn_at",
                        ],
                        "additionalProperties": False,
                        "properties": {
                            "kind": {"enum": list(consent.KINDS)},
                            "scope": {"type": "string"},
                            "policy_version": {"type": "string"},
                            "channel": {"type": "string"},
                            "given_at": {"type": "string"},
                            "withdrawn_at": _TIME_OR_NULL,
                        },
                    },
                }
            },
        },
        "PrivacyCancellation": {
            "type": "object",
            "required": ["pending"],
            "additionalProperties": False,
            "properties": {"pending": {"oneOf": [_REQUEST, {"type": "null"}]}},
        },
        "PrivacyRevoked": {
            "type": "object",
            "required": ["revoked"],
            "additionalProperties": False,
            "properties": {"revoked": _REQUEST},
        },
        "PrivacyRequests": {
            "type": "object",
            "required": ["requests"],
            "additionalProperties": False,
            "properties": {"requests": {"type": "array", "items": _REQUEST}},
        },
    },
)
