"""PDF/A-2b documents drawn with ReportLab: the canvas, its fonts, its identification.

Paper letters (`printing.render`) and records for disclosure and archiving
(`records.record_pdf`) are both PDF/A-2b, so what makes a canvas conform lives here, on the
ground floor, where both can use it:

- the XMP metadata stream with the PDF/A identification (part 2, conformance B) matching
  the document information dictionary;
- an sRGB output intent (the ICC profile built by Pillow from littlecms, no file shipped);
- fonts embedded as subsets with ToUnicode maps: DejaVu Sans and DejaVu Sans Bold, shipped in
  `utskick/fonts/` with their licence, which cover Latin, Greek and Cyrillic names;
- no encryption, and fixed dates: the document's dates are the caller's, so drawing the same
  content again gives the same bytes.

What a caller draws must keep to it too: only these fonts, only RGB colours (the output
intent's space), no transparency.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path
from typing import Any, cast

from PIL import ImageCms
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import XMP, PDFArray, PDFDictionary, PDFName, PDFStream, PDFString
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).with_name("fonts")
REGULAR = "UtskickSans"
BOLD = "UtskickSans-Bold"
PRODUCER = "Utskick"

_FONTS_LOCK = threading.Lock()
_fonts_ready = False
_SRGB: bytes | None = None


def register_fonts() -> None:
    """Register the embedded fonts with ReportLab (once per process, from any thread)."""
    global _fonts_ready  # noqa: PLW0603 (registration is process-wide in ReportLab)
    with _FONTS_LOCK:
        if _fonts_ready:
            return
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
        _fonts_ready = True


def srgb_profile() -> bytes:
    """The sRGB ICC profile of the output intent (built once per process)."""
    global _SRGB  # noqa: PLW0603 (built once per process)
    if _SRGB is None:
        # Pillow builds the sRGB profile from littlecms: no ICC file to ship.
        _SRGB = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    return _SRGB


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
    register_fonts()
    canvas = Canvas(
        buffer,
        pagesize=pagesize,
        pageCompression=1,
        initialFontName=cast("Any", REGULAR),  # the stubs say float; it is a font name
        invariant=1,
    )
    # ReportLab has no public way to set the document's dates or the catalog entries it does
    # not know: reach into its document object.
    document = cast("Any", canvas)._doc  # noqa: SLF001
    stamp = document._timeStamp  # noqa: SLF001
    stamp.t = created.timestamp()
    stamp.lt = created.astimezone(dt.UTC).timetuple()
    stamp.YMDhms = tuple(stamp.lt)[:6]
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(title)
    canvas.setCreator(PRODUCER)
    canvas.setProducer(PRODUCER)
    catalog = document.Catalog
    # ReportLab writes only the catalog keys it knows; OutputIntents must be added to them.
    catalog.__NoDefault__ = [*catalog.__NoDefault__, "OutputIntents"]
    profile = PDFStream(PDFDictionary({"N": 3}), srgb_profile())
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"),
            "S": PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": PDFString("sRGB"),
            "Info": PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": document.Reference(profile),
        }
    )
    catalog.OutputIntents = PDFArray([intent])
    packet = xmp_packet(title, author, created)
    catalog.Metadata = XMP(creator=lambda _doc: packet)
    return canvas
