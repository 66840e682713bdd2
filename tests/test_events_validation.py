"""Property tests of the sign-up form and the platform's event payload: whatever arrives, the answer is a
clean value or a refusal that names a field, never anything else."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from wxbot import clock, errors
from wxbot.campus import signups
from wxbot.campus.spec import parse_event
from wxbot.models.campus import Event
from wxbot.web import status_of

YEAR = clock.now().year  # the age rule reads the clock
FORM_FIELDS = ["name", "school", "major", "graduation_year", "birth_year", "phone"]

json_scalars = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text()
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)  # fmt: skip
required_fields = st.lists(st.sampled_from(FORM_FIELDS), unique=True)


def event_asking(fields):
    return Event(required_fields=",".join(fields))


@settings(max_examples=300)
@given(required_fields, st.dictionaries(st.sampled_from(FORM_FIELDS) | st.text(max_size=8), json_values))
def test_any_form_is_cleaned_or_refused_naming_a_required_field(fields, form):
    try:
        clean = signups.validate_answers(event_asking(fields), form)
    except errors.Invalid as exc:
        assert status_of(exc) == 400
        assert set(exc.details["fields"]) <= set(fields) and exc.details["field"] in fields
        assert exc.message.startswith(exc.details["field"] + ": ")
    except errors.Refused as exc:
        assert exc.code == "under_age" and exc.details["field"] in ("graduation_year", "birth_year")
    else:
        assert set(clean) == set(fields)  # nothing the event did not ask for is kept
        for name in ("name", "school", "major"):
            if name in clean:
                assert clean[name] == clean[name].strip() and 1 <= len(clean[name]) <= 100
        if "phone" in clean:
            assert re.fullmatch(r"1[3-9]\d{9}", clean["phone"])


def phones():
    digits = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
    formats = [lambda d: d, lambda d: "+86" + d, lambda d: "+86 " + d, lambda d: f"{d[:3]}-{d[3:7]}-{d[7:]}"]
    return st.tuples(digits, st.sampled_from(formats)).map(lambda p: (p[0], p[1](p[0])))


names = st.text(st.characters(categories=["L", "M", "N", "P", "Zs"]), min_size=1, max_size=50).filter(
    lambda s: s.strip() and len(s.strip()) <= 50
)


@given(names, names, names, st.integers(YEAR - 80, YEAR + 6), phones())
def test_a_well_formed_form_is_accepted(name, school, major, year, phone):
    digits, written = phone
    clean = signups.validate_answers(
        event_asking(FORM_FIELDS[:4] + ["phone"]),
        {"name": name, "school": school, "major": major, "graduation_year": year, "phone": written},
    )
    assert clean["phone"] == digits and clean["graduation_year"] == year
    assert clean["name"] == clean["name"].strip()


@given(st.integers(YEAR + 7, YEAR + 10))
def test_graduating_seven_or_more_years_away_is_under_16(year):
    try:
        signups.validate_answers(event_asking(["graduation_year"]), {"graduation_year": year})
    except errors.Refused as exc:
        assert exc.code == "under_age" and "16" in exc.message
    else:
        raise AssertionError("accepted")


@given(st.integers(YEAR - 15, YEAR))
def test_born_less_than_16_years_ago_is_under_16(year):
    try:
        signups.validate_answers(event_asking(["birth_year"]), {"birth_year": str(year)})
    except errors.Refused as exc:
        assert exc.details["field"] == "birth_year"
    else:
        raise AssertionError("accepted")


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["event_id", "kind", "title", "organiser", "starts_at", "ends_at", "venue",
                                        "live_url", "capacity", "signup_deadline", "cancel_deadline", "fields",
                                        "status", "school", "city"]), json_values) | json_values)  # fmt: skip
def test_any_event_payload_is_parsed_or_refused_naming_a_field(payload):
    try:
        spec = parse_event(payload)
    except errors.Invalid as exc:
        assert exc.details["field"] in exc.details["fields"]
    else:
        assert spec.starts_at < spec.ends_at
