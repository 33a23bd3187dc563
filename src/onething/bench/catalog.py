"""`onething bench catalog`: a province-scale catalog — N things, M procedures, two region layers — generated
into a folder, then timed: load + validate (every reference, condition, cycle and example case, and the
regions), and the plan of one 40-procedure thing as its city resolves it.

The generated catalog is synthetic but has the shape of the real one: departments, shared fields and
materials, procedures spread over per-department files, things whose procedures form a DAG with conditions
on their questions, a province that overrides limits and a city (under it) that merges departments, drops
and adds procedures and sets a local threshold.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from onething.bench.common import latency_summary

BIG = 40  # procedures of the planned thing


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generate(root: Path, *, things: int, procedures: int, departments: int = 40) -> dict[str, int]:
    """Write a valid catalog of ``things`` things and ``procedures`` procedures (plus regions) under ``root``."""
    procedures = max(procedures, BIG)
    fields = 200
    materials = 200
    _write(root / "departments.yaml", "departments:\n" + "".join(
        f"  - {{id: d{d}, name: 部门{d}, level: national}}\n" for d in range(departments)))
    _write(root / "fields.yaml", "fields:\n" + "".join(
        f"  - {{id: f{f}, label: 字段{f}, type: text}}\n" for f in range(fields)))
    _write(root / "resources.yaml", "resources:\n" + "".join(
        f"  - {{id: r{r}, name: 资源{r}, holder: d{r % departments}, sharing: unconditional, fields: [f{r}]}}\n"
        for r in range(20)))
    _write(root / "materials.yaml", "materials:\n" + "".join(
        f"  - {{id: m{m}, name: 材料{m}{', proven_by: [r' + str(m) + ']' if m < 20 else ''}}}\n"
        for m in range(materials)))
    by_dept: dict[int, list[str]] = {}
    for p in range(procedures):
        dept = p % departments
        by_dept.setdefault(dept, []).append(
            f"  - id: p{p}\n    name: 事项{p}\n    department: d{dept}\n    promised_days: {1 + p % 10}\n"
            f"    legal_days: {5 + p % 20}\n    steps: 3\n    trips: 1\n"
            f"    fields: [f{p % fields}, f{(p * 7 + 1) % fields}, {{id: f{(p * 13 + 2) % fields}, when: \"big\"}}]\n"
            f"    materials: [m{p % materials}, {{id: m{(p * 3 + 1) % materials}, required: false}}]\n")
    for dept, items in by_dept.items():
        _write(root / "procedures" / f"d{dept}.yaml", "procedures:\n" + "".join(items))
    for t in range(things):
        size = BIG if t == 0 else 3 + t % 6
        start = (t * 5) % (procedures - size)
        lines = [f"    - {{id: p{start}}}\n"]
        for k in range(1, size):
            after = f"p{start + (k - 1) // 2}"
            when = ', when: "big"' if k % 4 == 3 else (', when: "area > 100"' if k % 5 == 4 else "")
            lines.append(f"    - {{id: p{start + k}, after: [{after}]{when}}}\n")
        case = ("  cases:\n    - name: 默认\n      answers: {}\n      expect:\n        procedures: ["
                + ", ".join(f"p{start + k}" for k in range(size) if k % 4 != 3 and k % 5 != 4) + "]\n"
                if t % 10 == 0 else "")
        _write(root / "things" / f"t{t}.yaml",
               f"thing:\n  code: t{t}\n  name: 一件事{t}\n  audience: enterprise\n  stage: 准入准营\n"
               f"  lead: d{t % departments}\n  questions:\n"
               f"    - {{id: big, text: 规模较大？, type: bool, default: false}}\n"
               f"    - {{id: area, text: 面积, type: int, default: 50}}\n  procedures:\n{''.join(lines)}{case}")
    _write(root / "lists" / "national-2024-1.yaml",
           "list:\n  id: national-2024-1\n  issuer: national\n  year: 2024\n  batch: 1\n  title: 清单\n  items: ["
           + ", ".join(f"t{t}" for t in range(min(things, 50))) + "]\n")
    overridden = list(range(0, things, max(1, things // 50)))
    _write(root / "regions" / "prov" / "region.yaml",
           "region:\n  code: prov\n  name: 某省\n  level: province\n  procedure_overrides:\n" + "".join(
               f"    - {{id: p{p}, promised_days: 2}}\n" for p in range(0, procedures, 50)))
    def size_of(t: int) -> int:
        return BIG if t == 0 else 3 + t % 6

    city_things = "".join(
        f"    - code: t{t}\n      change_procedures: [{{id: p{(t * 5) % (procedures - size_of(t)) + 4},"
        f" when: \"area > 30\"}}]\n" for t in overridden if size_of(t) > 4)
    _write(root / "regions" / "city" / "region.yaml",
           "region:\n  code: city\n  name: 某市\n  level: city\n  parent: prov\n  departments:\n"
           "    - {id: xzsp, name: 行政审批局, level: city, takes_over: [d0, d1, d2]}\n"
           f"  things:\n{city_things}")
    return {"things": things, "procedures": procedures, "departments": departments, "regions": 2,
            "overridden_things": len(overridden)}


def run_catalog(*, things: int = 1000, procedures: int = 5000, plans: int = 2000,
                folder: Path | None = None) -> dict[str, Any]:
    """Generate, then time load + validate (once) and ``plans`` plans of the 40-procedure thing in the city."""
    from onething.catalog.regions import resolve
    from onething.intake import plan
    from onething.intake.cases import validate_catalog

    with tempfile.TemporaryDirectory() as tmp:
        root = folder or Path(tmp) / "catalog"
        sizes = generate(root, things=things, procedures=procedures)
        started = time.perf_counter()
        result, problems = validate_catalog(root)
        load_validate = time.perf_counter() - started
        # Loading pauses the cyclic collector (onething.catalog.gcpause); the pass it deferred over the new
        # objects is timed here, on its own, so that it is neither hidden nor left to land in the timed plans.
        started = time.perf_counter()
        gc.collect()
        deferred_collection = time.perf_counter() - started
        errors = [str(p) for p in problems if p.severity == "error"]
        catalog = result.catalog
        city = resolve(catalog, "city")
        thing = city.thing("t0")
        answers = {"big": True, "area": 120}
        plan(city, thing, answers)  # warm the condition cache
        seconds = []
        cpu_seconds = []  # the plan's own CPU time: what a wall-clock tail owes to the host's other processes
        for _ in range(plans):
            cpu_begin = time.thread_time()
            begin = time.perf_counter()
            planned = plan(city, thing, answers)
            seconds.append(time.perf_counter() - begin)
            cpu_seconds.append(time.thread_time() - cpu_begin)
        return {
            "sizes": sizes, "valid": not errors, "errors": errors[:10],
            "load_validate_s": round(load_validate, 3), "load_validate_target_s": 3.0,
            "deferred_collection_s": round(deferred_collection, 3),
            "plan_procedures": len(thing.procedures), "planned_procedures": len(planned.procedures),
            "plans": plans, "plan": latency_summary(seconds), "plan_p95_target_ms": 2.0,
            "plan_cpu": latency_summary(cpu_seconds),
        }
