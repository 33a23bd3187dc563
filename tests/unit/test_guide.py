"""The 办事指南 per procedure and the sources per thing: typed in the YAML, malformed values located by
path:line:col, codes checked for structure and reuse, gaps reported as information, not errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onething.catalog.loader import load_catalog
from onething.catalog.service import thing_guide
from onething.intake.cases import validate_catalog

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"
# A real implementation code as a Sichuan guide prints it; its USCC part carries a correct check character.
SICHUAN_CODE = "511Z07001006-511602000000-000-11511301008778183N-1-00"

GUIDE = """    guide:
      conditions:
        - 申请人已取得营业执照
      basis:
        - {law: 《中华人民共和国食品安全法》, article: 第三十五条}
      fees: 不收费
      locations:
        - {place: 市场监督管理局政务服务窗口, window: 综合窗口, hours: 工作日 9:00-17:00}
      contacts: {enquiry: ["12345"], complaint: ["0312-5345083"]}
      delivery: [window, electronic]
      legal_days_basis: {law: 《食品经营许可和备案管理办法》, article: 第二十一条}
    result: {name: 食品经营许可证, electronic: true, sample: https://example.org/sample.pdf}
    sources:
      - {title: 某地食品经营许可办事指南, url: https://example.org/guide, accessed: 2026-12-02}
"""
FOOD_MATERIALS = ('materials: [id_card, business_licence, {id: floor_plan, when: "area > 50"}]\n')
FULL_MATERIALS = (
    "materials:\n"
    "      - {id: id_card, form: original, copies: 1, medium: paper_or_electronic, channel: shared}\n"
    "      - {id: business_licence, form: copy, copies: 1, medium: electronic, channel: government}\n"
    "      - {id: floor_plan, when: \"area > 50\", form: original, copies: 1, medium: paper, channel: applicant,"
    " required: false}\n"
)


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(MINI, target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _full_food_permit(mini: Path) -> Path:
    samr = mini / "procedures" / "samr.yaml"
    _replace(samr, FOOD_MATERIALS, FULL_MATERIALS + GUIDE)
    return samr


def _problems(root: Path, severity: str) -> list[str]:
    _, problems = validate_catalog(root)
    return [str(p) for p in problems if p.severity == severity]


def test_a_full_guide_loads_and_leaves_no_gap_for_its_procedure(mini: Path) -> None:
    _full_food_permit(mini)
    assert _problems(mini, "error") == []
    infos = _problems(mini, "info")
    assert not any("procedure food-permit: 办事指南" in line for line in infos)
    assert any("procedure licence: 办事指南 not yet sourced: 受理条件, 法律依据, 收费标准" in line for line in infos)
    assert any("procedure food-permit has no `sources`" in line for line in infos) is False


def test_guide_json_carries_the_pinned_keys_and_the_sources(mini: Path) -> None:
    _full_food_permit(mini)
    catalog = load_catalog(mini).catalog
    guide = thing_guide(catalog, "open-shop")
    food = next(p for p in guide["procedures"] if p["id"] == "food-permit")["guide"]
    assert {"conditions", "basis", "fees", "locations", "contacts", "result", "delivery"} <= food.keys()
    assert food["fees"] == "不收费"
    assert food["basis"] == [{"law": "《中华人民共和国食品安全法》", "article": "第三十五条"}]
    assert food["contacts"] == {"enquiry": ["12345"], "complaint": ["0312-5345083"]}
    assert food["result"]["sample"] == "https://example.org/sample.pdf"
    assert food["delivery"] == ["window", "electronic"]
    assert food["missing"] == []
    assert [(m["id"], m["form"], m["channel"], m["required"]) for m in food["materials"]] == [
        ("id_card", "original", "shared", True), ("business_licence", "copy", "government", True),
        ("floor_plan", "original", "applicant", False)]
    licence = next(p for p in guide["procedures"] if p["id"] == "licence")["guide"]
    assert licence["conditions"] == [] and licence["fees"] is None and "受理条件" in licence["missing"]
    assert guide["sources"] == []


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ('contacts: {enquiry: ["12345"]', 'contacts: {enquiry: ["咨询12345"]', "contacts:",
     "guide.contacts.enquiry.0"),
    ("delivery: [window, electronic]", "delivery: [window, fax]", "delivery:", "guide.delivery.1"),
    ("{id: business_licence, form: copy,", "{id: business_licence, form: photocopy,", "id: business_licence",
     "materials.1.form"),
    ("copies: 1, medium: electronic", "copies: 0, medium: electronic", "id: business_licence",
     "materials.1.copies"),
    ("url: https://example.org/guide", "url: example.org/guide", "url: example.org", "sources.0.url"),
    ("url: https://example.org/guide", "url: 'javascript:alert(1)'", "javascript:", "sources.0.url"),
    ("accessed: 2026-12-02", "accessed: 上周", "accessed: 上周", "sources.0.accessed"),
    ("fees: 不收费", "fees: 不收费\n      fee: 0", "fee: 0", "guide.fee: unknown key"),
    ("- 申请人已取得营业执照", "- '  '", "- '  '", "guide.conditions.0"),
])
def test_malformed_guide_values_are_located(mini: Path, old: str, new: str, needle: str, message: str) -> None:
    samr = _full_food_permit(mini)
    _replace(samr, old, new)
    errors = _problems(mini, "error")
    line = _line_of(samr, needle)
    assert any(e.startswith(f"{samr}:{line}:") and message in e for e in errors), errors


def test_implementation_code_structure_and_check_character(mini: Path) -> None:
    samr = mini / "procedures" / "samr.yaml"
    _replace(samr, "name: 营业执照登记\n", f"name: 营业执照登记\n    implementation_code: {SICHUAN_CODE}\n")
    assert _problems(mini, "error") == []

    _replace(samr, SICHUAN_CODE, SICHUAN_CODE.replace("83N-1-00", "83A-1-00"))  # wrong check character
    errors = _problems(mini, "error")
    line = _line_of(samr, "implementation_code:")
    assert any(e.startswith(f"{samr}:{line}:") and "统一社会信用代码" in e for e in errors), errors

    _replace(samr, "83A-1-00", "83N-1")  # a part missing
    errors = _problems(mini, "error")
    assert any(e.startswith(f"{samr}:{line}:") and "实施编码 is <基本编码 12>" in e for e in errors), errors


def test_basic_code_must_head_the_implementation_code(mini: Path) -> None:
    samr = mini / "procedures" / "samr.yaml"
    _replace(samr, "name: 营业执照登记\n",
             f"name: 营业执照登记\n    basic_code: \"000117016000\"\n    implementation_code: {SICHUAN_CODE}\n")
    errors = _problems(mini, "error")
    assert any("does not start with this procedure's 基本编码" in e for e in errors), errors
    _replace(samr, "basic_code: \"000117016000\"", "basic_code: 511Z07001006")
    assert _problems(mini, "error") == []
    _replace(samr, "basic_code: 511Z07001006", "basic_code: 511Z0700100")  # 11 characters
    assert any("基本编码 is 12 digits or capital letters" in e for e in _problems(mini, "error"))


def test_no_code_is_used_twice(mini: Path) -> None:
    samr = mini / "procedures" / "samr.yaml"
    _replace(samr, "name: 营业执照登记\n", f"name: 营业执照登记\n    implementation_code: {SICHUAN_CODE}\n")
    _replace(samr, "name: 食品经营许可\n", f"name: 食品经营许可\n    implementation_code: {SICHUAN_CODE}\n")
    errors = _problems(mini, "error")
    line = _line_of(samr, "name: 食品经营许可") + 1
    assert f"{samr}:{line}:5: 实施编码 {SICHUAN_CODE} is also used by procedure licence" in errors, errors

    # One 基本编码 for two procedures only when each has its own 实施编码 (业务办理项).
    _replace(samr, f"name: 营业执照登记\n    implementation_code: {SICHUAN_CODE}\n",
             "name: 营业执照登记\n    basic_code: 511Z07001006\n")
    _replace(samr, f"implementation_code: {SICHUAN_CODE}\n", "basic_code: 511Z07001006\n")
    errors = _problems(mini, "error")
    assert any("基本编码 511Z07001006 is also used by procedure" in e for e in errors), errors


def test_a_basis_for_an_unknown_legal_limit_is_an_error(mini: Path) -> None:
    samr = _full_food_permit(mini)
    _replace(samr, "legal_days: 10", "legal_days: null")
    errors = _problems(mini, "error")
    line = _line_of(samr, "legal_days_basis:")
    assert f"{samr}:{line}:7: `legal_days_basis` is given but `legal_days` is null" in errors, errors


def test_validate_cli_passes_with_gaps_reported_as_info(mini: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "onething", "catalog", "validate", str(mini)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "info: procedure licence: 办事指南 not yet sourced" in run.stdout + run.stderr


def test_require_guide_makes_the_four_published_parts_errors(mini: Path) -> None:
    samr = _full_food_permit(mini)  # food-permit now gives every part; the others give none
    run = subprocess.run([sys.executable, "-m", "onething", "catalog", "validate", "--require-guide", str(mini)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if ": info: " not in line]
    wanted = "procedure licence: 办事指南 must give 受理条件, 法律依据, 咨询和投诉电话"
    assert any(line.startswith(f"{samr}:") and wanted in line for line in errors), run.stdout
    assert not any("procedure food-permit: 办事指南 must give" in line for line in errors)


def test_the_shipped_catalog_gives_the_four_parts_for_every_procedure() -> None:
    from onething.catalog.validate import required_guide_problems
    from onething.config import default_catalog_dir

    result, _ = validate_catalog(default_catalog_dir())
    assert [str(p) for p in required_guide_problems(result)] == []


def test_catalog_show_json_carries_each_procedures_guide_and_the_sources(mini: Path) -> None:
    _full_food_permit(mini)
    thing = mini / "things" / "open-shop.yaml"
    _replace(thing, "  code: open-shop\n", "  code: open-shop\n  sources:\n"
             "    - {title: 某地开店一件事办事指南, url: 'https://example.org/shop', accessed: 2026-12-02}\n")
    run = subprocess.run([sys.executable, "-m", "onething", "catalog", "show", "open-shop", "--json",
                          "--path", str(mini)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["sources"] == [{"title": "某地开店一件事办事指南", "url": "https://example.org/shop",
                                "accessed": "2026-12-02"}]
    for proc in body["procedures"]:
        assert {"guide", "sources", "confidence"} <= proc.keys()
        assert {"conditions", "basis", "fees", "locations", "contacts", "result", "delivery"} <= proc["guide"].keys()


def test_eligibility_condition_names_known_questions(mini: Path) -> None:
    thing = mini / "things" / "open-shop.yaml"
    _replace(thing, "  steps: 3\n",
             "  steps: 3\n  conditions: [经营场所在本市]\n  eligible_when: \"local && area > 0\"\n")
    errors = _problems(mini, "error")
    line = _line_of(thing, "eligible_when:")
    assert any(e.startswith(f"{thing}:{line}:") and "unknown question(s) local" in e for e in errors), errors
    _replace(thing, "local && area > 0", "area > 0")
    assert _problems(mini, "error") == []
    assert thing_guide(load_catalog(mini).catalog, "open-shop")["conditions"] == ["经营场所在本市"]
