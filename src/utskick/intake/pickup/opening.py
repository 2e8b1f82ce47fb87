"""A source's folder opened for one poll: the local folder, or a session with its SFTP server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from utskick.intake.pickup.folders import (
    LocalFolder,
    PickupFolder,
    PickupFolderError,
    PickupUnavailableError,
)
from utskick.intake.sources import Source


@contextlib.contextmanager
def open_folder(source: Source) -> Iterator[PickupFolder]:
    """The source's folder for one poll (an SFTP connection is closed afterwards).

    Raises:
        PickupFolderError: the source picks up nowhere, or its SFTP settings are wrong.
        PickupUnavailableError: the folder or server cannot be reached now.
    """
    if source.folder is not None:
        if not source.folder.is_dir():
            raise PickupUnavailableError(
                f"källan {source.name}: mappen {source.folder} finns inte eller är ingen mapp; "
                "skapa den (eller koppla in den igen) eller rätta folder i källfilen. Filerna "
                "hämtas när den finns"
            )
        yield LocalFolder(source.folder)
        return
    if source.sftp_url is None:
        raise PickupFolderError(f"källan {source.name} har varken folder eller sftp_url")
    # paramiko (+0.1 s) is loaded only by polls of sources on SFTP servers.
    from utskick.intake.pickup.sftp import SftpFolder  # noqa: PLC0415

    with SftpFolder.connected(source) as folder:
        yield folder
