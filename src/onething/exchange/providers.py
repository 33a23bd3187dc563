"""Provider adapters (数据提供方适配器): one small interface for every holder's system.

``Provider.fetch(resource, subject, fields)`` returns the asked fields of the subject's record (an empty dict
when the holder has no record) or raises ``ProviderUnavailable``. Three adapters ship:

- ``HttpProvider``: a department's own service. ``POST {base}/resources/{resource}/query`` with
  ``{"subject": …, "fields": [...]}`` → ``200 {"values": {...}}``, or ``404`` when there is no record. The
  subject travels in the body, never in the URL, so it stays out of access logs. Every request is signed
  with the holder's secret (``onething.delivery.signing``, the scheme of the webhooks, over method, path and
  body) so the holder answers only the platform. Timeouts are short: a holder that does not answer must not
  hold up the applicant, who can upload the material instead.
- ``BuiltinProvider``: the demo registries in onething's own database (``registry_records``), served only in
  the demo (``ONETHING_DEMO``): fictional records must never stand in for a holder's real data.
- ``NoProvider``: a resource whose holder has no service configured outside the demo: always unavailable,
  which is the degraded path (fields stay editable, materials are uploaded).

``Providers`` picks the adapter per resource: ``settings.exchange_providers`` maps resource ids to base URLs
(``settings.exchange_provider_secrets`` to their signing secrets); everything else is built-in in the demo and
unavailable otherwise. Tests pass overrides (a real sandbox server, never a mock).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.catalog.model import Resource
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request, timestamp_of
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


NO_PROVIDER = "no provider service configured (ONETHING_EXCHANGE_PROVIDERS)"


class NoProvider:
    """A holder without a configured service, outside the demo: unavailable, with the reason why."""

    def fetch(self, resource: Resource, subject: str, fields: Sequence[str]) -> dict[str, Any]:
        raise ProviderUnavailable(resource.id, NO_PROVIDER)


class HttpProvider:
    """Calls a holder's own service over HTTP with a short timeout, each request signed with ``secret``;
    any failure is ``ProviderUnavailable``."""

    def __init__(self, base_url: str, secret: str, timeout: float = 3.0, client: httpx.Client | None = None,
                 clock: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.client = client
        self.clock = clock or (lambda: datetime.now(UTC))

    def fetch(self, resource: Resource, subject: str, fields: Sequence[str]) -> dict[str, Any]:
        if not self.secret:
            raise ProviderUnavailable(resource.id, "no signing secret configured (ONETHING_EXCHANGE_PROVIDER_SECRETS)")
        url = f"{self.base_url}/resources/{resource.id}/query"
        body = json.dumps({"subject": subject, "fields": list(fields)}, ensure_ascii=False).encode("utf-8")
        timestamp = timestamp_of(self.clock())
        headers = {"Content-Type": "application/json", HEADER_TIMESTAMP: timestamp,
                   HEADER_SIGNATURE: sign_request(self.secret, timestamp, "POST", urlsplit(url).path, body)}
        try:
            if self.client is not None:
                response = self.client.post(url, content=body, headers=headers, timeout=self.timeout)
            else:
                response = httpx.post(url, content=body, headers=headers, timeout=self.timeout)
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
    """Which adapter serves which resource: HTTP for configured holders' services; for the rest, the demo
    registries in the demo and nothing (unavailable) otherwise."""

    def __init__(self, urls: Mapping[str, str] | None = None, timeout: float = 3.0,
                 overrides: Mapping[str, Provider] | None = None, *, secrets: Mapping[str, str] | None = None,
                 demo: bool = False) -> None:
        self.urls = dict(urls or {})
        self.secrets = dict(secrets or {})
        self.timeout = timeout
        self.overrides = dict(overrides or {})
        self.demo = demo

    @classmethod
    def from_settings(cls) -> Providers:
        from onething.config import get_settings

        settings = get_settings()
        return cls(settings.exchange_providers, settings.provider_timeout_seconds,
                   secrets=settings.exchange_provider_secrets, demo=settings.demo)

    def for_resource(self, session: Session, resource: Resource) -> Provider:
        if resource.id in self.overrides:
            return self.overrides[resource.id]
        if resource.id in self.urls:
            return HttpProvider(self.urls[resource.id], self.secrets.get(resource.id, ""), self.timeout)
        if self.demo:
            return BuiltinProvider(session)
        return NoProvider()


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
