"""Unified sign-in (统一身份认证) — the accounts side of OpenID Connect, with no network in it.

The web layer (``onething.web.oidc``) runs the protocol: it validates the ID token, reads the claims and hands
a ``VerifiedIdentity`` to ``sign_in_with_identity`` inside one transaction. Here:

- an identity is linked to a user by issuer + subject (``oidc_identities``); a later sign-in follows the link;
- a first sign-in of an applicant links the account that already holds the same resident ID or USCC (opened
  by an administrator), else creates the applicant from the claims — only at L2 or above (real-name verified);
- claims never overwrite what the platform has verified: a differing name or identifier is audited
  (``account.claims_mismatch``) and reported back to be shown, not applied;
- staff identities are never created or linked from claims: an operator links them (``link_identity``,
  audited); an unlinked subject that claims a staff account gets no role, and the refusal is audited;
- the account's assurance level rises to the highest level it has been verified at (audited).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onething.accounts.assurance import StepUpRequired, higher, meets, parse_level, rank
from onething.accounts.errors import AccountsError, UnknownUser
from onething.accounts.identifiers import check_resident_id, check_uscc
from onething.accounts.model import SYSTEM, Actor, Role
from onething.accounts.permissions import authorize
from onething.accounts.service import _actor, create_user, get_user
from onething.accounts.tables import OidcIdentity, OidcNonce, User
from onething.audit.service import append

# Claims become an account only when the provider has verified the person's real name.
CREATE_FROM_CLAIMS_LEVEL = "L2"
_NONCE_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a validated ID token (and the provider's UserInfo) says about the person."""

    issuer: str
    subject: str
    level: str                        # onething's level, mapped from the token's ``acr``
    name: str | None = None
    id_number: str | None = None
    uscc: str | None = None
    staff_account: str | None = None  # a staff identity names its onething account …
    department: str | None = None     # … and its department


@dataclass(frozen=True)
class OidcSignIn:
    actor: Actor
    level: str                        # the level of this sign-in (the session's)
    created: bool                     # a new applicant was created from the claims
    mismatches: tuple[str, ...] = ()  # claims that differ from verified data (field names), not applied


class IdentityRefused(AccountsError):
    """The provider vouched for someone onething will not sign in; ``message`` is for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


FIELD_LABELS = {"display_name": "姓名", "id_number": "公民身份号码", "uscc": "统一社会信用代码"}


def _subject_ref(issuer: str, subject: str) -> str:
    """A stable, non-identifying reference to an identity for audit entries and generated user names."""
    return hashlib.sha256(f"{issuer}\0{subject}".encode()).hexdigest()[:20]


def use_nonce(session: Session, nonce: str, now: datetime) -> bool:
    """Record an ID token's nonce as used: False when it was used before (a replayed sign-in)."""
    key = hashlib.sha256(nonce.encode()).hexdigest()
    session.execute(delete(OidcNonce).where(OidcNonce.used_at < now - _NONCE_KEEP))
    if session.get(OidcNonce, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(OidcNonce(nonce_hash=key, used_at=now))
    except IntegrityError:
        return False
    return True


def _refuse(session: Session, identity: VerifiedIdentity, reason: str, message: str, now: datetime,
            department: str | None = None) -> IdentityRefused:
    append(session, SYSTEM, "account.oidc_refused", "oidc_identity", _subject_ref(identity.issuer, identity.subject),
           now=now, department=department,
           data={"reason": reason, "issuer": identity.issuer, "level": identity.level,
                 "staff_account": identity.staff_account})
    return IdentityRefused(reason, message)


def _mismatches(user: User, identity: VerifiedIdentity) -> tuple[str, ...]:
    found: list[str] = []
    if identity.name and identity.name.strip() != user.display_name:
        found.append("display_name")
    if identity.id_number and identity.id_number != user.id_number:
        found.append("id_number")
    if identity.uscc and identity.uscc != user.uscc:
        found.append("uscc")
    return tuple(found)


def _checked_identifiers(identity: VerifiedIdentity, today: datetime) -> tuple[str | None, str | None]:
    id_number = uscc = None
    if identity.id_number:
        id_number = check_resident_id(identity.id_number, today=today.date())
    if identity.uscc:
        uscc = check_uscc(identity.uscc)
    return id_number, uscc


def sign_in_with_identity(session: Session, identity: VerifiedIdentity, now: datetime) -> OidcSignIn:
    """The user a verified identity signs in as, linking or creating the applicant on a first sign-in.

    Raises ``IdentityRefused`` (audited; the caller must still commit) or ``StepUpRequired`` (a first sign-in
    below L2 creates nothing)."""
    level = parse_level(identity.level)
    link = session.scalar(select(OidcIdentity).where(OidcIdentity.issuer == identity.issuer,
                                                     OidcIdentity.subject == identity.subject))
    created = False
    if link is not None:
        user = session.get(User, link.user_id)
        if user is None or not user.active:
            raise _refuse(session, identity, "account_disabled", "该账号已停用，请联系管理员。", now)
        if user.role != Role.applicant.value and (
                (identity.department and identity.department != user.department)
                or (identity.staff_account and identity.staff_account != user.name)):
            raise _refuse(session, identity, "department_mismatch",
                          "统一身份认证声明的部门或账号与本平台授予的不一致，未登录。请联系管理员。", now,
                          department=user.department)
        link.last_sign_in_at = now
    else:
        if identity.staff_account or identity.department:
            # Roles are granted in onething: a staff subject nobody linked gets none.
            raise _refuse(session, identity, "staff_not_linked",
                          "该统一身份账号尚未在本平台授权为工作人员，请联系平台管理员办理。", now,
                          department=identity.department)
        if not meets(level, CREATE_FROM_CLAIMS_LEVEL):
            raise StepUpRequired(CREATE_FROM_CLAIMS_LEVEL, level, "first sign-in")
        try:
            id_number, uscc = _checked_identifiers(identity, now)
        except ValueError as exc:
            raise _refuse(session, identity, "invalid_identifier", f"统一身份认证提供的证件号码无效：{exc}",
                          now) from None
        if bool(id_number) == bool(uscc):
            raise _refuse(session, identity, "no_identifier",
                          "统一身份认证未提供公民身份号码或统一社会信用代码，无法开户。", now)
        user = session.scalar(select(User).where(User.id_number == id_number) if id_number
                              else select(User).where(User.uscc == uscc))
        how = "identifier"
        if user is not None and (not user.active or user.role != Role.applicant.value):
            raise _refuse(session, identity, "account_disabled", "该证件号码对应的账号已停用，请联系管理员。", now)
        if user is None:
            user = create_user(session, name=f"u-{_subject_ref(identity.issuer, identity.subject)}",
                               role=Role.applicant, id_number=id_number, uscc=uscc,
                               display_name=(identity.name or "").strip() or "申请人", now=now)
            user.assurance = level
            created = True
            how = "created"
            append(session, _actor(user), "account.created", "user", user.name, now=now,
                   after={"role": user.role, "from": "oidc", "assurance": level})
        session.add(OidcIdentity(issuer=identity.issuer, subject=identity.subject, user_id=user.id,
                                 created_at=now, last_sign_in_at=now))
        session.flush()
        append(session, _actor(user), "account.oidc_linked", "user", user.name, now=now,
               data={"issuer": identity.issuer, "subject": _subject_ref(identity.issuer, identity.subject),
                     "by": how, "level": level})
    mismatches = () if created else _mismatches(user, identity)
    if mismatches:
        append(session, _actor(user), "account.claims_mismatch", "user", user.name, now=now,
               department=user.department,
               data={"fields": list(mismatches), "issuer": identity.issuer, "applied": False})
    if rank(level) > rank(user.assurance):
        before = user.assurance
        user.assurance = higher(level, user.assurance)
        append(session, _actor(user), "account.assurance_raised", "user", user.name, now=now,
               department=user.department, before={"assurance": before}, after={"assurance": user.assurance})
    session.flush()
    return OidcSignIn(actor=_actor(user), level=level, created=created, mismatches=mismatches)


def link_identity(session: Session, operator: Actor, *, user_name: str, issuer: str, subject: str,
                  now: datetime) -> OidcIdentity:
    """Link an identity at ``issuer`` to an existing account (e.g. a staff member's), audited. The role stays
    the one onething granted the account."""
    authorize(operator, "user:manage")
    user = get_user(session, user_name)
    if user is None or not user.active:
        raise UnknownUser(user_name)
    existing = session.scalar(select(OidcIdentity).where(OidcIdentity.issuer == issuer,
                                                         OidcIdentity.subject == subject))
    if existing is not None:
        if existing.user_id == user.id:
            return existing
        raise IdentityRefused("already_linked", "该统一身份账号已绑定其他用户")
    link = OidcIdentity(issuer=issuer, subject=subject, user_id=user.id, created_at=now)
    session.add(link)
    session.flush()
    append(session, operator, "account.oidc_linked", "user", user.name, now=now, department=user.department,
           data={"issuer": issuer, "subject": _subject_ref(issuer, subject), "by": "operator"})
    return link


def linked_identities(session: Session, user_name: str) -> list[OidcIdentity]:
    user = get_user(session, user_name)
    if user is None:
        return []
    return list(session.scalars(select(OidcIdentity).where(OidcIdentity.user_id == user.id)
                                .order_by(OidcIdentity.id)))
