"""Permissions as data: walk every role × permission × department cell of the table."""

from __future__ import annotations

import itertools

import pytest

from onething.accounts.errors import Forbidden
from onething.accounts.model import Actor, Role
from onething.accounts.permissions import GRANTS, PERMISSIONS, Reach, authorize, can, permissions_of

OWN_DEPARTMENT = "samr"
DEPARTMENTS = [None, OWN_DEPARTMENT, "fire"]


def actor_for(role: Role) -> Actor:
    department = OWN_DEPARTMENT if role in (Role.staff, Role.dept_admin) else None
    return Actor(user_id=1, name=f"t-{role.value}", role=role, department=department)


# The table as the docs state it, written out here independently of GRANTS: a grant added, dropped or widened
# in the code fails a cell below. Roles absent from a row hold no grant of that permission.
APP, STAFF, ADMIN, OPS, AUD = Role.applicant, Role.staff, Role.dept_admin, Role.operator, Role.auditor
EXPECTED: dict[str, dict[Role, Reach]] = {
    "application:submit": {APP: Reach.own},
    "application:read_own": {APP: Reach.own},
    "application:rate": {APP: Reach.own},
    "application:supplement": {APP: Reach.own},
    "application:withdraw": {APP: Reach.own},
    "application:upload": {APP: Reach.own},
    "application:read": {OPS: Reach.all},
    "task:read": {STAFF: Reach.department, ADMIN: Reach.department, OPS: Reach.all},
    "task:decide": {STAFF: Reach.department, ADMIN: Reach.department},
    "rectification:answer": {STAFF: Reach.department, ADMIN: Reach.department},
    "correction:answer": {STAFF: Reach.department, ADMIN: Reach.department},
    "certificate:revoke": {STAFF: Reach.department, ADMIN: Reach.department},
    "grant:decide": {ADMIN: Reach.department},
    "delegation:grant": {APP: Reach.own},
    "delegation:review": {STAFF: Reach.department, ADMIN: Reach.department},
    "department:configure": {ADMIN: Reach.department, OPS: Reach.all},
    "user:manage": {OPS: Reach.all},
    "catalog:publish": {OPS: Reach.all},
    "audit:read": {AUD: Reach.all},
    "report:read": {ADMIN: Reach.department, OPS: Reach.all, AUD: Reach.all},
}


def expected(role: Role, permission: str, department: str | None) -> bool:
    granted = EXPECTED[permission].get(role)
    if granted is None:
        return False
    if granted is Reach.department:
        return department == OWN_DEPARTMENT
    return True


def test_expected_table_names_every_permission() -> None:
    assert set(EXPECTED) == set(PERMISSIONS)
    assert {(permission, role): reach for permission, row in EXPECTED.items() for role, reach in row.items()} == {
        (permission, role): reach for role, grants in GRANTS.items() for permission, reach in grants.items()}


@pytest.mark.parametrize(("role", "permission", "department"),
                         list(itertools.product(list(Role), sorted(EXPECTED), DEPARTMENTS)))
def test_every_cell(role: Role, permission: str, department: str | None) -> None:
    actor = actor_for(role)
    if expected(role, permission, department):
        authorize(actor, permission, department)
        assert can(actor, permission, department)
    else:
        with pytest.raises(Forbidden) as info:
            authorize(actor, permission, department)
        assert info.value.permission == permission
        assert not can(actor, permission, department)


def test_table_is_well_formed() -> None:
    assert set(GRANTS) == set(Role)
    for role, grants in GRANTS.items():
        assert set(grants) <= set(PERMISSIONS), role
        if role not in (Role.staff, Role.dept_admin):
            assert Reach.department not in grants.values(), role
        if role is not Role.applicant:
            assert Reach.own not in grants.values(), role


def test_expected_headline_rules() -> None:
    assert permissions_of(Role.applicant).keys() >= {"application:submit", "application:read_own"}
    assert "task:decide" in permissions_of(Role.staff)
    assert "catalog:publish" in permissions_of(Role.operator)
    assert set(permissions_of(Role.auditor)) == {"audit:read", "report:read"}
    assert "grant:decide" in permissions_of(Role.dept_admin)


def test_department_role_without_department_is_refused() -> None:
    homeless = Actor(user_id=2, name="x", role=Role.staff, department=None)
    for department in DEPARTMENTS:
        with pytest.raises(Forbidden):
            authorize(homeless, "task:read", department)


def test_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        authorize(actor_for(Role.operator), "task:decid")


def test_actor_repr_hides_identifiers() -> None:
    actor = Actor(user_id=3, name="a", role=Role.applicant, id_number="110101199003070011")
    assert "110101199003070011" not in repr(actor)
