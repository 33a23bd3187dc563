"""Delivery knobs, from ``ONETHING_DELIVERY_*`` environment variables like every other setting.

Kept beside the delivery context (as ``cases/settings.py`` does) until ``onething.config.Settings`` absorbs
them; the names are the ones that class would use, so moving them changes no deployment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_DELIVERY_", extra="ignore")

    # One HTTP attempt may take this long before it counts as failed. Short on purpose: a slow department
    # costs the worker a few seconds, never the applicant (submission only writes the outbox row).
    timeout_seconds: float = 5.0
    # Events claimed per round trip to the database.
    batch_size: int = 10
    # How long a claim keeps other workers off an event. A worker that dies mid-delivery holds its events at
    # most this long; a live worker never delivers past its lease (it releases what it cannot finish).
    lease_seconds: float = 60.0
    # Retry policy: the n-th failure waits base·2^(n-1) seconds, capped, times a jitter in [0.5, 1].
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0
    # After this many failed attempts an event is dead: kept and listed, no longer retried by itself.
    max_attempts: int = 20
    # Idle worker: seconds between looks at the outbox.
    poll_seconds: float = 1.0
    # Receivers: how far a signed timestamp may be from their clock.
    signature_tolerance_seconds: int = 300


@lru_cache(maxsize=1)
def get_delivery_settings() -> DeliverySettings:
    return DeliverySettings()
