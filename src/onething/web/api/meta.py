"""Operational endpoints: ``/healthz`` for load balancers and the API documentation page at ``/docs``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine

from onething.catalog.model import Catalog
from onething.db import READY, UNREACHABLE, database_status
from onething.web.deps import get_catalog, get_engine
from onething.web.problems import PROBLEM_JSON, Problem, database_unavailable_problem, problem_response
from onething.web.templating import render

router = APIRouter()
logger = logging.getLogger("onething.web")


class Health(BaseModel):
    status: str
    database: bool
    catalog: str
    things: int


@router.get("/healthz", response_model=Health, tags=["meta"],
            responses={503: {"description": "the database does not answer, or is not migrated (problem+json; "
                                            "`database` says which)", "content": {PROBLEM_JSON: {}}}})
def healthz(request: Request, engine: Engine = Depends(get_engine),
            catalog: Catalog = Depends(get_catalog)) -> Response:
    """Liveness and readiness: 200 when the database answers and is migrated, else a 503 problem naming which
    (``database``: ``unreachable`` or ``not migrated``) — a stopped or unknown database is never "not migrated"."""
    state = database_status(engine)
    label = request.app.state.catalog_label
    if state == READY:
        health = Health(status="ok", database=True, catalog=label, things=len(catalog.things))
        return JSONResponse(health.model_dump())
    logger.warning("health check: database %s", state)
    extensions = {"database": state, "catalog": label, "things": len(catalog.things)}
    if state == UNREACHABLE:
        problem = database_unavailable_problem(extensions)
    else:
        problem = Problem(503, detail="数据库尚未升级到当前版本：请运行 `onething db upgrade`。",
                          type_="/problems/database-not-migrated", extensions=extensions)
    return problem_response(request, problem)


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    response = render(request, "docs.html", {"openapi_url": request.app.openapi_url})
    assert isinstance(response, HTMLResponse)
    return response
