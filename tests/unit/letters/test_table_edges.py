"""Tables built to hurt and times written at the edges of the clock: a workbook that unpacks a
few hundred kilobytes into tens of megabytes of shared strings is refused before it is read;
Excel's dates in the "tidigast" column are times; 24:00 and a leap second are moments, and the
furthest offsets are read as written."""

import datetime as dt
import io
import time
import zipfile

import openpyxl
import pytest

from utskick.letters.inputs import LetterRejectedError
from utskick.letters.schedule import parse_not_before
from utskick.letters.tables.cells import spreadsheet_text
from utskick.letters.tables.reading import TableRefusedError, read_table

ZONE = "Europe/Stockholm"
# Far more than refusing a file needs: a test that waits this long has read the bomb.
SECONDS = 3.0
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _bomb(shared_strings):
    """A workbook of two rows whose shared-strings part holds `shared_strings` tiny strings."""
    sheet = (
        f'<worksheet xmlns="{_MAIN}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Personnummer</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Text</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>19121212-1212</t></is></c>'
        '<c r="B2" t="s"><v>0</v></c></row></sheetData></worksheet>'
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPES}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPES}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPES}.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
            f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            '<sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": f'<sst xmlns="{_MAIN}">'
        + "<si><t>a</t></si>" * shared_strings
        + "</sst>",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class TestWorkbookBombs:
    def test_a_workbook_packed_a_thousand_to_one_is_refused_before_it_is_read(self):
        data = _bomb(1_000_000)  # 17 MB of shared strings in some 40 kB
        started = time.monotonic()

        with pytest.raises(TableRefusedError) as refused:
            read_table(io.BytesIO(data))

        assert time.monotonic() - started < SECONDS
        assert "packad" in refused.value.message
        assert "CSV UTF-8" in refused.value.message

    def test_a_small_workbook_packed_tightly_is_read(self):
        # Under a megabyte unpacked, any packing is harmless.
        rows = list(read_table(io.BytesIO(_bomb(10_000))).rows())

        assert rows == [(2, {"Personnummer": "19121212-1212", "Text": "a"})]


class TestExcelTimes:
    def test_a_date_cell_in_the_tidigast_column_is_the_time_excel_shows(self):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(["Personnummer", "Skickas tidigast"])
        sheet.append(["19121212-1212", dt.datetime(2026, 12, 8, 6, 0)])  # noqa: DTZ001 (as Excel: no zone)
        sheet["B2"].number_format = "yyyy-mm-dd hh:mm"
        buffer = io.BytesIO()
        workbook.save(buffer)

        [(_, row)] = list(read_table(buffer).rows())

        assert row["Skickas tidigast"] == "2026-12-08 06:00"
        assert parse_not_before(row["Skickas tidigast"], ZONE) == dt.datetime(
            2026, 12, 8, 5, 0, tzinfo=dt.UTC
        )

    def test_a_date_excel_stored_as_a_bare_number_is_refused_saying_how_to_write_it(self):
        with pytest.raises(LetterRejectedError) as refused:
            parse_not_before("46364,25", ZONE)

        assert "skriv datum och klockslag" in refused.value.message


class TestEdgesOfTheClock:
    @pytest.mark.parametrize(
        ("written", "moment"),
        [
            ("2026-12-08T24:00", dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC)),
            ("2026-12-08 24:00:00", dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC)),
            ("2026-12-31T24:00:00+01:00", dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)),
            ("2016-12-31T23:59:60Z", dt.datetime(2017, 1, 1, 0, 0, tzinfo=dt.UTC)),
            ("2016-12-31T23:59:60+00:00", dt.datetime(2017, 1, 1, 0, 0, tzinfo=dt.UTC)),
            ("2026-12-08T06:00:00+14:00", dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC)),
            ("2026-12-08T06:00:00-12:00", dt.datetime(2026, 12, 8, 18, 0, tzinfo=dt.UTC)),
        ],
    )
    def test_the_ends_of_a_day_and_the_furthest_offsets_are_moments(self, written, moment):
        assert parse_not_before(written, ZONE) == moment

    @pytest.mark.parametrize(
        "written",
        ["2026-12-08T24:01", "2026-12-08T24:00:01", "2026-12-08T23:60", "2026-12-08T25:00"],
    )
    def test_times_past_the_end_of_a_day_are_refused(self, written):
        with pytest.raises(LetterRejectedError) as refused:
            parse_not_before(written, ZONE)

        assert "inget giltigt datum eller klockslag" in refused.value.message


class TestSpreadsheetText:
    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            ("=1+1", "'=1+1"),
            ("+46 8 123", "'+46 8 123"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Beslut = bifall", "Beslut = bifall"),
            ("", ""),
            (None, ""),
        ],
    )
    def test_a_text_that_would_start_a_formula_gets_an_apostrophe(self, value, shown):
        assert spreadsheet_text(value) == shown
