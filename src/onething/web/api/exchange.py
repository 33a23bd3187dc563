"""The exchange API (数据共享): the resource directory, access grants, consents, the checked fetch, the
citizen's data uses and data-error corrections.

Pinned (issue 5): ``GET /api/v1/exchange/resources`` → ``[{"id", "name", "holder", "sharing", "fields"}]`` (plus
extras) for signed-in users; ``GET /api/v1/me/data-uses`` → the signed-in person's uses (401 without a token).
Routes parse, call one exchange service in one transaction, and render. A refused fetch answers 403
problem+json whose ``type`` names the reason (``/problems/consent-required`` …) and is on the audit chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.exchange import service
from onething.exchange.errors import (
    FetchRefused,
    InvalidRequest,
    InvalidTransition,
    NotShared,
    ProviderUnavailable,
    UnknownResource,
)
from onething.web.auth import CurrentActor, now_of, settings_of
from onething.web.deps import get_catalog, get_engine
from onething.web.limits import MAX_ID, OptionalQueryId, PathId
from onething.web.problems import Problem, problem_responses
from onething.workdays import UnknownCalendarYear

router = APIRouter(prefix="/api/v1", tags=["exchange"])

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

REFUSAL_TYPES = {
    "not_shared": "/problems/not-shared", "no_grant": "/problems/grant-required", "purpose": "/problems/purpose",
    "scope": "/problems/out-of-scope", "consent": "/problems/consent-required", "actor": "/problems/forbidden",
    "consent_subject": "/problems/consent-subject-mismatch",
}


@contextmanager
def exchange_problems() -> Iterator[None]:
    """Exchange errors → problem details (accounts' NotFound/Forbidden are mapped by ``web.auth``)."""
    try:
        yield
    except UnknownResource as exc:
        raise Problem(404, "找不到该数据资源", f"目录中没有数据资源“{exc.resource}”。",
                      type_="/problems/unknown-resource") from None
    except NotShared as exc:
        raise Problem(403, "不予共享", exc.detail, type_=REFUSAL_TYPES[exc.reason]) from None
    except FetchRefused as exc:
        raise Problem(403, "数据调用被拒绝", exc.detail, type_=REFUSAL_TYPES.get(exc.reason, "/problems/refused"),
                      errors=[("reason", exc.reason)]) from None
    except ProviderUnavailable:
        raise Problem(503, "数据提供部门暂不可用",
                      "该部门系统暂时无法响应。您可以直接上传相应材料，不影响提交申请。",
                      type_="/problems/provider-unavailable") from None
    except InvalidRequest as exc:
        raise Problem(422, detail="请求中有字段不符合要求，见 errors。", type_="/problems/validation",
                      errors=exc.errors) from None
    except InvalidTransition as exc:
        raise Problem(409, detail=str(exc), type_="/problems/invalid-transition") from None
    except UnknownCalendarYear as exc:
        raise Problem(503, detail=f"工作日历未配置 {exc.year} 年，暂时无法计算时限；请联系平台运营人员。",
                      type_="/problems/calendar-year-unknown") from None


# --- directory ------------------------------------------------------------------------------------------


class ResourceOut(BaseModel):
    id: str
    name: str
    holder: str
    sharing: str = Field(description="unconditional | conditional | none")
    fields: list[str]
    holder_name: str
    conditions: str | None
    legal_basis: str | None
    personal: bool
    update_frequency: str
    field_labels: list[str]


@router.get("/exchange/resources", response_model=list[ResourceOut], responses=problem_responses(401))
def resources(actor: CurrentActor, catalog: CatalogDep) -> list[dict[str, Any]]:
    """The data-resource directory (数据资源目录): holder, sharing class, conditions or legal basis, fields."""
    return [entry.to_json() for entry in service.directory(catalog)]


@router.get("/exchange/resources/{resource_id}", response_model=ResourceOut, responses=problem_responses(401, 404))
def resource(resource_id: str, actor: CurrentActor, catalog: CatalogDep) -> dict[str, Any]:
    for entry in service.directory(catalog):
        if entry.id == resource_id:
            return entry.to_json()
    raise Problem(404, "找不到该数据资源", f"目录中没有数据资源“{resource_id}”。", type_="/problems/unknown-resource")


# --- grants ---------------------------------------------------------------------------------------------


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str
    purpose: str = Field(description="what the data are for, in words")
    procedures: list[str] = Field(description="the consumer department's procedures the grant covers")
    legal_basis: str
    fields: list[str] = Field(description="scope: the fields asked for")
    expires_at: datetime


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: str | None = None


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str


@router.get("/exchange/grants", responses=problem_responses(401, 403))
def grants(actor: CurrentActor, engine: EngineDep, status: str | None = None) -> list[dict[str, Any]]:
    """Grants the caller's department holds or consumes (all, for operators and auditors)."""
    with session_scope(engine) as session:
        return [g.to_json() for g in service.list_grants(session, actor, status=status)]


@router.post("/exchange/grants", status_code=201, responses=problem_responses(401, 403, 404, 422))
def apply(body: GrantRequest, request: Request, actor: CurrentActor, engine: EngineDep,
          catalog: CatalogDep) -> dict[str, Any]:
    """A consumer department applies for a conditional resource (共享申请); the holder answers by `due`."""
    with exchange_problems(), session_scope(engine) as session:
        grant = service.apply_for_grant(
            session, catalog, actor, resource=body.resource, purpose=body.purpose, procedures=body.procedures,
            legal_basis=body.legal_basis, fields=body.fields, expires_at=body.expires_at, now=now_of(request),
            decision_days=settings_of(request).grant_decision_days)
    return grant.to_json()


@router.post("/exchange/grants/{grant_id}/decision", responses=problem_responses(401, 403, 404, 409, 422))
def decide(grant_id: PathId, body: Decision, request: Request, actor: CurrentActor,
           engine: EngineDep) -> dict[str, Any]:
    """The holder's department administrator approves or refuses (a refusal states why)."""
    with exchange_problems(), session_scope(engine) as session:
        return service.decide_grant(session, actor, grant_id, approve=body.approve, reason=body.reason,
                                    now=now_of(request)).to_json()


@router.post("/exchange/grants/{grant_id}/revoke", responses=problem_responses(401, 403, 404, 409, 422))
def revoke_grant(grant_id: PathId, body: Reason, request: Request, actor: CurrentActor,
                 engine: EngineDep) -> dict[str, Any]:
    with exchange_problems(), session_scope(engine) as session:
        return service.revoke_grant(session, actor, grant_id, reason=body.reason, now=now_of(request)).to_json()


# --- consent --------------------------------------------------------------------------------------------


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    application_ref: str = Field(max_length=36)
    purpose: str
    procedures: list[str]
    resources: list[str]
    fields: list[str]
    expires_at: datetime


@router.post("/exchange/consents", status_code=201, responses=problem_responses(401, 403, 422))
def consent(body: ConsentRequest, request: Request, actor: CurrentActor, engine: EngineDep,
            catalog: CatalogDep) -> dict[str, Any]:
    """The data subject consents for one application and purpose (授权同意)."""
    now = now_of(request)
    with exchange_problems(), session_scope(engine) as session:
        given = service.grant_consent(session, catalog, actor, application_ref=body.application_ref,
                                      purpose=body.purpose, procedures=body.procedures, resources=body.resources,
                                      fields=body.fields, expires_at=body.expires_at, now=now)
    return given.to_json(now)


@router.post("/exchange/consents/{consent_id}/revoke", responses=problem_responses(401, 404, 409))
def revoke_consent(consent_id: str, request: Request, actor: CurrentActor, engine: EngineDep) -> dict[str, Any]:
    """Withdraw consent (撤回授权): every later fetch under it is refused at once."""
    now = now_of(request)
    with exchange_problems(), session_scope(engine) as session:
        return service.revoke_consent(session, actor, consent_id, now).to_json(now)


@router.get("/me/consents", responses=problem_responses(401))
def my_consents(request: Request, actor: CurrentActor, engine: EngineDep) -> list[dict[str, Any]]:
    now = now_of(request)
    with session_scope(engine) as session:
        return [c.to_json(now) for c in service.consents_of(session, actor, now)]


# --- the checked fetch ----------------------------------------------------------------------------------


class FetchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consumer: str | None = Field(default=None, description="consuming department; default: the caller's")
    subject: str = Field(description="resident ID or USCC of the data subject")
    resource: str
    fields: list[str]
    purpose: str = Field(description="the consuming department's procedure id")
    application_ref: str | None = Field(default=None, max_length=36)
    consent_id: str | None = None


@router.post("/exchange/fetch", responses=problem_responses(401, 403, 404, 503))
def fetch(body: FetchRequest, request: Request, actor: CurrentActor, engine: EngineDep,
          catalog: CatalogDep) -> dict[str, Any]:
    """One checked fetch (数据调用): sharing class, grant, purpose, field scope and consent, then the holder."""
    consumer = body.consumer or actor.department or ""
    with exchange_problems():
        result = service.checked_fetch(
            engine, catalog, actor, consumer=consumer, subject=body.subject, resource=body.resource,
            fields=body.fields, purpose=body.purpose, application_ref=body.application_ref,
            consent_id=body.consent_id, now=now_of(request), providers=getattr(request.app.state, "providers", None))
    return {"resource": result.resource, "holder": result.holder, "fetched_at": result.fetched_at.isoformat(),
            "found": result.found, "values": result.values, "consent_id": result.consent_id,
            "grant_id": result.grant_id, "audit_entry_id": result.audit_entry_id}


# --- data uses and corrections --------------------------------------------------------------------------


@router.get("/me/data-uses", responses=problem_responses(401))
def my_data_uses(actor: CurrentActor, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                 before_id: OptionalQueryId = None) -> list[dict[str, Any]]:
    """Every use of the signed-in person's data (谁用了我的数据), newest first: served and refused."""
    with session_scope(engine) as session:
        return [use.to_json() for use in service.data_uses(session, actor, limit=limit, before_id=before_id)]


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str
    fields: list[str] = Field(default_factory=list)
    description: str
    use_entry_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class CorrectionAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corrected: bool
    answer: str


@router.post("/me/corrections", status_code=201, responses=problem_responses(401, 404, 422))
def report_error(body: CorrectionRequest, request: Request, actor: CurrentActor, engine: EngineDep,
                 catalog: CatalogDep) -> dict[str, Any]:
    """Report an error in one's data (数据有误): a correction task for the holder, due in working days."""
    with exchange_problems(), session_scope(engine) as session:
        return service.report_data_error(
            session, catalog, actor, resource=body.resource, fields=body.fields, description=body.description,
            use_entry_id=body.use_entry_id, now=now_of(request),
            correction_days=settings_of(request).correction_days).to_json()


@router.get("/exchange/corrections", responses=problem_responses(401, 403))
def corrections(actor: CurrentActor, engine: EngineDep, status: str | None = None) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return [c.to_json() for c in service.list_corrections(session, actor, status=status)]


@router.post("/exchange/corrections/{correction_id}/answer", responses=problem_responses(401, 403, 404, 409, 422))
def answer(correction_id: PathId, body: CorrectionAnswer, request: Request, actor: CurrentActor,
           engine: EngineDep) -> dict[str, Any]:
    with exchange_problems(), session_scope(engine) as session:
        return service.answer_correction(session, actor, correction_id, corrected=body.corrected, answer=body.answer,
                                         now=now_of(request)).to_json()
