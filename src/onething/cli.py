"""The `onething` command line: catalog, database, demo data, server, worker, benchmarks.

Commands parse their arguments, call one service, and render — Rich tables for people, ``--json`` for scripts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from onething.config import get_settings

app = typer.Typer(help="onething — 高效办成一件事", no_args_is_help=True, add_completion=False)
catalog_app = typer.Typer(help="Catalog as code: validate, list, show, plan, publish, diff.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")

console = Console()
err = Console(stderr=True)


def _catalog_dir(path: Path | None) -> Path:
    return path if path is not None else get_settings().resolved_catalog_dir()


def _load(path: Path | None = None) -> Any:
    from onething.catalog.errors import InvalidCatalog
    from onething.catalog.service import load_valid_catalog

    try:
        return load_valid_catalog(_catalog_dir(path))
    except InvalidCatalog as exc:
        err.print(f"[red]{exc}[/red]")
        err.print("Run `onething catalog validate` for every problem.")
        raise typer.Exit(1) from None


def _for_region(catalog: Any, region: str | None) -> Any:
    """The catalog as ``region`` resolves it (city inherits province inherits national); exit 1 if unknown."""
    from onething.catalog.errors import UnknownRegion
    from onething.catalog.regions import resolve

    try:
        return resolve(catalog, region)
    except UnknownRegion as exc:
        err.print(f"[red]{exc}[/red] (see `onething catalog regions`)")
        raise typer.Exit(1) from None


RegionOption = Annotated[str | None, typer.Option(
    "--region", help="region code: resolve the thing as that region defines it (default: national)")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@catalog_app.command("validate")
def catalog_validate(
    path: Annotated[Path | None, typer.Argument(help="catalog folder")] = None,
    require_guide: Annotated[bool, typer.Option(
        "--require-guide", help="every procedure must give 受理条件, 法律依据, 咨询和投诉电话 and 办理结果")] = False,
) -> None:
    """Check a catalog folder; print every problem as path:line:col: message."""
    from onething.catalog.errors import sort_problems
    from onething.catalog.validate import required_guide_problems
    from onething.intake.cases import validate_catalog

    root = _catalog_dir(path)
    result, problems = validate_catalog(root)
    if require_guide:
        problems = sort_problems([*problems, *required_guide_problems(result)])
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem)
    cat = result.catalog
    cases = sum(len(t.cases) for t in cat.things.values())
    if errors:
        print(f"{len(errors)} error(s) in {root}", file=sys.stderr)
        raise typer.Exit(1)
    print(f"catalog OK: {len(cat.things)} things, {len(cat.procedures)} procedures, "
          f"{len(cat.departments)} departments, {len(cat.fields)} fields, {len(cat.materials)} materials, "
          f"{len(cat.resources)} resources, {len(cat.lists)} lists, {len(cat.regions)} regions, "
          f"{cases} cases passed")


@catalog_app.command("list")
def catalog_list(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    path: Annotated[Path | None, typer.Option("--path", help="catalog folder")] = None,
) -> None:
    """List every thing: code, name, audience, stage, lists."""
    from onething.catalog.service import thing_summaries

    rows = thing_summaries(_load(path))
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"一件事 ({len(rows)})")
    for column in ("code", "name", "audience", "stage", "lists"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["code"], row["name"], row["audience"], row["stage"], ", ".join(row["lists"]))
    console.print(table)


@catalog_app.command("show")
def catalog_show(
    code: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    path: Annotated[Path | None, typer.Option("--path", help="catalog folder")] = None,
    region: RegionOption = None,
) -> None:
    """Show one thing's guide: questions, procedures, materials, limits."""
    from onething.catalog.errors import UnknownThing
    from onething.catalog.service import thing_guide

    catalog = _for_region(_load(path), region)
    try:
        guide = thing_guide(catalog, code)
        guide["region"] = region
    except UnknownThing as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        _print_json(guide)
        return
    console.print(f"[bold]{guide['name']}[/bold] ({guide['code']}) · {guide['audience']} · {guide['stage']} · "
                  f"牵头部门 {guide['lead']['name']}")
    if guide.get("description"):
        console.print(guide["description"])
    questions = Table(title="情形 questions")
    for column in ("id", "question", "type", "default"):
        questions.add_column(column)
    for q in guide["questions"]:
        questions.add_row(q["id"], q["text"], q["type"], json.dumps(q.get("default"), ensure_ascii=False))
    console.print(questions)
    procedures = Table(title="事项 procedures")
    for column in ("id", "name", "department", "when", "after", "legal", "promised"):
        procedures.add_column(column)
    for p in guide["procedures"]:
        procedures.add_row(p["id"], p["name"], p["department_name"], p.get("when") or "",
                           ", ".join(p["after"]), str(p["legal_days"]), str(p["promised_days"]))
    console.print(procedures)
    guides = Table(title="办事指南 guide (--json for every part)")
    for column in ("id", "fees", "basis", "confidence", "not yet sourced"):
        guides.add_column(column)
    for p in guide["procedures"]:
        g = p["guide"]
        guides.add_row(p["id"], g["fees"] or "", "；".join(b["law"] for b in g["basis"]), p["confidence"],
                       "、".join(g["missing"]))
    console.print(guides)
    for source in guide["sources"]:
        console.print(f"来源: {source['title']} {source['url']} ({source['accessed']})")


@catalog_app.command("plan")
def catalog_plan(
    code: str,
    answers: Annotated[str | None, typer.Option("--answers", help="JSON object, or @file.json")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    path: Annotated[Path | None, typer.Option("--path", help="catalog folder")] = None,
    region: RegionOption = None,
) -> None:
    """Compute the plan for a thing and answers: procedures, merged form, materials, time, reductions."""
    from onething.catalog.errors import UnknownThing
    from onething.intake import IntakeError, plan

    raw: dict[str, Any] = {}
    if answers:
        text = Path(answers[1:]).read_text(encoding="utf-8") if answers.startswith("@") else answers
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            err.print(f"[red]--answers is not valid JSON: {exc}[/red]")
            raise typer.Exit(2) from None
        if not isinstance(raw, dict):
            err.print("[red]--answers must be a JSON object[/red]")
            raise typer.Exit(2)
    catalog = _for_region(_load(path), region)
    try:
        result = plan(catalog, code, raw)
    except UnknownThing as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except IntakeError as exc:
        for field, message in exc.errors:
            err.print(f"[red]{field}: {message}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        _print_json({**result.to_json(), "region": region})
        return
    console.print(f"[bold]{result.thing_name}[/bold] — 承诺时限 {result.promised_days} 个工作日 "
                  f"(分别办理合计 {result.separately.days})")
    table = Table(title="办理事项 procedures")
    for column in ("stage", "id", "name", "department", "days"):
        table.add_column(column)
    for p in result.procedures:
        table.add_row(str(p.stage), p.id, p.name, p.department_name, str(p.promised_days))
    console.print(table)
    fields = Table(title=f"一表申请 merged form ({len(result.form.fields)} fields)")
    for column in ("id", "label", "type", "required", "procedures"):
        fields.add_column(column)
    for f in result.form.fields:
        fields.add_row(f.id, f.label, f.type, "是" if f.required else "否", ", ".join(f.procedures))
    console.print(fields)
    materials = Table(title="一套材料 materials")
    for column in ("id", "name", "status"):
        materials.add_column(column)
    for m in result.materials:
        materials.add_row(m.id, m.name, "免提交" if m.status == "exempt" else "提交")
    console.print(materials)
    r = result.reductions
    console.print(f"减材料 {r.materials:.0%} · 减环节 {r.steps:.0%} · 减时间 {r.time:.0%} · 减跑动 {r.trips:.0%}")


@catalog_app.command("regions")
def catalog_regions(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    path: Annotated[Path | None, typer.Option("--path", help="catalog folder")] = None,
) -> None:
    """Regions that inherit the national catalog (province → city → county) and the things each overrides."""
    from onething.catalog.regions import region_summaries

    rows = region_summaries(_load(path))
    if as_json:
        _print_json(rows)
        return
    table = Table(title="regions")
    for column in ("code", "name", "level", "parent", "things overridden"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["code"], row["name"], row["level"], row["parent"] or "national", ", ".join(row["things"]))
    console.print(table)


@catalog_app.command("publish")
def catalog_publish(
    path: Annotated[Path | None, typer.Argument(help="catalog folder")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate the catalog (cases included) and store it as an immutable version; unchanged → no-op."""
    from onething.catalog.errors import InvalidCatalog
    from onething.catalog.service import publish_catalog
    from onething.intake.cases import check_cases

    root = _catalog_dir(path)
    try:
        result = publish_catalog(root, actor="cli", checks=[check_cases])
    except InvalidCatalog as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        for problem in errors:
            err.print(str(problem), markup=False, highlight=False)
        err.print(f"[red]{len(errors)} error(s): nothing published[/red]")
        raise typer.Exit(1) from None
    if as_json:
        _print_json({"id": result.id, "content_hash": result.content_hash, "created": result.created,
                     "summary": result.summary})
        return
    if result.created:
        console.print(f"published catalog version {result.id} ({result.content_hash[:12]}): {result.summary}")
    else:
        console.print(f"unchanged: catalog version {result.id} ({result.content_hash[:12]}) already published")


@catalog_app.command("versions")
def catalog_versions(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List published catalog versions, newest first."""
    from onething.catalog.store import list_versions
    from onething.db import session_scope

    with session_scope() as session:
        rows: list[dict[str, Any]] = [
            {"id": v.id, "content_hash": v.content_hash, "published_at": v.published_at.isoformat(),
             "published_by": v.published_by, "summary": v.summary}
            for v in list_versions(session)
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="catalog versions")
    for column in ("id", "hash", "published at", "by", "things", "procedures"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), row["content_hash"][:12], row["published_at"], row["published_by"],
                      str(row["summary"].get("things")), str(row["summary"].get("procedures")))
    console.print(table)


@catalog_app.command("diff")
def catalog_diff(
    old: Annotated[str, typer.Argument(help="version id, hash prefix, `latest`, or a catalog folder")],
    new: Annotated[str, typer.Argument(help="version id, hash prefix, `latest`, or a catalog folder")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Things, procedures, lists … added, removed and changed between two versions or folders."""
    from onething.catalog.errors import CatalogError
    from onething.catalog.service import diff_refs

    try:
        changes = diff_refs(old, new)
    except CatalogError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        _print_json({kind: {"added": d.added, "removed": d.removed, "changed": d.changed}
                     for kind, d in changes.items()})
        return
    if all(d.empty for d in changes.values()):
        console.print("no differences")
        return
    for kind, d in changes.items():
        if d.empty:
            continue
        console.print(f"[bold]{kind}[/bold]")
        for item in d.added:
            console.print(f"  [green]+ {item}[/green]")
        for item in d.removed:
            console.print(f"  [red]- {item}[/red]")
        for item, keys in d.changed.items():
            console.print(f"  [yellow]~ {item}[/yellow] ({', '.join(keys)})")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply Alembic migrations to ONETHING_DATABASE_URL (default: the SQLite file under var/)."""
    from onething import db

    db.upgrade(revision=revision)
    console.print(f"database at {revision}: {_safe_url(get_settings().resolved_database_url())}")


@db_app.command("check")
def db_check() -> None:
    """Fail when the tables in code and the migrations disagree (alembic check on a fresh SQLite database)."""
    import tempfile

    from alembic import command
    from alembic.util.exc import AutogenerateDiffsDetected

    from onething import db

    with tempfile.TemporaryDirectory() as folder:
        engine = db.make_engine(f"sqlite:///{Path(folder) / 'check.sqlite3'}")
        try:
            db.upgrade(engine)
            command.check(db.alembic_config(engine))
        except AutogenerateDiffsDetected as exc:
            err.print(f"[red]models and migrations differ: {exc}[/red]")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
    console.print("migrations match the models")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _enter_demo_mode() -> None:
    """``--demo``: the same as ONETHING_DEMO=1 for this process."""
    import os

    os.environ["ONETHING_DEMO"] = "1"
    get_settings.cache_clear()


@demo_app.command("load")
def demo_load(
    demo: Annotated[bool, typer.Option("--demo", help="the same as ONETHING_DEMO=1")] = False,
) -> None:
    """Publish the shipped catalog and build the demo data through the services (demo mode only: the demo
    accounts share a published password)."""
    from onething.demo import load_demo

    if demo:
        _enter_demo_mode()
    if not get_settings().demo:
        err.print("[red]demo data goes into demo databases only: set ONETHING_DEMO=1 (or pass --demo)[/red]")
        raise typer.Exit(2)
    for line in load_demo():
        console.print(line)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="server processes (default: ONETHING_WORKERS, else one per CPU; 1 in the demo)")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="a local demo: the same as ONETHING_DEMO=1")] = False,
) -> None:
    """Serve the portal, workbench, admin console and API."""
    import os

    from onething.config import ConfigurationError
    from onething.logging import configure_logging
    from onething.web.app import create_app
    from onething.web.server import default_workers, run, server_config

    if demo:
        _enter_demo_mode()
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or default_workers(settings)
    if workers > 1:
        # The outbox worker thread runs only in a single-process server; with N processes run `onething worker`.
        if settings.inprocess_worker:
            err.print("[red]onething will not start: ONETHING_INPROCESS_WORKER runs only with --workers 1; "
                      "run `onething worker` beside the server instead[/red]")
            raise typer.Exit(2)
        os.environ["ONETHING_INPROCESS_WORKER"] = "0"   # inherited by the worker processes
        get_settings.cache_clear()
        settings = get_settings()
    configure_logging(settings.log_level)
    try:
        app = create_app()   # with N workers: built here once only to refuse a bad configuration up front
    except ConfigurationError as exc:
        err.print(f"[red]onething will not start: {exc}[/red]")
        raise typer.Exit(2) from None
    mode = "  [demo mode: demo registries, no secure cookies]" if settings.demo else ""
    processes = f"  [{workers} processes; run `onething worker` to deliver]" if workers > 1 else ""
    console.print(f"onething serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs){mode}{processes}")
    try:
        config = server_config(app, host=host, port=port, settings=settings, workers=workers)
    except ValueError as exc:
        err.print(f"[red]onething will not start: {exc}[/red]")
        raise typer.Exit(2) from None
    run(config)


def main() -> None:  # pragma: no cover - console script entry
    app()


def _register_command_modules() -> None:
    import importlib

    from onething.commands import MODULES

    for name in MODULES:
        module_name = f"onething.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(app)


_register_command_modules()
