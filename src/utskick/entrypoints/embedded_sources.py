"""The embedded default's watched folder: a finance system that drops invoices as a print file.

On the first start the demo gets a sending system "Ekonomisystemet" (for Exempelkommun) and,
unless a sources file is set or already there, `<home>/sources.toml` with one source,
`ekonomisystem`: its folder `<home>/inkorg/ekonomisystem` is polled every few seconds for
print files with a control file beside them (`docs/examples/fakturor.pdf` and
`fakturor.csv` show the shape), whose pages already carry the address in the envelope
window. An administrator's own sources file is never touched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from utskick.intake.sources import sources_path
from utskick.mm.private_files import create_private_folders, write_private_file
from utskick.reference.runner import Listing
from utskick.reference.world import EXEMPELKOMMUN
from utskick.senders import systems
from utskick.settings import Settings

DEMO_SOURCE_SYSTEM = "Ekonomisystemet"
DEMO_SOURCE = "ekonomisystem"
_SOURCES_TEXT = """\
# Sources that hand in files (see docs/operations.md, "Ways in"). Written by the embedded
# default on its first start; edit it freely, it is not written again.

[[source]]
name = "{name}"
system = "{system}"
department = "Ekonomi"
message_type = "faktura"
subject = "Faktura från Exempelkommun"
paper_layout = "address-in-window"
folder = "{folder}"
poll_seconds = 3
stable_seconds = 2

[source.recipient]
rule = "control-file"
"""


def seed_demo_source(session: Session, settings: Settings, now: dt.datetime) -> Path | None:
    """Make sure the demo's finance system and its watched folder exist (caller commits).

    Returns:
        The watched folder, or None when the sources are the administrator's own.
    """
    try:
        systems.find_sending_system(session, DEMO_SOURCE_SYSTEM)
    except systems.SendingSystemError:
        systems.create_sending_system(
            session, name=DEMO_SOURCE_SYSTEM, sender_numbers=[EXEMPELKOMMUN], now=now
        )
    if settings.sources_file is not None:
        return None
    folder = (settings.home / "inkorg" / DEMO_SOURCE).resolve()
    path = sources_path(settings)
    if path.exists():
        return folder if folder.is_dir() else None
    create_private_folders(folder)
    write_private_file(
        path,
        _SOURCES_TEXT.format(name=DEMO_SOURCE, system=DEMO_SOURCE_SYSTEM, folder=folder).encode(),
    )
    return folder


def source_listing(folder: Path | None) -> list[Listing]:
    """The watched folder's line in `utskick serve`'s listing."""
    if folder is None:
        return []
    return [Listing("Bevakad mapp (ekonomisystemet: utskriftsfil + styrfil)", str(folder))]
