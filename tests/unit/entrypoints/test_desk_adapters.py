"""The desk's ports on the print service: the register's facts and the printed preview."""

import io

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from support.world import (
    BERTIL,
    EVA,
    EXEMPELKOMMUN,
    NOW,
    DownPopulationRegister,
    sender_organisation,
)
from utskick.db.engine import create_database_engine
from utskick.desk.ports import PaperDraft, RegisterFacts, RegisterUnavailableError
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.desk_adapters import (
    PrintServicePreview,
    RegisterFactsFromAddressSource,
    desk_ports,
)
from utskick.migrations import migrate
from utskick.printing.addresses import (
    AddressSourceUnavailableError,
    FixedAddressSource,
    RegisterEntry,
)
from utskick.settings import PrintVendor, Settings

DECEASED = "195807183529"
REGISTER = FixedAddressSource({
    BERTIL: RegisterEntry(BERTIL, found=True, name="Bertil Bengtsson", lines=("Bokvägen 3", "234 56 Byn")),
    EVA: RegisterEntry(EVA, found=True, name="Eva Ek", lines=("Hemliga vägen 1", "345 67 Gömby"), protected=True),
    DECEASED: RegisterEntry(DECEASED, found=True, name="Hanna Holm", lines=("Holmen 1", "456 78 Ö"), deceased=True),
})  # fmt: skip


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('desk') / 'u.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        session.add(sender_organisation(EXEMPELKOMMUN, support_phone="0123-45 67 00"))
        session.commit()
    yield engine
    engine.dispose()


def draft(recipient=BERTIL, **changes):
    values = {"sender_number": EXEMPELKOMMUN, "department": "Socialtjänsten",
              "recipient_id": recipient, "subject": "Kallelse till möte",
              "body": "Välkommen på möte.\n\nMed vänlig hälsning", "created_at": NOW,
              "case_number": "SOC 2026/9"}  # fmt: skip
    values.update(changes)
    return PaperDraft(**values)


def text_of(pdf):
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_registers_entry_becomes_the_facts_the_page_shows():
    facts = RegisterFactsFromAddressSource(lambda: REGISTER)
    assert facts.facts(BERTIL) == RegisterFacts(found=True, has_address=True)
    assert facts.facts(EVA).protected
    assert facts.facts(DECEASED).deceased
    assert facts.facts("198001011234") == RegisterFacts(found=False)


class CountingRegister(FixedAddressSource):
    def __init__(self, entries):
        super().__init__(entries)
        self.asked = []

    def lookup(self, recipient_ids):
        self.asked.append(list(recipient_ids))
        return super().lookup(recipient_ids)


def test_many_recipients_are_asked_about_in_one_call():
    register = CountingRegister(REGISTER.entries)
    ids = [BERTIL, EVA, DECEASED, "198001011234"]
    facts = RegisterFactsFromAddressSource(lambda: register).facts_of(ids)
    assert register.asked == [ids]
    assert facts == {
        rid: RegisterFactsFromAddressSource(lambda: REGISTER).facts(rid) for rid in ids
    }


@pytest.mark.parametrize("source", [DownPopulationRegister, "not configured"])
def test_a_register_that_cannot_be_asked_is_unavailable(source):
    def unconfigured():
        raise AddressSourceUnavailableError("UTSKICK_POPULATION_URL är inte satt")

    facts = RegisterFactsFromAddressSource(source if callable(source) else unconfigured)
    with pytest.raises(RegisterUnavailableError):
        facts.facts(BERTIL)
    with pytest.raises(RegisterUnavailableError):
        facts.facts_of([BERTIL, EVA])


def test_the_preview_is_rendered_by_the_print_service_with_the_address_in_the_window(engine):
    preview = PrintServicePreview(lambda: REGISTER, Settings(), engine)
    result = preview.preview(draft(paper_attachments=(minimal_pdf(1000),)))
    first, attachment = text_of(result.pdf)
    for expected in ("Bertil Bengtsson", "Bokvägen 3", "234 56 Byn", "Kallelse till möte",
                     "Exempelkommun", "Socialtjänsten", "SOC 2026/9", "Telefon 0123-45 67 00",
                     "Datum 2026-11-27"):  # fmt: skip
        assert expected.replace(" ", "") in first.replace(" ", "").replace("\n", "")
    assert attachment is not None


def test_a_protected_person_is_printed_to_skatteverket_never_to_the_given_address(engine):
    preview = PrintServicePreview(lambda: REGISTER, Settings(), engine)
    given = {
        "name": "Eva Ek",
        "lines": ["Hemliga vägen 1"],
        "postal_code": "345 67",
        "city": "Gömby",
    }
    [page] = text_of(preview.preview(draft(EVA, postal_address=given)).pdf)
    assert "Personnummer 19851230-4166" in page
    assert "Skatteverket" in page
    assert "Hemliga" not in page


@pytest.mark.parametrize(("recipient", "reason"), [
    (DECEASED, "avliden"), ("198001011234", "finns inte i folkbokföringen"),
])  # fmt: skip
def test_a_letter_the_print_service_would_not_print_is_explained(engine, recipient, reason):
    result = PrintServicePreview(lambda: REGISTER, Settings(), engine).preview(draft(recipient))
    assert result.pdf is None
    assert result.not_printed.startswith("Inget brev skrivs ut: ")
    assert reason in result.not_printed


def test_the_window_is_the_print_routes(engine):
    narrow = PrintVendor(name="smalt", window_width_mm=21, window_height_mm=11)
    settings = Settings(print_vendors=[narrow])
    result = PrintServicePreview(lambda: REGISTER, settings, engine).preview(draft())
    assert result.pdf is None
    assert "kuvertfönstret" in result.not_printed


def test_the_ports_read_the_adapters_when_used(engine, tmp_path):
    adapters = Adapters(Settings(home=tmp_path), engine)
    ports = desk_ports(adapters)
    adapters.address_source = REGISTER  # a test replaces it after the app is made
    assert ports.register().facts(BERTIL).found
    assert ports.paper().preview(draft()).pdf.startswith(b"%PDF")
    assert ports.protection().protected([EVA, BERTIL]) == {EVA}
