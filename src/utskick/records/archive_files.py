"""The files of an archive package as the METS and PREMIS files list them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from pathlib import Path

PDF = "application/pdf"
XML = "application/xml"
TEXT = "text/plain"

# What may stand in a file name inside a package: anything else becomes "_", so a name
# never climbs out of its folder and every archive's file system can hold it.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_LENGTH = 100


@dataclasses.dataclass(frozen=True)
class PackageFile:
    """One file written into a package: where, how large, its SHA-256 (hex) and type."""

    path: str  # relative to the package's root, with "/"
    size: int
    sha256: str
    mimetype: str
    created: dt.datetime
    letter_id: str | None = None  # the letter it belongs to, for a letter's files

    def relative_to(self, folder: str) -> str:
        """The path relative to `folder` (a folder of the package, e.g. a representation)."""
        prefix = folder.rstrip("/") + "/"
        return self.path.removeprefix(prefix)


def safe_name(name: str) -> str:
    """A file name made safe for a package (letters, digits, `.`, `_` and `-`)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "fil"
    return cleaned[-NAME_LENGTH:]


def write_file(
    root: Path,
    relative: str,
    content: bytes,
    *,
    mimetype: str,
    created: dt.datetime,
    letter_id: str | None = None,
) -> PackageFile:
    """Write `content` under the package's root; the file as METS will list it."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)  # made durable once per package (`archive._durable`)
    return PackageFile(
        path=relative,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        mimetype=mimetype,
        created=created,
        letter_id=letter_id,
    )


def describe_file(root: Path, relative: str, *, mimetype: str, created: dt.datetime) -> PackageFile:
    """A file already written under the package's root (read once to hash it)."""
    digest = hashlib.sha256()
    path = root / relative
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return PackageFile(relative, path.stat().st_size, digest.hexdigest(), mimetype, created)
