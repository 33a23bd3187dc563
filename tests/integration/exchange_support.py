"""Builders for the exchange tests: a small catalog with one resource per sharing class × personal, users of
every role, and data filed in the demo registries — all through the services, never by inserting rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from onething.accounts.model import Actor, Role
from onething.accounts.service import actor_for_user, create_user
from onething.catalog.model import (
    Catalog,
    Department,
    FieldDef,
    FieldType,
    Material,
    MaterialUse,
    Procedure,
    Resource,
    Sharing,
    Thing,
)
from onething.db import session_scope
from onething.exchange.providers import file_record

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Beijing
HOLDER, GRANTED, OTHER = "hold", "cons", "other"
DEPARTMENTS = (HOLDER, GRANTED, OTHER)
SUBJECT = "110101199003070011"       # fictional, checksum-valid
STRANGER = "110101198511120025"      # fictional, checksum-valid
FIELDS = ("person_name", "person_id")
SHARINGS = (Sharing.unconditional, Sharing.conditional, Sharing.none)


def resource_id(sharing: Sharing, personal: bool) -> str:
    return f"r-{sharing.value}-{'p' if personal else 'np'}"


def procedure_id(department: str) -> str:
    return f"p-{department}"


def small_catalog() -> Catalog:
    """Three departments, six resources (each sharing class, personal or not) held by ``hold``, and one procedure
    per department that declares a material proven by each resource (so unconditional data is implicit)."""
    resources = {}
    materials = {}
    for sharing in SHARINGS:
        for personal in (True, False):
            rid = resource_id(sharing, personal)
            resources[rid] = Resource(
                id=rid, name=f"资源 {rid}", holder=HOLDER, sharing=sharing, personal=personal, fields=FIELDS,
                conditions="仅用于本人申请的事项" if sharing is Sharing.conditional else None,
                legal_basis="《示例法》第一条" if sharing is Sharing.none else None)
            materials[f"m-{rid}"] = Material(id=f"m-{rid}", name=f"材料 {rid}", proven_by=(rid,))
    procedures = {
        procedure_id(d): Procedure(id=procedure_id(d), name=f"事项 {d}", department=d, promised_days=5,
                                   materials=tuple(MaterialUse(id=m) for m in materials))
        for d in DEPARTMENTS}
    thing = Thing(code="t-small", name="示例一件事", audience="individual", stage="示例", lead=GRANTED,
                  procedures=({"id": procedure_id(GRANTED)},))
    return Catalog(
        departments={d: Department(id=d, name=f"部门 {d}") for d in DEPARTMENTS},
        fields={f: FieldDef(id=f, label=f, type=FieldType.text) for f in FIELDS},
        materials=materials, resources=resources, procedures=procedures, things={thing.code: thing})


def make_users(engine: Engine) -> dict[str, Actor]:
    """One user per role (and per department for department roles); the applicant is the data subject."""
    specs: list[dict[str, str | None]] = [
        {"name": "subject", "role": "applicant", "id_number": SUBJECT},
        {"name": "stranger", "role": "applicant", "id_number": STRANGER},
        {"name": "operator", "role": "operator"}, {"name": "auditor", "role": "auditor"}]
    for department in DEPARTMENTS:
        specs.append({"name": f"{department}-staff", "role": "staff", "department": department})
        specs.append({"name": f"{department}-admin", "role": "dept_admin", "department": department})
    actors = {}
    with session_scope(engine) as session:
        for spec in specs:
            create_user(session, name=str(spec["name"]), role=str(spec["role"]), department=spec.get("department"),
                        id_number=spec.get("id_number"), now=NOW)
        for spec in specs:
            actors[str(spec["name"])] = actor_for_user(session, str(spec["name"]))
    return actors


NAMES = {SUBJECT: "张三", STRANGER: "李四"}


def file_subject_records(engine: Engine, catalog: Catalog, subject: str = SUBJECT) -> None:
    with session_scope(engine) as session:
        for resource in catalog.resources.values():
            file_record(session, resource, subject, {"person_name": NAMES.get(subject, "张三"), "person_id": subject},
                        NOW)


def actor_of(actors: dict[str, Actor], role: Role, department: str) -> Actor:
    if role in (Role.staff, Role.dept_admin):
        return actors[f"{department}-{'staff' if role is Role.staff else 'admin'}"]
    return actors[{Role.applicant: "subject", Role.operator: "operator", Role.auditor: "auditor"}[role]]
