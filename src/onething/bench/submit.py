"""``onething bench submit``: real HTTP submissions (一次提交) against a running server, and the raw ceiling.

N clients (asyncio tasks sharing one httpx connection pool, one keep-alive connection each) post
``POST /api/v1/applications`` with a fresh ``Idempotency-Key`` each time, as bench applicants made through the
accounts service, for ``duration`` seconds after a short warm-up. Every response is timed from just before
the request is sent to the end of its body: the acknowledgement latency an applicant sees.

Without ``--url`` the bench starts ``onething serve --workers W`` itself — as production runs it, W worker
processes on one socket (default: one per CPU); ``servers`` such servers on free 127.0.0.1 ports — against a
throwaway database, with ``ONETHING_SUBMIT_RATE_PER_MINUTE`` raised for the run: every bench
client shares the address 127.0.0.1, and the per-address limit (30 a minute) would otherwise answer 429
after the first second. The limiter still counts every request, so its cost stays in the figures.

Then, in the same run and on the same database, the same clients post the same bodies to the bare reference
app (``benchmarks/reference_app.py``: FastAPI + SQLAlchemy Core inserting the application, its tasks, its
outbox events and one audit row copied from a real submission; no auth, plan, validation or ORM), served by
uvicorn with the same W workers. ``reference`` holds its figures and ``vs_reference`` onething's ratios to them
(throughput: onething / reference, higher is better; p99: onething / reference, lower is better).

The ceiling: with every server stopped, the reference app's insert (the same function) runs in
``ceiling_threads`` threads of this process, each on its own connection, one transaction per copy — the
database's concurrent capacity for these rows with no HTTP at all. ``ratio`` is achieved / ceiling throughput.
The audit chain of the service's entries is verified before any copy is written (``chain_intact``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import httpx
from sqlalchemy import Engine

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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes), from ``/proc``; just ``[pid]`` elsewhere."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


@contextmanager
def served(database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None,
           timeout: float = 60.0) -> Iterator[Server]:
    """``onething serve --workers W`` as a subprocess on a free 127.0.0.1 port, until the block ends."""
    port = _free_port()
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url,
           "ONETHING_SUBMIT_RATE_PER_MINUTE": str(RATE_LIMIT_FOR_RUN), "ONETHING_LOG_LEVEL": "WARNING",
           # A throwaway database: a key of its own unless the operator gave one.
           "ONETHING_SECRET_KEY": os.environ.get("ONETHING_SECRET_KEY") or secrets.token_urlsafe(48),
           **(extra_env or {})}
    command = [sys.executable, "-m", "onething", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
    with _subprocess(command, env, f"http://127.0.0.1:{port}", timeout) as server:
        yield server


REFERENCE_APP = Path(__file__).resolve().parents[3] / "benchmarks" / "reference_app.py"


def reference_module() -> ModuleType:
    """``benchmarks/reference_app.py`` (shipped in the repository, not in the package)."""
    spec = importlib.util.spec_from_file_location("onething_reference_app", REFERENCE_APP)
    if spec is None or spec.loader is None or not REFERENCE_APP.exists():
        raise RuntimeError(f"the reference app is not at {REFERENCE_APP}: run the bench from a checkout")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@contextmanager
def reference_served(database_url: str, template: str, *, workers: int = 1,
                     timeout: float = 60.0) -> Iterator[Server]:
    """The bare reference app with ``workers`` processes on a free port, copying application ``template``."""
    port = _free_port()
    command = [sys.executable, str(REFERENCE_APP), "--database", database_url, "--template", template,
               "--port", str(port), "--workers", str(workers)]
    with _subprocess(command, dict(os.environ), f"http://127.0.0.1:{port}", timeout) as server:
        yield server


@contextmanager
def _subprocess(command: list[str], env: dict[str, str], url: str, timeout: float) -> Iterator[Server]:
    # The log goes to a file, not a pipe: a chatty server must never block on a full pipe.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603 - ours
        try:
            yield Server(_await_health(process, log, url, timeout), process.pid)
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
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{stderr[-2000:]}")
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
    readings = [cpu_seconds(child) for pid in pids for child in process_tree(pid)]
    return None if not pids or None in readings else sum(r for r in readings if r is not None)


async def _drive(urls: list[str], tokens: list[str], body: dict[str, Any], clients: int, warmup: float,
                 duration: float, pids: list[int]) -> Phase:
    # Idle connections are dropped after 2 s, before the server's 5 s keep-alive closes them: otherwise a client
    # idle between the warm-up and the timed phase races the server's close and counts a ReadError.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
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


def rows_of(engine: Engine, application_id: str) -> dict[str, int]:
    """How many rows of each kind one submission wrote."""
    from sqlalchemy import func, select

    from onething.audit.tables import AuditEntry
    from onething.cases.tables import ApplicationRow, OutboxEvent, TaskRow

    keys = {"applications": table_of(ApplicationRow).c.id, "tasks": table_of(TaskRow).c.application_id,
            "outbox_events": table_of(OutboxEvent).c.application_id,
            "audit_entries": table_of(AuditEntry).c.application_id}
    with engine.connect() as conn:
        return {name: int(conn.scalar(select(func.count()).where(key == application_id)) or 0)
                for name, key in keys.items()}


def raw_ceiling(database_url: str, application_id: str, seconds: float, threads: int) -> dict[str, Any]:
    """The reference app's insert in ``threads`` threads, each on its own connection, for ``seconds``."""
    reference = reference_module()
    engine = reference._engine(database_url)
    template = reference.load_template(engine, application_id)
    counts = [0] * threads
    failures: list[str] = []
    stop = time.perf_counter() + seconds

    def copy(slot: int) -> None:
        try:
            while time.perf_counter() < stop and sum(counts) < MAX_REQUESTS:
                with engine.begin() as conn:
                    reference.copy_submission(conn, template)
                counts[slot] += 1
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}"[:200])

    workers = [threading.Thread(target=copy, args=(i,), daemon=True) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    engine.dispose()
    count = sum(counts)
    return {"submissions": count, "seconds": round(elapsed, 3), "threads": threads, "errors": failures[:3],
            "throughput_per_s": round(count / elapsed, 1) if elapsed else 0.0,
            "rows_per_copy": {name: len(rows) for name, rows in template.rows.items()}}


# --- the bench ------------------------------------------------------------------------------------------


def run_submit(*, clients: int, duration: float, database: str | None = None, url: str | None = None,
               servers: int = 1, workers: int | None = None, warmup: float = 1.0,
               ceiling_seconds: float | None = None, applicants: int | None = None, verify: bool = True,
               reference: bool = True, ceiling_threads: int | None = None) -> dict[str, Any]:
    """Drive ``clients`` concurrent submitters for ``duration`` seconds against onething, then against the
    bare reference app; then measure the raw ceiling."""
    from onething.config import get_settings
    from onething.web.server import default_workers

    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be 1–{MAX_CLIENTS}")
    if not 0 < duration <= 3600:
        raise ValueError("duration must be within (0, 3600] seconds")
    if url is not None and database is None:
        raise ValueError("--url needs --database: the bench makes its applicants in the server's database")
    if url is not None and not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the bench only talks to 127.0.0.1")
    if workers is not None and not 1 <= workers <= 64:
        raise ValueError("workers must be 1–64")
    workers = workers or default_workers(get_settings().model_copy(update={"demo": False}))
    threads = ceiling_threads or min(clients, 16)
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
            started = [] if url is not None else [serving.enter_context(served(database_url, workers=workers))
                                                  for _ in range(max(1, servers))]
            urls = [url] if url is not None else [server.url for server in started]
            phase = asyncio.run(_drive(urls, tokens, body, clients, warmup, duration,
                                       [server.pid for server in started]))
        if not phase.created:
            raise RuntimeError(f"no submission succeeded; errors: {dict(phase.errors)}")
        intact = None
        if verify:   # before any copy is written: the copies carry no chain
            from onething.audit.service import verify as verify_chain

            with db.session_scope(engine) as session:
                intact = verify_chain(session)[1] is None
        template = phase.created[0]
        bare = None
        if reference:
            with ExitStack() as serving:
                started_ref = [serving.enter_context(reference_served(database_url, template, workers=workers))
                               for _ in range(max(1, servers))]
                bare = asyncio.run(_drive([s.url for s in started_ref], tokens, body, clients, warmup, duration,
                                          [s.pid for s in started_ref]))
        ceiling = raw_ceiling(database_url, template, ceiling_seconds or min(duration, 10.0), threads)
        ceiling["rows_per_submission"] = rows_of(engine, template)
    achieved = len(phase.latencies) / phase.elapsed if phase.elapsed else 0.0
    latency = latency_summary(phase.latencies)
    result: dict[str, Any] = {
        "bench": "submit", "backend": backend_of(database_url), "database": safe_url(database_url),
        "server": url or f"{len(urls)} × onething serve --workers {workers} (subprocess)", "clients": clients,
        "workers": None if reuse else workers,
        "duration_s": round(phase.elapsed, 3), "thing": THING,
        "rate_limit_per_minute": None if reuse else RATE_LIMIT_FOR_RUN,
        "submissions": len(phase.latencies), "errors": dict(phase.errors),
        "error_count": sum(phase.errors.values()), "throughput_per_s": round(achieved, 1),
        "latency": latency, "ceiling": ceiling,
        "ratio": round(achieved / ceiling["throughput_per_s"], 3) if ceiling["throughput_per_s"] else None,
        "chain_intact": intact, "machine": machine(),
        # Where the CPU went: per acknowledged submission, in the server processes and in the clients.
        "server_cpu_ms_per_submission": _per(phase.server_cpu, len(phase.latencies)),
        "client_cpu_ms_per_submission": _per(phase.client_cpu, len(phase.latencies)),
        "server_cpu_cores_busy": round(phase.server_cpu / phase.elapsed, 2)
        if phase.server_cpu is not None and phase.elapsed else None,
    }
    if bare is not None:
        bare_rate = len(bare.latencies) / bare.elapsed if bare.elapsed else 0.0
        bare_latency = latency_summary(bare.latencies)
        result["reference"] = {
            "server": f"{max(1, servers)} × benchmarks/reference_app.py --workers {workers}",
            "submissions": len(bare.latencies), "errors": dict(bare.errors),
            "throughput_per_s": round(bare_rate, 1), "latency": bare_latency,
            "server_cpu_ms_per_submission": _per(bare.server_cpu, len(bare.latencies)),
        }
        result["vs_reference"] = {
            "throughput": round(achieved / bare_rate, 3) if bare_rate else None,
            "p99": round(latency["p99_ms"] / bare_latency["p99_ms"], 3) if bare_latency["p99_ms"] else None,
            "server_cpu": round(result["server_cpu_ms_per_submission"] / result["reference"][
                "server_cpu_ms_per_submission"], 2) if result["server_cpu_ms_per_submission"]
            and result["reference"]["server_cpu_ms_per_submission"] else None,
        }
    return result


def _per(cpu: float | None, count: int) -> float | None:
    return round(cpu * 1000 / count, 2) if cpu is not None and count else None
