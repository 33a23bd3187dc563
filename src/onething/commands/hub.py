"""`onething hub …` (national platform reporting) and `onething sandbox-national-hub`.

- ``hub send [--once]``: send due records to ``ONETHING_NATIONAL_HUB_URL`` (``onething worker`` processes do
  not; ``onething serve`` on SQLite runs a sender thread beside its outbox worker when the hub is configured);
- ``hub list [--status rejected]``: records with the hub's answer — rejected ones with each reason;
- ``hub reconcile --date YYYY-MM-DD``: compare a day's records with the hub's listing, send missing ones again;
- ``hub reconciliations``: past runs.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from onething.commands.accounts import ActorOption, cli_actor

hub_app = typer.Typer(help="National platform (国家政务服务平台): 办件 and 好差评 records reported upward.",
                      no_args_is_help=True)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _settings_or_exit() -> Any:
    from onething.hub.settings import get_hub_settings

    settings = get_hub_settings()
    if not settings.enabled:
        typer.echo("error: set ONETHING_NATIONAL_HUB_URL and ONETHING_NATIONAL_HUB_SECRET", err=True)
        raise typer.Exit(2)
    return settings


@hub_app.command("send")
def send_command(
    once: Annotated[bool, typer.Option("--once", help="send what is due now, then exit")] = False,
    poll_seconds: Annotated[float | None, typer.Option("--poll-seconds", help="idle wait between looks")] = None,
) -> None:
    """Send records to the national hub until SIGTERM/SIGINT (or, with --once, until nothing is due)."""
    from onething.config import get_settings
    from onething.db import get_engine
    from onething.hub.sender import HubSender
    from onething.logging import configure_logging

    settings = _settings_or_exit()
    configure_logging(get_settings().log_level)
    sender = HubSender(get_engine(), settings)

    def stop(_signum: int, _frame: object) -> None:
        sender.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            rounds = sender.run(poll_seconds, until_idle=True, max_rounds=10_000)
            typer.echo(f"national hub sender: {rounds} round(s), nothing more due")
        else:
            sender.run(poll_seconds)
    finally:
        sender.close()


@hub_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="pending, retrying, dead, acknowledged, "
                                               "rejected")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Records for the national hub, newest first, with the hub's answer (a rejection's reasons)."""
    from onething.db import session_scope
    from onething.hub.reconcile import list_records

    try:
        with session_scope() as session:
            records = list_records(session, status=status, limit=limit)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        _print_json([vars(r) for r in records])
        return
    for r in records:
        typer.echo(f"{r.created_at.isoformat(timespec='seconds')} {r.record_id} {r.case_number or '-'} "
                   f"{r.summary} {r.status} attempts={r.attempts}")
        for problem in r.problems:
            typer.echo(f"    {problem.get('label') or problem.get('field')}: {problem.get('reason')}")
        if r.status in ("retrying", "dead") and r.last_error:
            typer.echo(f"    {r.last_error[:200]}")


@hub_app.command("reconcile")
def reconcile_command(
    day: Annotated[str, typer.Option("--date", help="the day (China time) to reconcile, YYYY-MM-DD")],
    actor: ActorOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare DAY's records with the national hub's listing; send the missing ones again; record the run."""
    from onething.db import get_engine
    from onething.hub.reconcile import HubListingError, reconcile

    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        typer.echo("error: --date must be YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    settings = _settings_or_exit()
    try:
        result = reconcile(get_engine(), wanted, actor=cli_actor(actor), now=datetime.now(UTC), settings=settings)
    except HubListingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        _print_json(result.to_json())
        return
    typer.echo(f"{wanted}: ours {result.ours}, at hub {result.at_hub}, matched {len(result.matched)}, "
               f"missing {len(result.missing)} (resent: {', '.join(sorted(set(result.resent.values()))) or '-'}), "
               f"confirmed {len(result.confirmed)}, pending {len(result.pending)}, unknown {len(result.unknown)}")


@hub_app.command("reconciliations")
def reconciliations_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Past reconciliation runs, newest first."""
    from onething.db import session_scope
    from onething.hub.reconcile import list_reconciliations

    with session_scope() as session:
        runs = [{"date": r.report_date.isoformat(), "run_at": r.run_at.isoformat(timespec="seconds"),
                 "ours": r.ours, "at_hub": r.at_hub, "missing": r.missing, "resent": r.resent}
                for r in list_reconciliations(session)]
    if as_json:
        _print_json(runs)
        return
    for run in runs:
        typer.echo(f"{run['date']} (run {run['run_at']}): ours {run['ours']}, at hub {run['at_hub']}, "
                   f"missing {run['missing']}, resent {run['resent']}")


def sandbox_hub_command(
    port: Annotated[int, typer.Option("--port", help="port to listen on")],
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="read the signing secret from stdin")] = False,
    secret: Annotated[str | None, typer.Option("--secret", help="signing secret (visible in ps: demos only)")] = None,
    fail_first: Annotated[int, typer.Option("--fail-first", help="answer 503 to the first K signed reports")] = 0,
    lose_first: Annotated[int, typer.Option("--lose-first", help="acknowledge, then forget, the first K "
                                            "valid records")] = 0,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Run a sandbox national hub: verifies signatures, validates records, acknowledges or rejects with
    reasons, and serves the daily reconciliation listing."""
    from onething.delivery.service import generate_secret
    from onething.hub.sandbox import HubConfig, run_hub
    from onething.logging import configure_logging

    if secret_stdin and secret:
        typer.echo("error: give --secret-stdin or --secret, not both", err=True)
        raise typer.Exit(2)
    if secret_stdin:
        secret = sys.stdin.readline().strip()
    if not secret:
        secret = generate_secret()
        typer.echo(f"no secret given; generated one (set ONETHING_NATIONAL_HUB_SECRET to it): {secret}")
    configure_logging("INFO")
    typer.echo(f"sandbox national hub listening on http://{host}:{port} "
               f"(POST /reports, GET /reconciliation?date=, GET /records, GET /stats)")
    run_hub(HubConfig(secret=secret, fail_first=fail_first, lose_first=lose_first), host, port)


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")
    app.command("sandbox-national-hub")(sandbox_hub_command)
