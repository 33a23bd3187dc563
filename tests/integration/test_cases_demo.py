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
