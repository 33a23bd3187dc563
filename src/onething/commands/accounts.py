"""`onething users …` and `onething tokens …`: create and list users, issue, list and revoke API tokens.

Each command runs one service function in one transaction against ``ONETHING_DATABASE_URL``. Contract for
scripts (pinned): ``onething tokens issue NAME`` prints the token as the last word of its output, e.g.
``TOKEN=$(onething tokens issue samr-system | awk '{print $NF}')``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from onething.accounts.errors import AccountsError, DuplicateUser, InvalidUser, UnknownToken, UnknownUser
from onething.accounts.model import Role

users_app = typer.Typer(help="Users and roles (用户与角色).", no_args_is_help=True)
tokens_app = typer.Typer(help="API bearer tokens (API 令牌) for department systems and scripts.",
                         no_args_is_help=True)


def _fail(exc: AccountsError) -> typer.Exit:
    if isinstance(exc, InvalidUser | DuplicateUser):
        for field, message in exc.errors:
            typer.echo(f"error: {field}: {message}", err=True)
    else:
        typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _read_password() -> str:
    # One line from stdin, without its line ending: `printf '%s' "$PW" | onething users add … --password-stdin`.
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="sign-in name, e.g. samr-staff")],
    role: Annotated[Role, typer.Option("--role", help="applicant, staff, dept_admin, operator or auditor")],
    department: Annotated[str | None, typer.Option("--department", help="department id (staff, dept_admin)")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number", help="resident ID of an individual applicant")] = None,
    uscc: Annotated[str | None, typer.Option("--uscc", help="USCC of an enterprise applicant")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="name shown on pages")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a user. Without --password-stdin the user can hold API tokens but cannot sign in on the web."""
    from onething.accounts.service import create_user
    from onething.db import session_scope

    if id_number and uscc:
        typer.echo("error: give --id-number (individual) or --uscc (enterprise), not both", err=True)
        raise typer.Exit(2)
    password = _read_password() if password_stdin else None
    try:
        with session_scope() as session:
            user = create_user(session, name=name, role=role, department=department, id_number=id_number,
                               uscc=uscc, password=password, display_name=display_name)
            user_id, user_role = user.id, user.role
    except (InvalidUser, DuplicateUser) as exc:
        raise _fail(exc) from None
    where = f" in {department}" if department else ""
    typer.echo(f"created user {name} (#{user_id}, {user_role}{where})"
               + ("" if password else "; no password: API tokens only"))


@users_app.command("list")
def users_list(
    role: Annotated[Role | None, typer.Option("--role")] = None,
    department: Annotated[str | None, typer.Option("--department")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List users (identifiers masked)."""
    from rich.console import Console
    from rich.table import Table

    from onething.accounts.service import list_users
    from onething.db import session_scope
    from onething.logging import mask

    with session_scope() as session:
        rows = [{"id": u.id, "name": u.name, "display_name": u.display_name, "role": u.role,
                 "department": u.department, "identifier": mask(u.id_number or u.uscc or ""),
                 "password": u.password_hash is not None, "active": u.active,
                 "created_at": u.created_at.isoformat()}
                for u in list_users(session, role=role, department=department)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"用户 ({len(rows)})")
    for column in ("id", "name", "display name", "role", "department", "identifier", "password", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), str(row["name"]), str(row["display_name"]), str(row["role"]),
                      str(row["department"] or ""), str(row["identifier"]), "yes" if row["password"] else "no",
                      "yes" if row["active"] else "no")
    Console().print(table)


@tokens_app.command("issue")
def tokens_issue(
    name: Annotated[str, typer.Argument(help="the user the token acts as")],
    expires_days: Annotated[int | None, typer.Option("--expires-days", min=1, help="days until it expires")] = None,
) -> None:
    """Issue a bearer token. It is printed once, as the last word of the output; only its hash is stored."""
    from onething.accounts.service import issue_token
    from onething.db import session_scope

    now = datetime.now(UTC)
    try:
        with session_scope() as session:
            token = issue_token(session, user_name=name, expires_days=expires_days, now=now)
    except (UnknownUser, InvalidUser) as exc:
        raise _fail(exc) from None
    expiry = f"expires in {expires_days} days" if expires_days else "does not expire"
    # Plain writes, not Rich: Rich may wrap or style a long line, and the token must stay one intact word.
    sys.stdout.write(f"API token for {name} ({expiry}); it is shown only this once:\n{token}\n")


@tokens_app.command("list")
def tokens_list(
    name: Annotated[str | None, typer.Argument(help="only this user's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List tokens by id and display prefix (never the token itself)."""
    from onething.accounts.service import list_tokens
    from onething.db import session_scope

    with session_scope() as session:
        rows = [{"id": t.id, "user": t.user_name, "prefix": t.prefix, "created_at": t.created_at.isoformat(),
                 "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                 "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                for t in list_tokens(session, user_name=name)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else f"expires {row['expires_at'] or 'never'}"
        typer.echo(f"#{row['id']}  {row['user']}  {row['prefix']}…  created {row['created_at']}  {state}  "
                   f"last used {row['last_used_at'] or 'never'}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="token id from `onething tokens list`")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from onething.accounts.service import revoke_token
    from onething.db import session_scope

    try:
        with session_scope() as session:
            revoke_token(session, token_id=token_id, now=datetime.now(UTC))
    except UnknownToken as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked token #{token_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
