"""FastAPI dependencies every router uses: the catalog being served, the database engine, the search index."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from onething.catalog.model import Catalog
from onething.web.search import ThingIndex


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_thing_index(request: Request) -> ThingIndex:
    index: ThingIndex = request.app.state.thing_index
    return index


REGION_COOKIE = "onething_region"


def get_region(request: Request) -> str | None:
    """The region a person picked: ``?region=`` first, then the region cookie, then the platform's configured
    region (ONETHING_REGION); a code the served catalog does not know counts as none (national)."""
    from onething.web.auth import settings_of

    catalog: Catalog = request.app.state.catalog
    for candidate in (request.query_params.get("region"), request.cookies.get(REGION_COOKIE),
                      settings_of(request).region):
        if candidate and candidate in catalog.regions:
            return candidate
    return None


def get_region_catalog(request: Request) -> Catalog:
    """The served catalog as the picked region resolves it (city inherits province inherits national)."""
    from onething.catalog.regions import resolve

    return resolve(get_catalog(request), get_region(request))
