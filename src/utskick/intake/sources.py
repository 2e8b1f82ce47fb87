"""The sources that hand in files: one business system's folder, its rules and its defaults.

Sources are configuration, read from a TOML file (`UTSKICK_SOURCES_FILE`, by default
`sources.toml` in the home folder), so that IT can review them like any other setting. Each
`[[source]]` names the sending system its letters come from, where its files are picked up
(a local `folder` or an `sftp_url`), how a print file's recipients are found
(`[source.recipient]`) and what its letters say when the file does not say it:

```toml
[[source]]
name = "ekonomisystem"
system = "Ekonomisystemet"
department = "Ekonomi"
message_type = "faktura"
subject = "Faktura från Exempelkommun"
paper_layout = "address-in-window"
folder = "/srv/utskick/ekonomisystem"

[source.recipient]
rule = "control-file"
```

A file that cannot be read, or a source that names what does not exist, is refused at start
with a Swedish message that says which source and what to do (`SourcesError`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from utskick.letters import vocabulary
from utskick.settings import Settings

SOURCES_FILE = "sources.toml"
DEFAULT_BODY = "Brevet finns i den bifogade PDF-filen."

RecipientRuleKind = Literal["control-file", "anchor", "filename", "form-field", "metadata"]
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class SourcesError(ValueError):
    """The sources file cannot be used; `message` says in Swedish what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class RecipientRule(BaseModel):
    """How the recipient of each letter in a print file is found, and so how it is split.

    - `control-file`: a CSV or JSON file beside the PDF (same name, `.csv` or `.json`) gives
      each letter's pages, recipient, subject and message type; it splits the file.
    - `anchor`: a text such as `Personnummer:` on a letter's first page, followed by the
      number; every page with the anchor starts a letter. `area_mm` (left, top, right,
      bottom in millimetres from the page's top left) limits where it is looked for.
    - `filename`: the number in the file's name (`191212121212_beslut.pdf`); one letter.
    - `form-field`: a PDF form field named `field`; one letter.
    - `metadata`: the XMP or document-information entry `field`; one letter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: RecipientRuleKind
    field: str | None = Field(default=None, max_length=200)
    pattern: str | None = Field(default=None, max_length=500)
    label: str = Field(default="Personnummer:", min_length=1, max_length=100)
    area_mm: tuple[float, float, float, float] | None = None

    @model_validator(mode="after")
    def _complete(self) -> RecipientRule:
        if self.rule in ("form-field", "metadata") and not self.field:
            msg = f"regeln {self.rule} behöver field = namnet på fältet som har personnumret"
            raise ValueError(msg)
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                msg = f"pattern är inget giltigt reguljärt uttryck ({error})"
                raise ValueError(msg) from None
        return self


class Source(BaseModel):
    """One source of files: whose they are, where they lie, and what their letters say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    system: str = Field(min_length=1, max_length=200, description="The sending system's name.")
    sender: str | None = Field(
        default=None, description="The sender organisation; default: the system's only one."
    )
    department: str | None = Field(default=None, max_length=200)
    message_type: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=255)
    body: str = Field(default=DEFAULT_BODY, min_length=1, max_length=10_000)
    policy: str = vocabulary.DIGITAL_OR_PAPER
    paper_layout: str | None = None
    recipient: RecipientRule = RecipientRule(rule="control-file")
    folder: Path | None = None
    sftp_url: str | None = None
    sftp_key_file: Path | None = None
    sftp_known_hosts: Path | None = None
    poll_seconds: float = Field(default=10.0, gt=0, le=3600)
    # A file that is not renamed into place is taken once its size and time have not
    # changed for this long (a file still being written grows).
    stable_seconds: float = Field(default=5.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _valid(self) -> Source:
        if not _NAME.fullmatch(self.name):
            msg = "name får bara ha små bokstäver a-z, siffror, - och _ (högst 64 tecken)"
            raise ValueError(msg)
        if self.policy not in vocabulary.POLICIES:
            msg = f"policy ska vara en av {', '.join(vocabulary.POLICIES)}"
            raise ValueError(msg)
        if self.paper_layout is not None and self.paper_layout not in vocabulary.PAPER_LAYOUTS:
            msg = f"paper_layout ska vara {', '.join(vocabulary.PAPER_LAYOUTS)} eller utelämnas"
            raise ValueError(msg)
        if self.folder is not None and self.sftp_url is not None:
            msg = "ange antingen folder eller sftp_url, inte båda"
            raise ValueError(msg)
        if self.sftp_url is not None and not self.sftp_url.startswith("sftp://"):
            msg = "sftp_url ska börja med sftp://"
            raise ValueError(msg)
        return self

    @property
    def picks_up(self) -> bool:
        """Whether Utskick looks in a folder of this source (else it only names rules)."""
        return self.folder is not None or self.sftp_url is not None


class _SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: list[Source] = Field(default_factory=list)


def sources_path(settings: Settings) -> Path:
    """The sources file in use: the setting, or `sources.toml` in the home folder."""
    return settings.sources_file or settings.home / SOURCES_FILE


def load_sources(settings: Settings) -> list[Source]:
    """The configured sources; none if there is no sources file (and none was named).

    Local folders are made absolute against the current directory, as the sources file is
    read where Utskick was started.

    Raises:
        SourcesError: the file named cannot be read, is no TOML, or a source is invalid.
    """
    path = sources_path(settings)
    if not path.exists():
        if settings.sources_file is not None:
            msg = f"källfilen {path} finns inte; skapa den eller ta bort UTSKICK_SOURCES_FILE"
            raise SourcesError(msg)
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        msg = f"källfilen {path} går inte att läsa som TOML: {error}"
        raise SourcesError(msg) from None
    try:
        parsed = _SourcesFile.model_validate(data)
    except ValidationError as error:
        raise SourcesError(_explained(path, data, error)) from None
    names = [source.name for source in parsed.source]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        msg = (
            f"källfilen {path}: källan {repeated[0]!r} finns mer än en gång; "
            "ge varje källa ett eget namn"
        )
        raise SourcesError(msg)
    return [
        source.model_copy(update={"folder": source.folder.resolve()})
        if source.folder is not None
        else source
        for source in parsed.source
    ]


def source_named(sources: list[Source], name: str) -> Source | None:
    """The source of that name, or None."""
    return next((source for source in sources if source.name == name), None)


def _explained(path: Path, data: dict[str, object], error: ValidationError) -> str:
    """The first problem of the file, naming the source and the key, in Swedish."""
    problem = error.errors()[0]
    location = list(problem["loc"])
    where = ""
    if len(location) >= 2 and location[0] == "source" and isinstance(location[1], int):  # noqa: PLR2004
        sources = data.get("source")
        name = None
        if isinstance(sources, list) and location[1] < len(sources):
            entry = sources[location[1]]
            name = entry.get("name") if isinstance(entry, dict) else None
        where = f"källan {name!r}" if name else f"källa nummer {location[1] + 1}"
        location = location[2:]
    key = ".".join(str(part) for part in location)
    message = str(problem["msg"]).removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "okänd nyckel; kontrollera stavningen"
    elif problem["type"] == "missing":
        message = "saknas men måste anges"
    parts = [part for part in (where, key) if part]
    return f"källfilen {path}: {', '.join(parts)}: {message}"
