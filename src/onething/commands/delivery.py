"""`onething worker`, `onething departments …`, `onething outbox …`, `onething sandbox-department` and
`onething sandbox-sms`.

Department webhooks and their signing secrets are configured here and only here: a secret comes from stdin
(``--secret-stdin``) or is generated and printed once, as the last word of the output; it is never listed
again. ``onething worker`` delivers the outbox until SIGTERM/SIGINT (then finishes the event in hand).
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from onething.commands.accounts import ActorOption, cli_actor

departments_app = typer.Typer(help="Department systems (部门系统): webhook URLs and signing secrets.",
                              no_args_is_help=True)
outbox_app = typer.Typer(help="Outbox (发件箱): events for department systems and their delivery status.",
                         no_args_is_help=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _read_line() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _known_department(department: str) -> bool | None:
    """Whether the catalog the platform serves names this department; None when it cannot be loaded."""
    from onething.catalog.service import active_catalog

    try:
        _label, catalog = active_catalog()
    except Exception:
        return None
    return department in catalog.departments


@departments_app.command("set-webhook")
def set_webhook_command(
    department: Annotated[str, typer.Argument(help="department id, e.g. samr")],
    url: Annotated[str, typer.Argument(help="where the department system receives events (http/https)")],
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin")] = False,
    force: Annotated[bool, typer.Option("--force", help="accept a department the catalog does not name")] = False,
    actor: ActorOption = None,
) -> None:
    """Send DEPARTMENT's events to URL, signed with a secret (generated and printed once if none is given)."""
    from onething.db import session_scope
    from onething.delivery.service import InvalidEndpoint, generate_secret, set_webhook

    if not force and _known_department(department) is False:
        typer.echo(f"error: the catalog names no department {department!r} (use --force to set it anyway)",
                   err=True)
        raise typer.Exit(1)
    operator = cli_actor(actor)
    generated = not secret_stdin
    secret = generate_secret() if generated else _read_line().strip()
    try:
        with session_scope() as session:
            set_webhook(session, department, url, secret, _now(), actor=operator)
    except InvalidEndpoint as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if generated:
        typer.echo(f"webhook for {department} set to {url}; signing secret (shown once, give it to the "
                   f"department system): {secret}")
    else:
        typer.echo(f"webhook for {department} set to {url} with the secret read from stdin")


@departments_app.command("disable-webhook")
def disable_webhook_command(department: Annotated[str, typer.Argument()], actor: ActorOption = None) -> None:
    """Stop delivering to DEPARTMENT (its events are skipped); set-webhook enables it again."""
    from onething.db import session_scope
    from onething.delivery.service import UnknownEndpoint, disable_webhook

    operator = cli_actor(actor)
    try:
        with session_scope() as session:
            disable_webhook(session, department, _now(), actor=operator)
    except UnknownEndpoint as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"webhook for {department} disabled")


@departments_app.command("list")
def list_webhooks_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Department webhooks (never their secrets) with per-department delivery counts."""
    from rich.console import Console
    from rich.table import Table

    from onething.db import session_scope
    from onething.delivery.service import list_endpoints
    from onething.delivery.status import delivery_summary

    with session_scope() as session:
        endpoints = list_endpoints(session)
        summary = delivery_summary(session)
    empty = {"pending": 0, "dead": 0, "delivered": 0, "skipped": 0}
    rows: list[dict[str, Any]] = [
        {"department": e.department, "url": e.url, "active": e.active, "updated_at": e.updated_at.isoformat(),
         **summary.get(e.department, empty)} for e in endpoints]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"department webhooks ({len(rows)})")
    for column in ("department", "url", "active", "pending", "dead", "delivered", "skipped"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["department"]), str(row["url"]), "yes" if row["active"] else "no", str(row["pending"]),
                      str(row["dead"]), str(row["delivered"]), str(row["skipped"]))
    Console().print(table)


@outbox_app.command("list")
def outbox_list_command(
    status: Annotated[str | None, typer.Option("--status", help="pending, dead, delivered or skipped")] = None,
    department: Annotated[str | None, typer.Option("--department")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Outbox events, newest first, with their delivery status and last error."""
    from rich.console import Console
    from rich.table import Table

    from onething.db import session_scope
    from onething.delivery.status import list_events

    try:
        with session_scope() as session:
            events = list_events(session, status=status, department=department, limit=limit)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    rows = [vars(e) for e in events]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"outbox ({len(rows)})")
    for column in ("event", "kind", "department", "status", "attempts", "next / delivered", "last error"):
        table.add_column(column)
    for e in events:
        when = e.delivered_at or e.available_at
        table.add_row(e.event_id, e.kind, e.department or "*", e.status, str(e.attempts),
                      when.isoformat(timespec="seconds"), (e.last_error or "")[:80])
    Console().print(table)


@outbox_app.command("attempts")
def outbox_attempts_command(event_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every delivery attempt of one event, per department leg."""
    from onething.db import session_scope
    from onething.delivery.status import list_attempts

    with session_scope() as session:
        attempts = list_attempts(session, event_id)
    if as_json:
        _print_json([vars(a) for a in attempts])
        return
    for a in attempts:
        typer.echo(f"{a.attempted_at.isoformat(timespec='seconds')} {a.department} {a.status_code or '-'} "
                   f"{'ok' if a.ok else 'failed'} {a.duration_ms} ms {a.error or ''}".rstrip())


@outbox_app.command("retry")
def outbox_retry_command(event_id: str) -> None:
    """Make a dead, retrying or skipped event due now with a fresh attempt budget."""
    from onething.db import session_scope
    from onething.delivery.status import UnknownEvent, retry_event

    try:
        with session_scope() as session:
            retry_event(session, event_id, _now())
    except UnknownEvent as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"event {event_id} is due again")


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
    poll_seconds: Annotated[float | None, typer.Option("--poll-seconds", help="idle wait between looks")] = None,
) -> None:
    """Deliver outbox events to department webhooks until SIGTERM/SIGINT."""
    from onething.config import get_settings
    from onething.db import get_engine
    from onething.delivery.worker import Worker
    from onething.logging import configure_logging

    configure_logging(get_settings().log_level)
    worker = Worker(get_engine())

    def stop(_signum: int, _frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            rounds = worker.run(poll_seconds, until_idle=True, max_rounds=10_000)
            typer.echo(f"outbox worker: {rounds} round(s), nothing more due")
        else:
            worker.run(poll_seconds)
    finally:
        worker.close()


def sandbox_department_command(
    port: Annotated[int, typer.Option("--port", help="port to listen on (127.0.0.1)")],
    department: Annotated[str | None, typer.Option("--department", help="department id it plays")] = None,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin "
                                               "(first line; the token, if --token-stdin, on the second)")] = False,
    secret: Annotated[str | None, typer.Option("--secret", help="signing secret (visible in ps: demos only)")] = None,
    auto_decide: Annotated[bool, typer.Option("--auto-decide", help="accept and approve its ready tasks "
                                              "through the platform API")] = False,
    api: Annotated[str | None, typer.Option("--api", help="platform base URL, e.g. http://127.0.0.1:8000")] = None,
    token_stdin: Annotated[bool, typer.Option("--token-stdin", help="read the API bearer token from stdin")] = False,
    fail_first: Annotated[int, typer.Option("--fail-first", help="answer 503 to the first K signed requests")] = 0,
    delay_ms: Annotated[int, typer.Option("--delay-ms", help="answer each event this much later")] = 0,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Run a sandbox department system: verifies signatures, stores events once by id, can auto-decide."""
    from onething.delivery.sandbox import SandboxConfig, run_sandbox
    from onething.delivery.service import generate_secret
    from onething.logging import configure_logging

    if secret_stdin and secret:
        typer.echo("error: give --secret-stdin or --secret, not both", err=True)
        raise typer.Exit(2)
    if auto_decide and not (api and token_stdin):
        typer.echo("error: --auto-decide needs --api URL and --token-stdin", err=True)
        raise typer.Exit(2)
    if secret_stdin:
        secret = _read_line().strip()
    token = _read_line().strip() if token_stdin else None
    if not secret:
        secret = generate_secret()
        typer.echo(f"no secret given; generated one (configure the platform with it): {secret}")
    configure_logging("INFO")
    config = SandboxConfig(secret=secret, department=department, fail_first=fail_first, delay_ms=delay_ms,
                           auto_decide=auto_decide, api_url=api, token=token)
    typer.echo(f"sandbox department {department or '(any)'} listening on http://{host}:{port}/webhook "
               f"(GET /events, GET /stats)")
    run_sandbox(config, host, port)


def sandbox_sms_command(
    port: Annotated[int, typer.Option("--port", help="port to listen on (127.0.0.1)")],
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin")] = False,
    secret: Annotated[str | None, typer.Option("--secret", help="signing secret (visible in ps: demos only)")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Run a sandbox SMS gateway: verifies signatures, keeps each message once, sends nothing (GET /messages)."""
    from onething.delivery.sandbox_sms import run_sms_sandbox
    from onething.delivery.service import generate_secret
    from onething.logging import configure_logging

    if secret_stdin and secret:
        typer.echo("error: give --secret-stdin or --secret, not both", err=True)
        raise typer.Exit(2)
    if secret_stdin:
        secret = _read_line().strip()
    if not secret:
        secret = generate_secret()
        typer.echo(f"no secret given; generated one (set ONETHING_SMS_GATEWAY_SECRET to it): {secret}")
    configure_logging("INFO")
    typer.echo(f"sandbox SMS gateway listening on http://{host}:{port}/sms (GET /messages); "
               f"set ONETHING_SMS_GATEWAY_URL to that URL")
    run_sms_sandbox(secret, host, port)


def register(app: typer.Typer) -> None:
    app.add_typer(departments_app, name="departments")
    app.add_typer(outbox_app, name="outbox")
    app.command("worker")(worker_command)
    app.command("sandbox-department")(sandbox_department_command)
    app.command("sandbox-sms")(sandbox_sms_command)
