"""deploy/'s systemd units and nginx site are valid for the tools that read them (each skipped, with the
reason, where the tool is not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.process_helpers import ROOT, free_port
from tests.test_slow_clients import site_for_this_machine

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])


@pytest.mark.parametrize("unit", ["wxbot-web.service", "wxbot-jobs.service"])
def test_the_systemd_units_verify(unit):
    analyze = shutil.which("systemd-analyze", path=SBIN)
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    found = subprocess.run([analyze, "verify", str(ROOT / "deploy" / "systemd" / unit)], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    # the units name the install location (/opt/wxbot/venv), which this machine does not have
    problems = [line for line in found.stderr.splitlines() if "is not executable" not in line]
    assert problems == []


def test_the_nginx_site_is_accepted_by_nginx(tmp_path):
    nginx = shutil.which("nginx", path=SBIN)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    site = site_for_this_machine(tmp_path, free_port(), free_port(), free_port())
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\nevents {{}}\n"
                    f"http {{ {temp}\n{site}\n}}\n", encoding="utf-8")  # fmt: skip
    checked = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
