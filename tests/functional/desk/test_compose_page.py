"""Nytt brev (`/brev/nytt`) through the web app: reachability, sending, preview and roles.

FaR is the real precheck on a register that answers as the demo world's FaR does (Tolvan at
Brevlåda Syd, Bertil opted out of Exempelkommun, Eva protected, the others without a
mailbox); the population register is in memory. The tests' FakePrecheck and
DownPopulationRegister stand in when FaR or the register does not answer.
"""

import io
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from functional.web_login import HTML, csrf_token, log_in, page_token
from support.api import PDF, migrated_api_engine
from support.world import (
    BERTIL,
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    HANNA,
    JONAS,
    LENA,
    NOW,
    TOLVAN,
    DownPopulationRegister,
    FakePrecheck,
    fresh_personnummer,
)
from utskick.desk.compose import CLASS_FOUR_REFUSAL
from utskick.entrypoints.app import create_app
from utskick.letters import vocabulary
from utskick.letters.address_screen import UNAVAILABLE
from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.mm.soap import ReachabilityStatus, ServiceSupplier
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.switch.far import Reachability
from utskick.switch.precheck import Precheck
from utskick.web.users import create_user

PASSWORD = "rätt-lösenord-1"
SOCIAL = "Socialtjänsten"
SYD = ServiceSupplier("165569990012", "Brevlåda Syd AB", "https://syd.test/service/v3", "")
REGISTER = {
    TOLVAN: RegisterEntry(
        TOLVAN, found=True, name="Tolvan Tolvansson", lines=("Tolvgatan 12", "123 45 Tolvby")
    ),
    BERTIL: RegisterEntry(
        BERTIL, found=True, name="Bertil Bengtsson", lines=("Bokvägen 3", "234 56 Byn")
    ),
    DAVID: RegisterEntry(
        DAVID, found=True, name="David Dahl", lines=("Dalgatan 4", "345 67 Dalby")
    ),
    EVA: RegisterEntry(EVA, found=True, protected=True),
    HANNA: RegisterEntry(
        HANNA, found=True, name="Hanna Holm", lines=("Holmen 1", "456 78 Ö"), deceased=True
    ),
    JONAS: RegisterEntry(
        JONAS, found=True, name="Jonas Jansson", lines=("Jvägen 2", "567 89 J"), emigrated=True
    ),
    LENA: RegisterEntry(LENA, found=True, name="Lena Lund"),
}
USERS = (
    ("handlaggare", "officer", EXEMPELKOMMUN, SOCIAL),
    ("socialadmin", "department_admin", EXEMPELKOMMUN, SOCIAL),
    ("registrator", "records", EXEMPELKOMMUN, None),
    ("ledning", "management", EXEMPELKOMMUN, None),
    ("admin", "admin", None, None),
    ("granne", "officer", GRANNKOMMUN, SOCIAL),
)


class DemoWorldFar:
    """FaR's isReachable as the demo world answers it, for the real precheck's rule."""

    def is_reachable(self, sender_number, recipient_ids):
        return {recipient: self._answer(sender_number, recipient) for recipient in recipient_ids}

    @staticmethod
    def _answer(sender_number, recipient):
        if recipient == EVA:
            return Reachability(recipient, None, vocabulary.PROTECTED_IDENTITY)
        if recipient in (TOLVAN, BERTIL):
            accepted = not (recipient == BERTIL and sender_number == EXEMPELKOMMUN)
            return Reachability(
                recipient,
                ReachabilityStatus(
                    recipient,
                    "Secure",
                    pending=False,
                    sender_accepted=accepted,
                    service_supplier=SYD,
                ),
            )
        return Reachability(
            recipient, ReachabilityStatus(recipient, "Not", pending=False, sender_accepted=False)
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("compose")
    engine = migrated_api_engine(home / "utskick.db")
    with Session(engine) as session:
        session.add(MessageType(code="skyddat", name="Skyddad uppgift", protection_class=4))
        for username, role, organisation, department in USERS:
            create_user(session, username=username, password=PASSWORD, role=role, now=NOW,
                        organisation=organisation, department=department,
                        display_name=username.capitalize())  # fmt: skip
        session.commit()
    settings = Settings(home=home)
    app = create_app(settings, engine)
    app.state.adapters.precheck = Precheck(DemoWorldFar(), settings)
    app.state.adapters.address_source = FixedAddressSource(REGISTER)
    yield app, engine
    engine.dispose()


def client_for(world, username):
    client = TestClient(world[0])
    assert log_in(client, username, PASSWORD).status_code == 303
    return client


@pytest.fixture(scope="module")
def officer(world):
    return client_for(world, "handlaggare")


def new_form(client, **fields):
    """The page's token and a new idempotency key, with a letter to Tolvan around them."""
    page = client.get("/brev/nytt", headers=HTML)
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    form = {
        "csrf_token": csrf_token(page),
        "idempotency_key": key,
        "recipient": "19121212-1212",
        "message_type": "beslut",
        "subject": f"Beslut om färdtjänst {uuid.uuid4().hex[:6]}",
        "body": "Hej Tolvan!\n\nDu har beviljats färdtjänst.",
    }
    form.update(fields)
    return form


def pdf_file(name="beslut.pdf"):
    return ("attachments", (name, PDF, "application/pdf"))


def stored(engine, letter_id):
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        system = session.get(SendingSystem, letter.sending_system_id)
        actors = list(
            session.scalars(select(LetterEvent.actor).where(LetterEvent.letter_id == letter_id))
        )
        return letter, system.name, actors, [(a.filename, a.channel) for a in letter.attachments]


def letters_with_subject(engine, subject):
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(Letter).where(Letter.subject == subject)
        )


# --- where a letter would go ------------------------------------------------------------


def ask_outlook(client, typed):
    """Post the number as the page's script does: JSON, with the page's token in the header."""
    token = page_token(client, "/brev/nytt")
    return client.post(
        "/brev/nytt/mottagare", json={"nummer": typed}, headers={"X-CSRF-Token": token}
    )


@pytest.mark.parametrize(
    ("typed", "outcome", "line"),
    [
        ("19121212-1212", "digital", "Går digitalt till Brevlåda Syd AB"),
        ("19750101-2475", "paper", "Skrivs ut: mottagaren tar inte emot digital post från Exempelkommun"),
        ("19661109-0827", "paper", "Skrivs ut: mottagaren har ingen digital brevlåda"),
        ("19851230-4166", "protected", "Skyddad identitet: går via Skatteverket"),
        ("19580718-3529", "impossible", "Kan inte skickas: avliden"),
        ("19760412-2387", "impossible", "Kan inte skickas: utvandrad"),
        ("19880719-2466", "impossible", "Kan inte skickas: adress saknas"),
        ("19121212-1213", "invalid", "Ogiltigt nummer: kontrollsiffran stämmer inte"),
        ("121212+1212", "digital", "Går digitalt till Brevlåda Syd AB"),
        ("19121312-1212", "invalid", "Ogiltigt nummer: datumet finns inte"),
    ],
)  # fmt: skip
def test_the_recipient_endpoint_says_where_a_letter_would_go(officer, typed, outcome, line):
    answer = ask_outlook(officer, typed)
    assert answer.status_code == 200
    assert answer.json()["outcome"] == outcome
    assert answer.json()["line"] == line


def test_a_recipient_unknown_to_the_register_cannot_be_sent_to_without_an_address(officer):
    answer = ask_outlook(officer, fresh_personnummer()).json()
    assert answer["line"] == "Kan inte skickas: finns inte i folkbokföringen"
    assert "Ange en postadress" in answer["note"]


def test_the_number_is_shown_as_people_type_it(officer):
    answer = ask_outlook(officer, "121212+1212").json()
    assert (answer["display"], answer["kind"]) == ("19121212-1212", "personnummer")


def test_with_far_down_the_page_says_it_cannot_be_decided_now(world, officer, monkeypatch):
    precheck = FakePrecheck()
    precheck.far_down = True
    monkeypatch.setattr(world[0].state.adapters, "precheck", precheck)
    answer = ask_outlook(officer, "19121212-1212").json()
    assert answer["outcome"] == "unknown"
    assert "FaR" in answer["line"]
    assert "avgörs" in answer["note"]


def test_with_the_register_down_paper_is_still_told_and_the_address_later(
    world, officer, monkeypatch
):
    monkeypatch.setattr(world[0].state.adapters, "address_source", DownPopulationRegister())
    answer = ask_outlook(officer, "19750101-2475").json()
    assert answer["outcome"] == "paper"
    assert "Folkbokföringen svarar inte" in answer["note"]


def test_the_number_is_never_asked_for_in_a_url(officer):
    # A number in the query string would stand in every access log line of the request.
    answer = officer.get("/brev/nytt/mottagare", params={"nummer": "19121212-1212"})
    assert answer.status_code == 405
    assert "19121212-1212" not in answer.text


def test_asking_without_the_pages_token_is_refused(officer):
    answer = officer.post("/brev/nytt/mottagare", json={"nummer": "19121212-1212"})
    assert answer.status_code == 403
    assert "outcome" not in answer.text


def test_a_question_with_a_number_longer_than_any_is_refused_by_field(officer):
    answer = ask_outlook(officer, "1" * 41)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "nummer"


# --- who may open the page ------------------------------------------------------------


@pytest.mark.parametrize("username", ["registrator", "ledning", "admin"])
def test_roles_that_do_not_send_get_403_with_the_reason(world, username):
    client = client_for(world, username)
    page = client.get("/brev/nytt", headers=HTML)
    assert page.status_code == 403
    assert "kräver rollen handläggare eller verksamhetsadministratör" in page.text
    token = csrf_token(page)
    asked = client.post("/brev/nytt/mottagare", json={"nummer": "19121212-1212"},
                        headers={"X-CSRF-Token": token})  # fmt: skip
    assert asked.status_code == 403
    refused = client.post("/brev/nytt", data={"csrf_token": token, "recipient": "19121212-1212"})
    assert refused.status_code == 403


def test_a_visitor_is_sent_to_the_login(world):
    answer = TestClient(world[0]).get("/brev/nytt", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/logga-in?next=")


def test_a_department_administrator_may_write_letters(world):
    page = client_for(world, "socialadmin").get("/brev/nytt", headers=HTML)
    assert page.status_code == 200
    assert "<h1>Nytt brev</h1>" in page.text
    assert "Beslut (skyddsklass 2)" in page.text


# --- sending ----------------------------------------------------------------------------


def test_a_sent_letter_is_stored_with_the_officers_organisation_and_department(world, officer):
    form = new_form(officer, sender="202100-9903", department="Ekonomi", attachment_channel="paper")
    answer = officer.post("/brev/nytt", data=form, files=[pdf_file()], follow_redirects=False)
    assert answer.status_code == 303
    letter_id = re.fullmatch(r"/brev/([0-9a-f-]{36})\?skickat=1", answer.headers["location"]).group(
        1
    )
    letter, system, actors, attachments = stored(world[1], letter_id)
    assert (letter.sender_number, letter.department) == (EXEMPELKOMMUN, SOCIAL)
    assert letter.recipient_id == TOLVAN
    assert letter.protection_class == 2
    assert letter.idempotency_key == form["idempotency_key"]
    assert system == "Handläggarwebben Exempelkommun"
    assert actors == ["web:handlaggare"]
    assert attachments == [("beslut.pdf", "paper")]


def test_a_form_sent_twice_stores_one_letter(world, officer):
    form = new_form(officer)
    first = officer.post(
        "/brev/nytt", data=form, files=[pdf_file()], headers={"Accept": "application/json"}
    )
    again = officer.post(
        "/brev/nytt", data=form, files=[pdf_file()], headers={"Accept": "application/json"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["letter_id"] == again.json()["letter_id"]
    assert again.json()["location"] == f"/brev/{first.json()['letter_id']}?skickat=1"
    assert letters_with_subject(world[1], form["subject"]) == 1


def test_a_form_sent_again_with_other_content_is_refused(officer):
    form = new_form(officer)
    assert (
        officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"}).status_code
        == 201
    )
    changed = officer.post(
        "/brev/nytt", data={**form, "body": "Något annat."}, headers={"Accept": "application/json"}
    )
    assert changed.status_code == 422
    assert "har redan skickats" in changed.json()["detail"]


def test_a_refusal_is_shown_beside_its_field_with_everything_typed_kept(world, officer):
    form = new_form(officer, subject="", case_number="SOC 2026/77", body="Texten finns kvar.")
    answer = officer.post("/brev/nytt", data=form, files=[pdf_file()], headers=HTML)
    assert answer.status_code == 422
    assert re.search(r'id="fel-subject"[^>]*>Ämnesraden är tom', answer.text)
    assert 'value="19121212-1212"' in answer.text
    assert 'value="SOC 2026/77"' in answer.text
    assert "Texten finns kvar." in answer.text
    assert f'value="{form["idempotency_key"]}"' in answer.text
    assert "Välj bilagorna igen (beslut.pdf)" in answer.text
    with Session(world[1]) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Letter).where(Letter.case_number == "SOC 2026/77")
            )
            == 0
        )


def test_a_script_gets_the_refusal_by_field(officer):
    answer = officer.post("/brev/nytt", data=new_form(officer, recipient="19121212-1213"),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert (error["field"], error["input"]) == ("recipient", "mottagare")
    assert "kontrollsiffran stämmer inte" in error["message"]


def test_a_message_type_of_protection_class_4_is_refused_with_the_reason(officer):
    answer = officer.post("/brev/nytt", data=new_form(officer, message_type="skyddat"),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "message_type"
    assert error["message"] == CLASS_FOUR_REFUSAL


def test_a_letter_without_message_type_is_refused(officer):
    answer = officer.post("/brev/nytt", data=new_form(officer, message_type=""),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert answer.json()["errors"][0]["field"] == "message_type"


def test_the_officers_contact_details_are_the_letters_support_text(world, officer):
    form = new_form(
        officer,
        use_contact="1",
        contact_email="hans@exempelkommun.se",
        contact_phone="0123-45 67 89",
    )
    answer = officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"})
    letter, *_ = stored(world[1], answer.json()["letter_id"])
    assert letter.support_text == (
        "Har du frågor om brevet? Kontakta Handlaggare, Socialtjänsten, Exempelkommun.\n"
        "E-post: hans@exempelkommun.se\nTelefon: 0123-45 67 89"
    )
    assert letter.body == "Hej Tolvan!\n\nDu har beviljats färdtjänst."


def test_without_the_box_ticked_the_letter_has_no_support_text_of_its_own(world, officer):
    form = new_form(officer, contact_email="hans@exempelkommun.se")
    answer = officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"})
    letter, *_ = stored(world[1], answer.json()["letter_id"])
    assert letter.support_text is None


ADDRESS = {"address_name": "Eva Ek", "address_lines": "Hemliga vägen 1\r\nLgh 1101",
           "address_postal_code": "123 45", "address_city": "Staden"}  # fmt: skip


def test_an_address_given_for_a_protected_person_is_never_stored(world, officer):
    form = new_form(officer, recipient="19851230-4166", **ADDRESS)
    answer = officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"})
    assert answer.status_code == 201
    letter, *_ = stored(world[1], answer.json()["letter_id"])
    assert letter.postal_address is None


def test_an_address_given_for_another_person_is_kept(world, officer):
    form = new_form(officer, recipient="19750101-2475", **{**ADDRESS, "address_name": "Bertil"})
    answer = officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"})
    letter, *_ = stored(world[1], answer.json()["letter_id"])
    assert letter.postal_address["lines"] == ["Hemliga vägen 1", "Lgh 1101"]


def test_an_address_cannot_be_given_while_the_register_is_down(world, officer, monkeypatch):
    monkeypatch.setattr(world[0].state.adapters, "address_source", DownPopulationRegister())
    form = new_form(officer, recipient="19750101-2475", **ADDRESS)
    answer = officer.post("/brev/nytt", data=form, headers={"Accept": "application/json"})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "address_name"
    assert error["message"] == UNAVAILABLE[:1].upper() + UNAVAILABLE[1:]
    assert letters_with_subject(world[1], form["subject"]) == 0


# --- the printed letter ----------------------------------------------------------------


def pdf_text(content):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_preview_is_the_printed_letter_with_the_registers_address(officer):
    form = new_form(officer, recipient="19750101-2475", case_number="SOC 2026/5")
    answer = officer.post("/brev/nytt/forhandsvisning", data=form, files=[pdf_file()])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("inline;")
    text = pdf_text(answer.content)
    for expected in ("Bertil Bengtsson", "Bokvägen 3", "234 56 Byn", form["subject"], "Exempelkommun",
                     "Socialtjänsten", "SOC 2026/5", "Frågor? Kontakta Exempelkommun."):  # fmt: skip
        assert expected in text
    assert len(PdfReader(io.BytesIO(answer.content)).pages) == 2  # the letter, then the PDF


def test_the_preview_prints_the_eservice_link_and_the_officers_contact_details(officer):
    form = new_form(officer, recipient="19750101-2475", use_contact="1",
                    contact_phone="0123-45 67 89",
                    eservice_url="https://exempelkommun.se/e-tjanster/overklaga")  # fmt: skip
    text = pdf_text(officer.post("/brev/nytt/forhandsvisning", data=form).content)
    assert "E-tjänst: https://exempelkommun.se/e-tjanster/overklaga" in text
    assert "Kontakta Handlaggare, Socialtjänsten, Exempelkommun." in text
    assert "Telefon: 0123-45 67 89" in text
    assert "Frågor? Kontakta Exempelkommun." not in text  # the organisation's text is replaced


def test_the_preview_of_a_protected_person_goes_to_skatteverket(officer):
    form = new_form(officer, recipient="19851230-4166", **ADDRESS)
    text = pdf_text(officer.post("/brev/nytt/forhandsvisning", data=form).content)
    assert "Personnummer 19851230-4166" in text
    assert "Skatteverket" in text
    assert "Hemliga vägen" not in text


def test_the_preview_of_a_recipient_unknown_to_the_register_says_so(officer):
    form = new_form(officer, recipient=fresh_personnummer())
    answer = officer.post("/brev/nytt/forhandsvisning", data=form, headers=HTML)
    assert answer.status_code == 422
    assert "finns inte i folkbokföringen" in answer.text
    assert "Ange en postadress" in answer.text


def test_the_preview_uses_an_address_the_officer_gives(officer):
    form = new_form(
        officer, recipient=fresh_personnummer(), **{**ADDRESS, "address_name": "Kim Ny"}
    )
    text = pdf_text(officer.post("/brev/nytt/forhandsvisning", data=form).content)
    assert "Kim Ny" in text
    assert "Lgh 1101" in text


def test_a_preview_with_a_file_that_is_no_pdf_says_what_is_wrong(officer):
    answer = officer.post("/brev/nytt/forhandsvisning", data=new_form(officer),
                          files=[("attachments", ("beslut.pdf", b"inte en pdf", "application/pdf"))],
                          headers=HTML)  # fmt: skip
    assert answer.status_code == 422
    assert "ingen PDF-fil" in answer.text
