"""Webhook signatures and the retry schedule: pure functions, no database, no network."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from onething.delivery.service import backoff
from onething.delivery.settings import DeliverySettings
from onething.delivery.signing import sign, timestamp_of, verify_signature

SECRET = "s3cret-for-tests-only-0123456789"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
BODY = b'{"event_id":"e1","kind":"task.ready","department":"samr"}'


def test_good_signature_verifies() -> None:
    ts = timestamp_of(NOW)
    signature = sign(SECRET, ts, BODY)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify_signature(SECRET, ts, BODY, signature, NOW)
    assert verify_signature(SECRET, ts, BODY, signature, NOW + timedelta(minutes=4, seconds=59))


def test_known_vector() -> None:
    # Receivers in other languages can check their implementation against this value (also in the docs).
    assert sign("secret", "1700000000", b'{"a":1}') == (
        "sha256=" + hmac.new(b"secret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest())


def test_tampered_body_timestamp_or_secret_fails() -> None:
    ts = timestamp_of(NOW)
    signature = sign(SECRET, ts, BODY)
    assert not verify_signature(SECRET, ts, BODY.replace(b"samr", b"tax"), signature, NOW)
    later = str(int(ts) + 1)
    assert not verify_signature(SECRET, later, BODY, signature, NOW)
    assert not verify_signature("another-secret-0123456789", ts, BODY, signature, NOW)
    assert not verify_signature(SECRET, ts, BODY, signature.replace("sha256=", "sha1="), NOW)
    assert not verify_signature(SECRET, ts, BODY, "", NOW)


def test_stale_or_future_timestamp_fails() -> None:
    old = NOW - timedelta(minutes=6)
    ts = timestamp_of(old)
    signature = sign(SECRET, ts, BODY)
    assert not verify_signature(SECRET, ts, BODY, signature, NOW)
    assert verify_signature(SECRET, ts, BODY, signature, NOW, tolerance=timedelta(minutes=10))
    future = timestamp_of(NOW + timedelta(minutes=6))
    assert not verify_signature(SECRET, future, BODY, sign(SECRET, future, BODY), NOW)


def test_malformed_timestamp_fails() -> None:
    for ts in ("", "abc", "1e9", "99999999999999999999"):
        assert not verify_signature(SECRET, ts, BODY, sign(SECRET, ts, BODY), NOW)


def test_backoff_doubles_and_caps() -> None:
    settings = DeliverySettings(backoff_base_seconds=2, backoff_max_seconds=3600)
    assert [backoff(n, settings, jitter=1.0).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff(12, settings, jitter=1.0) == timedelta(hours=1)
    assert backoff(1000, settings, jitter=1.0) == timedelta(hours=1)
    assert backoff(3, settings, jitter=0.5).total_seconds() == 4


@given(st.integers(min_value=1, max_value=200))
def test_backoff_jitter_stays_within_half_and_full(failures: int) -> None:
    settings = DeliverySettings(backoff_base_seconds=2, backoff_max_seconds=3600)
    full = backoff(failures, settings, jitter=1.0)
    wait = backoff(failures, settings)
    assert full / 2 <= wait <= full


def test_inprocess_worker_defaults_to_the_embedded_database_only() -> None:
    from onething.config import Settings

    assert Settings(database_url="sqlite:///x.sqlite3").resolved_inprocess_worker() is True
    assert Settings(database_url="postgresql+psycopg://u@h/db").resolved_inprocess_worker() is False
    assert Settings(database_url="postgresql+psycopg://u@h/db").resolved_inprocess_worker("sqlite") is True
    assert Settings(inprocess_worker=False).resolved_inprocess_worker("sqlite") is False
    assert Settings(inprocess_worker=True).resolved_inprocess_worker("postgresql") is True
