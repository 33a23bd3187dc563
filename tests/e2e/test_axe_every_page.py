"""axe-core on every page a role can reach: for anonymous, an applicant with an application, staff,
dept_admin, operator and auditor, crawl the same-origin ``<a href>`` links from the role's home and from ``/``
(depth ≤ 2; no downloads, PDFs, API, docs, logout or query-string variants; at most ``CAP`` pages a role) and
require 0 serious/critical WCAG 2.1 AA violations at 1280 and 375 px and no horizontal overflow at 375 px.
Public pages checked signed out are not revisited by the signed-in roles, so their cap goes to their own pages.
One browser, one page a role, reused: about 2 minutes on this machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

from onething import db
from onething.accounts.demo import create_demo_users, demo_password
from onething.config import get_settings
from onething.exchange.demo import load_exchange_demo
from tests.case_forms import PDF
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import PHONE
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
CAP = 30  # ~40 asked; 30 a role keeps the file near 3 minutes on 2 shared CPUs
DEPTH = 2
SKIP = re.compile(r"(^/api/|^/docs|^/redoc|^/openapi|^/static/|logout|/download|\.pdf$|/pdf$|\.(json|csv|zip|png|"
                  r"jpg|svg|xml|txt)$)")
ROLES = {  # role → demo user (None: signed out)
    "anonymous": None, "applicant": "zhangsan", "staff": "mps-staff", "dept_admin": "mps-admin",
    "operator": "operator", "auditor": "auditor",
}
WIDEST = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376)
  .slice(-3).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)"""  # the innermost ones
TYPED = {"applicant_phone": "13800138000", "bank_name": "示例银行", "bank_account": "6222020200112233"}


@pytest.fixture(scope="module")
def crawl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('axe') / 'axe.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONETHING_DEMO", "1")
        get_settings.cache_clear()
        try:
            with serve_catalog(url) as server:
                assert server.engine is not None
                create_demo_users(server.engine)
                load_exchange_demo(server.engine)
                yield server
        finally:
            get_settings.cache_clear()


def _sign_in(page: Any, base: str, user: str) -> str:
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(demo_password())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return str(page.url)


def _apply_after_death(page: Any, base: str) -> None:
    """zhangsan applies for 个人身后 through the steps, so the applicant's pages have an application to show."""
    page.goto(base + "/things/after-death?plan=1#plan")
    page.get_by_role("link", name="在线申请", exact=True).click()
    page.get_by_role("button", name="同意并开始填写").click()
    while "/info/" in (page.wait_for_url(re.compile(r"/(info/\d+|materials)$")) or page.url):
        for field, value in TYPED.items():
            box = page.locator(f"#field-{field}")
            if box.count() and box.get_attribute("readonly") is None:
                box.fill(value)
        page.get_by_role("button", name="保存并继续").click()
    page.locator('input[name="material.deceased_id_card"]').set_input_files(
        {"name": "身份证.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.get_by_role("button", name="保存并继续").click()
    page.wait_for_url(re.compile(r"/check$"))
    page.get_by_role("button", name="确认并提交申请").click()
    page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}$"))


def _links(page: Any, base: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found: list[str] = []
    for href in hrefs:
        href = urldefrag(href)[0]
        parts = urlsplit(href)
        if not href.startswith(base) or parts.query or SKIP.search(parts.path):
            continue
        found.append(parts.path or "/")
    return found


def _crawl(page: Any, base: str, home: str, done: set[str]) -> tuple[list[str], list[str]]:
    """Visit the pages breadth-first; check each at 1280 px then 375 px. Returns (pages, problems). Pages in
    ``done`` (public pages already checked signed out) are not visited again, so the cap goes to the role's own."""
    start = urlsplit(home).path or "/"
    queue: list[tuple[str, int]] = [(start, 0), ("/", 0)]
    seen: set[str] = {start, "/"}
    visited: list[str] = []
    problems: list[str] = []
    while queue and len(visited) < CAP:
        path, depth = queue.pop(0)
        page.set_viewport_size(DESKTOP)
        response = page.goto(base + path)
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        if urlsplit(page.url).path != path and urlsplit(page.url).path in seen - {path}:
            continue  # a redirect to a page already on the list
        visited.append(path)
        if response.status >= 500:
            problems.append(f"{path}: HTTP {response.status}")
        if (found := axe_violations(page)):
            problems.append(f"{path} at 1280 px: {found}")
        page.set_viewport_size(PHONE)
        wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            problems.append(f"{path} overflows by {wide}px at 375 px: {page.evaluate(WIDEST)}")
        if (found := axe_violations(page)):
            problems.append(f"{path} at 375 px: {found}")
        if depth < DEPTH:
            for link in _links(page, base):
                if link not in seen and link not in done:
                    seen.add(link)
                    queue.append((link, depth + 1))
    return visited, problems


def test_axe_on_every_page_of_every_role(browser: Any, crawl_server: LiveServer) -> None:
    base = crawl_server.url
    counts: dict[str, int] = {}
    problems: list[str] = []
    public: set[str] = set()
    for role, user in ROLES.items():
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN", bypass_csp=True)
        try:
            page = context.new_page()
            home = base + "/"
            if user is not None:
                home = _sign_in(page, base, user)
            if role == "applicant":
                _apply_after_death(page, base)
            visited, found = _crawl(page, base, home, public - {"/"})
            if user is None:
                public = set(visited)
            counts[role] = len(visited)
            problems += [f"[{role}] {problem}" for problem in found]
        finally:
            context.close()
    summary = ", ".join(f"{role}: {count} pages" for role, count in counts.items())
    assert problems == [], f"{summary}\n" + "\n".join(problems)
    assert all(count >= 3 for count in counts.values()), summary
    print(summary)
