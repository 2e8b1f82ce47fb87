"""Print files and control files as an odd-but-legitimate sender or a hostile one writes them:
a control file in Windows-1252 behind a UTF-8 byte order mark, numbers of every kind and
spacing, cells that look like formulas; PDFs whose page tree loops or claims millions of
pages."""

import datetime as dt

import pytest

from utskick.intake.printfile.common import PrintFileRefusedError
from utskick.intake.printfile.control import control_letters, read_control_file
from utskick.intake.printfile.document import open_print_file

TODAY = dt.date(2026, 12, 7)
ZONE = "Europe/Stockholm"
BOM = b"\xef\xbb\xbf"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>"
)


def planned(path, pages):
    return control_letters(read_control_file(path), pages, "utskrift.pdf", ZONE, TODAY)


def raw_pdf(objects):
    """A PDF of the objects as written (object 1 the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def one_page(pages_node):
    text = b"BT /F1 12 Tf 72 720 Td (Personnummer: 19121212-1212) Tj ET"
    stream = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text)
    return [b"<< /Type /Catalog /Pages 2 0 R >>", pages_node, PAGE, stream, FONT]


class TestControlFiles:
    def test_windows_1252_behind_a_utf8_byte_order_mark_is_read(self, tmp_path):
        # Some export tools write the mark and then the text in the system's code page.
        path = tmp_path / "utskrift.csv"
        path.write_bytes(
            BOM + "Sidor;Personnummer;Ämne\r\n1;19121212-1212;Beslut Å\r\n".encode("cp1252")
        )

        [letter] = planned(path, 1)

        assert (letter.recipient, letter.subject, letter.problem) == (
            "19121212-1212",
            "Beslut Å",
            None,
        )

    def test_every_kind_of_number_as_people_type_it_is_a_recipient(self, tmp_path):
        path = tmp_path / "utskrift.csv"
        rows = ["19121212 1212", "19121272-1235", "16212000-0142", "212000-0142", "121212+1212"]
        text = "Sidor;Personnummer\n" + "".join(f"{n};{r}\n" for n, r in enumerate(rows, 1))
        path.write_text(text, encoding="utf-8")

        letters = planned(path, len(rows))

        assert [(letter.recipient, letter.problem) for letter in letters] == [
            (row, None) for row in rows
        ]

    def test_a_formula_in_the_pages_column_refuses_the_file_saying_so(self, tmp_path):
        path = tmp_path / "utskrift.csv"
        path.write_text("Sidor;Personnummer\n=1+1;19121212-1212\n", encoding="utf-8")

        with pytest.raises(PrintFileRefusedError) as refused:
            read_control_file(path)

        assert "sidorna '=1+1' går inte att läsa" in refused.value.message

    def test_a_formula_looking_subject_is_kept_as_text(self, tmp_path):
        # It is the letter's subject; the files people open in Excel neutralise it there.
        path = tmp_path / "utskrift.csv"
        path.write_text('Sidor;Personnummer;Ämne\n1;19121212-1212;"=HYPERLINK(""x"")"\n', "utf-8")

        [letter] = planned(path, 1)

        assert letter.subject == '=HYPERLINK("x")'


class TestActiveContent:
    @pytest.mark.parametrize(
        ("catalog", "reason"),
        [
            (b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>", "innehåller JavaScript"),
            (b"/OpenAction << /S /Launch /F (cmd.exe) >>", "försöker starta ett program"),
            (
                (
                    b"/Names << /EmbeddedFiles << /Names [(a.exe) << /Type /Filespec /F (a.exe) "
                    b"/EF << /F 6 0 R >> >>] >> >>"
                ),
                "innehåller inbäddade filer",
            ),
        ],
        ids=["javascript", "launch", "embedded-file"],
    )
    def test_a_print_file_carrying_active_content_is_refused_whole(self, tmp_path, catalog, reason):
        path = tmp_path / "utskrift.pdf"
        objects = one_page(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        objects[0] = b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>"
        path.write_bytes(raw_pdf([*objects, b"<< /Length 2 >>\nstream\nMZ\nendstream"]))

        with pytest.raises(PrintFileRefusedError) as refused:
            open_print_file(path)

        assert refused.value.message.startswith(f"utskriftsfilen utskrift.pdf {reason}")


class TestPageTrees:
    def test_a_page_tree_that_loops_is_refused_as_unreadable(self, tmp_path):
        path = tmp_path / "utskrift.pdf"
        objects = one_page(b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>")
        path.write_bytes(
            raw_pdf([*objects, b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>"])
        )

        with pytest.raises(PrintFileRefusedError) as refused:
            open_print_file(path)

        assert "kan inte läsas som PDF" in refused.value.message

    def test_a_file_claiming_ten_million_pages_has_the_pages_it_has(self, tmp_path):
        path = tmp_path / "utskrift.pdf"
        path.write_bytes(raw_pdf(one_page(b"<< /Type /Pages /Kids [3 0 R] /Count 10000000 >>")))

        assert open_print_file(path).pages == 1
