"""Campus events in the mini program: browse, sign up (or join the waiting list), cancel, see one's sign-ups
and check-in codes. The rules are in wxbot.campus; a refusal there is the JSON error answer (wxbot.web)."""

from __future__ import annotations

from typing import Any

from flask import g, request

from wxbot.campus import checkin, codes, signups, spec, views
from wxbot.miniprogram import bp, login_required
from wxbot.miniprogram.openapi import AUTH, add_paths, errors, ok, request_body
from wxbot.models.campus import EVENT_KINDS, EventSignup
from wxbot.web import abort_api, db, json_body, services

MAX_PAGE = 50


def _query_text(name: str, max_length: int) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length:
        abort_api(400, "invalid_field", f"{name}: at most {max_length} characters", field=name)
    return value


def _query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort_api(400, "invalid_field", f"{name}: a whole number from {low} to {high}", field=name)
    return int(raw)


def _signup_view(row: EventSignup) -> dict[str, Any]:
    return {**views.signup_view(row), "waitlist_rank": views.waitlist_rank(db(), row)}


@bp.get("/events")
@login_required(linked=True)
def list_events() -> dict[str, Any]:
    kind = _query_text("kind", 16)
    if kind is not None and kind not in EVENT_KINDS:
        abort_api(400, "invalid_field", f"kind: one of {', '.join(EVENT_KINDS)}", field="kind")
    session = db()
    found = views.upcoming_events(
        session,
        kind=kind,
        school=_query_text("school", 100),
        city=_query_text("city", 64),
        limit=_query_int("limit", 20, 1, MAX_PAGE),
        offset=_query_int("offset", 0, 0, 10_000),
    )
    confirmed = views.confirmed_counts(session, [e.id for e in found])
    return {"events": [views.event_view(e, confirmed.get(e.id, 0)) for e in found]}


@bp.get("/events/<event_id>")
@login_required(linked=True)
def show_event(event_id: str) -> dict[str, Any]:
    session = db()
    event = views.get_event(session, event_id)
    confirmed = views.confirmed_counts(session, [event.id]).get(event.id, 0)
    mine = views.find_signup(session, event.id, g.account.id)
    shown = _signup_view(mine) if mine is not None and mine.status != "cancelled" else None
    return {**views.event_view(event, confirmed), "my_signup": shown}


@bp.post("/events/<event_id>/signup")
@login_required(linked=True)
def signup_for_event(event_id: str) -> tuple[dict[str, Any], int]:
    answers = json_body()
    session = db()
    row = signups.signup(
        session,
        services().pii,
        event_id=event_id,
        account_id=g.account.id,
        identity_id=g.identity.id,
        answers=answers,
        consent_event_data=answers.get("consent_event_data"),
        share_with_organiser=answers.get("share_with_organiser", False),
    )
    # the scene of the mini-program code the user scanned, when they came through one: counted per source
    codes.count_signup(session, g.miniprogram.name, answers.get("scene"), row.event_id)
    session.commit()
    return {"signup": _signup_view(row)}, 201


@bp.delete("/events/<event_id>/signup")
@login_required(linked=True)
def cancel_signup(event_id: str) -> dict[str, Any]:
    session = db()
    row = signups.cancel_signup(session, event_id=event_id, account_id=g.account.id)
    session.commit()
    return {"signup": _signup_view(row)}


@bp.post("/events/<event_id>/checkin-code")
@login_required(linked=True)
def new_checkin_code(event_id: str) -> dict[str, Any]:
    """A new check-in code (the old one stops working), e.g. after a screenshot of it went round."""
    session = db()
    row = checkin.revoke_checkin_code(session, event_id=event_id, account_id=g.account.id)
    session.commit()
    return {"signup": _signup_view(row)}


@bp.get("/scene/<key>")
@login_required
def resolve_scene(key: str) -> dict[str, Any]:
    """A scanned code's scene -> its event (a user need not be linked to look; signing up needs it)."""
    session = db()
    code = codes.resolve(session, g.miniprogram.name, key)
    event = code.event
    confirmed = views.confirmed_counts(session, [event.id]).get(event.id, 0)
    session.commit()  # the scan counted
    return {"scene": code.scene, "event": views.event_view(event, confirmed)}


@bp.get("/signups")
@login_required(linked=True)
def my_signups() -> dict[str, Any]:
    rows = views.signups_of(db(), g.account.id)
    return {"signups": [_signup_view(r) for r in rows]}


_DATETIME = {"type": "string", "format": "date-time", "description": "in the event's local offset"}
_EVENT_PROPERTIES: dict[str, Any] = {
    "event_id": {"type": "string"},
    "kind": {"enum": list(EVENT_KINDS), "description": "talk 宣讲会, online_talk 空中宣讲, job_fair 双选会"},
    "title": {"type": "string"},
    "organiser": {"type": "string"},
    "school": {"type": "string"},
    "city": {"type": "string"},
    "starts_at": _DATETIME,
    "ends_at": _DATETIME,
    "venue": {"type": ["string", "null"]},
    "live_url": {"type": ["string", "null"]},
    "capacity": {"type": ["integer", "null"], "description": "null: unlimited"},
    "seats_left": {"type": ["integer", "null"], "description": "null: unlimited"},
    "signup_deadline": _DATETIME,
    "cancel_deadline": _DATETIME,
    "signup_open": {"type": "boolean"},
    "fields": {
        "type": "array",
        "items": {"enum": list(spec.SIGNUP_FIELDS)},
        "description": "what the sign-up form must ask for",
    },
    "status": {"enum": ["scheduled", "cancelled"]},
}
_SIGNUP = {
    "type": "object",
    "required": [
        "event_id",
        "title",
        "starts_at",
        "status",
        "queue_number",
        "signed_up_at",
        "checkin_code",
        "checked_in",
        "waitlist_rank",
    ],  # fmt: skip
    "additionalProperties": False,
    "properties": {
        "event_id": {"type": "string"},
        "title": {"type": "string"},
        "starts_at": _DATETIME,
        "status": {"enum": ["confirmed", "waitlisted", "cancelled"]},
        "queue_number": {"type": "integer", "description": "arrival order at this event"},
        "signed_up_at": _DATETIME,
        "checkin_code": {
            "type": ["string", "null"],
            "description": "show as a QR code at the door; only while the sign-up holds a seat",
        },
        "checked_in": {"type": "boolean"},
        "waitlist_rank": {"type": ["integer", "null"], "description": "1: next to get a seat"},
    },
}
_SIGNUP_FORM = {
    "type": "object",
    "required": ["consent_event_data"],
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "school": {"type": "string", "maxLength": 100},
        "major": {"type": "string", "maxLength": 100},
        "graduation_year": {"type": ["integer", "string"]},
        "birth_year": {"type": ["integer", "string"]},
        "phone": {"type": "string", "description": "mainland mobile; stored encrypted, shown masked"},
        "consent_event_data": {
            "const": True,
            "description": "consent to the use of these fields for this event only (erased after it)",
        },
        "share_with_organiser": {
            "type": "boolean",
            "default": False,
            "description": "consent to giving the organiser your fields (phone masked)",
        },
        "scene": {
            "type": "string",
            "description": "the scene of the mini-program code the user came through (GET scene/{key}): counted "
            "per source",
        },
    },
    "description": "the fields the event lists in `fields`; others are ignored and never stored",
}
_ID = [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}]

add_paths(
    {
        "/events": {
            "get": {
                "summary": "Upcoming events, soonest first",
                "security": AUTH,
                "parameters": [
                    {"name": "kind", "in": "query", "schema": {"enum": list(EVENT_KINDS)}},
                    {"name": "school", "in": "query", "schema": {"type": "string"}},
                    {"name": "city", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": MAX_PAGE}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": ok("EventList"), **errors(400, 401, 403, 404)},
            }
        },
        "/events/{event_id}": {
            "get": {
                "summary": "One event with its seats left and the user's own sign-up",
                "security": AUTH,
                "parameters": _ID,
                "responses": {"200": ok("EventDetail"), **errors(401, 403, 404)},
            }
        },
        "/events/{event_id}/signup": {
            "post": {
                "summary": "Sign up: a seat while there is one, else the waiting list. 409 already_signed_up "
                "(with `signup`), signup_closed, event_cancelled; 403 under_age",
                "security": AUTH,
                "parameters": _ID,
                "requestBody": request_body(_SIGNUP_FORM),
                "responses": {"201": ok("SignupAnswer"), **errors(400, 401, 403, 404, 409)},
            },
            "delete": {
                "summary": "Cancel: a seat until the cancel deadline, a waiting-list place until the start",
                "security": AUTH,
                "parameters": _ID,
                "responses": {"200": ok("SignupAnswer"), **errors(401, 403, 404, 409)},
            },
        },
        "/events/{event_id}/checkin-code": {
            "post": {
                "summary": "Replace the check-in code; the old one stops working",
                "security": AUTH,
                "parameters": _ID,
                "responses": {"200": ok("SignupAnswer"), **errors(401, 403, 404)},
            }
        },
        "/scene/{key}": {
            "get": {
                "summary": "A scanned mini-program code: the event its scene stands for (the page gets `scene` in "
                "its query); the scan is counted. Send the scene back with the sign-up",
                "security": AUTH,
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": ok("SceneAnswer"), **errors(401, 404)},
            }
        },
        "/signups": {
            "get": {
                "summary": "The user's sign-ups, latest event first",
                "security": AUTH,
                "responses": {"200": ok("SignupList"), **errors(401, 403, 404)},
            }
        },
    },
    {
        "SceneAnswer": {
            "type": "object",
            "required": ["scene", "event"],
            "properties": {"scene": {"type": "string"}, "event": {"$ref": "#/components/schemas/Event"}},
        },
        "Event": {
            "type": "object",
            "required": list(_EVENT_PROPERTIES),
            "additionalProperties": False,
            "properties": _EVENT_PROPERTIES,
        },
        "EventList": {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}},
        },
        "EventDetail": {
            "type": "object",
            "required": [*_EVENT_PROPERTIES, "my_signup"],
            "additionalProperties": False,
            "properties": {
                **_EVENT_PROPERTIES,
                "my_signup": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Signup"}]},
            },
        },
        "Signup": _SIGNUP,
        "SignupAnswer": {
            "type": "object",
            "required": ["signup"],
            "additionalProperties": False,
            "properties": {"signup": {"$ref": "#/components/schemas/Signup"}},
        },
        "SignupList": {
            "type": "object",
            "required": ["signups"],
            "additionalProperties": False,
            "properties": {"signups": {"type": "array", "items": {"$ref": "#/components/schemas/Signup"}}},
        },
    },
)
