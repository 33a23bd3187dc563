"""办件编号: issued without a shared counter row, unique, 19 digits; existing applications numbered by the
migration that introduced them — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from onething import db
from onething.cases.numbers import format_number, looks_like_number, next_number
from tests.integration.test_cases_api import USCC_ACME


def test_format_is_region_china_date_and_sequence() -> None:
    late_evening_utc = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 March in Beijing
    assert format_number("370200", late_evening_utc, 42) == "3702002603020000042"
    assert format_number(None, late_evening_utc, 10**7 + 5) == "0000002603020000005"  # the sequence wraps
    with pytest.raises(ValueError, match="6 位数字"):
        format_number("qingdao", late_evening_utc, 1)
    assert looks_like_number("370200-260302-0000042") and not looks_like_number("37020026030200000")


def test_numbers_are_distinct_within_and_across_transactions(database_url: str) -> None:
    engine = db.make_engine(database_url)
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    with db.session_scope(engine) as session:
        first = [next_number(session, "510000", now) for _ in range(3)]
    with db.session_scope(engine) as session:
        second = next_number(session, "510000", now)
    assert len(set([*first, second])) == 4
    assert all(n.startswith("510000260302") and len(n) == 19 for n in [*first, second])
    engine.dispose()


def test_migration_numbers_existing_applications(database_url: str) -> None:
    engine = db.make_engine(database_url)
    command.downgrade(db.alembic_config(engine), "0011")  # as an install from before 办件编号 would be
    received = [datetime(2026, 3, 2, 1, 0, tzinfo=UTC), datetime(2026, 3, 1, 17, 0, tzinfo=UTC)]
    with engine.begin() as conn:  # the users table as it was at 0011 (later migrations add columns)
        conn.execute(sa.text(
            "INSERT INTO users (name, display_name, role, uscc, active, created_at, failed_sign_ins, "
            "must_change_password) VALUES ('old', 'old', 'applicant', :uscc, :yes, :at, 0, :no)"),
            {"uscc": USCC_ACME, "yes": True, "no": False, "at": received[0]})
        user_id = conn.execute(sa.text("SELECT id FROM users WHERE name = 'old'")).scalar_one()
        for index, at in enumerate(received):
            conn.execute(sa.text(
                "INSERT INTO applications (id, thing, catalog_version, applicant_id, answers, form, plan, status, "
                "idempotency_key, request_hash, submitted_at, promised_due, version) VALUES (:id, 'newborn', "
                "'v1', :user, '{}', '{}', '{}', 'submitted', :key, 'h', :at, '2026-03-10', 1)"),
                {"id": f"00000000-0000-0000-0000-00000000000{index}", "user": user_id, "key": f"k{index}", "at": at})
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, number FROM applications")).all())
    # Numbered in the order received (the second was received first), dated in China's time.
    assert rows["00000000-0000-0000-0000-000000000001"] == "0000002603020000001"
    assert rows["00000000-0000-0000-0000-000000000000"] == "0000002603020000002"
    with db.session_scope(engine) as session:
        assert next_number(session, None, received[0]).endswith("0000003")
    engine.dispose()
