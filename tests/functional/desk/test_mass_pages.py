"""Massutskick (`/massutskick`) through the web app: upload, mapping, precheck, sending, scope.

FaR is the test world's FakePrecheck (Tolvan digital at Kivra, everyone else paper without
a mailbox); the population register is in memory (Eva protected, Hanna deceased, everyone
else found at an address). The precheck and the sending run in the
app's background threads, and the tests follow them as the page does, by its status endpoint.
"""

import codecs
import csv
import datetime as dt
import io
import re
import time
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from functional.web_login import HTML, csrf_token, log_in
from support.api import migrated_api_engine
from support.world import (
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    HANNA,
    NOW,
    TOLVAN,
    FakePrecheck,
    fresh_personnummer,
)
from utskick.desk.mass_mailing import CHECKING, SENDING, MailingStore
from utskick.desk.mass_routes import CANNOT_CHANGE, NO_FILE, NOT_FOUND, NOTHING_TO_SEND
from utskick.desk.mass_sending import idempotency_key
from utskick.entrypoints.app import create_app
from utskick.letters.models import Batch, Letter, LetterEvent
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.web.users import create_user

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PASSWORD = "rätt-lösenord-1"
SOCIAL = "Socialtjänsten"
REGISTER = {
    TOLVAN: RegisterEntry(
        TOLVAN, found=True, name="Tolvan", lines=("Tolvgatan 12", "123 45 Tolvby")
    ),
    DAVID: RegisterEntry(
        DAVID, found=True, name="David Dahl", lines=("Dalgatan 4", "345 67 Dalby")
    ),
    EVA: RegisterEntry(EVA, found=True, protected=True),
    HANNA: RegisterEntry(
        HANNA, found=True, name="Hanna", lines=("Holmen 1", "456 78 Ö"), deceased=True
    ),
}


class Register(FixedAddressSource):
    """The population register: the persons above, and every other one found at an address."""

    def lookup(self, recipient_ids):
        return {
            rid: self.entries.get(
                rid, RegisterEntry(rid, found=True, name="Någon", lines=("Gatan 1", "111 11 Ort"))
            )
            for rid in recipient_ids
        }


USERS = (
    ("handlaggare", "officer", EXEMPELKOMMUN, SOCIAL),
    ("socialadmin", "department_admin", EXEMPELKOMMUN, SOCIAL),
    ("bygglov", "officer", EXEMPELKOMMUN, "Samhällsbyggnad"),
    ("registrator", "records", EXEMPELKOMMUN, None),
    ("granne", "officer", GRANNKOMMUN, SOCIAL),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("massutskick")
    engine = migrated_api_engine(home / "utskick.db")
    with Session(engine) as session:
        for username, role, organisation, department in USERS:
            create_user(session, username=username, password=PASSWORD, role=role, now=NOW,
                        organisation=organisation, department=department,
                        display_name=username.capitalize())  # fmt: skip
        session.commit()
    settings = Settings(home=home)
    app = create_app(settings, engine)
    app.state.adapters.precheck = FakePrecheck()
    app.state.adapters.address_source = Register(REGISTER)
    yield app, engine, home
    engine.dispose()


def client_for(world, username):
    client = TestClient(world[0])
    assert log_in(client, username, PASSWORD).status_code == 303
    return client


@pytest.fixture(scope="module")
def officer(world):
    return client_for(world, "handlaggare")


def typed(number):
    return f"{number[:8]}-{number[8:]}"


def table(*rows, encoding="cp1252", delimiter=";"):
    """A table as Swedish Excel saves it."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter)
    writer.writerow(("Personnummer", "Namn", "Belopp"))
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def upload(client, data, name="mottagare.csv", **headers):
    token = csrf_token(client.get("/massutskick", headers=HTML))
    return client.post(
        "/massutskick",
        files={"fil": (name, data, "text/csv")},
        data={"csrf_token": token},
        headers={**HTML, **headers},
        follow_redirects=False,
    )


def uploaded(client, *rows):
    answer = upload(client, table(*rows))
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def mapping_form(client, location, **changes):
    form = {
        "csrf_token": csrf_token(client.get(location, headers=HTML)),
        "recipient_column": "Personnummer",
        "message_type": "beslut",
        "case_number": "SOC 2026-42",
        "subject": "Beslut om bidrag till {Namn}",
        "body": "Hej {Namn}!\n\nDu får {Belopp} kronor.",
    }
    form.update(changes)
    return form


def settled(client, location, working):
    """The status once the background work (`working`: checking or sending) is done."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = client.get(f"{location}/status").json()
        if status["status"] != working:
            return status
        time.sleep(0.05)
    pytest.fail(f"{location} is still {working}")


def checked(client, location, **changes):
    answer = client.post(f"{location}/kontroll", data=mapping_form(client, location, **changes),
                         headers=HTML, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return settled(client, location, "checking")


def sent(client, location):
    token = csrf_token(client.get(location, headers=HTML))
    answer = client.post(f"{location}/skicka", data={"csrf_token": token}, headers=HTML,
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return settled(client, location, "sending")


def letters_of(engine, location):
    batch_id = location.rsplit("/", 1)[1]
    with Session(engine) as session:
        return session.scalars(select(Letter).where(Letter.batch_id == batch_id)).all()


def csv_rows(answer):
    assert answer.content.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))


# --- the whole way -------------------------------------------------------------------------


@pytest.fixture
def mixed_mailing(officer):
    """A mailing of six rows: digital, paper, a wrong check digit, deceased, a repeat, protected."""
    return uploaded(
        officer,
        (typed(TOLVAN), "Tolvan Tolvansson", "1200"),
        (typed(DAVID), "David Dahl", "300"),
        ("19121212-1213", "Fel Siffra", "1"),
        (typed(HANNA), "Hanna Holm", "5"),
        (TOLVAN, "Tolvan igen", "7"),
        (typed(EVA), "Eva Ek", "9"),
    )


def test_an_officer_maps_the_columns_and_sees_the_precheck_per_row(officer, mixed_mailing):
    location = mixed_mailing
    page = officer.get(location, headers=HTML)
    assert page.status_code == 200
    assert "Massutskick: mottagare.csv" in page.text
    assert '<option value="Personnummer" selected>' in page.text  # proposed from the header
    for column in ("Personnummer", "Namn", "Belopp"):
        assert f'data-insert="{{{column}}}"' in page.text  # a button inserts each merge field

    status = checked(officer, location)
    assert status["status"] == "checked"
    assert status["precheck"] == {
        "rows": 6, "digital": 1, "paper": 2, "impossible": 1, "problem": 2, "unknown": 0,
        "to_send": 3,
    }  # fmt: skip
    page = officer.get(location, headers=HTML)
    assert "Skicka 3 brev" in page.text
    problems = re.search(
        r'<table aria-label="Rader som inte skickas">(.*?)</table>', page.text, re.DOTALL
    ).group(1)
    assert re.findall(r"<tr><td>(\d+)</td>", problems) == ["4", "5", "6"]  # header: row 1
    assert "kontrollsiffran stämmer inte" in problems
    assert "Samma mottagare som på rad 2" in problems
    assert "Kan inte skickas: avliden" in problems

    precheck = officer.get(f"{location}/kontroll.csv")
    assert precheck.headers["content-disposition"].startswith(
        'attachment; filename="kontroll-mottagare.csv"'
    )
    lines = csv_rows(precheck)
    assert lines[0] == ["Rad", "Mottagare", "Utfall", "Orsak", "Ämne"]
    assert lines[1] == ["2", "19121212-1212", "digitalt", "Går digitalt till Kivra",
                        "Beslut om bidrag till Tolvan Tolvansson"]  # fmt: skip
    assert lines[6][:3] == ["7", "19851230-4166", "papper"]


def test_an_officer_sends_the_rows_that_passed_and_downloads_the_outcome(
    world, officer, mixed_mailing
):
    location, engine = mixed_mailing, world[1]
    checked(officer, location)
    status = sent(officer, location)
    assert status["status"] == "sent"
    assert status["sending"] == {"to_send": 3, "accepted": 3, "refused": 0, "handed_over": 3}
    assert status["letters"]["total"] == 3
    letters = letters_of(engine, location)
    mailing_id = location.rsplit("/", 1)[1]
    assert {(letter.recipient_id, letter.idempotency_key) for letter in letters} == {
        (TOLVAN, idempotency_key(mailing_id, 2)),
        (DAVID, idempotency_key(mailing_id, 3)),
        (EVA, idempotency_key(mailing_id, 7)),
    }
    with Session(engine) as session:
        system = session.get(SendingSystem, letters[0].sending_system_id)
        assert system.name == "Handläggarwebben Exempelkommun"
        assert session.get(Batch, mailing_id).accepted == 3
        actors = set(session.scalars(select(LetterEvent.actor).where(
            LetterEvent.letter_id.in_([letter.id for letter in letters]))))  # fmt: skip
        assert actors == {"web:handlaggare"}
    by_recipient = {letter.recipient_id: letter for letter in letters}
    assert by_recipient[DAVID].body == "Hej David Dahl!\n\nDu får 300 kronor."
    assert (by_recipient[DAVID].case_number, by_recipient[DAVID].department) == (
        "SOC 2026-42",
        SOCIAL,
    )

    outcome = csv_rows(officer.get(f"{location}/utfall.csv"))
    assert outcome[0] == ["Rad", "Mottagare", "Brev-id", "Kanal", "Läge", "Orsak", "Tid"]
    assert [line[0] for line in outcome[1:]] == ["2", "3", "4", "5", "6", "7"]
    assert outcome[1][2] == by_recipient[TOLVAN].id
    assert outcome[1][4] == "mottaget"
    assert outcome[3][4] == "skickades inte"
    assert "kontrollsiffran" in outcome[3][5]

    page = officer.get(location, headers=HTML)
    assert "Ladda ned utfallet per rad" in page.text
    assert 'name="recipient_column"' not in page.text  # sent: the form is gone
    listing = officer.get("/massutskick", headers=HTML)
    assert f'href="{location}"' in listing.text


def test_a_department_administrator_of_the_department_follows_it_too(world, officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    admin = client_for(world, "socialadmin")
    assert admin.get(location, headers=HTML).status_code == 200
    assert admin.get(f"{location}/status").json()["status"] == "uploaded"


def test_an_xlsx_file_is_read_like_the_csv(officer):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Namn", "Personnr", "Belopp"])
    sheet.append(["Tolvan", 191212121212, 10])
    sheet.append(["Eva", "19851230-4166", 20])
    data = io.BytesIO()
    workbook.save(data)
    answer = upload(officer, data.getvalue(), name="lista.xlsx")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert '<option value="Personnr" selected>' in officer.get(location, headers=HTML).text
    status = checked(officer, location, recipient_column="Personnr")
    assert status["precheck"]["digital"] == 1
    assert status["precheck"]["paper"] == 1


# --- refusals ------------------------------------------------------------------------------


def stored_mailings(world):
    folder = world[2] / "massutskick"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"%PDF-1.7\n%...", "beslut.pdf", "Filen är en PDF, inte en tabell med mottagare"),
        (b"", "tom.csv", "Filen är tom"),
        (b"Personnummer;Namn\n", "rubrik.csv", "Filen har bara en rubrikrad"),
        (b"19121212-1212;Tolvan\n", "utan-rubrik.csv", "inte kolumnrubriker"),
    ],
)
def test_a_file_that_is_no_table_is_refused_beside_the_field_and_nothing_is_kept(
    world, officer, data, name, message
):
    before = stored_mailings(world)
    answer = upload(officer, data, name=name)
    assert answer.status_code == 422
    assert message in answer.text
    assert 'id="fil"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert stored_mailings(world) == before


def test_the_page_script_gets_the_refusal_as_json(world, officer):
    answer = upload(officer, b"%PDF-1.7", name="a.pdf", Accept="application/json")
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("Filen är en PDF")


def test_an_upload_without_a_file_is_refused(officer):
    token = csrf_token(officer.get("/massutskick", headers=HTML))
    answer = officer.post("/massutskick", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 422
    assert NO_FILE in answer.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"body": "Hej {Förnamn}!"}, "body", "Fältet {Förnamn} finns inte bland filens kolumner"),
        ({"subject": "Beslut {Namn"}, "subject", "står en { som inte stängs med }"),
        ({"recipient_column": "Pnr"}, "recipient_column", "Kolumnen &#39;Pnr&#39; finns inte i filen"),
        ({"message_type": ""}, "message_type", "Välj en meddelandetyp"),
        ({"not_before": "2020-01-01T08:00"}, "not_before", "Tiden har redan passerat"),
        ({"not_before": "2999-01-01T08:00"}, "not_before", "Tiden ligger mer än ett år fram"),
    ],
)  # fmt: skip
def test_a_bad_choice_is_named_beside_its_field_and_changes_nothing(
    officer, changes, field, message
):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    form = mapping_form(officer, location, **changes)
    answer = officer.post(f"{location}/kontroll", data=form, headers=HTML)
    assert answer.status_code == 422
    error = re.search(
        rf'<p class="field-error" id="fel-{field}" role="alert">(.*?)</p>', answer.text
    )
    assert error is not None, answer.text
    assert message in error.group(1)
    assert 'aria-invalid="true"' in answer.text
    assert form["body"] in answer.text  # what was typed is kept
    status = officer.get(f"{location}/status").json()
    assert (status["status"], status["precheck"]["rows"]) == ("uploaded", 0)


def test_a_time_to_send_at_the_earliest_is_shown_and_set_on_every_letter(world, officer):
    location = uploaded(officer, (typed(fresh_personnummer()), "Ny Person", "1"))
    local = (dt.datetime.now(STOCKHOLM) + dt.timedelta(days=30)).replace(
        hour=6, minute=0, second=0, microsecond=0
    )
    checked(officer, location, not_before=f"{local:%Y-%m-%dT%H:%M}")
    page = officer.get(location, headers=HTML)
    assert f'value="{local:%Y-%m-%dT%H:%M}"' in page.text
    assert f'tidigast <strong id="tidigast-vid-skicka">{local:%Y-%m-%d %H:%M}</strong>' in page.text
    sent(officer, location)
    page = officer.get(location, headers=HTML)
    assert f'<dd id="skickas-tidigast">{local:%Y-%m-%d %H:%M}</dd>' in page.text
    [letter] = letters_of(world[1], location)
    assert letter.not_before.replace(tzinfo=dt.UTC) == local.astimezone(dt.UTC)
    assert letter.state == "received"


def test_a_mailing_without_a_row_to_send_cannot_be_sent(world, officer):
    location = uploaded(officer, ("1234", "Fel", "1"), (typed(HANNA), "Hanna", "2"))
    assert checked(officer, location)["precheck"]["to_send"] == 0
    page = officer.get(location, headers=HTML)
    assert "Ingen rad kan skickas" in page.text
    assert "Skicka 0 brev" not in page.text
    token = csrf_token(page)
    answer = officer.post(f"{location}/skicka", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 409
    assert NOTHING_TO_SEND in answer.text
    assert letters_of(world[1], location) == []


def test_a_sent_mailing_is_neither_sent_again_nor_changed(world, officer):
    location = uploaded(officer, (typed(fresh_personnummer()), "Ny Person", "1"))
    checked(officer, location)
    sent(officer, location)
    token = csrf_token(officer.get(location, headers=HTML))
    again = officer.post(f"{location}/skicka", data={"csrf_token": token}, headers=HTML)
    assert again.status_code == 409
    assert CANNOT_CHANGE in again.text.replace("&#39;", "'")
    change = officer.post(
        f"{location}/kontroll", data=mapping_form(officer, location), headers=HTML
    )
    assert change.status_code == 409
    assert len(letters_of(world[1], location)) == 1


def test_sending_before_the_check_is_refused(officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    token = csrf_token(officer.get(location, headers=HTML))
    answer = officer.post(f"{location}/skicka", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 409
    assert "Kontrollera mottagarna innan utskicket skickas" in answer.text


def test_a_form_without_the_csrf_token_is_refused(officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    form = mapping_form(officer, location)
    del form["csrf_token"]
    assert officer.post(f"{location}/kontroll", data=form, headers=HTML).status_code == 403


# --- who sees what -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sent_mailing(world, officer):
    location = uploaded(officer, (typed(fresh_personnummer()), "Hemlig Person", "1"))
    checked(officer, location)
    sent(officer, location)
    return location


@pytest.mark.parametrize("username", ["bygglov", "granne"])
def test_another_department_or_organisation_gets_404_everywhere(world, sent_mailing, username):
    client = client_for(world, username)
    page = client.get(sent_mailing, headers=HTML)
    assert page.status_code == 404
    assert NOT_FOUND in page.text
    assert "Hemlig Person" not in page.text
    for path in ("/status", "/kontroll.csv", "/utfall.csv"):
        assert client.get(sent_mailing + path).status_code == 404, path
    token = csrf_token(client.get("/massutskick", headers=HTML))
    for path in ("/kontroll", "/skicka"):
        answer = client.post(sent_mailing + path, data={"csrf_token": token}, headers=HTML)
        assert answer.status_code == 404, path
    assert sent_mailing not in client.get("/massutskick", headers=HTML).text


def test_a_registrator_may_not_send_mass_mailings(world, sent_mailing):
    client = client_for(world, "registrator")
    assert client.get("/massutskick", headers=HTML).status_code == 403
    assert client.get(sent_mailing, headers=HTML).status_code == 403


def test_an_unknown_mailing_is_404_as_another_departments(officer):
    assert (
        officer.get("/massutskick/3f2c54e0-7d0b-4c49-a5a8-2f1f0f7bb111", headers=HTML).status_code
        == 404
    )
    assert officer.get("/massutskick/inte-ett-id", headers=HTML).status_code == 404


def test_letters_of_a_mass_mailing_count_as_the_departments(world, sent_mailing):
    with Session(world[1]) as session:
        batch_id = sent_mailing.rsplit("/", 1)[1]
        departments = session.scalars(
            select(func.distinct(Letter.department)).where(Letter.batch_id == batch_id)
        ).all()
    assert departments == [SOCIAL]


# --- interrupted -----------------------------------------------------------------------------


def test_a_sending_the_process_lost_is_shown_as_interrupted_and_can_be_continued(world, officer):
    people = [fresh_personnummer() for _ in range(3)]
    location = uploaded(officer, *[(typed(person), "Person", "1") for person in people])
    checked(officer, location)
    # The web process stopped as it began to send: the state says sending, nobody works on it.
    store = MailingStore(world[2])
    mailing = store.load(location.rsplit("/", 1)[1])
    mailing.status = SENDING
    mailing.sending.started_at = NOW.isoformat()
    store.save(mailing)

    assert officer.get(f"{location}/status").json()["status"] == "interrupted"
    page = officer.get(location, headers=HTML)
    assert "Sändningen avbröts innan den blev klar" in page.text
    assert "Fortsätt skicka" in page.text
    status = sent(officer, location)
    assert status["status"] == "sent"
    assert sorted(letter.recipient_id for letter in letters_of(world[1], location)) == sorted(
        people
    )


def test_an_interrupted_precheck_may_be_run_again(world, officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    store = MailingStore(world[2])
    mailing = store.load(location.rsplit("/", 1)[1])
    mailing.status = CHECKING
    store.save(mailing)
    page = officer.get(location, headers=HTML)
    assert "Kontrollen avbröts innan den blev klar" in page.text
    assert checked(officer, location)["status"] == "checked"


# --- removing ------------------------------------------------------------------------------


def test_removing_a_sent_mailing_deletes_its_files_and_keeps_its_letters(world, officer):
    location = uploaded(officer, (typed(fresh_personnummer()), "Person", "1"))
    checked(officer, location)
    sent(officer, location)
    folder = world[2] / "massutskick" / location.rsplit("/", 1)[1]
    assert (folder / "tabell").exists()
    token = csrf_token(officer.get(location, headers=HTML))
    answer = officer.post(f"{location}/ta-bort", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 200  # followed to the list
    assert "Massutskicket är borttaget" in answer.text
    assert location not in answer.text
    assert not folder.exists()
    assert officer.get(location, headers=HTML).status_code == 404
    assert len(letters_of(world[1], location)) == 1


def test_a_mailing_at_work_cannot_be_removed(world, officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    store = MailingStore(world[2])
    lock = store.take_lock(location.rsplit("/", 1)[1])  # as the precheck's thread holds it
    try:
        token = csrf_token(officer.get(location, headers=HTML))
        answer = officer.post(f"{location}/ta-bort", data={"csrf_token": token}, headers=HTML)
    finally:
        lock.release()
    assert answer.status_code == 409
    assert "kan inte tas bort" in answer.text
    assert officer.get(location, headers=HTML).status_code == 200


def test_another_department_cannot_remove_a_mailing(world, officer):
    location = uploaded(officer, (typed(TOLVAN), "Tolvan", "1"))
    other = client_for(world, "bygglov")
    token = csrf_token(other.get("/massutskick", headers=HTML))
    answer = other.post(f"{location}/ta-bort", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 404
    assert officer.get(location, headers=HTML).status_code == 200
