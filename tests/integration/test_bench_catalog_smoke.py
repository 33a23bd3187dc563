"""`onething bench catalog` with tiny sizes: the keys it promises, and the generated catalog (regions included)
validates. No timing is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from onething.bench.catalog import generate
from onething.catalog.regions import resolve
from onething.intake.cases import validate_catalog


def test_bench_catalog_prints_its_figures() -> None:
    result = subprocess.run([sys.executable, "-m", "onething", "bench", "catalog", "--things", "12",
                             "--procedures", "60", "--plans", "5", "--json"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["valid"] is True and figures["errors"] == []
    assert figures["sizes"] == {"things": 12, "procedures": 60, "departments": 40, "regions": 2,
                                "overridden_things": 12}
    assert figures["plan_procedures"] == 40 and figures["plans"] == 5
    assert set(figures["plan"]) == {"p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"}
    assert set(figures["plan_cpu"]) == set(figures["plan"])
    assert isinstance(figures["load_validate_s"], float)
    assert isinstance(figures["deferred_collection_s"], float)


def test_generated_catalog_validates_with_two_region_layers(tmp_path: Path) -> None:
    generate(tmp_path / "c", things=20, procedures=80)
    result, problems = validate_catalog(tmp_path / "c")
    assert [str(p) for p in problems if p.severity == "error"] == []
    city = resolve(result.catalog, "city")
    assert set(result.catalog.regions) == {"city", "prov"}
    assert city.procedures["p0"].department == "xzsp"      # merged by the city
    assert city.procedures["p50"].promised_days == 2       # overridden by the province
