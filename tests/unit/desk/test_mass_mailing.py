"""A mass mailing as it is kept: the stored table and state, who may see it, and its work lock."""

import datetime as dt
import io
import stat
import subprocess
import sys
import textwrap

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.desk.mass_mailing import (
    CHECKED,
    CHECKING,
    INTERRUPTED,
    LOCK_FILE,
    ROOT_FOLDER,
    SENDING,
    STATE_FILE,
    TABLE_FILE,
    MailingStore,
    Owner,
    shown_file_name,
)
from utskick.letters.tables.columns import ColumnMapping
from utskick.letters.tables.reading import TableRefusedError
from utskick.web.menu import NoScopeError
from utskick.web.users import WebUser

SOCIAL = "Socialtjänsten"
CSV = "Personnummer;Namn\n19121212-1212;Tolvan\n".encode("cp1252")
OWNER = Owner(EXEMPELKOMMUN, SOCIAL, "hans")


def user(role="officer", organisation=EXEMPELKOMMUN, department=SOCIAL, username="hans"):
    return WebUser(
        username=username,
        display_name=username,
        role=role,
        organisation_number=organisation,
        department=department,
    )


@pytest.fixture
def store(tmp_path):
    return MailingStore(tmp_path)


def folders(store):
    return sorted(path.name for path in store.root.iterdir()) if store.root.exists() else []


class TestCreate:
    def test_the_table_and_its_state_are_kept_for_the_owner_only(self, store):
        mailing = store.create(io.BytesIO(CSV), "C:\\Users\\hans\\mottagare.csv", OWNER, NOW)
        table = store.path(mailing.id, TABLE_FILE)
        assert table.read_bytes() == CSV
        for path in (table, store.path(mailing.id, STATE_FILE)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(table.parent.stat().st_mode) == 0o700
        assert table.parent.parent.name == ROOT_FOLDER
        assert mailing.file_name == "mottagare.csv"
        assert mailing.columns == ["Personnummer", "Namn"]
        assert mailing.file_format == "csv"
        assert (mailing.organisation_number, mailing.department) == (EXEMPELKOMMUN, SOCIAL)

    def test_the_state_reads_back_as_it_was_saved(self, store):
        mailing = store.create(io.BytesIO(CSV), "mottagare.csv", OWNER, NOW)
        mailing.mapping = ColumnMapping(
            recipient="Personnummer", name="Namn", address_lines=("Adress",)
        )
        mailing.subject_template, mailing.body_template = "Beslut {Namn}", "Hej {Namn}!"
        mailing.status, mailing.message_type, mailing.case_number = CHECKED, "beslut", "SOC 1"
        mailing.precheck.digital, mailing.precheck.first_problems = 3, [{"row": 4}]
        mailing.sending.accepted = 2
        store.save(mailing)
        assert store.load(mailing.id) == mailing

    def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(self, store):
        with pytest.raises(TableRefusedError) as refused:
            store.create(io.BytesIO(CSV * 100), "stor.csv", OWNER, NOW, max_bytes=len(CSV) * 10)
        assert "dela upp mottagarna i flera filer" in refused.value.message
        assert folders(store) == []

    def test_a_file_that_is_no_table_is_refused_and_nothing_is_kept(self, store):
        with pytest.raises(TableRefusedError) as refused:
            store.create(io.BytesIO(b"%PDF-1.7\n..."), "beslut.pdf", OWNER, NOW)
        assert refused.value.message.startswith("Filen är en PDF")
        assert folders(store) == []

    def test_an_xlsx_workbook_is_kept_as_one(self, store):
        openpyxl = pytest.importorskip("openpyxl")
        workbook = openpyxl.Workbook()
        workbook.active.append(["Personnummer", "Namn"])
        workbook.active.append(["19121212-1212", "Tolvan"])
        data = io.BytesIO()
        workbook.save(data)
        data.seek(0)
        assert store.create(data, "lista.xlsx", OWNER, NOW).file_format == "xlsx"


class TestShownFileName:
    @pytest.mark.parametrize(
        ("given", "shown"),
        [
            ("mottagare.csv", "mottagare.csv"),
            ("/home/hans/lista.xlsx", "lista.xlsx"),
            ("C:\\Lista\\januari.csv", "januari.csv"),
            ("lista\x00\x1b.csv", "lista.csv"),
            ("", "mottagare"),
            (None, "mottagare"),
        ],
    )
    def test_only_the_base_name_without_control_characters(self, given, shown):
        assert shown_file_name(given) == shown


class TestWhoSeesIt:
    @pytest.fixture
    def mailing(self, store):
        return store.create(io.BytesIO(CSV), "mottagare.csv", OWNER, NOW)

    def test_officers_of_the_same_department_see_it(self, store, mailing):
        assert store.visible(user(username="karin"), mailing.id) == mailing
        assert store.visible(user(role="department_admin"), mailing.id) == mailing

    @pytest.mark.parametrize(
        "other",
        [
            user(department="Samhällsbyggnad"),
            user(organisation=GRANNKOMMUN),
            user(department=None),
            user(role="admin", organisation=None, department=None),
        ],
        ids=["other department", "other organisation", "no department", "administrator"],
    )
    def test_nobody_else_does(self, store, mailing, other):
        assert store.visible(other, mailing.id) is None

    def test_a_person_without_organisation_is_refused(self, store, mailing):
        with pytest.raises(NoScopeError):
            store.visible(user(organisation=None), mailing.id)
        with pytest.raises(NoScopeError):
            Owner.of(user(organisation=None))

    @pytest.mark.parametrize("mailing_id", ["../../etc", "", "not-a-uuid", "x" * 36])
    def test_an_id_that_is_no_mailing_id_is_never_a_path(self, store, mailing_id):
        assert store.load(mailing_id) is None

    def test_the_department_list_is_its_own_newest_first(self, store):
        first = store.create(io.BytesIO(CSV), "första.csv", OWNER, NOW)
        later = store.create(io.BytesIO(CSV), "andra.csv", OWNER, NOW + dt.timedelta(minutes=1))
        store.create(io.BytesIO(CSV), "bygg.csv", Owner(EXEMPELKOMMUN, "Bygg", "b"), NOW)
        store.create(io.BytesIO(CSV), "granne.csv", Owner(GRANNKOMMUN, SOCIAL, "g"), NOW)
        listed = store.of_department(EXEMPELKOMMUN, SOCIAL)
        assert [mailing.id for mailing in listed] == [later.id, first.id]


class TestWorkLock:
    @pytest.fixture
    def mailing(self, store):
        return store.create(io.BytesIO(CSV), "mottagare.csv", OWNER, NOW)

    def test_only_one_holder_at_a_time(self, store, mailing):
        lock = store.take_lock(mailing.id)
        assert lock is not None
        assert store.take_lock(mailing.id) is None
        assert store.working(mailing.id)
        lock.release()
        lock.release()  # a second release does nothing
        assert not store.working(mailing.id)
        assert store.take_lock(mailing.id) is not None

    def test_work_that_nobody_does_is_shown_as_interrupted(self, store, mailing):
        mailing.status = SENDING
        store.save(mailing)
        assert store.shown_status(mailing) == INTERRUPTED
        lock = store.take_lock(mailing.id)
        assert store.shown_status(mailing) == SENDING
        lock.release()
        mailing.status = CHECKED
        assert store.shown_status(mailing) == CHECKED

    def test_work_that_ended_after_the_mailing_was_read_is_shown_as_ended(self, store, mailing):
        # The page read the mailing while its precheck ran; the precheck then saved its last
        # state and gave up the lock before the page looked at the lock.
        mailing.status = CHECKING
        store.save(mailing)
        read_by_the_page = store.load(mailing.id)
        mailing.status = CHECKED
        store.save(mailing)

        current, shown = store.shown(read_by_the_page)

        assert shown == CHECKED
        assert current.status == CHECKED
        assert store.shown_status(read_by_the_page) == CHECKED

    def test_the_lock_goes_with_a_process_that_dies(self, store, mailing):
        # A web process killed while it sends: its thread's lock is gone with it.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import fcntl, os, sys, time
                    fd = os.open({str(store.path(mailing.id, LOCK_FILE))!r}, os.O_RDWR | os.O_CREAT, 0o600)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    print("holding", flush=True)
                    time.sleep(60)
                    """
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "holding"
            assert store.working(mailing.id)
            holder.kill()
            holder.wait(timeout=10)
            assert not store.working(mailing.id)
        finally:
            holder.kill()
            holder.wait(timeout=10)
            holder.stdout.close()

    def test_the_lock_file_is_the_owners_only(self, store, mailing):
        store.take_lock(mailing.id).release()
        mode = store.path(mailing.id, LOCK_FILE).stat().st_mode
        assert stat.S_IMODE(mode) & 0o077 == 0


class TestRemove:
    def test_the_files_go_and_the_mailing_is_gone(self, store):
        mailing = store.create(io.BytesIO(CSV), "mottagare.csv", OWNER, NOW)
        lock = store.take_lock(mailing.id)
        store.remove(mailing.id, lock)
        assert store.load(mailing.id) is None
        assert folders(store) == []
        assert store.of_department(EXEMPELKOMMUN, SOCIAL) == []
