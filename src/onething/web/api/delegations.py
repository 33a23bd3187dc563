"""The delegations API (代办授权): grant an agent, claim to act for a family member, review, revoke, and the
audited acts. Routes parse and call one service of ``onething.delegations.api``; permissions are checked there.

``POST /api/v1/applications`` takes ``on_behalf_of`` (the principal's USCC or resident ID) to submit within a
grant; outside it the answer is 403 ``/problems/not-authorised-to-act``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from onething.catalog.model import Catalog
from onething.delegations import api as delegations
from onething.web.auth import CurrentActor, now_of, rate_limit
from onething.web.deps import get_catalog, get_engine
from onething.web.problems import Problem, problem_responses

router = APIRouter(prefix="/api/v1", tags=["delegations"])

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
DelegationId = Annotated[str, Path(min_length=1, max_length=36)]


@contextmanager
def delegation_problems() -> Iterator[None]:
    try:
        yield
    except delegations.InvalidDelegation as exc:
        raise Problem(422, detail="请求中有字段不符合要求，见 errors。", type_="/problems/validation",
                      errors=exc.errors) from None
    except delegations.DelegationConflict as exc:
        raise Problem(409, detail=str(exc), type_="/problems/conflict") from None


class Party(BaseModel):
    name: str
    identifier: str | None = Field(default=None, description="masked: 110101********0011")
    id_number: str | None = Field(default=None, description="masked resident ID")
    has_account: bool | None = None


class DelegationOut(BaseModel):
    id: str
    kind: str = Field(description="enterprise | helper | guardian | next_of_kin")
    kind_label: str
    status: str = Field(description="pending_review | active | refused | revoked")
    state: str = Field(description="the status, or expired / not_yet for an active grant outside its period")
    state_label: str
    principal: Party
    agent: Party
    things: list[str] | None = Field(description="the things covered; null: every thing")
    valid_from: datetime
    valid_until: datetime
    basis: str = Field(description="principal (granted by the principal) | exchange (shared data) | document")
    basis_label: str
    proof: dict[str, Any] | None = Field(description="for shared-data proof: consent and audit entry ids")
    document_name: str | None
    created_at: datetime
    reviewed_at: datetime | None
    review_reason: str | None
    revoked_at: datetime | None
    role: str | None = Field(description="the caller's part: principal | agent | reviewer")


class ActOut(BaseModel):
    entry_id: int
    at: datetime
    action: str = Field(description="delegation.granted | proven | claimed | reviewed | used | revoked")
    delegation: str
    actor: str
    application_id: str | None
    data: dict[str, Any] | None


class DelegationsOut(BaseModel):
    delegations: list[DelegationOut]
    acts: list[ActOut] = Field(description="every audited act under the caller's delegations, newest first")


class DelegationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["enterprise", "helper", "guardian", "next_of_kin"] | None = Field(default=None, description=(
        "omit (or enterprise/helper) to authorise an agent yourself; guardian / next_of_kin to ask to act for a "
        "minor child or a relative who has died"))
    agent_id_number: str | None = Field(default=None, max_length=18, description="the agent's resident ID")
    agent_name: str | None = Field(default=None, max_length=100)
    principal_id_number: str | None = Field(default=None, max_length=18, description="guardian/next_of_kin")
    principal_name: str | None = Field(default=None, max_length=100)
    things: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=200, description=(
        "the things the agent may act on; omit for every thing"))
    valid_from: datetime | None = None
    valid_until: datetime
    consent: bool = Field(default=False, description=(
        "guardian/next_of_kin: I consent that my own household, birth, marriage and death records be read to "
        "prove the relationship (each read appears in 谁用了我的数据)"))


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: str | None = Field(default=None, max_length=1000)


def _out(item: tuple[delegations.Delegation, str], now: datetime) -> DelegationOut:
    delegation, role = item
    return DelegationOut.model_validate(delegation.to_json(now, role=role))


@router.get("/delegations", response_model=DelegationsOut, responses=problem_responses(401, 403, 422))
def list_delegations(request: Request, actor: CurrentActor, engine: EngineDep,
                     status: Annotated[str | None, Query(max_length=20)] = None) -> DelegationsOut:
    """The caller's delegations, as principal and as agent, with every act under them; for reviewing staff
    the review queue (`status`, default pending_review)."""
    now = now_of(request)
    with delegation_problems():
        items = delegations.list_delegations(engine, actor, status=status)
        acts = delegations.acts(engine, actor)
    return DelegationsOut(delegations=[_out(i, now) for i in items],
                          acts=[ActOut.model_validate(a) for a in acts])


@router.post("/delegations", status_code=201, response_model=DelegationOut,
             responses=problem_responses(401, 403, 422, 429),
             dependencies=[Depends(rate_limit("delegation", "submit_rate_per_minute"))])
def create_delegation(body: DelegationBody, request: Request, actor: CurrentActor, engine: EngineDep,
                      catalog: CatalogDep) -> DelegationOut:
    """Authorise an agent (the principal), or ask to act for a minor child or a deceased relative, proven
    from shared data with `consent` (a document goes through the page's upload and staff review)."""
    now = now_of(request)
    with delegation_problems():
        if body.kind in (None, "enterprise", "helper"):
            made = delegations.grant(engine, actor, catalog, agent_id_number=body.agent_id_number or "",
                                     agent_name=body.agent_name or "", things=body.things,
                                     valid_from=body.valid_from, valid_until=body.valid_until, now=now)
            if body.kind is not None and made.kind.value != body.kind:
                raise Problem(422, detail="授权类型与账号不符：企业账号授权经办人，个人账号授权代办人",
                              type_="/problems/validation", errors=[("kind", f"应为 {made.kind.value}")])
        else:
            made = delegations.claim(engine, actor, catalog, kind=body.kind,
                                     principal_id_number=body.principal_id_number or "",
                                     principal_name=body.principal_name or "", things=body.things,
                                     valid_until=body.valid_until, now=now, consent=body.consent)
    role = "principal" if made.basis is delegations.Basis.principal else "agent"
    return _out((made, role), now)


@router.get("/delegations/{delegation_id}", response_model=DelegationOut, responses=problem_responses(401, 404))
def get_delegation(delegation_id: DelegationId, request: Request, actor: CurrentActor,
                   engine: EngineDep) -> DelegationOut:
    return _out(delegations.get_delegation(engine, actor, delegation_id), now_of(request))


@router.post("/delegations/{delegation_id}/revoke", response_model=DelegationOut,
             responses=problem_responses(401, 404, 409))
def revoke_delegation(delegation_id: DelegationId, request: Request, actor: CurrentActor,
                      engine: EngineDep) -> DelegationOut:
    """End a delegation at once (the principal; the agent may give it up)."""
    now = now_of(request)
    with delegation_problems():
        revoked = delegations.revoke(engine, actor, delegation_id, now=now)
    return _out((revoked, "principal" if revoked.principal_user_id == actor.user_id else "agent"), now)


@router.post("/delegations/{delegation_id}/review", response_model=DelegationOut,
             responses=problem_responses(401, 403, 404, 409, 422))
def review_delegation(delegation_id: DelegationId, body: ReviewBody, request: Request, actor: CurrentActor,
                      engine: EngineDep) -> DelegationOut:
    """Staff approve or refuse a relationship document (审核关系证明); a refusal says why."""
    now = now_of(request)
    with delegation_problems():
        decided = delegations.review(engine, actor, delegation_id, approve=body.approve, reason=body.reason, now=now)
    return _out((decided, "reviewer"), now)


@router.get("/delegations/{delegation_id}/document", response_class=Response, responses=problem_responses(401, 404))
def delegation_document(delegation_id: DelegationId, actor: CurrentActor, engine: EngineDep) -> Response:
    """The uploaded relationship document (for the reviewer and the person who uploaded it)."""
    _name, content_type, data = delegations.document_of(engine, actor, delegation_id)
    return Response(data, media_type=content_type, headers={"Content-Disposition": "attachment",
                                                            "X-Content-Type-Options": "nosniff"})
