"""PDF/A-2b documents drawn with ReportLab: the canvas, its fonts, its identification.

Paper letters (`printing.render`) and records for disclosure and archiving
(`records.record_pdf`) are both PDF/A-2b, so what makes a canvas conform lives here, on the
ground floor, where both can use it:

- the XMP metadata stream with the PDF/A identification (part 2, conformance B) matching
  the document information dictionary;
- an sRGB output intent (the ICC profile built by Pillow from littlecms, no file shipped);
- fonts embedded as subsets with ToUnicode maps: DejaVu Sans and DejaVu Sans Bold, shipped in
  `utskick/fonts/` with their licence, which cover Latin, Greek and Cyrillic names. Each
  subset begins with the same common characters in every document, so that its font program
  is built and deflated once per process and not once per document (`EmbeddedFont`);
- every stream with an end of line before `endstream` (ReportLab's writer leaves it out);
- no encryption, and fixed dates: the document's dates are the caller's and the ICC
  profile's is fixed, so drawing the same content again, in any process, gives the same bytes.

What a caller draws must keep to it too: only these fonts, only RGB colours (the output
intent's space), no transparency, and no images or forms (ReportLab would write their
streams).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PIL import ImageCms
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import (
    DummyDoc,
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFObject,
    PDFString,
)
from reportlab.pdfbase.pdfdoc import format as pdf_format
from reportlab.pdfbase.ttfonts import (
    FF_NONSYMBOLIC,
    FF_SYMBOLIC,
    SUBSETN,
    TTFont,
    makeToUnicodeCMap,
)
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).with_name("fonts")
REGULAR = "UtskickSans"
BOLD = "UtskickSans-Bold"
PRODUCER = "Utskick"
# The characters every document's font subsets begin with, in this order, whether the
# document uses them or not: most documents use no others, so most documents embed the same
# subset, whose font program, widths and Unicode map are then built and compressed once per
# process. Characters beyond these follow in the order the document first uses them.
COMMON_CHARACTERS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÅÄÖÉÜ"
    "abcdefghijklmnopqrstuvwxyzåäöéü"
    "0123456789"
    "!\"#%&'()+,-./:;=?@_§–”"
)
# Subsets kept built: the common one per font and those of documents with rarer characters.
SUBSET_CACHE_SIZE = 64
# The creation date written into the sRGB profile's header: year, month, day, h, m, s.
ICC_PROFILE_DATE = (2026, 1, 1, 0, 0, 0)
_CODES_PER_SUBSET = 256  # a simple TrueType font in a PDF has one-byte codes

_FONTS_LOCK = threading.Lock()
_fonts: tuple[EmbeddedFont, ...] = ()


class _Entries(PDFObject):
    """A dictionary whose entries but its references were written out once, for any document.

    `written` holds the fixed entries as bytes; `references` (name → object of this
    document) are written when the document is saved, when their numbers are known.
    """

    __RefOnly__ = 1  # an indirect object of its own

    def __init__(self, written: bytes, **references: Any) -> None:
        self.written = written
        self.references = references

    def format(self, document: Any) -> bytes:
        late = (
            pdf_format(PDFName(name), document) + b" " + pdf_format(value, document)
            for name, value in self.references.items()
        )
        return b"<<\n" + self.written + b" " + b" ".join(late) + b"\n>>"


def _written(entries: dict[str, object]) -> bytes:
    """Dictionary entries (no references among them) as a PDF writes them."""
    document = DummyDoc()
    return b" ".join(
        pdf_format(PDFName(name), document) + b" " + pdf_format(value, document)
        for name, value in entries.items()
    )


class _Written(PDFObject):
    """An indirect object written out already: one that refers to no other object."""

    __RefOnly__ = 1  # an indirect object of its own

    def __init__(self, written: bytes) -> None:
        self.written = written

    def format(self, _document: object) -> bytes:
        return self.written


def _stream(content: bytes, *, deflate: bool = True, **entries: object) -> bytes:
    """A stream object written out, its content deflated unless told.

    Written as PDF/A-2 has it (ISO 19005-2, 6.1.7.1): an end of line after `stream` and
    another before `endstream`, which `Length` does not count. ReportLab's own streams have
    none before `endstream`, so every stream of a PDF/A document is written here.
    """
    if deflate:
        content = zlib.compress(content)
        entries = {"Filter": PDFName("FlateDecode"), **entries}
    dictionary = _written({**entries, "Length": len(content)})
    return b"<<\n" + dictionary + b"\n>>\nstream\n" + content + b"\nendstream\n"


@dataclass(frozen=True)
class _SubsetObjects:
    """What a font subset puts into a PDF, as bytes that do not depend on the document."""

    font: bytes  # the font dictionary's entries but its name and references
    descriptor: bytes  # the font descriptor's entries but its font program's reference
    to_unicode: bytes  # the ToUnicode CMap's stream object
    font_program: bytes  # the TrueType subset's stream object


class EmbeddedFont(TTFont):
    """A TrueType font embedded as subsets that begin with `COMMON_CHARACTERS`.

    ReportLab builds, formats and deflates each subset's font program, widths and Unicode map
    anew for every document (about 2 ms of a 4 ms letter); here the objects of a subset are
    built once and reused by every document whose subset holds the same characters in the
    same order. The PDF objects themselves are new for each document.
    """

    def __init__(self, name: str, path: Path) -> None:
        # asciiReadable=0: a subset holds the common characters and those the document uses,
        # not all of ASCII besides.
        super().__init__(name, str(path), asciiReadable=0)
        self._subset_objects = functools.lru_cache(maxsize=SUBSET_CACHE_SIZE)(self._build_subset)
        self._common = self._state_with(COMMON_CHARACTERS)

    def start_document(self, document: Any) -> None:
        """Give the common characters their codes in `document` before anything is drawn."""
        fresh: Any = TTFont.State(0, self)
        state: Any = self.state.setdefault(document, fresh)
        if state.assignments != fresh.assignments:
            # Something was drawn already: the common characters follow it.
            self.splitString(COMMON_CHARACTERS, document)
            return
        # The codes ReportLab would give them, copied (faster than assigning one by one).
        state.assignments = dict(self._common.assignments)
        state.subsets = [list(subset) for subset in self._common.subsets]
        state.nextCode = self._common.nextCode

    def _state_with(self, characters: str) -> Any:
        """The state of a document in which only `characters` were drawn, in this order."""

        class Document:  # any object that a weak reference can name
            pass

        document = Document()
        super().splitString(characters, document)
        return self.state.pop(document)

    def splitString(  # noqa: N802 (ReportLab's name)
        self, text: str | bytes, doc: Any, encoding: str = "utf-8"
    ) -> list[tuple[int, bytes]]:
        """`text` as (subset, codes) runs; ReportLab's answer, found without a loop in Python.

        When the document has a single subset and already gave every character of `text` its
        code (the common characters from the start; nearly every letter uses no others), the
        codes come from one `str.translate`; else ReportLab assigns them one by one.
        """
        state: Any = self.state.get(doc)
        if state is not None and state.nextCode <= _CODES_PER_SUBSET and isinstance(text, str):
            assignments = state.assignments
            if assignments.keys() >= set(map(ord, text)):
                return [(0, text.translate(assignments).encode("latin-1"))] if text else []
        return super().splitString(text, doc, encoding)

    def addObjects(self, doc: Any) -> None:  # noqa: N802 (ReportLab's name)
        """Add this font's subsets to the document `doc` (ReportLab calls it when saving)."""
        state: Any = self.state.get(doc) or TTFont.State(0, self)
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        for number, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(number, doc)[1:]
            objects = self._subset_objects(number, tuple(subset))
            program = doc.Reference(_Written(objects.font_program))
            descriptor = _Entries(objects.descriptor, FontFile2=program)
            font = _Entries(
                objects.font,
                Name=PDFName(internal_name),
                ToUnicode=doc.Reference(_Written(objects.to_unicode)),
                FontDescriptor=doc.Reference(descriptor),
            )
            doc.Reference(font, internal_name)
            fonts[internal_name] = font
        self.state.pop(doc, None)

    def _build_subset(self, number: int, subset: tuple[int, ...]) -> _SubsetObjects:
        face = cast("Any", self.face)
        base_font = (SUBSETN(number) + b"+" + face.name + face.subfontNameX).decode("pdfdoc")
        program = face.makeSubset(list(subset))
        font = {
            "Type": PDFName("Font"),
            "Subtype": PDFName("TrueType"),
            "BaseFont": PDFName(base_font),
            "FirstChar": 0,
            "LastChar": len(subset) - 1,
            "Widths": PDFArray([face.getCharWidth(code) for code in subset]),
        }
        descriptor = {
            "Type": PDFName("FontDescriptor"),
            "FontName": PDFName(base_font),
            "Ascent": face.ascent,
            "CapHeight": face.capHeight,
            "Descent": face.descent,
            # A subset is symbolic: its glyphs are reached through its own cmap.
            "Flags": (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
            "FontBBox": PDFArray(face.bbox),
            "ItalicAngle": face.italicAngle,
            "StemV": face.stemV,
            "MissingWidth": face.defaultWidth,
        }
        return _SubsetObjects(
            font=_written(font),
            descriptor=_written(descriptor),
            to_unicode=_stream(makeToUnicodeCMap(base_font, list(subset)).encode()),
            font_program=_stream(program, Length1=len(program)),
        )


def register_fonts() -> tuple[EmbeddedFont, ...]:
    """Register the embedded fonts with ReportLab (once per process, from any thread)."""
    global _fonts  # noqa: PLW0603 (registration is process-wide in ReportLab)
    with _FONTS_LOCK:
        if not _fonts:
            fonts = (
                EmbeddedFont(REGULAR, FONT_DIR / "DejaVuSans.ttf"),
                EmbeddedFont(BOLD, FONT_DIR / "DejaVuSans-Bold.ttf"),
            )
            for font in fonts:
                pdfmetrics.registerFont(font)
            _fonts = fonts
        return _fonts


@functools.cache
def srgb_profile() -> bytes:
    """The sRGB ICC profile of the output intent (built once per process).

    Its header's creation date is `ICC_PROFILE_DATE`, not the moment it was built, so that
    every process writes the same bytes for the same document.
    """
    # Pillow builds the sRGB profile from littlecms: no ICC file to ship.
    built = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # The header's bytes 24-35 are the date and time as six big-endian 16-bit numbers.
    # The profile ID (bytes 84-99) is left zero by littlecms, so nothing else covers them.
    return built[:24] + struct.pack(">6H", *ICC_PROFILE_DATE) + built[36:]


@functools.cache
def _srgb_stream() -> bytes:
    return _stream(srgb_profile(), N=3)


class _PdfaCanvas(Canvas):
    """A canvas that writes each page's content as a PDF/A stream (see `_stream`)."""

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        """Close the page (ReportLab's), and give it its content stream."""
        super().showPage()
        page = cast("Any", self)._doc.Pages.pages[-1]  # noqa: SLF001 (the page just closed)
        content = page.stream
        # Deflated only, not also ASCII85-encoded as ReportLab would: PDF/A files are binary.
        page.Contents = _Written(_stream(content.encode() if isinstance(content, str) else content))


def _pdf_date(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xmp_packet(title: str, author: str, created: dt.datetime) -> bytes:
    """The XMP metadata PDF/A-2b asks for, matching the document information dictionary."""
    date = _pdf_date(created)
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{_xml_text(title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{_xml_text(author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt>
    <rdf:li xml:lang="x-default">{_xml_text(title)}</rdf:li>
   </rdf:Alt></dc:description>
   <pdf:Producer>{PRODUCER}</pdf:Producer>
   <pdf:Keywords></pdf:Keywords>
   <xmp:CreatorTool>{PRODUCER}</xmp:CreatorTool>
   <xmp:CreateDate>{date}</xmp:CreateDate>
   <xmp:ModifyDate>{date}</xmp:ModifyDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def pdfa_canvas(
    buffer: io.BytesIO,
    *,
    title: str,
    author: str,
    created: dt.datetime,
    pagesize: tuple[float, float] = A4,
) -> Canvas:
    """A canvas whose document declares PDF/A-2b: XMP identification and an sRGB intent.

    Args:
        buffer: where `canvas.save()` writes the PDF.
        title: the document's title (information dictionary and XMP).
        author: its author, likewise.
        created: its creation and modification date; fixed, so the bytes are reproducible.
        pagesize: the page size in points (A4 unless told).
    """
    fonts = register_fonts()
    canvas = _PdfaCanvas(
        buffer,
        pagesize=pagesize,
        pageCompression=1,
        initialFontName=cast("Any", REGULAR),  # the stubs say float; it is a font name
        invariant=1,
    )
    # ReportLab has no public way to set the document's dates or the catalog entries it does
    # not know: reach into its document object.
    document = cast("Any", canvas)._doc  # noqa: SLF001
    for font in fonts:
        font.start_document(document)
    stamp = document._timeStamp  # noqa: SLF001
    stamp.t = created.timestamp()
    stamp.lt = created.astimezone(dt.UTC).timetuple()
    stamp.YMDhms = tuple(stamp.lt)[:6]
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(title)
    canvas.setCreator(PRODUCER)
    canvas.setProducer(PRODUCER)
    _add_pdfa_entries(document.Catalog, document, xmp_packet(title, author, created))
    return canvas


def _add_pdfa_entries(catalog: Any, document: Any, packet: bytes) -> None:
    """The catalog's sRGB output intent and its XMP metadata `packet`."""
    # ReportLab writes only the catalog keys it knows; OutputIntents must be added to them.
    catalog.__NoDefault__ = [*catalog.__NoDefault__, "OutputIntents"]
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"),
            "S": PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": PDFString("sRGB"),
            "Info": PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": document.Reference(_Written(_srgb_stream())),
        }
    )
    catalog.OutputIntents = PDFArray([intent])
    # Not deflated: PDF/A wants the metadata readable without decoding.
    catalog.Metadata = _Written(
        _stream(packet, deflate=False, Type=PDFName("Metadata"), Subtype=PDFName("XML"))
    )
