"""Regions inherit (national → province → city): overrides of limits, thresholds, procedures and departments,
and every mistake in a region file reported as path:line:col."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onething.catalog.errors import UnknownRegion
from onething.catalog.regions import region_summaries, resolve
from onething.catalog.service import load_valid_catalog
from onething.intake import plan
from onething.intake.cases import check_cases, validate_catalog

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"

PROVINCE = """\
region:
  code: prov
  name: 某省
  level: province
  procedure_overrides:
    - {id: food-permit, promised_days: 3}
"""
CITY = """\
region:
  code: town
  name: 某市
  level: city
  parent: prov
  things:
    - code: open-shop
      change_procedures:
        - {id: fire-check, when: "area > 50"}
"""


def _write(root: Path, code: str, text: str) -> Path:
    path = root / "regions" / code / "region.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(MINI, target)
    _write(target, "prov", PROVINCE)
    _write(target, "town", CITY)
    return target


def _errors(root: Path) -> list[str]:
    _, problems = validate_catalog(root)
    return [str(p) for p in problems if p.severity == "error"]


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_city_inherits_province_limit_and_sets_its_own_threshold(mini: Path) -> None:
    assert _errors(mini) == []
    catalog = load_valid_catalog(mini)
    national = plan(catalog, "open-shop", {"area": 60})
    assert national.procedure_ids() == ["licence", "food-permit"]
    assert national.promised_days == 6  # licence 1 + food permit 5
    province = plan(resolve(catalog, "prov"), "open-shop", {"area": 60})
    assert province.procedure_ids() == ["licence", "food-permit"]
    assert province.promised_days == 4  # the province's 3-day food permit
    city = plan(resolve(catalog, "town"), "open-shop", {"area": 60})
    assert sorted(city.procedure_ids()) == ["fire-check", "food-permit", "licence"]  # local threshold 50 m²
    assert resolve(catalog, "town").procedures["food-permit"].promised_days == 3  # inherited from the province
    assert catalog.procedures["food-permit"].promised_days == 5  # the national definition is untouched


def test_drop_and_add_procedures_keep_the_order_around_them(mini: Path) -> None:
    _write(mini, "town", CITY + """\
      drop_procedures: [food-permit]
      add_procedures:
        - {id: local-filing, after: [licence]}
  procedures:
    - {id: local-filing, name: 本地备案, department: urban, promised_days: 2}
""")
    assert _errors(mini) == []
    catalog = resolve(load_valid_catalog(mini), "town")
    thing = catalog.thing("open-shop")
    assert [tp.id for tp in thing.procedures] == ["licence", "fire-check", "signboard", "local-filing"]
    # signboard came after the dropped food permit: it now comes after the licence, which preceded it.
    assert next(tp for tp in thing.procedures if tp.id == "signboard").after == ("licence",)
    result = plan(catalog, "open-shop", {"sign": "wall"})
    assert sorted(result.procedure_ids()) == ["licence", "local-filing", "signboard"]
    assert result.promised_days == 3


def test_department_merge_moves_procedures_and_lead(mini: Path) -> None:
    _write(mini, "town", CITY + """\
  departments:
    - {id: xzsp, name: 某市行政审批局, level: city, takes_over: [samr, urban]}
""")
    assert _errors(mini) == []
    catalog = resolve(load_valid_catalog(mini), "town")
    assert catalog.departments["xzsp"].level is not None and catalog.departments["xzsp"].level.value == "city"
    assert {p: catalog.procedures[p].department for p in ("licence", "food-permit", "signboard", "fire-check")} == {
        "licence": "xzsp", "food-permit": "xzsp", "signboard": "xzsp", "fire-check": "fire"}
    assert catalog.thing("open-shop").lead == "xzsp"
    result = plan(catalog, "open-shop", {"area": 60, "sign": "wall"})
    assert {p.id: p.department_name for p in result.procedures}["licence"] == "某市行政审批局"


def test_unknown_parent_thing_procedure_and_department_are_addressed(mini: Path) -> None:
    town = _write(mini, "town", """\
region:
  code: town
  name: 某市
  level: city
  parent: prov
  departments:
    - {id: xzsp, name: 审批局, takes_over: [nobody]}
  things:
    - code: open-nothing
    - code: open-shop
      drop_procedures: [no-such-step]
""")
    _write(mini, "lost", "region:\n  code: lost\n  name: 无\n  level: county\n  parent: atlantis\n")
    errors = _errors(mini)
    town_file = str(town)
    nobody = [e for e in errors if "unknown department 'nobody'" in e]
    assert nobody and nobody[0].startswith(f"{town_file}:{_line_of(town, 'nobody')}:"), errors
    assert any(e.startswith(f"{town_file}:{_line_of(town, 'open-nothing')}:") and "unknown thing 'open-nothing'"
               in e for e in errors), errors
    assert any(e.startswith(f"{town_file}:{_line_of(town, 'no-such-step')}:")
               and "procedure 'no-such-step' is not in thing open-shop" in e for e in errors), errors
    lost = mini / "regions" / "lost" / "region.yaml"
    assert any(e.startswith(f"{lost}:5:") and "unknown region 'atlantis'" in e for e in errors), errors


def test_region_folder_must_match_its_code(mini: Path) -> None:
    wrong = _write(mini, "elsewhere", PROVINCE.replace("code: prov", "code: other"))
    errors = _errors(mini)
    assert any(e.startswith(f"{wrong}:2:") and "belongs in regions/other/region.yaml" in e for e in errors), errors


def test_region_cases_are_checked_against_the_region_plan(mini: Path) -> None:
    path = _write(mini, "town", CITY + """\
      cases:
        - name: 60 平方米在本市需要消防检查
          answers: {area: 60}
          expect: {procedures: [licence, food-permit], promised_days: 4}
""")
    from onething.catalog.loader import load_catalog

    problems = [str(p) for p in check_cases(load_catalog(mini))]
    assert any(p.startswith(f"{path}:") and "region town:" in p and "planned but not expected: fire-check" in p
               for p in problems), problems


def test_unknown_region_is_an_error(mini: Path) -> None:
    catalog = load_valid_catalog(mini)
    with pytest.raises(UnknownRegion):
        resolve(catalog, "atlantis")
    assert resolve(catalog, None) is catalog
    assert region_summaries(catalog) == [
        {"code": "prov", "name": "某省", "parent": None, "level": "province", "things": []},
        {"code": "town", "name": "某市", "parent": "prov", "level": "city", "things": ["open-shop"]},
    ]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onething", "catalog", *args], capture_output=True, text=True)


def test_cli_regions_show_and_plan_with_region(mini: Path) -> None:
    listed = _cli("regions", "--json", "--path", str(mini))
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [{k: r[k] for k in ("code", "name", "parent", "things")} for r in rows] == [
        {"code": "prov", "name": "某省", "parent": None, "things": []},
        {"code": "town", "name": "某市", "parent": "prov", "things": ["open-shop"]},
    ]
    shown = _cli("show", "open-shop", "--json", "--region", "town", "--path", str(mini))
    assert shown.returncode == 0, shown.stderr
    guide = json.loads(shown.stdout)
    assert guide["region"] == "town"
    assert {p["id"]: p["when"] for p in guide["procedures"]}["fire-check"] == "area > 50"
    planned = _cli("plan", "open-shop", "--json", "--region", "town", "--answers", '{"area": 60}',
                   "--path", str(mini))
    assert planned.returncode == 0, planned.stderr
    body = json.loads(planned.stdout)
    assert body["region"] == "town" and body["promised_days"] == 8  # licence 1 + max(food 3, fire 7)
    national = json.loads(_cli("plan", "open-shop", "--json", "--answers", '{"area": 60}',
                               "--path", str(mini)).stdout)
    assert national["promised_days"] == 6
    unknown = _cli("plan", "open-shop", "--region", "atlantis", "--path", str(mini))
    assert unknown.returncode == 1
    assert "no region with code 'atlantis'" in unknown.stderr


def test_shipped_regions_resolve_from_their_sources() -> None:
    from onething.config import default_catalog_dir

    catalog = load_valid_catalog(default_catalog_dir())
    assert {r["code"]: r["parent"] for r in region_summaries(catalog)} == {
        "shandong": None, "sichuan": None, "qingdao": "shandong"}
    qingdao = resolve(catalog, "qingdao")
    thing = qingdao.thing("enterprise-deregistration")
    assert thing.lead == "qingdao-xzsp"
    assert qingdao.departments["qingdao-xzsp"].name == "青岛市行政审批服务局"
    assert qingdao.procedures["deregistration-registration"].department == "qingdao-xzsp"
    assert catalog.procedures["deregistration-registration"].department == "samr"
    result = plan(qingdao, "enterprise-deregistration", {"simplified": True})
    assert {p.id: p.department_name for p in result.procedures}["deregistration-registration"] == "青岛市行政审批服务局"
    sichuan = resolve(catalog, "sichuan").thing("enterprise-deregistration")
    assert any("农民专业合作社" in c for c in sichuan.conditions)
    for region in catalog.regions.values():
        for change in region.things:
            assert change.sources, f"{region.code}/{change.code} has no sources"
