"""Operational endpoints: ``/healthz`` for load balancers and the API documentation page at ``/docs``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from onething.catalog.model import Catalog
from onething.web.deps import get_catalog, get_engine
from onething.web.templating import render

router = APIRouter()
logger = logging.getLogger("onething.web")


class Health(BaseModel):
    status: str
    database: bool
    catalog: str
    things: int


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        logger.warning("health check: database unreachable", exc_info=True)
        return False


@router.get("/healthz", response_model=Health, tags=["meta"],
            responses={503: {"model": Health, "description": "the database does not answer"}})
def healthz(request: Request, engine: Engine = Depends(get_engine),
            catalog: Catalog = Depends(get_catalog)) -> JSONResponse:
    """Liveness and readiness: 200 when the database answers, 503 otherwise; names the catalog being served."""
    reachable = database_reachable(engine)
    health = Health(status="ok" if reachable else "degraded", database=reachable,
                    catalog=request.app.state.catalog_label, things=len(catalog.things))
    return JSONResponse(health.model_dump(), status_code=200 if reachable else 503)


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    response = render(request, "docs.html", {"openapi_url": request.app.openapi_url})
    assert isinstance(response, HTMLResponse)
    return response
