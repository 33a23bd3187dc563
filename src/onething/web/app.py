"""The FastAPI application factory: one app serving the JSON API (``/api/v1``), the pages and static files.

Routers are included below, one line each; a new area adds its router here. Everything a request needs
(catalog, engine) lives on ``app.state`` and reaches handlers through ``onething.web.deps``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from onething import __version__
from onething.accounts.ratelimit import RateLimiter
from onething.catalog.model import Catalog
from onething.catalog.service import active_catalog
from onething.config import get_settings
from onething.delivery.worker import inprocess_worker_lifespan
from onething.web.api import accounts as accounts_api
from onething.web.api import audit as audit_api
from onething.web.api import cases as cases_api
from onething.web.api import catalog as catalog_api
from onething.web.api import certificates as certificates_api
from onething.web.api import delegations as delegations_api
from onething.web.api import exchange as exchange_api
from onething.web.api import meta as meta_api
from onething.web.auth import install_auth, optional_actor
from onething.web.limits import install_limits
from onething.web.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from onething.web.nostore import NoStoreMiddleware
from onething.web.pages import auth as auth_pages
from onething.web.pages import cases as case_pages
from onething.web.pages import certificates as certificate_pages
from onething.web.pages import delegations as delegation_pages
from onething.web.pages import exchange as exchange_pages
from onething.web.pages import oidc as oidc_pages
from onething.web.pages import portal
from onething.web.pages import roles as role_pages
from onething.web.problems import install_problem_handlers
from onething.web.search import ThingIndex
from onething.web.templating import STATIC_DIR

# Swagger UI's bundle and stylesheet, shipped by the fastapi-offline package, so /docs needs no CDN.
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from onething.audit.tree import sequencer_lifespan

    async with inprocess_worker_lifespan(app), sequencer_lifespan(app.state.engine):
        yield


def create_app(engine: Engine | None = None, catalog: Catalog | None = None) -> FastAPI:
    """Build the app for ``engine`` (default: the configured database) serving ``catalog``.

    Without a catalog it serves the latest published version, else the configured catalog folder. Refuses
    (``ConfigurationError``) to build outside the demo without ONETHING_SECRET_KEY.
    """
    from onething.db import get_engine

    settings = get_settings()
    settings.check_secret_key()
    engine = engine or get_engine()
    if catalog is None:
        label, catalog = active_catalog(engine)
    else:
        label = "provided catalog"

    app = FastAPI(
        title="onething API", version=__version__,
        description="高效办成一件事 — one-things, their guides and plans. Errors are RFC 9457 problem details.",
        docs_url=None, redoc_url=None,  # /docs is served by meta_api with a CSP-friendly page
        lifespan=_lifespan,  # the outbox worker and audit sequencer threads, when settings say so
    )
    app.state.engine = engine
    app.state.rate_limiter = RateLimiter(engine)   # this process's counts, shared in batches (ADR 022)
    app.state.catalog = catalog
    app.state.catalog_label = label
    app.state.thing_index = ThingIndex(catalog)

    install_problem_handlers(app)
    install_auth(app)
    oidc_pages.install_step_up(app)  # StepUpRequired → a new sign-in at the provider, or 403 step-up-required
    install_limits(app)  # inside the request context: a refusal is logged and carries the request id
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(NoStoreMiddleware)  # personal responses, problem+json and the last-resort 500 included
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)  # outermost: added last
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/static-docs", StaticFiles(directory=SWAGGER_ASSETS), name="static-docs")

    app.include_router(meta_api.router)
    app.include_router(catalog_api.router)
    app.include_router(cases_api.router)
    app.include_router(portal.router, dependencies=[Depends(optional_actor)])  # nav shows who is signed in
    app.include_router(auth_pages.router)
    app.include_router(oidc_pages.router)
    app.include_router(accounts_api.router)
    app.include_router(exchange_api.router)
    app.include_router(delegations_api.router)
    app.include_router(audit_api.router)
    app.include_router(exchange_pages.router)
    app.include_router(delegation_pages.router)
    app.include_router(case_pages.router)
    app.include_router(certificates_api.router)
    app.include_router(certificate_pages.router)
    app.include_router(role_pages.router)
    return app
