"""Reliability: ``kill -9`` the server (and the outbox worker) at random points of a stream of submissions.

Everything is a real process: ``onething serve`` and ``onething worker`` against a fresh database, and
``onething sandbox-department`` as every department's system (it verifies signatures and stores events once
by id). Client threads submit through ``POST /api/v1/applications``, each with its own Idempotency-Key, and
send the same request again after any transport error until it is acknowledged (201). Meanwhile the test
kills the server or the worker with SIGKILL at points drawn from ``random.Random(SEED)`` — after the n-th
acknowledgement plus a seeded fraction of a request's time, so a kill lands before, inside or after some
request's transaction. A killed worker is started again; a killed server is replaced by the next server process,
booted ahead on another port (as a second instance behind a load balancer), and a new one boots behind it.

Afterwards, for both deployment shapes (PostgreSQL with a separate worker; SQLite with the in-process
worker, killed with its server):
- every acknowledged submission is in the database exactly once (idempotency), and whole: its application,
  one task per planned procedure, its audit entries and its outbox events, the same shape as every other;
- nothing partial: no audit entry, task or outbox event of an application that does not exist;
- the audit chain verifies (``verify_chain`` and ``onething audit verify``), checkpoints included;
- every outbox event reached the department system, and the receiver stored each once (the worker may
  send again after a crash — the receiver's event-id de-duplication is the contract); duplicates are counted
  and printed.

The kill points are deterministic; where they land in a request depends on the machine's speed, which is the
point. No assertion depends on the wall clock: waits are polls with generous deadlines.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.accounts.tables import User
from onething.audit import tree
from onething.audit.checkpoints import Verification, verify_chain
from onething.audit.tables import AuditCheckpoint, AuditEntry, AuditLeaf
from onething.cases.tables import ApplicationRow, Delivery, OutboxEvent, TaskRow
from onething.catalog.model import Catalog
from onething.catalog.store import publish
from onething.delivery.service import set_webhook
from tests.case_forms import ANSWERS, THING, restaurant_plan, typed_values
from tests.live import CATALOG_DIR, free_port

SEED = 20260302
SECRET = "crash-test-webhook-secret-0123456789abcdef"
USCC = "91110108MA01CR5H0C"            # fictional, checksum-valid
APPLICANT = "crash-applicant"
CHECKPOINT_EVERY = 7                   # small, so checkpoints are written (and verified) across the kills
START_TIMEOUT = 120.0                  # a loaded 2-CPU machine may take long to import and start a process
SETTLE_TIMEOUT = 240.0


@dataclass(frozen=True)
class Scenario:
    backend: str
    submissions: int
    clients: int
    server_kills: int
    worker_kills: int       # 0: the worker runs inside the server (SQLite's embedded default)


SCENARIOS = [
    pytest.param(Scenario("postgresql", submissions=60, clients=3, server_kills=4, worker_kills=3),
                 marks=pytest.mark.postgres, id="postgresql"),
    pytest.param(Scenario("sqlite", submissions=16, clients=2, server_kills=2, worker_kills=0), id="sqlite"),
]


# --- processes -----------------------------------------------------------------------------------------------


class Process:
    """One of our CLI commands as a subprocess, restartable; its output appended to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
                 stdin_text: str | None = None) -> None:
        self.name, self.args, self.env, self.stdin_text = name, args, env, stdin_text
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "onething", *self.args], env=self.env,
                                       stdin=subprocess.PIPE if self.stdin_text is not None else subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
        if self.stdin_text is not None:
            assert process.stdin is not None
            process.stdin.write(self.stdin_text.encode())
            process.stdin.close()
        self.process = process

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction is finished, no claim is released."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} died by itself; see {self.log}:\n{self.tail()}")
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self.kills += 1

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def answers_health(url: str, process: Process) -> Callable[[], bool]:
    def check() -> bool:
        if not process.alive():
            raise AssertionError(f"{process.name} exited while starting:\n{process.tail()}")
        try:
            return httpx.get(url + "/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False
    return check


# --- the applicants' side -------------------------------------------------------------------------------------


@dataclass
class Stream:
    """The submissions, handed out to client threads in order up to a gate the test opens kill by kill (so the
    stream cannot run ahead while the next server boots); what each one's acknowledgement said."""

    total: int
    url: str
    token: str
    body: dict[str, Any]
    deadline: float
    lock: threading.Condition = field(default_factory=threading.Condition)
    limit: int = 0                                                  # submissions that may be started so far
    next_index: int = 0
    acknowledged: dict[str, str] = field(default_factory=dict)     # idempotency key → application id
    replayed: int = 0                                               # acknowledgements of a retry after a crash
    transport_errors: int = 0
    interrupted: set[str] = field(default_factory=set)              # keys sent again after a transport error
    unexpected: list[str] = field(default_factory=list)            # any answer but 201
    latencies: list[float] = field(default_factory=list)           # seconds of each uninterrupted submission

    def open_to(self, limit: int) -> None:
        with self.lock:
            self.limit = max(self.limit, min(limit, self.total))
            self.lock.notify_all()

    def take(self) -> int | None:
        with self.lock:
            while self.next_index >= self.limit and self.next_index < self.total:
                if time.monotonic() > self.deadline:
                    return None
                self.lock.wait(0.5)
            if self.next_index >= self.total:
                return None
            self.next_index += 1
            return self.next_index - 1

    def acked(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def typical_latency(self) -> float:
        """The median of the last few uninterrupted submissions: how long a request takes on this machine now."""
        with self.lock:
            recent = sorted(self.latencies[-9:])
        return recent[len(recent) // 2] if recent else 0.1

    def reached(self, count: int) -> Callable[[], bool]:
        return lambda: self.acked() >= count

    def client(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=60) as http:
            while (index := self.take()) is not None:
                key = f"crash-{SEED}-{index:03d}"
                while True:  # the same request again until it is acknowledged: the applicant's retry
                    if time.monotonic() > self.deadline:
                        with self.lock:
                            self.unexpected.append(f"{key}: not acknowledged before the deadline")
                        return
                    sent = time.monotonic()
                    try:
                        # self.url: whichever server process is serving now (read again on every try)
                        response = http.post(self.url + "/api/v1/applications", json=self.body,
                                             headers={**headers, "Idempotency-Key": key})
                    except httpx.TransportError:
                        with self.lock:
                            self.transport_errors += 1
                            self.interrupted.add(key)
                        time.sleep(0.2)  # the server is down or starting: do not spin on a shared machine
                        continue
                    if response.status_code == 201:
                        with self.lock:
                            self.acknowledged[key] = response.json()["id"]
                            if key not in self.interrupted:
                                self.latencies.append(time.monotonic() - sent)
                            self.replayed += response.headers.get("Idempotent-Replayed") == "true"
                        break
                    with self.lock:
                        self.unexpected.append(f"{key}: {response.status_code} {response.text[:300]}")
                    time.sleep(0.2)


# --- set-up ---------------------------------------------------------------------------------------------------


@pytest.fixture
def crash_setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Scenario, str]:
    """The scenario and a fresh, migrated database of its backend."""
    scenario: Scenario = request.param
    if scenario.backend == "postgresql":
        return scenario, str(request.getfixturevalue("postgres_database"))
    url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return scenario, url


def prepare(engine: Engine, departments: list[str], sandbox_url: str) -> str:
    """The applicant and its API token; every department's webhook pointed at the sandbox. Returns the token."""
    now = datetime.now(UTC)  # set-up only: tokens and webhooks are stamped with it, nothing is asserted on it
    with db.session_scope(engine) as session:
        create_user(session, name=APPLICANT, role="applicant", uscc=USCC, display_name="崩溃测试餐饮有限公司",
                    now=now)
        for department in departments:
            set_webhook(session, department, sandbox_url + "/webhook", SECRET, now, actor=SYSTEM)
    with db.session_scope(engine) as session:
        return issue_token(session, SYSTEM, user_name=APPLICANT, now=now)


def kill_plan(rng: random.Random, scenario: Scenario) -> list[tuple[int, float, str]]:
    """(after this many acknowledgements, wait this fraction of a typical request, kill this) — in order, from
    the seed alone.

    One kill in each of equal stretches of the stream, at a random place within it, so kills are spread out
    and each finds requests in flight. The wait is a fraction of the request time measured as the stream runs,
    so on a fast or a slow machine the kills fall anywhere inside a request (parsing, planning, the
    transaction, the commit, the answer) — the seed picks the fraction, the machine only sets the scale."""
    targets = ["server"] * scenario.server_kills + ["worker"] * scenario.worker_kills
    rng.shuffle(targets)
    step = scenario.submissions / (len(targets) + 1)
    points = [min(scenario.submissions - 2, max(1, round(step * (j + 1) + rng.uniform(-step / 3, step / 3))))
              for j in range(len(targets))]
    return [(point, rng.random(), target) for point, target in zip(sorted(points), targets, strict=True)]


# --- the checks -----------------------------------------------------------------------------------------------


def check_submissions(engine: Engine, stream: Stream, procedures: list[str], departments: list[str]) -> None:
    """Each acknowledged submission once, whole and shaped like every other; nothing of a missing one."""
    with db.session_scope(engine) as session:
        applicant = session.scalar(select(User.id).where(User.name == APPLICANT))
        apps = dict(session.execute(select(ApplicationRow.idempotency_key, ApplicationRow.id)
                                    .where(ApplicationRow.applicant_id == applicant)).all())
        all_apps = set(session.scalars(select(ApplicationRow.id)))
        tasks = session.execute(select(TaskRow.application_id, TaskRow.procedure)).all()
        audits = session.execute(select(AuditEntry.application_id, AuditEntry.action)
                                 .where(AuditEntry.application_id.is_not(None))).all()
        events = session.execute(select(OutboxEvent.application_id, OutboxEvent.kind, OutboxEvent.department)
                                 ).all()
    # Exactly once: one row per key (the unique constraint), and the very application each 201 named.
    assert apps == stream.acknowledged
    assert len(apps) == stream.total

    shapes: dict[str, dict[str, Counter[Any]]] = {a: {"tasks": Counter(), "audit": Counter(), "events": Counter()}
                                                  for a in all_apps}
    orphans: list[tuple[str, Any]] = []
    for rows, part in ((tasks, "tasks"), (audits, "audit"), (events, "events")):
        for application_id, *what in rows:
            if application_id not in shapes:
                orphans.append((part, (application_id, *what)))
            else:
                shapes[application_id][part][tuple(what)] += 1
    assert orphans == [], f"rows of an application that does not exist (a partial write): {orphans[:10]}"

    expected_tasks = Counter((p,) for p in procedures)
    for key, application_id in apps.items():
        shape = shapes[application_id]
        assert shape["tasks"] == expected_tasks, (key, shape["tasks"])
        assert shape["audit"][("application.submitted",)] == 1, (key, shape["audit"])
        assert shape["audit"][("task.created",)] == len(procedures), (key, shape["audit"])
        assert {d for (kind, d) in shape["events"] if kind == "application.submitted"} == set(departments), key
    reference = shapes[next(iter(apps.values()))]
    different = [key for key, a in apps.items() if shapes[a] != reference]
    assert different == [], f"submissions not shaped like the others: {different}"


def check_delivery(engine: Engine, applications: set[str], received: list[dict[str, Any]],
                   receiver: dict[str, Any]) -> set[str]:
    """Every outbox event of the submissions delivered and on record; the receiver stored each exactly once and
    nothing that is not in the outbox. Returns the submissions' event ids."""
    with db.session_scope(engine) as session:
        rows = session.execute(select(OutboxEvent.event_id, OutboxEvent.delivered_at, OutboxEvent.last_error)
                               .where(OutboxEvent.application_id.in_(applications))).all()
        everything = set(session.scalars(select(OutboxEvent.event_id)))
        recorded = set(session.scalars(select(Delivery.event_id).where(Delivery.ok.is_(True))))
    ours = {event_id for event_id, _, _ in rows}
    not_delivered = [(event_id, error) for event_id, delivered_at, error in rows if delivered_at is None]
    assert not_delivered == []
    received_ids = [e["event_id"] for e in received]
    assert len(received_ids) == len(set(received_ids)) == receiver["unique"]     # stored once per event id
    assert ours <= set(received_ids), f"never received: {sorted(ours - set(received_ids))[:10]}"
    assert ours <= recorded, f"delivered without a successful attempt on record: {sorted(ours - recorded)[:10]}"
    assert set(received_ids) <= everything, f"not in the outbox: {sorted(set(received_ids) - everything)[:10]}"
    assert receiver["rejected"] == 0 and receiver["failed"] == 0
    return ours


def check_audit(engine: Engine, database_url: str, env: dict[str, str]) -> Verification:
    """The chain verifies in-process and through ``onething audit verify``; its checkpoints fell where due."""
    with db.session_scope(engine) as session:
        verification = verify_chain(session)
        entries = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
        checkpoints = int(session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)
    assert verification.intact, verification
    assert verification.count == entries
    # Entries are unchained (ADR 021's default): no chain checkpoints; the tree and its signed ones seal them.
    assert checkpoints == verification.checkpoints == 0
    # One more sequencer round after the last server's death: every entry is then a leaf, exactly once.
    rounds = subprocess.run([sys.executable, "-m", "onething", "audit", "sequence", "--once"], capture_output=True,
                            text=True, env={**env, "ONETHING_DATABASE_URL": database_url}, timeout=300)
    assert rounds.returncode == 0, rounds.stdout + rounds.stderr
    with db.session_scope(engine) as session:
        leaves = int(session.scalar(select(func.count(func.distinct(AuditLeaf.entry_id)))) or 0)
        assert leaves == entries == tree.tree_size(session)
    # `audit verify` below checks the tree against the latest checkpoint, signed with the servers' key.
    cli = subprocess.run([sys.executable, "-m", "onething", "audit", "verify"], capture_output=True, text=True,
                         env={**env, "ONETHING_DATABASE_URL": database_url}, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "intact" in cli.stdout and str(entries) in cli.stdout and "Merkle tree matches" in cli.stdout
    return verification


# --- the test -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crash_setup", SCENARIOS, indirect=True)
def test_kill_9_at_random_points_loses_nothing_and_leaves_nothing_partial(
        crash_setup: tuple[Scenario, str], catalog: Catalog, tmp_path: Path,
        record_property: Callable[[str, object], None]) -> None:
    scenario, database_url = crash_setup
    rng = random.Random(SEED)
    plan = restaurant_plan(catalog)
    departments = sorted({p.department for p in plan.procedures})
    body = {"thing": THING, "answers": ANSWERS, "form": typed_values(plan)}

    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:  # the session's catalog, published (no second YAML load)
        publish(session, catalog, source=str(CATALOG_DIR), actor="crash-test")
    separate_worker = scenario.worker_kills > 0
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url,
           "ONETHING_SECRET_KEY": f"crash-test-{rng.getrandbits(128):032x}", "ONETHING_DEMO": "1",
           "ONETHING_SUBMIT_RATE_PER_MINUTE": "1000000000", "ONETHING_LOG_LEVEL": "WARNING",
           "ONETHING_AUDIT_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY),
           "ONETHING_INPROCESS_WORKER": "false" if separate_worker else "true",
           # The audit sequencer (ADR 021) runs in each server and dies with it.
           "ONETHING_INPROCESS_SEQUENCER": "true", "ONETHING_AUDIT_SEQUENCE_INTERVAL": "0.2",
           "ONETHING_DELIVERY_LEASE_SECONDS": "3", "ONETHING_DELIVERY_TIMEOUT_SECONDS": "2",
           "ONETHING_DELIVERY_POLL_SECONDS": "0.2", "ONETHING_DELIVERY_BACKOFF_BASE_SECONDS": "0.5",
           "ONETHING_DELIVERY_BACKOFF_MAX_SECONDS": "2"}
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    # The receiver answers a little late, so that a worker killed mid-request is a likely case.
    sandbox = Process("sandbox", ["sandbox-department", "--port", str(sandbox_port), "--secret-stdin",
                                  "--delay-ms", "100"], env, tmp_path, stdin_text=SECRET + "\n")
    servers: list[tuple[Process, str]] = []

    def start_server() -> tuple[Process, str]:
        port = free_port()
        server = Process(f"server-{len(servers) + 1}", ["serve", "--host", "127.0.0.1", "--port", str(port)], env,
                         tmp_path)
        server.start()
        servers.append((server, f"http://127.0.0.1:{port}"))
        return servers[-1]

    worker = Process("worker", ["worker", "--poll-seconds", "0.2"], env, tmp_path)
    kills = kill_plan(rng, scenario)
    stream = Stream(total=scenario.submissions, url="", token="", body=body, deadline=0.0)
    try:
        sandbox.start()
        wait_until(answers_health(sandbox_url, sandbox), START_TIMEOUT, "the sandbox department to listen")
        stream.token = prepare(engine, departments, sandbox_url)
        # The server that serves, and the next one, started ahead as a second instance behind a load balancer
        # would be: a kill is taken over at once, so the test does not wait for a process to boot per kill.
        server, stream.url = start_server()
        wait_until(answers_health(stream.url, server), START_TIMEOUT, "the server to start")
        standby, standby_url = start_server()
        if separate_worker:
            worker.start()

        began = time.monotonic()
        stream.deadline = began + 900
        clients = [threading.Thread(target=stream.client, name=f"crash-client-{n}", daemon=True)
                   for n in range(scenario.clients)]
        for client in clients:
            client.start()
        for index, (after, delay, target) in enumerate(kills):
            if target == "server":
                wait_until(answers_health(standby_url, standby), START_TIMEOUT, "the next server to start")
            # Let the stream run a little past the kill point, so that requests are in flight when it lands.
            stream.open_to(after + scenario.clients + 1)
            wait_until(stream.reached(after), 900, f"{after} acknowledgements")
            time.sleep(delay * stream.typical_latency())
            if target == "server":
                server.kill()
                server, stream.url = standby, standby_url
                if any(later == "server" for _, _, later in kills[index + 1:]):
                    standby, standby_url = start_server()   # the next one boots while the stream goes on
            else:
                worker.kill()
                worker.start()
        stream.open_to(scenario.submissions)
        for client in clients:
            client.join(timeout=900)
        assert not any(c.is_alive() for c in clients), "a client is still retrying"
        assert stream.unexpected == [], stream.unexpected[:10]
        streamed = time.monotonic() - began

        submitted = set(stream.acknowledged.values())

        def undelivered() -> int:
            with db.session_scope(engine) as session:
                return int(session.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.application_id.in_(submitted), OutboxEvent.delivered_at.is_(None))) or 0)

        wait_until(lambda: undelivered() == 0, SETTLE_TIMEOUT, "every outbox event to be delivered", interval=0.2)
        settled = time.monotonic() - began - streamed
        received = httpx.get(sandbox_url + "/events", timeout=30).json()
        receiver = httpx.get(sandbox_url + "/stats", timeout=30).json()
    finally:
        for process in (worker, *(server for server, _ in servers), sandbox):
            process.stop()

    try:
        check_submissions(engine, stream, [p.id for p in plan.procedures], departments)
        outbox_ids = check_delivery(engine, submitted, received, receiver)
        verification = check_audit(engine, database_url, env)
    finally:
        engine.dispose()

    server_kills = sum(server.kills for server, _ in servers)
    duplicates = {e["event_id"]: e["deliveries"] for e in received if e["deliveries"] > 1}
    summary = (f"crash test ({scenario.backend}, seed {SEED}): submissions={scenario.submissions} "
               f"acknowledged={len(stream.acknowledged)} server_kills={server_kills} worker_kills={worker.kills} "
               f"interrupted_submissions={len(stream.interrupted)} transport_errors={stream.transport_errors} "
               f"replayed_acknowledgements={stream.replayed} "
               f"outbox_events={len(outbox_ids)} received_requests={receiver['received']} "
               f"duplicate_deliveries={receiver['duplicates']} audit_entries={verification.count} "
               f"checkpoints={verification.checkpoints}")
    summary += f"\n  seconds (informative): stream {streamed:.1f}, delivery settled {settled:.1f} later"
    if duplicates:
        summary += f"\n  duplicated event ids (deliveries): {duplicates}"
    print("\n" + summary)
    for name, value in (("submissions", scenario.submissions), ("server_kills", server_kills),
                        ("worker_kills", worker.kills), ("interrupted_submissions", len(stream.interrupted)),
                        ("replayed_acknowledgements", stream.replayed), ("outbox_events", len(outbox_ids)),
                        ("duplicate_deliveries", receiver["duplicates"]), ("audit_entries", verification.count)):
        record_property(name, value)
    assert (server_kills, worker.kills) == (scenario.server_kills, scenario.worker_kills)
