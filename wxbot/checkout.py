"""Where the embedded (laptop) setup keeps its files: the checkout's var/, whichever directory a command is
run from, so that `wxbot agents create` run elsewhere finds the database `make run` made (and the secrets it
invented) instead of starting an empty one there."""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# An editable install (make run): the package sits in its checkout. Installed elsewhere: the working directory.
CHECKOUT: Path | None = (
    _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "wsgi.py").is_file() else None
)


def embedded_var_dir() -> Path:
    return (CHECKOUT or Path.cwd()) / "var"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def missing_database(url: str) -> str | None:
    """Why a command cannot use the database at `url` as it stands: a SQLite file that does not exist (opening
    it would create an empty one). None otherwise."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return None
    where = f"the checkout {CHECKOUT}" if CHECKOUT else "this directory"
    return (
        f"no database at {path.resolve()}: the embedded setup keeps it under {where}/var and `make run` (or "
        "`wxbot db upgrade`) creates it; for another database point WXBOT_CONFIG at its config file"
    )
