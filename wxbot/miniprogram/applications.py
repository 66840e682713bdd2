"""The seeker's applications and status reminders in the mini program:
GET|PUT /mp/<name>/preferences, GET /mp/<name>/applications, POST /mp/<name>/subscriptions."""

from __future__ import annotations

from typing import Any

from flask import g

from wxbot.applications import status_changes as applications
from wxbot.applications.statuses import STATUSES, template_key
from wxbot.miniprogram import bp, login_required
from wxbot.miniprogram.openapi import AUTH, add_paths, errors, ok, request_body
from wxbot.models.identity import REMINDER_CHOICES
from wxbot.push import grants
from wxbot.web import abort_api, db, json_body, services

# wx.requestSubscribeMessage answers per template: accept, reject, ban (turned off in settings), filter
SUBSCRIBE_RESULTS = ("accept", "reject", "ban", "filter")
MAX_RESULTS = 10  # WeChat asks for at most 3 templates at a time
MAX_APPLICATIONS = 200


def _status_templates() -> list[dict[str, str]]:
    """The subscribe templates of this mini program for status pushes (what to ask the user to allow)."""
    found = []
    for status in STATUSES:
        template = services().settings.notify.template(template_key(status), g.miniprogram.name)
        if template is not None:
            found.append({"status": status, "template_id": template.template_id})
    return found


def _preferences() -> dict[str, Any]:
    return {
        "reminders": g.account.reminder_pref,
        "choices": list(REMINDER_CHOICES),
        "subscribe_templates": _status_templates(),
    }


@bp.get("/preferences")
@login_required(linked=True)
def get_preferences() -> dict[str, Any]:
    return _preferences()


@bp.put("/preferences")
@login_required(linked=True)
def put_preferences() -> dict[str, Any]:
    choice = json_body().get("reminders")
    if choice not in REMINDER_CHOICES:
        abort_api(
            400, "invalid_field", f"reminders must be one of {', '.join(REMINDER_CHOICES)}", field="reminders"
        )
    session = db()
    stopped = applications.set_reminder_choice(session, g.account.id, choice, channel="miniprogram")
    session.commit()
    return {**_preferences(), "stopped": stopped}


@bp.get("/applications")
@login_required(linked=True)
def list_applications() -> dict[str, Any]:
    tz = services().settings.app.timezone
    found = applications.applications_of(db(), g.account.id, tz, limit=MAX_APPLICATIONS)
    return {"reminders": g.account.reminder_pref, "applications": found}


@bp.post("/subscriptions")
@login_required
def record_subscriptions() -> dict[str, Any]:
    """What wx.requestSubscribeMessage answered: each `accept` allows one push of that template."""
    results = json_body().get("results")
    if not isinstance(results, dict) or not results or len(results) > MAX_RESULTS:
        abort_api(
            400, "invalid_field", f"results: an object of 1-{MAX_RESULTS} template ids", field="results"
        )
    known = {t["template_id"] for t in _status_templates()}
    # the customer-service fallback ("a reply is waiting", wxbot.conversations.replies) may be allowed too
    reply = services().settings.notify.template("ticket_reply", g.miniprogram.name)
    if reply is not None:
        known.add(reply.template_id)
    for template_id, answer in results.items():
        if template_id not in known:
            abort_api(400, "invalid_field", "results: unknown template id", field="results")
        if answer not in SUBSCRIBE_RESULTS:
            abort_api(
                400, "invalid_field", f"results: one of {', '.join(SUBSCRIBE_RESULTS)}", field="results"
            )
    session = db()
    for template_id, answer in results.items():
        if answer == "accept":
            grants.record_grant(session, g.identity.id, template_id, source="client")
        elif answer == "ban":
            grants.revoke_grants(session, g.identity.id, template_id)
    counts = grants.unused_grants(session, g.identity.id)
    session.commit()
    return {"authorisations": {t: counts.get(t, 0) for t in sorted(known)}}


_PUSH = {
    "type": "object",
    "required": ["outcome", "reason", "channel", "at", "errcode", "explanation"],
    "additionalProperties": False,
    "properties": {
        "outcome": {
            "enum": [
                "pending",
                "sending",
                "sent",
                "delivered",
                "failed",
                "skipped",
                "held",
                "superseded",
                "cancelled",
                "unknown",
                "not_pushed",
            ],  # fmt: skip
        },
        "reason": {"type": ["string", "null"], "description": "why not sent (preference, no_channel, ...)"},
        "channel": {"enum": ["custom", "template", "subscribe", "oa_subscribe", None]},
        "at": {"type": ["string", "null"], "description": "sent, delivered, or when it will be sent"},
        "errcode": {"type": ["integer", "null"]},
        "explanation": {"type": "string", "description": "why did or didn't I get this, in words"},
    },
}
_PREFERENCES = {
    "type": "object",
    "required": ["reminders", "choices", "subscribe_templates"],
    "additionalProperties": False,
    "properties": {
        "reminders": {"enum": list(REMINDER_CHOICES)},
        "choices": {"type": "array", "items": {"enum": list(REMINDER_CHOICES)}},
        "subscribe_templates": {
            "type": "array",
            "description": "templates to pass to wx.requestSubscribeMessage (at most 3 at a time)",
            "items": {
                "type": "object",
                "required": ["status", "template_id"],
                "additionalProperties": False,
                "properties": {"status": {"enum": list(STATUSES)}, "template_id": {"type": "string"}},
            },
        },
        "stopped": {"type": "integer", "description": "PUT: unsent pushes the new choice stopped"},
    },
}
add_paths(
    {
        "/preferences": {
            "get": {
                "summary": "The status reminder choice: all, key (待沟通 and 面试邀请 only) or off",
                "security": AUTH,
                "responses": {"200": ok("Preferences"), **errors(401, 403, 404)},
            },
            "put": {
                "summary": "Change the status reminder choice; unsent pushes it stops are stopped at once",
                "security": AUTH,
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["reminders"],
                        "properties": {"reminders": {"enum": list(REMINDER_CHOICES)}},
                    }  # fmt: skip
                ),
                "responses": {"200": ok("Preferences"), **errors(400, 401, 403, 404)},
            },
        },
        "/applications": {
            "get": {
                "summary": "The seeker's applications, current status and history, with each push's outcome",
                "security": AUTH,
                "responses": {"200": ok("Applications"), **errors(401, 403, 404)},
            }
        },
        "/subscriptions": {
            "post": {
                "summary": "Record what wx.requestSubscribeMessage answered (each accept allows one push)",
                "security": AUTH,
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["results"],
                        "properties": {
                            "results": {
                                "type": "object",
                                "additionalProperties": {"enum": list(SUBSCRIBE_RESULTS)},
                            }
                        },
                    }  # fmt: skip
                ),
                "responses": {"200": ok("Subscriptions"), **errors(400, 401, 404)},
            }
        },
    },
    {
        "Preferences": _PREFERENCES,
        "Push": _PUSH,
        "Applications": {
            "type": "object",
            "required": ["reminders", "applications"],
            "additionalProperties": False,
            "properties": {
                "reminders": {"enum": list(REMINDER_CHOICES)},
                "applications": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "application_id",
                            "job_title",
                            "company",
                            "status",
                            "status_label",
                            "status_changed_at",
                            "history",
                        ],  # fmt: skip
                        "additionalProperties": False,
                        "properties": {
                            "application_id": {"type": "string"},
                            "job_title": {"type": "string"},
                            "company": {"type": "string"},
                            "status": {"enum": list(STATUSES)},
                            "status_label": {"type": "string"},
                            "status_changed_at": {"type": "string", "format": "date-time"},
                            "history": {
                                "type": "array",
                                "description": "newest first",
                                "items": {
                                    "type": "object",
                                    "required": ["status", "status_label", "changed_at", "push"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "status": {"enum": list(STATUSES)},
                                        "status_label": {"type": "string"},
                                        "changed_at": {"type": "string", "format": "date-time"},
                                        "push": {"$ref": "#/components/schemas/Push"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "Subscriptions": {
            "type": "object",
            "required": ["authorisations"],
            "additionalProperties": False,
            "properties": {
                "authorisations": {
                    "type": "object",
                    "description": "template id -> unused authorisations",
                    "additionalProperties": {"type": "integer"},
                }
            },
        },
    },
)
