"""One-time notices (flash) for the pages: a POST that succeeds stores its notice on the server-side browser
session and redirects (303); the next page shows it once. No page takes message text from its URL, so a crafted
link such as ``?notice=您的账户已冻结…`` can never make the portal speak in its own voice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse

from onething.accounts.service import set_flash, take_flash
from onething.db import session_scope
from onething.web.auth import SESSION_COOKIE

_ERROR = "error:"


@dataclass(frozen=True)
class Notice:
    """What the page shows once: a confirmation (``error`` False) or something that went wrong."""

    text: str
    error: bool = False


def flash(engine: Engine, request: Request, message: str, *, error: bool = False) -> None:
    """Keep ``message`` for the next page this browser session shows (nothing for a bearer-token client)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or getattr(request.state, "auth_method", None) != "session":
        return
    with session_scope(engine) as session:
        set_flash(session, session_id, (_ERROR if error else "") + message)


def pop_flash(engine: Engine, request: Request) -> Notice | None:
    """The notice waiting for this page, once."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or getattr(request.state, "auth_method", None) != "session":
        return None
    with session_scope(engine) as session:
        stored = take_flash(session, session_id)
    if not stored:
        return None
    if stored.startswith(_ERROR):
        return Notice(stored.removeprefix(_ERROR), error=True)
    return Notice(stored)


def redirect_with_notice(engine: Engine, request: Request, path: str, message: str, *,
                         error: bool = False) -> RedirectResponse:
    """303 to ``path`` with ``message`` shown there once (Post/Redirect/Get; the URL carries no text)."""
    flash(engine, request, message, error=error)
    return RedirectResponse(path, status_code=303)
