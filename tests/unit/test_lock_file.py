"""requirements.lock pins every dependency pyproject.toml declares (runtime and dev), each with hashes, so that
`make run`, `make test` and CI install the same releases until `make upgrade` changes the lock deliberately."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def _locked() -> dict[str, list[str]]:
    """Each pinned name with its hashes, read from the lock's `name==version \\ --hash=…` entries."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, list[str]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        if match:
            pins[_name(match.group(1))] = re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)
    return pins


def test_every_declared_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pins = _locked()
    missing = sorted(_name(r) for r in declared if _name(r) not in pins)
    assert not missing, f"not in requirements.lock (run `make upgrade`): {missing}"
    unhashed = sorted(name for name, hashes in pins.items() if not hashes)
    assert not unhashed, f"pinned without a hash: {unhashed}"


def test_the_lock_names_no_machine_specific_index() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert "--find-links" not in text and "--extra-index-url" not in text and "file://" not in text
