"""Print files for the tests, drawn with reportlab as a business system would print them.

Each page is a list of lines drawn from the top left; a letter's first page usually carries
`Personnummer: <number>` and an address block. Form fields are reportlab's AcroForm text
fields; XMP and document information are set with pypdf's writer.
"""

import io

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from support.world import ANNA, IDA, KARIN, TOLVAN

RECIPIENTS = ("19121212-1212", "19800423-2388", "19930228-1465", "19810105-2382")
TWELVE_DIGITS = (TOLVAN, ANNA, IDA, KARIN)


def pdf_of(pages, *, at_mm=(20, 40)):
    """A PDF with one page per entry; each entry is the page's lines, drawn from `at_mm`."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    for lines in pages:
        canvas.setFont("Helvetica", 10)
        x, y = at_mm
        for number, line in enumerate(lines):
            canvas.drawString(x * mm, A4[1] - (y + 5 * number) * mm, line)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def letter_pages(recipient, pages=2, *, label="Personnummer:", name="Tolvan Tolvansson"):
    """One letter's pages: the first with the label, the number and an address block."""
    first = [f"{label} {recipient}", name, "Storgatan 1", "123 45 Exempelstad", "Beslut"]
    rest = [
        [f"Sida {number} av {pages}", "Fortsättning av beslutet."] for number in range(2, pages + 1)
    ]
    return [first, *rest]


def anchor_file(recipients=RECIPIENTS, pages_per_letter=2, **options):
    """A print file of one letter per recipient, each starting with the anchor."""
    pages = []
    for recipient in recipients:
        pages.extend(letter_pages(recipient, pages_per_letter, **options))
    return pdf_of(pages)


def form_pdf(field, value):
    """A one-page letter with an AcroForm text field `field` holding `value`."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.drawString(20 * mm, A4[1] - 40 * mm, "Beslut om bostadsanpassning")
    canvas.acroForm.textfield(
        name=field, value=value, x=20 * mm, y=A4[1] - 60 * mm, width=60 * mm, height=8 * mm
    )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def with_metadata(pdf, *, info=None, xmp=None):
    """The PDF with document information entries and/or an XMP packet added."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    if info:
        writer.add_metadata(info)
    if xmp is not None:
        writer.xmp_metadata = xmp.encode()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def xmp_packet(properties):
    """An XMP packet with the properties (`prefix:name` → value) as elements, each prefix in
    a namespace of its own."""
    namespaces = {name.split(":")[0] for name in properties}
    declarations = " ".join(
        f'xmlns:{prefix}="http://example.test/{prefix}/"' for prefix in namespaces
    )
    elements = "".join(f"<{name}>{value}</{name}>" for name, value in properties.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {declarations}>{elements}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def page_texts(pdf):
    """The text of each page of a PDF."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
