"""`/health`: whether the service can do its work, and what is wearing thin.

503 only when the database is not ready (no letter can be taken). Everything else that can
go wrong still lets the service take letters, so it makes the status `degraded`, still 200,
with the part that says why:

- `far`: how the last call to FaR went (recorded by whichever process made it);
- `certificates`: each sender organisation's certificate, with the days left and a status:
  `ok`, `warning` (within the widest of `certificate_warning_days`), `expired`, or
  `unreadable` (this process cannot open the key: file, passphrase variable, passphrase);
- `print_drop`: each print vendor's drop: a local folder that exists (or can be made) and
  can be written to, or an SFTP server that answers with an SSH banner. SFTP servers are
  asked at most once a minute per server (a probe every few seconds would be noise in the
  vendor's logs), with a short timeout, so that /health stays fast.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from utskick import __version__
from utskick.entrypoints.bootstrap import Adapters
from utskick.jobs.dependencies import DEGRADED, FAR, dependency_state
from utskick.migrations import migrate
from utskick.senders.certificates import certificate_status, certificate_survey
from utskick.settings import PrintVendor, Settings, sftp_address

SFTP_PROBE_SECONDS = 60.0
SFTP_PROBE_TIMEOUT_SECONDS = 3.0
SSH_DEFAULT_PORT = 22
_BANNER_LIMIT = 255  # RFC 4253: the identification line is at most 255 characters


def database_health(engine: Engine) -> dict[str, Any]:
    """Whether the database answers and is migrated to the revision this code expects."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
    except Exception as error:  # noqa: BLE001 (any failure means unhealthy; the reason is shown)
        return {"ok": False, "detail": f"databasen svarar inte: {type(error).__name__}"}
    expected = migrate.head_revision()
    if current != expected:
        return {
            "ok": False,
            "detail": f"databasen är på version {current}, väntade {expected} "
            "(kör utskick db upgrade)",
        }
    return {"ok": True, "detail": f"version {current}"}


def certificates_health(
    engine: Engine, settings: Settings, now: dt.datetime
) -> list[dict[str, object]]:
    """Each sender organisation's certificate as /health shows it, the first to expire first."""
    with Session(engine) as session:
        survey = certificate_survey(session)
    thresholds = settings.certificate_warning_days
    shown: list[dict[str, object]] = [
        {
            "organisation_number": expiry.organisation_number,
            "name": expiry.name,
            "role": expiry.role,
            "status": certificate_status(expiry, thresholds, now),
            "days_left": round(expiry.days_left(now), 1),
            "not_after": expiry.not_after.astimezone(dt.UTC).isoformat(),
        }
        for expiry in sorted(survey.expiries, key=lambda e: e.not_after)
    ]
    shown.extend(
        {
            "organisation_number": broken.organisation_number,
            "name": broken.name,
            "role": broken.role,
            "status": "unreadable",
            "detail": broken.reason,
        }
        for broken in survey.unreadable
    )
    return shown


@dataclass(frozen=True)
class Probe:
    """One look at a drop: whether it can take a batch now, and in a few words why not."""

    ok: bool
    detail: str


def folder_probe(folder: Path) -> Probe:
    """A local drop: it exists and can be written to, or it can be made (first batch)."""
    if folder.is_dir():
        if os.access(folder, os.W_OK | os.X_OK):
            return Probe(ok=True, detail="mappen finns och går att skriva i")
        return Probe(ok=False, detail=f"mappen {folder} går inte att skriva i för tjänsten")
    if folder.exists():
        return Probe(ok=False, detail=f"{folder} är ingen mapp")
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Probe(ok=True, detail="mappen skapas vid första batchen")
    return Probe(ok=False, detail=f"mappen {folder} finns inte och kan inte skapas")


def ssh_banner_probe(host: str, port: int, timeout: float) -> Probe:
    """An SFTP server: a TCP connection that opens with an SSH identification line."""
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            banner = _first_line(connection)
    except TimeoutError:
        return Probe(ok=False, detail=f"SFTP-servern {where} svarade inte inom {timeout:g} s")
    except OSError as error:
        return Probe(ok=False, detail=f"SFTP-servern {where} går inte att nå ({error.strerror})")
    if not banner.startswith("SSH-"):
        return Probe(ok=False, detail=f"{where} svarar, men inte som en SSH-server")
    return Probe(ok=True, detail=f"SFTP-servern {where} svarar")


def _first_line(connection: socket.socket) -> str:
    received = b""
    while b"\n" not in received and len(received) < _BANNER_LIMIT:
        chunk = connection.recv(_BANNER_LIMIT - len(received))
        if not chunk:
            break
        received += chunk
    return received.split(b"\n", 1)[0].decode("ascii", errors="replace").strip()


class SftpProbes:
    """SSH banner probes, each server's answer kept for `SFTP_PROBE_SECONDS`."""

    def __init__(self, timeout: float = SFTP_PROBE_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._answers: dict[tuple[str, int], tuple[float, Probe]] = {}
        self._lock = threading.Lock()

    def probe(self, host: str, port: int) -> Probe:
        """The server's answer, asked again when the kept one is a minute old."""
        key = (host, port)
        with self._lock:
            kept = self._answers.get(key)
        if kept is not None and time.monotonic() - kept[0] < SFTP_PROBE_SECONDS:
            return kept[1]
        answer = ssh_banner_probe(host, port, self.timeout)
        with self._lock:
            self._answers[key] = (time.monotonic(), answer)
        return answer


def print_drop_health(settings: Settings, probes: SftpProbes) -> list[dict[str, object]]:
    """Each print vendor's drop as /health shows it."""
    return [_vendor_drop(vendor, settings, probes) for vendor in settings.print_vendors]


def _vendor_drop(vendor: PrintVendor, settings: Settings, probes: SftpProbes) -> dict[str, object]:
    staging = folder_probe(settings.vendor_drop(vendor))
    if vendor.sftp_url is None:
        return _shown(vendor.name, "folder", staging)
    address = sftp_address(vendor.sftp_url)
    remote = probes.probe(address.hostname or "", address.port or SSH_DEFAULT_PORT)
    if not staging.ok:
        remote = Probe(
            ok=False, detail=f"{remote.detail}; lokala mellanlagringen: {staging.detail}"
        )
    return _shown(vendor.name, "sftp", remote)


def _shown(name: str, kind: str, probe: Probe) -> dict[str, object]:
    return {
        "name": name,
        "kind": kind,
        "status": "ok" if probe.ok else "unreachable",
        "detail": probe.detail,
    }


def health_answer(
    engine: Engine, settings: Settings, now: dt.datetime, probes: SftpProbes
) -> tuple[dict[str, object], int]:
    """The /health document and its HTTP status."""
    database = database_health(engine)
    if not database["ok"]:
        return {"status": "fel", "version": __version__, "database": database}, 503
    far = dependency_state(engine, FAR)
    try:
        certificates = certificates_health(engine, settings, now)
    except SQLAlchemyError as error:
        certificates = [{"status": "unreadable", "detail": f"databasen: {type(error).__name__}"}]
    drops = print_drop_health(settings, probes)
    degraded = (
        far.status == DEGRADED
        or any(entry["status"] != "ok" for entry in certificates)
        or any(entry["status"] != "ok" for entry in drops)
    )
    return {
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "database": database,
        "far": far.as_json(),
        "certificates": certificates,
        "print_drop": drops,
    }, 200


def include_health(app: FastAPI, engine: Engine, settings: Settings, adapters: Adapters) -> None:
    """Add `GET /health` (see the module text) to the app."""
    probes = SftpProbes()

    @app.get("/health", tags=["drift"], summary="Hälsokontroll")
    def health() -> JSONResponse:
        """200 when the service and its database are ready; 503 with the reason otherwise.

        `status` is `degraded` (still 200) when FaR is down, a certificate is within a
        warning threshold, expired or unreadable, or a print drop cannot be reached: the
        service takes letters, and `far`, `certificates` and `print_drop` say what needs
        attention (see docs/operations.md).
        """
        document, status_code = health_answer(engine, settings, adapters.clock(), probes)
        return JSONResponse(document, status_code=status_code)
