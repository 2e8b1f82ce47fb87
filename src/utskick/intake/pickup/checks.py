"""What is wrong with a source before it picks anything up, said in Swedish (`sources check`).

The sources file itself is checked when it is read (`sources.load_sources`); here each source
is checked against the installation: its sending system, sender and message type exist, its
folder is there and writable, its SFTP address is well formed and its key files exist. The
SFTP server itself is not called: the first poll says whether it answers.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.intake.sources import Source
from utskick.letters.repository import LetterRepository
from utskick.senders.repository import SendingSystemRepository
from utskick.settings import sftp_address


def source_problems(session: Session, source: Source) -> list[str]:
    """Every problem of the source, each a sentence that says what to do; none: it is fine."""
    problems = _system_problems(session, source)
    if source.message_type and LetterRepository(session).message_type(source.message_type) is None:
        problems.append(
            f"meddelandetypen {source.message_type!r} finns inte; lägg till den eller rätta "
            "message_type"
        )
    if source.folder is not None:
        problems.extend(_folder_problems(source.folder))
    if source.sftp_url is not None:
        problems.extend(_sftp_problems(source))
    return problems


def _system_problems(session: Session, source: Source) -> list[str]:
    system = SendingSystemRepository(session).by_name(source.system)
    if system is None:
        return [
            (
                f"systemet {source.system!r} finns inte; lägg till det med utskick systems add "
                "eller rätta system"
            )
        ]
    if source.sender is None:
        if len(system.sender_numbers) != 1:
            return [
                (
                    f"systemet {source.system!r} skickar för flera avsändare "
                    f"({', '.join(system.sender_numbers)}); ange sender för källan"
                )
            ]
        return []
    try:
        number = parse_organisation(source.sender).organisation_number
    except InvalidIdentityError as error:
        return [f"sender {source.sender!r} är inget organisationsnummer ({error.problem})"]
    if number not in system.sender_numbers:
        return [
            (
                f"systemet {source.system!r} får inte skicka för avsändaren {source.sender}; "
                f"det skickar för {', '.join(system.sender_numbers) or 'ingen'}"
            )
        ]
    return []


def _folder_problems(folder: Path) -> list[str]:
    if not folder.is_dir():
        return [f"mappen {folder} finns inte; skapa den eller rätta folder"]
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return [
            (
                f"Utskick får inte läsa och skriva i mappen {folder}; ge användaren som kör "
                "Utskick rätt till den"
            )
        ]
    return []


def _sftp_problems(source: Source) -> list[str]:
    assert source.sftp_url is not None
    problems: list[str] = []
    try:
        sftp_address(source.sftp_url)
    except ValueError as error:
        problems.append(str(error))
    for key, path in (
        ("sftp_key_file", source.sftp_key_file),
        ("sftp_known_hosts", source.sftp_known_hosts),
    ):
        if path is not None and not path.is_file():
            problems.append(f"filen {path} ({key}) finns inte")
    return problems
