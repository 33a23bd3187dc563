"""Publish catalog versions into the database, read them back, and diff two catalogs.

A version is the whole validated catalog as canonical JSON with its SHA-256 content hash. Publishing content
that is already published is a no-op that returns the existing version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.catalog.errors import UnknownVersion
from onething.catalog.model import Catalog
from onething.catalog.tables import CatalogVersion


def canonical_content(catalog: Catalog) -> dict[str, Any]:
    return catalog.model_dump(mode="json")


def content_hash(content: dict[str, Any]) -> str:
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def summarise(catalog: Catalog) -> dict[str, int]:
    return {
        "things": len(catalog.things), "procedures": len(catalog.procedures),
        "departments": len(catalog.departments), "fields": len(catalog.fields),
        "materials": len(catalog.materials), "resources": len(catalog.resources), "lists": len(catalog.lists),
        "regions": len(catalog.regions),
    }


@dataclass(frozen=True)
class Published:
    id: int
    content_hash: str
    published_at: datetime
    created: bool
    summary: dict[str, int]


def publish(session: Session, catalog: Catalog, *, source: str, actor: str, now: datetime | None = None) -> Published:
    """Store ``catalog`` as a new immutable version unless identical content is already published."""
    content = canonical_content(catalog)
    digest = content_hash(content)
    existing = session.scalar(select(CatalogVersion).where(CatalogVersion.content_hash == digest))
    if existing is not None:
        return Published(existing.id, digest, existing.published_at, False, existing.summary)
    version = CatalogVersion(
        content_hash=digest, published_at=now or datetime.now(UTC), published_by=actor, source=source,
        summary=summarise(catalog), content=content,
    )
    session.add(version)
    session.flush()
    return Published(version.id, digest, version.published_at, True, version.summary)


def list_versions(session: Session) -> list[CatalogVersion]:
    return list(session.scalars(select(CatalogVersion).order_by(CatalogVersion.id.desc())))


def get_version(session: Session, ref: str) -> CatalogVersion:
    """A version by id, by content-hash prefix (≥ 6 characters), or ``latest``."""
    version: CatalogVersion | None
    if ref == "latest":
        version = session.scalar(select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(1))
    elif ref.isdigit():
        version = session.get(CatalogVersion, int(ref))
    elif len(ref) >= 6:
        matches = list(session.scalars(select(CatalogVersion).where(CatalogVersion.content_hash.startswith(ref))))
        version = matches[0] if len(matches) == 1 else None
    else:
        version = None
    if version is None:
        raise UnknownVersion(ref)
    return version


def latest_catalog(session: Session) -> tuple[int, Catalog] | None:
    version = session.scalar(select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(1))
    if version is None:
        return None
    return version.id, Catalog.model_validate(version.content)


@dataclass
class KindDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _diff_kind(old: dict[str, Any], new: dict[str, Any]) -> KindDiff:
    result = KindDiff(added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()))
    for key in sorted(old.keys() & new.keys()):
        before, after = old[key], new[key]
        if before != after:
            keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            result.changed[key] = keys
    return result


DIFF_KINDS = ("things", "procedures", "lists", "materials", "fields", "resources", "departments", "regions")


def diff(old: Catalog, new: Catalog) -> dict[str, KindDiff]:
    """What was added, removed and changed (with the keys that changed), kind by kind."""
    before, after = canonical_content(old), canonical_content(new)
    return {kind: _diff_kind(before.get(kind, {}), after.get(kind, {})) for kind in DIFF_KINDS}


def resolve_ref(session: Session | None, ref: str, load_folder: Any) -> Catalog:
    """A catalog from a folder path or a published version reference."""
    path = Path(ref)
    if path.is_dir():
        catalog: Catalog = load_folder(path)
        return catalog
    if session is None:
        raise UnknownVersion(ref)
    return Catalog.model_validate(get_version(session, ref).content)
