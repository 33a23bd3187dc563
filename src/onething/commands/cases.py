"""`onething cases …`: time-limit lists for operators — overdue (超期) and soon-due (即将到期) tasks.

Each command calls one case service as the platform operator against ``ONETHING_DATABASE_URL``; ``--json``
prints machine-readable output for scripts and monitoring.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

cases_app = typer.Typer(help="Cases (办件): time limits in working days.", no_args_is_help=True)

DepartmentOption = Annotated[str | None, typer.Option("--department", help="only this department's tasks")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _catalog() -> Any:
    from onething.catalog.service import active_catalog

    return active_catalog()[1]


def _render(rows: list[dict[str, Any]], *, as_json: bool, title: str, extra: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title} ({len(rows)})")
    for column in ("due", extra, "department", "procedure", "status", "thing", "task"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["due"], str(row[extra]), row["department"], row["procedure"], row["status"],
                      row.get("thing") or "", row["id"])
    Console().print(table)


def _run(fetch: Any) -> list[dict[str, Any]]:
    from onething.accounts.model import SYSTEM
    from onething.db import get_engine
    from onething.workdays import UnknownCalendarYear

    try:
        rows: list[dict[str, Any]] = fetch(get_engine(), SYSTEM, datetime.now(UTC), _catalog())
    except UnknownCalendarYear as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    return rows


@cases_app.command("overdue")
def cases_overdue(department: DepartmentOption = None, as_json: JsonOption = False) -> None:
    """Running tasks past their due date, most overdue first."""
    from onething.cases.api import overdue

    rows = _run(lambda engine, actor, now, catalog: overdue(engine, actor, now=now, catalog=catalog,
                                                             department=department))
    _render(rows, as_json=as_json, title="超期办件 overdue tasks", extra="overdue_days")


@cases_app.command("due-soon")
def cases_due_soon(
    days: Annotated[int | None, typer.Option("--days", help="working days ahead (default from settings)")] = None,
    department: DepartmentOption = None, as_json: JsonOption = False,
) -> None:
    """Running tasks due today or within --days working days."""
    from onething.cases.api import due_soon
    from onething.cases.settings import get_case_settings

    horizon = days if days is not None else get_case_settings().due_soon_days
    rows = _run(lambda engine, actor, now, catalog: due_soon(engine, actor, now=now, days=horizon, catalog=catalog,
                                                              department=department))
    _render(rows, as_json=as_json, title=f"即将到期 due within {horizon} working days", extra="days_left")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
