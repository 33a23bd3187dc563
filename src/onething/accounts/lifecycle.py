"""Account lifecycle (账户管理, 等保 level 3): sign-in with per-account lockout, and the administrator's actions
on accounts and tokens — create, disable, enable, unlock, reset a password, issue and revoke a token — plus the
user's own password change.

Every administrator's action checks ``user:manage`` and appends an audit entry naming its actor, in the
caller's transaction (the same style as ``service``: the caller owns the session). A command-line operator
acts through an operator ``Actor`` whose name records who ran the command.

Lockout (登录失败锁定): ``policy.max_failures`` failed sign-ins within ``policy.window`` of the first one lock
the account for ``policy.lock_for``; while locked even the right password is refused. The count is kept in
the user's row and moved by single ``UPDATE … RETURNING`` statements, so concurrent failures are each counted
(PostgreSQL re-evaluates the update on the row's newest version; SQLite has one writer), and only the update
that actually sets the lock writes the ``account.locked`` entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from onething.accounts.errors import InvalidUser, UnknownToken, UnknownUser
from onething.accounts.model import SYSTEM, Actor, Role
from onething.accounts.passwords import MAX_PASSWORD_LENGTH, password_problems
from onething.accounts.permissions import authorize
from onething.accounts.service import (
    _actor,
    _dummy_hash,
    _hasher,
    create_user,
    get_user,
    hash_password,
    new_token,
)
from onething.accounts.tables import ApiToken, User, WebSession
from onething.audit.service import append

security_log = logging.getLogger("onething.security")


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 10                       # 0 switches the lockout off
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


DEFAULT_LOCKOUT = LockoutPolicy()


# --- sign-in --------------------------------------------------------------------------------------------


def attempt_sign_in(session: Session, name: str, password: str, now: datetime,
                    policy: LockoutPolicy = DEFAULT_LOCKOUT) -> Actor | None:
    """Sign in with name and password (账号密码登录): the actor, or None with no hint why.

    A failure of a known, active user is counted in the caller's transaction — the caller must commit it even
    though the sign-in failed. Unknown, disabled, password-less and locked accounts cost the same argon2
    verification as a wrong password; a locked account is refused whatever the password.
    """
    # populate_existing: the lockout columns move by UPDATE statements, so never trust a copy already loaded.
    user = session.scalar(select(User).where(User.name == name).execution_options(populate_existing=True)) \
        if len(name) <= 64 else None
    stored = user.password_hash if user is not None and user.active else None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    try:
        _hasher.verify(stored or _dummy_hash(), password)
        verified = True
    except (VerificationError, InvalidHashError):
        verified = False
    if user is None or stored is None:
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not verified:
        _count_failure(session, user, now, policy)
        return None
    if user.failed_sign_ins or user.locked_until is not None:
        user.failed_sign_ins, user.failures_since, user.locked_until = 0, None, None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    session.flush()
    return _actor(user)


def _count_failure(session: Session, user: User, now: datetime, policy: LockoutPolicy) -> None:
    if policy.max_failures <= 0:
        return
    # A failure more than a window after the first one starts a new count.
    fresh = or_(User.failures_since.is_(None), User.failures_since <= now - policy.window)
    count = session.execute(
        update(User).where(User.id == user.id)
        .values(failed_sign_ins=case((fresh, 1), else_=User.failed_sign_ins + 1),
                failures_since=case((fresh, now), else_=User.failures_since))
        .returning(User.failed_sign_ins).execution_options(synchronize_session=False)
    ).scalar_one()
    if count < policy.max_failures:
        return
    until = now + policy.lock_for
    locked = session.execute(
        update(User).where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(locked_until=until, failed_sign_ins=0, failures_since=None)
        .returning(User.id).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if locked is None:  # a concurrent failure locked it first and wrote the entry
        return
    append(session, SYSTEM, "account.locked", "user", user.name, now=now, department=user.department,
           after={"locked_until": until.isoformat()},
           data={"failures": count, "window_minutes": int(policy.window.total_seconds() // 60)})
    security_log.warning("account locked", extra={"fields": {"event": "account_locked", "user": user.name,
                                                             "until": until.isoformat()}})


# --- the administrator's actions ---------------------------------------------------------------------------


def _check_password(password: str, user: User | None = None, *, name: str = "") -> None:
    inputs = [user.display_name] if user is not None else []
    problems = password_problems(password, name=user.name if user is not None else name, user_inputs=inputs)
    if problems:
        raise InvalidUser([("password", problem) for problem in problems])


def _existing(session: Session, user_name: str) -> User:
    user = get_user(session, user_name)
    if user is None:
        raise UnknownUser(user_name)
    return user


def add_user(session: Session, actor: Actor, *, name: str, role: Role | str, department: str | None = None,
             id_number: str | None = None, uscc: str | None = None, password: str | None = None,
             display_name: str | None = None, now: datetime) -> User:
    """An administrator opens an account (开户). A password given here is an initial password: the user must
    replace it at first sign-in."""
    authorize(actor, "user:manage")
    user = create_user(session, name=name, role=role, department=department, id_number=id_number, uscc=uscc,
                       password=password, display_name=display_name, now=now,
                       must_change_password=password is not None)
    append(session, actor, "account.created", "user", user.name, now=now, department=user.department,
           after={"role": user.role, "department": user.department, "password": password is not None,
                  "must_change_password": user.must_change_password})
    return user


def disable_user(session: Session, actor: Actor, *, user_name: str, now: datetime) -> bool:
    """Disable an account (停用): sign-in is refused, and its sessions and tokens stop working at once (both are
    checked against ``active`` on every request; the sessions are also deleted). False if already disabled."""
    authorize(actor, "user:manage")
    user = _existing(session, user_name)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    if not user.active:
        return False
    user.active = False
    session.flush()
    append(session, actor, "account.disabled", "user", user.name, now=now, department=user.department,
           before={"active": True}, after={"active": False})
    return True


def enable_user(session: Session, actor: Actor, *, user_name: str, now: datetime) -> bool:
    """Enable a disabled account again (启用). Its unrevoked, unexpired tokens work again. False if active."""
    authorize(actor, "user:manage")
    user = _existing(session, user_name)
    if user.active:
        return False
    user.active = True
    session.flush()
    append(session, actor, "account.enabled", "user", user.name, now=now, department=user.department,
           before={"active": False}, after={"active": True})
    return True


def unlock_user(session: Session, actor: Actor, *, user_name: str, now: datetime) -> bool:
    """Lift a sign-in lockout before it ends (解锁) and clear the failure count. False if no lock was set."""
    authorize(actor, "user:manage")
    user = _existing(session, user_name)
    # A lock that has run out but not yet been cleared (by the next sign-in) counts: clearing it is recorded.
    was_locked = user.locked_until is not None
    before = {"locked_until": user.locked_until.isoformat() if user.locked_until else None,
              "failed_sign_ins": user.failed_sign_ins}
    user.locked_until, user.failed_sign_ins, user.failures_since = None, 0, None
    session.flush()
    if was_locked:
        append(session, actor, "account.unlocked", "user", user.name, now=now, department=user.department,
               before=before, after={"locked_until": None, "failed_sign_ins": 0})
    return was_locked


def reset_password(session: Session, actor: Actor, *, user_name: str, password: str, now: datetime) -> None:
    """An administrator sets a user's password (重置密码). Like an initial password it must be changed at the
    next sign-in; every open browser session of the user ends."""
    authorize(actor, "user:manage")
    user = _existing(session, user_name)
    _check_password(password, user)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    append(session, actor, "account.password_reset", "user", user.name, now=now, department=user.department,
           after={"must_change_password": True})


def change_own_password(session: Session, actor: Actor, *, current: str, new: str, now: datetime) -> None:
    """The user replaces their own password (修改密码), proving the current one. Every browser session of the
    user ends (the caller starts a fresh one); the forced-change mark is cleared."""
    user = session.get(User, actor.user_id)
    if user is None or not user.active or user.password_hash is None:
        raise UnknownUser(actor.name)
    try:
        _hasher.verify(user.password_hash, current[:MAX_PASSWORD_LENGTH + 1])
    except (VerificationError, InvalidHashError):
        raise InvalidUser([("current_password", "当前密码不正确")]) from None
    if new == current:
        raise InvalidUser([("new_password", "新密码不能与当前密码相同")])
    try:
        _check_password(new, user)
    except InvalidUser as exc:
        raise InvalidUser([("new_password", message) for _field, message in exc.errors]) from None
    user.password_hash = hash_password(new)
    was_forced = user.must_change_password
    user.must_change_password = False
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    append(session, actor, "account.password_changed", "user", user.name, now=now, department=user.department,
           data={"forced": was_forced})


def issue_token(session: Session, actor: Actor, *, user_name: str, expires_days: int | None = None,
                now: datetime) -> str:
    """Issue an API bearer token (API 令牌) for a user. The token is returned once; only its SHA-256 is kept."""
    authorize(actor, "user:manage")
    token, row = new_token(session, user_name=user_name, expires_days=expires_days, now=now)
    append(session, actor, "token.issued", "api_token", row.id, now=now,
           after={"user": user_name, "prefix": row.prefix,
                  "expires_at": row.expires_at.isoformat() if row.expires_at else None})
    return token


def revoke_token(session: Session, actor: Actor, *, token_id: int, now: datetime) -> bool:
    """Revoke an API token by its id (吊销); requests with it fail from now on. False if already revoked."""
    authorize(actor, "user:manage")
    api_token = session.get(ApiToken, token_id)
    if api_token is None:
        raise UnknownToken(token_id)
    if api_token.revoked_at is not None:
        return False
    api_token.revoked_at = now
    session.flush()
    append(session, actor, "token.revoked", "api_token", api_token.id, now=now,
           before={"revoked_at": None}, after={"revoked_at": now.isoformat()})
    return True
