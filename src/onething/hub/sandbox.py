"""The sandbox national hub (沙箱国家政务服务平台): a small real HTTP server that receives, checks and lists the
records a provincial platform reports upward.

- ``POST /reports`` — one record (JSON). Refuses (401) a request whose signature does not verify or whose
  timestamp is more than 5 minutes off; checks the record against the modelled specification
  (:func:`onething.hub.spec.validate`: required fields, code lists, formats, 事项编码 structure when present,
  a 行政区划代码 of a real province) and answers ``200 {"status": "acknowledged", "receipt"}`` or
  ``422 {"status": "rejected", "problems": [{field, label, reason}]}``. A record id seen before gets its first
  answer again (idempotent).
- ``GET /reconciliation?date=YYYY-MM-DD`` (signed) — every record of that China date with its status.
- ``GET /records``, ``GET /stats``, ``GET /healthz`` — what arrived, for demos and tests (unsigned, read-only).

For tests and demos of failure: ``fail_first`` answers 503 to the first K signed reports; ``lose_first``
acknowledges the first K valid records but keeps no trace of them (a hub that lost data), which
reconciliation must repair.

    onething sandbox-national-hub --port 9100 --secret-stdin
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from onething.delivery.serving import serve_in_thread
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_request
from onething.hub.spec import Problem, china_date, validate

# Province-level 行政区划代码 prefixes (GB/T 2260): the first two digits of every real division code.
PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                       "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                       "65", "71", "81", "82"})


@dataclass(frozen=True)
class HubConfig:
    secret: str = field(repr=False)
    fail_first: int = 0
    lose_first: int = 0
    tolerance_seconds: int = 300


@dataclass
class Stored:
    record_id: str
    record_type: str
    status: str                # acknowledged | rejected
    day: str                   # China date of the record's moment
    receipt: str | None
    problems: list[dict[str, str]]
    received_at: str
    record: dict[str, Any]
    deliveries: int = 1


@dataclass
class HubState:
    records: dict[str, Stored] = field(default_factory=dict)
    requests: int = 0
    bad_signatures: int = 0
    failed: int = 0
    lost: int = 0
    acknowledged: int = 0
    rejected: int = 0
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "bad_signatures": self.bad_signatures, "failed": self.failed,
                    "lost": self.lost, "acknowledged": self.acknowledged, "rejected": self.rejected,
                    "duplicates": self.duplicates, "stored": len(self.records)}


def check(record: Any) -> list[Problem]:
    """The hub's checks: the specification's, and a 行政区划代码 that names a real province."""
    problems = validate(record)
    division = record.get("division_code") if isinstance(record, dict) else None
    if isinstance(division, str) and len(division) == 6 and division.isdigit() and division[:2] not in PROVINCES:
        problems.append(Problem("division_code", f"{division} 不是 GB/T 2260 中的行政区划代码（省级前两位不符）"))
    return problems


def _day(record: dict[str, Any]) -> str:
    for key in ("occurred_at", "rated_at"):
        value = record.get(key)
        if isinstance(value, str):
            try:
                return china_date(datetime.fromisoformat(value)).isoformat()
            except ValueError:
                continue
    return ""


def _target(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def create_hub_app(config: HubConfig) -> FastAPI:
    state = HubState()
    tolerance = timedelta(seconds=config.tolerance_seconds)
    app = FastAPI(title="onething sandbox national hub", docs_url=None, redoc_url=None)
    app.state.hub = state

    def signed(request: Request, raw: bytes) -> bool:
        ok = verify_request(config.secret, request.headers.get(HEADER_TIMESTAMP, ""), request.method,
                            _target(request), raw, request.headers.get(HEADER_SIGNATURE, ""), datetime.now(UTC),
                            tolerance)
        if not ok:
            with state.lock:
                state.bad_signatures += 1
        return ok

    @app.post("/reports")
    async def report(request: Request) -> JSONResponse:
        raw = await request.body()
        with state.lock:
            state.requests += 1
        if not signed(request, raw):
            return JSONResponse({"status": "refused", "error": "bad signature"}, status_code=401)
        with state.lock:
            failing = state.failed < config.fail_first
            if failing:
                state.failed += 1
        if failing:
            return JSONResponse({"status": "unavailable", "error": "failing on purpose (--fail-first)"},
                                status_code=503)
        try:
            record = json.loads(raw)
        except ValueError:
            return JSONResponse({"status": "rejected", "record_id": None,
                                 "problems": [{"field": "", "label": "", "reason": "不是 JSON"}]}, status_code=422)
        record_id = str(record.get("record_id")) if isinstance(record, dict) else ""
        with state.lock:
            known = state.records.get(record_id)
            if known is not None:
                known.deliveries += 1
                state.duplicates += 1
        if known is not None:
            return _answer(known)
        problems = [p.to_json() for p in check(record)]
        status = "rejected" if problems else "acknowledged"
        receipt = None if problems else "NH-" + hashlib.sha256(raw).hexdigest()[:16].upper()
        stored = Stored(record_id, str(record.get("record_type", "")) if isinstance(record, dict) else "", status,
                        _day(record) if isinstance(record, dict) else "", receipt, problems,
                        datetime.now(UTC).isoformat(), record if isinstance(record, dict) else {})
        with state.lock:
            if status == "acknowledged" and state.lost < config.lose_first:
                state.lost += 1  # answered, then forgotten: what reconciliation is for
                return _answer(stored)
            state.records.setdefault(record_id, stored)
            if status == "acknowledged":
                state.acknowledged += 1
            else:
                state.rejected += 1
        return _answer(stored)

    @app.get("/reconciliation")
    def reconciliation(request: Request) -> JSONResponse:
        if not signed(request, b""):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        day = request.query_params.get("date", "")
        try:
            date.fromisoformat(day)
        except ValueError:
            return JSONResponse({"error": "date=YYYY-MM-DD is required"}, status_code=400)
        with state.lock:
            records = [{"record_id": r.record_id, "record_type": r.record_type, "status": r.status,
                        "receipt": r.receipt} for r in state.records.values() if r.day == day]
        return JSONResponse({"date": day, "records": records})

    @app.get("/records")
    def records() -> list[dict[str, Any]]:
        with state.lock:
            return [dict(vars(r)) for r in state.records.values()]

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return state.stats()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _answer(stored: Stored) -> JSONResponse:
    if stored.status == "acknowledged":
        return JSONResponse({"status": "acknowledged", "record_id": stored.record_id, "receipt": stored.receipt})
    return JSONResponse({"status": "rejected", "record_id": stored.record_id, "problems": stored.problems},
                        status_code=422)


def run_hub(config: HubConfig, host: str, port: int) -> None:
    uvicorn.run(create_hub_app(config), host=host, port=port, log_config=None, access_log=False)


@contextmanager
def serve_hub(config: HubConfig, port: int, host: str = "127.0.0.1",
              timeout: float = 10.0) -> Iterator[tuple[str, HubState]]:
    """Run a sandbox hub in a background thread; yield its base URL and its state."""
    app = create_hub_app(config)
    with serve_in_thread(app, port, host=host, name="sandbox national hub", lifespan="off", timeout=timeout) as url:
        yield url, app.state.hub
