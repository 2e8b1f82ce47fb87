"""The rendered letter: address inside the window, extractable text, PDF/A markers, pages."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm

from utskick.printing.render import (
    BODY_SIZE,
    FOOTER_TOP,
    MARGIN_RIGHT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    LetterRenderer,
    PrintLetter,
    Window,
    WindowTooSmallError,
    broken_at_margin,
    sheets_for,
)

DEFAULT_WINDOW = Window(15, 44, 95, 26)
ADDRESS = ("Åsa Öberg-Łukasiewicz", "c/o Nilsson", "Storgatan 1", "123 45 Småstad")


def letter(**changes) -> PrintLetter:
    values = {
        "letter_id": "0f0e0d0c-0000-4000-8000-000000000001",
        "sender_name": "Exempelkommun",
        "department": "Bygg- och miljöförvaltningen",
        "letter_date": dt.date(2026, 11, 27),
        "created_at": dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC),
        "subject": "Beslut om bygglov",
        "body": "Hej!\n\nNämnden har beviljat ditt bygglov för ett uterum.",
        "address_lines": ADDRESS,
        "case_number": "BN 2026/123",
        "reference": "Ärende 42",
        "footer_lines": ("Kontakta kundcenter, 0771-00 00 00.",),
    }
    values.update(changes)
    return PrintLetter(**values)


def text_positions(pdf: bytes, page: int = 0) -> list[tuple[str, float, float]]:
    """(text, x, y) of every text run on a page, in PDF points from the bottom left."""
    runs = []

    def visit(text, cm, tm, _font, _size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append((text.strip(), x, y))

    PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return runs


def inside(window: Window, x: float, y: float) -> bool:
    x0, y0, x1, y1 = window.rectangle_points()
    return x0 <= x <= x1 and y0 <= y <= y1


class TestAddressWindow:
    @pytest.mark.parametrize(
        "window",
        [DEFAULT_WINDOW, Window(20, 50, 90, 40), Window(110, 45, 85, 35)],
        ids=["c5-e65-default", "larger-left", "right-hand-window"],
    )
    def test_every_address_line_lies_inside_the_configured_window(self, window):
        rendered = LetterRenderer(window).render(letter())
        runs = {text: (x, y) for text, x, y in text_positions(rendered.pdf)}
        renderer = LetterRenderer(window)
        size, _ = renderer.address_layout(ADDRESS)
        for line in ADDRESS:
            assert line in runs, f"{line} not found as its own text run"
            x, y = runs[line]
            width = renderer_width(line, size)
            # The baseline's start and end and the line's cap height are all in the window.
            assert inside(window, x, y)
            assert inside(window, x + width, y + size * 0.72)

    def test_nothing_else_is_printed_inside_the_window(self):
        rendered = LetterRenderer(DEFAULT_WINDOW).render(letter())
        others = [
            text
            for text, x, y in text_positions(rendered.pdf)
            if inside(DEFAULT_WINDOW, x, y) and text not in ADDRESS
        ]
        assert others == []

    def test_a_long_address_gets_smaller_type_but_stays_inside(self):
        lines = (
            "Förnamn Mellannamn Efternamnsson-Långström",
            "c/o Familjen Andersson",
            "Box 12345",
            "Långa vägen 123 lgh 1102",
            "123 45 Exempelstad",
        )
        renderer = LetterRenderer(DEFAULT_WINDOW)
        size, placed = renderer.address_layout(lines)
        assert size < 10
        for _text, x, y in placed:
            assert inside(DEFAULT_WINDOW, x, y)

    def test_an_address_that_cannot_fit_is_refused_with_a_reason(self):
        with pytest.raises(WindowTooSmallError, match="kuvertfönstret"):
            LetterRenderer(Window(15, 44, 25, 11)).address_layout(ADDRESS)


def renderer_width(text: str, size: float) -> float:
    from reportlab.pdfbase import pdfmetrics

    from utskick.printing.render import REGULAR

    return pdfmetrics.stringWidth(text, REGULAR, size)


class TestText:
    def test_the_letter_text_is_extractable_with_swedish_letters(self):
        text = (
            PdfReader(io.BytesIO(LetterRenderer(DEFAULT_WINDOW).render(letter()).pdf))
            .pages[0]
            .extract_text()
        )
        for expected in (
            "Exempelkommun",
            "Bygg- och miljöförvaltningen",
            "Beslut om bygglov",
            "BN 2026/123",
            "Ärende 42",
            "2026-11-27",
            "uterum",
            "Sida 1 av 1",
            "Åsa Öberg-Łukasiewicz",
        ):
            assert expected in text

    def test_the_body_starts_below_the_window_and_the_first_fold(self):
        runs = text_positions(LetterRenderer(DEFAULT_WINDOW).render(letter()).pdf)
        subject_y = next(y for text, _x, y in runs if text == "Beslut om bygglov")
        window_bottom = PAGE_HEIGHT - (44 + 26) * mm
        assert subject_y < window_bottom

    def test_a_long_letter_runs_over_several_numbered_pages(self):
        body = "\n\n".join(f"Stycke {n}: " + "text " * 60 for n in range(40))
        rendered = LetterRenderer(DEFAULT_WINDOW).render(letter(body=body))
        reader = PdfReader(io.BytesIO(rendered.pdf))
        assert rendered.pages == len(reader.pages) > 2
        last = reader.pages[-1].extract_text()
        assert f"Sida {rendered.pages} av {rendered.pages}" in last
        assert "Stycke 39" in last


LONG_LINK = (
    "https://e-tjanster.exempelkommun.se/bygglov/overklagande/"
    + "a1b2c3d4" * 25
    + "?arende=BN-2026-123"
)


def page_text(pdf: bytes, page: int = 0) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[page].extract_text()


def body_runs(pdf: bytes) -> list[tuple[str, float, float]]:
    """The text runs between the subject and the footer, in the body's type."""
    body_top = PAGE_HEIGHT - 92 * mm - BODY_SIZE * 1.5  # below the subject line
    return [run for run in text_positions(pdf) if PAGE_HEIGHT - FOOTER_TOP < run[2] < body_top]


class TestAfterTheText:
    def test_the_eservice_link_and_the_letters_own_support_text_follow_the_text(self):
        own = "Har du frågor? Kontakta Anna Andersson, Bygglov.\nTelefon: 0771-00 00 00"
        pdf = (
            LetterRenderer(DEFAULT_WINDOW)
            .render(letter(eservice_url="https://exempelkommun.se/overklaga", support_text=own))
            .pdf
        )
        lines = page_text(pdf).splitlines()
        uterum = next(i for i, line in enumerate(lines) if "uterum" in line)
        link = lines.index("E-tjänst: https://exempelkommun.se/overklaga")
        support = lines.index("Har du frågor? Kontakta Anna Andersson, Bygglov.")
        assert uterum < link < support
        assert lines[support + 1] == "Telefon: 0771-00 00 00"

    def test_a_link_longer_than_a_line_is_broken_and_never_runs_off_the_page(self):
        pdf = LetterRenderer(DEFAULT_WINDOW).render(letter(eservice_url=LONG_LINK)).pdf
        runs = [(text, x) for text, x, y in body_runs(pdf)]
        right_margin = PAGE_WIDTH - MARGIN_RIGHT
        for text, x in runs:
            assert x + renderer_width(text, BODY_SIZE) <= right_margin + 0.01, text
        start = next(i for i, (text, _x) in enumerate(runs) if text.startswith("E-tjänst: https"))
        link_lines = [text for text, _x in runs[start:]]
        assert len(link_lines) > 2
        assert "".join(link_lines) == f"E-tjänst: {LONG_LINK}"

    def test_a_long_link_is_broken_after_a_slash_when_one_is_near_the_margin(self):
        link = "https://exempelkommun.se/e-tjanster/bygglov/ansok"
        width = renderer_width("https://exempelkommun.se/e-tja", BODY_SIZE) + 0.5
        pieces = broken_at_margin(link, width)
        assert pieces[0] == "https://exempelkommun.se/"
        assert "".join(pieces) == link
        assert all(renderer_width(piece, BODY_SIZE) <= width for piece in pieces)

    def test_without_a_slash_near_the_margin_a_link_is_broken_at_it(self):
        width = renderer_width("https://exempelkomm", BODY_SIZE) + 0.5
        pieces = broken_at_margin("https://exempelkommun.se", width)
        assert pieces == ["https://exempelkomm", "un.se"]

    def test_a_long_word_in_the_body_is_broken_too(self):
        body = "Läs mer: " + LONG_LINK
        pdf = LetterRenderer(DEFAULT_WINDOW).render(letter(body=body)).pdf
        right_margin = PAGE_WIDTH - MARGIN_RIGHT
        for text, x, _y in body_runs(pdf):
            assert x + renderer_width(text, BODY_SIZE) <= right_margin + 0.01, text

    def test_without_them_nothing_follows_the_text(self):
        text = page_text(LetterRenderer(DEFAULT_WINDOW).render(letter()).pdf)
        assert "E-tjänst" not in text


class TestPdfA:
    def test_the_document_declares_pdfa_2b_with_an_srgb_output_intent(self):
        reader = PdfReader(io.BytesIO(LetterRenderer(DEFAULT_WINDOW).render(letter()).pdf))
        root = reader.trailer["/Root"]
        metadata = root["/Metadata"].get_object().get_data().decode()
        assert "<pdfaid:part>2</pdfaid:part>" in metadata
        assert "<pdfaid:conformance>B</pdfaid:conformance>" in metadata
        intent = root["/OutputIntents"][0].get_object()
        assert intent["/S"] == "/GTS_PDFA1"
        profile = intent["/DestOutputProfile"].get_object().get_data()
        assert profile[36:40] == b"acsp"  # an ICC profile
        assert not reader.is_encrypted

    def test_every_font_is_embedded(self):
        reader = PdfReader(io.BytesIO(LetterRenderer(DEFAULT_WINDOW).render(letter()).pdf))
        fonts = reader.pages[0]["/Resources"]["/Font"]
        assert fonts
        for reference in fonts.values():
            font = reference.get_object()
            assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]
            assert "/ToUnicode" in font

    def test_rendering_the_same_letter_twice_gives_the_same_bytes(self):
        renderer = LetterRenderer(DEFAULT_WINDOW)
        assert renderer.render(letter()).pdf == renderer.render(letter()).pdf

    def test_a_swedish_letter_is_pdfa_with_its_fonts_embedded_and_its_text_extractable(self):
        subject = "Ärende om bygglov för Åre, Älvdalen och Örebro"
        body = "Hej! Nämnden har beslutat: café, åtgärd, öppettider, Överförmyndaren."
        pdf = LetterRenderer(DEFAULT_WINDOW).render(letter(subject=subject, body=body)).pdf
        reader = PdfReader(io.BytesIO(pdf))
        metadata = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
        assert "<pdfaid:part>2</pdfaid:part>" in metadata
        assert "<pdfaid:conformance>B</pdfaid:conformance>" in metadata
        fonts = [ref.get_object() for ref in reader.pages[0]["/Resources"]["/Font"].values()]
        assert {str(font["/BaseFont"]).split("+")[1] for font in fonts} == {
            "DejaVuSans",
            "DejaVuSans-Bold",
        }
        for font in fonts:
            program = font["/FontDescriptor"]["/FontFile2"].get_object()
            assert program["/Length1"] == len(program.get_data()) > 0
            assert "/ToUnicode" in font
        text = reader.pages[0].extract_text()
        assert subject in text
        assert body in text

    def test_one_letters_text_does_not_carry_over_into_the_next(self):
        renderer = LetterRenderer(DEFAULT_WINDOW)
        address = ("Anna Andersson", "Storgatan 1", "123 45 Småstad")

        def render(subject, body):
            return renderer.render(letter(subject=subject, body=body, address_lines=address)).pdf

        first = render("Beslut om bygglov", "Nämnden har beviljat ditt bygglov.")
        rare = render("Łódź och Ωmega", "Ψυχή, жизнь och Øresund.")
        second = render("Föreläggande om rivning", "Byggnaden ska rivas senast i maj.")
        first_again = render("Beslut om bygglov", "Nämnden har beviljat ditt bygglov.")
        first_text, rare_text, second_text = (page_text(pdf) for pdf in (first, rare, second))
        assert "Nämnden har beviljat ditt bygglov." in first_text
        assert "Ψυχή, жизнь och Øresund." in rare_text
        assert "Byggnaden ska rivas senast i maj." in second_text
        assert "bygglov" not in second_text
        assert "rivas" not in first_text
        assert first != second
        assert first_again == first
        # The rare letter's characters are in its own fonts only, not in the next letter's.
        for pdf, has_rare in ((rare, True), (second, False)):
            maps = b"".join(
                ref.get_object()["/ToUnicode"].get_object().get_data()
                for ref in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values()
            )
            assert (b"<03A8>" in maps) is has_rare  # Ψ


class TestAttachmentsAndMerging:
    def test_paper_attachments_follow_the_letter(self):
        renderer = LetterRenderer(DEFAULT_WINDOW)
        attachment = renderer.render(letter(subject="Bilaga: ritning")).pdf
        rendered = renderer.render(letter(attachments=(attachment, attachment)))
        reader = PdfReader(io.BytesIO(rendered.pdf))
        assert rendered.pages == len(reader.pages) == 3
        assert "Bilaga: ritning" in reader.pages[2].extract_text()

    def test_a_merged_batch_says_where_each_letter_starts(self):
        renderer = LetterRenderer(DEFAULT_WINDOW)
        attachment = renderer.render(letter(subject="Bilaga")).pdf
        letters = [
            letter(letter_id="a", subject="Första"),
            letter(letter_id="b", subject="Andra", attachments=(attachment,)),
            letter(letter_id="c", subject="Tredje"),
        ]
        pdf, parts = renderer.render_merged(
            letters,
            title="Batch",
            author="Exempelkommun",
            created=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        )
        reader = PdfReader(io.BytesIO(pdf))
        assert [(p.letter_id, p.first_page, p.pages) for p in parts] == [
            ("a", 1, 1),
            ("b", 2, 2),
            ("c", 4, 1),
        ]
        assert "Andra" in reader.pages[1].extract_text()
        assert "Bilaga" in reader.pages[2].extract_text()
        assert "Tredje" in reader.pages[3].extract_text()


class TestSheets:
    @pytest.mark.parametrize(
        ("pages", "duplex", "sheets"), [(1, True, 1), (2, True, 1), (3, True, 2), (3, False, 3)]
    )
    def test_sheets_follow_pages_and_duplex(self, pages, duplex, sheets):
        assert sheets_for(pages, duplex=duplex) == sheets
