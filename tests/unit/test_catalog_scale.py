"""The province-scale load path (issue 9, item 7): libyaml with positions looked up in a flat table, the cyclic
collector paused while a catalog is read, the planner's per-thing preparation — each gives what the slower
path gave: the same problems at the same path:line:col, the same plans."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from onething.bench.catalog import generate
from onething.catalog import loader
from onething.catalog.gcpause import collector_paused
from onething.catalog.loader import FilePositions, _fast_parse, _parse_roundtrip, load_catalog
from onething.catalog.regions import resolve
from onething.intake import plan
from onething.intake.cases import validate_catalog


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A generated catalog (the bench's shape, small) with one mistake of each kind the validator finds."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "catalog"
    generate(root, things=30, procedures=80)
    _replace(root / "things" / "t3.yaml", "  audience: enterprise", "  audiense: enterprise")  # unknown key
    _replace(root / "procedures" / "d1.yaml", "    department: d1", "    department: nope")  # unknown reference
    _replace(root / "things" / "t5.yaml", "after: [p25]", "after: [p99]")  # not a procedure of the thing
    _replace(root / "things" / "t7.yaml", 'when: "big"', 'when: "big &&"')  # a condition that does not parse
    _replace(root / "things" / "t10.yaml", "procedures: [p50, p51,", "procedures: [p50,")  # a case that fails
    _replace(root / "procedures" / "d2.yaml", "    promised_days: 3\n", "    promised_days: 0x3\n")  # ruamel reads
    _replace(root / "regions" / "city" / "region.yaml", "{id: p4, when", "{id: p999, when")  # region reference
    _replace(root / "things" / "t12.yaml", "  name: 一件事12\n", "  name: 一件事12\n  name: 重复\n")  # duplicate key
    return root


def test_fast_and_round_trip_reading_report_the_same_problems(broken: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    slow_files: list[str] = []
    roundtrip = loader._parse_roundtrip

    def spy(parser: YAML, text: str, file: str, problems: list[Any]) -> Any:
        slow_files.append(file)
        return roundtrip(parser, text, file, problems)

    monkeypatch.setattr(loader, "_parse_roundtrip", spy)
    _, fast = validate_catalog(broken)
    # Only the two unusual files went to ruamel (a duplicate key, a hexadecimal number).
    assert sorted(slow_files) == ["catalog/procedures/d2.yaml", "catalog/things/t12.yaml"]

    monkeypatch.setattr(loader, "_fast_parse", lambda text: None)
    _, slow = validate_catalog(broken)
    assert [str(p) for p in fast] == [str(p) for p in slow]

    errors = [str(p) for p in fast if p.severity == "error"]
    t3, d1, t5, t7 = (broken / "things" / "t3.yaml", broken / "procedures" / "d1.yaml",
                      broken / "things" / "t5.yaml", broken / "things" / "t7.yaml")
    t10, city = broken / "things" / "t10.yaml", broken / "regions" / "city" / "region.yaml"
    expected = [
        f"catalog/things/t3.yaml:{_line_of(t3, 'audiense')}:3: audiense: unknown key",
        f"catalog/procedures/d1.yaml:{_line_of(d1, 'department: nope')}:5: unknown department 'nope'",
        f"catalog/things/t5.yaml:{_line_of(t5, 'p99')}:25: `after` names 'p99', which is not a procedure of "
        "this thing",
        f"catalog/things/t10.yaml:{_line_of(t10, 'procedures: [p50,')}:9: case '默认': procedures differ "
        "(planned but not expected: p51)",
        f"catalog/regions/city/region.yaml:{_line_of(city, 'p999')}:28: procedure 'p999' is not in thing t0",
    ]
    for line in expected:
        assert line in errors, (line, "\n".join(errors))
    assert any(e.startswith(f"catalog/things/t7.yaml:{_line_of(t7, 'big &&')}:") and "does not parse" in e
               for e in errors), errors
    assert any(e.startswith("catalog/things/t12.yaml:4:3: YAML syntax: found duplicate key") for e in errors), errors


def test_file_positions_are_ruamels_positions() -> None:
    text = "thing:\n  code: t1\n  procedures:\n    - {id: p1, after: [p0]}\n    - id: p2\n      when: 'a > 1'\n"
    fast = _fast_parse(text)
    slow = _parse_roundtrip(YAML(typ="rt"), text, "x.yaml", [])
    assert fast is not None and slow is not None
    positions = fast[1]
    assert isinstance(positions, FilePositions)
    assert positions == slow[1]
    assert positions[("thing", "procedures", 1, "when")] == (6, 7)
    assert positions[("thing", "procedures", 0, "after", 0)] == (4, 24)
    assert len(positions) == len(slow[1])
    for missing in [(), ("thing", "procedures", 2), ("thing", "code", 0), ("thing", "procedures", "0")]:
        assert positions.get(missing) is None


@pytest.mark.parametrize("text", [
    "list:\n  year: 0x7E8\n",                 # hexadecimal (YAML 1.2: a number)
    "list:\n  year: 2_024\n",                 # underscores
    "list:\n  year: 0o17\n",                  # YAML 1.2 octal
    "list:\n  ratio: .inf\n",                 # infinity
    "list:\n  at: 2024-01-01 10:00:00\n",     # a timestamp
    "list:\n  year: !!str 2024\n",            # a standard tag
    "list:\n  year: ! 2024\n",                # the non-specific tag
    "list:\n  <<: {a: 1}\n",                  # a merge key
    "list:\n  \"a\\x1fb\": 1\n",              # a key with the table's separator in it
])
def test_values_the_fast_reading_does_not_decide_go_to_ruamel(text: str) -> None:
    assert _fast_parse(text) is None


def test_plain_words_are_text_and_quoted_values_never_convert() -> None:
    parsed = _fast_parse("x:\n  a: no\n  b: '2024-05-29'\n  c: ''\n  d: 1.2.3\n  e: -3\n  f: \"true\"\n  g:\n")
    assert parsed is not None
    assert parsed[0] == {"x": {"a": "no", "b": "2024-05-29", "c": "", "d": "1.2.3", "e": -3, "f": "true",
                               "g": None}}


def test_collector_paused_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a collector switched off before stays off
    finally:
        gc.enable()


def test_load_leaves_the_collector_on(tmp_path: Path) -> None:
    generate(tmp_path / "catalog", things=5, procedures=60)
    load_catalog(tmp_path / "catalog")
    validate_catalog(tmp_path / "catalog")
    assert gc.isenabled()


def test_a_region_plans_with_its_own_data_not_the_nationals(tmp_path: Path) -> None:
    """The planner prepares each (catalog, thing) once: the city's merged department must not leak into the
    national plan of the same thing, nor the reverse."""
    generate(tmp_path / "catalog", things=5, procedures=60)
    national = load_catalog(tmp_path / "catalog").catalog
    city = resolve(national, "city")
    answers = {"big": True, "area": 120}
    for _ in range(2):
        national_plan = plan(national, "t0", answers)
        city_plan = plan(city, "t0", answers)
        assert {p.department for p in national_plan.procedures} >= {"d0", "d1", "d2"}
        assert {"d0", "d1", "d2"}.isdisjoint(p.department for p in city_plan.procedures)
        assert "行政审批局" in {p.department_name for p in city_plan.procedures}
        # The city's threshold (area > 30) against the nation's (area > 100) for p4.
        assert ("p4" in city_plan.procedure_ids()) and ("p4" in national_plan.procedure_ids())
        assert "p4" in plan(city, "t0", {"area": 40}).procedure_ids()
        assert "p4" not in plan(national, "t0", {"area": 40}).procedure_ids()


def test_every_cycle_is_named_and_a_cyclic_plan_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """graphlib decides whether a thing has a cycle; every closing `after` is still named, as before."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "catalog"
    generate(root, things=12, procedures=60)
    _replace(root / "things" / "t3.yaml", "    - {id: p15}", "    - {id: p15, after: [p16]}")
    _replace(root / "things" / "t4.yaml", "    - {id: p20}", "    - {id: p20, after: [p20]}")
    _replace(root / "things" / "t5.yaml", "    - {id: p25}", "    - {id: p25, after: [p28]}")
    result, problems = validate_catalog(root)
    cycles = [str(p) for p in problems if "cycle" in p.message and not p.message.startswith("region")]
    assert cycles == [
        "catalog/things/t3.yaml:12:17: cycle in `after`: p15 → p16 → p15",
        "catalog/things/t4.yaml:11:17: cycle in `after`: p20 → p20",
        "catalog/things/t5.yaml:12:17: cycle in `after`: p25 → p28 → p26 → p25",
    ]
    with pytest.raises(ValueError, match="cycle"):
        plan(result.catalog, "t3", {})
    assert plan(result.catalog, "t6", {}).procedure_ids()  # an acyclic thing of the same catalog plans


def test_planning_does_not_keep_a_catalog_alive(tmp_path: Path) -> None:
    """The planner's per-thing preparation lives as long as its catalog, no longer (a server that publishes
    new versions must not accumulate old catalogs)."""
    import weakref

    generate(tmp_path / "catalog", things=5, procedures=60)
    catalog = load_catalog(tmp_path / "catalog").catalog
    first = plan(catalog, "t0", {"big": True})
    assert plan(catalog, "t0", {"big": True}) == first
    alive = weakref.ref(catalog)
    del catalog
    gc.collect()
    assert alive() is None
