"""The validator reports every problem of a broken catalog with its file and line, in one run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onething.intake.cases import validate_catalog

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(MINI, target)
    return target


def _errors(root: Path) -> list[str]:
    _, problems = validate_catalog(root)
    return [str(p) for p in problems if p.severity == "error"]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_clean_fixture_validates(mini: Path) -> None:
    assert _errors(mini) == []


def test_declared_count_shortfall_is_information_not_error(mini: Path) -> None:
    _, problems = validate_catalog(mini)
    infos = [p for p in problems if p.severity == "info"]
    assert any("declares 3 items; 1 are known" in p.message for p in infos)


def test_many_problems_reported_in_one_run_with_lines(mini: Path) -> None:
    samr = mini / "procedures" / "samr.yaml"
    other = mini / "procedures" / "other.yaml"
    thing = mini / "things" / "open-shop.yaml"
    fields = mini / "fields.yaml"
    _replace(samr, "department: samr\n    legal_days: 10", "department: tax\n    legal_days: 10")
    _replace(other, "promised_days: 7", "promised_days: -2")
    _replace(fields, "type: int,", "type: integer,")
    _replace(thing, 'when: "area > 100"', 'when: "area >"')
    _replace(thing, "when: 'sign != \"none\"'", "when: 'colour == \"red\"'")
    _replace(thing, "{id: licence, when: \"!has_licence\"}",
             "{id: licence, when: \"!has_licence\", after: [signboard]}")
    errors = _errors(mini)
    text = "\n".join(errors)
    assert re.search(rf"procedures/samr.yaml:{_line_of(samr, 'department: tax')}:\d+: unknown department 'tax'", text)
    assert re.search(rf"procedures/other.yaml:{_line_of(other, 'promised_days: -2')}:\d+: .*promised_days.*"
                     r"greater than or equal to 0", text)
    assert re.search(rf"fields.yaml:{_line_of(fields, 'type: integer')}:\d+: .*type", text)
    assert re.search(rf"things/open-shop.yaml:{_line_of(thing, 'area >')}:\d+: condition `area >` does not parse",
                     text)
    assert "names unknown question(s) colour" in text
    assert "cycle in `after`" in text
    # Every error is addressed as path:line:col.
    assert all(re.match(r"^[^:]+:\d+:\d+: ", line) for line in errors)


def test_number_fields_need_min_and_max_with_min_not_above_max(mini: Path) -> None:
    fields = mini / "fields.yaml"
    _replace(fields, "type: int, min: 0, max: 100000}", "type: int, min: 0}")
    _replace(fields, "{id: sign_text, label: 招牌文字, type: text}",
             "{id: sign_text, label: 招牌文字, type: text, max: 5}\n"
             "  - {id: fee, label: 费用, type: money, min: 10, max: 9}")
    text = "\n".join(_errors(mini))
    assert re.search(rf"fields.yaml:{_line_of(fields, 'id: seat_count')}:\d+: number field seat_count \(int\) "
                     r"needs `max`", text)
    assert re.search(rf"fields.yaml:{_line_of(fields, 'id: fee')}:\d+: field fee: min 10 is greater than max 9", text)
    assert re.search(rf"fields.yaml:{_line_of(fields, 'id: sign_text')}:\d+: `max` applies only to int and money",
                     text)


def test_yaml_syntax_error_is_located(mini: Path) -> None:
    path = mini / "materials.yaml"
    path.write_text("materials:\n  - {id: id_card, name: 身份证\n  - {id: x, name: y}\n", encoding="utf-8")
    errors = _errors(mini)
    assert any(e.startswith(f"{path}:") and "YAML syntax" in e for e in errors), errors


def test_duplicate_ids_across_files(mini: Path) -> None:
    (mini / "procedures" / "zz-dup.yaml").write_text(
        "procedures:\n  - {id: licence, name: 重复, department: samr, promised_days: 1}\n", encoding="utf-8")
    errors = _errors(mini)
    assert any("procedures/zz-dup.yaml:2:" in e and "duplicate procedure id 'licence'" in e for e in errors), errors


def test_unknown_references_and_keys(mini: Path) -> None:
    samr = mini / "procedures" / "samr.yaml"
    _replace(samr, "materials: [id_card]", "materials: [id_card, passport]")
    _replace(mini / "procedures" / "other.yaml", "steps: 2", "steps: 2\n    colour: blue")
    materials = mini / "materials.yaml"
    _replace(materials, "proven_by: [population]", "proven_by: [tax_records]")
    errors = "\n".join(_errors(mini))
    assert "unknown material 'passport'" in errors
    assert "colour: unknown key" in errors
    assert "unknown data resource 'tax_records'" in errors


def test_items_listed_twice(mini: Path) -> None:
    _replace(mini / "procedures" / "samr.yaml", "materials: [id_card]", "materials: [id_card, id_card]")
    _replace(mini / "lists" / "national-2024-1.yaml", "items: [open-shop]", "items: [open-shop, open-shop]")
    errors = "\n".join(_errors(mini))
    assert re.search(r"procedures/samr.yaml:\d+:\d+: material 'id_card' listed twice", errors)
    assert re.search(r"lists/national-2024-1.yaml:\d+:\d+: thing 'open-shop' listed twice", errors)


def test_case_whose_expected_plan_differs(mini: Path) -> None:
    thing = mini / "things" / "open-shop.yaml"
    _replace(thing, "expect: {procedures: [licence, food-permit], promised_days: 6}",
             "expect: {procedures: [licence, fire-check], promised_days: 9}")
    errors = "\n".join(_errors(mini))
    assert "procedures differ (expected but not planned: fire-check; planned but not expected: food-permit)" in errors
    assert "promised_days expected 9, computed 6" in errors


def test_list_id_must_match_file_and_parts(mini: Path) -> None:
    path = mini / "lists" / "national-2024-1.yaml"
    _replace(path, "batch: 1", "batch: 2")
    errors = "\n".join(_errors(mini))
    assert "list id 'national-2024-1' should be 'national-2024-2'" in errors


def test_cli_exit_codes(mini: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "onething", "catalog", "validate", str(mini)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("catalog OK: 1 things")
    _replace(mini / "things" / "open-shop.yaml", "lead: samr", "lead: nobody")
    bad = subprocess.run([sys.executable, "-m", "onething", "catalog", "validate", str(mini)],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "unknown department 'nobody'" in bad.stdout
