"""The `wxbot` command: database migrations, the web service, the jobs process, and admin tasks."""

from __future__ import annotations

import functools
import ipaddress
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wxbot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _settings() -> Settings:
    # Tests hand their settings in through the click context; everyone else reads the config.
    given = click.get_current_context().find_object(Settings)
    if given is not None:
        return given
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc


@click.group()
def main() -> None:
    """wxbot: the WeChat backend of the recruitment platform."""


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest."""
    from wxbot.migrate import upgrade

    settings = _settings()
    # media files kept on this host before they moved into the database (docs/operations.md)
    upgrade(settings.database.url, media_dir=Path(settings.app.var_dir, "media"))
    click.echo("database is up to date")


# No query string: a callback's signature authorises a plaintext body for the whole timestamp window.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'


def is_loopback(bind: str) -> bool:
    """Whether gunicorn's --bind value (host:port, [v6]:port, unix:path, fd://n) listens on this host only."""
    if bind.startswith(("unix:", "fd://")):
        return True
    host = bind.rsplit(":", 1)[0] if ":" in bind and not bind.endswith("]") else bind
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or "" / "0.0.0.0" style all-interfaces binds


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option(
    "--workers", type=int, default=None, help="default: 1 with the embedded scheduler, else 2*cores+1"
)
@click.option("--threads", type=int, default=4, show_default=True)
@click.option("--behind-proxy", is_flag=True, help="a buffering reverse proxy (nginx) is in front of --bind")
def serve(bind: str, workers: int | None, threads: int, behind_proxy: bool) -> None:
    """Run the web service under gunicorn."""
    settings = _settings()
    if not is_loopback(bind):
        if settings.sandbox.enabled:
            raise click.ClickException(
                f"--bind {bind}: the sandbox lets anyone act as any follower; bind it to 127.0.0.1 only "
                "(or set sandbox.enabled = false)"
            )
        if not behind_proxy:
            click.echo(
                f"warning: --bind {bind} without --behind-proxy: slow clients stall gunicorn's workers; put a "
                "buffering proxy (nginx) in front and pass --behind-proxy",
                err=True,
            )
    if workers is None:
        # The in-process cache and scheduler belong to one process; production (Redis) scales out.
        workers = (
            1 if (settings.scheduler.embedded or not settings.redis.url) else (os.cpu_count() or 1) * 2 + 1
        )
    from wxbot import metrics
    from wxbot.cli_laptop import following_urls, next_steps

    steps = next_steps(settings, bind)
    if steps:
        click.echo(steps, err=True)
    # the workers' metrics, summed by whichever worker is scraped; the laptop's URLs follow --bind
    env = {
        **following_urls(settings, bind),
        **os.environ,
        metrics.MULTIPROCESS_ENV: metrics.prepare_multiprocess_dir(settings.app.var_dir, bind),
    }
    args = [
        "gunicorn",
        "--bind", bind,
        "--workers", str(workers),
        "--threads", str(threads),
        "--access-logfile", "-",
        "--access-logformat", ACCESS_LOG_FORMAT,
        "--no-control-socket",  # gunicorn's default socket is one per user: another instance could drive ours
        "wsgi:app",
    ]  # fmt: skip
    os.execvpe(sys.executable, [sys.executable, "-m", *args], env)  # noqa: S606  (replaces this process)


@main.command("jobs")
@click.option(
    "--metrics-bind",
    default=None,
    help="host:port of this process's /metrics (default: [metrics] jobs_bind; '' for none)",
)
def jobs_command(metrics_bind: str | None) -> None:
    """Run the scheduled jobs as their own process (production)."""
    from jobs import run_forever

    run_forever(_settings(), metrics_bind)


@main.group("keys")
def keys_group() -> None:
    """Secrets and the keys of personal data: [security] pii_keys (encryption) and hash_key (lookup hashes)."""


@keys_group.command("generate")
@click.option(
    "--env", "as_env", is_flag=True, help="as WXBOT_* environment lines instead of config.toml lines"
)
def keys_generate(as_env: bool) -> None:
    """Print fresh secrets: secret_key, platform secret, a pii key, hash key and a callback token. To rotate
    the pii key, put the new one first in pii_keys, then run `wxbot keys rotate`."""
    from wxbot.config.strength import generated_config

    click.echo(generated_config(env=as_env))


@keys_group.command("rotate")
@click.option("--batch", type=int, default=500, show_default=True, help="rows per transaction")
def keys_rotate(batch: int) -> None:
    """Re-encrypt every encrypted column under the newest key and recompute the lookup hashes under hash_key;
    older pii_keys and the retired_hash_keys can then be removed."""
    from wxbot.db import session_scope
    from wxbot.privacy import audit
    from wxbot.privacy.key_rotation import RotationError, encrypted_columns, reencrypt_batch, rehash_batch
    from wxbot.services import build_services

    services = build_services(_settings())
    passes: list[tuple[str, Callable[..., tuple[int, Any]]]] = [
        (target.name, functools.partial(reencrypt_batch, target=target)) for target in encrypted_columns()
    ]
    passes.append(("accounts.phone_hash", rehash_batch))
    counts: dict[str, int] = {}
    try:
        for name, run_batch in passes:
            counts[name], after = 0, None
            while True:
                with session_scope(services.session_factory) as session:
                    changed, after = run_batch(session, services.pii, after=after, limit=batch)
                counts[name] += changed
                if after is None:
                    break
    except RotationError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        summary = ", ".join(f"{name}: {n}" for name, n in counts.items())
        with session_scope(services.session_factory) as session:
            audit.log(session, actor="cli", action="keys.rotate", subject_type="keys", subject_id="pii",
                      detail=summary)  # fmt: skip
        services.engine.dispose()
    click.echo(f"re-encrypted under the newest key and rehashed under hash_key: {summary}")


@main.group("agents")
def agents_group() -> None:
    """Customer-service agents of the console."""


@agents_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "admin"]), default="agent", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
def agents_create(username: str, role: str, password_stdin: bool) -> None:
    """Create a console user; the password comes from a prompt (or stdin), never a default."""
    from wxbot.conversations import agents
    from wxbot.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with _database_session() as session:
            agent = agents.create_agent(session, username=username, password=password, role=role)
            click.echo(f"created {agent.role} {agent.username}")
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc


@agents_group.command("deactivate")
@click.argument("username")
def agents_deactivate(username: str) -> None:
    """Keep an agent out: their sessions end, login is refused, their open conversations return to the queue."""
    _set_agent_active(username, False)


@agents_group.command("activate")
@click.argument("username")
def agents_activate(username: str) -> None:
    """Let a deactivated agent log in again."""
    _set_agent_active(username, True)


def _set_agent_active(username: str, active: bool) -> None:
    from wxbot.conversations import agents
    from wxbot.errors import DomainError

    try:
        with _database_session() as session:
            agent, released = agents.set_active(session, username, active, actor="cli")
            state = "active" if active else f"deactivated ({released} conversation(s) back in the queue)"
            click.echo(f"{agent.username}: {state}")
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _database_session() -> Iterator[Session]:
    """One committed transaction on the configured database, for commands that need no other service. A
    database that is missing or not migrated is said so, with where it was looked for; never a traceback."""
    from sqlalchemy.exc import OperationalError

    import wxbot.models  # noqa: F401  (every table known before the first query)
    from wxbot.checkout import missing_database
    from wxbot.db import make_engine, make_session_factory, session_scope

    url = _settings().database.url
    problem = missing_database(url)
    if problem:
        raise click.ClickException(problem)
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    except OperationalError as exc:
        raise click.ClickException(
            f"the database ({engine.url.render_as_string(hide_password=True)}) did not answer or is not "
            f"migrated: {type(exc.orig).__name__}: {str(exc.orig)[:200]}; run `wxbot db upgrade`"
        ) from exc
    finally:
        engine.dispose()


@main.group("events")
def events_group() -> None:
    """Campus events (宣讲会, 空中宣讲, 双选会)."""


MAX_IMPORT_BYTES = 10 * 1024 * 1024


@events_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def import_events(ctx: click.Context, path: str) -> None:
    """Create or update events from a JSON file: one event object or a list of them, as POST
    /platform/events takes them. Every event is checked first; one bad field and nothing is written."""
    import json
    from pathlib import Path

    from wxbot.campus import schedule, spec
    from wxbot.db import session_scope
    from wxbot.errors import DomainError, Invalid
    from wxbot.services import Services, build_services

    raw = Path(path).read_bytes()
    if len(raw) > MAX_IMPORT_BYTES:
        raise click.ClickException(f"{path}: larger than {MAX_IMPORT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: not JSON ({exc})") from exc
    items = data if isinstance(data, list) else [data]
    specs, problems = [], []
    for index, item in enumerate(items):
        try:
            specs.append(spec.parse_event(item))
        except Invalid as exc:
            problems += [f"[{index}].{name}: {message}" for name, message in exc.details["fields"].items()]
    if problems:
        raise click.ClickException("nothing imported:\n" + "\n".join(problems))
    # Tests hand their own services in; the command line builds them from the settings.
    services = ctx.obj if isinstance(ctx.obj, Services) else build_services(_settings())
    created = updated = notified = 0
    try:
        with session_scope(services.session_factory) as session:
            for index, event in enumerate(specs):
                try:
                    result = schedule.upsert_event(session, event)
                except DomainError as exc:
                    raise click.ClickException(
                        f"nothing imported: [{index}] {event.external_id}: {exc.message}"
                    ) from exc
                created += result.created
                updated += not result.created
                notified += result.notified
    finally:
        if services is not ctx.obj:
            services.engine.dispose()
    click.echo(f"{created} created, {updated} updated, {notified} people told of a change")


@main.group("pauses")
def pauses_group() -> None:
    """WeChat's pauses of one API of one app (45009 daily quota, 45011 minute limit)."""


@pauses_group.command("list")
def pauses_list() -> None:
    """The pauses in force: app, API, until when (local time), WeChat's errcode."""
    from wxbot import clock
    from wxbot.push import limits

    zone = _settings().app.timezone
    with _database_session() as session:
        found = limits.pauses(session, clock.now())
    for p in found:
        click.echo(f"{p.app_name}\t{p.api}\tuntil {clock.local_text(p.until, zone)}\terrcode {p.errcode}")
    if not found:
        click.echo("no pauses")


@pauses_group.command("lift")
@click.argument("app")
@click.argument("api")
def pauses_lift(app: str, api: str) -> None:
    """End the pause of API (template, custom, subscribe or WeChat's path) of APP now, for instance after
    resetting the quota with clear_quota; the messages that waited for it go out at once. Audited."""
    from wxbot.errors import DomainError
    from wxbot.push import limits

    try:
        with _database_session() as session:
            lifted = limits.lift(session, app, api, actor="cli")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"lifted: {lifted.app_name} {lifted.api} (errcode {lifted.errcode})")


@main.group("apps")
def apps_group() -> None:
    """The configured WeChat apps."""


@apps_group.command("health")
def apps_health() -> None:
    """Each app's health as its sends see it: unhealthy after repeated token errors that a refresh did not
    cure (see wxbot.push.app_health). Exits 1 when an app is unhealthy."""
    from wxbot import clock
    from wxbot.push.app_health import app_health

    settings = _settings()
    with _database_session() as session:
        found = app_health(session, settings)
    for h in found:
        if h.healthy:
            tail = f"; {h.token_failures} token error(s) in a row" if h.token_failures else ""
            click.echo(f"{h.app_name}\thealthy{tail}")
        else:
            since = clock.local_text(h.unhealthy_since, settings.app.timezone)
            click.echo(f"{h.app_name}\tunhealthy since {since}: {h.token_failures} sends in a row refused "
                       f"with token error {h.errcode} after a refresh (check the AppSecret and IP whitelist)")  # fmt: skip
    if any(not h.healthy for h in found):
        sys.exit(1)


@main.group("docs")
def docs_group() -> None:
    """The API documents (OpenAPI, read in Swagger UI) as static files (docs/operations.md)."""


@docs_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--public-url",
    help="where the API is reached, for the documents' server URLs  [default: [console] public_url]",
)
def docs_export(folder: Path, public_url: str | None) -> None:
    """Write the docs page (index.html), its assets and every document into FOLDER, for nginx to serve."""
    settings = _settings()
    url = public_url or settings.console.public_url
    if not url.startswith(("https://", "http://")):
        raise click.ClickException(
            f"public URL {url!r}: pass --public-url https://... or set [console] public_url"
        )
    from wxbot import create_app
    from wxbot.api_docs import export

    app = create_app(settings, start_scheduler=False)
    try:
        written = export(app, folder, url)
    finally:
        app.extensions["wxbot"].engine.dispose()
    click.echo(f"{len(written)} files in {folder}, the API at {url.rstrip('/')}: serve the folder as it is")


from wxbot import official_cli  # noqa: E402  (menu, followers, doctor)

for _command in official_cli.COMMANDS:
    main.add_command(_command)
