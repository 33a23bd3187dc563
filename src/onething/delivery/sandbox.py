"""The sandbox department (沙箱部门): a small real HTTP server that plays a department's own system.

It does what a well-built receiver does — verifies each webhook's signature (401 otherwise), stores events
idempotently by their signed ``event_id`` and answers 2xx for duplicates — and, with ``auto_decide``, calls
the platform API back on ``task.ready`` to accept and approve the task, as a department system would. For
demos and tests it can also misbehave on purpose: fail the first K requests, or answer slowly. Its store is in
memory; ``GET /events`` and ``GET /stats`` show what arrived.

    onething sandbox-department --port 9001 --department samr --secret-stdin
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from onething.delivery.serving import serve_in_thread
from onething.delivery.signing import HEADER_EVENT_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_signature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxConfig:
    secret: str = field(repr=False)
    department: str | None = None
    fail_first: int = 0
    delay_ms: int = 0
    auto_decide: bool = False
    api_url: str | None = None
    token: str | None = field(default=None, repr=False)
    tolerance_seconds: int = 300


@dataclass
class Received:
    event_id: str
    kind: str
    department: str | None
    application: str | None
    first_received_at: str
    deliveries: int = 1


@dataclass
class SandboxState:
    """The receiver's store: events by id, and counters of everything that reached it."""

    events: dict[str, Received] = field(default_factory=dict)
    requests: int = 0
    received: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    decisions: int = 0
    decision_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self, body: dict[str, Any]) -> bool:
        """Keep the event once; True when it is new (the effect happens exactly once per event id)."""
        event_id = str(body["event_id"])
        with self.lock:
            self.received += 1
            known = self.events.get(event_id)
            if known is not None:
                known.deliveries += 1
                self.duplicates += 1
                return False
            self.events[event_id] = Received(event_id, str(body.get("kind")), body.get("department"),
                                             body.get("application"), datetime.now(UTC).isoformat())
            return True

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "received": self.received, "unique": len(self.events),
                    "duplicates": self.duplicates, "rejected": self.rejected, "failed": self.failed,
                    "decisions": self.decisions, "decision_errors": list(self.decision_errors)}


# Fictional values by field type for what a sandbox department produces (check characters valid; nobody's).
SANDBOX_VALUES: dict[str, Any] = {"id_number": "11010120261110016X", "uscc": "91110105MA01ABCD00",
                                  "phone": "13800138000", "date": "2026-01-05", "int": 1, "money": "1.00",
                                  "bool": False, "text": "沙箱", "address": "沙箱地址"}


class AutoDecider:
    """Decides ready tasks through the platform API, as a department system would: read the task for its
    ETag, then ``POST /api/v1/tasks/{id}/decision`` with ``If-Match`` — accept, then approve."""

    def __init__(self, config: SandboxConfig, state: SandboxState) -> None:
        if not config.api_url or not config.token:
            raise ValueError("auto-decide needs the platform API URL and a bearer token")
        self.config = config
        self.state = state
        self.client = httpx.Client(base_url=config.api_url.rstrip("/"), timeout=10.0,
                                   headers={"Authorization": f"Bearer {config.token}"})
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-decider")

    def submit(self, task_id: str) -> None:
        self.pool.submit(self._decide_logged, task_id)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.client.close()

    def _decide_logged(self, task_id: str) -> None:
        try:
            self.decide(task_id)
        except Exception as exc:
            with self.state.lock:
                self.state.decision_errors.append(f"{task_id}: {type(exc).__name__}: {exc}")
            log.warning("sandbox decision failed", extra={"fields": {"task": task_id}})

    def produced(self, task: dict[str, Any]) -> dict[str, Any]:
        """Fictional values for the fields the task's procedure produces (the plan's ``produces``), which an
        approval must carry — as a department's system would enter the number it assigned."""
        answer = self.client.get(f"/api/v1/applications/{task.get('application')}")
        if answer.status_code != 200:
            return {}
        plan = answer.json().get("plan") or {}
        produces = next((p.get("produces") or [] for p in plan.get("procedures", [])
                         if p.get("id") == task.get("procedure")), [])
        fields = {f["id"]: f for f in (plan.get("form") or {}).get("fields", [])}
        out: dict[str, Any] = {}
        for field_id in produces:
            definition = fields.get(field_id) or {}
            choices = definition.get("choices") or []
            out[field_id] = choices[0]["value"] if choices else SANDBOX_VALUES.get(str(definition.get("type")), "沙箱")
        return out

    def decide(self, task_id: str) -> None:
        number = f"SANDBOX-{(self.config.department or 'DEPT').upper()}-{task_id[:8]}"
        first = self.client.get(f"/api/v1/tasks/{task_id}")
        first.raise_for_status()
        produced = self.produced(first.json())
        steps: list[tuple[set[str], dict[str, Any]]] = [
            ({"ready"}, {"kind": "accept"}),
            ({"accepted"}, {"kind": "approve", "result": {"number": number, "note": "沙箱部门自动办结"},
                            "produced": produced}),
        ]
        for allowed, body in steps:
            for _ in range(3):  # a stale version (412) is read again, a bounded number of times
                task = self.client.get(f"/api/v1/tasks/{task_id}")
                task.raise_for_status()
                if task.json().get("status") not in allowed:
                    break
                etag = task.headers.get("ETag") or str(task.json().get("version"))
                answer = self.client.post(f"/api/v1/tasks/{task_id}/decision", json=body,
                                          headers={"If-Match": etag})
                if answer.status_code == 412:
                    continue
                answer.raise_for_status()
                with self.state.lock:
                    self.state.decisions += 1
                break


def _task_id(body: dict[str, Any]) -> str | None:
    task = body.get("task")
    if isinstance(task, dict) and task.get("id"):
        return str(task["id"])
    return str(task) if isinstance(task, str) else None


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    state = SandboxState()
    decider = AutoDecider(config, state) if config.auto_decide else None
    tolerance = timedelta(seconds=config.tolerance_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        if decider is not None:
            await asyncio.to_thread(decider.close)

    app = FastAPI(title="onething sandbox department", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.sandbox = state

    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        with state.lock:
            state.requests += 1
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        signature = request.headers.get(HEADER_SIGNATURE, "")
        if not verify_signature(config.secret, timestamp, raw, signature, datetime.now(UTC), tolerance):
            with state.lock:
                state.rejected += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or "event_id" not in body:
                raise ValueError("no event_id")
        except ValueError:
            return JSONResponse({"error": "body is not an event"}, status_code=400)
        if request.headers.get(HEADER_EVENT_ID) not in (None, str(body["event_id"])):
            return JSONResponse({"error": "event id header does not match the signed body"}, status_code=400)
        with state.lock:
            failing = state.failed < config.fail_first
            if failing:
                state.failed += 1
        if failing:
            return JSONResponse({"error": "failing on purpose (--fail-first)"}, status_code=503)
        new = state.store(body)
        # Stored before the (optional) delay: a sender that gives up or dies now will send it again, and the
        # duplicate is absorbed here — the at-least-once case a real receiver must handle.
        if config.delay_ms:
            await asyncio.sleep(config.delay_ms / 1000)
        if (new and decider is not None and body.get("kind") == "task.ready"
                and (config.department is None or body.get("department") == config.department)):
            task_id = _task_id(body)
            if task_id:
                decider.submit(task_id)
        return JSONResponse({"ok": True, "duplicate": not new})

    app.add_api_route("/webhook", receive, methods=["POST"])
    app.add_api_route("/", receive, methods=["POST"])

    @app.get("/events")
    def events() -> list[dict[str, Any]]:
        with state.lock:
            return [vars(e).copy() for e in state.events.values()]

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return state.stats()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "department": config.department or ""}

    return app


def run_sandbox(config: SandboxConfig, host: str, port: int) -> None:
    uvicorn.run(create_sandbox_app(config), host=host, port=port, log_config=None, access_log=False)


@contextmanager
def serve_sandbox(config: SandboxConfig, port: int, host: str = "127.0.0.1",
                  timeout: float = 10.0) -> Iterator[tuple[str, SandboxState]]:
    """Run a sandbox department in a background thread; yield its base URL and its state."""
    app = create_sandbox_app(config)
    with serve_in_thread(app, port, host=host, name="sandbox department", lifespan="on", timeout=timeout) as url:
        yield url, app.state.sandbox
