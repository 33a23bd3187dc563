"""The demo cases step on SQLite and PostgreSQL: one application completed and rated, one waiting for the
applicant's supplement; a second run creates nothing."""

from __future__ import annotations

from unittest import mock

from sqlalchemy import func, select

from onething import db
from onething.accounts.demo import create_demo_users
from onething.cases import demo
from onething.cases.tables import ApplicationRow, RatingRow
from tests.live import published_engine


def test_demo_cases(database_url: str) -> None:
    engine = published_engine(database_url)
    try:
        create_demo_users(engine)
        # A fixed clock inside the years the calendar knows.
        with mock.patch.object(demo, "datetime", wraps=demo.datetime) as clock:
            clock.now.return_value = demo.datetime(2026, 3, 2, 1, 0, tzinfo=demo.UTC)
            lines = demo.load_cases_demo(engine)
            assert [line.rsplit(" ", 1)[-1] for line in lines] == ["completed", "supplement_required"]
            again = demo.load_cases_demo(engine)
        assert all("already there" in line for line in again)
        with db.session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(ApplicationRow)) == 2
            assert session.scalar(select(func.count()).select_from(RatingRow)) == 1
    finally:
        engine.dispose()
