"""WeChat's field rules: configured texts are checked at start-up, data is cut to fit at send time."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import base_config
from wxbot.config import ConfigError, settings_from_dict
from wxbot.push.template_fields import ELLIPSIS, KINDS, clean, fit, render_fields, utf16_len

EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.text(max_size=120), st.booleans())
def test_a_cut_value_obeys_the_rules_of_its_kind(kind, value, official):
    out = fit(kind, value, official=official)
    limit = min(KINDS[kind].limit, 20) if official else KINDS[kind].limit
    assert utf16_len(out) <= limit
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in out)
    assert "\n" not in out and "\r" not in out and not EMOJI.search(out)
    assert out == out.strip() and "  " not in out
    if kind == "name" and re.search("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", out):
        assert re.fullmatch("[·\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{1,10}", out)
    elif KINDS[kind].allowed is not None:
        assert all(KINDS[kind].allowed.fullmatch(c) for c in out)
    assert fit(kind, out, official=official) == out  # cutting again changes nothing


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_a_thing_keeps_its_beginning_and_marks_the_cut(value):
    cleaned = clean(value)
    out = fit("thing", value)
    if utf16_len(cleaned) <= 20:
        assert out == cleaned
    else:
        assert out.endswith(ELLIPSIS)
        assert cleaned.startswith(out[: -len(ELLIPSIS)])
        assert not unicodedata.combining(cleaned[len(out) - 1]) if len(out) > 1 else True


def test_cutting_never_leaves_a_letter_without_its_marks_nor_splits_wide_characters():
    assert fit("thing", "a" * 18 + "e\u0301\u0301xyz") == "a" * 18 + ELLIPSIS
    assert fit("thing", "𠀀" * 15) == "𠀀" * 9 + ELLIPSIS  # 2 UTF-16 units each
    assert fit("thing", "高级后端开发工程师（北京）👍\n急招") == "高级后端开发工程师（北京） 急招"
    assert fit("phrase", "面试邀请 interview") == "面试邀请"
    assert fit("character_string", "AB-12 中文") == "AB-12"
    assert fit("name", "张三 Zhang San") == "张三"
    assert fit("name", "Zhang San") == "Zhang San"


def test_fields_are_filled_from_the_data():
    fields = {"thing1": "{job_title}", "thing2": "{company}", "phrase3": "面试邀请"}
    data = {"job_title": "产品经理", "company": "一家名字非常非常非常非常非常非常长的科技有限公司"}
    assert render_fields(fields, data, official=True) == {
        "thing1": {"value": "产品经理"},
        "thing2": {"value": "一家名字非常非常非常非常非常非常长的科" + ELLIPSIS},
        "phrase3": {"value": "面试邀请"},
    }


def with_template(tmp_path, app="oa", key="status_interview", **template):
    raw = base_config(tmp_path)
    spec = {"template_id": "TID", "fields": {"thing1": "{job_title}"}}
    spec.update(template)
    raw["notify"] = {"templates": {key: {app: spec}}}
    return raw


def test_a_valid_template_config_loads(tmp_path):
    settings_ = settings_from_dict(with_template(tmp_path, fields={"thing1": "{company}邀请您面试",
                                                                   "time2": "{changed_at}"}), env={})  # fmt: skip
    assert settings_.notify.template("status_interview", "oa").template_id == "TID"
    assert settings_.notify.quiet_hours_start == "22:00" and settings_.notify.daily_cap == 10


@pytest.mark.parametrize(
    ("template", "app", "key", "where"),
    [
        ({"fields": {"thing1": "第一行\n第二行"}}, "oa", "status_interview", "notify.templates.status_interview.oa.fields.thing1"),
        ({"fields": {"thing1": "面试👍"}}, "oa", "status_interview", "notify.templates.status_interview.oa.fields.thing1"),
        ({"fields": {"phrase1": "面试邀请通知"}}, "mp", "status_interview", "notify.templates.status_interview.mp.fields.phrase1"),
        ({"fields": {"thing1": "这是一段超过二十个字的固定文字内容不能被接受的呢"}}, "mp", "status_interview", "notify.templates.status_interview.mp.fields.thing1"),
        ({"fields": {"thing1": "{salary}"}}, "oa", "status_interview", "notify.templates.status_interview.oa.fields.thing1"),
        ({"fields": {"colour1": "red"}}, "oa", "status_interview", "notify.templates.status_interview.oa.fields.colour1"),
        ({"fields": {"thing1": "{job_title}"}}, "nobody", "status_interview", "notify.templates.status_interview.nobody"),
        ({"template_id": ""}, "oa", "status_viewed", "notify.templates.status_viewed.oa.template_id"),
        ({"miniprogram": "nope"}, "oa", "status_viewed", "notify.templates.status_viewed.oa.miniprogram"),
        ({"page": "pages/x?id={secret}"}, "mp", "status_viewed", "notify.templates.status_viewed.mp.page"),
    ],
)  # fmt: skip
def test_a_template_breaking_wechats_rules_stops_start_up(tmp_path, template, app, key, where):
    with pytest.raises(ConfigError, match="^" + re.escape(where)):
        settings_from_dict(with_template(tmp_path, app=app, key=key, **template), env={})


@pytest.mark.parametrize(
    ("notify", "where"),
    [
        ({"quiet_hours_start": "25:00"}, "notify.quiet_hours_start"),
        ({"quiet_hours_start": ""}, "notify.quiet_hours_end"),
        ({"daily_cap": -1}, "notify.daily_cap"),
        ({"concurrency": 0}, "notify.concurrency"),
    ],
)
def test_bad_notify_settings_stop_start_up(tmp_path, notify, where):
    raw = base_config(tmp_path)
    raw["notify"] = notify
    with pytest.raises(ConfigError, match="^" + re.escape(where)):
        settings_from_dict(raw, env={})


@pytest.mark.parametrize(
    ("field_key", "app", "says"),
    [("first", "oa", "first line"), ("remark", "oa", "remark"), ("remark", "mp", "remark"),
     ("color", "oa", "colours"), ("topcolor", "oa", "colours"), ("thing1_color", "oa", "colours")],
)  # fmt: skip
def test_first_remark_and_colours_of_before_2023_stop_start_up(tmp_path, field_key, app, says):
    raw = with_template(tmp_path, app=app, fields={"thing1": "{job_title}", field_key: "您好"})
    with pytest.raises(ConfigError, match=f"fields.{field_key}: .*{says}.*2023-05-04|2023-05-04.*{says}"):
        settings_from_dict(raw, env={})
