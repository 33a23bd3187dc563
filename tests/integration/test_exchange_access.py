"""The access matrix, generated: every role × department × sharing class × personal × consent state.

The expectation is written once, as the rule reads in the 条例 and the issue, independently of the service's
code: a department's own staff (or the applicant, about themselves) may fetch shared data for a procedure of
that department when the department holds it, or it is unconditional, or an approved grant covers it — and
personal data only under a valid consent. Everything else is refused, and every attempt is on the chain.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from onething import db
from onething.accounts.model import Role
from onething.audit.checkpoints import verify_chain
from onething.audit.tables import AuditEntry
from onething.catalog.model import Sharing
from onething.db import session_scope
from onething.exchange import service
from onething.exchange.errors import FetchRefused, InvalidRequest, NotShared
from onething.exchange.model import Consent

from .exchange_support import (
    DEPARTMENTS,
    FIELDS,
    GRANTED,
    HOLDER,
    NOW,
    SHARINGS,
    SUBJECT,
    actor_of,
    file_subject_records,
    make_users,
    procedure_id,
    resource_id,
    small_catalog,
)

# The exchange's holders are the demo registries here (holders without a service of their own).
pytestmark = pytest.mark.usefixtures("demo_mode")

CONSENT_STATES = ("none", "granted", "revoked", "expired")
FETCH_AT = NOW + timedelta(hours=3)


def allowed(role: Role, department: str, sharing: Sharing, personal: bool, consent: str) -> bool:
    if role not in (Role.applicant, Role.staff, Role.dept_admin):
        return False
    if sharing is Sharing.none:
        return False
    has_right = department in (HOLDER, GRANTED) or sharing is Sharing.unconditional
    return has_right and (not personal or consent == "granted")


def _consents(engine, catalog, actors) -> dict[str, Consent | None]:
    everything = dict(resources=sorted(r for r, v in catalog.resources.items() if v.sharing is not Sharing.none),
                      fields=list(FIELDS),
                      procedures=[procedure_id(d) for d in DEPARTMENTS])
    consents: dict[str, Consent | None] = {"none": None}
    with session_scope(engine) as session:
        subject = actors["subject"]
        consents["granted"] = service.grant_consent(session, catalog, subject, application_ref="app-granted",
                                                    purpose="办理示例", expires_at=NOW + timedelta(days=30),
                                                    now=NOW, **everything)
        revoked = service.grant_consent(session, catalog, subject, application_ref="app-revoked", purpose="办理示例",
                                        expires_at=NOW + timedelta(days=30), now=NOW, **everything)
        consents["revoked"] = service.revoke_consent(session, subject, revoked.id, NOW + timedelta(hours=1))
        consents["expired"] = service.grant_consent(session, catalog, subject, application_ref="app-expired",
                                                    purpose="办理示例", expires_at=NOW + timedelta(hours=2),
                                                    now=NOW, **everything)
    return consents


def _grants(engine, catalog, actors) -> None:
    """The granted consumer gets every conditional resource; the other consumer gets nothing."""
    with session_scope(engine) as session:
        for personal in (True, False):
            grant = service.apply_for_grant(
                session, catalog, actors[f"{GRANTED}-admin"], resource=resource_id(Sharing.conditional, personal),
                purpose="办理示例事项", procedures=[procedure_id(GRANTED)], legal_basis="《示例法》",
                fields=list(FIELDS),
                expires_at=NOW + timedelta(days=365), now=NOW, decision_days=10)
            service.decide_grant(session, actors[f"{HOLDER}-admin"], grant.id, approve=True, reason=None, now=NOW)


def test_access_matrix(database_url: str) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    _grants(engine, catalog, actors)
    consents = _consents(engine, catalog, actors)
    with session_scope(engine) as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))

    cells = list(itertools.product(list(Role), DEPARTMENTS, SHARINGS, (True, False), CONSENT_STATES))
    wrong = []
    served = refused = 0
    for role, department, sharing, personal, state in cells:
        consent = consents[state]
        try:
            result = service.checked_fetch(
                engine, catalog, actor_of(actors, role, department), consumer=department, subject=SUBJECT,
                resource=resource_id(sharing, personal), fields=list(FIELDS), purpose=procedure_id(department),
                application_ref=consent.application_ref if consent else "app-none",
                consent_id=consent.id if consent else None, now=FETCH_AT)
        except FetchRefused as refusal:
            refused += 1
            if allowed(role, department, sharing, personal, state):
                wrong.append((role.value, department, sharing.value, personal, state, f"refused: {refusal.reason}"))
            continue
        served += 1
        assert result.values == {"person_name": "张三", "person_id": SUBJECT}
        if not allowed(role, department, sharing, personal, state):
            wrong.append((role.value, department, sharing.value, personal, state, "served"))
    assert wrong == [], f"{len(wrong)} of {len(cells)} cells disagree with the rule: {wrong[:20]}"
    assert served == sum(1 for cell in cells if allowed(*cell)) > 0
    with session_scope(engine) as session:
        entries = session.execute(select(AuditEntry.action).where(AuditEntry.id > 0)).scalars().all()
        after = session.scalar(select(func.count()).select_from(AuditEntry))
        assert after - before == len(cells), "every attempt, served or refused, is one audit entry"
        assert entries.count("exchange.fetch.served") == served
        assert entries.count("exchange.fetch.refused") == refused
        assert verify_chain(session).intact
    engine.dispose()


def test_not_shared_and_unconditional_cannot_be_applied_for(database_url: str) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    with session_scope(engine) as session, pytest.raises(NotShared):
        service.apply_for_grant(session, catalog, actors[f"{GRANTED}-admin"], resource=resource_id(Sharing.none, True),
                                purpose="x", procedures=[procedure_id(GRANTED)], legal_basis="y", fields=list(FIELDS),
                                expires_at=NOW + timedelta(days=1), now=NOW, decision_days=10)
    with session_scope(engine) as session, pytest.raises(InvalidRequest) as info:
        service.apply_for_grant(session, catalog, actors[f"{GRANTED}-admin"],
                                resource=resource_id(Sharing.unconditional, True), purpose="x",
                                procedures=[procedure_id(GRANTED)], legal_basis="y", fields=list(FIELDS),
                                expires_at=NOW + timedelta(days=1), now=NOW, decision_days=10)
    assert info.value.errors[0][0] == "resource"
    engine.dispose()
