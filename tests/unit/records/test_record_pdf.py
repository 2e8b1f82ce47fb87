"""A letter's record as PDF: its facts, content, attachments, timeline, marking and PDF/A.

The PDF is read back with pypdf: text with the font that drew it, the XMP identification,
the output intent and the fonts' embedding. The loader's masking is checked on SQLite and
PostgreSQL at the end.
"""

import dataclasses
import datetime as dt
import io

import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from utskick.letters import vocabulary
from utskick.records.record_document import (
    MASKED_RECIPIENT,
    RecordAttachment,
    RecordDocument,
    RecordEvent,
)
from utskick.records.record_pdf import render_record_pdf

MARKING = "Sekretess kan gälla – pröva före utlämnande (OSL)"
SENT = dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC)  # 09:15 in Stockholm (CET)


def attachment_pdf(*pages: str) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for text in pages:
        canvas.drawString(72, 700, text)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def record(**changes) -> RecordDocument:
    values = {
        "letter_id": "0f0e0d0c-0000-4000-8000-000000000001",
        "organisation_number": "2021004748",
        "organisation_name": "Exempelkommun",
        "department": "Socialtjänsten",
        "message_type": "beslut",
        "message_type_name": "Beslut",
        "rule": "register",
        "keeper": "utskick",
        "decision": None,
        "subject": "Beslut om försörjningsstöd",
        "case_number": "SN 2026/12",
        "reference": "Ärende 7",
        "registration_number": "KS 2026/123",
        "recipient": "19121212-1212",
        "recipient_masked": False,
        "protection_class": 2,
        "created_at": SENT - dt.timedelta(minutes=5),
        "sent_at": SENT,
        "delivered_at": SENT,
        "channel": "digital",
        "state": vocabulary.DELIVERED,
        "reason": vocabulary.REACHABLE,
        "body": "Hej!\n\nDu har beviljats försörjningsstöd för mars.",
        "body_type": "text/plain",
        "content_note": None,
        "attachments": (),
        "events": (
            RecordEvent(SENT - dt.timedelta(minutes=5), vocabulary.RECEIVED, None, None, "api:x"),
            RecordEvent(SENT, vocabulary.DELIVERED, None, "Levererat till Brevlåda Syd.", "worker"),
        ),
    }
    values.update(changes)
    return RecordDocument(**values)


def pages(pdf: bytes) -> list[str]:
    """Each page's text, its lines joined by single spaces (wrapping moves words)."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def texts_with_fonts(pdf: bytes, page: int) -> list[tuple[str, str]]:
    runs = []

    def visit(text, _cm, _tm, font, _size):
        if text.strip() and font is not None:
            runs.append((text.strip(), str(font["/BaseFont"])))

    PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return runs


WITH_ATTACHMENT = {
    "attachments": (
        RecordAttachment(
            1,
            "beslut.pdf",
            "application/pdf",
            "both",
            1234,
            "ab" * 32,
            attachment_pdf("Bilagans första sida", "Bilagans andra sida"),
        ),
    )
}


class TestContent:
    def test_the_facts_of_the_record_are_on_the_first_page(self):
        first = pages(render_record_pdf(record()))[0]
        for expected in (
            "Exempelkommun (202100-4748)",
            "Socialtjänsten",
            "Beslut (beslut)",
            "diarieförs",
            "Beslut om försörjningsstöd",
            "SN 2026/12",
            "Ärende 7",
            "KS 2026/123",
            "19121212-1212",
            "2026-03-02 09:15:00 CET",
            "digitalt",
            "levererat digitalt",
            "Du har beviljats försörjningsstöd för mars.",
        ):
            assert expected in first, expected

    def test_a_masked_recipient_reads_skyddad_identitet_and_never_the_number(self):
        text = "\n".join(
            pages(render_record_pdf(record(recipient=MASKED_RECIPIENT, recipient_masked=True)))
        )
        assert "skyddad identitet" in text
        assert "19121212" not in text

    def test_disposed_content_is_said_plainly_instead_of_the_body(self):
        note = "Innehållet (brevtext och bilagor) gallrades 2030-01-01 10:00 CET enligt KS 1."
        text = pages(render_record_pdf(record(body=None, content_note=note)))[0]
        assert "gallrades 2030-01-01" in text
        assert "försörjningsstöd för mars" not in text

    def test_an_html_body_is_shown_as_its_text(self):
        body = (
            "<p>Hej!</p><p>Beslutet <strong>gäller</strong> från i dag.</p><ul><li>Punkt</li></ul>"
        )
        text = pages(render_record_pdf(record(body=body, body_type="text/html")))[0]
        assert "Beslutet gäller från i dag." in text
        assert "<strong>" not in text

    def test_every_event_is_in_the_timeline_with_local_time_and_swedish_state(self):
        text = pages(render_record_pdf(record()))[-1]
        assert "Händelser" in text
        assert "2026-03-02 09:10:00 CET mottaget" in text
        assert "2026-03-02 09:15:00 CET levererat digitalt Levererat till Brevlåda Syd." in text

    def test_a_long_body_runs_over_pages_without_losing_a_line(self):
        body = "\n".join(f"Rad {n} av brevet." for n in range(1, 151))
        text = "\n".join(pages(render_record_pdf(record(body=body))))
        assert all(f"Rad {n} av brevet." in text for n in range(1, 151))


class TestAttachments:
    def test_attachments_are_listed_with_sha256_and_their_pages_come_before_the_timeline(self):
        pdf = render_record_pdf(record(**WITH_ATTACHMENT))
        texts = pages(pdf)
        assert "beslut.pdf" in texts[0]
        assert "ab" * 32 in texts[0].replace(" ", "")
        assert "Bilagans första sida" in texts[1]
        assert "Bilagans andra sida" in texts[2]
        assert "Händelser" in texts[3]
        assert all(f"Sida {n} av 4" in text for n, text in enumerate(texts, start=1))

    def test_an_attachment_whose_content_is_gone_is_listed_but_has_no_pages(self):
        gone = RecordAttachment(1, "beslut.pdf", "application/pdf", "both", 1234, "cd" * 32, None)
        texts = pages(render_record_pdf(record(attachments=(gone,))))
        assert len(texts) == 1
        assert "Innehållet finns inte kvar." in texts[0]

    def test_an_attachment_that_is_no_pdf_is_listed_and_left_out(self):
        broken = RecordAttachment(1, "trasig.pdf", "application/pdf", "both", 3, "ef" * 32, b"nej")
        texts = pages(render_record_pdf(record(attachments=(broken,))))
        assert "kan inte läsas som PDF" in texts[0]


class TestMarking:
    def test_the_marking_heads_every_page_in_bold_the_attachments_pages_too(self):
        pdf = render_record_pdf(record(**WITH_ATTACHMENT), marking=MARKING)
        reader = PdfReader(io.BytesIO(pdf))
        for number in range(len(reader.pages)):
            runs = texts_with_fonts(pdf, number)
            marked = [font for text, font in runs if text == MARKING]
            assert marked, number
            assert all(font.endswith("Sans-Bold") for font in marked), marked

    def test_the_marking_is_black(self):
        pdf = render_record_pdf(record(), marking=MARKING)
        content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
        assert b"0 0 0 rg" in content
        assert b"1 0 0 rg" not in content

    def test_without_a_marking_none_is_printed(self):
        assert "Sekretess" not in "\n".join(pages(render_record_pdf(record())))


class TestPdfA:
    def test_the_document_declares_pdfa_2b_with_an_srgb_output_intent(self):
        for changes in ({}, WITH_ATTACHMENT):
            reader = PdfReader(io.BytesIO(render_record_pdf(record(**changes), marking=MARKING)))
            root = reader.trailer["/Root"]
            metadata = root["/Metadata"].get_object().get_data().decode()
            assert "<pdfaid:part>2</pdfaid:part>" in metadata
            assert "<pdfaid:conformance>B</pdfaid:conformance>" in metadata
            intent = root["/OutputIntents"][0].get_object()
            assert intent["/S"] == "/GTS_PDFA1"
            assert intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"
            assert not reader.is_encrypted

    def test_every_font_on_our_pages_is_embedded_with_a_unicode_map(self):
        reader = PdfReader(
            io.BytesIO(render_record_pdf(record(**WITH_ATTACHMENT), marking=MARKING))
        )
        for number in (0, 3):  # our pages: the facts and the timeline
            fonts = reader.pages[number]["/Resources"]["/Font"]
            for reference in fonts.values():
                font = reference.get_object()
                assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]
                assert "/ToUnicode" in font

    def test_the_same_record_gives_the_same_bytes(self):
        assert render_record_pdf(record(), marking=MARKING) == render_record_pdf(
            record(), marking=MARKING
        )


# --- the loader, on SQLite and PostgreSQL ---------------------------------------------------


@pytest.mark.storage
class TestLoader:
    @pytest.fixture
    def letters(self, db_session):
        from functional.records.ended_letters import ended_letter, make_records, prepare_world

        systems = prepare_world(db_session)
        plain = ended_letter(db_session, systems.desk, message_type="beslut", attachments=1)
        protected = ended_letter(db_session, systems.desk, message_type="beslut")
        from support.world import NOW
        from utskick.letters import events

        events.record(db_session, protected, protected.state, current=False, actor="test",
                      now=NOW, reason=vocabulary.PROTECTED_IDENTITY)  # fmt: skip
        make_records(db_session, [plain, protected])
        return plain, protected

    def test_a_letter_loads_with_its_record_attachments_and_events(self, db_session, letters):
        from utskick.records.record_document import load_record_document

        plain, _ = letters
        document = load_record_document(db_session, plain.id, mask_identity=False)
        assert document.recipient == "19121212-1212"
        assert document.rule == "register"
        assert [a.filename for a in document.attachments] == ["bilaga-1.pdf"]
        assert [e.state for e in document.events][-1] == vocabulary.DELIVERED
        assert document.organisation_name == "Exempelkommun"

    def test_a_recipient_found_protected_by_the_letters_events_is_masked(self, db_session, letters):
        from utskick.records.record_document import load_record_document

        _, protected = letters
        document = load_record_document(db_session, protected.id, mask_identity=False)
        assert document.recipient == MASKED_RECIPIENT
        assert document.recipient_masked

    def test_the_caller_can_ask_for_masking(self, db_session, letters):
        from utskick.records.record_document import load_record_document

        plain, _ = letters
        document = load_record_document(db_session, plain.id, mask_identity=True)
        assert document.recipient == MASKED_RECIPIENT

    @pytest.mark.usefixtures("letters")
    def test_an_unknown_letter_is_none(self, db_session):
        from utskick.records.record_document import load_record_document

        assert load_record_document(db_session, "no-such-letter", mask_identity=False) is None

    def test_a_loaded_record_renders(self, db_session, letters):
        from utskick.records.record_document import load_record_document

        plain, _ = letters
        document = load_record_document(db_session, plain.id, mask_identity=False)
        text = "\n".join(pages(render_record_pdf(dataclasses.replace(document, time_zone="UTC"))))
        assert plain.subject in text
