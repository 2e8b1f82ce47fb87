"""The print API `/api/v1/print/batches` as its users call it, with HTTP Basic.

Exempelkommun's Socialtjänsten prints its own letters (a daily exception list: Anna, Bertil
and a person with protected identity); its Byggnadsnämnden's letters (Cecilia, Anna) go to
the vendor, whose drop is a folder under the test's tmp_path. A letter to a deceased person
is in no batch. Grannkommun has a Socialtjänsten too, with an exception list of its own
(Cecilia, Bertil) that no one of Exempelkommun may see, nor Grannkommun's officer theirs.
"""

import datetime as dt
import io
import json
import shutil

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from functional.print_letters import (
    BYGG,
    NEIGHBOUR_SEEDED,
    SECRET_STREET,
    SOCIAL,
    VENDOR,
    letter_states,
    new_database,
    seed_batches,
    seed_neighbour_batch,
)
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.letters.models import Letter, LetterEvent
from utskick.printing.models import PrintBatch, PrintItem
from utskick.printing.views import batch_summary
from utskick.settings import PrintVendor, Settings
from utskick.web.users import WebUser, hash_password

PASSWORD = "rätt-lösenord-1"
API = "/api/v1/print/batches"
UNKNOWN_BATCH = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A migrated database with the users, copied for every test (each test changes batches)."""
    path = tmp_path_factory.mktemp("print-api") / "utskick.db"
    engine = new_database(path, PASSWORD)
    with Session(engine) as session:
        # Registered before people belonged to organisations, and never given one.
        session.add(WebUser(username="utan", display_name="Utan Organisation",
                            password_hash=hash_password(PASSWORD), role="officer",
                            organisation_number=None, department=SOCIAL, active=True,
                            created_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        session.commit()
    engine.dispose()
    return path


class World:
    """The app over a fresh copy of the database, its batches and the vendor's drop."""

    def __init__(self, home, template):
        shutil.copy(template, home / "utskick.db")
        self.engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
        self.drop = home / "drop"
        self.settings = Settings(
            home=home,
            print_local_departments=[SOCIAL],
            print_vendors=[PrintVendor(name=VENDOR, drop=self.drop)],
        )
        self.letters, self.batches = seed_batches(self.engine, self.settings)
        self.neighbour_letters, self.neighbour_batch = seed_neighbour_batch(
            self.engine, self.settings
        )
        self.client = TestClient(create_app(self.settings, self.engine))

    def get(self, user, path=""):
        return self.client.get(API + path, auth=(user, PASSWORD))

    def post(self, user, path, body=None):
        return self.client.post(API + path, json=body, auth=(user, PASSWORD))

    def batch(self, department):
        with Session(self.engine) as session:
            return session.get(PrintBatch, self.batches[department])

    def batch_by_id(self, batch_id):
        with Session(self.engine) as session:
            return session.get(PrintBatch, batch_id)

    def letters_in(self, batch_id):
        """The batch's letters as the lists show them (counted while it is open)."""
        with Session(self.engine) as session:
            return batch_summary(session.get(PrintBatch, batch_id))["letters"]

    def senders_of_letters_in(self, batch_id):
        with Session(self.engine) as session:
            return set(
                session.scalars(
                    select(Letter.sender_number)
                    .join(PrintItem, PrintItem.letter_id == Letter.id)
                    .where(PrintItem.batch_id == batch_id)
                )
            )

    def events(self, state):
        """How many events of this state each letter has."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(LetterEvent.letter_id, func.count())
                .where(LetterEvent.state == state)
                .group_by(LetterEvent.letter_id)
            ).all()
        return dict(rows)

    def printed_at(self):
        with Session(self.engine) as session:
            return dict(session.execute(select(PrintItem.letter_id, PrintItem.printed_at)).all())

    def drop_listing(self):
        if not self.drop.exists():
            return []
        return sorted(str(path.relative_to(self.drop)) for path in self.drop.rglob("*"))


@pytest.fixture
def world(tmp_path, template):
    world = World(tmp_path, template)
    yield world
    world.engine.dispose()


def social_list(world):
    return f"/{world.batches[SOCIAL]}"


def vendor_batch(world):
    return f"/{world.batches[BYGG]}"


def close_social_list(world):
    closed = world.post("social", social_list(world) + "/close")
    assert closed.status_code == 200, closed.text
    return closed


def departments_seen(answer):
    assert answer.status_code == 200, answer.text
    return sorted(batch["department"] for batch in answer.json())


class TestWhoSeesWhichBatches:
    def test_an_officer_sees_only_their_departments_batches(self, world):
        assert departments_seen(world.get("social")) == [SOCIAL]

    def test_a_department_admin_sees_only_their_departments_batches(self, world):
        assert departments_seen(world.get("byggadmin")) == [BYGG]

    def test_the_admin_sees_every_batch_of_every_organisation(self, world):
        answer = world.get("tryckrum")
        assert departments_seen(answer) == sorted([SOCIAL, SOCIAL, BYGG])
        assert sorted((batch["sender"], batch["department"]) for batch in answer.json()) == [
            (EXEMPELKOMMUN, BYGG),
            (EXEMPELKOMMUN, SOCIAL),
            (GRANNKOMMUN, SOCIAL),
        ]

    def test_a_person_without_an_organisation_sees_no_batch_and_is_told_why(self, world):
        for path in ("", social_list(world)):
            answer = world.get("utan", path)
            assert answer.status_code == 403
            assert "hör inte till någon avsändarorganisation" in answer.json()["detail"]

    def test_management_has_no_access_to_printing(self, world):
        answer = world.get("ledning")
        assert answer.status_code == 403
        assert "kräver rollen" in answer.json()["detail"]

    def test_without_credentials_the_api_asks_for_a_login(self, world):
        answer = world.client.get(API)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")

    @pytest.mark.parametrize(
        ("method", "action"),
        [("get", ""), ("get", "/pdf"), ("post", "/close"), ("post", "/printed")],
    )
    def test_another_departments_batch_is_not_found_and_left_alone(self, world, method, action):
        path = vendor_batch(world) + action
        answer = world.get("social", path) if method == "get" else world.post("social", path, {})
        assert answer.status_code == 404
        assert answer.json()["detail"] == not_found(world.batches[BYGG])
        assert world.batch(BYGG).state == "open"


def not_found(batch_id):
    """What an unknown batch answers: another organisation's or department's answers the same."""
    return (
        f"det finns ingen utskriftsbatch {batch_id} som du kan se; välj en batch i listan på "
        "/utskrift"
    )


ACTIONS = [("get", ""), ("get", "/pdf"), ("post", "/close"), ("post", "/printed"),
           ("post", "/handover")]  # fmt: skip


class TestTwoMunicipalities:
    def test_each_socialtjansten_has_an_exception_list_of_its_own(self, world):
        ours, theirs = world.batches[SOCIAL], world.neighbour_batch
        assert ours != theirs
        assert world.senders_of_letters_in(ours) == {EXEMPELKOMMUN}
        assert world.senders_of_letters_in(theirs) == {GRANNKOMMUN}
        neighbour = world.batch_by_id(theirs)
        assert (neighbour.department, neighbour.local, world.letters_in(theirs)) == (
            SOCIAL,
            True,
            2,
        )
        assert neighbour.open_key == f"{GRANNKOMMUN}|lokal|{SOCIAL}"
        assert world.batch(SOCIAL).open_key == f"{EXEMPELKOMMUN}|lokal|{SOCIAL}"

    def test_grannkommuns_officer_lists_only_grannkommuns_list(self, world):
        answer = world.get("granne")
        assert answer.status_code == 200, answer.text
        assert [(batch["id"], batch["sender"]) for batch in answer.json()] == [
            (world.neighbour_batch, GRANNKOMMUN)
        ]
        detail = world.get("granne", f"/{world.neighbour_batch}").json()
        assert sorted(letter["subject"] for letter in detail["letters"]) == sorted(
            subject for _name, _recipient, subject, _case in NEIGHBOUR_SEEDED
        )

    def test_exempelkommuns_officer_of_the_same_department_does_not_list_it(self, world):
        listed = [batch["id"] for batch in world.get("social").json()]
        assert listed == [world.batches[SOCIAL]]

    @pytest.mark.parametrize(("method", "action"), ACTIONS)
    def test_grannkommuns_officer_cannot_reach_exempelkommuns_list(self, world, method, action):
        path = social_list(world) + action
        answer = world.get("granne", path) if method == "get" else world.post("granne", path, {})
        assert answer.status_code == 404
        # Word for word what a batch that does not exist answers: nothing gives it away.
        assert answer.json()["detail"] == not_found(world.batches[SOCIAL])
        assert world.batch(SOCIAL).state == "open"
        assert world.events("printed") == {}

    @pytest.mark.parametrize(("method", "action"), ACTIONS)
    def test_exempelkommuns_officer_cannot_reach_grannkommuns_list(self, world, method, action):
        path = f"/{world.neighbour_batch}{action}"
        answer = world.get("social", path) if method == "get" else world.post("social", path, {})
        assert answer.status_code == 404
        assert answer.json()["detail"] == not_found(world.neighbour_batch)
        assert world.batch_by_id(world.neighbour_batch).state == "open"

    def test_an_unknown_batch_answers_the_same_as_another_municipalitys(self, world):
        answer = world.get("granne", f"/{UNKNOWN_BATCH}/pdf")
        assert answer.status_code == 404
        assert answer.json()["detail"] == not_found(UNKNOWN_BATCH)

    def test_grannkommuns_pdf_is_grannkommuns_letters_under_its_name(self, world):
        answer = world.get("granne", f"/{world.neighbour_batch}/pdf")
        assert answer.status_code == 200, answer.text
        reader = PdfReader(io.BytesIO(answer.content))
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert len(reader.pages) == 2
        assert "Beslut om färdtjänst" in text
        assert "Beslut om försörjningsstöd" not in text
        assert reader.metadata.author == "Grannkommun"
        assert reader.metadata.title.startswith(f"Utskrift Grannkommun {SOCIAL} ")

    def test_closing_one_municipalitys_list_leaves_the_others_open(self, world):
        closed = world.post("granne", f"/{world.neighbour_batch}/close")
        assert closed.status_code == 200, closed.text
        assert world.batch_by_id(world.neighbour_batch).state == "closed"
        assert world.batch(SOCIAL).state == "open"


class TestBatchDetail:
    def test_the_detail_lists_each_letter_with_recipient_subject_and_case(self, world):
        answer = world.get("social", social_list(world))
        assert answer.status_code == 200
        detail = answer.json()
        assert (detail["route"], detail["local"], detail["state"]) == ("lokal", True, "open")
        by_id = {letter["letter_id"]: letter for letter in detail["letters"]}
        anna = by_id[world.letters["anna"]]
        assert anna["recipient"] == "Anna Andersson, 123 45 Exempelby"
        assert (anna["subject"], anna["case_number"]) == (
            "Beslut om försörjningsstöd",
            "SOC 2026/101",
        )
        assert sorted(letter["position"] for letter in detail["letters"]) == [1, 2, 3]

    def test_a_letter_that_cannot_be_printed_is_in_no_batch(self, world):
        listed = {
            letter["letter_id"]
            for department in (SOCIAL, BYGG)
            for letter in world.get("tryckrum", f"/{world.batches[department]}").json()["letters"]
        }
        assert world.letters["dag"] not in listed
        assert letter_states(world.engine, [world.letters["dag"]]) == {
            world.letters["dag"]: "impossible"
        }

    def test_a_protected_identity_is_shown_as_such_and_its_address_nowhere(self, world):
        answers = [
            world.get("social"),
            world.get("social", social_list(world)),
            world.get("tryckrum"),
        ]
        detail = answers[1].json()
        protected = next(
            row for row in detail["letters"] if row["letter_id"] == world.letters["skyddad"]
        )
        assert "skyddad identitet" in protected["recipient"]
        for answer in answers:
            for secret in (SECRET_STREET, "Gömby", "Petra"):
                assert secret not in answer.text

    def test_an_unknown_batch_is_not_found_with_a_swedish_message(self, world):
        answer = world.get("tryckrum", f"/{UNKNOWN_BATCH}")
        assert answer.status_code == 404
        assert answer.json()["detail"] == not_found(UNKNOWN_BATCH)


class TestClose:
    def test_an_officer_closes_their_departments_exception_list(self, world):
        closed = close_social_list(world).json()
        assert (closed["state"], closed["close_reason"]) == ("closed", "command")
        assert world.batch(SOCIAL).state == "closed"
        assert world.drop_listing() == []  # an exception list never goes to the vendor

    def test_closing_a_closed_list_again_changes_nothing(self, world):
        first = close_social_list(world).json()
        again = close_social_list(world).json()
        assert again["closed_at"] == first["closed_at"]
        assert again["state"] == "closed"

    @pytest.mark.parametrize("user", ["bygg", "byggadmin"])
    def test_only_the_admin_may_close_a_vendor_batch(self, world, user):
        answer = world.post(user, vendor_batch(world) + "/close")
        assert answer.status_code == 403
        assert "administratör" in answer.json()["detail"]
        assert world.batch(BYGG).state == "open"
        assert world.drop_listing() == []

    def test_the_admin_closes_a_vendor_batch_into_the_vendors_drop(self, world):
        answer = world.post("tryckrum", vendor_batch(world) + "/close")
        assert answer.status_code == 200, answer.text
        summary = answer.json()
        assert summary["state"] == "handed_over"
        folder = self_folder(world, summary)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["batch_id"] == world.batches[BYGG]
        assert (manifest["sender"], manifest["sender_name"]) == (EXEMPELKOMMUN, "Exempelkommun")
        assert (manifest["vendor"], manifest["department"]) == (VENDOR, BYGG)
        assert {row["letter_id"] for row in manifest["letters"]} == {
            world.letters["cecilia"],
            world.letters["anna_bygg"],
        }
        for row in manifest["letters"]:
            assert (folder / row["file"]).read_bytes().startswith(b"%PDF")
        assert summary["pages"] == manifest["totals"]["pages"] == 2
        states = letter_states(world.engine, [world.letters["cecilia"], world.letters["anna_bygg"]])
        assert set(states.values()) == {"handed_to_print"}

    def test_the_vendor_sees_only_the_finished_folder(self, world):
        summary = world.post("tryckrum", vendor_batch(world) + "/close").json()
        visible = [path.name for path in world.drop.iterdir() if not path.name.startswith(".")]
        assert visible == [summary["folder"]]
        assert list((world.drop / ".utskick-tmp").iterdir()) == []

    def test_handing_over_again_changes_nothing(self, world):
        world.post("tryckrum", vendor_batch(world) + "/close")
        listing = world.drop_listing()
        manifest = next(world.drop.glob("*/manifest.json")).read_bytes()
        events = world.events("handed_to_print")
        again = world.post("tryckrum", vendor_batch(world) + "/handover")
        assert again.status_code == 200
        assert again.json()["state"] == "handed_over"
        assert world.drop_listing() == listing
        assert next(world.drop.glob("*/manifest.json")).read_bytes() == manifest
        assert world.events("handed_to_print") == events
        assert set(events.values()) == {1}

    def test_an_open_batch_is_not_handed_over(self, world):
        answer = world.post("tryckrum", vendor_batch(world) + "/handover")
        assert answer.status_code == 409
        assert "stängd batch" in answer.json()["detail"]
        assert world.batch(BYGG).state == "open"
        assert [name for name in world.drop_listing() if not name.startswith(".")] == []

    def test_an_exception_list_is_never_handed_to_the_vendor(self, world):
        close_social_list(world)
        answer = world.post("tryckrum", social_list(world) + "/handover")
        assert answer.status_code == 409
        assert "undantagslista" in answer.json()["detail"]
        assert world.batch(SOCIAL).state == "closed"


def self_folder(world, summary):
    assert summary["folder"], summary
    folder = world.drop / summary["folder"]
    assert folder.is_dir()
    return folder


class TestPdf:
    def test_the_pdf_has_a_page_per_letter_with_its_subject(self, world):
        answer = world.get("social", social_list(world) + "/pdf")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert "attachment" in answer.headers["content-disposition"]
        assert answer.content.startswith(b"%PDF")
        pages = [page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages]
        assert len(pages) == 3
        text = "\n".join(pages)
        for subject in ("Beslut om försörjningsstöd", "Kallelse till möte",
                        "Beslut om bostadsanpassning"):  # fmt: skip
            assert sum(subject in page for page in pages) == 1, subject
        assert "Anna Andersson" in text

    def test_the_protected_letter_goes_to_skatteverket_with_the_personnummer(self, world):
        answer = world.get("social", social_list(world) + "/pdf")
        assert answer.status_code == 200, answer.text
        pages = [page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages]
        protected = next(page for page in pages if "Beslut om bostadsanpassning" in page)
        assert "Personnummer 19851230-4166" in protected
        assert "Skatteverket" in protected
        assert "Box 2820" in protected
        for page in pages:
            assert SECRET_STREET not in page
            assert "Petra" not in page

    def test_the_admin_downloads_a_vendor_batch_too(self, world):
        answer = world.get("tryckrum", vendor_batch(world) + "/pdf")
        assert answer.status_code == 200, answer.text
        reader = PdfReader(io.BytesIO(answer.content))
        assert len(reader.pages) == 2
        assert "Beslut om bygglov" in "\n".join(page.extract_text() for page in reader.pages)


class TestMarkPrinted:
    def test_marking_all_prints_every_letter_and_the_list_becomes_printed(self, world):
        close_social_list(world)
        answer = world.post("social", social_list(world) + "/printed", {})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"marked": 3}
        assert world.batch(SOCIAL).state == "printed"
        ours = [world.letters[name] for name in ("anna", "bertil", "skyddad")]
        assert set(letter_states(world.engine, ours).values()) == {"printed"}
        assert world.events("printed") == dict.fromkeys(ours, 1)

    def test_marking_named_letters_leaves_the_others_and_the_list_open_for_them(self, world):
        close_social_list(world)
        anna = world.letters["anna"]
        answer = world.post("socialadmin", social_list(world) + "/printed", {"letter_ids": [anna]})
        assert answer.json() == {"marked": 1}
        assert world.batch(SOCIAL).state == "closed"
        states = letter_states(world.engine, [anna, world.letters["bertil"]])
        assert states == {anna: "printed", world.letters["bertil"]: "batched"}
        assert world.events("printed") == {anna: 1}

    def test_marking_again_changes_nothing(self, world):
        close_social_list(world)
        world.post("social", social_list(world) + "/printed", {})
        printed_at, events = world.printed_at(), world.events("printed")
        again = world.post("social", social_list(world) + "/printed", {})
        assert again.json() == {"marked": 0}
        assert world.printed_at() == printed_at
        assert world.events("printed") == events

    def test_an_open_list_cannot_be_marked(self, world):
        answer = world.post("social", social_list(world) + "/printed", {})
        assert answer.status_code == 409
        assert "fortfarande öppen" in answer.json()["detail"]
        assert world.events("printed") == {}
        assert world.batch(SOCIAL).state == "open"

    def test_a_letter_not_in_the_list_refuses_the_whole_request(self, world):
        close_social_list(world)
        names = [world.letters["anna"], world.letters["cecilia"]]
        answer = world.post("social", social_list(world) + "/printed", {"letter_ids": names})
        assert answer.status_code == 409
        assert "finns inte i batchen" in answer.json()["detail"]
        assert world.events("printed") == {}
        assert set(world.printed_at().values()) == {None}

    def test_an_unknown_batch_is_not_found_and_nothing_is_marked(self, world):
        answer = world.post("tryckrum", f"/{UNKNOWN_BATCH}/printed", {})
        assert answer.status_code == 404
        assert "det finns ingen utskriftsbatch" in answer.json()["detail"]
        assert world.events("printed") == {}

    def test_a_letter_list_that_is_not_a_list_is_refused(self, world):
        close_social_list(world)
        answer = world.post("social", social_list(world) + "/printed", {"letter_ids": "alla"})
        assert answer.status_code == 422
        assert world.events("printed") == {}


class TestSftpServerDown:
    def test_a_vendor_server_that_does_not_answer_is_503_and_the_batch_waits_closed(
        self, world, tmp_path
    ):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        from utskick.reference.runner import free_loopback_ports

        [port] = free_loopback_ports(1)  # nothing listens there
        (tmp_path / "known_hosts").write_text("")
        key = ed25519.Ed25519PrivateKey.generate()
        (tmp_path / "key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        vendor = PrintVendor(
            name=VENDOR,
            drop=world.drop,
            sftp_url=f"sftp://print@127.0.0.1:{port}/inkommande",
            sftp_key_file=tmp_path / "key",
            sftp_known_hosts=tmp_path / "known_hosts",
            sftp_timeout_seconds=2,
        )
        settings = world.settings.model_copy(update={"print_vendors": [vendor]})
        client = TestClient(create_app(settings, world.engine))
        batch_id = world.batches[BYGG]

        answer = client.post(f"{API}/{batch_id}/close", auth=("tryckrum", PASSWORD))

        assert answer.status_code == 503, answer.text
        assert "senare" in answer.json()["detail"]
        detail = client.get(f"{API}/{batch_id}", auth=("tryckrum", PASSWORD)).json()
        assert detail["state"] == "closed"
        states = letter_states(world.engine, [world.letters["cecilia"], world.letters["anna_bygg"]])
        assert set(states.values()) == {"batched"}
