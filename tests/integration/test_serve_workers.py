"""`onething serve --workers 2` as production runs it: two processes on one socket, one PostgreSQL, sessions shared.

The server is the real command in a subprocess; requests arrive on fresh connections, so the kernel hands them
to either process. Each access-log line names its process (``pid``): both must have served, and every request
signed in with the one session cookie must be recognised by whichever process got it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from onething import db
from onething.accounts import service
from tests.live import free_port, published_engine


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"onething serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("onething serve --workers 2 did not answer")


def test_two_worker_processes_serve_and_share_sessions(postgres_database: str, tmp_path: Path) -> None:
    engine = published_engine(postgres_database)
    with db.session_scope(engine) as session:
        service.create_user(session, name="zhang", role="applicant", id_number="110101199003070011",
                            password="correct horse")
    engine.dispose()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "ONETHING_DATABASE_URL": postgres_database, "ONETHING_SECRET_KEY": secrets.token_urlsafe(48),
           "ONETHING_SECURE_COOKIES": "0", "ONETHING_DEMO": "0", "ONETHING_DB_POOL_SIZE": "2"}
    env.pop("ONETHING_INPROCESS_WORKER", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "onething", "serve", "--workers", "2", "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        with httpx.Client(base_url=url, timeout=30) as client:
            page = client.get("/login", headers={"accept": "text/html"})
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            signed_in = client.post("/login", data={"name": "zhang", "password": "correct horse",
                                                    "csrf_token": token.group(1), "next": "/api/v1/me"})
            assert signed_in.status_code == 303, signed_in.text
            cookies = dict(client.cookies)
        for _ in range(60):   # a fresh connection each time: either process may accept it
            with httpx.Client(base_url=url, timeout=30, cookies=cookies) as fresh:
                me = fresh.get("/api/v1/me")
                assert me.status_code == 200 and me.json()["name"] == "zhang", me.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    served = {line["pid"] for line in lines
              if line.get("logger") == "onething.access" and line.get("path") == "/api/v1/me"}
    assert len(served) == 2, served   # both processes answered, with the one session
    assert process.pid not in served


def test_inprocess_worker_refused_with_several_processes(tmp_path: Path) -> None:
    env = {**os.environ, "ONETHING_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "ONETHING_DEMO": "1",
           "ONETHING_INPROCESS_WORKER": "1"}
    result = subprocess.run([sys.executable, "-m", "onething", "serve", "--workers", "2", "--port",
                             str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--workers 1" in result.stderr
