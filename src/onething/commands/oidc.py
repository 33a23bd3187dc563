"""`onething users link-oidc` (a staff member's unified identity, linked by an operator) and
`onething sandbox-idp` (the demo's OpenID Provider).

The sandbox provider is not Python: it runs the certified npm package ``oidc-provider`` with the same
configuration the tests use (tests/oidc/provider.mjs: the demo people, PKCE required, acr L1–L3,
RP-initiated logout), so it needs Node.js and ``npm ci`` in a source checkout. It is for local demos only.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from onething.commands.accounts import ActorOption, _fail, cli_actor, users_app
from onething.config import REPO_DIR, get_settings

PROVIDER_JS = REPO_DIR / "tests" / "oidc" / "provider.mjs"


@users_app.command("link-oidc")
def users_link_oidc(
    name: Annotated[str, typer.Argument(help="the onething account, e.g. samr-staff")],
    subject: Annotated[str, typer.Option("--subject", help="the person's `sub` at the identity provider")],
    issuer: Annotated[str | None, typer.Option("--issuer", help="default: ONETHING_OIDC_ISSUER")] = None,
    actor: ActorOption = None,
) -> None:
    """Link a unified identity (issuer + subject) to an account, e.g. a staff member's: signing in there then
    acts as this account, with the roles granted here. Audited (account.oidc_linked)."""
    from onething.accounts.errors import AccountsError
    from onething.accounts.oidc import IdentityRefused, link_identity
    from onething.db import session_scope

    issuer = issuer or get_settings().oidc_issuer
    if not issuer:
        typer.echo("error: give --issuer or set ONETHING_OIDC_ISSUER", err=True)
        raise typer.Exit(2)
    operator = cli_actor(actor)
    try:
        with session_scope() as session:
            link_identity(session, operator, user_name=name, issuer=issuer, subject=subject, now=datetime.now(UTC))
    except IdentityRefused as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except AccountsError as exc:
        raise _fail(exc) from None
    typer.echo(f"linked {issuer} subject {subject} to user {name}")


def sandbox_idp_command(
    port: Annotated[int, typer.Option("--port", help="port to listen on (127.0.0.1)")] = 8400,
    rp: Annotated[str, typer.Option("--rp", help="the platform's base URL (its callback and logout return)")] =
        "http://127.0.0.1:8000",
    client_id: Annotated[str, typer.Option("--client-id")] = "onething-demo",
    client_secret: Annotated[str | None, typer.Option("--client-secret", help="default: a new random one")] = None,
) -> None:
    """Run a sandbox OpenID Provider for the local demo (npm oidc-provider under Node.js) that signs in the
    demo people: zhangsan (up to L3), lisi, wangwu (new to the platform), demo-restaurant, samr-officer (staff,
    link it with `onething users link-oidc samr-staff --subject demo-samr-officer`). Password: the demo one."""
    import secrets

    from onething.accounts.demo import demo_password

    node = shutil.which("node")
    if node is None or not PROVIDER_JS.is_file() or not (REPO_DIR / "node_modules" / "oidc-provider").is_dir():
        typer.echo("error: the sandbox provider needs Node.js and `npm ci` in a source checkout "
                   "(it runs the npm package oidc-provider)", err=True)
        raise typer.Exit(1)
    client_secret = client_secret or secrets.token_urlsafe(24)
    base = rp.rstrip("/")
    clients = [{"client_id": client_id, "client_secret": client_secret,
                "redirect_uris": [base + "/auth/oidc/callback"], "post_logout_redirect_uris": [base + "/"],
                "token_endpoint_auth_method": "client_secret_basic"}]
    env = {**os.environ, "OP_PORT": str(port), "OP_CLIENTS": json.dumps(clients), "OP_PASSWORD": demo_password()}
    typer.echo("sandbox identity provider (demo only). Start the platform with:\n"
               f"  ONETHING_OIDC_ISSUER=http://127.0.0.1:{port} ONETHING_OIDC_CLIENT_ID={client_id} "
               f"ONETHING_OIDC_CLIENT_SECRET={client_secret}")
    sys.stdout.flush()
    os.execve(node, [node, str(PROVIDER_JS)], env)  # noqa: S606 - our own file; the provider replaces this process


def register(app: typer.Typer) -> None:
    app.command("sandbox-idp")(sandbox_idp_command)
