"""The resource directory (数据资源目录): the catalog's data resources as the exchange lists them, the
publication of directory changes with a date, and the report of changes not published in time.

The catalog is the source of truth; a catalog version that adds, changes or withdraws a resource is a
directory change dated by that version's publication. The 条例 asks that a change be published within
``settings.directory_publication_days`` working days; ``stale_changes`` lists those that were not
(``onething exchange stale``) and ``publish_directory`` records a publication.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.audit.service import append
from onething.catalog.model import Catalog, Resource
from onething.catalog.tables import CatalogVersion
from onething.exchange.model import DirectoryEntry, StaleChange
from onething.exchange.tables import DirectoryPublication
from onething.workdays import add_working_days, china_date

ENTRY_KEYS = ("id", "name", "holder", "sharing", "conditions", "legal_basis", "personal", "update_frequency",
              "fields")


def directory(catalog: Catalog) -> list[DirectoryEntry]:
    """Every resource of the catalog as a directory entry, by holder then id."""
    entries = []
    for resource in catalog.resources.values():
        department = catalog.departments.get(resource.holder)
        entries.append(DirectoryEntry(
            id=resource.id, name=resource.name, holder=resource.holder,
            holder_name=department.name if department else resource.holder, sharing=resource.sharing.value,
            conditions=resource.conditions, legal_basis=resource.legal_basis, personal=resource.personal,
            update_frequency=resource.update_frequency, fields=resource.fields,
            field_labels=tuple(catalog.fields[f].label if f in catalog.fields else f for f in resource.fields)))
    return sorted(entries, key=lambda e: (e.holder, e.id))


def entry_of(resource: Resource | dict[str, Any]) -> dict[str, Any]:
    data = resource.model_dump(mode="json") if isinstance(resource, Resource) else resource
    return {key: data.get(key) for key in ENTRY_KEYS}


def entry_hash(entry: dict[str, Any]) -> str:
    canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Published:
    entry_hash: str
    removed: bool


def _last_publications(session: Session) -> dict[str, _Published]:
    last: dict[str, _Published] = {}
    rows = session.execute(select(DirectoryPublication).order_by(DirectoryPublication.published_at,
                                                                 DirectoryPublication.id)).scalars()
    for row in rows:
        last[row.resource] = _Published(row.entry_hash, row.removed)
    return last


def _changed_since(session: Session, catalog: Catalog, now: datetime) -> dict[str, datetime]:
    """For each resource (present or withdrawn), when its current form first appeared in the version history."""
    current = {rid: entry_hash(entry_of(r)) for rid, r in catalog.resources.items()}
    since: dict[str, datetime] = {}
    seen: dict[str, str | None] = {}
    versions = session.execute(
        select(CatalogVersion.published_at, CatalogVersion.content).order_by(CatalogVersion.id)).all()
    for published_at, content in versions:
        if published_at.tzinfo is None:  # SQLite hands back naive UTC
            published_at = published_at.replace(tzinfo=UTC)
        resources = (content or {}).get("resources", {})
        for rid in set(resources) | set(seen):
            digest = entry_hash(entry_of(resources[rid])) if rid in resources else None
            if seen.get(rid, "absent") != digest:
                seen[rid] = digest
                since[rid] = published_at
    for rid, digest in current.items():
        if seen.get(rid) != digest:
            since[rid] = now  # the served catalog is not (yet) a published version
    return since


def pending_changes(session: Session, catalog: Catalog, now: datetime, limit_days: int) -> list[StaleChange]:
    """Directory changes not yet published: added, changed or withdrawn resources, each with its due date."""
    published = _last_publications(session)
    since = _changed_since(session, catalog, now)
    today = china_date(now)
    changes = []
    for rid, resource in sorted(catalog.resources.items()):
        digest = entry_hash(entry_of(resource))
        last = published.get(rid)
        if last is not None and last.entry_hash == digest and not last.removed:
            continue
        changed_at = since.get(rid, now)
        due = add_working_days(changed_at, limit_days, catalog.calendar)
        changes.append(StaleChange(rid, "added" if last is None or last.removed else "changed", changed_at, due,
                                   today > due))
    for rid, last in sorted(published.items()):
        if rid not in catalog.resources and not last.removed:
            changed_at = since.get(rid, now)
            due = add_working_days(changed_at, limit_days, catalog.calendar)
            changes.append(StaleChange(rid, "removed", changed_at, due, today > due))
    return changes


def stale_changes(session: Session, catalog: Catalog, now: datetime, limit_days: int) -> list[StaleChange]:
    """The 10-working-day report: pending changes already past their publication date."""
    return [change for change in pending_changes(session, catalog, now, limit_days) if change.overdue]


def publish_directory(session: Session, actor: Actor, catalog: Catalog, now: datetime,
                      resources: list[str] | None = None) -> list[DirectoryPublication]:
    """Publish the pending directory changes (目录发布), all or the named ones, each dated ``now``.

    An operator publishes any; a department administrator publishes changes to their own department's
    resources.
    """
    pending = pending_changes(session, catalog, now, limit_days=0)
    if resources is not None:
        pending = [change for change in pending if change.resource in set(resources)]
    rows = []
    for change in pending:
        resource = catalog.resources.get(change.resource)
        holder = resource.holder if resource else None
        if actor.role is Role.dept_admin:
            authorize(actor, "department:configure", holder)
        else:
            authorize(actor, "catalog:publish")
        entry = entry_of(resource) if resource else None
        row = DirectoryPublication(resource=change.resource, entry_hash=entry_hash(entry) if entry else "0" * 64,
                                   entry=entry, removed=resource is None, published_at=now,
                                   published_by=actor.name)
        session.add(row)
        session.flush()
        append(session, actor, "exchange.directory.published", "resource", change.resource, now=now,
               after={"change": change.change, "entry_hash": row.entry_hash}, department=holder)
        rows.append(row)
    return rows
