"""Accounts services: create users, sign in with a password, issue and check API tokens, browser sessions.

Transaction style (the same for every function here): each function takes a SQLAlchemy ``Session`` whose
transaction the *caller* owns — one ``with db.session_scope(engine) as session:`` per user action. Functions
flush, never commit, so a caller can combine them in one all-or-nothing action. Time is explicit: functions
that depend on it take an aware UTC ``now``.

Secrets: passwords are hashed with argon2id (argon2-cffi defaults); API tokens and session ids are random
(``secrets``), handed out once, and stored only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from onething.accounts.assurance import lower
from onething.accounts.errors import (
    DuplicateUser,
    InvalidUser,
    UnknownUser,
)
from onething.accounts.identifiers import check_resident_id, check_uscc
from onething.accounts.model import Actor, NewSession, Role, SignedIn, TokenInfo
from onething.accounts.passwords import password_problems
from onething.accounts.tables import ApiToken, User, WebSession

TOKEN_PREFIX = "ot_"  # noqa: S105 - a public marker that makes leaked tokens greppable, not a secret
SESSION_LIFETIME = timedelta(hours=12)       # absolute: sign in again after this
SESSION_IDLE_TIMEOUT = timedelta(hours=2)    # idle: a session unused this long ends
# Writing "last seen / last used" on every request would turn each read into a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
_DEPARTMENT_ROLES = (Role.staff, Role.dept_admin)

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that answer takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def digest(secret: str) -> str:
    """SHA-256 hex digest of a token or session id: what the database keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, name=user.name, role=Role(user.role), department=user.department,
                 id_number=user.id_number, uscc=user.uscc, display_name=user.display_name,
                 must_change_password=user.must_change_password, assurance=user.assurance)


def _validate_user(*, name: str, role: str, department: str | None, id_number: str | None, uscc: str | None,
                   password: str | None, display_name: str | None) -> tuple[Role, str | None, str | None]:
    errors: list[tuple[str, str]] = []
    if not _NAME.match(name or ""):
        errors.append(("name", "用户名为2–64位字母、数字或 . _ @ -，以字母或数字开头"))
    try:
        parsed_role = Role(role)
    except ValueError:
        errors.append(("role", f"角色须为 {', '.join(r.value for r in Role)} 之一"))
        raise InvalidUser(errors) from None
    if parsed_role in _DEPARTMENT_ROLES:
        if not department:
            errors.append(("department", f"角色 {parsed_role.value} 必须指定所属部门"))
        elif not _DEPARTMENT.match(department):
            errors.append(("department", "部门编码为小写字母、数字、_ 或 -，如 samr"))
    elif department:
        errors.append(("department", f"角色 {parsed_role.value} 不属于部门，请勿指定部门"))
    if parsed_role is Role.applicant:
        if id_number and uscc:
            errors.append(("uscc", "个人申请人填写公民身份号码，企业申请人填写统一社会信用代码，二者只填其一"))
        elif not id_number and not uscc:
            errors.append(("id_number", "申请人须提供公民身份号码（个人）或统一社会信用代码（企业）"))
    else:
        if id_number:
            errors.append(("id_number", "仅申请人填写公民身份号码"))
        if uscc:
            errors.append(("uscc", "仅企业申请人填写统一社会信用代码"))
    if id_number and parsed_role is Role.applicant:
        try:
            id_number = check_resident_id(id_number)
        except ValueError as exc:
            errors.append(("id_number", str(exc)))
    if uscc and parsed_role is Role.applicant:
        try:
            uscc = check_uscc(uscc)
        except ValueError as exc:
            errors.append(("uscc", str(exc)))
    if password is not None:
        errors.extend(("password", problem)
                      for problem in password_problems(password, name=name, user_inputs=[display_name or ""]))
    if display_name is not None and not 1 <= len(display_name.strip()) <= 200:
        errors.append(("display_name", "显示名称须为1–200个字符"))
    if errors:
        raise InvalidUser(errors)
    return parsed_role, id_number or None, uscc or None


def create_user(session: Session, *, name: str, role: Role | str, department: str | None = None,
                id_number: str | None = None, uscc: str | None = None, password: str | None = None,
                display_name: str | None = None, now: datetime | None = None,
                must_change_password: bool = False) -> User:
    """Register a user (开户). Applicants are identified by a valid resident ID or USCC; staff and department
    administrators belong to a department. A user without a password can still hold API tokens. The password
    must pass the policy (``accounts.passwords``). This is the building block (demo, tests): an administrator's
    action goes through ``lifecycle.add_user``, which checks the permission, audits, and marks an initial
    password for a forced change."""
    parsed_role, id_number, uscc = _validate_user(
        name=name, role=str(role), department=department, id_number=id_number, uscc=uscc, password=password,
        display_name=display_name)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise DuplicateUser("name", "用户名已存在")
    if id_number and session.scalar(select(User.id).where(User.id_number == id_number)) is not None:
        raise DuplicateUser("id_number", "该公民身份号码已注册")
    if uscc and session.scalar(select(User.id).where(User.uscc == uscc)) is not None:
        raise DuplicateUser("uscc", "该统一社会信用代码已注册")
    user = User(name=name, display_name=(display_name or name).strip(), role=parsed_role.value,
                department=department if parsed_role in _DEPARTMENT_ROLES else None,
                id_number=id_number, uscc=uscc, password_hash=hash_password(password) if password else None,
                active=True, created_at=now or datetime.now(UTC), must_change_password=must_change_password)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def actor_for_user(session: Session, name: str) -> Actor:
    """The Actor of an active user, for commands and tests that act as someone without signing in."""
    user = get_user(session, name)
    if user is None or not user.active:
        raise UnknownUser(name)
    return _actor(user)


def list_users(session: Session, *, role: Role | None = None, department: str | None = None) -> list[User]:
    query = select(User).order_by(User.role, User.department, User.name)
    if role is not None:
        query = query.where(User.role == role.value)
    if department is not None:
        query = query.where(User.department == department)
    return list(session.scalars(query))


# --- API tokens ------------------------------------------------------------------------------------------


def new_token(session: Session, *, user_name: str, expires_days: int | None = None,
              now: datetime) -> tuple[str, ApiToken]:
    """A new API bearer token for an active user, and its row. Administrators issue tokens through
    ``lifecycle.issue_token`` (permission check and audit entry)."""
    user = get_user(session, user_name)
    if user is None or not user.active:
        raise UnknownUser(user_name)
    if expires_days is not None and expires_days <= 0:
        raise InvalidUser([("expires_days", "有效天数须为正整数")])
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=digest(token), prefix=token[:10], created_at=now,
                   expires_at=now + timedelta(days=expires_days) if expires_days else None)
    session.add(row)
    session.flush()
    return token, row


def actor_for_token(session: Session, token: str, now: datetime) -> Actor | None:
    """The actor behind a bearer token, or None if it is unknown, expired, revoked, or its user is inactive."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at >= _TOUCH_EVERY:
        api_token.last_used_at = now
        session.flush()
    return _actor(user)


def list_tokens(session: Session, *, user_name: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_name is not None:
        query = query.where(User.name == user_name)
    return [TokenInfo(id=t.id, user_name=name, prefix=t.prefix, created_at=t.created_at, expires_at=t.expires_at,
                      last_used_at=t.last_used_at, revoked_at=t.revoked_at)
            for t, name in session.execute(query)]


# --- browser sessions ------------------------------------------------------------------------------------


def start_session(session: Session, *, actor: Actor, now: datetime,
                  lifetime: timedelta = SESSION_LIFETIME, assurance: str | None = None,
                  id_token: str | None = None) -> NewSession:
    """Open a browser session after sign-in: a fresh random id (never reused: no session fixation) and a
    fresh CSRF synchroniser token. ``assurance``: the level of this sign-in (default the actor's), never above
    the account's; ``id_token``: the provider's ID token of an OIDC sign-in, kept for its logout."""
    level = lower(assurance or actor.assurance, actor.assurance)
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(WebSession(id=digest(session_id), user_id=actor.user_id, csrf_token=csrf_token, created_at=now,
                           expires_at=expires_at, last_seen_at=now, assurance=level, id_token=id_token))
    # Sessions that ended long ago are of no use to anyone: sweep a few on the way.
    session.execute(delete(WebSession).where(WebSession.expires_at < now - timedelta(days=1)))
    session.flush()
    return NewSession(session_id=session_id, csrf_token=csrf_token, expires_at=expires_at)


def actor_for_session(session: Session, session_id: str, now: datetime,
                      idle_timeout: timedelta = SESSION_IDLE_TIMEOUT) -> SignedIn | None:
    """The signed-in actor and the session's CSRF token, or None if the session is unknown, expired or idle."""
    if not session_id or len(session_id) > 200:
        return None
    row = session.execute(
        select(WebSession, User).join(User, User.id == WebSession.user_id)
        .where(WebSession.id == digest(session_id))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if not user.active or web_session.expires_at <= now or now - web_session.last_seen_at >= idle_timeout:
        return None
    if now - web_session.last_seen_at >= _TOUCH_EVERY:
        web_session.last_seen_at = now
        session.flush()
    actor = replace(_actor(user), assurance=lower(web_session.assurance, user.assurance))
    return SignedIn(actor=actor, csrf_token=web_session.csrf_token, expires_at=web_session.expires_at)


def session_id_token(session: Session, session_id: str) -> str | None:
    """The ID token an OIDC sign-in left on the browser session (for RP-initiated logout), or None."""
    if not session_id or len(session_id) > 200:
        return None
    return session.scalar(select(WebSession.id_token).where(WebSession.id == digest(session_id)))


MAX_FLASH = 500


def set_flash(session: Session, session_id: str, message: str) -> bool:
    """Keep a one-time notice (flash) on the browser session for the next page it shows; False if no session."""
    if not session_id or len(session_id) > 200:
        return False
    result = session.execute(update(WebSession).where(WebSession.id == digest(session_id))
                             .values(flash=message[:MAX_FLASH]))
    return bool(getattr(result, "rowcount", 0))


def take_flash(session: Session, session_id: str) -> str | None:
    """The session's notice, once: reading it clears it, so a reload or a copied link shows nothing."""
    if not session_id or len(session_id) > 200:
        return None
    key = digest(session_id)
    message = session.scalar(select(WebSession.flash).where(WebSession.id == key))
    if message is not None:
        session.execute(update(WebSession).where(WebSession.id == key).values(flash=None))
    return message


def end_session(session: Session, session_id: str) -> None:
    """Sign out (退出登录): the session row goes, so the cookie is worthless even if it was copied."""
    session.execute(delete(WebSession).where(WebSession.id == digest(session_id)))
    session.flush()
