"""deploy/container/: the image and the compose file hold what production asks for, read the way Docker and
Compose read them (without Docker: a small Dockerfile reader, PyYAML for the compose file). The image runs a
fixed non-root user, checks /healthz with Python alone, bakes in no secret and runs real `wxbot` commands;
compose migrates before web and jobs start, waits for healthy MariaDB and Redis, puts deploy/nginx/wxbot.conf
in front of `wxbot serve --behind-proxy`, and every WXBOT_* variable it sets is a setting the app reads:
production refuses the example env file's placeholders, each one naming its key, and accepts strong values."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import secrets
import shlex
import string
import subprocess
import sys
import threading
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from tests.conftest import base_config
from tests.process_helpers import ROOT, free_port
from wxbot import create_app
from wxbot.cli import main
from wxbot.config import ConfigError, Settings, load_settings, settings_from_dict

CONTAINER = ROOT / "deploy" / "container"
DOCKERFILE = CONTAINER / "Dockerfile"
COMPOSE = CONTAINER / "compose.yaml"
ENV_EXAMPLE = CONTAINER / ".env.example"
# the documented start: `cp config.example.toml deploy/container/config.toml`
CONFIG = ROOT / "config.example.toml"
PLACEHOLDERS = ("", "changeme")


# --- the Dockerfile, as Docker reads it ----------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def read_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    """The stages, each with its instructions (continuations joined, comment lines dropped, ARGs before the
    first FROM substituted into FROM)."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue  # Docker drops comment lines, also inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args[m.group(1)], words[0])
            stages.append(Stage(base, words[2] if len(words) > 2 and words[1].upper() == "AS" else ""))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"not the exec form (signals reach a shell, not wxbot): {args}"
    return json.loads(args)


def env_of(stage: Stage) -> dict[str, str]:
    """ENV key=value ... (and the old ENV key value) of the stage."""
    env: dict[str, str] = {}
    for args in stage.all("ENV") + stage.all("ARG"):
        words = shlex.split(args)
        if "=" not in words[0] and len(words) > 1:
            env[words[0]] = " ".join(words[1:])
        else:
            env.update(w.partition("=")[::2] for w in words)
    return env


def healthcheck(stage: Stage) -> list[str]:
    args = stage.last("HEALTHCHECK")
    options, _, command = args.partition("CMD ")
    assert command, f"HEALTHCHECK without CMD: {args}"
    return exec_form(command)


def final_stage() -> Stage:
    return read_dockerfile()[-1]


def resolve(args: list[str]) -> click.Command:
    """The `wxbot` command that argument list runs, its options parsed as click would (nothing invoked)."""
    command: click.Command = main
    rest = list(args)
    path = ["wxbot"]
    while isinstance(command, click.Group):
        assert rest, f"{' '.join(path)} needs a subcommand"
        name, *rest = rest
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"{' '.join(path)} has no command {name!r}"
        command, path = found, [*path, name]
    command.make_context(" ".join(path), rest)  # a wrong option or argument raises a UsageError
    return command


def test_wheels_are_built_in_a_stage_of_their_own_and_the_runtime_is_slim_python_without_compilers():
    *builders, runtime = read_dockerfile()
    assert runtime.base.startswith("python:3.11-slim")
    wheel_stages = [s for s in builders if any("pip wheel" in run for run in s.all("RUN"))]
    assert wheel_stages, "no stage builds wheels"
    assert any(f"--from={wheel_stages[0].name} " in copy for copy in runtime.all("COPY"))
    # the runtime installs nothing: no compilers, no package manager at work, no pip
    for run in runtime.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|apk|pip|gcc|make)\b", run), run
    assert not [c for c in runtime.all("COPY") if "--from" not in c], (
        "the runtime copies nothing but the build"
    )
    # and the venv it copies has no pip of its own
    assert any("--without-pip" in run for s in builders for run in s.all("RUN"))


def test_the_image_runs_as_a_fixed_non_root_user_who_owns_its_working_directory():
    runtime = final_stage()
    user = runtime.last("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER {user}: a fixed numeric uid, not root"
    runs = " ".join(runtime.all("RUN"))
    assert re.search(rf"useradd [^&]*--uid {uid}\b", runs), "the user is created with that uid"
    assert not gid or re.search(rf"groupadd [^&]*--gid {gid}\b", runs)
    assert re.search(rf"install -d -o {uid} [^&]*{re.escape(runtime.last('WORKDIR'))}\b", runs)


def test_no_secret_is_baked_into_the_image():
    runtime = final_stage()
    for stage in read_dockerfile():
        for name, value in env_of(stage).items():
            assert not re.search(r"SECRET|TOKEN|PASSWORD|PASSWD|_KEYS?$|CREDENTIAL|AES", name), (name, value)
    # of the settings, the image names only where the config file is mounted
    assert [n for n in env_of(runtime) if n.startswith("WXBOT_")] == ["WXBOT_CONFIG"]
    for stage in read_dockerfile():
        for copy in stage.all("COPY"):
            assert not re.search(r"config\.toml|\.env\b|\.pem\b", copy), copy


def test_the_healthcheck_asks_healthz_with_python_alone(tmp_path):
    runtime = final_stage()
    command = healthcheck(runtime)
    assert command[:2] == ["python", "-c"]
    (port,) = [p.split("/")[0] for p in runtime.all("EXPOSE")]
    default = re.search(r"'(http://127\.0\.0\.1:(\d+)/healthz)'", command[2])
    assert default and default.group(2) == port
    cmd = exec_form(runtime.last("CMD"))
    assert cmd[cmd.index("--bind") + 1].endswith(f":{port}")

    def check(url: str) -> int:
        env = {**os.environ, "HEALTHCHECK_URL": url}
        return subprocess.run(
            [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30
        ).returncode

    # run it, against the app's own /healthz, an answer that is not 200, and nothing listening
    app = create_app(settings_from_dict(base_config(tmp_path), env={}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert check(f"http://127.0.0.1:{server.server_port}/healthz") == 0
        assert check(f"http://127.0.0.1:{server.server_port}/no-such-page") != 0
    finally:
        server.shutdown()
    assert check(f"http://127.0.0.1:{free_port()}/healthz") != 0


def test_the_entrypoint_is_the_wxbot_command_and_serves_behind_a_proxy_by_default():
    runtime = final_stage()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert exec_form(runtime.last("ENTRYPOINT")) == ["wxbot"] and scripts["wxbot"] == "wxbot.cli:main"
    cmd = exec_form(runtime.last("CMD"))
    assert resolve(cmd).name == "serve" and "--behind-proxy" in cmd
    # `wxbot serve` hands gunicorn wsgi:app; the installed package (the image's venv) must carry wsgi.py
    assert "wsgi" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"]


# --- .dockerignore ---------------------------------------------------------------------------------------------


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a directory above it decides; ! re-includes."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
            out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        return re.compile(out + "$")

    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if any(regex(pattern.lstrip("!")).match(c) for c in candidates):
            ignored = not negated
    return ignored


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("path", [".venv/bin/python", "var/wxbot.db", "var/dev-secrets.json", ".git/HEAD",
                                  "wxbot/__pycache__/cli.cpython-311.pyc", ".pytest_cache/v/x", "config.toml",
                                  "deploy/container/.env", "deploy/container/config.toml",
                                  "deploy/container/tls/privkey.pem"])  # fmt: skip
def test_the_build_context_leaves_out_local_state_and_secrets(path):
    assert dockerignored(path, dockerignore())


def test_the_build_context_keeps_everything_the_dockerfile_copies():
    patterns = dockerignore()
    sources = []
    for stage in read_dockerfile():
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from" not in copy:
                sources += words[:-1]
    assert {"pyproject.toml", "wsgi.py", "wxbot", "jobs"} <= set(sources)
    for source in sources:
        files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*")
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not dockerignored(relative, patterns), relative


# --- compose.yaml ------------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))  # fmt: skip
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} from the .env file."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        found = dotenv.get(name, "")
        if op == ":?" and not found:
            raise ConfigError(f"compose refuses to start: {name}: {arg}")
        return found or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


def environment_of(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """What compose hands the service: its env_file (the .env, here given as `dotenv`), then `environment`."""
    spec = compose()["services"][service]
    env_files = spec.get("env_file", [])
    env = dict(dotenv) if ".env" in ([env_files] if isinstance(env_files, str) else env_files) else {}
    declared = spec.get("environment", {})
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    env.update({k: interpolate(str(v), dotenv) for k, v in declared.items()})
    return env


def strong(name: str) -> str:
    if name.endswith(("_PII_KEYS", "_HASH_KEY")):
        return base64.b64encode(secrets.token_bytes(32)).decode()
    if name.endswith("_ENCODING_AES_KEY"):
        return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43))
    if name.startswith("WXBOT_WECHAT_") and name.endswith("_TOKEN") or name == "MARIADB_PASSWORD":
        return secrets.token_hex(16)
    return secrets.token_urlsafe(32)


def example_env(strong_values: bool) -> dict[str, str]:
    example = read_env_file(ENV_EXAMPLE)
    if strong_values:
        example = {k: strong(k) if v in PLACEHOLDERS else v for k, v in example.items()}
    return example


def setting_of(name: str) -> str | None:
    """The setting WXBOT_<NAME> overrides (as wxbot.config.loading reads the environment), or None."""
    raw = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    for section, section_type in typing.get_type_hints(Settings).items():
        prefix = f"WXBOT_{section.upper()}_"
        scalars = {  # the loader takes scalars and lists of scalars from the environment, no tables
            key
            for key, hint in typing.get_type_hints(section_type).items()
            if typing.get_origin(hint) is not dict
            and not (typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]))
        }
        if name.startswith(prefix) and name.removeprefix(prefix).lower() in scalars:
            return f"{section}.{name.removeprefix(prefix).lower()}"
    for kind in ("official", "miniprogram"):
        for i, app in enumerate(raw["wechat"].get(kind, [])):
            slug = re.sub(r"[^A-Za-z0-9]", "_", app["name"]).upper()
            for key in ("appsecret", "token", "encoding_aes_key"):
                if name == f"WXBOT_WECHAT_{slug}_{key.upper()}":
                    return f"wechat.{kind}[{i}].{key}"
    return None


def value_of(settings: Settings, setting: str) -> Any:
    found: Any = settings
    for part in re.findall(r"\w+|\[\d+\]", setting):
        found = found[int(part[1:-1])] if part.startswith("[") else getattr(found, part)
    return found


def as_loaded(text: str, loaded: Any) -> Any:
    """The environment's text as the loader turns it into the setting's type (to compare with `loaded`)."""
    if isinstance(loaded, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(loaded, list):
        return [v.strip() for v in text.split(",") if v.strip()]
    return type(loaded)(text)


WXBOT_SERVICES = ("migrate", "web", "jobs")


def test_the_services_and_what_each_runs():
    services = compose()["services"]
    assert set(services) == {"mariadb", "redis", "migrate", "web", "jobs", "proxy"}
    assert resolve(services["migrate"]["command"]).name == "upgrade"
    assert resolve(services["web"]["command"]).name == "serve"
    assert resolve(services["jobs"]["command"]).name == "jobs"
    assert services["migrate"]["restart"] == "no"  # one-shot: ends, and web and jobs wait for its exit 0
    for name in WXBOT_SERVICES:
        assert services[name]["build"]["dockerfile"] == "deploy/container/Dockerfile"
        assert (CONTAINER / services[name]["build"]["context"]).resolve() == ROOT
    assert {services[n]["image"] for n in WXBOT_SERVICES} == {services["web"]["image"]}


def test_web_and_jobs_start_after_the_migrations_on_healthy_mariadb_and_redis():
    services = compose()["services"]
    for name in ("web", "jobs"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "mariadb": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert services["migrate"]["depends_on"] == {"mariadb": {"condition": "service_healthy"}}
    for name in ("mariadb", "redis"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and not check.get("disable")
        assert "ports" not in services[name], f"{name} stays on the project's network"
    assert "healthcheck.sh" in services["mariadb"]["healthcheck"]["test"]
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_mariadb_speaks_utf8mb4_and_keeps_its_data_in_a_volume():
    spec = compose()
    mariadb = spec["services"]["mariadb"]
    assert "--character-set-server=utf8mb4" in mariadb["command"]
    assert any(c.startswith("--collation-server=utf8mb4_") for c in mariadb["command"])
    assert "--max-allowed-packet=64M" in mariadb["command"]  # WeChat's 10 MB media (wxbot.models.TicketMedia)
    volume = next(v.split(":")[0] for v in mariadb["volumes"] if v.split(":")[1] == "/var/lib/mysql")
    assert volume in spec["volumes"]
    url = environment_of("web", example_env(strong_values=True))["WXBOT_DATABASE_URL"]
    assert url.startswith("mysql+pymysql://") and url.endswith("charset=utf8mb4")
    assert f"@mariadb:3306/{mariadb['environment']['MARIADB_DATABASE']}?" in url


def test_the_nginx_site_is_in_front_of_gunicorn_and_the_app_trusts_that_one_proxy():
    services = compose()["services"]
    proxy, web = services["proxy"], services["web"]
    assert proxy["network_mode"] == "service:web"  # nginx's 127.0.0.1 is web's
    site_mount = next(v for v in proxy["volumes"] if v["target"].startswith("/etc/nginx/"))
    site = (CONTAINER / site_mount["source"]).resolve()
    assert site == ROOT / "deploy" / "nginx" / "wxbot.conf"
    upstream = re.search(r"upstream wxbot \{[^}]*?server (\S+)", site.read_text(encoding="utf-8"))
    bind = web["command"][web["command"].index("--bind") + 1]
    assert upstream and upstream.group(1) == bind and bind.startswith("127.0.0.1:")
    assert "--behind-proxy" in web["command"]
    assert sorted(web["ports"]) == ["443:443", "80:80"] and "ports" not in proxy
    assert "X-Forwarded-For" in site.read_text(encoding="utf-8")
    assert environment_of("web", example_env(True))["WXBOT_APP_PROXY_HOPS"] == "1"


def test_migrate_web_and_jobs_share_one_config_file_and_one_environment():
    services = compose()["services"]
    (config_in_image,) = [v for k, v in env_of(final_stage()).items() if k == "WXBOT_CONFIG"]
    dotenv = example_env(strong_values=True)
    environments = []
    for name in WXBOT_SERVICES:
        mounts = {v["target"]: v for v in services[name]["volumes"] if isinstance(v, dict)}
        assert mounts[config_in_image]["type"] == "bind" and mounts[config_in_image]["read_only"]
        assert (CONTAINER / mounts[config_in_image]["source"]).name == "config.toml"
        environments.append({k: v for k, v in environment_of(name, dotenv).items() if k.startswith("WXBOT_")})
    assert environments[0] == environments[1] == environments[2]
    # the jobs' healthcheck asks the /metrics that process serves
    jobs = environment_of("jobs", dotenv)
    assert jobs["HEALTHCHECK_URL"].startswith(
        f"http://127.0.0.1:{jobs['WXBOT_METRICS_JOBS_BIND'].split(':')[1]}/"
    )


def test_no_secret_is_written_in_the_compose_file():
    for name, spec in compose()["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            value = str(value)
            if re.search(r"SECRET|TOKEN|PASSWORD|_KEYS?$", key) and value not in ("1", "0"):
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), f"{name}: {key} is written out"
            for password in re.findall(r"://[^/:@]+:([^@]+)@", value):
                assert password.startswith("${"), f"{name}: {key} holds a password"
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/container/.env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "deploy/container/.env is in .gitignore"


def test_every_wxbot_variable_compose_sets_is_a_setting_the_app_reads():
    dotenv = example_env(strong_values=True)
    for service in WXBOT_SERVICES:
        env = environment_of(service, dotenv)
        settings = load_settings(CONFIG, env=env)
        for name, text in env.items():
            if not name.startswith("WXBOT_") or name == "WXBOT_CONFIG":
                continue
            setting = setting_of(name)
            assert setting is not None, f"{service}: {name} is no setting wxbot reads"
            loaded = value_of(settings, setting)
            assert loaded == as_loaded(text, loaded), f"{service}: {name} did not reach {setting}"


def test_production_accepts_the_example_env_once_its_placeholders_are_strong_secrets():
    settings = load_settings(CONFIG, env=environment_of("web", example_env(strong_values=True)))
    assert settings.app.environment == "production" and not settings.development
    assert not settings.sandbox.enabled and settings.console.secure_cookie
    assert not settings.scheduler.embedded and settings.redis.url == "redis://redis:6379/0"
    assert settings.app.proxy_hops == 1


def test_the_example_env_holds_no_secret_only_placeholders():
    example = read_env_file(ENV_EXAMPLE)
    assert {name for name, value in example.items() if value not in PLACEHOLDERS} == {"COMPOSE_PROJECT_NAME"}


def test_production_refuses_the_example_env_as_it_stands():
    with pytest.raises(ConfigError):
        load_settings(CONFIG, env=environment_of("web", example_env(strong_values=False)))


@pytest.mark.parametrize("name", [k for k, v in read_env_file(ENV_EXAMPLE).items() if v in PLACEHOLDERS])
def test_each_placeholder_left_in_is_refused_naming_its_key(name):
    dotenv = example_env(strong_values=True)
    dotenv[name] = read_env_file(ENV_EXAMPLE)[name]
    with pytest.raises(ConfigError) as refused:
        load_settings(CONFIG, env=environment_of("web", dotenv))
    assert (setting_of(name) or name) in str(refused.value)


@pytest.mark.parametrize("where", ["image", "compose"])
def test_the_serve_commands_start_production_quietly_on_their_bind(tmp_path, monkeypatch, where):
    """The image's default and compose's web command, with compose's environment: gunicorn on that address
    with the app wsgi.py holds, no warning about a missing proxy."""
    if where == "image":
        command = exec_form(final_stage().last("CMD"))
    else:
        command = compose()["services"]["web"]["command"]
    settings = load_settings(CONFIG, env=environment_of("web", example_env(strong_values=True)))
    settings.app.var_dir = str(tmp_path / "var")
    execs: list[list[str]] = []
    monkeypatch.setattr(os, "execvpe", lambda file, args, env: execs.append(list(args)))
    result = CliRunner().invoke(main, command, obj=settings)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    (args,) = execs
    assert args[args.index("--bind") + 1] == command[command.index("--bind") + 1] and "wsgi:app" in args
