"""Certificate services (电子证照): issue on approval, list and download for the holder, verify for anyone,
revoke by the issuing department, and the certificates of a subject for the exchange.

Issuing is not a user action of its own: ``cases.decide_task`` calls :func:`issue_for_approval` inside the
approval's transaction, so an approved task with a result has its signed certificate exactly when the approval
commits. Revoking is the issuing department's action (``certificate:revoke``): one transaction with its audit
entry and an outbox event for the department's systems.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from onething.accounts.api import Actor, NotFound, Role, authorize, can
from onething.accounts.tables import User
from onething.audit import service as audit
from onething.cases.tables import ApplicationRow, OutboxEvent
from onething.certificates import holdings, keys
from onething.certificates.errors import AlreadyRevoked, Invalid
from onething.certificates.holdings import content_of, signature_ok
from onething.certificates.model import (
    ED25519,
    CertificateStatus,
    Content,
    Holder,
    Verdict,
    masked,
    sign,
    verdict,
)
from onething.certificates.render import render_pdf
from onething.certificates.tables import CertificateRow, SigningKey
from onething.db import session_scope

CHINA = ZoneInfo("Asia/Shanghai")
# Keys of an approval's result that the certificate takes as its own header rather than as printed fields.
NUMBER, VALID_FROM, VALID_UNTIL = "number", "valid_from", "valid_until"
RESERVED = frozenset({NUMBER, VALID_FROM, VALID_UNTIL, "document"})


# --- issuing, inside the approval's transaction ----------------------------------------------------------


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(value)
    return date.fromisoformat(value)


def result_errors(result: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """What is wrong with an approval's result as a certificate's header (文号, 有效期); [] when fine."""
    if not isinstance(result, Mapping):
        return []
    errors: list[tuple[str, str]] = []
    number = result.get(NUMBER)
    if number is not None and (not isinstance(number, str) or not number.strip() or len(number) > 100):
        errors.append((f"result.{NUMBER}", "文号应为 1–100 个字符"))
    dates: dict[str, date | None] = {}
    for name in (VALID_FROM, VALID_UNTIL):
        try:
            dates[name] = _date(result.get(name))
        except ValueError:
            errors.append((f"result.{name}", "应为日期，如 2026-03-02"))
    start, end = dates.get(VALID_FROM), dates.get(VALID_UNTIL)
    if start is not None and end is not None and end < start:
        errors.append((f"result.{VALID_UNTIL}", "有效期截止日早于起始日"))
    return errors


def _holder(session: Session, applicant_id: int) -> Holder:
    user = session.get(User, applicant_id)
    if user is None:  # the application's foreign key makes this unreachable
        raise NotFound("user", applicant_id)
    if user.uscc:
        return Holder(name=user.display_name or user.name, identifier=user.uscc, kind="organisation")
    return Holder(name=user.display_name or user.name, identifier=user.id_number, kind="person")


def preview_for_approval(session: Session, *, applicant_id: int, department_name: str, title: str,
                         result: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The certificate an approval with ``result`` would issue, field by field, without signing or storing it
    (证照预览): what :func:`issue_for_approval` prints, with the holder's ID masked as on the certificate.
    A number left blank shows as None (the issue generates one); dates that do not parse are left out."""
    holder = _holder(session, applicant_id)
    number = result.get(NUMBER)
    dates: dict[str, date | None] = {}
    for name in (VALID_FROM, VALID_UNTIL):
        try:
            dates[name] = _date(result.get(name))
        except ValueError:
            dates[name] = None
    return {
        "title": title, "issuer": department_name, "holder": holder.name,
        "holder_identifier": masked(holder.identifier, holder.kind), "holder_kind": holder.kind,
        "number": number.strip() if isinstance(number, str) and number.strip() else None,
        "valid_from": (dates[VALID_FROM] or now.astimezone(CHINA).date()).isoformat(),
        "valid_until": until.isoformat() if (until := dates[VALID_UNTIL]) else None,
        "fields": {k: v for k, v in result.items() if k not in RESERVED and v not in (None, "")},
    }


def issue_for_approval(session: Session, *, application_id: str, task_id: str, procedure: str, applicant_id: int,
                       department: str, department_name: str, title: str, result: Mapping[str, Any],
                       now: datetime) -> CertificateRow:
    """Issue and sign the certificate of one approved task, in the caller's transaction (the approval's).

    ``result`` is the approval's result: its ``number`` (文号) becomes the certificate number, else one is
    generated; ``valid_from`` (default: the issue date in China) and ``valid_until`` (default: none, 长期) are
    dates; every other key is printed as a field. Call :func:`result_errors` first.
    """
    if result_errors(result):
        raise Invalid(result_errors(result))
    certificate_id = str(uuid.uuid4())
    key = keys.department_key(session, department, now)
    number = result.get(NUMBER)
    if not isinstance(number, str) or not number.strip():
        number = f"{department.upper()}-{now.astimezone(CHINA):%Y%m%d}-{certificate_id[:8].upper()}"
    content = Content(
        id=certificate_id, application_id=application_id, procedure=procedure,
        holder=_holder(session, applicant_id), issuer_department=department, issuer_name=department_name,
        title=title, number=number.strip(), issued_at=now,
        valid_from=_date(result.get(VALID_FROM)) or now.astimezone(CHINA).date(),
        valid_until=_date(result.get(VALID_UNTIL)),
        fields={k: v for k, v in result.items() if k not in RESERVED}, algorithm=ED25519, key_id=key.id)
    signature = sign(content, keys.private_key_of(key))
    row = CertificateRow(
        id=content.id, application_id=application_id, task_id=task_id, procedure=procedure,
        holder_account_id=applicant_id, holder_name=content.holder.name,
        holder_identifier=content.holder.identifier, holder_kind=content.holder.kind,
        issuer_department=department, issuer_name=department_name, title=title, number=content.number,
        issued_at=now, valid_from=content.valid_from, valid_until=content.valid_until, fields=content.fields,
        algorithm=content.algorithm, key_id=key.id, signature=base64.b64encode(signature).decode("ascii"),
        status=CertificateStatus.issued.value)
    session.add(row)
    return row


# --- reading ----------------------------------------------------------------------------------------------


def _signature_ok(session: Session, row: CertificateRow) -> bool:
    return signature_ok(session, row)


def summary(row: CertificateRow) -> dict[str, Any]:
    return {"id": row.id, "procedure": row.procedure, "title": row.title,
            "issued_at": row.issued_at.astimezone(UTC).isoformat(), "status": row.status}


def _holder_only(actor: Actor) -> None:
    """Certificates are the holder's: anyone else — staff included — is told nothing exists (404)."""
    if actor.role is not Role.applicant:
        raise NotFound("certificate")
    authorize(actor, "application:read_own")


def list_for_application(engine: Engine, actor: Actor, application_id: str) -> list[dict[str, Any]]:
    """The certificates of one of the holder's applications (我的证照), in the order they were issued."""
    _holder_only(actor)
    with session_scope(engine) as session:
        owner = session.scalar(select(ApplicationRow.applicant_id).where(ApplicationRow.id == application_id))
        if owner is None or owner != actor.user_id:
            raise NotFound("application", application_id)
        rows = session.execute(select(CertificateRow).where(CertificateRow.application_id == application_id,
                                                            CertificateRow.holder_account_id == actor.user_id)
                               .order_by(CertificateRow.issued_at, CertificateRow.id)).scalars()
        return [summary(row) for row in rows]


def download(engine: Engine, actor: Actor, certificate_id: str, *, verify_url: Callable[[str], str],
             field_labels: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    """The holder's certificate as a PDF (下载证照): its file name and bytes."""
    _holder_only(actor)
    with session_scope(engine) as session:
        row = session.get(CertificateRow, certificate_id)
        if row is None or row.holder_account_id != actor.user_id:
            raise NotFound("certificate", certificate_id)
        pdf = render_pdf(content_of(row), signature=base64.b64decode(row.signature), status=row.status,
                         verify_url=verify_url(row.id), field_labels=field_labels)
        return f"{row.number}.pdf", pdf


def verify(engine: Engine, certificate_id: str) -> dict[str, Any]:
    """Public verification (验真): valid, revoked, or unknown — and only what the certificate prints on its face
    besides the holder: title, issuer, issue time. No one need sign in; nothing personal is answered."""
    with session_scope(engine) as session:
        row = session.get(CertificateRow, certificate_id) if len(certificate_id) <= 36 else None
        if row is None or not _signature_ok(session, row):
            return {"status": Verdict.unknown.value, "title": None, "issuer": None, "issued_at": None}
        return {"status": verdict(row.status, True).value, "title": row.title, "issuer": row.issuer_name,
                "issued_at": row.issued_at.astimezone(UTC).isoformat()}


def published_keys(engine: Engine) -> list[dict[str, Any]]:
    """Every department's public key (公钥), for verifying certificates without us."""
    with session_scope(engine) as session:
        rows = session.execute(select(SigningKey).order_by(SigningKey.department)).scalars()
        return [{"id": k.id, "department": k.department, "algorithm": k.algorithm, "public_key": k.public_key,
                 "created_at": k.created_at.astimezone(UTC).isoformat()} for k in rows]


def certificate_of_task(engine: Engine, actor: Actor, task_id: str) -> dict[str, Any] | None:
    """The certificate an approved task issued, for the staff of its department (办件页); None otherwise."""
    with session_scope(engine) as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.task_id == task_id))
        if row is None or not can(actor, "task:read", row.issuer_department):
            return None
        return {**summary(row), "number": row.number, "issuer": row.issuer_name,
                "revoked_at": row.revoked_at.astimezone(UTC).isoformat() if row.revoked_at else None,
                "revocation_reason": row.revocation_reason,
                "can_revoke": can(actor, "certificate:revoke", row.issuer_department)}


def certificates_of(session: Session, subject: str) -> list[tuple[Content, Verdict]]:
    """The certificates held by ``subject`` (an ID number or USCC), each with its verdict — what the exchange
    serves as proofs (电子证照复用, ``certificates.holdings``). Runs in the caller's transaction."""
    return holdings.certificates_of(session, subject)


# --- revoking ---------------------------------------------------------------------------------------------


def revoke(engine: Engine, actor: Actor, certificate_id: str, *, reason: str, now: datetime) -> dict[str, Any]:
    """Revoke a certificate (撤销证照): the issuing department only, with a reason; audited, and an outbox
    event tells the department's systems. A certificate the actor's department did not issue is NotFound."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise Invalid([("reason", "请说明撤销理由（不超过 500 字）")])
    with session_scope(engine) as session:
        row = session.get(CertificateRow, certificate_id, with_for_update=True)
        if row is None or not can(actor, "task:read", row.issuer_department):
            raise NotFound("certificate", certificate_id)
        authorize(actor, "certificate:revoke", row.issuer_department)
        if row.status == CertificateStatus.revoked.value:
            raise AlreadyRevoked("证照已撤销")
        row.status = CertificateStatus.revoked.value
        row.revoked_at = now
        row.revoked_by = actor.user_id
        row.revocation_reason = reason
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "kind": "certificate.revoked", "occurred_at": now.astimezone(UTC).isoformat(),
                "application": row.application_id, "department": row.issuer_department,
                "certificate": {"id": row.id, "number": row.number, "title": row.title, "reason": reason}}
        session.execute(insert(OutboxEvent), [{
            "event_id": event_id, "kind": "certificate.revoked", "department": row.issuer_department,
            "application_id": row.application_id, "payload": body, "created_at": now, "available_at": now,
            "attempts": 0}])
        audit.append(session, actor, "certificate.revoked", "certificate", row.id, now=now,
                     application_id=row.application_id, department=row.issuer_department,
                     before={"status": CertificateStatus.issued.value},
                     after={"status": row.status}, data={"number": row.number, "reason": reason})
        session.flush()
        return {**summary(row), "revoked_at": now.astimezone(UTC).isoformat(), "revocation_reason": reason}
