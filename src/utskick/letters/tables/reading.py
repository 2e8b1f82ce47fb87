"""A table as Excel writes it: CSV or XLSX, read row by row, with the numbers Excel shows.

The desk's mass mailing reads the officer's table of recipients with it, and the batches of
the API, the command line and the watched folders read their tables of letters. Two formats
come in: CSV (Swedish Excel separates with `;`, others with `,` or a tab, and the encoding is
UTF-8 with or without BOM, or Windows-1252 from older Excel) and XLSX. The format is told from
the file's first bytes, never from its name. Rows are read one at a time, so a file of 50,000
rows costs no more memory than one of fifty, and a table can be read again from the start
(once to check it, once to use it). Row numbers are the ones a person sees in Excel: the header
is row 1 (or the first row that is not empty), the first row of data usually row 2.

A file that is not a table, or that cannot be read as one, is refused with `TableRefusedError`,
whose message says in Swedish what is wrong and what to do.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import math
import re
import zipfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

import openpyxl  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

DEFAULT_MAX_ROWS = 50_000


DEFAULT_MAX_BYTES = 20 * 1024 * 1024


MAX_COLUMNS = 200


MAX_COLUMN_NAME_LENGTH = 100


# A workbook is a ZIP archive: what it unpacks to is bounded, so that a small upload cannot
# unpack to gigabytes.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024


# Nor a few kilobytes to hundreds of megabytes of XML, which take minutes to read: a part may
# unpack to 100 times its packed size (Excel's pack 5 to 30 to one), or to a megabyte.
MAX_XLSX_PACKING_RATIO = 100
XLSX_PACKING_GRACE_BYTES = 1024 * 1024


SAVE_AS = "spara den från Excel som 'CSV UTF-8' eller 'Excel-arbetsbok (.xlsx)' och försök igen"


FileFormat = Literal["csv", "xlsx"]


# Ties between separators in the header are decided in this order: Swedish Excel writes `;`.
_SEPARATORS = (";", "\t", ",")
_SEPARATOR_NAMES = {";": "semikolon", "\t": "tabb", ",": "kommatecken"}
_CHUNK_BYTES = 64 * 1024
_MEGABYTE = 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_PDF_MAGIC = b"%PDF"
# The compound file of Excel 97-2003 (.xls), also the wrapper of a password-protected .xlsx.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
# A first row that holds only digits and separators is a recipient, not a header.
_LOOKS_LIKE_A_NUMBER = re.compile(r"[\d\s+\-]*\d{6}[\d\s+\-]*")
# Number formats that show an integer zero-padded, as Swedish Excel's "Personnummer" format does.
_ZERO_PADDED_FORMAT = re.compile(r"(0+)(-0+)?")
# What openpyxl raises for a ZIP file that is not a readable workbook.
_BROKEN_WORKBOOK = (
    InvalidFileException,
    zipfile.BadZipFile,
    OSError,
    KeyError,
    ValueError,
    TypeError,
    SyntaxError,  # xml.etree's ParseError
)

Records = Callable[[], Generator[tuple[int, list[str]], None, None]]


class TableRefusedError(ValueError):
    """A file that cannot be read as a table of recipients; `message` says why, in Swedish."""

    def __init__(self, message: str, row_number: int | None = None) -> None:
        self.message = message
        self.row_number = row_number
        super().__init__(message)


class Table:
    """An uploaded table: its column names, and its rows read anew on every call to `rows`."""

    def __init__(
        self,
        *,
        columns: list[str],
        header_row: int,
        file_format: FileFormat,
        separator: str | None,
        records: Records,
        max_rows: int,
    ) -> None:
        self.columns = columns
        self.header_row = header_row
        self.file_format = file_format
        self.separator = separator
        self.max_rows = max_rows
        self._records = records

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Each row under the header that is not empty: (Excel row number, column → text).

        Texts are trimmed; a row with fewer values than columns has "" for the rest. With a
        stream as source, read one iteration at a time: each starts again from the beginning.

        Raises:
            TableRefusedError: more rows than `max_rows`, a value in a column without a
                header, or a part of the file that cannot be read (named by its row).
        """
        count = 0
        with contextlib.closing(self._records()) as records:
            for row_number, values in records:
                if row_number <= self.header_row:
                    continue
                count += 1
                if count > self.max_rows:
                    raise TableRefusedError(
                        f"Filen har fler än {_number(self.max_rows)} mottagare (gränsen nåddes "
                        f"på rad {row_number}); dela upp den i flera filer med högst "
                        f"{_number(self.max_rows)} rader var",
                        row_number,
                    )
                yield row_number, self._as_row(row_number, values)

    def _as_row(self, row_number: int, values: list[str]) -> dict[str, str]:
        width = len(self.columns)
        extra = next((i for i in range(width, len(values)) if values[i]), None)
        if extra is not None:
            hint = ""
            if self.separator is not None:
                hint = (
                    f" (i en CSV-fil: sätt värden som innehåller "
                    f"{_SEPARATOR_NAMES[self.separator]} inom citattecken)"
                )
            raise TableRefusedError(
                f"Rad {row_number} har ett värde i kolumn {get_column_letter(extra + 1)}, som "
                f"saknar rubrik; ge kolumnen en rubrik på rad {self.header_row} eller ta bort "
                f"värdet{hint}",
                row_number,
            )
        padded = values[:width] + [""] * (width - len(values))
        return dict(zip(self.columns, padded, strict=True))


def read_table(
    source: BinaryIO | Path,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Table:
    """Open an uploaded CSV or XLSX file as a table: its header, and a check that rows follow.

    A CSV file is decoded once, in chunks, to tell its encoding; nothing else is read past the
    first row under the header. The row limit is checked as `Table.rows` reads.
    A stream must be seekable (an upload spooled to memory or disk is); it is read from the
    start on every pass and never closed here. A path is opened anew on every pass.

    Raises:
        TableRefusedError: empty, too large, not CSV or XLSX, no usable header, no rows.
    """
    size = _size_of(source)
    if size == 0:
        raise TableRefusedError("Filen är tom; välj filen med mottagarna och försök igen")
    if size > max_bytes:
        raise TableRefusedError(
            f"Filen är {_size(size)}, men högst {_size(max_bytes)} tas emot; "
            "dela upp mottagarna i flera filer"
        )
    with _opened(source) as stream:
        head = stream.read(len(_ZIP_MAGIC))
    separator: str | None = None
    if _file_format(head) == "xlsx":
        with _opened(source) as stream:
            _check_unpacked_size(stream)
        file_format: FileFormat = "xlsx"
        records: Records = functools.partial(_xlsx_records, source)
    else:
        file_format = "csv"
        encoding = _csv_encoding(source)
        separator = _csv_separator(source, encoding)
        records = functools.partial(_csv_records, source, encoding, separator)
    header_row, columns = _header(records)
    return Table(
        columns=columns,
        header_row=header_row,
        file_format=file_format,
        separator=separator,
        records=records,
        max_rows=max_rows,
    )


def _size_of(source: BinaryIO | Path) -> int:
    if isinstance(source, Path):
        return source.stat().st_size
    if not source.seekable():
        raise TypeError("read_table needs a seekable stream: the table is read more than once")
    return source.seek(0, io.SEEK_END)


@contextlib.contextmanager
def _opened(source: BinaryIO | Path) -> Iterator[BinaryIO]:
    """The file from its first byte; a caller's stream is rewound and left open."""
    if isinstance(source, Path):
        with source.open("rb") as stream:
            yield stream
    else:
        source.seek(0)
        yield source


def _file_format(head: bytes) -> FileFormat:
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_PDF_MAGIC):
        raise TableRefusedError(f"Filen är en PDF, inte en tabell med mottagare; {SAVE_AS}")
    if head.startswith(_OLE2_MAGIC):
        raise TableRefusedError(
            "Filen är en äldre Excel-fil (.xls) eller en lösenordsskyddad arbetsbok, som inte "
            f"kan läsas; ta bort ett eventuellt lösenord och {SAVE_AS}"
        )
    return "csv"


def _header(records: Records) -> tuple[int, list[str]]:
    """The header's row number and the column names; refused if no row follows it."""
    with contextlib.closing(records()) as rows:
        first = next(rows, None)
        if first is None:
            raise TableRefusedError(
                "Filen har inga rader; första raden ska ha kolumnrubriker (till exempel "
                "Personnummer, Namn) och varje rad under den en mottagare"
            )
        header_row, names = first
        columns = _column_names(header_row, names)
        if next(rows, None) is None:
            raise TableRefusedError(
                f"Filen har bara en rubrikrad (rad {header_row}) och inga mottagare; lägg till "
                "en rad per mottagare under rubrikerna"
            )
    return header_row, columns


def _column_names(header_row: int, names: list[str]) -> list[str]:
    """The header's names, whitespace collapsed; empty, duplicate or odd names refused."""
    columns = [" ".join(name.split()) for name in names]
    while columns and not columns[-1]:
        columns.pop()
    if len(columns) > MAX_COLUMNS:
        raise TableRefusedError(
            f"Rad {header_row} har {len(columns)} kolumner, men högst {MAX_COLUMNS} tas emot; "
            "ta bort de kolumner som inte behövs för utskicket"
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(columns):
        letter = get_column_letter(index + 1)
        if not name:
            raise TableRefusedError(
                f"Kolumn {letter} saknar rubrik på rad {header_row}; ge varje kolumn en rubrik "
                "(till exempel Personnummer, Namn) eller ta bort den tomma kolumnen"
            )
        if _LOOKS_LIKE_A_NUMBER.fullmatch(name):
            raise TableRefusedError(
                f"Rad {header_row} ser ut att vara en mottagare ({name}), inte kolumnrubriker; "
                "lägg till en rad överst med en rubrik för varje kolumn, till exempel Personnummer"
            )
        if len(name) > MAX_COLUMN_NAME_LENGTH:
            raise TableRefusedError(
                f"Rubriken i kolumn {letter} har {len(name)} tecken; rad {header_row} ska ha "
                f"korta kolumnrubriker (högst {MAX_COLUMN_NAME_LENGTH} tecken), inte text"
            )
        earlier = seen.setdefault(name.casefold(), index)
        if earlier != index:
            raise TableRefusedError(
                f"Rubriken {name!r} finns i både kolumn {get_column_letter(earlier + 1)} och "
                f"kolumn {letter}; ge kolumnerna olika namn"
            )
    return columns


# CSV -------------------------------------------------------------------------------------------


def _csv_encoding(source: BinaryIO | Path) -> str:
    """UTF-16 by its BOM, else UTF-8 if every byte decodes as such, else Windows-1252.

    The whole file is decoded, in chunks: a Windows-1252 file may hold its first å far down.
    """
    with _opened(source) as stream:
        head = stream.read(2)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "cp1252")
    for encoding in candidates:
        with _opened(source) as stream:
            if _decodes(stream, encoding):
                return encoding
    raise TableRefusedError(
        f"Filen är ingen CSV- eller XLSX-fil (den innehåller tecken som inte är text); {SAVE_AS}"
    )


def _decodes(stream: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := stream.read(_CHUNK_BYTES):
            if "\x00" in decoder.decode(chunk):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@contextlib.contextmanager
def _text(source: BinaryIO | Path, encoding: str) -> Iterator[io.TextIOWrapper]:
    """The file as text; detached afterwards, so that a caller's stream stays open."""
    with _opened(source) as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")
        try:
            yield text
        finally:
            text.detach()


def _csv_separator(source: BinaryIO | Path, encoding: str) -> str:
    """The separator found most often outside quotes in the first line that is not empty."""
    with _text(source, encoding) as text:
        line = next((line for line in text if line.strip(' \t;,"\r\n')), "")
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(_SEPARATORS, key=counts.__getitem__)


def _csv_records(
    source: BinaryIO | Path, encoding: str, separator: str
) -> Generator[tuple[int, list[str]], None, None]:
    """Every record that is not empty, numbered as Excel numbers the rows of the file."""
    row_number = 0
    with _text(source, encoding) as text:
        reader = csv.reader(text, delimiter=separator)
        try:
            for row_number, cells in enumerate(reader, start=1):
                values = [cell.strip() for cell in cells]
                if any(values):
                    yield row_number, values
        except csv.Error as error:
            raise TableRefusedError(
                f"Rad {row_number + 1} går inte att läsa som CSV ({error}); kontrollera "
                f'citattecknen (") på raden och raderna närmast före, eller {SAVE_AS}',
                row_number + 1,
            ) from None


# XLSX ------------------------------------------------------------------------------------------


def _check_unpacked_size(stream: BinaryIO) -> None:
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile:
        raise _not_a_workbook() from None
    unpacked = sum(info.file_size for info in parts)
    packed_hard = next((info for info in parts if _packed_too_hard(info)), None)
    if packed_hard is not None:
        raise TableRefusedError(
            f"Arbetsboken är packad ovanligt hårt: en del av den ({packed_hard.filename}) packas "
            f"upp till {_size(packed_hard.file_size)} ur {_size(packed_hard.compress_size)}, "
            "vilket Excel inte skriver; öppna den i Excel och spara den igen, eller spara "
            "mottagarna som 'CSV UTF-8'"
        )
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise TableRefusedError(
            f"Arbetsboken packas upp till {_size(unpacked)}, men högst "
            f"{_size(MAX_XLSX_UNPACKED_BYTES)} tas emot; ta bort andra blad, bilder och "
            "formatering, eller spara mottagarna som 'CSV UTF-8'"
        )


def _packed_too_hard(info: zipfile.ZipInfo) -> bool:
    """Whether a part unpacks to more than its share (see `MAX_XLSX_PACKING_RATIO`)."""
    allowed = max(XLSX_PACKING_GRACE_BYTES, info.compress_size * MAX_XLSX_PACKING_RATIO)
    return info.file_size > allowed


def _not_a_workbook() -> TableRefusedError:
    return TableRefusedError(
        "Filen är en ZIP-fil men ingen Excel-arbetsbok som går att läsa (kanske ett "
        f"Word-dokument eller en OpenDocument-fil); {SAVE_AS}"
    )


def _xlsx_records(source: BinaryIO | Path) -> Generator[tuple[int, list[str]], None, None]:
    """Every row of the first sheet that is not empty, with its row number in Excel."""
    with _opened(source) as stream:
        try:
            workbook = openpyxl.load_workbook(
                stream, read_only=True, data_only=True, keep_links=False
            )
        except _BROKEN_WORKBOOK:
            raise _not_a_workbook() from None
        row_number = 0
        try:
            sheet = workbook.worksheets[0]
            # The stored dimensions may be wrong (some programs write "A1"); trusting them
            # would cut the table short.
            sheet.reset_dimensions()
            for row_number, cells in enumerate(sheet.iter_rows(), start=1):
                values = [cell_text(cell.value, cell.number_format) for cell in cells]
                if any(values):
                    yield row_number, values
        except _BROKEN_WORKBOOK:
            raise TableRefusedError(
                f"Arbetsboken är skadad och kan inte läsas från rad {row_number + 1}; öppna "
                f"den i Excel och {SAVE_AS}",
                row_number + 1,
            ) from None
        finally:
            workbook.close()


def cell_text(value: Any, number_format: str | None = None) -> str:
    """A cell's value as the officer sees it in Swedish Excel.

    Integers without `.0` (and zero-padded when the cell's format says so, as Excel's
    "Personnummer" format `000000-0000` does), decimals with a decimal comma, dates as
    YYYY-MM-DD, an empty cell as "".
    """
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):  # before int: a bool is an int
        text = "SANT" if value else "FALSKT"
    elif isinstance(value, int):
        text = _integer_text(value, number_format)
    elif isinstance(value, float):
        text = format(value, ".15g").replace(".", ",")
    elif isinstance(value, dt.datetime):
        at_midnight = value.time() == dt.time()
        text = value.strftime("%Y-%m-%d" if at_midnight else "%Y-%m-%d %H:%M")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, dt.time):
        text = value.strftime("%H:%M")
    else:
        text = "" if value is None else str(value).strip()
    return text


def _integer_text(value: int, number_format: str | None) -> str:
    digits = str(value)
    if value < 0 or not number_format:
        return digits
    # The first section of the format, without conditions ([<=9999999999]) or escapes.
    shown = re.sub(r"\[[^\]]*\]", "", number_format.split(";")[0])
    shown = shown.replace("\\", "").replace('"', "")
    padded = _ZERO_PADDED_FORMAT.fullmatch(shown)
    if padded is None:
        return digits
    head, tail = padded.group(1), (padded.group(2) or "")[1:]
    if len(digits) > len(head) + len(tail):
        return digits
    digits = digits.zfill(len(head) + len(tail))
    return f"{digits[: len(head)]}-{digits[len(head) :]}" if tail else digits


def _size(size: int) -> str:
    """A file size as Swedish writes it: 2 kB, 20,0 MB."""
    if size < _MEGABYTE:
        return f"{math.ceil(size / 1024)} kB"
    return f"{size / _MEGABYTE:.1f} MB".replace(".", ",")


def _number(count: int) -> str:
    """A count as Swedish writes it: 50 000."""
    return f"{count:,}".replace(",", " ")
