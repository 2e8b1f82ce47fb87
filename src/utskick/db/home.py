"""The installation's home folder (`UTSKICK_HOME`, default ./var): its owner's alone.

The home holds the SQLite database, the demo PKI and API key, the session secret and the
default print drop, so it is created with mode 0700 and every file Utskick writes in it with
0600 (`utskick.mm.private_files`). A home, or a file in it, left readable by others by an
older version is tightened when a command opens the installation, and the log says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from utskick.mm.private_files import private_folder, tighten, tighten_tree
from utskick.settings import Settings

# Files Utskick keeps directly in the home (the databases are seen to by their engines).
SECRET_FILES = ("demo-api-key", "demo-users.txt", "session-secret")
# Folders in the home that hold only what Utskick wrote (keys, letters to print).
OWN_FOLDERS = ("pki", "reference-keys", "print-drop", "keys")
# What Utskick writes into a print drop that is not its own folder: the working and lock
# folders, and a folder per batch (it holds a manifest.json).
_DROP_FOLDERS = (".utskick-tmp", ".utskick-locks")
_MANIFEST = "manifest.json"


def prepare_home(settings: Settings) -> Path:
    """Create the home with mode 0700, or tighten it and what Utskick keeps in it.

    A configured print drop outside the home is not Utskick's to tighten as a whole (an
    administrator made it, perhaps for a pickup agent); only the folders Utskick wrote into
    it are.

    Returns:
        The home folder.
    """
    home = private_folder(settings.home)
    for name in SECRET_FILES:
        tighten(home / name)
    for name in OWN_FOLDERS:
        tighten_tree(home / name)
    own_drops = (home / "print-drop").resolve()
    for vendor in settings.print_vendors:
        drop = settings.vendor_drop(vendor).resolve()
        if not drop.is_relative_to(own_drops):
            tighten_drop(drop)
    return home


def tighten_drop(drop: Path) -> None:
    """Tighten the folders Utskick wrote into a print drop (batches, working, locks)."""
    try:
        entries = list(os.scandir(drop))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if entry.name in _DROP_FOLDERS or (path / _MANIFEST).is_file():
            tighten_tree(path)
