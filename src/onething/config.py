"""Settings, in one place: every knob comes from an ``ONETHING_*`` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
# In a source checkout the package lives at <repo>/src/onething.
REPO_DIR = PACKAGE_DIR.parent.parent


def default_catalog_dir() -> Path:
    """The shipped catalog: package data when installed, the repository's ``catalog/`` when developing."""
    installed = PACKAGE_DIR / "_catalog"
    if installed.is_dir():
        return installed
    return REPO_DIR / "catalog"


def migrations_dir() -> Path:
    installed = PACKAGE_DIR / "_migrations"
    if installed.is_dir():
        return installed
    return REPO_DIR / "migrations"


def default_var_dir() -> Path:
    """Where the embedded database lives: ``var/`` beside the checkout, or the working directory."""
    if (REPO_DIR / "pyproject.toml").is_file():
        return REPO_DIR / "var"
    return Path.cwd() / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_", extra="ignore")

    database_url: str = ""
    catalog: Path | None = None
    secret_key: str = ""
    environment: str = "development"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    # Rate limits (requests per minute per client address).
    sign_in_rate_per_minute: int = 10
    submit_rate_per_minute: int = 30
    secure_cookies: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto `onething serve` believes: comma-separated IPs or CIDRs.
    # Empty (the default): forwarded headers are ignored and the client is the TCP peer.
    trusted_proxies: str = ""
    # Per-account sign-in lockout (登录失败锁定): this many failures within the window lock the account.
    sign_in_max_failures: int = 10
    sign_in_failure_window_minutes: int = 15
    sign_in_lockout_minutes: int = 15
    # Deliver outbox events from a thread inside `onething serve`. Unset: on for SQLite (the embedded default,
    # nothing else to run), off for PostgreSQL (run `onething worker` processes). ONETHING_INPROCESS_WORKER.
    inprocess_worker: bool | None = None
    # Data-sharing exchange (政务数据共享条例, our reading — see REFERENCE.md; settings, never constants).
    grant_decision_days: int = 10          # holder answers a conditional request within (working days)
    directory_publication_days: int = 10   # a directory change is published within (working days)
    correction_days: int = 10              # holder corrects reported data errors within (working days)
    consent_after_close_days: int = 30     # consent lasts until the application closes + this many days
    consent_draft_idle_hours: int = 24     # a draft's consent ends this long after its last activity, unsubmitted
    provider_timeout_seconds: float = 3.0  # HTTP providers (departments' own services)
    exchange_providers: dict[str, str] = {}  # resource id → base URL of the holder's service; else built-in
    # Audit chain and retention (records of use ≥ 3 years; security logs ≥ 6 months).
    audit_checkpoint_every: int = 1000
    audit_retention_years: int = 3
    security_log_retention_days: int = 183

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        var = default_var_dir()
        return f"sqlite:///{var / 'onething.sqlite3'}"

    def resolved_inprocess_worker(self, dialect: str | None = None) -> bool:
        """Whether the web app runs the outbox worker in-process, for a database of ``dialect``."""
        if self.inprocess_worker is not None:
            return self.inprocess_worker
        if dialect is None:
            dialect = self.resolved_database_url().split(":", 1)[0].split("+", 1)[0]
        return dialect == "sqlite"

    def resolved_catalog_dir(self) -> Path:
        return self.catalog if self.catalog is not None else default_catalog_dir()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
