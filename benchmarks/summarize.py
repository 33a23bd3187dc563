"""Print the JSON results of ``benchmarks/run_all.sh`` (one folder) as Markdown tables.

    python benchmarks/summarize.py /tmp/onething-bench-results.XXXXXX
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _load(folder: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {path.stem.split("-", 1)[1]: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob(f"{kind}-*.json"))}


def _reference_cells(r: dict[str, Any]) -> str:
    bare, ratios = r.get("reference"), r.get("vs_reference")
    if not bare or not ratios:
        return "– | – | –"
    return (f"{bare['throughput_per_s']} | {bare['latency']['p99_ms']} | "
            f"{ratios['throughput']} · {ratios['p99']}")


def main(folder: Path) -> None:
    submit, audit, fetch = _load(folder, "submit"), _load(folder, "audit"), _load(folder, "fetch")
    any_result = next(iter([*submit.values(), *audit.values(), *fetch.values()]), None)
    if any_result is not None:
        m = any_result["machine"]
        print(f"machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}, {m['platform']}\n")
    if submit:
        print("| submit | clients | servers | done/s | p50 ms | p95 ms | p99 ms | errors | ceiling/s | ratio "
              "| server CPU ms/sub | cores busy | reference/s | reference p99 ms | ÷ reference: throughput · p99 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for backend, r in submit.items():
            lat = r["latency"]
            print(f"| {backend} | {r['clients']} | {r['server']} | {r['throughput_per_s']} | {lat['p50_ms']} | "
                  f"{lat['p95_ms']} | {lat['p99_ms']} | {r['error_count']} | {r['ceiling']['throughput_per_s']} | "
                  f"{r['ratio']} | {r['server_cpu_ms_per_submission']} | {r['server_cpu_cores_busy']} | "
                  + _reference_cells(r) + " |")
        print()
    if audit:
        print("| audit | entries | append/s (service) | verify s | verify entries/s | verify_chain s | checkpoints "
              "| intact |")
        print("|---|---|---|---|---|---|---|---|")
        for backend, r in audit.items():
            print(f"| {backend} | {r['entries']} | {r['append_per_s']} | {r['verify_seconds']} | {r['verify_per_s']} | "
                  f"{r['verify_chain_seconds']} | {r['checkpoints']} | {r['intact']} |")
        print()
    if fetch:
        print("| fetch | fetches | fetches/s | p50 ms | p95 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        for backend, r in fetch.items():
            lat = r["latency"]
            print(f"| {backend} | {r['fetches']} | {r['fetches_per_s']} | {lat['p50_ms']} | {lat['p95_ms']} | "
                  f"{lat['p99_ms']} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
