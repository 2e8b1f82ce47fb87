"""The key the diarium stand-in shares with the connector, generated once for the demo.

The connector signs every registration call with it (HMAC-SHA256) and the stand-in checks
the signature. The key is the UTF-8 bytes of a text, so that the same value can be set in
both parties' settings; the demo's is 32 random bytes in URL-safe base64, kept in a file
only its owner may read.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from utskick.mm.private_files import write_private_file

KEY_FILE_NAME = "diarium-secret"
SECRET_BYTES = 32


def shared_secret(folder: Path, configured: str | None = None) -> bytes:
    """The shared key: the configured text, else the one kept in `folder`, made on first use.

    Raises:
        ValueError: the configured key is empty (the message says so in Swedish).
    """
    if configured is not None:
        if not configured.strip():
            raise ValueError(
                "nyckeln som diariet delar med Utskick är tom; ange en lång slumpmässig text "
                "eller ta bort inställningen så skapas en"
            )
        return configured.encode("utf-8")
    path = folder / KEY_FILE_NAME
    if not path.exists():
        _create_once(path)
    return path.read_bytes().strip()


def _create_once(path: Path) -> None:
    """Write a new key to `path` unless another process just did: the first one stays.

    The key is written whole to a file of its own and then linked to `path`, which fails if
    `path` exists: `utskick serve` and a command started beside it never hold two keys.
    """
    candidate = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    write_private_file(candidate, secrets.token_urlsafe(SECRET_BYTES).encode("ascii") + b"\n")
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass  # another process made it first; its key is the one
    finally:
        candidate.unlink(missing_ok=True)
