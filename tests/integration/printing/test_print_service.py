"""The print service on SQLite and PostgreSQL: addressing, batching, closing, hand-over.

The population register is the in-memory `FixedAddressSource`; the vendor drop is a folder
under the test's temporary directory.
"""

import datetime as dt
import hashlib
import json
import logging
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from support.paper_letters import ensure_sender_and_system, paper_letter
from support.world import (
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    HANNA,
    JONAS,
    LENA,
    NOW,
    sender_organisation,
)
from utskick.jobs.models import Job
from utskick.jobs.queue import PRINT_CLOSE, PRINT_HANDOVER, ClaimedJob, enqueue
from utskick.letters.models import Letter, LetterAttachment, LetterEvent
from utskick.letters.service import LetterNotCancellableError, LetterService
from utskick.migrations import migrate
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.printing.drops import MANIFEST_JSON, WORK_FOLDER
from utskick.printing.handover import MANIFEST_CSV, handover_batch
from utskick.printing.models import PrintBatch, PrintItem
from utskick.printing.render import LetterRenderer, PrintLetter, Window
from utskick.printing.repository import PrintRepository
from utskick.printing.service import (
    PrintBatchError,
    address_jobs,
    close_job,
    close_on_command,
    mark_printed,
)
from utskick.senders.models import SendingSystem
from utskick.settings import PrintVendor, Settings

EVA_SECRET_ADDRESS = "Hemliga vägen 7"

REGISTER = FixedAddressSource(
    {
        DAVID: RegisterEntry(
            DAVID, found=True, name="David Dahl", lines=("Dalvägen 3", "123 46 Exempelstad")
        ),
        EVA: RegisterEntry(EVA, found=True, protected=True),
        HANNA: RegisterEntry(
            HANNA,
            found=True,
            name="Hanna Holm",
            lines=("Holmgatan 4", "123 50 Exempelstad"),
            deceased=True,
        ),
        JONAS: RegisterEntry(
            JONAS,
            found=True,
            name="Jonas Jansson",
            lines=("Jarlavägen 8", "123 52 Exempelstad"),
            emigrated=True,
        ),
        LENA: RegisterEntry(LENA, found=True, name="Lena Lund", lines=()),
    }
)

pytestmark = pytest.mark.storage


@pytest.fixture
def world(empty_engine, tmp_path):
    """A database of the test's own, settings with a drop in tmp_path, and a department."""
    migrate.upgrade(empty_engine)
    sessions = sessionmaker(empty_engine)
    department = f"Avdelning {uuid.uuid4().hex[:8]}"
    settings = Settings(
        home=tmp_path,
        print_vendors=[PrintVendor(name="tryckeriet", drop=tmp_path / "drop")],
        print_batch_max_letters=50,
    )
    with sessions() as session, session.begin():
        system_id = ensure_sender_and_system(session)
    return sessions, settings, department, system_id


def add_letters(world, recipients, **options):
    sessions, _settings, department, system_id = world
    with sessions() as session, session.begin():
        return [
            paper_letter(session, system_id, r, department=department, **options).id
            for r in recipients
        ]


def run_print_jobs(world, letter_ids):
    sessions, settings, _department, _system = world
    with sessions() as session:
        jobs = session.scalars(
            select(Job).where(Job.letter_id.in_(letter_ids), Job.kind == "print").order_by(Job.id)
        ).all()
        claimed = [ClaimedJob(j.id, j.kind, j.letter_id, j.payload, 1, NOW) for j in jobs]
    return address_jobs(
        claimed,
        sessions=sessions,
        source=REGISTER,
        settings=settings,
        clock=lambda: NOW,
        actor="test",
    )


def letters_by_id(world, letter_ids):
    with world[0]() as session:
        return {
            letter.id: (letter.state, letter.reason, letter.postal_address)
            for letter in session.scalars(select(Letter).where(Letter.id.in_(letter_ids)))
        }


def open_batch(world):
    with world[0]() as session:
        return session.scalars(select(PrintBatch).where(PrintBatch.department == world[2])).one()


def letters_in(world, batch):
    """The letters of a batch: counted while it is open, its count once closed."""
    with world[0]() as session:
        return PrintRepository(session).letter_count(batch)


class TestAddressing:
    def test_every_paper_letter_gets_a_print_job_when_it_goes_to_paper(self, world):
        [letter_id] = add_letters(world, [DAVID])
        with world[0]() as session:
            kinds = session.scalars(select(Job.kind).where(Job.letter_id == letter_id)).all()
        assert kinds == ["print"]

    def test_letters_are_batched_or_found_impossible_with_the_reason(self, world):
        ids = add_letters(world, [DAVID, EVA, HANNA, JONAS, LENA])
        run_print_jobs(world, ids)
        outcome = [letters_by_id(world, ids)[i][:2] for i in ids]
        assert outcome == [
            ("batched", "paper_only_policy"),
            ("batched", "paper_only_policy"),
            ("impossible", "deceased"),
            ("impossible", "emigrated"),
            ("impossible", "no_address"),
        ]
        batch = open_batch(world)
        assert (batch.state, letters_in(world, batch), batch.route, batch.local) == (
            "open",
            2,
            "tryckeriet",
            False,
        )

    def test_the_batch_close_is_scheduled_at_the_next_close_time(self, world):
        run_print_jobs(world, add_letters(world, [DAVID]))
        batch = open_batch(world)
        # 16:00 in Stockholm on 2026-11-27 is 15:00 UTC.
        assert batch.closes_at.replace(tzinfo=dt.UTC) == dt.datetime(
            2026, 11, 27, 15, 0, tzinfo=dt.UTC
        )
        with world[0]() as session:
            job = session.scalars(
                select(Job)
                .where(Job.kind == PRINT_CLOSE)
                .where(Job.payload["batch_id"].as_string() == batch.id)
            ).one()
        assert job.run_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)

    def test_a_callers_address_of_a_protected_person_is_erased_and_never_stored(self, world):
        address = {
            "name": "Eva Ek",
            "lines": [EVA_SECRET_ADDRESS],
            "postal_code": "123 99",
            "city": "Exempelstad",
            "country": None,
        }
        [letter_id] = add_letters(world, [EVA], postal_address=address)
        run_print_jobs(world, [letter_id])
        state, _reason, stored_address = letters_by_id(world, [letter_id])[letter_id]
        assert (state, stored_address) == ("batched", None)
        with world[0]() as session:
            item = session.get(PrintItem, letter_id)
            events_text = json.dumps(
                [
                    (e.detail, e.data)
                    for e in session.scalars(
                        select(LetterEvent).where(LetterEvent.letter_id == letter_id)
                    )
                ],
                ensure_ascii=False,
            )
        assert (item.protected, item.address) == (True, None)
        assert EVA_SECRET_ADDRESS not in events_text

    def test_running_the_job_twice_batches_a_letter_once(self, world):
        ids = add_letters(world, [DAVID])
        run_print_jobs(world, ids)
        run_print_jobs(world, ids)
        assert letters_in(world, open_batch(world)) == 1

    def test_a_full_vendor_batch_closes_and_is_queued_for_hand_over(self, world):
        ids = add_letters(world, [DAVID] * 51)
        run_print_jobs(world, ids)
        with world[0]() as session:
            batches = session.scalars(
                select(PrintBatch)
                .where(PrintBatch.department == world[2])
                .order_by(PrintBatch.created_at, PrintBatch.letter_count.desc())
            ).all()
            counts = {b.id: PrintRepository(session).letter_count(b) for b in batches}
            handover_jobs = session.scalars(
                select(Job)
                .where(Job.kind == PRINT_HANDOVER)
                .where(Job.payload["batch_id"].as_string() == batches[0].id)
            ).all()
        assert sorted((b.state, counts[b.id], b.close_reason) for b in batches) == [
            ("closed", 50, "size"),
            ("open", 1, None),
        ]
        assert len(handover_jobs) == 1

    def test_a_department_that_prints_locally_gets_an_exception_list(self, world):
        sessions, settings, department, _ = world
        local_world = (
            sessions,
            settings.model_copy(update={"print_local_departments": [department]}),
            department,
            world[3],
        )
        run_print_jobs(local_world, add_letters(world, [DAVID]))
        batch = open_batch(world)
        assert (batch.route, batch.local) == ("lokal", True)

    def test_two_organisations_departments_of_one_name_get_a_batch_each(self, world):
        sessions, _settings, department, _ = world
        ours = add_letters(world, [DAVID, EVA])
        with sessions() as session, session.begin():
            session.add(sender_organisation(GRANNKOMMUN))
            neighbour_system = SendingSystem(id=str(uuid.uuid4()), name="Grannkommun",
                                             sender_numbers=[GRANNKOMMUN], created_at=NOW)  # fmt: skip
            session.add(neighbour_system)
            session.flush()
            theirs = []
            for recipient in (DAVID, EVA):
                letter = paper_letter(session, neighbour_system.id, recipient,
                                      department=department)  # fmt: skip
                letter.sender_number = GRANNKOMMUN
                theirs.append(letter.id)
        run_print_jobs(world, ours + theirs)
        with sessions() as session:
            batches = session.scalars(
                select(PrintBatch).where(PrintBatch.department == department)
            ).all()
            counts = {b.id: PrintRepository(session).letter_count(b) for b in batches}
            batch_of = {
                item.letter_id: item.batch_id
                for item in session.scalars(
                    select(PrintItem).where(PrintItem.batch_id.is_not(None))
                )
            }
        assert sorted((b.sender_number, counts[b.id], b.open_key) for b in batches) == [
            (EXEMPELKOMMUN, 2, f"{EXEMPELKOMMUN}|tryckeriet|{department}"),
            (GRANNKOMMUN, 2, f"{GRANNKOMMUN}|tryckeriet|{department}"),
        ]
        by_sender = {b.sender_number: b.id for b in batches}
        assert {batch_of[letter_id] for letter_id in ours} == {by_sender[EXEMPELKOMMUN]}
        assert {batch_of[letter_id] for letter_id in theirs} == {by_sender[GRANNKOMMUN]}


class TestClosingAndPrinting:
    def test_the_scheduled_close_closes_an_open_batch(self, world):
        run_print_jobs(world, add_letters(world, [DAVID]))
        batch = open_batch(world)
        close_job(
            ClaimedJob(1, PRINT_CLOSE, None, {"batch_id": batch.id}, 1, NOW),
            sessions=world[0],
            clock=lambda: NOW,
        )
        closed = open_batch(world)
        assert (closed.state, closed.close_reason, closed.open_key) == ("closed", "schedule", None)

    def test_an_empty_or_unknown_batch_cannot_be_closed(self, world):
        with world[0]() as session, pytest.raises(PrintBatchError, match="ingen utskriftsbatch"):
            close_on_command(session, "finns-inte", now=NOW)

    def test_marking_printed_records_events_once_and_ends_the_batch(self, world):
        ids = add_letters(world, [DAVID, DAVID])
        run_print_jobs(world, ids)
        batch_id = open_batch(world).id
        with world[0]() as session, session.begin(), pytest.raises(PrintBatchError, match="öppen"):
            mark_printed(session, batch_id, None, now=NOW, actor="test")
        with world[0]() as session, session.begin():
            close_on_command(session, batch_id, now=NOW)
        with world[0]() as session, session.begin():
            assert mark_printed(session, batch_id, [ids[0]], now=NOW, actor="test") == 1
        with world[0]() as session, session.begin():
            assert mark_printed(session, batch_id, None, now=NOW, actor="test") == 1
            assert mark_printed(session, batch_id, None, now=NOW, actor="test") == 0
        assert {letters_by_id(world, ids)[i][0] for i in ids} == {"printed"}
        assert open_batch(world).state == "printed"


class TestHandover:
    def close_a_batch(self, world, recipients):
        ids = add_letters(world, recipients)
        run_print_jobs(world, ids)
        batch_id = open_batch(world).id
        with world[0]() as session, session.begin():
            close_on_command(session, batch_id, now=NOW)
        return batch_id, ids

    def hand_over(self, world, batch_id):
        return handover_batch(
            batch_id, sessions=world[0], settings=world[1], clock=lambda: NOW, actor="test"
        )

    def test_the_batch_appears_whole_with_a_manifest_that_matches_the_files(self, world):
        batch_id, ids = self.close_a_batch(world, [DAVID, EVA, DAVID])
        outcome = self.hand_over(world, batch_id)
        drop = world[1].print_vendors[0].drop
        assert [p.name for p in drop.iterdir() if not p.name.startswith(".")] == [
            outcome.folder.name
        ]
        assert list((drop / WORK_FOLDER).iterdir()) == []
        manifest = json.loads((outcome.folder / MANIFEST_JSON).read_text(encoding="utf-8"))
        assert [row["letter_id"] for row in manifest["letters"]] == ids
        for row in manifest["letters"]:
            content = (outcome.folder / row["file"]).read_bytes()
            assert hashlib.sha256(content).hexdigest() == row["sha256"]
            assert len(PdfReader(outcome.folder / row["file"]).pages) == row["pages"]
        assert manifest["letters"][0]["name"] == "David Dahl"
        assert manifest["letters"][0]["address_lines"] == ["Dalvägen 3", "123 46 Exempelstad"]
        assert manifest["letters"][0]["department"] == world[2]
        assert manifest["letters"][1]["forwarding"] == "skatteverket"
        csv_rows = (outcome.folder / MANIFEST_CSV).read_text(encoding="utf-8-sig").splitlines()
        assert len(csv_rows) == 1 + len(ids)
        assert {letters_by_id(world, ids)[i][0] for i in ids} == {"handed_to_print"}
        assert open_batch(world).state == "handed_over"

    def test_a_protected_identity_goes_to_skatteverket_with_the_personnummer(self, world):
        batch_id, _ = self.close_a_batch(world, [EVA])
        outcome = self.hand_over(world, batch_id)
        manifest = json.loads((outcome.folder / MANIFEST_JSON).read_text(encoding="utf-8"))
        row = manifest["letters"][0]
        assert (row["name"], row["forwarding"]) == ("", "skatteverket")
        text = PdfReader(outcome.folder / row["file"]).pages[0].extract_text()
        assert "Personnummer 19851230-4166" in text
        assert "Box 2820" in text
        assert "403 20 Göteborg" in text

    def test_a_protected_persons_address_appears_nowhere(self, world, caplog):
        caplog.set_level(logging.DEBUG)
        address = {
            "name": "Eva Ek",
            "lines": [EVA_SECRET_ADDRESS],
            "postal_code": "123 99",
            "city": "Exempelstad",
            "country": None,
        }
        ids = add_letters(world, [EVA], postal_address=address)
        run_print_jobs(world, ids)
        batch_id = open_batch(world).id
        with world[0]() as session, session.begin():
            close_on_command(session, batch_id, now=NOW)
        outcome = self.hand_over(world, batch_id)
        for path in outcome.folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                text = (
                    "".join(page.extract_text() for page in PdfReader(path).pages)
                    if path.suffix == ".pdf"
                    else data.decode("utf-8-sig")
                )
                assert EVA_SECRET_ADDRESS not in text, path
                assert "Eva Ek" not in text, path
        assert EVA_SECRET_ADDRESS not in caplog.text

    def test_handing_over_again_changes_nothing(self, world):
        batch_id, ids = self.close_a_batch(world, [DAVID])
        first = self.hand_over(world, batch_id)
        before = {p: p.stat().st_mtime_ns for p in first.folder.rglob("*")}
        second = self.hand_over(world, batch_id)
        assert second.already_done
        assert second.folder == first.folder
        assert {p: p.stat().st_mtime_ns for p in first.folder.rglob("*")} == before
        with world[0]() as session:
            count = session.scalars(
                select(LetterEvent).where(
                    LetterEvent.letter_id == ids[0], LetterEvent.state == "handed_to_print"
                )
            ).all()
        assert len(count) == 1

    def test_a_folder_written_before_a_crash_is_recorded_without_being_rewritten(self, world):
        batch_id, ids = self.close_a_batch(world, [DAVID])
        first = self.hand_over(world, batch_id)
        before = {p: p.stat().st_mtime_ns for p in first.folder.rglob("*")}
        # As if the process died after the rename, before the database learnt of it.
        with world[0]() as session, session.begin():
            batch = session.get(PrintBatch, batch_id)
            batch.state = "closed"
            for event in session.scalars(
                select(LetterEvent).where(
                    LetterEvent.letter_id == ids[0], LetterEvent.state == "handed_to_print"
                )
            ):
                session.delete(event)
        again = self.hand_over(world, batch_id)
        assert not again.already_done
        assert again.folder == first.folder
        assert {p: p.stat().st_mtime_ns for p in first.folder.rglob("*")} == before
        assert open_batch(world).state == "handed_over"

    def test_a_merged_batch_is_one_pdf_with_page_ranges(self, world):
        sessions, settings, department, system_id = world
        merged = (
            sessions,
            settings.model_copy(
                update={
                    "print_vendors": [
                        PrintVendor(
                            name="tryckeriet", drop=settings.print_vendors[0].drop, merged=True
                        )
                    ]
                }
            ),
            department,
            system_id,
        )
        batch_id, _ = self.close_a_batch(merged, [DAVID, DAVID, EVA])
        outcome = self.hand_over(merged, batch_id)
        manifest = json.loads((outcome.folder / MANIFEST_JSON).read_text(encoding="utf-8"))
        assert {row["file"] for row in manifest["letters"]} == {"brev.pdf"}
        assert [row["first_page"] for row in manifest["letters"]] == [1, 2, 3]
        assert len(PdfReader(outcome.folder / "brev.pdf").pages) == 3


class TestPaperPartOfADigitalLetter:
    def test_paper_only_attachments_of_a_delivered_letter_are_printed_and_it_stays_delivered(
        self, world
    ):
        sessions, settings, department, system_id = world
        attachment = (
            LetterRenderer(Window(15, 44, 95, 26))
            .render(
                PrintLetter(
                    "x",
                    "Exempelkommun",
                    None,
                    NOW.date(),
                    NOW,
                    "Situationsplan",
                    "Karta",
                    ("David Dahl", "Dalvägen 3", "123 46 Exempelstad"),
                )
            )
            .pdf
        )
        with sessions() as session, session.begin():
            letter = paper_letter(session, system_id, DAVID, department=department)
            letter.state = "delivered"
            letter.channel = "digital"
            letter.body = None  # minimised after digital delivery
            session.add(
                LetterAttachment(
                    letter_id=letter.id,
                    position=0,
                    filename="karta.pdf",
                    content_type="application/pdf",
                    channel="paper",
                    size=len(attachment),
                    sha256="0" * 64,
                    content=attachment,
                )
            )
            session.execute(delete(Job).where(Job.letter_id == letter.id))
            job = enqueue(
                session, "print", now=NOW, letter_id=letter.id, payload={"part": "paper_part"}
            )
            session.flush()
            claimed = [ClaimedJob(job.id, "print", letter.id, job.payload, 1, NOW)]
            letter_id = letter.id
        address_jobs(
            claimed,
            sessions=sessions,
            source=REGISTER,
            settings=settings,
            clock=lambda: NOW,
            actor="test",
        )
        batch_id = open_batch(world).id
        with sessions() as session, session.begin():
            close_on_command(session, batch_id, now=NOW)
        outcome = handover_batch(
            batch_id, sessions=sessions, settings=settings, clock=lambda: NOW, actor="test"
        )

        state, _, _ = letters_by_id(world, [letter_id])[letter_id]
        assert state == "delivered"
        with sessions() as session:
            logged = [
                e.state
                for e in session.scalars(
                    select(LetterEvent)
                    .where(LetterEvent.letter_id == letter_id)
                    .order_by(LetterEvent.id)
                )
            ]
        assert logged[-2:] == ["batched", "handed_to_print"]
        manifest = json.loads((outcome.folder / MANIFEST_JSON).read_text(encoding="utf-8"))
        [row] = manifest["letters"]
        reader = PdfReader(outcome.folder / row["file"])
        assert row["pages"] == len(reader.pages) == 2
        assert "Bilagor till: Beslut om bygglov" in reader.pages[0].extract_text()
        assert "Situationsplan" in reader.pages[1].extract_text()


class TestCancel:
    def test_a_letter_in_a_print_batch_can_no_longer_be_cancelled(self, world):
        sessions, settings, _department, system_id = world
        [letter_id] = add_letters(world, [DAVID])
        run_print_jobs(world, [letter_id])
        with sessions() as session, session.begin():
            system = session.get(SendingSystem, system_id)
            with pytest.raises(LetterNotCancellableError, match="utskriftsbatch"):
                LetterService(session, settings).cancel(system, letter_id, actor="test")
        assert letters_by_id(world, [letter_id])[letter_id][0] == "batched"

    def test_a_letter_on_its_way_to_paper_can_still_be_cancelled(self, world):
        sessions, settings, _department, system_id = world
        [letter_id] = add_letters(world, [DAVID])
        with sessions() as session, session.begin():
            system = session.get(SendingSystem, system_id)
            LetterService(session, settings).cancel(system, letter_id, actor="test")
        run_print_jobs(world, [letter_id])
        assert letters_by_id(world, [letter_id])[letter_id][0] == "cancelled"
