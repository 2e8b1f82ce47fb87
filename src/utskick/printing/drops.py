"""Where print vendors pick up batches: the `Drop` port, the folder drop, and choosing one.

A drop takes a finished working folder and makes it appear under the batch's name in one
step, so that a vendor sees the whole batch or nothing. The folder drop renames the working
folder into place inside the vendor's folder; the SFTP drop (`utskick.printing.sftp`)
uploads it into a hidden working folder on the vendor's server and has the server rename
it. Both keep their working folders under `WORK_FOLDER`, a name starting with a dot, which
vendors must ignore.

A drop also answers whether a batch is already whole in it (a hand-over that died after the
rename, before the database knew): the folder's manifest must name the batch, and every file
in it must match its checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

WORK_FOLDER = ".utskick-tmp"
MANIFEST_JSON = "manifest.json"


class HandoverError(RuntimeError):
    """A batch cannot be handed over as it is; the message says why (Swedish)."""


class DropUnavailableError(HandoverError):
    """The vendor's drop cannot be reached now; handing over again later may work."""


class Drop(Protocol):
    """Where a vendor picks up batches: a folder or an SFTP server."""

    def location(self, name: str) -> str:
        """Where the vendor finds the batch folder `name`, for people to read."""
        ...

    def complete(self, name: str, batch_id: str) -> bytes | None:
        """The manifest of the batch's folder when it is already whole in the drop, else None.

        Raises:
            HandoverError: a folder of that name is there but is not this batch's, or a file
                in its manifest is missing or differs.
        """
        ...

    def publish(self, work: Path, name: str) -> None:
        """Make the finished working folder `work` appear in the drop as `name`, in one step."""
        ...


class FolderDrop:
    """A drop that is a folder: the working folder is renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def location(self, name: str) -> str:
        """The batch folder's path."""
        return str(self.root / name)

    def complete(self, name: str, batch_id: str) -> bytes | None:
        """The manifest of the batch's folder when it is already in place (see `Drop`)."""
        target = self.root / name
        if not _complete_folder(target, batch_id):
            return None
        return (target / MANIFEST_JSON).read_bytes()

    def publish(self, work: Path, name: str) -> None:
        """Rename the working folder into place and make the rename durable."""
        work.replace(self.root / name)
        sync_folder(self.root)


def check_folder(manifest: bytes, batch_id: str, where: str, digest: Callable[[str], str]) -> None:
    """Check that a batch folder found in a drop is this batch's and whole.

    Args:
        manifest: the folder's manifest.json.
        batch_id: the batch being handed over.
        where: the folder, as people know it (for the message).
        digest: a file's SHA-256 (hex) by its name in the manifest; "" when it is missing.

    Raises:
        HandoverError: the folder belongs to another batch, or a file of it is missing or
            differs: it must not be recorded as handed over.
    """
    try:
        parsed = json.loads(manifest.decode("utf-8"))
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict) or parsed.get("batch_id") != batch_id:
        raise HandoverError(
            f"mappen {where} finns redan i tryckeriets mapp men hör inte till batchen; "
            "flytta undan den och lämna över igen"
        )
    checked: dict[str, str] = {}
    for row in parsed.get("letters", []):
        if row["file"] not in checked:
            checked[row["file"]] = digest(row["file"])
        if checked[row["file"]] != row["sha256"]:
            raise HandoverError(
                f"mappen {where} är skadad ({row['file']} saknas eller är ändrad); "
                "kontakta tryckeriet innan batchen lämnas över igen"
            )


def sync_folder(path: Path) -> None:
    """Flush a folder's entries to disk, so that files created or renamed in it stay."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _complete_folder(target: Path, batch_id: str) -> bool:
    """Whether the batch's folder is already in place (a crash after the rename).

    Raises:
        HandoverError: a folder of this batch is there but a file in its manifest is missing
            or differs: it must not be recorded as handed over.
    """
    manifest_path = target / MANIFEST_JSON
    if not manifest_path.is_file():
        return False
    try:
        content = manifest_path.read_bytes()
    except OSError:
        content = b""

    def digest(file_name: str) -> str:
        file = target / file_name
        return hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else ""

    check_folder(content, batch_id, str(target), digest)
    return True
