"""The test OpenID Provider: `oidc-provider` from npm (tests/oidc/provider.mjs) as a Node process on a free
port, and a helper that signs in through it over plain HTTP (its sign-in form, not a mock).

    with run_provider(rp_url) as op:
        callback = authorize(client, rp_url + "/auth/oidc/login", login="zhangsan", acr="L2")
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx

from tests.live import free_port

PROVIDER_JS = Path(__file__).with_name("provider.mjs")
CLIENT_ID = "onething"
CLIENT_SECRET = "test-client-secret-not-for-production"
OTHER_CLIENT_ID = "other-portal"
PASSWORD = "demo-password-2026"


@dataclass(frozen=True)
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]


def clients_for(rp_url: str) -> list[dict[str, Any]]:
    rp = rp_url.rstrip("/")
    return [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [rp + "/auth/oidc/callback"],
         "post_logout_redirect_uris": [rp + "/"], "token_endpoint_auth_method": "client_secret_basic"},
        {"client_id": OTHER_CLIENT_ID, "client_secret": CLIENT_SECRET + "-other",
         "redirect_uris": [rp + "/auth/oidc/callback"], "post_logout_redirect_uris": [rp + "/"],
         "token_endpoint_auth_method": "client_secret_basic"},
    ]


@contextmanager
def run_provider(rp_url: str, accounts: list[dict[str, Any]] | None = None, accounts_file: Path | None = None,
                 timeout: float = 20.0) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: the OIDC tests run the npm package oidc-provider (scripts/test-deps.sh)")
    port = free_port()
    env = {**os.environ, "OP_PORT": str(port), "OP_CLIENTS": json.dumps(clients_for(rp_url)), "OP_PASSWORD": PASSWORD}
    if accounts is not None:
        env["OP_ACCOUNTS"] = json.dumps(accounts, ensure_ascii=False)
    if accounts_file is not None:
        env["OP_ACCOUNTS_FILE"] = str(accounts_file)
    process = subprocess.Popen([node, str(PROVIDER_JS)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"oidc-provider exited: {output}")
            try:
                if httpx.get(issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("oidc-provider did not start")
            time.sleep(0.1)
        yield Provider(issuer=issuer, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _location(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])


def authorize(client: httpx.Client, start: str, *, login: str, acr: str = "L2", password: str = PASSWORD,
              max_steps: int = 20) -> str:
    """Follow the sign-in from ``start`` through the provider (filling its form) and return the callback URL
    the provider sends the browser back to — not yet visited, so that a test can look at it or tamper with it."""
    url = start
    for _ in range(max_steps):
        path = urlparse(url).path
        if path.endswith("/auth/oidc/callback"):
            return url
        response = client.get(url)
        if response.status_code in (302, 303):
            url = _location(response)
            continue
        if response.status_code == 200 and "/interaction/" in path:
            response = client.post(url, data={"login": login, "password": password, "acr": acr})
            if response.status_code not in (302, 303):
                raise AssertionError(f"provider refused the sign-in: {response.status_code} {response.text[:300]}")
            url = _location(response)
            continue
        raise AssertionError(f"unexpected answer {response.status_code} at {url}: {response.text[:300]}")
    raise AssertionError("too many redirects")


def confirm_logout(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Submit the provider's logout confirmation form (op.logoutForm) and return the provider's redirect."""
    import re

    action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', response.text)
    assert action and xsrf, response.text[:500]
    return client.post(urljoin(str(response.url), action.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"})
