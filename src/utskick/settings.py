"""Every setting of Utskick, read from the environment with the prefix `UTSKICK_`.

The embedded default needs none of them: it keeps everything under `./var`
(database, demo PKI, state). Production sets at least `UTSKICK_DATABASE_URL`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings for every process: the web app, workers and the CLI."""

    model_config = SettingsConfigDict(env_prefix="UTSKICK_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Folder for the SQLite database, the demo PKI and all other state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file in the home folder. "
        "PostgreSQL: postgresql://user@host:5432/dbname",
    )
    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=8000, description="Port the web app listens on.")
    embedded_reference: bool = Field(
        default=True,
        description="Run the embedded reference infrastructure (FaR, mailbox operators, "
        "population register) beside the connector. Off in production.",
    )
    far_url: str | None = Field(
        default=None,
        description="FaR's Recipient service (isReachable). The embedded default points at the "
        "reference FaR.",
    )
    tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificates trusted for FaR and the mailbox operators (PEM). "
        "Default: the system's trust store; the embedded default uses the demo CA.",
    )
    minimum_age: int = Field(
        default=18, description="Recipients younger than this get paper (reason under_age)."
    )
    operator_allow_list: list[str] = Field(
        default=[],
        description="Mailbox operators (organisationsnummer, 10 digits) deliveries may go to; "
        "empty: every operator FaR names.",
    )
    reachability_cache_seconds: float = Field(
        default=300.0, description="How long a FaR answer is reused for the same recipient."
    )
    fallback_after_seconds: float = Field(
        default=24 * 3600.0,
        description="A letter not delivered digitally by then falls back to paper (policy "
        "digital-or-paper).",
    )
    retry_base_seconds: float = Field(
        default=2.0, description="First retry delay after a transport error or HTTP 5xx."
    )
    retry_max_seconds: float = Field(default=600.0, description="Longest retry delay.")
    worker_threads: int = Field(
        default=2, description="Worker threads inside `utskick serve` (0: none; run workers)."
    )
    lease_seconds: float = Field(
        default=60.0, description="How long a claimed job is a worker's before others retry it."
    )
    keep_content_after_delivery: bool = Field(
        default=False,
        description="Keep a letter's body and digital attachments after digital delivery "
        "(a records rule); default: remove them, keep the digest (R8).",
    )
    far_timeout_seconds: float = Field(
        default=30.0, description="How long to wait for FaR's answer to one isReachable call."
    )
    operator_connect_timeout_seconds: float = Field(
        default=10.0, description="How long to wait for a mailbox operator's connection."
    )
    operator_read_timeout_seconds: float = Field(
        default=60.0, description="How long to wait for a mailbox operator's answer."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, description="How long to wait for a sending system's webhook to answer."
    )
    webhook_give_up_seconds: float = Field(
        default=24 * 3600.0,
        description="A webhook that keeps failing is given up this long after its event.",
    )
    worker_poll_seconds: float = Field(
        default=1.0, description="How long an idle worker waits before looking for jobs again."
    )
    xml_max_bytes: int = Field(
        default=10 * 1024 * 1024, description="Largest XML document accepted from outside."
    )
    xml_max_depth: int = Field(default=64, description="Deepest XML nesting accepted from outside.")

    def resolved_database_url(self) -> str:
        """The database URL in use: the setting, or the SQLite file in the home folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'utskick.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. from CLI options)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
