"""The certificate API (电子证照): the holder's list and PDF, public verification, published keys, revocation.

Routes parse, call one service of ``onething.certificates.api`` and answer; the rules live in the service.
The holder's answers carry ``Cache-Control: no-store`` (a shared cache must not keep a person's certificate).
Verification needs no sign-in and answers only what the certificate prints besides its holder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from onething.certificates import api as certificates
from onething.web.auth import CurrentActor, now_of
from onething.web.deps import get_engine
from onething.web.problems import Problem, problem_responses

router = APIRouter(prefix="/api/v1", tags=["certificates"])

EngineDep = Annotated[Engine, Depends(get_engine)]
NO_STORE = {"Cache-Control": "no-store"}


@contextmanager
def _problems() -> Iterator[None]:
    """Certificate errors as problem details (NotFound/Forbidden are mapped by ``web.auth``)."""
    try:
        yield
    except certificates.Invalid as exc:
        raise Problem(422, detail="请求中有字段不符合要求，见 errors。", type_="/problems/validation",
                      errors=exc.errors) from None
    except certificates.AlreadyRevoked as exc:
        raise Problem(409, detail=str(exc), type_="/problems/conflict") from None
    except certificates.KeysUnavailable as exc:
        raise Problem(503, detail=str(exc), type_="/problems/certificate-keys-unavailable") from None


class CertificateSummary(BaseModel):
    id: str
    procedure: str = Field(description="the procedure whose approval issued it")
    title: str = Field(description="the result's name, e.g. 营业执照")
    issued_at: str
    status: Literal["issued", "revoked"]


class Verification(BaseModel):
    status: Literal["valid", "revoked", "unknown"] = Field(description=(
        "`unknown`: no such certificate, or its stored signature does not verify (altered)"))
    title: str | None
    issuer: str | None
    issued_at: str | None


class PublicKey(BaseModel):
    id: str = Field(description="the key id each certificate names (`key_id`)")
    department: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    created_at: str


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500, description="why the certificate is revoked (撤销理由)")


class Revoked(CertificateSummary):
    revoked_at: str
    revocation_reason: str


def verify_url(request: Request, certificate_id: str) -> str:
    """The absolute address of the public verification page the QR code opens."""
    return str(request.base_url).rstrip("/") + "/verify/" + quote(certificate_id, safe="")


@router.get("/applications/{application_id}/certificates", response_model=list[CertificateSummary],
            responses=problem_responses(401, 404))
def application_certificates(application_id: str, response: Response, actor: CurrentActor,
                             engine: EngineDep) -> list[CertificateSummary]:
    """The certificates of the caller's application (我的证照); anyone else's application is a 404."""
    response.headers.update(NO_STORE)
    with _problems():
        return [CertificateSummary(**item)
                for item in certificates.list_for_application(engine, actor, application_id)]


@router.get("/certificates/keys", response_model=list[PublicKey])
def public_keys(engine: EngineDep) -> list[PublicKey]:
    """Each issuing department's public key, to check a certificate's signature independently (公钥)."""
    return [PublicKey(**item) for item in certificates.published_keys(engine)]


@router.get("/certificates/{certificate_id}/download", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "the certificate as a PDF"},
                       **problem_responses(401, 404)})
def download(certificate_id: str, request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    """The holder's certificate as a PDF with its verification QR code; anyone else gets a 404."""
    with _problems():
        name, pdf = certificates.download(engine, actor, certificate_id,
                                          verify_url=lambda cid: verify_url(request, cid))
    disposition = f"attachment; filename=\"certificate.pdf\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(pdf, media_type="application/pdf", headers={**NO_STORE, "Content-Disposition": disposition})


@router.get("/certificates/{certificate_id}/verify", response_model=Verification)
def verify(certificate_id: str, engine: EngineDep) -> Verification:
    """Verify a certificate (验真), no sign-in needed: valid, revoked or unknown, with its title, issuer and
    issue time only."""
    return Verification(**certificates.verify(engine, certificate_id))


@router.post("/certificates/{certificate_id}/revoke", response_model=Revoked,
             responses=problem_responses(401, 403, 404, 409, 422))
def revoke(certificate_id: str, body: RevokeBody, request: Request, actor: CurrentActor,
           engine: EngineDep) -> Revoked:
    """Revoke a certificate the caller's department issued (撤销证照), with a reason; audited."""
    with _problems():
        return Revoked(**certificates.revoke(engine, actor, certificate_id, reason=body.reason,
                                             now=now_of(request)))
