"""An uploaded table of recipients is read as Excel writes it, row by row, or refused in Swedish."""

import codecs
import datetime as dt
import io
import tracemalloc
import zipfile

import openpyxl
import pytest

from utskick.letters.tables.reading import TableRefusedError, cell_text, read_table


def rows_of(data, **limits):
    return list(read_table(io.BytesIO(data), **limits).rows())


def refusal(data, **limits):
    with pytest.raises(TableRefusedError) as caught:
        rows_of(data, **limits)
    return caught.value.message


def workbook_bytes(rows, *, formats=None, title="Mottagare"):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class TestCsv:
    @pytest.mark.parametrize("separator", [";", ",", "\t"], ids=["semicolon", "comma", "tab"])
    def test_the_separator_is_found_in_the_header(self, separator):
        data = separator.join(["Personnummer", "Namn", "Ort"]) + "\r\n"
        data += separator.join(["19121212-1212", "Tolvan Tolvansson", "Åby"]) + "\r\n"
        table = read_table(io.BytesIO(data.encode()))
        assert table.columns == ["Personnummer", "Namn", "Ort"]
        assert list(table.rows()) == [
            (2, {"Personnummer": "19121212-1212", "Namn": "Tolvan Tolvansson", "Ort": "Åby"})
        ]

    def test_a_separator_inside_a_quoted_header_does_not_count(self):
        data = b'"Namn, fullst\xc3\xa4ndigt";Pnr\n"Tolvansson, Tolvan";191212121212\n'
        table = read_table(io.BytesIO(data))
        assert table.separator == ";"
        assert table.columns == ["Namn, fullständigt", "Pnr"]

    def test_utf8_with_bom_has_a_clean_first_column(self):
        data = codecs.BOM_UTF8 + "Personnummer;Ämne\n191212121212;Beslut om bygglov\n".encode()
        table = read_table(io.BytesIO(data))
        assert table.columns == ["Personnummer", "Ämne"]
        assert rows_of(data)[0][1]["Ämne"] == "Beslut om bygglov"

    def test_windows_1252_from_older_excel_keeps_the_swedish_letters(self):
        data = "Namn;Ort\r\nÅsa Öberg;Gävle\r\n".encode("cp1252")
        assert rows_of(data) == [(2, {"Namn": "Åsa Öberg", "Ort": "Gävle"})]

    def test_windows_1252_is_recognised_when_the_first_letter_comes_late(self):
        plain = "".join(f"{n};Andersson\r\n" for n in range(5000))
        data = ("Nr;Namn\r\n" + plain + "5000;Östlund\r\n").encode("cp1252")
        assert len(data) > 64 * 1024
        assert rows_of(data)[-1][1]["Namn"] == "Östlund"

    def test_excel_unicode_text_is_utf16_with_tabs(self):
        data = "Personnummer\tNamn\r\n191212121212\tÅsa\r\n".encode("utf-16")
        assert rows_of(data) == [(2, {"Personnummer": "191212121212", "Namn": "Åsa"})]

    def test_quoted_fields_hold_separators_quotes_and_line_breaks(self):
        data = (
            b'Pnr;Adress;Not\r\n191212121212;"Storgatan 1;\r\nLgh 1101";"Han sa ""hej"""\r\n'
            b"198112189876;Box 5;\r\n"
        )
        rows = rows_of(data)
        assert rows[0] == (
            2,
            {"Pnr": "191212121212", "Adress": "Storgatan 1;\r\nLgh 1101", "Not": 'Han sa "hej"'},
        )
        # A record over two lines is one row in Excel: the next recipient is on row 3.
        assert rows[1][0] == 3

    def test_blank_rows_are_skipped_but_counted_as_excel_counts_them(self):
        data = b"\r\n\r\nPnr;Namn\r\n\r\n191212121212;A\r\n;;\r\n  ;\r\n198112189876;B\r\n"
        table = read_table(io.BytesIO(data))
        assert table.header_row == 3
        assert [number for number, _ in table.rows()] == [5, 8]

    def test_texts_are_trimmed_and_short_rows_filled_in(self):
        data = b'  Pnr ;"Namn \n efter"\n 191212121212 \n'
        table = read_table(io.BytesIO(data))
        assert table.columns == ["Pnr", "Namn efter"]
        assert list(table.rows()) == [(2, {"Pnr": "191212121212", "Namn efter": ""})]

    def test_a_value_in_a_column_without_header_is_refused_with_its_place(self):
        data = b"Pnr,Namn\n191212121212,Tolvan\n198112189876,Andersson, Anna\n"
        message = refusal(data)
        assert "Rad 3" in message
        assert "kolumn C" in message
        assert "kommatecken inom citattecken" in message

    def test_empty_cells_after_the_last_column_are_no_problem(self):
        assert rows_of(b"Pnr;Namn\n191212121212;A;;;\n") == [
            (2, {"Pnr": "191212121212", "Namn": "A"})
        ]

    def test_a_quote_that_is_never_closed_is_refused_with_its_row(self):
        data = b'Pnr;Namn\n191212121212;A\n198112189876;"B\n' + b"x;y\n" * 40_000
        message = refusal(data)
        assert "Rad 3" in message
        assert "citattecknen" in message


class TestXlsx:
    def test_cells_read_as_the_officer_sees_them(self):
        data = workbook_bytes(
            [
                ["Personnummer", "Namn", "Beslutsdatum", "Belopp", "Antal"],
                [191212121212, "Tolvan", dt.datetime(2026, 3, 1), 1234.5, 3.0],  # noqa: DTZ001 (Excel is naive)
                ["20001212-1212", "Nolla", dt.date(2026, 3, 2), None, 7],
            ]
        )
        assert rows_of(data) == [
            (
                2,
                {
                    "Personnummer": "191212121212",
                    "Namn": "Tolvan",
                    "Beslutsdatum": "2026-03-01",
                    "Belopp": "1234,5",
                    "Antal": "3",
                },
            ),
            (
                3,
                {
                    "Personnummer": "20001212-1212",
                    "Namn": "Nolla",
                    "Beslutsdatum": "2026-03-02",
                    "Belopp": "",
                    "Antal": "7",
                },
            ),
        ]

    def test_the_personnummer_number_format_keeps_the_leading_zero(self):
        data = workbook_bytes(
            [["Pnr"], [12121212], [12121212], [191212121212]],
            formats={"A2": "000000-0000", "A3": "0000000000", "A4": "General"},
        )
        assert [row["Pnr"] for _, row in rows_of(data)] == [
            "001212-1212",
            "0012121212",
            "191212121212",
        ]

    def test_empty_rows_are_skipped_and_row_numbers_are_excels(self):
        data = workbook_bytes(
            [[], [None, None], ["Pnr", "Namn"], ["191212121212", "A"], [], ["198112189876", "B"]]
        )
        table = read_table(io.BytesIO(data))
        assert table.header_row == 3
        assert [(number, row["Namn"]) for number, row in table.rows()] == [(4, "A"), (6, "B")]

    def test_the_first_sheet_is_read_even_when_another_is_active(self):
        workbook = openpyxl.Workbook()
        workbook.active.append(["Pnr"])
        workbook.active.append(["191212121212"])
        other = workbook.create_sheet("Anteckningar")
        other.append(["Inte detta"])
        other.append(["x"])
        workbook.active = 1
        buffer = io.BytesIO()
        workbook.save(buffer)
        assert read_table(buffer).columns == ["Pnr"]

    def test_a_wrong_stored_dimension_does_not_cut_the_table_short(self):
        data = workbook_bytes([["Pnr"], ["191212121212"], ["198112189876"]])
        rewritten = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as original, zipfile.ZipFile(rewritten, "w") as out:
            for item in original.infolist():
                content = original.read(item)
                if item.filename == "xl/worksheets/sheet1.xml":
                    assert b'<dimension ref="A1:A3"/>' in content
                    content = content.replace(b'<dimension ref="A1:A3"/>', b'<dimension ref="A1"/>')
                out.writestr(item, content)
        assert len(rows_of(rewritten.getvalue())) == 2

    def test_a_zip_that_is_not_a_workbook_is_refused(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("word/document.xml", "<document/>")
        assert "ingen Excel-arbetsbok" in refusal(buffer.getvalue())

    @pytest.mark.parametrize(
        ("value", "number_format", "shown"),
        [
            (None, None, ""),
            (191212121212.0, "General", "191212121212"),
            (0.1 + 0.2, "General", "0,3"),
            (True, "General", "SANT"),
            (dt.datetime(2026, 3, 1, 14, 30), "yyyy-mm-dd hh:mm", "2026-03-01 14:30"),  # noqa: DTZ001
            (dt.time(8, 15), "hh:mm", "08:15"),
            (1212121212, '[<=9999999999]000000\\-0000;000000"-"0000', "121212-1212"),
            (12345678901, "000000-0000", "12345678901"),
            ("  text  ", None, "text"),
        ],
    )
    def test_cell_text(self, value, number_format, shown):
        assert cell_text(value, number_format) == shown


class TestReadingTwice:
    def test_a_stream_is_read_again_from_the_start_and_left_open(self):
        stream = io.BytesIO(b"Pnr;Namn\n191212121212;A\n198112189876;B\n")
        table = read_table(stream)
        first = list(table.rows())
        assert list(table.rows()) == first
        assert len(first) == 2
        assert not stream.closed

    def test_a_path_is_opened_anew(self, tmp_path):
        path = tmp_path / "mottagare.xlsx"
        path.write_bytes(workbook_bytes([["Pnr"], ["191212121212"]]))
        table = read_table(path)
        assert list(table.rows()) == list(table.rows()) == [(2, {"Pnr": "191212121212"})]
        assert table.file_format == "xlsx"


class TestRefusals:
    def test_a_pdf(self):
        message = refusal(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
        assert "PDF" in message
        assert "'CSV UTF-8'" in message

    def test_an_old_excel_file(self):
        assert ".xls" in refusal(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)

    def test_a_binary_file(self):
        message = refusal(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        assert "ingen CSV- eller XLSX-fil" in message

    def test_an_empty_file(self):
        assert "Filen är tom" in refusal(b"")

    def test_a_file_of_blank_lines(self):
        assert "inga rader" in refusal(b"\r\n\r\n;;\r\n")

    def test_a_header_without_rows(self):
        assert "inga mottagare" in refusal(b"Pnr;Namn\r\n")

    def test_a_first_row_that_is_a_recipient(self):
        message = refusal(b"191212121212;Tolvan\n198112189876;Anna\n")
        assert "ser ut att vara en mottagare" in message
        assert "Personnummer" in message

    def test_duplicate_headers_whatever_the_case(self):
        message = refusal(b"Pnr;Namn;Ort;namn\n191212121212;A;B;C\n")
        assert "kolumn B och kolumn D" in message

    def test_an_empty_header_between_others(self):
        assert "Kolumn B saknar rubrik" in refusal(b"Pnr;;Namn\n191212121212;x;A\n")

    def test_a_header_that_is_prose(self):
        assert "korta kolumnrubriker" in refusal(("Hej! " * 40 + "\nx\n").encode())

    def test_too_many_rows(self):
        data = b"Pnr\n" + b"191212121212\n" * 4
        message = refusal(data, max_rows=3)
        assert "fler än 3 mottagare" in message
        assert "rad 5" in message

    def test_too_large_a_file(self):
        data = b"Pnr\n" + b"191212121212\n" * 100
        assert refusal(data, max_bytes=1000) == (
            "Filen är 2 kB, men högst 1 kB tas emot; dela upp mottagarna i flera filer"
        )
        assert "högst 20,0 MB tas emot" in refusal(data + b"x" * 21 * 1024 * 1024)


class TestLargeFiles:
    @staticmethod
    def write_csv(path, count):
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write("Personnummer;Namn;Utdelningsadress;Postnummer;Ort;Ärende;Handläggare\r\n")
            for n in range(count):
                out.write(
                    f"19121212-1212;Person nummer {n} Efternamnsson;Långgatan {n} lägenhet 1101;"
                    f"123 45;Storstad;Beslut i ärende BN-2026-{n:06d} om bygglov för "
                    "tillbyggnad av enbostadshus på fastigheten;Handläggare Handläggarsson, "
                    "bygglovsenheten, samhällsbyggnadsförvaltningen\r\n"
                )

    def test_ten_thousand_rows_are_all_read(self, tmp_path):
        path = tmp_path / "mottagare.csv"
        self.write_csv(path, 10_000)
        numbers = [number for number, _ in read_table(path).rows()]
        assert len(numbers) == 10_000
        assert numbers[0] == 2
        assert numbers[-1] == 10_001

    def test_reading_twenty_thousand_rows_takes_little_memory(self, tmp_path):
        path = tmp_path / "mottagare.csv"
        self.write_csv(path, 20_000)
        bound = 5 * 1024 * 1024
        assert path.stat().st_size > bound
        tracemalloc.start()
        try:
            count = sum(1 for _ in read_table(path).rows())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == 20_000
        assert peak < bound
