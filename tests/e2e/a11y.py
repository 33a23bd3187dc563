"""axe-core in the browser: WCAG 2.1 A/AA checks for the e2e tests (``npm ci`` at the repository root)."""

from __future__ import annotations

from typing import Any

import pytest

from onething.config import REPO_DIR

AXE = REPO_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the current page."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm install` at the repository root")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in {"serious", "critical"}
    ]
