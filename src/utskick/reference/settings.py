"""Settings of the embedded reference infrastructure, prefix `UTSKICK_REFERENCE_`.

The reference is another party than the connector, so it has its own settings; the defaults
run everything on loopback next to the connector with nothing to configure.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from utskick.reference.diarium.secret import shared_secret


class ReferenceSettings(BaseSettings):
    """Ports, storage and notice settings of FaR, the operators, the sinks and the diarium."""

    model_config = SettingsConfigDict(env_prefix="UTSKICK_REFERENCE_", extra="ignore")

    home: Path = Field(
        default=Path("var"), description="The run's data folder (the same as UTSKICK_HOME)."
    )
    database_url: str | None = Field(
        default=None, description="Reference database; default reference.db in the home folder."
    )
    host: str = Field(default="127.0.0.1", description="Address every reference service uses.")
    far_port: int = Field(default=8441, description="FaR (HTTPS, mutual TLS).")
    population_port: int = Field(
        default=8444, description="Population register stand-in (HTTPS, mutual TLS)."
    )
    syd_service_port: int = Field(default=8442, description="Brevlåda Syd's Service v3.")
    syd_ui_port: int = Field(default=8081, description="Brevlåda Syd's citizen mailbox.")
    nord_service_port: int = Field(default=8443, description="Brevlåda Nord's Service v3.")
    nord_ui_port: int = Field(default=8082, description="Brevlåda Nord's citizen mailbox.")
    sink_page_port: int = Field(default=8025, description="Page showing the sinks' mail and SMS.")
    diarium_port: int = Field(
        default=8445,
        description="The diarium stand-in (HTTP on loopback): registers sent letters and lists "
        "them on its page.",
    )
    diarium_secret: SecretStr | None = Field(
        default=None,
        description="The key the diarium stand-in shares with the connector to check the "
        "signature of each registration call. Default: generated once and kept in "
        "<home>/reference-keys/diarium-secret (demo only).",
    )
    smtp_host: str = Field(
        default="127.0.0.1", description="SMTP server for e-mail notices (default: the sink)."
    )
    smtp_port: int = Field(default=2525, description="SMTP port (the embedded sink listens here).")
    failure_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of Service v3 calls the mailbox operators fail on purpose (tests of "
        "the connector's retries): HTTP 500, a late answer, a dropped connection, or storing "
        "the delivery and then losing the answer. 0 in normal use.",
    )
    failure_delay_seconds: float = Field(
        default=75.0,
        description="How long a deliberately late answer takes; longer than the connector's "
        "read timeout.",
    )
    run_smtp_sink: bool = Field(
        default=True, description="Run the local SMTP sink; off when notices go to a real server."
    )
    notice_from: str = Field(
        default="no-reply@brevlada.test", description="From address of notice e-mails."
    )
    syd_storage_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 bytes: Syd's key for messages at rest. Default: a key "
        "generated once and kept in the home folder (demo only).",
    )
    nord_storage_key: SecretStr | None = Field(
        default=None, description="The same for Brevlåda Nord."
    )
    allowed_attachment_types: list[str] = Field(
        default=["application/pdf"], description="MIME types the operators accept."
    )
    allow_sha1: bool = Field(
        default=False,
        description="Let the mailbox operators accept deliveries signed or sealed with RSA-SHA1 "
        "and SHA-1 digests, as the real operators still do for older senders. Off by default: "
        "SHA-1 is broken for collisions. (Utskick itself always signs with SHA-256.)",
    )
    test_login: bool = Field(
        default=True,
        description="Allow the simulated e-ID login (test mode; never in production).",
    )
    lookup_cache_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description="How long a mailbox operator keeps what it looked up for a delivery: the "
        "caller's certificate, the sender's and sealer's FaR entries and certificates, the "
        "recipient's account and mailbox. Every change written through the reference (its "
        "pages, FaR's service, the admin code) is seen at once, also by operators in other "
        "processes; only a change made around the reference (SQL by hand) waits out this "
        "time. 0 looks everything up for every delivery. Signatures are verified every time.",
    )
    separate_processes: bool = Field(
        default=True,
        description="utskick serve: run each mailbox operator (Service v3 and its citizen "
        "mailbox) in a process of its own, and FaR, the population register, the sinks and "
        "the diarium in one more, so that they do not share the connector's CPU time and "
        "lock. false keeps them all in the serve process.",
    )

    def resolved_database_url(self) -> str:
        """The reference database URL: the setting, or a SQLite file in the home folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'reference.db').resolve()}"

    def diarium_key(self) -> bytes:
        """The diarium stand-in's shared key: the setting, else the demo's key file."""
        configured = self.diarium_secret.get_secret_value() if self.diarium_secret else None
        return shared_secret(self.home / "reference-keys", configured)

    def service_port(self, operator_key: str) -> int:
        """The Service v3 port of the operator with this short name."""
        return int(getattr(self, f"{operator_key}_service_port"))

    def ui_port(self, operator_key: str) -> int:
        """The citizen mailbox port of the operator with this short name."""
        return int(getattr(self, f"{operator_key}_ui_port"))

    def storage_key(self, operator_key: str) -> SecretStr | None:
        """The configured storage key of the operator with this short name, if any."""
        value = getattr(self, f"{operator_key}_storage_key")
        return value if isinstance(value, SecretStr) else None
