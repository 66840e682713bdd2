"""The EXPLAIN part of bench/scale.py: record the statements an engine sends while something runs, then EXPLAIN
each distinct one on the same database. A line per table read: (type, table, key, rows, statement); type ALL is
a full scan. Importable by the benchmark's subprocesses (the sender, the retention job)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

VERBS = ("SELECT", "UPDATE", "INSERT", "DELETE")


@contextmanager
def recording(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) `engine` sends meanwhile (reads and writes; not COMMIT and the like)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(VERBS):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def shape(statement: str) -> str:
    return " ".join(statement.split())


def plans(engine: sa.Engine, seen: list[tuple[str, Any]], label: str = "") -> list[str]:
    """EXPLAIN of each distinct statement in `seen` (first 90 characters tell them apart), in a transaction
    rolled back. Statements EXPLAIN cannot take (e.g. a multi-row INSERT ... VALUES) are skipped."""
    lines, done = [], set()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in seen:
            key = shape(statement)[:90]
            if key in done:
                continue
            done.add(key)
            try:
                cursor.execute("EXPLAIN " + statement, parameters)
            except Exception as exc:  # noqa: BLE001  (reported, not fatal)
                lines.append(f"  (no plan: {type(exc).__name__})  {label}{key[:60]}")
                continue
            names = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                plan = dict(zip(names, row, strict=True))
                if plan["select_type"] == "INSERT":
                    continue  # the table an INSERT writes shows as ALL: it is written, not read
                kind = plan["type"] or f"- ({plan['Extra']})"  # e.g. a subquery decided without reading rows
                lines.append(f"  {kind!s:<7} {plan['table']!s:<28} {plan['key']!s:<38} "
                             f"{plan['rows']!s:>7}  {label}{key[:60]}")  # fmt: skip
        raw.rollback()
    finally:
        raw.close()
    return lines


def full_scans(lines: list[str], kind: str = "ALL", at_least: int = 1000) -> tuple[list[str], list[str]]:
    """The lines of type `kind` (ALL: the table read whole; index: one of its indexes read whole): those
    estimated to read `at_least` rows, and the others (a table of a few rows, a materialised subquery of a
    page's ids: the optimizer's choice, not the table's size)."""
    scans = [line for line in lines if line.split()[:1] == [kind]]
    big = [line for line in scans if line.split()[3].isdigit() and int(line.split()[3]) >= at_least]
    return big, [line for line in scans if line not in big]
