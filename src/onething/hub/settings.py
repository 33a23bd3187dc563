"""National hub knobs, from ``ONETHING_NATIONAL_HUB_*`` environment variables.

Reporting is on when both the URL and the signing secret are set; until then no ``national.*`` records are
written (a platform not yet joined to the national one keeps no backlog for it).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_NATIONAL_HUB_", extra="ignore")

    # Base URL of the national hub's reporting interface, e.g. https://hub.example.gov.cn/onething
    # (records go to <url>/reports, the daily listing is <url>/reconciliation).
    url: str | None = None
    # Shared signing secret (HMAC-SHA256, as department webhooks): from a vault, never logged or listed.
    secret: SecretStr | None = None
    # This platform's name at the hub (报送平台标识), carried in every record.
    platform: str = "onething"
    # This platform's own 行政区划代码 (GB/T 2260, 6 digits), reported for applications planned with the
    # national definitions (办件编号 prefix 000000, which names no region). Unset: reported as 000000, which a
    # hub that checks division codes refuses.
    division_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    # One HTTP attempt; retries: base·2^(n-1) seconds capped at the maximum, jittered, then dead.
    timeout_seconds: float = 10.0
    batch_size: int = 20
    lease_seconds: float = 120.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0
    max_attempts: int = 20
    poll_seconds: float = 2.0

    @property
    def enabled(self) -> bool:
        return bool(self.url) and self.secret is not None and bool(self.secret.get_secret_value())


@lru_cache(maxsize=1)
def get_hub_settings() -> HubSettings:
    return HubSettings()
