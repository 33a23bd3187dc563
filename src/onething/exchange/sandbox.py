"""A sandbox department service (`onething sandbox-provider`): a small real HTTP server that serves one data
resource from a JSON or SQLite file, speaking the ``HttpProvider`` protocol. Tests and demos stand it up as the
holder's own system — and stop it to see what the platform does when a holder is down.

Data files:

- JSON: ``{"<resident ID or USCC>": {"<field>": value, ...}, ...}``
- SQLite: a table ``records(subject TEXT PRIMARY KEY, data TEXT)`` with ``data`` a JSON object.

Protocol: ``POST /resources/<resource>/query`` with ``{"subject": ..., "fields": [...]}`` → ``200
{"resource": ..., "values": {...}}`` or ``404``; ``GET /healthz`` → ``200``. Nothing is logged that names a
subject. Every query must carry the platform's signature (``X-Onething-Timestamp``, ``X-Onething-Signature``,
``onething.delivery.signing.sign_request`` with the shared secret); a query unsigned, wrongly signed or signed
more than five minutes away from now is answered ``401`` before anything is looked up.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_request

MAX_BODY = 64 * 1024


def load_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records by subject from a JSON or SQLite file."""
    if path.suffix.lower() in {".sqlite", ".sqlite3", ".db"}:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT subject, data FROM records").fetchall()
        return {str(subject): json.loads(data) for subject, data in rows}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of subject → record")
    return {str(subject): dict(record) for subject, record in data.items()}


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, resource: str, records: Mapping[str, Mapping[str, Any]], *, secret: str,
                 host: str = "127.0.0.1", clock: Callable[[], datetime] | None = None) -> None:
        if not secret:
            raise ValueError("a sandbox provider needs the secret the platform signs its queries with")
        self.resource = resource
        self.records = {key: dict(value) for key, value in records.items()}
        self.secret = secret
        self.clock = clock or (lambda: datetime.now(UTC))
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests); ``shutdown()`` + ``server_close()`` stop it."""
        thread = threading.Thread(target=self.serve_forever, name=f"sandbox-{self.resource}", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # request lines carry no subject, but keep the sandbox silent like a good holder

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "resource": self.server.resource})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        expected = f"/resources/{self.server.resource}/query"
        if self.path != expected:
            self._send(404, {"error": "unknown resource"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(400, {"error": "body required (JSON, at most 64 KiB)"})
            return
        raw = self.rfile.read(length)
        timestamp = self.headers.get(HEADER_TIMESTAMP) or ""
        signature = self.headers.get(HEADER_SIGNATURE) or ""
        if not verify_request(self.server.secret, timestamp, "POST", self.path, raw, signature,
                              self.server.clock()):
            self._send(401, {"error": "missing, wrong or expired signature"})
            return
        try:
            body = json.loads(raw)
            subject = str(body["subject"])
            fields = [str(f) for f in body.get("fields") or []]
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": "expected {subject, fields}"})
            return
        record = self.server.records.get(subject)
        if record is None:
            self._send(404, {"error": "no record"})
            return
        values = {name: record[name] for name in fields if name in record} if fields else record
        self._send(200, {"resource": self.server.resource, "values": values})
