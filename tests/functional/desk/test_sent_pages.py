"""Skickat (`/brev`) and a letter's page through the web app, per role and scope.

Exempelkommun's Socialtjänsten and Samhällsbyggnad and Grannkommun's Socialtjänsten have
letters from a case system. An officer sees the department's, a registrator the
organisation's, an administrator everyone's; management nothing. Direct URLs to a letter
outside the scope answer 404, as for a letter that does not exist.
"""

import dataclasses
import datetime as dt
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from functional.web_login import HTML, csrf_token, log_in
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters import events, vocabulary
from utskick.letters.inputs import AttachmentInput, LetterInput
from utskick.letters.models import Letter
from utskick.letters.search import PER_PAGE
from utskick.letters.service import LetterService
from utskick.migrations import migrate
from utskick.senders.models import SendingSystem
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings
from utskick.web.users import create_user

PASSWORD = "rätt-lösenord-1"
SOCIAL = "Socialtjänsten"
BYGG = "Samhällsbyggnad"
PDF = minimal_pdf(2000)
# The case numbers of the letters every search test looks among (other tests add their own).
FIXED = "FX 2026/"
USERS = (
    ("handlaggare", "officer", EXEMPELKOMMUN, SOCIAL),
    ("bygglov", "officer", EXEMPELKOMMUN, BYGG),
    ("registrator", "records", EXEMPELKOMMUN, None),
    ("ledning", "management", EXEMPELKOMMUN, None),
    ("granne", "officer", GRANNKOMMUN, SOCIAL),
    ("admin", "admin", None, None),
)


@dataclasses.dataclass
class World:
    engine: object
    settings: Settings
    system_id: str

    def send(self, **fields):
        """Accept a letter from the case system at NOW; returns its id."""
        values = {
            "sender": "202100-4748",
            "department": SOCIAL,
            "recipient": "19121212-1212",
            "subject": "Beslut om försörjningsstöd",
            "body": "Hej Tolvan!\nHär kommer beslutet.",
            "protection_class": 2,
            "case_number": f"SN 2026/{uuid.uuid4().hex[:6]}",
            **fields,
        }
        with Session(self.engine) as session:
            system = session.get(SendingSystem, self.system_id)
            service = LetterService(session, self.settings, clock=lambda: NOW)
            letter, _ = service.accept(system, LetterInput(**values), actor="api:Ärendesystemet")
            session.commit()
            return letter.id

    def move(self, letter_id, state, *, reason=None, channel=None, minimise=False):
        """Record the letter's next step as a worker would."""
        with Session(self.engine) as session:
            letter = session.get(Letter, letter_id)
            events.record(
                session,
                letter,
                state,
                actor="worker:1",
                reason=reason,
                channel=channel,
                now=NOW + dt.timedelta(seconds=3),
            )
            if minimise:
                letter.body = None
                letter.delivered_digest = "ab" * 32
                for attachment in letter.attachments:
                    attachment.content = None
            session.commit()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("skickat")
    engine = create_database_engine(f"sqlite:///{folder / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        session.add_all([sender_organisation(EXEMPELKOMMUN), sender_organisation(GRANNKOMMUN)])
        session.flush()
        system = create_sending_system(
            session, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN], now=NOW
        )
        for username, role, organisation, department in USERS:
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                now=NOW,
                organisation=organisation,
                department=department,
            )
        session.commit()
        system_id = system.id
    settings = Settings(home=folder, fallback_after_seconds=3600)
    yield World(engine, settings, system_id)
    engine.dispose()


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.settings, world.engine)


@pytest.fixture(scope="module")
def letters(world):
    """One letter of each department and organisation, with a unique case number each."""
    return {
        "social": world.send(
            subject="Beslut om äldreomsorg",
            case_number="FX 2026/0101",
            attachments=(AttachmentInput("beslut.pdf", PDF),),
        ),
        "bygg": world.send(
            department=BYGG,
            subject="Bygglov beviljat",
            case_number="FX 2026/0202",
            recipient="19750101-2475",
        ),
        "neighbour": world.send(
            sender="202100-9903", subject="Grannkommunens beslut", case_number="FX 2026/0303"
        ),
    }


def get(app, path, user, **params):
    """A page as a browser asks for it, logged in with HTTP Basic."""
    return TestClient(app).get(path, params=params, headers=HTML, auth=(user, PASSWORD))


def subjects(page):
    """The subjects in the results table."""
    return re.findall(r'<td class="text"><a href="/brev/[0-9a-f-]+">([^<]+)</a></td>', page.text)


class TestSearch:
    def test_an_officer_sees_the_departments_letters_with_local_times_and_ids_as_typed(
        self, app, letters
    ):
        page = get(app, "/brev", "handlaggare")

        assert page.status_code == 200
        assert "Beslut om äldreomsorg" in subjects(page)
        assert not {"Bygglov beviljat", "Grannkommunens beslut"} & set(subjects(page))
        assert "2026-11-27 10:00" in page.text
        assert "19121212-1212" in page.text
        assert "FX 2026/0101" in page.text
        assert ">mottaget<" in page.text
        assert 'name="forvaltning"' not in page.text
        assert f'href="/brev/{letters["social"]}"' in page.text

    @pytest.mark.parametrize(
        ("user", "seen"),
        [
            ("bygglov", {"Bygglov beviljat"}),
            ("granne", {"Grannkommunens beslut"}),
            ("registrator", {"Beslut om äldreomsorg", "Bygglov beviljat"}),
            ("admin", {"Beslut om äldreomsorg", "Bygglov beviljat", "Grannkommunens beslut"}),
        ],
    )
    @pytest.mark.usefixtures("letters")
    def test_each_role_sees_its_scope_and_nothing_else(self, app, user, seen):
        page = get(app, "/brev", user, diarienummer=FIXED)

        assert set(subjects(page)) == seen

    @pytest.mark.usefixtures("letters")
    def test_a_registrator_chooses_among_the_organisations_departments(self, app):
        page = get(app, "/brev", "registrator", forvaltning=BYGG, diarienummer=FIXED)

        assert subjects(page) == ["Bygglov beviljat"]
        assert f'<option value="{BYGG}" selected>' in page.text
        assert "Ärendesystemet" in page.text

    @pytest.mark.usefixtures("letters")
    def test_an_administrator_chooses_among_the_organisations(self, app):
        page = get(app, "/brev", "admin", avsandare="202100-9903", diarienummer=FIXED)

        assert subjects(page) == ["Grannkommunens beslut"]
        assert '<option value="2021009903" selected>Grannkommun (202100-9903)</option>' in page.text
        assert ">202100-9903</td>" in page.text

    @pytest.mark.parametrize(
        ("params", "found"),
        [
            ({"mottagare": "121212-1212"}, ["Beslut om äldreomsorg"]),
            ({"mottagare": "191212121212"}, ["Beslut om äldreomsorg"]),
            ({"mottagare": "750101-2475"}, ["Bygglov beviljat"]),
            ({"diarienummer": "fx 2026/02"}, ["Bygglov beviljat"]),
            ({"amne": "ÄLDREOMSORG"}, ["Beslut om äldreomsorg"]),
            (
                {"fran": "2026-11-27", "till": "2026-11-27"},
                ["Bygglov beviljat", "Beslut om äldreomsorg"],
            ),
            ({"till": "2026-11-26"}, []),
            ({"lage": "delivered"}, []),
        ],
    )
    @pytest.mark.usefixtures("letters")
    def test_a_registrator_finds_letters_by_each_filter(self, app, params, found):
        page = get(app, "/brev", "registrator", **{"diarienummer": FIXED, **params})

        assert page.status_code == 200
        assert sorted(subjects(page)) == sorted(found)
        if not found:
            assert "Inga brev matchar sökningen" in page.text

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"mottagare": "19121212-1213"}, "Kontrollsiffran stämmer inte"),
            ({"fran": "27/11"}, "”27/11” är inget datum; skriv datumet som ÅÅÅÅ-MM-DD"),
            ({"lage": "borta"}, "Välj ett läge i listan"),
        ],
    )
    @pytest.mark.usefixtures("letters")
    def test_bad_input_is_named_next_to_its_field_and_nothing_is_searched(
        self, app, params, message
    ):
        page = get(app, "/brev", "handlaggare", **params)

        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
        assert message in page.text
        assert 'aria-invalid="true"' in page.text
        assert subjects(page) == []
        assert "Sökningen gjordes inte" in page.text

    def test_management_may_not_open_skickat(self, app):
        page = get(app, "/brev", "ledning")

        assert page.status_code == 403
        assert "Ingen behörighet" in page.text

    def test_a_visitor_is_sent_to_log_in(self, app):
        answer = TestClient(app).get("/brev", headers=HTML, follow_redirects=False)

        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/logga-in?next=%2Fbrev")


class TestLetterPage:
    def test_the_page_shows_the_facts_the_timeline_and_what_was_sent(self, app, letters):
        page = get(app, f"/brev/{letters['social']}", "handlaggare", skickat="1")

        assert page.status_code == 200
        assert '<p class="ok" role="status">Brevet är skickat.</p>' in page.text
        for fact in (
            "Exempelkommun (202100-4748)",
            SOCIAL,
            "19121212-1212",
            "FX 2026/0101",
            "Ärendesystemet",
            "2026-11-27 10:00",
            "digitalt, annars på papper",
        ):
            assert fact in page.text, fact
        assert "Ärendesystemet (API)" in page.text  # the timeline's actor
        assert "2026-11-27 10:00:00" in page.text
        assert "Här kommer beslutet." in page.text
        assert "beslut.pdf" in page.text
        assert f'href="/brev/{letters["social"]}/bilagor/1"' in page.text
        assert 'src="/static/js/brev-status.js"' in page.text
        assert 'aria-live="polite"' in page.text

    def test_a_kept_attachment_downloads_for_those_in_scope(self, app, letters):
        answer = get(app, f"/brev/{letters['social']}/bilagor/1", "registrator")

        assert answer.status_code == 200
        assert answer.content == PDF
        assert 'filename="beslut.pdf"' in answer.headers["content-disposition"]

    def test_an_attachment_that_is_not_there_answers_404(self, app, letters):
        for position in ("2", "9" * 30):
            answer = get(app, f"/brev/{letters['social']}/bilagor/{position}", "handlaggare")
            assert answer.status_code == 404, position

    def test_the_status_follows_the_letter(self, app, world):
        letter_id = world.send(subject="Följs live")
        world.move(letter_id, vocabulary.CLASSIFIED, reason=vocabulary.REACHABLE, channel="digital")

        status = get(app, f"/brev/{letter_id}/status", "handlaggare").json()

        assert (status["state_text"], status["channel_text"], status["final"]) == (
            "kanal vald",
            "digitalt",
            False,
        )
        assert [event["state"] for event in status["events"]] == ["mottaget", "kanal vald"]
        assert status["cancellable"] is True
        world.move(letter_id, vocabulary.DELIVERED, channel="digital")
        status = get(app, f"/brev/{letter_id}/status", "handlaggare").json()
        assert (status["state_text"], status["final"], status["cancellable"]) == (
            "levererat digitalt",
            True,
            False,
        )

    def test_a_minimised_letter_says_its_content_was_removed_and_shows_the_digest(self, app, world):
        letter_id = world.send(subject="Gallrat", attachments=(AttachmentInput("a.pdf", PDF),))
        world.move(letter_id, vocabulary.DELIVERED, channel="digital", minimise=True)

        page = get(app, f"/brev/{letter_id}", "handlaggare")
        download = get(app, f"/brev/{letter_id}/bilagor/1", "handlaggare")

        assert "Innehållet togs bort efter leveransen enligt reglerna" in page.text
        assert "ab" * 32 in page.text
        assert "borttaget efter leveransen" in page.text
        assert "brev-status.js" not in page.text  # nothing left to follow
        assert download.status_code == 410


class TestOutsideTheScope:
    @pytest.mark.parametrize(
        ("user", "letter"),
        [
            ("bygglov", "social"),
            ("granne", "social"),
            ("handlaggare", "neighbour"),
            ("registrator", "neighbour"),
            ("handlaggare", None),
        ],
    )
    def test_every_direct_url_answers_404_as_for_a_letter_that_does_not_exist(
        self, app, letters, user, letter
    ):
        letter_id = letters[letter] if letter else str(uuid.uuid4())

        page = get(app, f"/brev/{letter_id}", user)
        status = get(app, f"/brev/{letter_id}/status", user)
        download = get(app, f"/brev/{letter_id}/bilagor/1", user)

        assert page.status_code == 404
        assert "Brevet finns inte" in page.text
        assert "Beslut om äldreomsorg" not in page.text
        assert "Grannkommunens beslut" not in page.text
        assert (status.status_code, download.status_code) == (404, 404)

    def test_cancelling_another_departments_letter_answers_404_and_changes_nothing(
        self, app, world
    ):
        letter_id = world.send(subject="Bygglovets eget", department=BYGG)
        client = TestClient(app)
        log_in(client, "handlaggare", PASSWORD)
        token = csrf_token(client.get("/brev", headers=HTML))

        answer = client.post(
            f"/brev/{letter_id}/makulera",
            data={"csrf_token": token},
            headers=HTML,
            follow_redirects=False,
        )

        assert answer.status_code == 404
        with Session(world.engine) as session:
            assert session.get(Letter, letter_id).state == vocabulary.RECEIVED


class TestCancel:
    def test_an_officer_cancels_a_letter_that_has_not_gone_out(self, app, world):
        letter_id = world.send(subject="Ska makuleras")
        client = TestClient(app)
        log_in(client, "handlaggare", PASSWORD)
        page = client.get(f"/brev/{letter_id}", headers=HTML)
        assert "Makulera brevet" in page.text

        answer = client.post(
            f"/brev/{letter_id}/makulera",
            data={"csrf_token": csrf_token(page)},
            headers=HTML,
            follow_redirects=False,
        )
        shown = client.get(answer.headers["location"], headers=HTML)

        assert answer.status_code == 303
        assert "Brevet är makulerat. Inget skickades till mottagaren." in shown.text
        assert "makulerat" in shown.text
        assert "web:handlaggare" not in shown.text  # the actor reads as a person's
        assert "handlaggare (webben)" in shown.text
        assert "Makulera brevet" not in shown.text

    def test_a_letter_set_for_later_shows_its_time_and_can_be_cancelled_until_then(
        self, app, world
    ):
        # 06:00 Swedish time (CET) the next morning.
        six_next_morning = dt.datetime(2026, 11, 28, 5, 0, tzinfo=dt.UTC)
        letter_id = world.send(subject="Faktura i morgon", not_before=six_next_morning)
        client = TestClient(app)
        log_in(client, "handlaggare", PASSWORD)
        page = client.get(f"/brev/{letter_id}", headers=HTML)

        assert re.search(r"Skickas tidigast</dt><dd[^>]*>2026-11-28 06:00", page.text)
        assert "det skickas tidigast 2026-11-28 06:00" in page.text
        assert "Makulera brevet" in page.text

    def test_a_letter_that_has_gone_out_is_not_cancelled_and_says_why(self, app, world):
        letter_id = world.send(subject="Redan levererat")
        world.move(letter_id, vocabulary.DELIVERED, channel="digital")
        client = TestClient(app)
        log_in(client, "handlaggare", PASSWORD)
        token = csrf_token(client.get("/brev", headers=HTML))

        answer = client.post(
            f"/brev/{letter_id}/makulera", data={"csrf_token": token}, headers=HTML
        )

        assert answer.status_code == 409
        assert "Brevet kan inte makuleras: det är redan avslutat" in answer.text
        assert "Makulera brevet" not in answer.text

    def test_cancelling_without_the_csrf_token_is_refused(self, app, world):
        letter_id = world.send(subject="Utan token")
        client = TestClient(app)
        log_in(client, "handlaggare", PASSWORD)

        answer = client.post(f"/brev/{letter_id}/makulera", headers=HTML)

        assert answer.status_code == 403
        with Session(world.engine) as session:
            assert session.get(Letter, letter_id).state == vocabulary.RECEIVED

    def test_a_registrator_sees_no_cancel_button_and_may_not_cancel(self, app, world):
        letter_id = world.send(subject="Registratorn läser")
        client = TestClient(app)
        log_in(client, "registrator", PASSWORD)
        page = client.get(f"/brev/{letter_id}", headers=HTML)

        answer = client.post(
            f"/brev/{letter_id}/makulera", data={"csrf_token": csrf_token(page)}, headers=HTML
        )

        assert page.status_code == 200
        assert "Makulera brevet" not in page.text
        assert answer.status_code == 403
        with Session(world.engine) as session:
            assert session.get(Letter, letter_id).state == vocabulary.RECEIVED


def test_a_letter_to_bertil_is_found_by_his_number_however_typed(app, world):
    case_number = f"SN 2026/{uuid.uuid4().hex[:8]}"
    world.send(recipient="197501012475", subject="Till Bertil", case_number=case_number)

    for typed in ("19750101-2475", "7501012475", "750101-2475"):
        page = get(app, "/brev", "handlaggare", mottagare=typed, diarienummer=case_number)
        assert subjects(page) == ["Till Bertil"], typed


class TestNoNumberInAUrl:
    """The search form is posted; the address of its results carries the number sealed."""

    def test_a_search_by_recipient_is_sent_on_without_the_number_in_the_url(self, app, world):
        case_number = f"SN 2026/{uuid.uuid4().hex[:8]}"
        world.send(recipient="197501012475", subject="Till Bertil", case_number=case_number)
        client = TestClient(app)
        posted = client.post(
            "/brev",
            data={"mottagare": "750101-2475", "diarienummer": case_number},
            headers=HTML,
            auth=("handlaggare", PASSWORD),
            follow_redirects=False,
        )
        assert posted.status_code == 303
        location = posted.headers["location"]
        assert location.startswith("/brev?")
        assert not re.search(r"750101|2475", location)
        assert "mottagare-ref=" in location

        page = client.get(location, headers=HTML, auth=("handlaggare", PASSWORD))
        assert subjects(page) == ["Till Bertil"]
        assert 'value="750101-2475"' in page.text  # shown again in the form as typed

    def test_the_links_to_other_pages_carry_the_number_sealed(self, app, world):
        case_number = f"SN 2026/{uuid.uuid4().hex[:8]}"
        for _ in range(PER_PAGE + 1):
            world.send(recipient="197501012475", subject="Till Bertil", case_number=case_number)
        client = TestClient(app)
        auth = ("handlaggare", PASSWORD)
        posted = client.post("/brev", data={"mottagare": "19750101-2475",
                                            "diarienummer": case_number},
                             headers=HTML, auth=auth)  # fmt: skip
        next_page = re.search(r'<a href="([^"]+)" rel="next">', posted.text).group(1)
        assert "2475" not in next_page
        assert "mottagare-ref=" in next_page
        second = client.get(next_page.replace("&amp;", "&"), headers=HTML, auth=auth)
        assert "Sida 2 av 2" in second.text
        assert subjects(second) == ["Till Bertil"]  # the one beyond the first page

    def test_the_search_form_is_posted_with_the_pages_token(self, app):
        client = TestClient(app)
        assert log_in(client, "registrator", PASSWORD).status_code == 303
        page = client.get("/brev", headers=HTML)
        assert '<form class="search" method="post" action="/brev"' in page.text
        token = csrf_token(page)
        assert client.post("/brev", data={"mottagare": "19121212-1212"}).status_code == 403
        answer = client.post("/brev", data={"mottagare": "19121212-1212", "csrf_token": token},
                             follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303
        assert "1212" not in answer.headers["location"]

    def test_a_sealed_number_that_cannot_be_read_is_named_and_nothing_is_searched(self, app):
        page = get(app, "/brev", "handlaggare", **{"mottagare-ref": "gAAAAAförfalskad"})
        assert page.status_code == 400
        assert "Sökningen på mottagare har gått ut" in page.text
        assert subjects(page) == []
