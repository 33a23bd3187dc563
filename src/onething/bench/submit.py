"""``onething bench submit``: real HTTP submissions (一次提交) against a running server, and the raw ceiling.

N clients (asyncio tasks sharing one httpx connection pool, one keep-alive connection each) post
``POST /api/v1/applications`` with a fresh ``Idempotency-Key`` each time, as bench applicants made through the
accounts service, for ``duration`` seconds after a short warm-up. Every response is timed from just before
the request is sent to the end of its body: the acknowledgement latency an applicant sees.

Without ``--url`` the bench starts ``onething serve`` itself (``servers`` processes on free 127.0.0.1 ports)
against a throwaway database, with ``ONETHING_SUBMIT_RATE_PER_MINUTE`` raised for the run: every bench
client shares the address 127.0.0.1, and the per-address limit (30 a minute) would otherwise answer 429
after the first second. The limiter still counts every request, so its cost stays in the figures.

The ceiling: after the HTTP run (servers stopped) the rows one real submission wrote — its application,
tasks, outbox events and audit entries — are copied with fresh ids, SQLAlchemy Core and no HTTP, planning,
validation or ORM, one transaction per copy in a tight loop in this process, the audit entries hashed onto
the chain and the chain's head moved as ``audit.append`` does. ``ratio`` is achieved / ceiling throughput.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import Engine, insert, select, update

from onething import db
from onething.bench.common import (
    backend_of,
    latency_summary,
    machine,
    prepared_database,
    resident_id,
    safe_url,
    table_of,
)

THING = "open-restaurant"
RATE_LIMIT_FOR_RUN = 1_000_000_000   # per minute: never reached, but still counted
MAX_REQUESTS = 5_000_000             # a hard bound on any run, whatever its duration
MAX_CLIENTS = 1000


@dataclass
class Phase:
    """What the clients saw in one timed phase."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float | None = None   # CPU seconds the server processes used during the phase
    client_cpu: float = 0.0           # CPU seconds this (client) process used during the phase


def submission_form() -> dict[str, Any]:
    """A valid merged form for the bench thing with no answers (the demo's made-up values)."""
    from onething.cases.demo import BY_TYPE, VALUES
    from onething.catalog.service import load_valid_catalog
    from onething.config import get_settings
    from onething.intake import plan as make_plan

    catalog = load_valid_catalog(get_settings().resolved_catalog_dir())
    fields = make_plan(catalog, THING, {}).form.fields
    return {f.id: VALUES.get(f.id, f.choices[0].value if f.type == "choice" else BY_TYPE.get(f.type, "示例"))
            for f in fields}


def make_applicants(engine: Engine, count: int, run: str) -> list[str]:
    """``count`` applicants with fictional resident IDs and a bearer token each, through the accounts service."""
    from onething.accounts.api import SYSTEM, create_user, issue_token
    from onething.bench.common import utcnow

    now = utcnow()
    names = [f"bench-{run}-{i}" for i in range(count)]
    # A run id keeps names apart in a database that is reused (``--database sqlite:///file``, ``--url``).
    base = int(run, 16) % 30_000 * 1000
    with db.session_scope(engine) as session:
        for i, name in enumerate(names):
            create_user(session, name=name, role="applicant", id_number=resident_id(base + i), now=now)
    with db.session_scope(engine) as session:
        return [issue_token(session, SYSTEM, user_name=name, now=now) for name in names]


# --- the server -----------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux ``/proc``); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def served(database_url: str, *, extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[Server]:
    """``onething serve`` as a subprocess on a free 127.0.0.1 port, until the block ends."""
    port = _free_port()
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url,
           "ONETHING_SUBMIT_RATE_PER_MINUTE": str(RATE_LIMIT_FOR_RUN), "ONETHING_LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    # The log goes to a file, not a pipe: a chatty server must never block on a full pipe.
    with tempfile.TemporaryFile() as log:
        command = [sys.executable, "-m", "onething", "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603 - our own CLI
        try:
            yield Server(_await_health(process, log, f"http://127.0.0.1:{port}", timeout), process.pid)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)


def _await_health(process: subprocess.Popen[bytes], log: IO[bytes], url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log.seek(0)
            stderr = log.read().decode(errors="replace")
            raise RuntimeError(f"onething serve exited with {process.returncode}:\n{stderr[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"onething serve did not answer on {url} within {timeout} s")
        time.sleep(0.1)


# --- the clients ----------------------------------------------------------------------------------------


async def _client(http: httpx.AsyncClient, url: str, token: str, body: dict[str, Any], deadline: float,
                  budget: list[int], phase: Phase) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        headers["Idempotency-Key"] = f"bench-{uuid.uuid4().hex}"
        started = time.perf_counter()
        try:
            response = await http.post(url + "/api/v1/applications", json=body, headers=headers)
        except httpx.HTTPError as exc:
            phase.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.05)  # a refused connection must not spin
            continue
        if response.status_code == 201:
            phase.latencies.append(time.perf_counter() - started)
            if len(phase.created) < 10:
                phase.created.append(response.json()["id"])
        else:
            phase.errors[str(response.status_code)] += 1


def _servers_cpu(pids: list[int]) -> float | None:
    readings = [cpu_seconds(pid) for pid in pids]
    return None if not pids or None in readings else sum(r for r in readings if r is not None)


async def _drive(urls: list[str], tokens: list[str], body: dict[str, Any], clients: int, warmup: float,
                 duration: float, pids: list[int]) -> Phase:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        warm = Phase()
        deadline = time.perf_counter() + warmup
        await asyncio.gather(*(_client(http, urls[i % len(urls)], tokens[i % len(tokens)], body, deadline,
                                       [MAX_REQUESTS], warm) for i in range(clients)))
        phase = Phase()
        budget = [MAX_REQUESTS]
        server_cpu, client_cpu = _servers_cpu(pids), time.process_time()
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(_client(http, urls[i % len(urls)], tokens[i % len(tokens)], body, deadline,
                                       budget, phase) for i in range(clients)))
        phase.elapsed = time.perf_counter() - started
        after = _servers_cpu(pids)
        phase.server_cpu = after - server_cpu if after is not None and server_cpu is not None else None
        phase.client_cpu = time.process_time() - client_cpu
        phase.created = phase.created or warm.created
        return phase


# --- the ceiling ----------------------------------------------------------------------------------------


def _template(engine: Engine, application_id: str) -> dict[str, list[dict[str, Any]]]:
    """The rows one submission wrote, as plain dicts (Core, in insertion order)."""
    from onething.audit.tables import AuditEntry
    from onething.cases.tables import ApplicationRow, OutboxEvent, TaskRow

    tables = {"applications": (table_of(ApplicationRow), table_of(ApplicationRow).c.id),
              "tasks": (table_of(TaskRow), table_of(TaskRow).c.application_id),
              "outbox_events": (table_of(OutboxEvent), table_of(OutboxEvent).c.application_id),
              "audit_entries": (table_of(AuditEntry), table_of(AuditEntry).c.application_id)}
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(
            select(table).where(key == application_id).order_by(*table.primary_key.columns))]
            for name, (table, key) in tables.items()}


def raw_ceiling(engine: Engine, application_id: str, seconds: float) -> dict[str, Any]:
    """Copy one submission's rows as fast as one process can, for ``seconds``; submissions per second."""
    import secrets

    from onething.audit.chain import FORMAT, TREE_FORMAT
    from onething.audit.service import HEAD_ID, append_format, entry_digest
    from onething.audit.tables import AuditEntry, AuditHead
    from onething.cases.numbers import format_number
    from onething.cases.tables import ApplicationNumberRow, ApplicationRow, OutboxEvent, TaskRow

    rows = _template(engine, application_id)
    numbers = table_of(ApplicationNumberRow)
    applications, tasks, events, audits = (table_of(ApplicationRow), table_of(TaskRow), table_of(OutboxEvent),
                                           table_of(AuditEntry))
    head_table = table_of(AuditHead)
    unchained = append_format() == TREE_FORMAT
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline and count < MAX_REQUESTS:
        ids = {application_id: str(uuid.uuid4())}
        ids.update({t["id"]: str(uuid.uuid4()) for t in rows["tasks"]})
        new_app = {**rows["applications"][0], "id": ids[application_id],
                   "idempotency_key": f"ceiling-{uuid.uuid4().hex}"}
        new_tasks = [{**t, "id": ids[t["id"]], "application_id": new_app["id"]} for t in rows["tasks"]]
        new_events = [{k: v for k, v in {**e, "event_id": str(uuid.uuid4()), "application_id": new_app["id"]}.items()
                       if k != "id"} for e in rows["outbox_events"]]
        with engine.begin() as conn:
            # A 办件编号 of its own, issued as the service issues one (a row of its own, no counter).
            sequence = conn.execute(insert(numbers).returning(numbers.c.id)).scalar_one()
            new_app["number"] = format_number(None, new_app["submitted_at"], sequence)
            conn.execute(insert(applications), [new_app])
            conn.execute(insert(tasks), new_tasks)
            conn.execute(insert(events), new_events)
            if unchained:  # as the service writes them by default (ADR 021): salted, no head row
                for entry in rows["audit_entries"]:
                    values = {k: v for k, v in entry.items() if k not in ("id", "prev_hash", "hash")}
                    values["hash_format"] = TREE_FORMAT
                    values["application_id"] = new_app["id"]
                    values["subject_id"] = ids.get(values["subject_id"], values["subject_id"])
                    salt = secrets.token_hex(32)
                    conn.execute(insert(audits), {**values, "prev_hash": salt,
                                                  "hash": entry_digest(values, salt, TREE_FORMAT)})
                count += 1
                continue
            head = conn.execute(select(head_table.c.count, head_table.c.last_hash)
                                .where(head_table.c.id == HEAD_ID).with_for_update()).one()
            total, previous = int(head[0]), str(head[1])
            last_id = None
            for entry in rows["audit_entries"]:
                values = {k: v for k, v in entry.items() if k not in ("id", "prev_hash", "hash")}
                values["hash_format"] = FORMAT
                values["application_id"] = new_app["id"]
                values["subject_id"] = ids.get(values["subject_id"], values["subject_id"])
                digest = entry_digest(values, previous, FORMAT)
                last_id = conn.execute(insert(audits).returning(audits.c.id),
                                       {**values, "prev_hash": previous, "hash": digest}).scalar_one()
                previous, total = digest, total + 1
            conn.execute(update(head_table).where(head_table.c.id == HEAD_ID)
                         .values(count=total, last_id=last_id, last_hash=previous))
        count += 1
    elapsed = time.perf_counter() - started
    return {"submissions": count, "seconds": round(elapsed, 3),
            "throughput_per_s": round(count / elapsed, 1) if elapsed else 0.0,
            "rows_per_submission": {name: len(value) for name, value in rows.items()}}


# --- the bench ------------------------------------------------------------------------------------------


def run_submit(*, clients: int, duration: float, database: str | None = None, url: str | None = None,
               servers: int = 1, warmup: float = 1.0, ceiling_seconds: float | None = None,
               applicants: int | None = None, verify: bool = True) -> dict[str, Any]:
    """Drive ``clients`` concurrent submitters for ``duration`` seconds; then measure the raw ceiling."""
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be 1–{MAX_CLIENTS}")
    if not 0 < duration <= 3600:
        raise ValueError("duration must be within (0, 3600] seconds")
    if url is not None and database is None:
        raise ValueError("--url needs --database: the bench makes its applicants in the server's database")
    if url is not None and not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the bench only talks to 127.0.0.1")
    run = uuid.uuid4().hex[:8]
    body = {"thing": THING, "answers": {}, "form": submission_form()}
    reuse = url is not None
    with ExitStack() as stack:
        if reuse:
            assert database is not None
            engine = db.make_engine(database)
            stack.callback(engine.dispose)
            database_url = database
        else:
            database_url, engine = stack.enter_context(prepared_database(database))
        tokens = make_applicants(engine, applicants or clients, run)
        with ExitStack() as serving:
            started = [] if url is not None else [serving.enter_context(served(database_url))
                                                  for _ in range(max(1, servers))]
            urls = [url] if url is not None else [server.url for server in started]
            phase = asyncio.run(_drive(urls, tokens, body, clients, warmup, duration,
                                       [server.pid for server in started]))
        if not phase.created:
            raise RuntimeError(f"no submission succeeded; errors: {dict(phase.errors)}")
        ceiling = raw_ceiling(engine, phase.created[0], ceiling_seconds or min(duration, 10.0))
        intact = None
        if verify:
            from onething.audit.service import verify as verify_chain

            with db.session_scope(engine) as session:
                intact = verify_chain(session)[1] is None
    achieved = len(phase.latencies) / phase.elapsed if phase.elapsed else 0.0
    return {
        "bench": "submit", "backend": backend_of(database_url), "database": safe_url(database_url),
        "server": url or f"{len(urls)} × onething serve (subprocess)", "clients": clients,
        "duration_s": round(phase.elapsed, 3), "thing": THING,
        "rate_limit_per_minute": None if reuse else RATE_LIMIT_FOR_RUN,
        "submissions": len(phase.latencies), "errors": dict(phase.errors),
        "error_count": sum(phase.errors.values()), "throughput_per_s": round(achieved, 1),
        "latency": latency_summary(phase.latencies), "ceiling": ceiling,
        "ratio": round(achieved / ceiling["throughput_per_s"], 3) if ceiling["throughput_per_s"] else None,
        "chain_intact": intact, "machine": machine(),
        # Where the CPU went: per acknowledged submission, in the server processes and in the clients.
        "server_cpu_ms_per_submission": _per(phase.server_cpu, len(phase.latencies)),
        "client_cpu_ms_per_submission": _per(phase.client_cpu, len(phase.latencies)),
        "server_cpu_cores_busy": round(phase.server_cpu / phase.elapsed, 2)
        if phase.server_cpu is not None and phase.elapsed else None,
    }


def _per(cpu: float | None, count: int) -> float | None:
    return round(cpu * 1000 / count, 2) if cpu is not None and count else None
