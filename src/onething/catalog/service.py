"""Catalog services: load a valid catalog, summarise things, render a thing's guide."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from onething.catalog.errors import InvalidCatalog, Problem
from onething.catalog.gcpause import collector_paused
from onething.catalog.guide import missing_guide_parts
from onething.catalog.loader import LoadResult, load_catalog
from onething.catalog.model import Catalog, Procedure
from onething.catalog.validate import validate

if TYPE_CHECKING:
    from onething.catalog.store import KindDiff, Published


Check = Callable[[LoadResult], list[Problem]]


def load_valid_catalog(root: Path, checks: Sequence[Check] = ()) -> Catalog:
    """Load a folder and raise InvalidCatalog (with every problem) unless it validates.

    ``checks`` adds validations that need more than the catalog — the planner's example cases
    (``onething.intake.cases.check_cases``), which this context may not import.
    """
    with collector_paused():
        result = load_catalog(root)
        problems = validate(result)
        for check in checks:
            problems += check(result)
    if any(p.severity == "error" for p in problems):
        raise InvalidCatalog(problems)
    return result.catalog


def thing_summaries(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        {
            "code": thing.code, "name": thing.name, "audience": thing.audience.value, "stage": thing.stage,
            "lead": thing.lead, "lists": catalog.lists_of(thing.code), "confidence": thing.confidence.value,
            "description": thing.description,
        }
        for thing in sorted(catalog.things.values(), key=lambda t: (t.audience.value, t.stage, t.code))
    ]


def procedure_guide(catalog: Catalog, proc: Procedure) -> dict[str, Any]:
    """One procedure's 办事指南 as plain data: the ``guide`` object of ``catalog show --json``."""
    guide = proc.guide
    materials = []
    for use in proc.materials:
        material = catalog.materials.get(use.id)
        materials.append({
            "id": use.id, "name": material.name if material else use.id, "required": use.required,
            "when": use.when, "form": _value(use.form), "copies": use.copies, "medium": _value(use.medium),
            "channel": _value(use.channel), "proven_by": list(material.proven_by) if material else [],
        })
    return {
        "conditions": list(guide.conditions),
        "basis": [b.model_dump(mode="json") for b in guide.basis],
        "fees": guide.fees,
        "locations": [loc.model_dump(mode="json") for loc in guide.locations],
        "contacts": guide.contacts.model_dump(mode="json") if guide.contacts else None,
        "result": proc.result.model_dump(mode="json") if proc.result else None,
        "delivery": [d.value for d in guide.delivery],
        "legal_days": proc.legal_days,
        "legal_days_basis": guide.legal_days_basis.model_dump(mode="json") if guide.legal_days_basis else None,
        "promised_days": proc.promised_days,
        "materials": materials,
        "missing": missing_guide_parts(proc),
    }


def _value(member: StrEnum | None) -> str | None:
    return member.value if member is not None else None


def thing_guide(catalog: Catalog, code: str) -> dict[str, Any]:
    """The one-time notice (一次告知): what a thing needs, before any answer is given."""
    thing = catalog.thing(code)
    lead = catalog.departments.get(thing.lead)
    procedures = []
    materials: dict[str, dict[str, Any]] = {}
    for tp in thing.procedures:
        proc = catalog.procedures[tp.id]
        dept = catalog.departments.get(proc.department)
        procedures.append({
            "id": proc.id, "name": proc.name, "basic_code": proc.basic_code,
            "implementation_code": proc.implementation_code, "department": proc.department,
            "department_name": dept.name if dept else proc.department, "kind": proc.kind.value,
            "when": tp.when, "after": list(tp.after), "legal_days": proc.legal_days,
            "promised_days": proc.promised_days, "steps": proc.steps, "trips": proc.trips,
            "result": proc.result.model_dump(mode="json") if proc.result else None, "source": proc.source,
            "sources": [s.model_dump(mode="json") for s in proc.sources],
            "confidence": proc.confidence.value, "note": proc.note, "unconfirmed": list(proc.unconfirmed),
            "guide": procedure_guide(catalog, proc),
        })
        for use in proc.materials:
            material = catalog.materials[use.id]
            entry = materials.setdefault(use.id, {
                "id": use.id, "name": material.name, "description": material.description,
                "proven_by": list(material.proven_by), "procedures": [], "conditions": [],
            })
            entry["procedures"].append(proc.id)
            if use.when:
                entry["conditions"].append(use.when)
    return {
        "code": thing.code, "name": thing.name, "audience": thing.audience.value, "stage": thing.stage,
        "description": thing.description,
        "lead": {"id": thing.lead, "name": lead.name if lead else thing.lead},
        "promised_days": thing.promised_days, "legal_days": thing.legal_days,
        "lists": catalog.lists_of(thing.code), "source": thing.source,
        "sources": [s.model_dump(mode="json") for s in thing.sources],
        "confidence": thing.confidence.value, "note": thing.note, "unconfirmed": list(thing.unconfirmed),
        "conditions": list(thing.conditions), "eligible_when": thing.eligible_when,
        "questions": [q.model_dump(mode="json") for q in thing.questions],
        "procedures": procedures, "materials": list(materials.values()),
        "cases": [c.model_dump(mode="json") for c in thing.cases],
    }


UNPUBLISHED = "unpublished"


def folder_label(catalog: Catalog) -> str:
    """The label of a catalog served straight from a folder: its content hash, never the folder's path (the
    label is stored as each application's catalog version; a hash names the content, and finds the version
    once that content is published — ``onething catalog diff <hash> latest``)."""
    from onething.catalog.store import canonical_content, content_hash

    return f"{UNPUBLISHED} {content_hash(canonical_content(catalog))[:16]}"


def active_catalog(engine: Engine | None = None) -> tuple[str, Catalog]:
    """The catalog the platform serves: the latest published version, else the configured folder.

    Returns a label saying which (``version 3``, or ``unpublished <content hash>`` for the folder). A schema
    not upgraded yet serves the folder; so does a database that does not answer (logged as such: the app
    answers 503 until it does).
    """
    import logging

    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlalchemy.orm import Session

    from onething.catalog.store import latest_catalog
    from onething.catalog.tables import CatalogVersion
    from onething.config import get_settings
    from onething.db import get_engine

    engine = engine or get_engine()
    latest = None
    try:
        with engine.connect() as connection:
            if inspect(connection).has_table(CatalogVersion.__tablename__):
                with Session(bind=connection) as session:
                    latest = latest_catalog(session)
    except (OperationalError, ProgrammingError):
        logging.getLogger("onething.catalog").warning(
            "database unavailable: serving the catalog folder until restart", exc_info=True)
    if latest is not None:
        version_id, catalog = latest
        return f"version {version_id}", catalog
    catalog = load_valid_catalog(get_settings().resolved_catalog_dir())
    return folder_label(catalog), catalog


def publish_catalog(
    root: Path, *, actor: str, checks: Sequence[Check] = (), engine: Engine | None = None
) -> Published:
    """Validate a folder and publish it as a version (no-op when the content is already published).

    Callers pass the example-case check so that nothing is published whose cases fail.
    """
    from onething.catalog.store import publish
    from onething.db import session_scope

    catalog = load_valid_catalog(root, checks)
    with session_scope(engine) as session:
        return publish(session, catalog, source=str(root), actor=actor)


def diff_refs(old: str, new: str, engine: Engine | None = None) -> dict[str, KindDiff]:
    """Diff two catalogs, each named by a folder path or a published version reference."""
    from onething.catalog.store import diff, resolve_ref
    from onething.db import session_scope

    with session_scope(engine) as session:
        return diff(resolve_ref(session, old, load_valid_catalog), resolve_ref(session, new, load_valid_catalog))
