"""Exchange pure parts: the grant state table walked pair by pair, consent states, demo identifiers, and the
consent proposal for the shipped demo things."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from onething.accounts.identifiers import check_resident_id, check_uscc
from onething.catalog.model import Catalog
from onething.exchange import demo
from onething.exchange.consents import propose_consent
from onething.exchange.errors import InvalidTransition
from onething.exchange.grants import _transition
from onething.exchange.model import GRANT_TRANSITIONS, Consent, ConsentState, GrantStatus
from onething.exchange.tables import GrantRow
from onething.intake import plan

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ALLOWED = {("pending", "approved"), ("pending", "refused"), ("approved", "revoked")}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(list(GrantStatus), repeat=2)))
def test_grant_transitions(current: GrantStatus, target: GrantStatus) -> None:
    row = GrantRow(id=1, status=current.value)
    assert (target in GRANT_TRANSITIONS[current]) == ((current.value, target.value) in ALLOWED)
    if (current.value, target.value) in ALLOWED:
        _transition(row, target)
        assert row.status == target.value
    else:
        with pytest.raises(InvalidTransition):
            _transition(row, target)
        assert row.status == current.value


def test_consent_states() -> None:
    consent = Consent(id="c", subject_user_id=1, application_ref="a", purpose="p", procedures=("x",),
                      resources=("r",), fields=("f",), granted_at=NOW, expires_at=NOW + timedelta(days=1))
    assert consent.state(NOW) is ConsentState.active
    assert consent.state(NOW + timedelta(days=1)) is ConsentState.expired
    revoked = Consent(**{**consent.__dict__, "revoked_at": NOW})
    assert revoked.state(NOW) is ConsentState.revoked


def test_demo_identifiers_are_valid_and_fit_the_catalog(catalog: Catalog) -> None:
    for key in (demo.ZHANGSAN, demo.FATHER, demo.MOTHER, demo.LISI, demo.WANGWU):
        assert check_resident_id(key) == key
    assert check_uscc(demo.RESTAURANT) == demo.RESTAURANT
    for resource, key, _, values in demo.RECORDS:
        assert set(values) <= set(catalog.resources[resource].fields), resource
        assert len(key) == 18


@pytest.mark.parametrize(("code", "expected"), [
    ("after-death", {"medical_death_certificate", "household_registration", "kinship_relation"}),
    ("newborn", {"birth_medical_certificate", "marriage_registration", "household_registration"}),
])
def test_consent_proposal_names_what_the_plan_uses(catalog: Catalog, code: str, expected: set[str]) -> None:
    proposal = propose_consent(catalog, plan(catalog, code, {}))
    assert expected <= set(proposal.resources)
    assert all(catalog.resources[r].personal for r in proposal.resources)
    assert "student_status_records" not in proposal.resources  # held by no department taking part
    for item in proposal.items:
        assert item.holder_name and item.fields and item.procedures
        assert set(item.fields) <= set(catalog.resources[item.resource].fields)
