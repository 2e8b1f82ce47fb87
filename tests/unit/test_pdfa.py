"""The PDF/A canvas: its embedded font subsets (built once per process), its output intent.

The font subsets begin with the same common characters in every document, and their font
programs, widths and Unicode maps are reused from one document to the next: each embedded
program is read back with fontTools and compared glyph by glyph with the shipped font, so a
subset that showed or measured the wrong glyph for a code would fail here.
"""

import datetime as dt
import hashlib
import io
import re
import struct
import subprocess
import sys
from pathlib import Path

from fontTools.ttLib import TTFont as FontFile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageCms
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont

from utskick.pdfa import (
    BOLD,
    COMMON_CHARACTERS,
    FONT_DIR,
    ICC_PROFILE_DATE,
    REGULAR,
    pdfa_canvas,
    register_fonts,
    srgb_profile,
)

CREATED = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)
SHIPPED = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}


def document(*lines: tuple[str, str]) -> bytes:
    """A one-page PDF/A document with each (font, text) drawn on a line of its own."""
    buffer = io.BytesIO()
    canvas = pdfa_canvas(buffer, title="Prov", author="Exempelkommun", created=CREATED)
    for number, (font, text) in enumerate(lines):
        canvas.setFont(font, 11)
        canvas.drawString(50, 780 - 16 * number, text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def page_text(pdf: bytes) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def embedded_fonts(pdf: bytes) -> list[dict]:
    """Each font of the first page: its name, codes' widths, Unicode map and font program."""
    fonts = []
    for reference in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values():
        font = reference.get_object()
        descriptor = font["/FontDescriptor"].get_object()
        program = descriptor["/FontFile2"].get_object()
        fonts.append(
            {
                "name": str(font["/BaseFont"]),
                "subtype": font["/Subtype"],
                "first": font["/FirstChar"],
                "widths": [float(width) for width in font["/Widths"]],
                "to_unicode": to_unicode(font["/ToUnicode"].get_object().get_data()),
                "program": FontFile(io.BytesIO(program.get_data())),
                "length1": program["/Length1"],
                "program_length": len(program.get_data()),
            }
        )
    return fonts


def to_unicode(cmap: bytes) -> dict[int, str]:
    """The code → text pairs of a ToUnicode CMap's bfchar entries, as ReportLab writes them."""
    pairs = {}
    for line in cmap.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and all(part.startswith("<") for part in parts):
            pairs[int(parts[0][1:-1], 16)] = chr(int(parts[1][1:-1], 16))
    return pairs


def shipped(name: str) -> FontFile:
    base = name.split("+", 1)[1]
    return FontFile(str(FONT_DIR / SHIPPED[base]))


def outline(font: FontFile, glyph_name: str) -> tuple:
    """A glyph's outline with its components resolved, and its advance width."""
    glyf = font["glyf"]
    coordinates, end_points, flags = glyf[glyph_name].getCoordinates(glyf)
    return list(coordinates), list(end_points), bytes(flags), font["hmtx"][glyph_name][0]


def check_font_program(font: dict) -> None:
    """Every code of the subset shows and measures the glyph of its Unicode character."""
    program, original = font["program"], shipped(font["name"])
    assert font["subtype"] == "/TrueType"
    assert font["length1"] == font["program_length"]
    # A symbolic TrueType font in PDF/A: exactly one cmap subtable, codes straight to glyphs.
    assert len(program["cmap"].tables) == 1
    codes = program["cmap"].tables[0].cmap
    scale = 1000 / program["head"].unitsPerEm
    original_cmap = original.getBestCmap()
    for code, width in enumerate(font["widths"], start=font["first"]):
        glyph = codes.get(code, program.getGlyphOrder()[0])  # fontTools omits glyph 0
        assert abs(program["hmtx"][glyph][0] * scale - width) <= 1, (font["name"], code)
        character = font["to_unicode"][code]
        if code:  # code 0 is the missing-character glyph, mapped to nothing
            assert outline(program, glyph) == outline(original, original_cmap[ord(character)])


class TestEmbeddedFonts:
    def test_subsets_show_measure_and_map_each_code_to_its_character(self):
        pdf = document((BOLD, "Åsa Öberg – ärende"), (REGULAR, "Hej! Här är ditt beslut, é ü"))
        fonts = embedded_fonts(pdf)
        assert len(fonts) == 2
        for font in fonts:
            check_font_program(font)
        text = page_text(pdf)
        assert "Åsa Öberg – ärende" in text
        assert "Hej! Här är ditt beslut, é ü" in text

    def test_every_document_begins_its_subsets_with_the_common_characters(self):
        first = embedded_fonts(document((REGULAR, "Hej")))[0]
        second = embedded_fonts(document((REGULAR, "Ärende 42: åäö ÅÄÖ é")))[0]
        assert first["to_unicode"] == second["to_unicode"]
        assert set(first["to_unicode"].values()) == set(COMMON_CHARACTERS) | {" ", "\x00"}

    def test_a_rare_character_is_added_to_its_document_only(self):
        common = document((REGULAR, "Storgatan 1"))
        rare = document((REGULAR, "Łukasiewicz Ωmega"))
        again = document((REGULAR, "Storgatan 1"))
        rare_font = embedded_fonts(rare)[0]
        check_font_program(rare_font)
        assert {"Ł", "Ω"} <= set(rare_font["to_unicode"].values())
        assert "Łukasiewicz Ωmega" in page_text(rare)
        # The document after it has the common subset again, byte for byte the first one.
        assert again == common
        assert "Ł" not in embedded_fonts(again)[0]["to_unicode"].values()

    def test_more_characters_than_one_subset_holds_go_to_a_second_one(self):
        greek = "".join(chr(code) for code in range(0x391, 0x3AA) if code != 0x3A2)
        cyrillic = "".join(chr(code) for code in range(0x410, 0x450))
        extended = "".join(chr(code) for code in range(0x100, 0x17F))
        pdf = document((REGULAR, greek), (REGULAR, cyrillic), (REGULAR, extended))
        fonts = embedded_fonts(pdf)
        assert len(fonts) == 2  # two subsets of the regular font
        for font in fonts:
            check_font_program(font)
        text = page_text(pdf)
        for line in (greek, cyrillic, extended):
            assert line in text

    def test_the_same_document_in_another_process_has_the_same_bytes(self):
        script = (
            "import sys, hashlib\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from test_pdfa import document, BOLD, REGULAR\n"
            "pdf = document((BOLD, 'Beslut'), (REGULAR, 'Åsa Öberg, Łódź'))\n"
            "print(hashlib.sha256(pdf).hexdigest())\n"
        )
        # Another hash seed: nothing may depend on the order of a set or a dict of strings.
        child = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": "12345"},
        )
        pdf = document((BOLD, "Beslut"), (REGULAR, "Åsa Öberg, Łódź"))
        assert child.stdout.strip() == hashlib.sha256(pdf).hexdigest()


class TestStreams:
    def test_each_stream_ends_with_an_end_of_line_that_its_length_does_not_count(self):
        # ISO 19005-2, 6.1.7.1: `stream` then an end of line, `Length` bytes, an end of line
        # and `endstream`.
        pdf = document((BOLD, "Beslut"), (REGULAR, "Åsa Öberg"))
        starts = [match.end() for match in re.finditer(rb"\nstream\n", pdf)]
        lengths = [int(match[1]) for match in re.finditer(rb"/Length (\d+)", pdf)]
        assert len(starts) == len(lengths) == pdf.count(b"endstream") == 7
        for start, length in zip(starts, lengths, strict=True):
            assert pdf[start + length : start + length + 11] == b"\nendstream\n"

    def test_the_metadata_stream_is_not_encoded(self):
        metadata = PdfReader(io.BytesIO(document((REGULAR, "Hej")))).trailer["/Root"]["/Metadata"]
        stream = metadata.get_object()
        assert "/Filter" not in stream
        assert stream["/Type"] == "/Metadata"
        assert stream["/Subtype"] == "/XML"
        assert b"<pdfaid:part>2</pdfaid:part>" in stream.get_data()


class TestSplitString:
    """Codes for text come from a fast path when they can; they must be ReportLab's."""

    @settings(max_examples=150, deadline=None)
    @given(
        texts=st.lists(
            st.text(alphabet=COMMON_CHARACTERS + " \xa0ŁΩжẞ\u0378\U0001f600", max_size=40),
            max_size=6,
        )
    )
    def test_the_codes_are_those_reportlab_assigns(self, texts):
        font = register_fonts()[0]

        class Document:
            pass

        ours, reportlabs = Document(), Document()
        font.start_document(ours)
        TTFont.splitString(font, COMMON_CHARACTERS, reportlabs)
        for text in texts:
            assert font.splitString(text, ours) == TTFont.splitString(font, text, reportlabs)
            assert font.state[ours].assignments == font.state[reportlabs].assignments
            assert font.state[ours].subsets == font.state[reportlabs].subsets

    def test_the_common_characters_follow_what_was_drawn_before_them(self):
        font = register_fonts()[0]

        class Document:
            pass

        ours, reportlabs = Document(), Document()
        assert font.splitString("Zebra ẞ", ours) == TTFont.splitString(font, "Zebra ẞ", reportlabs)
        font.start_document(ours)
        TTFont.splitString(font, COMMON_CHARACTERS, reportlabs)
        assert font.state[ours].assignments == font.state[reportlabs].assignments
        assert font.state[ours].subsets == font.state[reportlabs].subsets


class TestOutputIntent:
    def test_the_srgb_profile_has_a_fixed_date_and_reads_as_srgb(self):
        profile = srgb_profile()
        assert profile[24:36] == struct.pack(">6H", *ICC_PROFILE_DATE)
        assert profile[36:40] == b"acsp"
        read = ImageCms.getOpenProfile(io.BytesIO(profile))
        assert "sRGB" in ImageCms.getProfileDescription(read)

    def test_the_document_carries_it_as_its_output_intent(self):
        root = PdfReader(io.BytesIO(document((REGULAR, "Hej")))).trailer["/Root"]
        intent = root["/OutputIntents"][0].get_object()
        assert intent["/S"] == "/GTS_PDFA1"
        assert intent["/DestOutputProfile"].get_object().get_data() == srgb_profile()
