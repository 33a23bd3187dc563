"""Provider adapters (数据提供方适配器): one small interface for every holder's system.

``Provider.fetch(resource, subject, fields)`` returns the asked fields of the subject's record (an empty dict
when the holder has no record) or raises ``ProviderUnavailable``. Two adapters ship:

- ``BuiltinProvider``: the demo registries in onething's own database (``registry_records``), for holders that
  have no service of their own yet.
- ``HttpProvider``: a department's own service. ``POST {base}/resources/{resource}/query`` with
  ``{"subject": …, "fields": [...]}`` → ``200 {"values": {...}}``, or ``404`` when there is no record. The
  subject travels in the body, never in the URL, so it stays out of access logs. Timeouts are short:
  a holder that does not answer must not hold up the applicant, who can upload the material instead.

``Providers`` picks the adapter per resource: ``settings.exchange_providers`` maps resource ids to base URLs;
everything else is built-in. Tests pass overrides (a real sandbox server, never a mock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.catalog.model import Resource
from onething.exchange.errors import ProviderUnavailable
from onething.exchange.tables import RegistryRecord


class Provider(Protocol):
    def fetch(self, resource: Resource, subject: str, fields: Sequence[str]) -> dict[str, Any]:
        """The subject's values for ``fields`` ({} when there is no record); ``ProviderUnavailable`` if down."""
        ...


class BuiltinProvider:
    """Serves the demo registries in onething's database, inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def fetch(self, resource: Resource, subject: str, fields: Sequence[str]) -> dict[str, Any]:
        values = self.session.scalar(
            select(RegistryRecord.values).where(RegistryRecord.resource == resource.id,
                                                RegistryRecord.subject_key == subject))
        if values is None:
            return {}
        return {name: values[name] for name in fields if name in values}


class HttpProvider:
    """Calls a holder's own service over HTTP with a short timeout; any failure is ``ProviderUnavailable``."""

    def __init__(self, base_url: str, timeout: float = 3.0, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client

    def fetch(self, resource: Resource, subject: str, fields: Sequence[str]) -> dict[str, Any]:
        url = f"{self.base_url}/resources/{resource.id}/query"
        body = {"subject": subject, "fields": list(fields)}
        try:
            if self.client is not None:
                response = self.client.post(url, json=body, timeout=self.timeout)
            else:
                response = httpx.post(url, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(resource.id, type(exc).__name__) from None
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise ProviderUnavailable(resource.id, f"HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise ProviderUnavailable(resource.id, "answer is not JSON") from None
        values = payload.get("values") if isinstance(payload, dict) else None
        if not isinstance(values, dict):
            raise ProviderUnavailable(resource.id, "answer has no `values` object")
        return {name: values[name] for name in fields if name in values}


class Providers:
    """Which adapter serves which resource: HTTP for configured holders' services, built-in otherwise."""

    def __init__(self, urls: Mapping[str, str] | None = None, timeout: float = 3.0,
                 overrides: Mapping[str, Provider] | None = None) -> None:
        self.urls = dict(urls or {})
        self.timeout = timeout
        self.overrides = dict(overrides or {})

    @classmethod
    def from_settings(cls) -> Providers:
        from onething.config import get_settings

        settings = get_settings()
        return cls(settings.exchange_providers, settings.provider_timeout_seconds)

    def for_resource(self, session: Session, resource: Resource) -> Provider:
        if resource.id in self.overrides:
            return self.overrides[resource.id]
        if resource.id in self.urls:
            return HttpProvider(self.urls[resource.id], self.timeout)
        return BuiltinProvider(session)


def file_record(session: Session, resource: Resource, subject_key: str, values: Mapping[str, Any], now: datetime,
                relation: str = "self") -> RegistryRecord:
    """File (or replace) a record in a demo registry, as the holder's own system would hold it."""
    unknown = sorted(set(values) - set(resource.fields))
    if unknown:
        raise ValueError(f"{resource.id} has no fields {unknown}")
    row = session.scalar(select(RegistryRecord).where(RegistryRecord.resource == resource.id,
                                                      RegistryRecord.subject_key == subject_key))
    if row is None:
        row = RegistryRecord(resource=resource.id, subject_key=subject_key, relation=relation, values=dict(values),
                             updated_at=now)
        session.add(row)
    else:
        row.relation, row.values, row.updated_at = relation, dict(values), now
    session.flush()
    return row
