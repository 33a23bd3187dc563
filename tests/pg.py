"""Find or start a PostgreSQL server for the integration tests.

Order: ``ONETHING_TEST_DATABASE_URL``; else a server on 127.0.0.1:5432 (trust auth, database ``test``); else a
throwaway cluster started from the local PostgreSQL binaries (``initdb``/``pg_ctl``). Each test session
creates its own database on that server and drops it at the end, so parallel runs never collide.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries() -> Path | None:
    for name in ("initdb",):
        found = shutil.which(name)
        if found:
            return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@contextmanager
def _throwaway_cluster() -> Iterator[str]:
    bindir = _binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server answers on 127.0.0.1:5432 and initdb is not installed "
                           "(install Debian's `postgresql` package, or set ONETHING_TEST_DATABASE_URL)")
    workdir = Path(tempfile.mkdtemp(prefix="onething-pg-"))
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        shutil.chown(workdir, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "log"),
                    "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def server_url() -> Iterator[str]:
    configured = os.environ.get("ONETHING_TEST_DATABASE_URL")
    if configured:
        yield configured
    elif _answers(DEFAULT_URL):
        yield DEFAULT_URL
    else:
        with _throwaway_cluster() as url:
            yield url


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` for this test session; dropped afterwards."""
    name = f"onething_t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_libpq(server), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is generated above, not user input
    except psycopg.Error:
        # No CREATE DATABASE right: use the given database as it is.
        yield server
        return
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
