"""deploy/'s Grafana dashboard and Prometheus alert rules read only series that wxbot's /metrics exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NAME = re.compile(r"\bwxbot_[a-z_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed(client) -> dict[str, str]:
    """wxbot's metric families on /metrics: name -> type."""
    answer = client.get("/metrics")  # development without a token: open
    assert answer.status_code == 200
    families = text_string_to_metric_families(answer.get_data(as_text=True))
    return {f.name: f.type for f in families if f.name.startswith("wxbot_")}


def exposed_series(client) -> set[str]:
    return {name + suffix for name, kind in exposed(client).items() for suffix in SUFFIXES[kind]}


def test_every_alert_rule_reads_series_wxbot_exposes(client):
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    expressions = re.findall(r"expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))", rules)
    assert len(expressions) == rules.count("- alert:") >= 8
    used = {name for block, line in expressions for name in NAME.findall(block or line)}
    assert used and used <= exposed_series(client), used - exposed_series(client)


def test_every_dashboard_panel_reads_series_wxbot_exposes(client):
    dashboard = json.loads((DEPLOY / "grafana" / "wxbot-dashboard.json").read_text(encoding="utf-8"))
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in expressions for name in NAME.findall(e)}
    assert used <= exposed_series(client), used - exposed_series(client)
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert set(exposed(client)) - {"wxbot_state_up"} <= shown  # every family has its panel
