"""``GET /api/v1/me``: who the credentials belong to — lets a department system check its token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from onething.accounts.permissions import GRANTS
from onething.web.auth import CurrentActor
from onething.web.problems import problem_responses

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class Me(BaseModel):
    name: str
    display_name: str
    role: str
    department: str | None
    permissions: list[str]
    assurance: str = Field(description="assurance level of these credentials: L1 password, L2 real-name "
                                       "verified, L3 in person or face verified (docs/accounts.md)")


@router.get("/me", response_model=Me, responses=problem_responses(401))
async def me(actor: CurrentActor) -> Me:
    """The authenticated user (bearer token or session) and what their role may do. No personal identifiers."""
    return Me(name=actor.name, display_name=actor.label, role=actor.role.value, department=actor.department,
              permissions=sorted(GRANTS[actor.role]), assurance=actor.assurance)
