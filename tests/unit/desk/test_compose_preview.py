"""The printed letter's preview: the draft checked as a letter, then handed to the renderer."""

import pytest

from support.world import BERTIL, EXEMPELKOMMUN, NOW
from utskick.desk.compose_preview import REGISTER_DOWN, paper_preview
from utskick.desk.ports import PaperPreview, RegisterUnavailableError
from utskick.desk.sending import DeskDraft
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.inputs import AttachmentInput
from utskick.web.users import WebUser

PDF = minimal_pdf(1000)
OTHER_PDF = minimal_pdf(1500)


class Renderer:
    def __init__(self, *, down=False):
        self.down = down
        self.drafts = []

    def preview(self, draft):
        self.drafts.append(draft)
        if self.down:
            raise RegisterUnavailableError("folkbokföringen svarar inte")
        return PaperPreview(pdf=b"%PDF-1.4 preview")


def officer():
    return WebUser(username="hans", display_name="Hans Handläggare", role="officer",
                   organisation_number=EXEMPELKOMMUN, department="Socialtjänsten",
                   password_hash="-", active=True, created_at=NOW)  # fmt: skip


def draft(**changes):
    values = {"recipient": "19750101-2475", "subject": "Kallelse", "body": "Välkommen.",
              "case_number": "SOC 2026/9", "reference": "Er ref",
              "attachments": (AttachmentInput("papper.pdf", PDF, "paper"),
                              AttachmentInput("digital.pdf", OTHER_PDF, "digital"),
                              AttachmentInput("bada.pdf", OTHER_PDF, "both"))}  # fmt: skip
    values.update(changes)
    return DeskDraft(**values)


def preview(renderer, **changes):
    return paper_preview(officer(), "Exempelkommun", draft(**changes), lambda: renderer, now=NOW)


def test_the_renderer_gets_what_would_be_printed():
    renderer = Renderer()
    result = preview(renderer, use_contact=True)
    assert result.pdf.startswith(b"%PDF")
    [printed] = renderer.drafts
    assert (printed.sender_number, printed.department, printed.recipient_id) == (
        EXEMPELKOMMUN, "Socialtjänsten", BERTIL)  # fmt: skip
    assert (printed.subject, printed.case_number, printed.reference) == (
        "Kallelse",
        "SOC 2026/9",
        "Er ref",
    )
    assert printed.body == "Välkommen."
    assert printed.support_text.startswith("Har du frågor om brevet? Kontakta Hans Handläggare")
    assert printed.paper_attachments == (PDF, OTHER_PDF)  # paper and both, not digital
    assert (printed.postal_address, printed.created_at) == (None, NOW)


def test_the_eservice_link_is_printed_and_without_contact_the_organisations_text():
    renderer = Renderer()
    preview(renderer, eservice_url=" https://exempelkommun.se/e-tjanst ")
    [printed] = renderer.drafts
    assert (printed.eservice_url, printed.support_text) == (
        "https://exempelkommun.se/e-tjanst",
        None,
    )


def test_a_given_address_is_handed_over_checked():
    renderer = Renderer()
    address = {"name": " Bertil ", "lines": ["Gatan 1"], "postal_code": "123 45", "city": "Byn"}
    preview(renderer, postal_address=address)
    assert renderer.drafts[0].postal_address == {
        "name": "Bertil", "lines": ["Gatan 1"], "postal_code": "123 45", "city": "Byn", "country": None}  # fmt: skip


@pytest.mark.parametrize(("changes", "expected"), [
    ({"recipient": "19750101-2476"}, "Mottagaren är inget giltigt nummer (kontrollsiffran stämmer inte)"),
    ({"attachments": (AttachmentInput("x.pdf", b"inte en pdf"),)}, "ingen PDF-fil"),
    ({"postal_address": {"name": "Bertil", "lines": ["Gatan 1"]}}, "namn, postnummer och ort"),
    ({"use_contact": True, "contact_email": "utan-snabel-a"}, "namn@kommun.se"),
    ({"eservice_url": "exempelkommun.se/e-tjanst"}, "börjar med https://"),
])  # fmt: skip
def test_a_draft_that_could_not_be_sent_is_not_rendered(changes, expected):
    renderer = Renderer()
    result = preview(renderer, **changes)
    assert result.pdf is None
    assert expected in result.not_printed
    assert result.not_printed[0].isupper()
    assert renderer.drafts == []


def test_with_the_register_down_the_preview_says_the_address_cannot_be_found_now():
    assert preview(Renderer(down=True)) == PaperPreview(not_printed=REGISTER_DOWN)
