"""What a stored letter becomes on paper (`DocumentBuilder`), read back from the rendered PDF:
the e-service link and the letter's own support text after the text, the organisation's
support text in the footer only when the letter has none of its own. SQLite and PostgreSQL."""

import io

import pytest
from pypdf import PdfReader

from support.world import EXEMPELKOMMUN, NOW, TOLVAN, sender_organisation
from utskick.letters.models import Letter
from utskick.printing.documents import DocumentBuilder
from utskick.printing.models import PAPER_PART, WHOLE_LETTER, PrintItem
from utskick.printing.render import LetterRenderer, Window
from utskick.settings import Settings

pytestmark = pytest.mark.storage

WINDOW = Window(15, 44, 95, 26)
ORGANISATION_TEXT = "Frågor? Ring Exempelkommuns kontaktcenter."
OWN_TEXT = (
    "Har du frågor om brevet? Kontakta Hans Handläggare, Socialtjänsten, Exempelkommun.\n"
    "E-post: hans@exempelkommun.se"
)
LINK = "https://exempelkommun.se/e-tjanster/overklaga"


@pytest.fixture
def builder(db_session):
    db_session.add(sender_organisation(support_phone="0771-00 00 00"))
    db_session.flush()
    return DocumentBuilder(db_session, Settings())


def stored_letter(**changes):
    values = {
        "id": "0f0e0d0c-0000-4000-8000-000000000042",
        "sender_number": EXEMPELKOMMUN,
        "department": "Socialtjänsten",
        "recipient_id": TOLVAN,
        "subject": "Beslut om färdtjänst",
        "body_type": "text/plain",
        "body": "Hej!\n\nDu har beviljats färdtjänst.",
        "created_at": NOW,
    }
    values.update(changes)
    return Letter(**values)


def printed_text(builder, letter, part=WHOLE_LETTER):
    item = PrintItem(
        letter_id=letter.id, part=part, protected=False, address=["Tolvan", "123 45 Tolvby"]
    )
    pdf = LetterRenderer(WINDOW).render(builder.build(item, letter)).pdf
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_the_eservice_link_is_printed_after_the_text(builder):
    text = printed_text(builder, stored_letter(eservice_url=LINK))
    assert f"E-tjänst: {LINK}" in text
    assert text.index("beviljats färdtjänst") < text.index("E-tjänst:")


def test_the_letters_own_support_text_replaces_the_organisations(builder):
    text = printed_text(builder, stored_letter(support_text=OWN_TEXT))
    lines = text.splitlines()
    assert "Har du frågor om brevet? Kontakta Hans Handläggare, Socialtjänsten, Exempelkommun." in (
        lines
    )
    assert "E-post: hans@exempelkommun.se" in lines
    assert ORGANISATION_TEXT not in text
    assert "Telefon 0771-00 00 00" in text  # the organisation's contact line stays


def test_without_its_own_the_organisations_support_text_is_in_the_footer(builder):
    text = printed_text(builder, stored_letter())
    assert ORGANISATION_TEXT in text
    assert "E-tjänst" not in text


def test_the_paper_part_of_a_digital_letter_carries_them_too(builder):
    letter = stored_letter(body=None, eservice_url=LINK, support_text=OWN_TEXT)
    text = printed_text(builder, letter, part=PAPER_PART)
    assert "Bilagor till: Beslut om färdtjänst" in text
    assert f"E-tjänst: {LINK}" in text
    assert "E-post: hans@exempelkommun.se" in text
