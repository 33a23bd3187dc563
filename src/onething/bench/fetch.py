"""``onething bench fetch``: the checked data fetch (数据调用) with every check on, built-in provider.

The set-up is the hardest path the exchange has, made through its services: a conditional, personal resource
of the shipped catalog held by one department, fetched by staff of another for one of its procedures — so the
fetch must find an approved grant that covers procedure and fields (applied for and approved by the two
departments' administrators), a live consent of the applicant bound to the application, the purpose and the
field scope — then read the built-in registry and append the fetch to the audit chain (a checkpoint every
``audit_checkpoint_every`` entries). Each fetch is ``checked_fetch``: its own transaction, as the API does it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from onething import db
from onething.bench.common import (
    backend_of,
    latency_summary,
    machine,
    prepared_database,
    resident_id,
    safe_url,
    utcnow,
)

MAX_FETCHES = 1_000_000
PREFERRED = ("after-death", "medical_death_certificate", "death-household-cancellation")


def _choose(catalog: Any) -> tuple[str, str]:
    """A (conditional personal resource, procedure of another department that uses it) of the catalog."""
    from onething.catalog.model import Sharing
    from onething.exchange.consents import resource_needs
    from onething.intake import plan

    thing, resource, procedure = PREFERRED
    if thing in catalog.things and resource in catalog.resources and procedure in catalog.procedures:
        return resource, procedure
    for code in sorted(catalog.things):
        for resource_id, (procedures, _) in sorted(resource_needs(catalog, plan(catalog, code, {})).items()):
            candidate = catalog.resources[resource_id]
            if candidate.sharing is not Sharing.conditional or not candidate.personal:
                continue
            for procedure_id in sorted(procedures):
                if catalog.procedures[procedure_id].department != candidate.holder:
                    return resource_id, procedure_id
    raise LookupError("the catalog has no conditional personal resource used across departments")


def _set_up(engine: Any, catalog: Any, run: str) -> dict[str, Any]:
    """Users, the registry record, an approved grant and a consent; what each fetch is called with."""
    from onething.accounts.api import actor_for_user, create_user
    from onething.exchange.consents import grant_consent
    from onething.exchange.grants import apply_for_grant, decide_grant
    from onething.exchange.providers import file_record

    resource_id, procedure_id = _choose(catalog)
    resource = catalog.resources[resource_id]
    consumer, holder = catalog.procedures[procedure_id].department, resource.holder
    subject = resident_id(12_345)
    now = utcnow()
    with db.session_scope(engine) as session:
        create_user(session, name=f"bench-applicant-{run}", role="applicant", id_number=subject, now=now)
        create_user(session, name=f"bench-{consumer}-staff", role="staff", department=consumer, now=now)
        create_user(session, name=f"bench-{consumer}-admin", role="dept_admin", department=consumer, now=now)
        create_user(session, name=f"bench-{holder}-admin", role="dept_admin", department=holder, now=now)
        file_record(session, resource, subject, {f: f"示例{f}" for f in resource.fields}, now)
        grant = apply_for_grant(
            session, catalog, actor_for_user(session, f"bench-{consumer}-admin"), resource=resource_id,
            purpose="性能基准", procedures=[procedure_id], legal_basis="《政务数据共享条例》（基准测试）",
            fields=list(resource.fields), expires_at=now + timedelta(days=30), now=now, decision_days=10)
        decide_grant(session, actor_for_user(session, f"bench-{holder}-admin"), grant.id, approve=True,
                     reason="基准测试", now=now)
        reference = f"bench-fetch-{run}"
        consent = grant_consent(
            session, catalog, actor_for_user(session, f"bench-applicant-{run}"), application_ref=reference,
            purpose="性能基准", procedures=[procedure_id], resources=[resource_id], fields=list(resource.fields),
            expires_at=now + timedelta(days=30), now=now)
        staff = actor_for_user(session, f"bench-{consumer}-staff")
    return {"actor": staff, "consumer": consumer, "subject": subject, "resource": resource_id,
            "fields": list(resource.fields), "purpose": procedure_id, "application_ref": reference,
            "consent_id": consent.id}


def run_fetch(*, fetches: int, database: str | None = None, warmup: int = 20) -> dict[str, Any]:
    """``fetches`` checked fetches one after another; their rate and latency."""
    import uuid

    from onething.catalog.service import active_catalog
    from onething.exchange.fetch import checked_fetch
    from onething.exchange.providers import Providers

    if not 1 <= fetches <= MAX_FETCHES:
        raise ValueError(f"fetches must be 1–{MAX_FETCHES}")
    with prepared_database(database) as (url, engine):
        _, catalog = active_catalog(engine)
        call = _set_up(engine, catalog, uuid.uuid4().hex[:8])
        actor = call.pop("actor")
        call["providers"] = Providers(demo=True)  # the bench measures the checks over the built-in registries
        for _ in range(warmup):
            result = checked_fetch(engine, catalog, actor, now=utcnow(), **call)
            if not result.found:
                raise RuntimeError("the bench record was not found: the set-up is wrong")
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(fetches):
            begun = time.perf_counter()
            checked_fetch(engine, catalog, actor, now=utcnow(), **call)
            latencies.append(time.perf_counter() - begun)
        elapsed = time.perf_counter() - started
    return {
        "bench": "fetch", "backend": backend_of(url), "database": safe_url(url), "fetches": fetches,
        "resource": call["resource"], "purpose": call["purpose"], "consumer": call["consumer"],
        "checks": ["fields", "actor", "sharing", "purpose", "grant", "consent", "provider", "audit"],
        "seconds": round(elapsed, 3), "fetches_per_s": round(fetches / elapsed, 1) if elapsed else 0.0,
        "latency": latency_summary(latencies), "machine": machine(),
    }
