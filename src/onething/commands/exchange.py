"""`onething exchange …`, `onething audit …` and `onething sandbox-provider`.

- ``exchange stale``: directory changes not published within ``directory_publication_days`` working days
  (exit 1 when there are any, so that a scheduled job can alert).
- ``exchange publish --as NAME``: publish the pending directory changes as that operator / dept admin.
- ``audit verify``: recompute the chain in ``ONETHING_DATABASE_URL`` and hold it to the checkpoints; exit 0
  and the count when intact, exit 1 naming the first broken entry.
- ``audit checkpoint``: record the chain's head as a checkpoint now.
- ``sandbox-provider --port P --resource R --data FILE``: a holder's service for one resource (tests, demos).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

exchange_app = typer.Typer(help="Data-sharing exchange (数据共享): directory reports and publication.",
                           no_args_is_help=True)
audit_app = typer.Typer(help="The audit chain (审计链): verify and checkpoint.", no_args_is_help=True)


@exchange_app.command("stale")
def exchange_stale(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Directory changes not published within the working-day limit (政务数据共享条例)."""
    from onething.catalog.service import active_catalog
    from onething.config import get_settings
    from onething.db import get_engine, session_scope
    from onething.exchange.directory import pending_changes

    engine = get_engine()
    _, catalog = active_catalog(engine)
    limit = get_settings().directory_publication_days
    with session_scope(engine) as session:
        changes = pending_changes(session, catalog, datetime.now(UTC), limit)
    overdue = [c for c in changes if c.overdue]
    if as_json:
        sys.stdout.write(json.dumps([{"resource": c.resource, "change": c.change,
                                      "changed_at": c.changed_at.isoformat(), "due": c.due.isoformat(),
                                      "overdue": c.overdue} for c in changes], ensure_ascii=False, indent=2) + "\n")
    else:
        for change in changes:
            state = "OVERDUE" if change.overdue else "pending"
            typer.echo(f"{state}  {change.resource}  {change.change}  changed {change.changed_at:%Y-%m-%d}  "
                       f"publish by {change.due.isoformat()}")
        typer.echo(f"{len(overdue)} overdue, {len(changes) - len(overdue)} pending directory change(s); "
                   f"limit {limit} working days")
    if overdue:
        raise typer.Exit(1)


@exchange_app.command("publish")
def exchange_publish(
    user: Annotated[str, typer.Option("--as", help="the operator or department administrator publishing")],
    resource: Annotated[list[str] | None, typer.Option("--resource", help="only these resources")] = None,
) -> None:
    """Publish the pending directory changes (目录发布), dated now."""
    from onething.accounts.errors import AccountsError
    from onething.accounts.service import actor_for_user
    from onething.catalog.service import active_catalog
    from onething.db import get_engine, session_scope
    from onething.exchange.directory import publish_directory

    engine = get_engine()
    _, catalog = active_catalog(engine)
    try:
        with session_scope(engine) as session:
            actor = actor_for_user(session, user)
            rows = publish_directory(session, actor, catalog, datetime.now(UTC), resource or None)
            names = [row.resource for row in rows]
    except AccountsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"published {len(names)} directory change(s): {', '.join(names) or '—'}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain and check every checkpoint; exit 1 naming the first broken entry."""
    from onething.audit.checkpoints import verify_chain
    from onething.db import session_scope

    with session_scope() as session:
        result = verify_chain(session)
    if result.intact:
        from onething.audit.tree import check_tree

        with session_scope() as session:
            problem = check_tree(session)
        if problem is not None:
            where = "" if problem.entry_id is None else f" at entry {problem.entry_id}"
            typer.echo(f"audit tree BROKEN{where}: {problem.message}", err=True)
            if problem.entry_id is not None:
                typer.echo(f"broken entry: {problem.entry_id}")
            raise typer.Exit(1)
        typer.echo(f"audit chain intact: {result.count} entries, {result.checkpoints} checkpoints; "
                   "Merkle tree matches the latest signed checkpoint")
        return
    typer.echo(f"audit chain BROKEN at entry {result.broken_id}: {result.problem} "
               f"({result.count} entries read)", err=True)
    typer.echo(f"broken entry: {result.broken_id}")
    raise typer.Exit(1)


@audit_app.command("sequence")
def audit_sequence(
    once: Annotated[bool, typer.Option("--once", help="one round, then exit")] = False,
) -> None:
    """Run the audit sequencer (ADR 021): integrate new entries into the Merkle tree and sign a checkpoint
    every ONETHING_AUDIT_SEQUENCE_INTERVAL seconds; only one sequencer integrates at a time."""
    import signal

    from onething.audit.tree import Sequencer
    from onething.config import get_settings
    from onething.db import get_engine

    settings = get_settings()
    sequencer = Sequencer(get_engine(), interval=settings.audit_sequence_interval,
                          witness_file=settings.audit_witness_file)
    if once:
        done = sequencer.run_once()
        typer.echo(f"audit sequencer: {done.integrated} integrated, tree size {done.tree_size}"
                   + ("" if done.elected else " (another sequencer holds the lock)"))
        return
    signal.signal(signal.SIGTERM, lambda *_: sequencer.stop())
    try:
        sequencer.run()
    except KeyboardInterrupt:
        sequencer.stop()


@audit_app.command("witness")
def audit_witness(
    file: Annotated[Path, typer.Option("--file", help="a mirrored witness file of checkpoint notes")],
) -> None:
    """Check a mirrored witness file: signatures, and consistency between successive checkpoints; exit 1 on
    a fork or any other problem."""
    from onething.audit.tree import check_witness
    from onething.db import session_scope

    with session_scope() as session:
        report = check_witness(session, file.read_text("utf-8"))
    if report.problem is not None:
        typer.echo(f"witness: {report.problem} ({report.checked} checkpoint(s) consistent before it)", err=True)
        raise typer.Exit(1)
    typer.echo(f"witness: {report.checked} checkpoint(s), each consistent with the one before")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Record the chain's current head as a checkpoint (publish its hash off-site)."""
    from onething.audit.checkpoints import create_checkpoint
    from onething.db import session_scope

    with session_scope() as session:
        checkpoint = create_checkpoint(session, datetime.now(UTC))
        line = (f"checkpoint {checkpoint.id}: entry {checkpoint.last_id}, {checkpoint.count} entries, "
                f"hash {checkpoint.hash}" if checkpoint else "no new entries since the last checkpoint")
    typer.echo(line)


def sandbox_provider(
    port: Annotated[int, typer.Option("--port", help="port to listen on")],
    resource: Annotated[str, typer.Option("--resource", help="the data resource served, e.g. household_registration")],
    data: Annotated[Path, typer.Option("--data", help="JSON or SQLite file of records by subject")],
    secret: Annotated[str, typer.Option(
        "--secret", envvar="ONETHING_PROVIDER_SECRET",
        help="the secret the platform signs queries with (its ONETHING_EXCHANGE_PROVIDER_SECRETS entry); "
             "prefer the environment variable, which stays out of the process list")] = "",
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Serve one data resource like a holder's own system (HttpProvider protocol) until interrupted.

    Queries must be signed with the shared secret; unsigned, wrongly signed or stale ones get 401.
    """
    from onething.exchange.sandbox import SandboxServer, load_records

    if not secret:
        typer.echo("error: set ONETHING_PROVIDER_SECRET (or --secret): the sandbox answers signed queries only",
                   err=True)
        raise typer.Exit(2)
    records = load_records(data)
    server = SandboxServer(port, resource, records, secret=secret, host=host)
    typer.echo(f"sandbox provider for {resource} ({len(records)} records) on {server.url}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.add_typer(exchange_app, name="exchange")
    app.add_typer(audit_app, name="audit")
    app.command("sandbox-provider")(sandbox_provider)
