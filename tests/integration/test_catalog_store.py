"""Publishing catalog versions and diffing them, on SQLite and PostgreSQL, through the services and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onething import db
from onething.catalog.errors import InvalidCatalog
from onething.catalog.service import diff_refs, publish_catalog
from onething.intake.cases import check_cases

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"


def test_publish_is_immutable_and_idempotent(database_url: str, tmp_path: Path) -> None:
    engine = db.make_engine(database_url)
    first = publish_catalog(MINI, actor="test", checks=[check_cases], engine=engine)
    again = publish_catalog(MINI, actor="test", checks=[check_cases], engine=engine)
    assert first.created and not again.created
    assert again.id == first.id and again.content_hash == first.content_hash

    changed = tmp_path / "catalog"
    shutil.copytree(MINI, changed)
    other = changed / "procedures" / "other.yaml"
    other.write_text(other.read_text(encoding="utf-8").replace("promised_days: 7", "promised_days: 5"),
                     encoding="utf-8")
    thing = changed / "things" / "open-shop.yaml"
    thing.write_text(thing.read_text(encoding="utf-8").replace("promised_days: 7\n", "promised_days: 6\n"),
                     encoding="utf-8")
    with pytest.raises(InvalidCatalog, match="promised_days expected 6, computed 7"):
        publish_catalog(changed, actor="test", checks=[check_cases], engine=engine)
    thing.write_text(thing.read_text(encoding="utf-8").replace("promised_days: 6\n", "promised_days: 7\n"),
                     encoding="utf-8")
    second = publish_catalog(changed, actor="test", checks=[check_cases], engine=engine)
    assert second.created and second.id != first.id

    changes = diff_refs(str(first.id), str(second.id), engine=engine)
    assert changes["procedures"].changed == {"fire-check": ["promised_days"]}
    assert changes["things"].changed == {}
    assert not changes["things"].added and not changes["things"].removed
    # versions and folders mix
    assert diff_refs(str(MINI), "latest", engine=engine)["procedures"].changed == {"fire-check": ["promised_days"]}
    engine.dispose()


def test_cli_publish_and_diff(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "onething", *args], capture_output=True, text=True, env=env)

    published = run("catalog", "publish", str(MINI), "--json")
    assert published.returncode == 0, published.stderr
    data = json.loads(published.stdout)
    assert data["created"] is True and len(data["content_hash"]) == 64
    again = json.loads(run("catalog", "publish", str(MINI), "--json").stdout)
    assert again["created"] is False and again["id"] == data["id"]

    smaller = tmp_path / "smaller"
    shutil.copytree(MINI, smaller)
    (smaller / "procedures" / "other.yaml").unlink()
    broken = run("catalog", "publish", str(smaller))
    assert broken.returncode == 1 and "nothing published" in broken.stderr

    diff = run("catalog", "diff", str(data["id"]), str(MINI), "--json")
    assert diff.returncode == 0, diff.stderr
    assert all(not v["added"] and not v["removed"] and not v["changed"] for v in json.loads(diff.stdout).values())
    unknown = run("catalog", "diff", "999", "latest")
    assert unknown.returncode == 1 and "no published catalog version '999'" in unknown.stderr
