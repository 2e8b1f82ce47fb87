"""Settings for running Utskick in production: logs, metrics, certificate warnings, job limits.

A part of `Settings` (it inherits these), kept apart so that each file stays readable.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode


class OperationsSettings(BaseSettings):
    """What an IT department sets to run, watch and alert on Utskick."""

    log_format: Literal["text", "json"] | None = Field(
        default=None,
        description="How log lines are written: text (for a person at a terminal) or json "
        "(one object per line, for a log collector); default text on a terminal, json otherwise.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least important log level written."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics asks for; without it /metrics answers only the "
        "networks in metrics_networks.",
    )
    metrics_networks: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.1/32", "::1/128"],
        description="Networks (CIDR, comma-separated) that may read /metrics without the token; "
        "empty: only with the token.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which `utskick worker` serves its own /metrics (same protection); "
        "none: off.",
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Its listen address.")
    certificate_warning_days: Annotated[list[int], NoDecode] = Field(
        default=[60, 30, 7],
        description="Days before a sender's or the intermediary's certificate expires at which "
        "Utskick warns (log, metric, /health, e-mail).",
    )
    certificate_warning_email: str | None = Field(
        default=None,
        description="Address that gets an e-mail at each certificate warning (sent through "
        "mail_out_url); none: no e-mail.",
    )
    job_max_attempts: int = Field(
        default=25,
        ge=1,
        le=10_000,
        description="Attempts after which a job is marked failed (with an event) instead of "
        "retried again; `utskick jobs retry` runs it again.",
    )
    event_feed_settle_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="GET /api/v1/events lists events at least this old, so that a transaction "
        "still open cannot add an earlier event behind a poller's cursor.",
    )

    @field_validator("metrics_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("metrics_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"{network!r} är inget nätverk; skriv t.ex. 10.0.0.0/8 eller 127.0.0.1/32"
                ) from None
        return value

    @field_validator("certificate_warning_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return [int(part) for part in value.split(",") if part.strip()]
            except ValueError:
                raise ValueError(f"{value!r} är inga antal dagar; skriv t.ex. 60,30,7") from None
        return value

    @field_validator("certificate_warning_days")
    @classmethod
    def _check_days(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 365 for day in value):  # noqa: PLR2004
            raise ValueError("varningsdagarna ska vara mellan 1 och 365")
        return sorted(set(value), reverse=True)
