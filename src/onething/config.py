"""Settings, in one place: every knob comes from an ``ONETHING_*`` environment variable."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
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


# ONETHING_SECRET_KEY keys the pseudonyms of data subjects on the audit chain; a short one can be brute-forced.
MIN_SECRET_KEY_LENGTH = 32
DEMO_KEY_FILE = "demo-secret.key"


class ConfigurationError(RuntimeError):
    """A setting the platform cannot run without is missing or unsafe; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_", extra="ignore")

    database_url: str = ""
    catalog: Path | None = None
    # Local demo (ONETHING_DEMO, `make run`): the demo registries answer for holders without a service of their
    # own, a per-checkout random key stands in for ONETHING_SECRET_KEY, cookies work over plain http.
    demo: bool = False
    # The platform's region (catalog/regions/<code>): applications without one are planned with its rules.
    # Unset: the national definitions. ONETHING_REGION.
    region: str | None = None
    secret_key: str = ""
    environment: str = "development"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    # Rate limits (requests per minute per client address).
    sign_in_rate_per_minute: int = 10
    submit_rate_per_minute: int = 30
    # Secure cookies and HSTS: on unless ONETHING_DEMO (a local demo on http://127.0.0.1); set to override.
    secure_cookies: bool = True
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto `onething serve` believes: comma-separated IPs or CIDRs.
    # Empty (the default): forwarded headers are ignored and the client is the TCP peer.
    trusted_proxies: str = ""
    # Per-account sign-in lockout (登录失败锁定): this many failures within the window lock the account.
    sign_in_max_failures: int = 10
    sign_in_failure_window_minutes: int = 15
    sign_in_lockout_minutes: int = 15
    # Server processes of `onething serve` (ONETHING_WORKERS; --workers). Unset: one per CPU, one in the demo.
    workers: int | None = None
    # Database pool of each process (PostgreSQL): at most pool_size + max_overflow connections per process, so
    # workers × (pool_size + max_overflow) + workers of `onething worker` must stay under max_connections.
    db_pool_size: int = 10
    db_max_overflow: int = 10
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
    # Resource id → base URL of the holder's service. A resource without one is unavailable (the applicant
    # uploads), or served from the demo registries under ONETHING_DEMO.
    exchange_providers: dict[str, str] = {}
    # Resource id → the secret the platform signs its requests to that holder's service with (required).
    exchange_provider_secrets: dict[str, str] = {}
    # Audit chain and retention (records of use ≥ 3 years; security logs ≥ 6 months).
    audit_checkpoint_every: int = 1000
    audit_retention_years: int = 3
    # The Merkle tree log (ADR 021): the checkpoints' origin / key name, the Ed25519 key (base64 of a 32-byte
    # seed; unset: derived from ONETHING_SECRET_KEY), the sequencer's round interval, the witness file.
    audit_log_origin: str = "onething/audit-log"
    # How entries are written: "tree" — hash format 3, no shared lock, ordered by the sequencer; "chain" — the
    # hash chain under the audit_head row's lock (formats 1–2, ADR 005/006). ONETHING_AUDIT_APPEND.
    audit_append: Literal["tree", "chain"] = "tree"
    audit_log_key: str = ""
    audit_sequence_interval: float = 0.5
    audit_witness_file: Path | None = None
    # Run the sequencer as a thread in `onething serve` (unset: yes; PostgreSQL deployments may run
    # `onething audit sequence` instead — the advisory lock lets only one integrate at a time either way).
    inprocess_sequencer: bool = True
    security_log_retention_days: int = 183
    # Unified sign-in (统一身份认证) through OpenID Connect (docs/accounts.md). Off while the issuer is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile"
    # The ID token's ``acr`` → onething's assurance level; an acr not listed counts as L1.
    oidc_acr_levels: dict[str, str] = {"L1": "L1", "L2": "L2", "L3": "L3"}
    # Claims (ID token or UserInfo) that carry the identifiers; staff name their account and department.
    oidc_claim_id_number: str = "id_number"
    oidc_claim_uscc: str = "uscc"
    oidc_claim_staff_account: str = "staff_account"
    oidc_claim_department: str = "department"
    oidc_timeout_seconds: float = 5.0
    # The level a password sign-in gives (L1…L3). Unset: L1 where unified sign-in is configured (the person can
    # step up there), else L2 (accounts an administrator opened after checking the identity document).
    password_assurance: str | None = None

    @model_validator(mode="after")
    def _secure_unless_demo(self) -> Settings:
        if "secure_cookies" not in self.model_fields_set:
            self.secure_cookies = not self.demo
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def resolved_password_assurance(self) -> str:
        if self.password_assurance:
            return self.password_assurance.strip().upper()
        return "L1" if self.oidc_enabled else "L2"

    def check_secret_key(self) -> None:
        """Refuse to run outside the demo without a long enough ONETHING_SECRET_KEY."""
        how = (f"a random string of at least {MIN_SECRET_KEY_LENGTH} characters, e.g. "
               "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        if self.secret_key and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigurationError(f"ONETHING_SECRET_KEY is too short: set it to {how}")
        if not self.secret_key and not self.demo:
            raise ConfigurationError(
                f"ONETHING_SECRET_KEY is not set: set it to {how} (or ONETHING_DEMO=1 for a local demo)")

    def resolved_secret_key(self) -> str:
        """ONETHING_SECRET_KEY; in the demo without one, a random key kept in var/ so pseudonyms stay stable.

        Never a constant: a key everyone knows lets anyone recompute a pseudonym from a guessed identifier.
        """
        self.check_secret_key()
        if self.secret_key:
            return self.secret_key
        return demo_secret_key(default_var_dir())

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


def demo_secret_key(var_dir: Path) -> str:
    """The demo's random key in ``var_dir``, made on first use: an owner-only file, linked into place
    atomically so that concurrent first users agree on one key."""
    path = var_dir / DEMO_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        draft = var_dir / f".{DEMO_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
