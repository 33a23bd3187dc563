"""`onething bench submit|audit|fetch`: the speed figures of issues 4 and 5 (see ``onething.bench``).

Each command builds a throwaway database (SQLite in a temporary folder by default; a ``postgresql…`` URL
names a server on which a fresh database is created and dropped), prints a human summary, or the figures as
one JSON object with ``--json``. Figures are only comparable within one run on one machine: read the ratios.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

bench_app = typer.Typer(help="Benchmarks: submission over HTTP, the audit chain, the checked fetch.",
                        no_args_is_help=True)

DatabaseOption = Annotated[str | None, typer.Option(
    "--database", help="SQLAlchemy URL: sqlite:///file, or a PostgreSQL server on which a fresh database is made "
                       "and dropped (default: a SQLite file in a temporary folder)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the figures as one JSON object")]


def _emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return
    for line in lines:
        typer.echo(line)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1) from None


def _latency(figures: dict[str, float]) -> str:
    return (f"p50 {figures['p50_ms']:.1f} ms · p95 {figures['p95_ms']:.1f} ms · p99 {figures['p99_ms']:.1f} ms · "
            f"max {figures['max_ms']:.1f} ms")


@bench_app.command("submit")
def bench_submit(
    clients: Annotated[int, typer.Option("--clients", help="concurrent HTTP clients")] = 10,
    duration: Annotated[float, typer.Option("--duration", help="seconds of timed submissions")] = 10.0,
    database: DatabaseOption = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="a running server (127.0.0.1) on --database; its submit rate limit must be raised")] = None,
    servers: Annotated[int, typer.Option("--servers", help="onething serve processes to start (no --url)")] = 1,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="worker processes of each server (default: one per CPU, as `onething serve`)")] = None,
    warmup: Annotated[float, typer.Option("--warmup", help="untimed seconds before the run")] = 1.0,
    ceiling_seconds: Annotated[float | None, typer.Option(
        "--ceiling-seconds", help="seconds of raw inserts (default: the duration, at most 10)")] = None,
    reference: Annotated[bool, typer.Option(
        "--reference/--no-reference", help="also measure the bare reference app (benchmarks/reference_app.py)")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Real HTTP submissions by N clients against onething and then against the bare reference app in the same
    run: throughput, p50/p95/p99, errors, CPU per submission, the ratios; and the raw ceiling (concurrent
    inserts, no HTTP)."""
    from onething.bench.submit import run_submit

    try:
        result = run_submit(clients=clients, duration=duration, database=database, url=url, servers=servers,
                            workers=workers, warmup=warmup, ceiling_seconds=ceiling_seconds, reference=reference)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        _fail(exc)
        return
    ceiling = result["ceiling"]
    _emit(result, as_json, [
        f"submit on {result['backend']} ({result['database']}), {result['clients']} clients, "
        f"{result['duration_s']:.1f} s, server: {result['server']}",
        f"  {result['submissions']} submissions, {result['throughput_per_s']:.1f}/s · {_latency(result['latency'])}",
        f"  errors: {result['error_count']} {result['errors'] or ''} · CPU per submission: server "
        f"{result['server_cpu_ms_per_submission']} ms ({result['server_cpu_cores_busy']} cores busy), clients "
        f"{result['client_cpu_ms_per_submission']} ms",
        *_reference_lines(result),
        f"  raw ceiling: {ceiling['throughput_per_s']:.1f}/s ({ceiling['threads']} connections, "
        f"{ceiling['submissions']} copies of {ceiling['rows_per_copy']}) → ratio {result['ratio']}",
        f"  audit chain intact: {result['chain_intact']}",
    ])


def _reference_lines(result: dict[str, Any]) -> list[str]:
    bare = result.get("reference")
    if bare is None:
        return []
    ratios = result["vs_reference"]
    return [f"  reference app: {bare['throughput_per_s']:.1f}/s · {_latency(bare['latency'])} · server CPU "
            f"{bare['server_cpu_ms_per_submission']} ms/submission · errors {bare['errors'] or 0}",
            f"  onething ÷ reference: throughput {ratios['throughput']} · p99 {ratios['p99']} · server CPU "
            f"{ratios['server_cpu']}"]


@bench_app.command("case")
def bench_case(
    cases: Annotated[int, typer.Option("--cases", help="whole cases to run")] = 200,
    threads: Annotated[int, typer.Option("--threads", help="cases run concurrently (1: one after another)")] = 1,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Whole cases through the services: submitted, then every task accepted and approved to completion, each
    step committed; completed cases per second."""
    from onething.bench.case import run_case

    try:
        result = run_case(cases=cases, threads=threads, database=database)
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
        return
    _emit(result, as_json, [
        f"case on {result['backend']} ({result['database']}), {result['thing']}, {result['threads']} threads",
        f"  {result['cases']} cases {result['statuses']} in {result['seconds']:.1f} s: "
        f"{result['cases_per_s']:.1f} cases/s, {result['decisions_per_s']:.1f} decisions/s",
        f"  per case: {_latency(result['case_latency'])}",
    ])


@bench_app.command("audit")
def bench_audit(
    entries: Annotated[int, typer.Option("--entries", help="entries to append, then verify")] = 100_000,
    batch: Annotated[int, typer.Option("--batch", help="entries appended per transaction")] = 500,
    service_entries: Annotated[int, typer.Option(
        "--service-entries", help="entries appended through the audit service; the rest are seeded raw")] = 20_000,
    hash_format: Annotated[int | None, typer.Option(
        "--hash-format", help="write the chain in this hash format (1: as before migration 0007); default current")
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Append rate through the audit service; verify and verify_chain time over the whole chain."""
    from onething.bench.audit import run_audit

    try:
        result = run_audit(entries=entries, database=database, batch=batch, service_entries=service_entries,
                           hash_format=hash_format)
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
        return
    _emit(result, as_json, [
        f"audit on {result['backend']} ({result['database']}), {result['entries']} entries, "
        f"hash format {result['hash_format']}",
        f"  append through the service: {result['append_per_s']:.0f} entries/s ({result['service_entries']} entries, "
        f"{result['batch']} per transaction) · seeded raw: {result['seeded_entries']} "
        f"in {result['seed_seconds']:.1f} s",
        f"  verify: {result['verify_seconds']:.2f} s ({result['verify_per_s']:.0f} entries/s) · verify_chain with "
        f"{result['checkpoints']} checkpoints: {result['verify_chain_seconds']:.2f} s · intact: {result['intact']}",
        *([f"  after VACUUM (ANALYZE) ({result['vacuum_seconds']:.1f} s): verify_chain "
           f"{result['verify_chain_vacuumed_seconds']:.2f} s"] if "verify_chain_vacuumed_seconds" in result else []),
    ])


@bench_app.command("fetch")
def bench_fetch(
    fetches: Annotated[int, typer.Option("--fetches", help="checked fetches, one after another")] = 2000,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Checked fetches per second and their p50/p95 (grant + consent + purpose + scope, built-in provider)."""
    from onething.bench.fetch import run_fetch

    try:
        result = run_fetch(fetches=fetches, database=database)
    except (ValueError, RuntimeError, LookupError) as exc:
        _fail(exc)
        return
    _emit(result, as_json, [
        f"fetch on {result['backend']} ({result['database']}): {result['resource']} for {result['purpose']} "
        f"by {result['consumer']}",
        f"  {result['fetches']} fetches, {result['fetches_per_s']:.0f}/s · {_latency(result['latency'])}",
    ])


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


@bench_app.command("catalog")
def bench_catalog(
    things: Annotated[int, typer.Option("--things", help="things to generate")] = 1000,
    procedures: Annotated[int, typer.Option("--procedures", help="procedures to generate (at least 40)")] = 5000,
    plans: Annotated[int, typer.Option("--plans", help="timed plans of the 40-procedure thing")] = 2000,
    as_json: JsonOption = False,
) -> None:
    """A generated province-scale catalog (two region layers): load + validate time (target < 3 s) and the
    plan of a 40-procedure thing in the city (target p95 < 2 ms)."""
    from onething.bench.catalog import run_catalog

    result = run_catalog(things=things, procedures=procedures, plans=plans)
    sizes = result["sizes"]
    _emit(result, as_json, [
        f"catalog: {sizes['things']} things, {sizes['procedures']} procedures, {sizes['regions']} region layers "
        f"({sizes['overridden_things']} things overridden) — {'valid' if result['valid'] else 'INVALID'}",
        f"load + validate: {result['load_validate_s']:.2f} s (target < {result['load_validate_target_s']:.0f} s); "
        f"the garbage collection it deferred: {result['deferred_collection_s']:.2f} s",
        f"plan of a {result['plan_procedures']}-procedure thing in the city ({result['plans']} runs): "
        f"{_latency(result['plan'])} (target p95 < {result['plan_p95_target_ms']:.0f} ms)",
        f"  its CPU time (the same plans, the host's other processes left out): {_latency(result['plan_cpu'])}",
    ])
    if not result["valid"]:
        for line in result["errors"]:
            typer.echo(line, err=True)
        raise typer.Exit(1)
