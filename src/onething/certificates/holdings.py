"""A subject's issued certificates with their verdicts (电子证照复用): what the exchange serves as proofs.

Kept apart from ``certificates.service`` (which writes to the cases' tables) so that the exchange can read
certificates without depending on cases: this module reads only the certificate tables and checks each
stored signature with the issuing department's published key.
"""

from __future__ import annotations

import base64
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.certificates import keys
from onething.certificates.model import Content, Holder, Verdict, signature_holds, verdict
from onething.certificates.tables import CertificateRow, SigningKey


def content_of(row: CertificateRow) -> Content:
    """The signed content as stored: verification rebuilds the signed bytes from these columns."""
    return Content(
        id=row.id, application_id=row.application_id, procedure=row.procedure,
        holder=Holder(name=row.holder_name, identifier=row.holder_identifier, kind=row.holder_kind),
        issuer_department=row.issuer_department, issuer_name=row.issuer_name, title=row.title, number=row.number,
        issued_at=row.issued_at, valid_from=row.valid_from, valid_until=row.valid_until, fields=dict(row.fields),
        algorithm=row.algorithm, key_id=row.key_id)


def signature_ok(session: Session, row: CertificateRow) -> bool:
    key = session.get(SigningKey, row.key_id)
    if key is None or key.department != row.issuer_department or key.algorithm != row.algorithm:
        return False
    try:
        signature = base64.b64decode(row.signature, validate=True)
    except ValueError:
        return False
    return signature_holds(content_of(row), signature, keys.public_key_of(key))


def certificates_of(session: Session, subject: str) -> list[tuple[Content, Verdict]]:
    """The certificates held by ``subject`` (an ID number or USCC), each with its verdict, oldest first — in
    the caller's transaction; a tampered one is ``unknown``."""
    rows = session.execute(select(CertificateRow).where(CertificateRow.holder_identifier == subject)
                           .order_by(CertificateRow.issued_at, CertificateRow.id)).scalars()
    return [(content_of(row), verdict(row.status, signature_ok(session, row))) for row in rows]


def usable_certificate(session: Session, subject: str, procedures: set[str], today: date) -> Content | None:
    """The newest certificate of ``subject`` issued by one of ``procedures`` that proves something today:
    valid (signature holds, not revoked) and within its validity dates. None when there is none."""
    for content, answer in reversed(certificates_of(session, subject)):
        if content.procedure not in procedures or answer is not Verdict.valid:
            continue
        if content.valid_from <= today and (content.valid_until is None or today <= content.valid_until):
            return content
    return None
