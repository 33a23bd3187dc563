"""The bench commands run end to end with tiny sizes on SQLite and print the figures they promise.

Correctness only: no figure is compared with a target here (speed lives in ``onething bench``, run by
``benchmarks/``, and in ``docs/performance.md``). Each command runs as a real ``onething`` process, as a script
would call it; ``bench submit`` starts its own ``onething serve`` subprocess and talks to it over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "ONETHING_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    result = subprocess.run([sys.executable, "-m", "onething", "bench", *args, "--json"], capture_output=True,
                            text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


LATENCY_KEYS = {"p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"}


def test_bench_submit(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "submit", "--clients", "2", "--duration", "2", "--warmup", "0.5",
                     "--ceiling-seconds", "1", "--workers", "2")
    assert {"backend", "clients", "duration_s", "submissions", "errors", "error_count", "throughput_per_s",
            "latency", "ceiling", "ratio", "chain_intact", "rate_limit_per_minute", "machine", "workers",
            "reference", "vs_reference"} <= figures.keys()
    assert figures["backend"] == "sqlite" and figures["clients"] == 2 and figures["workers"] == 2
    assert "--workers 2" in figures["server"]
    # Both processes of the server did work: CPU is summed over the server's process tree.
    assert figures["server_cpu_ms_per_submission"] is not None and figures["server_cpu_ms_per_submission"] > 0
    # The bare reference app ran in the same run on the same database, with no errors, and the ratios follow.
    reference = figures["reference"]
    assert reference["submissions"] > 0 and reference["errors"] == {}
    assert reference["latency"].keys() >= LATENCY_KEYS
    ratios = figures["vs_reference"]
    # (from the unrounded figures: the reported ones are rounded)
    assert ratios["throughput"] == pytest.approx(figures["throughput_per_s"] / reference["throughput_per_s"],
                                                 rel=0.02)
    assert ratios["p99"] == pytest.approx(figures["latency"]["p99_ms"] / reference["latency"]["p99_ms"], rel=0.02)
    assert figures["submissions"] > 0 and figures["error_count"] == 0 and figures["errors"] == {}
    assert figures["latency"].keys() >= LATENCY_KEYS
    ceiling = figures["ceiling"]
    assert {"submissions", "seconds", "throughput_per_s", "rows_per_submission", "threads"} <= ceiling.keys()
    assert ceiling["threads"] == 2 and ceiling["errors"] == []   # concurrent connections, one per client
    assert ceiling["rows_per_copy"] == {"applications": 1, "tasks": ceiling["rows_per_submission"]["tasks"],
                                        "outbox_events": ceiling["rows_per_submission"]["outbox_events"],
                                        "audit_entries": 1}
    rows = ceiling["rows_per_submission"]
    assert rows["applications"] == 1 and rows["tasks"] >= 1 and rows["outbox_events"] >= 1
    assert rows["audit_entries"] >= 1 + rows["tasks"]    # submitted, one per task created, ready ones
    assert figures["ratio"] > 0
    assert figures["chain_intact"] is True               # the service's entries, verified before any copy


def test_bench_case(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "case", "--cases", "4", "--threads", "2")
    assert {"cases", "threads", "statuses", "decisions", "seconds", "cases_per_s", "decisions_per_s",
            "case_latency", "machine"} <= figures.keys()
    # Every case went the whole way: open-restaurant's four tasks each accepted and approved, all persisted.
    assert figures["cases"] == 4 and figures["statuses"] == {"completed": 4}
    assert figures["decisions"] == 4 * 8 and figures["cases_per_s"] > 0
    assert figures["case_latency"].keys() >= LATENCY_KEYS


@pytest.mark.parametrize("hash_format", [1, 2])
def test_bench_audit(tmp_path: Path, hash_format: int) -> None:
    figures = _bench(tmp_path, "audit", "--entries", "1000", "--service-entries", "300", "--batch", "100",
                     "--hash-format", str(hash_format))
    assert {"entries", "service_entries", "append_per_s", "seeded_entries", "verify_seconds", "verify_per_s",
            "verify_chain_seconds", "checkpoints", "verified", "intact"} <= figures.keys()
    assert figures["entries"] == figures["verified"] == 1000
    assert figures["service_entries"] == 300 and figures["seeded_entries"] == 700
    assert figures["checkpoints"] == 1 and figures["intact"] is True
    assert figures["hash_format"] == hash_format


def test_bench_audit_on_postgresql(tmp_path: Path, postgres_server: str) -> None:
    """On PostgreSQL the bench also times verify_chain after VACUUM (ANALYZE), as autovacuum leaves a chain."""
    figures = _bench(tmp_path, "audit", "--entries", "600", "--service-entries", "100", "--database",
                     postgres_server)
    assert figures["backend"] == "postgresql" and figures["verified"] == 600 and figures["intact"] is True
    assert figures["verify_chain_vacuumed_seconds"] >= 0 and figures["vacuum_seconds"] >= 0


def test_bench_fetch(tmp_path: Path) -> None:
    figures = _bench(tmp_path, "fetch", "--fetches", "50")
    assert {"fetches", "fetches_per_s", "latency", "resource", "purpose", "consumer", "checks"} <= figures.keys()
    assert figures["fetches"] == 50
    assert figures["fetches_per_s"] == pytest.approx(50 / figures["seconds"], rel=0.05)
    assert figures["latency"]["p50_ms"] <= figures["latency"]["p95_ms"] <= figures["latency"]["max_ms"]
    assert {"grant", "consent", "purpose", "fields"} <= set(figures["checks"])
    assert figures["latency"].keys() >= LATENCY_KEYS


@pytest.mark.parametrize("args", [["submit", "--clients", "0"], ["audit", "--entries", "0"],
                                  ["audit", "--hash-format", "3"],
                                  ["fetch", "--fetches", "0"], ["submit", "--url", "http://127.0.0.1:1"],
                                  ["case", "--cases", "0"], ["case", "--threads", "0"],
                                  ["submit", "--clients", "2", "--workers", "0"]])
def test_bench_refuses_bad_sizes(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "onething", "bench", *args], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1 and "error:" in result.stderr
