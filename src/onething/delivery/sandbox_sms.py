"""The sandbox SMS gateway (沙箱短信网关): a small real HTTP server that plays the SMS provider for demos and
tests. It verifies each request's signature like a department's receiver (401 otherwise), keeps each message
once by its signed ``event_id`` (2xx for duplicates), logs the number masked and sends nothing. ``GET
/messages`` lists what arrived (whole numbers: it stands in for the phone).

    onething sandbox-sms --port 9002 --secret-stdin
    ONETHING_SMS_GATEWAY_URL=http://127.0.0.1:9002/sms ONETHING_SMS_GATEWAY_SECRET=… onething serve
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from onething.delivery.serving import serve_in_thread
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_signature
from onething.delivery.sms import mask_phone

log = logging.getLogger(__name__)


@dataclass
class SmsState:
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_sms_app(secret: str, tolerance_seconds: int = 300) -> FastAPI:
    state = SmsState()
    app = FastAPI(title="onething sandbox SMS gateway", docs_url=None, redoc_url=None)
    app.state.sms = state
    tolerance = timedelta(seconds=tolerance_seconds)

    @app.post("/sms")
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        if not verify_signature(secret, request.headers.get(HEADER_TIMESTAMP, ""), raw,
                                request.headers.get(HEADER_SIGNATURE, ""), datetime.now(UTC), tolerance):
            with state.lock:
                state.rejected += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not body.get("event_id") or not body.get("to") or not body.get("text"):
                raise ValueError("not a message")
        except ValueError:
            return JSONResponse({"error": "body is not a message"}, status_code=400)
        with state.lock:
            duplicate = body["event_id"] in state.messages
            if duplicate:
                state.duplicates += 1
            else:
                state.messages[body["event_id"]] = {"event_id": body["event_id"], "to": str(body["to"]),
                                                    "text": str(body["text"]), "number": body.get("number"),
                                                    "application": body.get("application")}
        log.info("sms received", extra={"fields": {"event_id": body["event_id"], "to": mask_phone(str(body["to"])),
                                                   "duplicate": duplicate}})
        return JSONResponse({"ok": True, "duplicate": duplicate})

    @app.get("/messages")
    def messages() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.messages.values())

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run_sms_sandbox(secret: str, host: str, port: int) -> None:
    uvicorn.run(create_sms_app(secret), host=host, port=port, log_config=None, access_log=False)


@contextmanager
def serve_sms_sandbox(secret: str, port: int, host: str = "127.0.0.1",
                      timeout: float = 10.0) -> Iterator[tuple[str, SmsState]]:
    """Run the sandbox SMS gateway in a background thread; yield its ``/sms`` URL and its state."""
    app = create_sms_app(secret)
    with serve_in_thread(app, port, host=host, name="sandbox SMS gateway", lifespan="off", timeout=timeout) as url:
        yield url + "/sms", app.state.sms
