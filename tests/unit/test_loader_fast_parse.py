"""The libyaml fast path reads every shipped and fixture catalog file exactly as ruamel's round-trip parser
does — same data, same line and column for every key and item — and leaves unusual files to ruamel."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from onething.catalog.loader import _fast_parse, _parse_roundtrip
from onething.config import default_catalog_dir

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted([*default_catalog_dir().rglob("*.yaml"), *FIXTURES.rglob("*.yaml")])


def test_every_catalog_file_reads_the_same_both_ways() -> None:
    assert len(FILES) > 100
    fast_read = 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        fast = _fast_parse(text)
        if fast is None:
            continue
        fast_read += 1
        slow = _parse_roundtrip(YAML(typ="rt"), text, str(path), [])
        assert slow is not None
        assert fast[0] == slow[0], path
        assert fast[1] == slow[1], path
    assert fast_read == len(FILES)


@pytest.mark.parametrize("text", [
    "departments:\n  - {id: a, name: x}\n  - {id: a, name: x, name: y}\n",   # duplicate key
    "thing:\n  code: !custom x\n",                                            # a tag
    "fields:\n  - id: [unclosed\n",                                           # syntax error
    "list:\n  year: 012\n",                                                   # leading zero
])
def test_unusual_files_go_to_ruamel(text: str) -> None:
    assert _fast_parse(text) is None


def test_plain_scalars_follow_yaml_1_2() -> None:
    parsed = _fast_parse("x:\n  a: yes\n  b: true\n  c: 2024-05-29\n  d: '10'\n  e: 1.5\n  f: ~\n  g: 7\n")
    assert parsed is not None
    import datetime as dt
    assert parsed[0] == {"x": {"a": "yes", "b": True, "c": dt.date(2024, 5, 29), "d": "10", "e": 1.5, "f": None,
                               "g": 7}}
