"""The access matrix, generated: every role × department × sharing class × personal × data subject × consent
(none, or the subject's own or another person's, granted, revoked or expired).

The expectation is written once, as the rule reads in the 条例 and the issue, independently of the service's
code: a department's own staff (or the applicant, about themselves) may fetch shared data for a procedure of
that department when the department holds it, or it is unconditional, or an approved grant covers it — and
personal data only under a valid consent. A consent serves only the person who gave it: presented for anyone
else's data, the fetch is refused. Everything else is refused, and every attempt is on the chain — on the
record of the person the data are about, whoever's consent was presented.
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
    NAMES,
    NOW,
    SHARINGS,
    STRANGER,
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

PEOPLE = {"subject": SUBJECT, "stranger": STRANGER}  # user name → resident ID; the applicant actor is "subject"
STATES = ("granted", "revoked", "expired")
CONSENTS = (None, *itertools.product(PEOPLE, STATES))  # None, or (whose consent, its state)
FETCH_AT = NOW + timedelta(hours=3)


def allowed(role: Role, department: str, sharing: Sharing, personal: bool, person: str,
            consent: tuple[str, str] | None) -> bool:
    """The rule, written independently of the service: may ``role`` of ``department`` fetch ``person``'s data?"""
    if role not in (Role.applicant, Role.staff, Role.dept_admin):
        return False
    if role is Role.applicant and person != "subject":
        return False  # the applicant actor is "subject": only about themselves
    if consent is not None and consent[0] != person:
        return False  # a consent serves only the person who gave it
    if sharing is Sharing.none:
        return False
    has_right = department in (HOLDER, GRANTED) or sharing is Sharing.unconditional
    return has_right and (not personal or (consent is not None and consent[1] == "granted"))


def _consents(engine, catalog, actors) -> dict[tuple[str, str], Consent]:
    everything = dict(resources=sorted(r for r, v in catalog.resources.items() if v.sharing is not Sharing.none),
                      fields=list(FIELDS),
                      procedures=[procedure_id(d) for d in DEPARTMENTS])
    consents: dict[tuple[str, str], Consent] = {}
    with session_scope(engine) as session:
        for person in PEOPLE:
            for state in STATES:
                consents[person, state] = service.grant_consent(
                    session, catalog, actors[person], application_ref=f"app-{person}-{state}", purpose="办理示例",
                    expires_at=NOW + timedelta(hours=2 if state == "expired" else 24 * 30), now=NOW, **everything)
            consents[person, "revoked"] = service.revoke_consent(session, actors[person],
                                                                 consents[person, "revoked"].id,
                                                                 NOW + timedelta(hours=1))
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


@pytest.mark.parametrize("person", list(PEOPLE))
def test_access_matrix(database_url: str, person: str) -> None:
    """Every cell for one data subject: served or refused as the rule says, and on that person's record."""
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    for identity in PEOPLE.values():
        file_subject_records(engine, catalog, identity)
    _grants(engine, catalog, actors)
    consents = _consents(engine, catalog, actors)
    subject = PEOPLE[person]
    owner = f"user:{actors[person].user_id}"
    with session_scope(engine) as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))
        last_id = session.scalar(select(func.max(AuditEntry.id))) or 0

    cells = list(itertools.product(list(Role), DEPARTMENTS, SHARINGS, (True, False), CONSENTS))
    wrong = []
    outcomes: list[tuple[tuple[object, ...], str, bool]] = []
    served = refused = 0
    for role, department, sharing, personal, which in cells:
        consent = consents[which] if which is not None else None
        expected = allowed(role, department, sharing, personal, person, which)
        cell = (role.value, department, sharing.value, personal, which)
        mismatch = which is not None and which[0] != person
        may_fetch_for_person = role in (Role.staff, Role.dept_admin) or (role is Role.applicant and person == "subject")
        try:
            result = service.checked_fetch(
                engine, catalog, actor_of(actors, role, department), consumer=department, subject=subject,
                resource=resource_id(sharing, personal), fields=list(FIELDS), purpose=procedure_id(department),
                application_ref=consent.application_ref if consent else "app-none",
                consent_id=consent.id if consent else None, now=FETCH_AT)
        except FetchRefused as refusal:
            refused += 1
            outcome = "refused"
            if expected:
                wrong.append((*cell, f"refused: {refusal.reason}"))
            elif mismatch and may_fetch_for_person and refusal.reason != "consent_subject":
                wrong.append((*cell, f"another's consent refused as {refusal.reason}, not consent_subject"))
        else:
            served += 1
            outcome = "served"
            assert result.values == {"person_name": NAMES[subject], "person_id": subject}, cell
            if not expected:
                wrong.append((*cell, "served"))
        outcomes.append((cell, outcome, mismatch))
    with session_scope(engine) as session:  # each attempt's entry, in order: on the person's record
        recorded = session.execute(select(AuditEntry).where(AuditEntry.id > last_id)
                                   .order_by(AuditEntry.id)).scalars().all()
        assert len(recorded) == len(cells), "every attempt, served or refused, is one audit entry"
        for (cell, outcome, mismatch), entry in zip(outcomes, recorded, strict=True):
            if (entry.action, entry.subject_id) != (f"exchange.fetch.{outcome}", owner):
                wrong.append((*cell, f"recorded as {entry.action} on {entry.subject_id}, not on {owner}"))
            if mismatch and entry.data["consent_id"] is not None:
                wrong.append((*cell, "another's consent shown as the subject's own"))
    assert wrong == [], f"{len(wrong)} of {len(cells)} cells disagree with the rule: {wrong[:20]}"
    assert served == sum(1 for cell in cells if allowed(*cell[:4], person, cell[4])) > 0
    assert refused == len(cells) - served
    with session_scope(engine) as session:
        entries = session.execute(select(AuditEntry.action).where(AuditEntry.id > 0)).scalars().all()
        after = session.scalar(select(func.count()).select_from(AuditEntry))
        assert after - before == len(cells), "every attempt, served or refused, is one audit entry"
        assert entries.count("exchange.fetch.served") == served
        assert entries.count("exchange.fetch.refused") == refused
        assert verify_chain(session).intact
        # The person's own data-use page lists every attempt on their data, the other person's lists none.
        other = next(name for name in PEOPLE if name != person)
        assert len(service.data_uses(session, actors[person], limit=1000)) == len(cells)
        assert service.data_uses(session, actors[other], limit=1000) == []
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
