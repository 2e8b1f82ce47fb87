"""What the letter service refuses at the edge, on SQLite and PostgreSQL: HTML a browser would
run, PDFs with active content, file names with paths or hidden characters, subjects that turn
around. Each refusal names the field, says why in Swedish, and leaves no row behind."""

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from sqlalchemy import select

from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.inputs import AttachmentInput, LetterRejectedError
from utskick.letters.text_checks import BIDI_FORMATTING
from utskick.senders.models import SenderOrganisation

pytestmark = pytest.mark.storage

PDF = minimal_pdf(1000)


def _pdf_with(change):
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _javascript(writer):
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )


def _attached(filename, content=PDF):
    return {"attachments": (AttachmentInput(filename, content),)}


REFUSALS = [
    pytest.param(
        {"body_type": "text/html", "body": "<p>Hej</p><script>alert(1)</script>"},
        "body",
        "<script> är inte tillåtet",
        id="html-script",
    ),
    pytest.param(
        {"body_type": "text/html", "body": "<![CDATA[<img src=x onerror=alert(1)>]]>"},
        "body",
        "kommentarer",
        id="html-cdata",
    ),
    pytest.param(
        {"body_type": "text/html", "body": '<a href="jav&#x09;ascript:alert(1)">x</a>'},
        "body",
        "href på <a>",
        id="html-javascript-link",
    ),
    pytest.param(
        _attached("beslut.pdf", _pdf_with(_javascript)),
        "attachments[0].content",
        "bilagan beslut.pdf innehåller JavaScript; skapa PDF-filen utan skript",
        id="pdf-javascript",
    ),
    pytest.param(
        _attached("beslut.pdf", _pdf_with(lambda w: w.add_attachment("x.exe", b"MZ"))),
        "attachments[0].content",
        "inbäddade filer",
        id="pdf-embedded-file",
    ),
    pytest.param(
        _attached("beslut.pdf", b"%PDF-1.7\ninte mer"),
        "attachments[0].content",
        "kan inte läsas som PDF",
        id="pdf-unreadable",
    ),
    pytest.param(
        _attached("../"),
        "attachments[0].filename",
        "har inget namn",
        id="filename-only-a-path",
    ),
    pytest.param(
        _attached("C:\\Ärenden\\.."),
        "attachments[0].filename",
        "har inget namn",
        id="filename-windows-dot-dot",
    ),
    pytest.param(
        _attached("beslut\u202efdp.exe"),
        "attachments[0].filename",
        "U+202E",
        id="filename-right-to-left-override",
    ),
    pytest.param(
        _attached("beslut\x00.pdf"),
        "attachments[0].filename",
        "styrtecknet U+0000",
        id="filename-nul",
    ),
    pytest.param(
        {"subject": "Beslut: \u202ebeviljas ej\u202c"},
        "subject",
        "riktningstecknet U+202E",
        id="subject-bidi-override",
    ),
    pytest.param(
        {"subject": "Beslut \u2067x\u2069"}, "subject", "U+2067", id="subject-bidi-isolate"
    ),
    pytest.param({"subject": "Beslut\x9b31m"}, "subject", "styrtecknet U+009B", id="subject-c1"),
    pytest.param({"case_number": "BN\u200f 2026/1"}, "case_number", "riktningstecken", id="case"),
    pytest.param(
        {"department": "Bygg\u202e"}, "department", "riktningstecken", id="department-bidi"
    ),
]


@pytest.mark.parametrize(("changes", "field", "reason"), REFUSALS)
def test_refused_with_the_reason_and_nothing_is_stored(
    intake, a_letter, stored_rows, changes, field, reason
):
    service, system = intake
    before = stored_rows()
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(system, a_letter(**changes), actor="cli")
    assert refused.value.field == field
    assert reason in refused.value.message
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("C:\\Users\\handläggare\\Ärenden\\beslut.pdf", "beslut.pdf"),
        ("../../../../etc/beslut.pdf", "beslut.pdf"),
        ("/srv/export/karta.pdf", "karta.pdf"),
    ],
)
def test_a_path_in_front_of_a_file_name_is_removed_before_it_is_stored(
    intake, a_letter, given, stored
):
    service, system = intake
    letter, _ = service.accept(system, a_letter(**_attached(given)), actor="cli")
    assert [attachment.filename for attachment in letter.attachments] == [stored]


def test_arabic_text_may_use_directional_marks_in_the_body(intake, a_letter):
    # The body is text for people, in any language; only one-line fields refuse the marks.
    service, system = intake
    letter, created = service.accept(
        system, a_letter(body="\u200fقرار بشأن ترخيص البناء\u200f"), actor="cli"
    )
    assert created
    assert letter.body.startswith("\u200f")


def test_the_list_of_refused_directional_characters_is_complete():
    # U+202A–U+202E, U+2066–U+2069, U+200E, U+200F and U+061C, as the issue lists them.
    expected = {chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
    assert set(BIDI_FORMATTING) == expected | {"\u200e", "\u200f", "\u061c"}


def test_a_sender_whose_support_text_turns_around_sends_nothing(
    intake, a_letter, db_session, stored_rows
):
    # The support text goes into every letter of the sender: it is checked like a subject.
    service, system = intake
    sender = db_session.scalar(
        select(SenderOrganisation).where(SenderOrganisation.organisation_number == "2021004748")
    )
    sender.support_text = "Frågor? Ring \u202e76 54 321-80\u202c."
    db_session.flush()
    before = stored_rows()
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(system, a_letter(), actor="cli")
    assert refused.value.field == "sender"
    assert "supporttext med riktningstecknet U+202E" in refused.value.message
    assert stored_rows() == before
