"""Races the case runtime must win on SQLite and PostgreSQL: one submission raced by its own retries, the last
two approvals of an application landing together, and many writers appending to one audit chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from onething import db
from onething.accounts.api import Actor, actor_for_user, create_user
from onething.audit import service as audit
from onething.audit.tables import AuditEntry
from onething.cases import api as cases
from onething.cases.tables import ApplicationRow
from onething.catalog.model import Catalog
from onething.intake import plan as make_plan

THING = "open-restaurant"
USCC = "91110105MA01ABCD00"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SAMPLE = {"text": "示例", "address": "北京市东城区示例路1号", "int": 80, "money": "50.00", "date": "2026-01-05",
          "bool": True, "id_number": "110101199003070011", "uscc": USCC, "phone": "13800138000"}
R = TypeVar("R")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def actors(engine: Engine) -> dict[str, Actor]:
    with db.session_scope(engine) as session:
        create_user(session, name="acme", role="applicant", uscc=USCC, now=NOW)
        for department in ("samr", "fire", "urban"):
            create_user(session, name=f"{department}-staff", role="staff", department=department, now=NOW)
    with db.session_scope(engine) as session:
        return {name: actor_for_user(session, name) for name in ("acme", "samr-staff", "fire-staff", "urban-staff")}


def body(catalog: Catalog) -> dict[str, Any]:
    fields = make_plan(catalog, THING, {}).form.fields
    return {"thing": THING, "answers": {},
            "form": {f.id: (f.choices[0].value if f.type == "choice" else SAMPLE[f.type]) for f in fields}}


def race(calls: list[Callable[[], R]]) -> list[R | BaseException]:
    """Run the calls at once on threads; each one's result or exception."""
    def run(call: Callable[[], R]) -> R | BaseException:
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def submit(engine: Engine, actor: Actor, catalog: Catalog, key: str) -> cases.Submitted:
    b = body(catalog)
    return cases.submit_application(engine, actor, catalog=catalog, catalog_version="test", thing=b["thing"],
                                    answers=b["answers"], form=b["form"], idempotency_key=key, now=NOW)


def test_retries_racing_one_key_make_one_application(engine: Engine, actors: dict[str, Actor],
                                                     catalog: Catalog) -> None:
    outcomes = race([lambda: submit(engine, actors["acme"], catalog, "same-key") for _ in range(8)])
    assert all(isinstance(o, cases.Submitted) for o in outcomes), outcomes
    ids = {o.application["id"] for o in outcomes if isinstance(o, cases.Submitted)}
    assert len(ids) == 1
    assert sum(1 for o in outcomes if isinstance(o, cases.Submitted) and o.created) == 1
    with db.session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ApplicationRow)) == 1


USCC_PRODUCED = "91110105MA01ABCD00"  # fictional, checksum-valid


def test_last_two_approvals_together_complete_once(engine: Engine, actors: dict[str, Actor],
                                                   catalog: Catalog) -> None:
    app = submit(engine, actors["acme"], catalog, "k").application

    def decide(task: dict[str, Any], kind: str) -> dict[str, Any]:
        actor = actors[f"{task['department']}-staff"]
        # The 营业执照 produces the USCC: its department enters it on approval, with the 文号 every approval needs.
        produced = {"enterprise_uscc": USCC_PRODUCED} if (
            kind == "approve" and task["procedure"] == "business-registration") else {}
        result = {"number": f"T-{task['procedure']}"} if kind == "approve" else None
        return cases.decide_task(engine, actor, task["id"],
                                 cases.Decision(cases.DecisionKind(kind), result=result, produced=produced),
                                 expected_version=task["version"], catalog=catalog, now=NOW)

    def tasks() -> list[dict[str, Any]]:
        return list(cases.get_application(engine, actors["acme"], app["id"])["tasks"])

    licence = next(t for t in tasks() if t["procedure"] == "business-registration")
    decide(decide(licence, "accept"), "approve")
    accepted = [decide(t, "accept") for t in tasks() if t["status"] == "ready"]
    assert len(accepted) >= 2
    outcomes = race([lambda t=t: decide(t, "approve") for t in accepted])
    assert all(isinstance(o, dict) and o["status"] == "approved" for o in outcomes), outcomes
    final = cases.get_application(engine, actors["acme"], app["id"])
    assert final["status"] == "completed"
    with db.session_scope(engine) as session:
        completed = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.application_id == app["id"], AuditEntry.action == "application.completed"))
        assert completed == 1
        assert audit.verify(session)[1] is None


def test_one_task_decided_twice_at_once_only_once(engine: Engine, actors: dict[str, Actor],
                                                  catalog: Catalog) -> None:
    app = submit(engine, actors["acme"], catalog, "k").application
    licence = next(t for t in app["tasks"] if t["procedure"] == "business-registration")
    staff = actors["samr-staff"]
    outcomes = race([
        lambda: cases.decide_task(engine, staff, licence["id"], cases.Decision(cases.DecisionKind.accept),
                                  expected_version=licence["version"], catalog=catalog, now=NOW)
        for _ in range(4)])
    assert sum(1 for o in outcomes if isinstance(o, dict)) == 1
    assert all(isinstance(o, cases.PreconditionFailed) for o in outcomes if not isinstance(o, dict)), outcomes


def test_many_writers_keep_one_audit_chain(engine: Engine, actors: dict[str, Actor], catalog: Catalog) -> None:
    outcomes = race([lambda i=i: submit(engine, actors["acme"], catalog, f"key-{i}") for i in range(12)])
    assert all(isinstance(o, cases.Submitted) for o in outcomes), outcomes
    with db.session_scope(engine) as session:
        count, bad = audit.verify(session)
        assert bad is None
        assert count == session.scalar(select(func.count()).select_from(AuditEntry))
        hashes = session.execute(select(AuditEntry.prev_hash)).scalars().all()
        assert len(hashes) == len(set(hashes))   # no two entries chained onto the same predecessor
