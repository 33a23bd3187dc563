"""`onething users …` and `onething tokens …`: create, list, disable, enable and unlock users, set passwords;
issue, list and revoke API tokens.

Each command runs one service function in one transaction against ``ONETHING_DATABASE_URL``. Contract for
scripts (pinned): ``onething tokens issue NAME`` prints the token as the last word of its output, e.g.
``TOKEN=$(onething tokens issue samr-system | awk '{print $NF}')``.

Who acts: whoever runs a command holds the database credentials and so acts as the platform operator; every
change is audited under ``--actor NAME`` (an operator identity), by default ``cli:<login name of the OS user>``.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from onething.accounts.errors import AccountsError, DuplicateUser, InvalidUser, UnknownToken, UnknownUser
from onething.accounts.model import Actor, Role

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


_ACTOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
ActorOption = Annotated[str | None, typer.Option(
    "--actor", help="operator identity recorded in the audit log (default: cli:<OS user>)")]


def cli_actor(name: str | None) -> Actor:
    """The operator actor of a command: ``--actor NAME``, else ``cli:<OS login name>`` (or ``cli:uid<N>``)."""
    if name is None:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: a container's bare uid
            login = f"uid{os.getuid()}"
        name = f"cli:{login}"[:64]
    if not _ACTOR_NAME.match(name):
        typer.echo("error: --actor: 1–64 letters, digits or . _ @ : -, starting with a letter or digit", err=True)
        raise typer.Exit(2)
    return Actor(user_id=0, name=name, role=Role.operator)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="sign-in name, e.g. samr-staff")],
    role: Annotated[Role, typer.Option("--role", help="applicant, staff, dept_admin, operator or auditor")],
    department: Annotated[str | None, typer.Option("--department", help="department id (staff, dept_admin)")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number", help="resident ID of an individual applicant")] = None,
    uscc: Annotated[str | None, typer.Option("--uscc", help="USCC of an enterprise applicant")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="name shown on pages")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    actor: ActorOption = None,
) -> None:
    """Create a user. Without --password-stdin the user can hold API tokens but cannot sign in on the web.

    A password given here is an initial password: the user must change it at first sign-in."""
    from onething.accounts.lifecycle import add_user
    from onething.db import session_scope

    if id_number and uscc:
        typer.echo("error: give --id-number (individual) or --uscc (enterprise), not both", err=True)
        raise typer.Exit(2)
    operator = cli_actor(actor)
    password = _read_password() if password_stdin else None
    try:
        with session_scope() as session:
            user = add_user(session, operator, name=name, role=role, department=department, id_number=id_number,
                            uscc=uscc, password=password, display_name=display_name, now=datetime.now(UTC))
            user_id, user_role = user.id, user.role
    except (InvalidUser, DuplicateUser) as exc:
        raise _fail(exc) from None
    where = f" in {department}" if department else ""
    typer.echo(f"created user {name} (#{user_id}, {user_role}{where})"
               + ("; initial password: to be changed at first sign-in" if password
                  else "; no password: API tokens only"))


def _account_change(action: str, name: str, actor: str | None) -> bool:
    from onething.accounts import lifecycle
    from onething.db import session_scope

    change = {"disable": lifecycle.disable_user, "enable": lifecycle.enable_user,
              "unlock": lifecycle.unlock_user}[action]
    operator = cli_actor(actor)
    try:
        with session_scope() as session:
            return change(session, operator, user_name=name, now=datetime.now(UTC))
    except UnknownUser as exc:
        raise _fail(exc) from None


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument()], actor: ActorOption = None) -> None:
    """Disable an account: sign-in refused; its browser sessions and API tokens stop working at once."""
    changed = _account_change("disable", name, actor)
    typer.echo(f"disabled user {name}" if changed else f"user {name} was already disabled")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument()], actor: ActorOption = None) -> None:
    """Enable a disabled account again."""
    changed = _account_change("enable", name, actor)
    typer.echo(f"enabled user {name}" if changed else f"user {name} was already active")


@users_app.command("unlock")
def users_unlock(name: Annotated[str, typer.Argument()], actor: ActorOption = None) -> None:
    """Lift a sign-in lockout (too many failed sign-ins) before it ends."""
    changed = _account_change("unlock", name, actor)
    typer.echo(f"unlocked user {name}" if changed else f"user {name} was not locked; failure count cleared")


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    actor: ActorOption = None,
) -> None:
    """Set a user's password (read from stdin with --password-stdin, else prompted twice). The user must change
    it at the next sign-in; their browser sessions end."""
    from onething.accounts.lifecycle import reset_password
    from onething.db import session_scope

    operator = cli_actor(actor)
    password = _read_password() if password_stdin else typer.prompt(
        f"new password for {name}", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope() as session:
            reset_password(session, operator, user_name=name, password=password, now=datetime.now(UTC))
    except (UnknownUser, InvalidUser) as exc:
        raise _fail(exc) from None
    typer.echo(f"password of {name} set; to be changed at the next sign-in")


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
                 "must_change_password": u.must_change_password,
                 "locked_until": u.locked_until.isoformat() if u.locked_until else None,
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
    actor: ActorOption = None,
) -> None:
    """Issue a bearer token. It is printed once, as the last word of the output; only its hash is stored."""
    from onething.accounts.lifecycle import issue_token
    from onething.db import session_scope

    operator = cli_actor(actor)
    now = datetime.now(UTC)
    try:
        with session_scope() as session:
            token = issue_token(session, operator, user_name=name, expires_days=expires_days, now=now)
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
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="token id from `onething tokens list`")],
                  actor: ActorOption = None) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from onething.accounts.lifecycle import revoke_token
    from onething.db import session_scope

    operator = cli_actor(actor)
    try:
        with session_scope() as session:
            changed = revoke_token(session, operator, token_id=token_id, now=datetime.now(UTC))
    except UnknownToken as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked token #{token_id}" if changed else f"token #{token_id} was already revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
