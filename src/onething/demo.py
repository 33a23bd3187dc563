"""Demo data for `make run`: publish the shipped catalog, then build demo records through the services.

Each context adds its part in ``DEMO_STEPS`` (a function taking the engine and returning lines to print);
everything is created through the same services users call, so the demo carries a real audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Engine

from onething.accounts.demo import create_demo_users
from onething.cases.demo import load_cases_demo, load_certificate_reuse_demo
from onething.catalog.service import publish_catalog
from onething.config import get_settings
from onething.db import get_engine
from onething.delegations.demo import load_delegations_demo
from onething.exchange.demo import load_exchange_demo
from onething.intake.cases import check_cases


def _publish(engine: Engine) -> list[str]:
    result = publish_catalog(get_settings().resolved_catalog_dir(), actor="demo", checks=[check_cases], engine=engine)
    state = "published" if result.created else "already published"
    return [f"catalog version {result.id} {state}: {result.summary}"]


DEMO_STEPS: list[Callable[[Engine], list[str]]] = [_publish, create_demo_users, load_exchange_demo, load_cases_demo,
                                                 load_delegations_demo, load_certificate_reuse_demo]


def load_demo(engine: Engine | None = None) -> Iterator[str]:
    engine = engine or get_engine()
    for step in DEMO_STEPS:
        yield from step(engine)
