"""A letter laid out with the address in the window (a print file's letter) goes on paper as
it is: exactly its attachment's pages, with no page of ours, alone and in a merged batch.
Letters without the layout keep our address page; a protected person's letter keeps it too,
with the forwarding address, whatever the layout. SQLite and PostgreSQL for the builder."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from support.print_files import letter_pages, pdf_of
from support.world import EVA, EXEMPELKOMMUN, NOW, TOLVAN, sender_organisation
from utskick.letters.models import Letter
from utskick.letters.vocabulary import ADDRESS_IN_WINDOW
from utskick.printing.documents import DocumentBuilder
from utskick.printing.models import WHOLE_LETTER, PrintItem
from utskick.printing.render import LetterRenderer, PrintLetter, Window
from utskick.settings import Settings

WINDOW = Window(15, 44, 95, 26)
ATTACHMENT = pdf_of(letter_pages("19121212-1212", 2))


def texts(pdf):
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def print_letter(number, **changes):
    values = {
        "letter_id": f"0f0e0d0c-0000-4000-8000-{number:012d}",
        "sender_name": "Exempelkommun",
        "department": "Ekonomi",
        "letter_date": dt.date(2026, 12, 7),
        "created_at": dt.datetime(2026, 12, 7, 8, tzinfo=dt.UTC),
        "subject": f"Faktura {number}",
        "body": "Fakturan finns i den bifogade PDF-filen.",
        "address_lines": ("Tolvan Tolvansson", "Storgatan 1", "123 45 Exempelstad"),
        "attachments": (ATTACHMENT,),
    }
    values.update(changes)
    return PrintLetter(**values)


class TestRenderer:
    def test_a_letter_as_printed_is_exactly_its_attachments_pages(self):
        rendered = LetterRenderer(WINDOW).render(print_letter(1, as_printed=True))

        assert rendered.pages == 2
        assert texts(rendered.pdf) == texts(ATTACHMENT)

    def test_a_letter_without_the_layout_still_gets_our_address_page_first(self):
        rendered = LetterRenderer(WINDOW).render(print_letter(1))

        pages = texts(rendered.pdf)
        assert rendered.pages == 3
        assert "Faktura 1" in pages[0]
        assert "Storgatan 1" in pages[0]
        assert pages[1:] == texts(ATTACHMENT)

    def test_a_letter_as_printed_without_attachments_gets_our_page_rather_than_none(self):
        rendered = LetterRenderer(WINDOW).render(print_letter(1, as_printed=True, attachments=()))

        assert rendered.pages == 1
        assert "Faktura 1" in texts(rendered.pdf)[0]

    def test_in_a_merged_batch_each_letter_lies_where_its_part_says(self):
        letters = [
            print_letter(1, as_printed=True),
            print_letter(2),
            print_letter(3, as_printed=True),
            print_letter(4, as_printed=True),
        ]

        pdf, parts = LetterRenderer(WINDOW).render_merged(
            letters, title="Batch", author="Exempelkommun", created=NOW
        )

        pages = texts(pdf)
        assert [(part.first_page, part.pages) for part in parts] == [(1, 2), (3, 3), (6, 2), (8, 2)]
        assert len(pages) == 9
        assert pages[0:2] == texts(ATTACHMENT)
        assert "Faktura 2" in pages[2]
        assert pages[5:7] == texts(ATTACHMENT)
        assert pages[7:9] == texts(ATTACHMENT)

    def test_a_merged_batch_of_letters_as_printed_only_has_their_pages(self):
        letters = [print_letter(number, as_printed=True) for number in (1, 2)]

        pdf, parts = LetterRenderer(WINDOW).render_merged(
            letters, title="Batch", author="Exempelkommun", created=NOW
        )

        assert texts(pdf) == texts(ATTACHMENT) * 2
        assert [(part.first_page, part.pages) for part in parts] == [(1, 2), (3, 2)]


@pytest.mark.storage
class TestDocumentBuilder:
    @pytest.fixture
    def builder(self, db_session):
        db_session.add(sender_organisation())
        db_session.flush()
        return DocumentBuilder(db_session, Settings())

    @staticmethod
    def build(builder, *, layout, protected=False, recipient=TOLVAN, attachments=(ATTACHMENT,)):
        letter = Letter(
            id="0f0e0d0c-0000-4000-8000-000000000077",
            sender_number=EXEMPELKOMMUN,
            department="Ekonomi",
            recipient_id=recipient,
            subject="Faktura",
            body_type="text/plain",
            body="Fakturan finns i den bifogade PDF-filen.",
            created_at=NOW,
            paper_layout=layout,
        )
        item = PrintItem(
            letter_id=letter.id,
            part=WHOLE_LETTER,
            protected=protected,
            address=None if protected else ["Tolvan Tolvansson", "123 45 Exempelstad"],
        )
        return builder.build(item, letter, list(attachments))

    def test_the_address_in_window_layout_prints_the_letter_as_it_is(self, builder):
        document = self.build(builder, layout=ADDRESS_IN_WINDOW)

        assert document.as_printed
        assert texts(LetterRenderer(WINDOW).render(document).pdf) == texts(ATTACHMENT)

    def test_without_the_layout_our_page_comes_first(self, builder):
        document = self.build(builder, layout=None)

        assert not document.as_printed
        assert LetterRenderer(WINDOW).render(document).pages == 3

    def test_a_protected_persons_letter_gets_our_page_with_the_forwarding_address(self, builder):
        document = self.build(builder, layout=ADDRESS_IN_WINDOW, protected=True, recipient=EVA)

        pages = texts(LetterRenderer(WINDOW).render(document).pdf)
        assert not document.as_printed
        assert len(pages) == 3
        assert "Skatteverket" in pages[0]

    def test_the_layout_without_paper_attachments_gets_our_page(self, builder):
        document = self.build(builder, layout=ADDRESS_IN_WINDOW, attachments=())

        assert not document.as_printed
        assert LetterRenderer(WINDOW).render(document).pages == 1
