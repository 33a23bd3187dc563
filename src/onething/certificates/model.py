"""Certificate domain (电子证照): what a certificate says, the exact bytes that are signed, and the signature
check. No I/O: the service loads rows and keys and passes them in.

The signed content is the certificate's canonical JSON (:func:`signed_bytes`): every field below except the
signature and the revocation, serialised with sorted keys, no spaces, UTF-8 (not ASCII-escaped). Anyone with
the issuing department's public key (``GET /api/v1/certificates/keys``) can check a certificate this way
without our code; docs/certificates.md states the form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = "Ed25519"
FORMAT = 1  # the version of the signed form; bumps if the form ever changes


class CertificateStatus(StrEnum):
    issued = "issued"
    revoked = "revoked"


class Verdict(StrEnum):
    """What public verification answers (验真)."""

    valid = "valid"
    revoked = "revoked"
    unknown = "unknown"  # no such certificate, or its stored signature does not verify (tampered)


@dataclass(frozen=True)
class Holder:
    """The applicant the certificate is issued to (持证主体): name and ID number or USCC."""

    name: str
    identifier: str | None
    kind: str  # "person" (公民身份号码) or "organisation" (统一社会信用代码)


@dataclass(frozen=True)
class Content:
    """Everything a certificate states, i.e. everything that is signed."""

    id: str
    application_id: str
    procedure: str
    holder: Holder
    issuer_department: str
    issuer_name: str
    title: str
    number: str
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    fields: dict[str, Any] = field(default_factory=dict)
    algorithm: str = ED25519
    key_id: str = ""


def _moment(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("issued_at must be an aware datetime")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def signed_document(content: Content) -> dict[str, Any]:
    """The certificate as the JSON object that is signed."""
    return {
        "format": FORMAT,
        "id": content.id,
        "application": content.application_id,
        "procedure": content.procedure,
        "holder": {"name": content.holder.name, "identifier": content.holder.identifier,
                   "kind": content.holder.kind},
        "issuer": {"department": content.issuer_department, "name": content.issuer_name},
        "title": content.title,
        "number": content.number,
        "issued_at": _moment(content.issued_at),
        "valid_from": content.valid_from.isoformat(),
        "valid_until": content.valid_until.isoformat() if content.valid_until else None,
        "fields": content.fields,
        "algorithm": content.algorithm,
        "key_id": content.key_id,
    }


def signed_bytes(content: Content) -> bytes:
    """The canonical bytes of :func:`signed_document`: sorted keys, no spaces, UTF-8."""
    return json.dumps(signed_document(content), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def sign(content: Content, private_key: Ed25519PrivateKey) -> bytes:
    if content.algorithm != ED25519:
        raise ValueError(f"unsupported algorithm {content.algorithm!r}")
    return private_key.sign(signed_bytes(content))


def signature_holds(content: Content, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    """True when ``signature`` is the issuing key's signature over exactly this content."""
    if content.algorithm != ED25519:
        return False
    try:
        public_key.verify(signature, signed_bytes(content))
    except InvalidSignature:
        return False
    return True


def verdict(status: str, signature_ok: bool) -> Verdict:
    """A certificate whose signature fails is as good as unknown; otherwise its status decides."""
    if not signature_ok:
        return Verdict.unknown
    return Verdict.revoked if status == CertificateStatus.revoked.value else Verdict.valid


def masked(identifier: str | None, kind: str) -> str:
    """How the holder's identifier is printed: an ID number masked (1101**********0011), a USCC in full
    (an organisation's code is public)."""
    if not identifier:
        return ""
    if kind == "person" and len(identifier) > 8:
        return identifier[:4] + "*" * (len(identifier) - 8) + identifier[-4:]
    return identifier
