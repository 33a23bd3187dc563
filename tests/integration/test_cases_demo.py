"""The demo cases step on SQLite and PostgreSQL: one application completed and rated, one waiting for the
applicant's supplement; a second run creates nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from onething import db
from onething.accounts.demo import create_demo_users
from onething.cases import demo
from onething.cases.tables import ApplicationRow, RatingRow
from tests.live import published_engine

MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_demo_cases(database_url: str) -> None:
    engine = published_engine(database_url)
    try:
        create_demo_users(engine)
        # An injected clock inside the years the calendar knows.
        lines = demo.load_cases_demo(engine, now=MONDAY)
        assert [line.rsplit(" ", 1)[-1] for line in lines] == ["completed", "supplement_required"]
        again = demo.load_cases_demo(engine, now=MONDAY)
        assert all("already there" in line for line in again)
        with db.session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(ApplicationRow)) == 2
            filed = session.scalars(select(ApplicationRow.submitted_at)).all()
            assert all(at == MONDAY for at in filed)  # the injected moment, not the system clock
            assert session.scalar(select(func.count()).select_from(RatingRow)) == 1
    finally:
        engine.dispose()


def test_demo_certificate_reuse(database_url: str, demo_mode: None) -> None:
    """李四's newborn is registered (the departments enter the child's numbers, certificates are issued), then
    her 入学 application exempts the 预防接种证 with her own certificate; a second run creates nothing."""
    from onething.cases.queries import get_application
    from onething.exchange.demo import load_exchange_demo

    engine = published_engine(database_url)
    try:
        create_demo_users(engine)
        load_exchange_demo(engine)
        lines = demo.load_certificate_reuse_demo(engine, now=MONDAY)
        assert lines[0].endswith(" completed"), lines
        assert lines[1].endswith("exempt by her certificates: vaccination_certificate"), lines
        again = demo.load_certificate_reuse_demo(engine, now=MONDAY)
        assert "already there" in again[0]
        with db.session_scope(engine) as session:
            rows = session.scalars(select(ApplicationRow).order_by(ApplicationRow.submitted_at)).all()
            assert [r.thing for r in rows] == ["newborn", "school-enrollment"]
            newborn_id = rows[0].id
            assert rows[0].form["child_id_number"] == "11010120261110016X"
        from onething.accounts.api import actor_for_user

        with db.session_scope(engine) as session:
            lisi = actor_for_user(session, "lisi")
        assert get_application(engine, lisi, newborn_id)["status"] == "completed"
    finally:
        engine.dispose()
