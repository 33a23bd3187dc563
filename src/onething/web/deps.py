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
