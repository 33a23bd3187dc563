"""E2E fixtures: the app on a live server (SQLite, shipped catalog published) and Debian's headless Chromium.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (``apt-get install chromium``).
Accessibility helpers live in ``tests/e2e/a11y.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onething import db
from onething.config import get_settings
from tests.live import LiveServer, serve_catalog

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo as a user sees it: ONETHING_DEMO=1, so the demo registries answer for the holders."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONETHING_DEMO", "1")
        get_settings.cache_clear()
        try:
            with serve_catalog(url) as server:
                yield server
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        found = shutil.which("chromium")
        if found is None:
            pytest.fail("Chromium is missing: install Debian's package (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def audit_page(browser: Any) -> Iterator[Any]:
    """A page for axe-core: its script is injected inline, which our CSP (rightly) forbids, so bypass it here.

    The behaviour tests use ``page``, where the CSP is enforced, so HTMX is proven to work under it.
    """
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page_without_js(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()
