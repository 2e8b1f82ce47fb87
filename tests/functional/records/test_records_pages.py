"""The records pages through the web app: `/arkiv`, a letter's record, holds, disclosure, the
access log and its page, and protected identities masked wherever a registrator reads.

Run on SQLite and PostgreSQL, each on a database of its own for the module (the pages commit).
"""

import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from functional.records.records_web import PASSWORD, REGISTRATION_NUMBER, build_world
from functional.web_login import HTML, log_in, page_token
from support.postgres import postgres_schema_url
from support.world import EVA, EXEMPELKOMMUN, DownPopulationRegister
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
from utskick.records.models import RecordHold
from utskick.web.access_log import DISCLOSURE, OPEN, SEARCH, AccessLogEntry, log_access

pytestmark = pytest.mark.storage

EVA_TYPED = "19851230-4166"
MARKING = "Sekretess kan gälla"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("arkiv")
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
        migrate.upgrade(engine)
        yield build_world(engine, home)
        engine.dispose()
        return
    with postgres_schema_url("records_pages") as url:
        engine = create_database_engine(url)
        migrate.upgrade(engine)
        yield build_world(engine, home)
        engine.dispose()


@pytest.fixture(scope="module")
def app(world):
    return world.app()


def get(app, path, user, **params):
    """A page as a browser asks for it, logged in with HTTP Basic."""
    return TestClient(app).get(path, params=params, headers=HTML, auth=(user, PASSWORD))


def logged_in(app, username):
    """A browser with a session cookie (its forms need the CSRF token)."""
    client = TestClient(app)
    assert log_in(client, username, PASSWORD).status_code == 303
    return client


def access_rows(world, **where):
    with Session(world.engine) as session:
        query = select(AccessLogEntry).order_by(AccessLogEntry.id)
        for name, value in where.items():
            query = query.where(getattr(AccessLogEntry, name) == value)
        return list(session.scalars(query))


def main(page):
    """The page's own content, without the header (whose CSRF token changes every time)."""
    return re.search(r"<main.*</main>", page.text, re.DOTALL).group(0)


def results_table(page):
    return re.search(r'<table class="letters".*?</table>', page.text, re.DOTALL).group(0)


def pdf_text(content):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


class TestOverview:
    def test_a_registrator_sees_the_rules_registration_holds_and_disposals(self, app):
        page = get(app, "/arkiv", "registrator")

        assert page.status_code == 200
        assert "Regler som gäller" in page.text
        for words in ("diarieförs", "hålls ordnad", "journalförs", "ingen allmän handling",
                      "KS 2026/14 § 3", "7 år"):  # fmt: skip
            assert words in page.text
        counts = re.search(
            r'<dl class="facts"[^>]*id="registrering">(.*?)</dl>', page.text, re.DOTALL
        )
        assert "Väntar på registrering" in counts.group(1)
        assert 'href="/brev"' in page.text
        assert "Inget har gallrats än." in page.text

    @pytest.mark.parametrize("user", ["handlaggare", "ledning"])
    def test_other_roles_may_not_open_it(self, app, user):
        page = get(app, "/arkiv", user)

        assert page.status_code == 403
        assert "registrator eller administratör" in page.text

    def test_the_start_page_names_the_records_pages(self, app):
        start = TestClient(app).get("/")

        assert '<a href="/arkiv">Arkiv</a>' in start.text
        assert '<a href="/admin/atkomstlogg">Åtkomstlogg</a>' in start.text
        assert "allmän handling" in start.text

    def test_the_menu_offers_it_to_registrators(self, app):
        assert '<a href="/arkiv"' in get(app, "/brev", "registrator").text
        assert '<a href="/arkiv"' not in get(app, "/brev", "handlaggare").text


class TestScope:
    def test_a_registrator_opens_any_letter_of_the_organisation(self, app, world):
        page = get(app, f"/arkiv/brev/{world.letters['decision']}", "registrator")

        assert page.status_code == 200
        assert REGISTRATION_NUMBER in page.text
        assert "diarieförs" in page.text
        assert "Exempelkommun (202100-4748)" in page.text
        assert "19121212-1212" in page.text
        assert "levererat digitalt" in page.text  # the timeline

    def test_another_organisations_letter_answers_404_as_if_it_did_not_exist(self, app, world):
        theirs = get(app, f"/arkiv/brev/{world.letters['neighbour']}", "registrator")
        missing = get(app, "/arkiv/brev/00000000-0000-4000-8000-000000000000", "registrator")

        assert theirs.status_code == missing.status_code == 404
        assert main(theirs) == main(missing)
        assert "Brev nummer" not in theirs.text
        assert get(app, f"/arkiv/brev/{world.letters['decision']}", "grannreg").status_code == 404

    def test_the_administrator_opens_every_organisations_letters(self, app, world):
        for name in ("decision", "neighbour"):
            assert get(app, f"/arkiv/brev/{world.letters[name]}", "admin").status_code == 200

    def test_a_refused_disclosure_of_another_organisations_letter_gives_nothing(self, app, world):
        client = logged_in(app, "registrator")
        token = page_token(client, "/arkiv")

        answer = client.post(f"/arkiv/brev/{world.letters['neighbour']}/utlamnande",
                             data={"csrf_token": token})  # fmt: skip

        assert answer.status_code == 404
        assert not answer.content.startswith(b"%PDF")


class TestMasking:
    @pytest.mark.parametrize("name", ["to_eva", "to_protected_now"])
    def test_the_record_page_masks_a_protected_recipient_and_address(self, app, world, name):
        page = get(app, f"/arkiv/brev/{world.letters[name]}", "registrator")

        assert page.status_code == 200
        assert "Skyddad identitet" in page.text
        assert "Visas inte: mottagaren har skyddad identitet." in page.text
        for number in (EVA, EVA_TYPED, world.protected_now, world.protected_now[:8]):
            assert number not in page.text

    def test_skickat_masks_protected_recipients_for_a_registrator(self, app, world):
        page = get(app, "/brev", "registrator", diarienummer=f"KS 2026/{world.tag}")

        assert page.status_code == 200
        table = results_table(page)
        assert table.count("Skyddad identitet") == 2
        assert EVA_TYPED not in table
        assert world.protected_now[:8] not in table
        assert "19121212-1212" in table

    def test_the_desk_letter_page_masks_them_for_a_registrator_but_not_for_the_officer(
        self, app, world
    ):
        path = f"/brev/{world.letters['to_eva']}"

        registrator = get(app, path, "registrator")
        officer = get(app, path, "handlaggare")

        assert "Skyddad identitet" in registrator.text
        assert EVA_TYPED not in registrator.text
        assert EVA_TYPED in officer.text

    def test_when_the_register_cannot_be_asked_no_person_is_shown(self, world):
        app = world.app(register=DownPopulationRegister())

        skickat = get(app, "/brev", "registrator", diarienummer=f"KS 2026/{world.tag}")
        record = get(app, f"/arkiv/brev/{world.letters['decision']}", "registrator")

        assert "19121212-1212" not in results_table(skickat)
        assert "Visas inte just nu" in results_table(skickat)
        assert "19121212-1212" not in record.text
        assert "Folkbokföringen kan inte frågas om skyddad identitet just nu" in record.text


class TestHolds:
    def test_a_registrator_holds_a_case_and_releases_it_from_the_overview(self, app, world):
        client = logged_in(app, "registrator")
        token = page_token(client, "/arkiv")
        case_number = f"KS 2026/{world.tag}-1"

        placed = client.post("/arkiv/sparrar", data={
            "csrf_token": token, "diarienummer": case_number, "skal": "Begärt av kammarrätten",
        }, follow_redirects=False)  # fmt: skip

        assert placed.status_code == 303
        assert placed.headers["location"] == "/arkiv?sparr=lagd"
        overview = client.get("/arkiv?sparr=lagd", headers=HTML)
        assert "Spärren är lagd" in overview.text
        assert f"ärende {case_number} (1 brev nu)" in overview.text
        record = client.get(f"/arkiv/brev/{world.letters['decision']}", headers=HTML)
        assert "Begärt av kammarrätten" in record.text
        assert "spärrat: gallras inte" not in record.text  # beslut: nothing is due
        hold_id = _hold_id(world, case_number)

        released = client.post(f"/arkiv/sparrar/{hold_id}/hav",
                               data={"csrf_token": token, "tillbaka": "/arkiv"},
                               follow_redirects=False)  # fmt: skip

        assert released.headers["location"] == "/arkiv?sparr=havd"
        assert "Begärt av kammarrätten" not in client.get("/arkiv", headers=HTML).text

    def test_a_hold_on_one_letter_from_its_record_shows_its_due_dates_as_held(self, app, world):
        client = logged_in(app, "registrator")
        letter_id = world.letters["information"]
        token = page_token(client, f"/arkiv/brev/{letter_id}")

        placed = client.post(f"/arkiv/brev/{letter_id}/sparrar",
                             data={"csrf_token": token, "skal": "Begäran om utlämnande prövas"},
                             follow_redirects=False)  # fmt: skip

        assert placed.headers["location"] == f"/arkiv/brev/{letter_id}?sparr=lagd"
        record = client.get(placed.headers["location"], headers=HTML)
        assert "det här brevet" in record.text
        assert "spärrat: gallras inte så länge spärren gäller" in record.text
        hold_id = _hold_id(world, None, letter_id=letter_id)
        released = client.post(f"/arkiv/sparrar/{hold_id}/hav",
                               data={"csrf_token": token, "tillbaka": f"/arkiv/brev/{letter_id}"},
                               follow_redirects=False)  # fmt: skip
        assert released.headers["location"] == f"/arkiv/brev/{letter_id}?sparr=havd"

    def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(self, app, world):
        client = logged_in(app, "registrator")
        before = _holds(world)

        answer = client.post("/arkiv/sparrar", data={"diarienummer": "X 1", "skal": "skäl"},
                             headers=HTML)  # fmt: skip

        assert answer.status_code == 403
        assert "CSRF" in answer.text
        assert _holds(world) == before

    def test_a_hold_without_a_reason_is_refused_with_what_to_do(self, app):
        client = logged_in(app, "registrator")
        token = page_token(client, "/arkiv")

        answer = client.post("/arkiv/sparrar", data={"csrf_token": token,
                                                    "diarienummer": "KS 2026/1", "skal": " "})  # fmt: skip

        assert answer.status_code == 400
        assert "Ange skälet till spärren" in answer.text
        assert 'value="KS 2026/1"' in answer.text

    def test_a_registrator_cannot_release_another_organisations_hold(self, app, world):
        admin = logged_in(app, "admin")
        token = page_token(admin, "/arkiv")
        admin.post("/arkiv/sparrar", data={"csrf_token": token, "avsandare": "2021009903",
                                          "diarienummer": f"GK {world.tag}", "skal": "Revision"})  # fmt: skip
        hold_id = _hold_id(world, f"GK {world.tag}")
        registrator = logged_in(app, "registrator")

        answer = registrator.post(f"/arkiv/sparrar/{hold_id}/hav",
                                  data={"csrf_token": page_token(registrator, "/arkiv")})  # fmt: skip

        assert answer.status_code == 400
        assert f"Det finns ingen spärr nummer {hold_id}" in answer.text
        assert "Revision" in get(app, "/arkiv", "admin").text


def _holds(world):
    with Session(world.engine) as session:
        return len(session.scalars(select(RecordHold)).all())


def _hold_id(world, case_number, letter_id=None):
    with Session(world.engine) as session:
        query = select(RecordHold.id).where(RecordHold.released_at.is_(None))
        if letter_id:
            query = query.where(RecordHold.letter_id == letter_id)
        else:
            query = query.where(RecordHold.case_number == case_number)
        return session.scalar(query)


class TestDisclosure:
    def disclose(self, app, world, name, user="registrator"):
        client = logged_in(app, user)
        letter_id = world.letters[name]
        token = page_token(client, f"/arkiv/brev/{letter_id}")
        return client.post(f"/arkiv/brev/{letter_id}/utlamnande", data={"csrf_token": token})

    def test_a_class_2_letter_is_a_pdf_marked_for_a_secrecy_trial(self, app, world):
        answer = self.disclose(app, world, "decision")

        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert "attachment" in answer.headers["content-disposition"]
        assert answer.content.startswith(b"%PDF-")
        text = pdf_text(answer.content)
        assert MARKING in text
        assert "Brev nummer" in text

    def test_a_class_1_letter_to_an_unprotected_person_is_not_marked(self, app, world):
        answer = self.disclose(app, world, "information")

        assert answer.content.startswith(b"%PDF-")
        assert MARKING not in pdf_text(answer.content)

    def test_a_protected_recipient_is_masked_and_the_letter_marked(self, app, world):
        answer = self.disclose(app, world, "to_eva")

        text = pdf_text(answer.content)
        assert MARKING in text
        assert EVA not in text.replace(" ", "")
        assert EVA_TYPED not in text

    def test_the_record_page_says_beforehand_whether_it_is_marked(self, app, world):
        assert 'id="markering"' in get(app, f"/arkiv/brev/{world.letters['decision']}",
                                       "registrator").text  # fmt: skip
        assert "märks inte" in get(app, f"/arkiv/brev/{world.letters['information']}",
                                   "registrator").text  # fmt: skip


class TestAccessLog:
    def test_a_search_on_skickat_is_logged_with_its_filters_and_count(self, app, world):
        get(app, "/brev", "registrator", diarienummer=f"KS 2026/{world.tag}-1")

        row = access_rows(world, username="registrator", action=SEARCH)[-1]
        assert row.detail == {"diarienummer": f"KS 2026/{world.tag}-1", "sida": 1}
        assert row.result_count == 1
        assert (row.role, row.organisation_number) == ("records", EXEMPELKOMMUN)

    def test_a_first_page_without_filters_is_a_search_too(self, app, world):
        get(app, "/brev", "handlaggare")

        row = access_rows(world, username="handlaggare", action=SEARCH)[-1]
        assert row.detail == {"sida": 1}
        assert row.result_count >= 1

    def test_opening_a_letter_on_the_desk_and_its_record_are_logged(self, app, world):
        letter_id = world.letters["decision"]
        before = len(access_rows(world, letter_id=letter_id, action=OPEN))

        get(app, f"/brev/{letter_id}", "registrator")
        get(app, f"/arkiv/brev/{letter_id}", "admin")

        rows = access_rows(world, letter_id=letter_id, action=OPEN)[before:]
        assert [(row.username, row.role, row.detail) for row in rows] == [
            ("registrator", "records", {"vy": "Skickat"}), ("admin", "admin", {"vy": "Arkiv"})
        ]  # fmt: skip

    def test_a_downloaded_attachment_is_an_opened_letter_too(self, app, world):
        letter_id = world.letters["decision"]

        answer = get(app, f"/brev/{letter_id}/bilagor/1", "registrator")

        assert answer.status_code == 200
        row = access_rows(world, letter_id=letter_id, action=OPEN)[-1]
        assert row.detail == {"vy": "Skickat", "bilaga": "bilaga-1.pdf"}

    def test_a_letter_outside_the_scope_leaves_no_open_row(self, app, world):
        letter_id = world.letters["neighbour"]
        before = access_rows(world, letter_id=letter_id, username="registrator")

        get(app, f"/arkiv/brev/{letter_id}", "registrator")
        get(app, f"/brev/{letter_id}", "registrator")

        assert access_rows(world, letter_id=letter_id, username="registrator") == before

    def test_a_disclosure_is_logged(self, app, world):
        letter_id = world.letters["information"]
        TestDisclosure().disclose(app, world, "information")

        row = access_rows(world, letter_id=letter_id, action=DISCLOSURE)[-1]
        assert row.username == "registrator"
        assert row.detail["markerat"] is False


@pytest.fixture(scope="module")
def logged(world):
    """Rows of a user of their own, at known times (09:00 UTC is 10:00 in Stockholm)."""
    with Session(world.engine) as session:
        for day in range(1, 4):
            for _ in range(20):
                log_access(session, username=f"granskad-{world.tag.lower()}", role="records",
                           organisation_number=EXEMPELKOMMUN, action=OPEN,
                           letter_id=world.letters["decision"],
                           now=dt.datetime(2026, 3, day, 9, 0, tzinfo=dt.UTC))  # fmt: skip
        log_access(session, username=f"granskad-{world.tag.lower()}", role="records",
                   organisation_number=EXEMPELKOMMUN, action=SEARCH,
                   detail={"mottagare": EVA_TYPED}, result_count=1,
                   now=dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC))  # fmt: skip
        session.commit()
    return f"granskad-{world.tag.lower()}"


class TestAccessLogPage:
    def test_only_the_administrator_reads_it(self, app):
        assert get(app, "/admin/atkomstlogg", "registrator").status_code == 403
        assert get(app, "/admin/atkomstlogg", "handlaggare").status_code == 403
        assert get(app, "/admin/atkomstlogg", "admin").status_code == 200

    def test_newest_first_in_local_time_and_in_pages(self, app, logged):
        page = get(app, "/admin/atkomstlogg", "admin", anvandare=logged)

        assert "61 rader" in page.text
        assert "Sida 1 av 2" in page.text
        rows = re.findall(
            r'<td class="text nowrap">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td>', page.text
        )
        assert rows[0] == "2026-03-04 10:00:00"
        assert rows == sorted(rows, reverse=True)
        assert f"mottagare: {EVA_TYPED}" in page.text
        second = get(app, "/admin/atkomstlogg", "admin", anvandare=logged, sida="2")
        assert "Sida 2 av 2" in second.text
        assert len(re.findall(r"<tr>", second.text)) == 1 + 11  # the head and eleven rows

    def test_filters_by_action_letter_and_local_days(self, app, logged, world):
        by_action = get(app, "/admin/atkomstlogg", "admin", anvandare=logged, handling="search")
        by_days = get(app, "/admin/atkomstlogg", "admin", anvandare=logged,
                      fran="2026-03-02", till="2026-03-03")  # fmt: skip
        by_letter = get(app, "/admin/atkomstlogg", "admin", anvandare=logged,
                        brev=world.letters["decision"])  # fmt: skip

        assert "1 rad" in by_action.text
        assert "40 rader" in by_days.text
        assert "60 rader" in by_letter.text

    def test_a_date_that_cannot_be_read_is_named_and_nothing_is_searched(self, app):
        page = get(app, "/admin/atkomstlogg", "admin", fran="3 mars")

        assert page.status_code == 400
        assert "”3 mars” är inget datum" in page.text
        assert 'id="logg"' not in page.text
