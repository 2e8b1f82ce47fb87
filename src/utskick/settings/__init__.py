"""Every setting of Utskick, read from the environment with the prefix `UTSKICK_`.

The embedded default needs none of them: it keeps everything under `./var`
(database, demo PKI, state). Production sets at least `UTSKICK_DATABASE_URL`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from utskick.settings.operations import OperationsSettings


class PrintVendor(BaseModel):
    """A print vendor (or the in-house print room): its drop, its envelope window, its format.

    The default window is where the address shows through both a C5 and an E65 window
    envelope with an A4 sheet folded in three: the overlap of the two common windows
    (E65: 15 mm from the left, 40 mm from the top, 95 × 30 mm; C5: 15, 44, 105 × 35 mm).
    """

    name: str = Field(default="tryckeriet", min_length=1, max_length=60)
    drop: Path | None = Field(
        default=None,
        description="Folder the batches are written to; default <home>/print-drop/<name>.",
    )
    departments: list[str] = Field(
        default=[],
        description="Departments whose letters this vendor prints; empty: every department no "
        "other vendor names and that does not print locally.",
    )
    merged: bool = Field(
        default=False, description="One merged PDF per batch instead of one per letter."
    )
    duplex: bool = Field(default=True, description="Printed on both sides (sheets = pages / 2).")
    window_left_mm: float = Field(default=15.0, ge=0, le=200)
    window_top_mm: float = Field(default=44.0, ge=36, le=250)
    window_width_mm: float = Field(default=95.0, gt=20, le=200)
    window_height_mm: float = Field(default=26.0, gt=10, le=100)
    sftp_url: str | None = Field(
        default=None,
        description="Upload each batch to the vendor's SFTP server instead, e.g. "
        "sftp://print@host:22/inkommande; `drop` is then only the local staging folder.",
    )
    sftp_key_file: Path | None = Field(
        default=None,
        description="Private key (OpenSSH or PEM, no passphrase) to log in with; default the "
        "user's own SSH keys and agent.",
    )
    sftp_known_hosts: Path | None = Field(
        default=None,
        description="known_hosts file holding the server's host key; default ~/.ssh/known_hosts. "
        "A server whose key is not there is refused.",
    )
    sftp_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Connecting and each SFTP request may take this long.",
    )

    @field_validator("sftp_url")
    @classmethod
    def _check_sftp_url(cls, value: str | None) -> str | None:
        if value is not None:
            sftp_address(value)
        return value

    @model_validator(mode="after")
    def _check_sftp_files(self) -> Self:
        if self.sftp_url is None and (self.sftp_key_file or self.sftp_known_hosts):
            raise ValueError(
                f"tryckeriet {self.name!r} har sftp_key_file eller sftp_known_hosts men ingen "
                "sftp_url; ange sftp_url (sftp://användare@värd:22/mapp) eller ta bort dem"
            )
        return self


def sftp_address(url: str) -> SplitResult:
    """An SFTP drop's URL taken apart, once it is checked: sftp, a host, an absolute path.

    Raises:
        ValueError: the URL is not of that form (the message says so in Swedish).
    """
    form = "sftp://användare@värd:22/absolut/sökväg"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "sftp":
        problem = "schemat måste vara sftp://"
    elif not parts.hostname:
        problem = "värdnamnet saknas"
    elif port is not None and not 0 < port < 65536:  # noqa: PLR2004 (the port range)
        problem = "porten måste vara ett tal 1–65535"
    elif parts.password is not None:
        problem = "lösenord i adressen stöds inte; logga in med nyckel (sftp_key_file)"
    elif not parts.path.startswith("/"):
        problem = "sökvägen på servern måste vara absolut (börja med /)"
    elif parts.query or parts.fragment:
        problem = "adressen får inte ha ? eller #"
    else:
        return parts
    raise ValueError(f"sftp_url måste se ut som {form}: {problem}, fick {url!r}")


WIRE_FORMS = ("prefixed", "default")
_OPERATOR_NUMBER = re.compile(r"(16)?(\d{10})")


def operator_wire_form_key(key: str) -> str:
    """A key of `operator_wire_forms` as the relay looks it up.

    An operator's ServiceAdress without a trailing slash, or its organisationsnummer as ten
    digits (`556999-0012` and FaR's `165569990012` both become `5569990012`).

    Raises:
        ValueError: the key is neither (the message says so in Swedish).
    """
    text = key.strip()
    if text.startswith(("https://", "http://")):
        return text.rstrip("/")
    number = _OPERATOR_NUMBER.fullmatch(text.replace("-", ""))
    if number is None:
        raise ValueError(
            f"UTSKICK_OPERATOR_WIRE_FORMS: {key!r} är varken en brevlådeoperatörs "
            "organisationsnummer (t.ex. 556999-0012) eller dess tjänsteadress (https://…, "
            "ServiceAdress i FaR:s svar)"
        )
    return number.group(2)


def _operator_wire_forms(value: object) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as error:
            raise ValueError(
                f"UTSKICK_OPERATOR_WIRE_FORMS är inte giltig JSON ({error.msg}); skriv t.ex. "
                '{"5569990012": "default"}'
            ) from None
    if not isinstance(value, dict):
        raise ValueError(  # noqa: TRY004 (pydantic reports only a ValueError as a setting's error)
            "UTSKICK_OPERATOR_WIRE_FORMS ska vara ett JSON-objekt från operatör till trådform, "
            't.ex. {"5569990012": "default"}'
        )
    forms = {}
    for key, form in value.items():
        if form not in WIRE_FORMS:
            raise ValueError(
                f"UTSKICK_OPERATOR_WIRE_FORMS: trådformen {form!r} för {key} finns inte; välj "
                '"prefixed" (prefix på varje element, standard) eller "default" '
                "(standardnamnrymder, de signerade byten som de är)"
            )
        forms[operator_wire_form_key(str(key))] = form
    return forms


class Settings(OperationsSettings):
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
    deliveries_per_claim: int = Field(
        default=32,
        ge=1,
        description="How many deliveries a worker thread claims at once and records together.",
    )
    deliveries_in_flight: int = Field(
        default=16,
        ge=1,
        description="How many deliveries one process has on the wire at once (all its threads).",
    )
    lease_seconds: float = Field(
        default=60.0, description="How long a claimed job is a worker's before others retry it."
    )
    keep_content_after_delivery: bool = Field(
        default=False,
        description="Keep every letter's content after digital delivery, whatever the records "
        "rule says; default: the rule decides (docs/records.md).",
    )
    records_registration_url: str | None = Field(
        default=None,
        description="The case or records system's registration endpoint (signed JSON POST); "
        "letters whose rule registers them are registered there. Embedded: the diarium "
        "stand-in.",
    )
    records_registration_secret: SecretStr | None = Field(
        default=None,
        description="The key shared with the case system that signs each registration call "
        "(HMAC-SHA256).",
    )
    records_export_folder: Path | None = Field(
        default=None,
        description="Folder for the daily registration file (CSV and XML), for case systems "
        "that import files; used when no registration URL is set.",
    )
    records_export_sftp_url: str | None = Field(
        default=None,
        description="Upload the daily registration file to this SFTP folder instead, e.g. "
        "sftp://diarium@host:22/import; the export folder is then the local staging folder.",
    )
    records_export_sftp_key_file: Path | None = Field(
        default=None, description="Private key to log in to the registration SFTP server with."
    )
    records_export_sftp_known_hosts: Path | None = Field(
        default=None,
        description="known_hosts holding the registration SFTP server's host key.",
    )
    records_daily_hour: int = Field(
        default=2,
        ge=0,
        le=23,
        description="Local hour at which the daily records run (registration file, disposal) "
        "starts.",
    )
    records_disposal_batch: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Letters disposed of per transaction in the daily disposal.",
    )
    access_log_months: int = Field(
        default=24,
        ge=1,
        description="How long the access log (who searched and opened which letters) is kept.",
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
    operator_wire_forms: Annotated[dict[str, str], NoDecode] = Field(
        default={},
        description="How deliveries are written on the wire, per mailbox operator, as JSON: "
        "the operator's organisationsnummer or its ServiceAdress → "
        '"prefixed" (the default: every element namespace-prefixed, as Java/JAXB senders '
        'write it) or "default" (default namespace declarations: the signed bytes as they '
        "are), e.g. "
        '{"5569990012": "default"}. The signatures are the same; see docs/mina-meddelanden.md.',
    )

    @field_validator("operator_wire_forms", mode="before")
    @classmethod
    def _check_operator_wire_forms(cls, value: object) -> dict[str, str]:
        return _operator_wire_forms(value)

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
    # --- web users and benefit realised (statistics) ---
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs the web app's session cookies. Default: generated once and "
        "kept in <home>/session-secret; with several web processes set the same value on all.",
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description="Addresses or networks (e.g. 10.0.0.5 or 10.0.0.0/24) of the TLS-terminating "
        "proxies in front of the web app, as a JSON list. Only from these peers are "
        "X-Forwarded-Proto and X-Forwarded-For believed (then cookies are Secure and HSTS is "
        "sent); empty: nobody's.",
    )

    sso_user_header: str | None = Field(
        default=None,
        description="Name of the header (e.g. X-Remote-User) in which the municipality's "
        "single-sign-on proxy names the logged-in person's Utskick username. Believed only from "
        "UTSKICK_TRUSTED_PROXIES; the person must exist (utskick users add). Empty: local "
        "accounts only.",
    )

    @field_validator("sso_user_header")
    @classmethod
    def _check_sso_user_header(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        name = value.strip()
        if not all(char.isalnum() or char == "-" for char in name):
            raise ValueError(
                f"sso_user_header: {value!r} är inget namn på ett HTTP-huvud; skriv t.ex. "
                "X-Remote-User"
            )
        return name.lower()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} är ingen IP-adress eller nätverk; skriv t.ex. "
                    '["10.0.0.5", "192.168.1.0/24"]'
                ) from None
        return [entry.strip() for entry in value]

    benefit_paper_cost_kr: Decimal = Field(
        default=Decimal("7.00"), ge=0, description="Cost of one paper letter (material + postage)."
    )
    benefit_digital_cost_kr: Decimal = Field(
        default=Decimal("1.50"), ge=0, description="Cost of one letter sent digitally."
    )
    benefit_minutes_per_letter: Decimal = Field(
        default=Decimal(10),
        ge=0,
        description="Officer time saved per letter sent digitally instead of on paper (minutes).",
    )
    benefit_hourly_cost_kr: Decimal = Field(
        default=Decimal(350), ge=0, description="Cost of an hour of officer time."
    )
    benefit_plan_first_year: int | None = Field(
        default=None,
        ge=2000,
        le=2100,
        description="Calendar year that is year 1 of the benefit plan shown next to the "
        "actuals. Default: the year of the first letter sent.",
    )
    benefit_plan_inputs: list[str] = Field(
        default=[],
        description="The municipality's benefit plan as name=value inputs of the benefit model "
        '(as `utskick nytta --set` takes them, e.g. ["inhabitants=50000"]); inputs not named '
        "are the example municipality's, the prices and minutes are the settings above.",
    )

    population_url: str | None = Field(
        default=None,
        description="The population register's JSON API (name and postal address for paper "
        "letters). The embedded default points at the reference register.",
    )
    print_vendors: list[PrintVendor] = Field(
        default_factory=lambda: [PrintVendor()],
        description="Print vendors as JSON, e.g. "
        '[{"name": "tryckeriet", "drop": "/srv/print/drop", "merged": true}].',
    )
    print_local_departments: list[str] = Field(
        default=[],
        description="Departments that print their paper letters themselves from a daily "
        "exception list (undantagslista) instead of sending them to a vendor.",
    )
    print_close_times: list[str] = Field(
        default=["16:00"],
        description="Times of day (HH:MM, print_timezone) at which open print batches close; "
        "exception lists close at the first of them.",
    )
    print_batch_max_letters: int = Field(
        default=2000, ge=1, description="A vendor batch closes when it holds this many letters."
    )
    print_timezone: str = Field(
        default="Europe/Stockholm", description="Time zone of the close times and letter dates."
    )
    protected_forwarding_address: list[str] = Field(
        default=["Skatteverket", "Box 2820", "403 20 Göteborg"],
        description="Where paper for a person with protected identity goes (Skatteverket's "
        "forwarding service); the recipient's personnummer is the reference line.",
    )

    sources_file: Path | None = Field(
        default=None,
        description="The sources that hand in files (watched folders, SFTP pickups, print-file "
        "rules), as TOML; default sources.toml in the home folder, if there is one.",
    )
    mail_in_port: int | None = Field(
        default=None,
        description="Port of the SMTP submission service for letters by e-mail; none: off. "
        "The embedded default starts it on 2587.",
    )
    mail_in_host: str = Field(default="127.0.0.1", description="Address it listens on.")
    mail_in_domain: str = Field(
        default="brev.exempelkommun.se",
        description="The domain letters are e-mailed to: <personnummer>@<domain>.",
    )
    mail_in_relay_hosts: list[str] = Field(
        default=[],
        description="Mail servers (IP addresses) trusted to relay officers' e-mail without "
        "AUTH; the sender is then known by the From address.",
    )
    mail_in_tls_cert_file: Path | None = Field(
        default=None,
        description="Certificate chain (PEM) for STARTTLS; the embedded default makes one "
        "from the demo CA. Without it, AUTH is refused.",
    )
    mail_in_tls_key_file: Path | None = Field(
        default=None, description="The private key (PEM) of mail_in_tls_cert_file."
    )
    mail_in_max_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024, description="The largest e-mail taken in."
    )
    mail_out_url: str | None = Field(
        default=None,
        description="Where replies to e-mailed letters are sent: smtp://[user@]host:port "
        "(STARTTLS when offered) or smtps://…; none: no replies. The embedded default uses "
        "the reference's mail sink.",
    )
    mail_out_password: SecretStr | None = Field(
        default=None, description="Password of the mail_out_url user."
    )
    mail_out_from: str = Field(
        default="utskick@brev.exempelkommun.se", description="From address of the replies."
    )

    def resolved_database_url(self) -> str:
        """The database URL in use: the setting, or the SQLite file in the home folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'utskick.db').resolve()}"

    def vendor_drop(self, vendor: PrintVendor) -> Path:
        """The folder a vendor's batches are written to."""
        return vendor.drop or self.home / "print-drop" / vendor.name


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. from CLI options)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
