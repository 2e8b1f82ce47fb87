"""Odd files in a watched folder, as a careless or hostile writer leaves them: a name that is
not UTF-8, one too long for its receipt, one with a line break; a file swapped for a link or a
FIFO between the listing and the taking; the outcome file opened in Excel. None of them may
block the source's other files, be followed outside the folder, or run as a formula. What
does not depend on the database runs on SQLite."""

from __future__ import annotations

import csv
import os
import threading
import unicodedata

import pytest

from integration.pickup.test_sftp_pickup import _source, remote, server  # noqa: F401 (fixtures)
from support.print_files import RECIPIENTS, anchor_file
from utskick.intake.pickup import folders
from utskick.intake.pickup.context import REFUSED, TAKEN
from utskick.intake.pickup.folders import PickupFolderError
from utskick.intake.pickup.receipts import write_outcomes
from utskick.intake.pickup.repository import LetterOutcome
from utskick.intake.sources import RecipientRule

POLL_SECONDS = 10


def _raw_names(path):
    """The names in a folder as the file system holds them (bytes, whatever their encoding)."""
    return sorted(os.fsencode(entry.name) for entry in path.iterdir())


def _drop_raw(folder, name, content):
    """A file whose name is bytes that need not be UTF-8 (Python carries them as surrogates)."""
    (folder / os.fsdecode(name)).write_bytes(content.encode())


class TestNames:
    def test_a_name_that_is_not_utf8_goes_to_fel_and_the_others_are_taken(self, sqlite_world):
        world = sqlite_world
        _drop_raw(world.inbox, b"faktura\xe9.ndjson", world.ndjson(1))
        world.drop("andra.ndjson", world.ndjson(1, first=5))

        report = world.poll()

        results = sorted((outcome.name, outcome.result) for outcome in report.files)
        assert results == [("andra.ndjson", TAKEN), ("faktura_.ndjson", REFUSED)]
        assert world.letter_count() == 1
        assert _raw_names(world.inbox / "fel") == [b"faktura_.ndjson", b"faktura_.ndjson.fel.txt"]
        reason = world.reason("faktura_.ndjson")
        assert "inte skrivet i UTF-8" in reason
        assert "byt namn" in reason

    def test_a_name_too_long_for_its_receipt_goes_to_fel_shortened(self, sqlite_world):
        world = sqlite_world
        long_name = "å" * 110 + ".ndjson"  # 227 bytes: its receipt's name would not fit
        world.drop(long_name, world.ndjson(1))
        world.drop("andra.ndjson", world.ndjson(1, first=5))

        report = world.poll()
        again = world.poll()

        assert sorted(outcome.result for outcome in report.files) == [REFUSED, TAKEN]
        assert again.files == []
        assert world.letter_count() == 1  # nothing of the long-named file was stored
        assert world.files() == []
        assert world.files("pågående") == []
        [kept, reason] = world.files("fel")
        assert kept.endswith(".ndjson")
        assert reason == kept + ".fel.txt"
        assert len(reason.encode()) <= 255
        assert "för långt" in world.reason(kept)

    def test_a_file_stuck_in_pagaende_with_a_bad_name_no_longer_blocks_the_source(
        self, sqlite_world
    ):
        world = sqlite_world
        (world.inbox / "pågående").mkdir()
        _drop_raw(world.inbox / "pågående", b"gammal\xff.ndjson", world.ndjson(1))
        world.drop("ny.ndjson", world.ndjson(1, first=5))

        report = world.poll()

        assert sorted((o.name, o.result) for o in report.files) == [
            ("gammal_.ndjson", REFUSED),
            ("ny.ndjson", TAKEN),
        ]
        assert _raw_names(world.inbox / "pågående") == []

    def test_a_name_with_a_line_break_is_refused_so_that_logs_and_reasons_stay_whole(
        self, sqlite_world
    ):
        world = sqlite_world
        world.drop("faktura\nBcc.ndjson", world.ndjson(1))

        [outcome] = world.poll().files

        assert (outcome.name, outcome.result) == ("faktura_Bcc.ndjson", REFUSED)
        assert world.letter_count() == 0
        assert "kontrolltecken" in world.reason("faktura_Bcc.ndjson")

    def test_ordinary_swedish_names_of_any_reasonable_length_are_taken(self, sqlite_world):
        world = sqlite_world
        name = "Årsavgift för särskilt boende " + "ö" * 60 + ".ndjson"  # 190 bytes
        world.drop(name, world.ndjson(1))

        [outcome] = world.poll().files

        assert (outcome.name, outcome.result) == (name, TAKEN)
        assert world.files("behandlade") == [name, name + ".kvitto.json"]

    def test_a_print_file_and_its_control_file_pair_across_unicode_normalisations(
        self, sqlite_world
    ):
        # macOS writes `å` decomposed (NFD); the business system's control file has it composed.
        world = sqlite_world
        pdf = unicodedata.normalize("NFD", "Beslut_Håbo.pdf")
        control = unicodedata.normalize("NFC", "Beslut_Håbo.csv")
        world.drop(pdf, anchor_file(RECIPIENTS[:1], 1))
        world.drop(control, "Sidor;Personnummer;Ämne\r\n1;19121212-1212;Beslut\r\n")
        source = world.source(recipient=RecipientRule(rule="control-file"), message_type="beslut")

        report = world.poll(source)

        assert [(o.name, o.result, o.accepted) for o in report.files] == [(pdf, TAKEN, 1)]
        assert report.waiting == []
        assert world.files() == []
        assert sorted(unicodedata.normalize("NFC", n) for n in world.files("behandlade")) == [
            control,
            unicodedata.normalize("NFC", pdf),
            unicodedata.normalize("NFC", pdf + ".kvitto.json"),
        ]


class TestWhatIsNoFileToTake:
    def test_links_fifos_and_folders_in_the_inbox_are_left_alone_and_block_nothing(
        self, sqlite_world, tmp_path
    ):
        world = sqlite_world
        secret = tmp_path / "hemligt.ndjson"
        secret.write_text(world.ndjson(1), encoding="utf-8")
        (world.inbox / "länk.ndjson").symlink_to(secret)
        os.mkfifo(world.inbox / "rör.ndjson")
        (world.inbox / "mapp.pdf").mkdir()
        world.drop("brev.ndjson", world.ndjson(1, first=3))

        report = world.poll()

        assert [(o.name, o.result) for o in report.files] == [("brev.ndjson", TAKEN)]
        assert report.waiting == []
        assert world.letter_count() == 1
        assert sorted(p.name for p in world.inbox.iterdir()) == [
            "behandlade", "fel", "länk.ndjson", "mapp.pdf", "pågående", "rör.ndjson",
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("name", "reason"),
        [
            ("tom.pdf", "är ingen PDF-fil"),
            ("tom.ndjson", "är tom"),
            ("tom.csv", "Filen är tom"),
            ("tom.xlsx", "Filen är tom"),
        ],
    )
    def test_an_empty_file_is_refused_with_the_reason(self, sqlite_world, name, reason):
        world = sqlite_world
        world.drop(name, b"")

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        assert reason in world.reason(name)


class TestSubfolders:
    @pytest.mark.parametrize("subfolder", folders.SUBFOLDERS)
    def test_a_subfolder_that_is_a_link_elsewhere_is_never_written_through(
        self, sqlite_world, tmp_path, subfolder
    ):
        # The writer links fel/ to the home of the user Utskick runs as: nothing may land there.
        world = sqlite_world
        elsewhere = tmp_path / "utskicks-hem"
        elsewhere.mkdir(mode=0o700)
        (world.inbox / subfolder).symlink_to(elsewhere)
        world.drop("authorized_keys", "ssh-ed25519 AAAA angripare\n")
        world.drop("brev.ndjson", world.ndjson(1))

        with pytest.raises(PickupFolderError) as refused:
            world.poll()

        assert f"{subfolder}/" in refused.value.message
        assert "ingen mapp" in refused.value.message
        assert list(elsewhere.iterdir()) == []
        assert elsewhere.stat().st_mode & 0o777 == 0o700
        assert world.letter_count() == 0

    def test_a_link_planted_where_a_reason_is_written_first_is_never_written_through(
        self, sqlite_world, tmp_path
    ):
        # The reason goes to `fel/<name>.fel.txt.tmp` first; the writer can guess that name.
        world = sqlite_world
        victim = tmp_path / "utskick.db"
        victim.write_text("databasen", encoding="utf-8")
        (world.inbox / "fel").mkdir()
        (world.inbox / "fel" / "brev.docx.fel.txt.tmp").symlink_to(victim)
        world.drop("brev.docx", "inget brev")

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        assert victim.read_text(encoding="utf-8") == "databasen"
        assert "filtypen .docx" in world.reason("brev.docx")
        assert not (world.inbox / "fel" / "brev.docx.fel.txt").is_symlink()

    def test_a_file_in_the_place_of_a_subfolder_is_said_in_swedish(self, sqlite_world):
        world = sqlite_world
        world.drop("fel", "inte en mapp")

        with pytest.raises(PickupFolderError) as refused:
            world.poll()

        assert "fel/" in refused.value.message


class TestSubfoldersOnAnSftpServer:
    def test_a_subfolder_that_is_a_link_on_the_server_is_never_written_through(
        self,
        remote,  # noqa: F811 (the SFTP tests' fixture)
    ):
        elsewhere = remote.inbox.parent / "utskicks-hem"
        elsewhere.mkdir()
        (remote.inbox / "fel").symlink_to(elsewhere)
        remote.drop("authorized_keys", "ssh-ed25519 AAAA angripare\n")

        with pytest.raises(PickupFolderError) as refused:
            remote.poll(_source(remote))

        assert "fel/" in refused.value.message
        assert list(elsewhere.iterdir()) == []

    @pytest.mark.parametrize(
        ("drop", "planted"),
        [
            ("brev.docx", "fel/brev.docx.fel.txt.tmp"),  # a reason, written whole
            ("brev.ndjson", "pågående/brev.ndjson.kvitto.json.tmp"),  # a receipt, uploaded
        ],
        ids=["reason", "receipt"],
    )
    def test_a_link_planted_where_utskick_writes_first_is_never_written_through(
        self,
        remote,  # noqa: F811 (the SFTP tests' fixture)
        drop,
        planted,
    ):
        victim = remote.inbox.parent / "authorized_keys"
        victim.write_text("ssh-ed25519 AAAA utskick\n", encoding="utf-8")
        for subfolder in folders.SUBFOLDERS:
            (remote.inbox / subfolder).mkdir()
        (remote.inbox / planted).symlink_to(victim)
        remote.drop(drop, remote.ndjson(1))

        [outcome] = remote.poll(_source(remote)).files

        assert outcome.result in (REFUSED, TAKEN)
        assert victim.read_text(encoding="utf-8") == "ssh-ed25519 AAAA utskick\n"


class TestNamesOnAnSftpServer:
    def test_a_name_that_is_not_utf8_is_said_in_swedish_and_nothing_is_touched(
        self,
        remote,  # noqa: F811 (the SFTP tests' fixture)
    ):
        _drop_raw(remote.inbox, b"faktura\xe9.ndjson", remote.ndjson(1))

        with pytest.raises(PickupFolderError) as refused:
            remote.poll(_source(remote))

        assert "inte skrivet i UTF-8" in refused.value.message
        assert "byt namn" in refused.value.message
        assert _raw_names(remote.inbox) == sorted([b"faktura\xe9.ndjson", *_subfolders()])
        assert remote.letter_count() == 0


def _subfolders():
    return sorted(name.encode() for name in folders.SUBFOLDERS)


def _swap_after_listing(monkeypatch, world, name, replace):
    """Replace `name` in the inbox by something else right after the inbox is listed."""
    listed = folders.LocalFolder.list_files

    def listing_then_swap(self, folder=folders.INBOX):
        found = listed(self, folder)
        path = world.inbox / name
        if folder == folders.INBOX and path.is_file() and not path.is_symlink():
            path.unlink()
            replace(path)
        return found

    monkeypatch.setattr(folders.LocalFolder, "list_files", listing_then_swap)


class TestSwappedFiles:
    def test_a_file_swapped_for_a_link_is_never_followed(self, sqlite_world, monkeypatch, tmp_path):
        world = sqlite_world
        secret = tmp_path / "annan-källas-brev.ndjson"
        secret.write_text(world.ndjson(2), encoding="utf-8")
        world.drop("brev.ndjson", world.ndjson(1, first=7))
        _swap_after_listing(monkeypatch, world, "brev.ndjson", lambda p: p.symlink_to(secret))

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        assert world.letter_count() == 0
        assert (world.inbox / "fel" / "brev.ndjson").is_symlink()
        assert "ingen vanlig fil" in world.reason("brev.ndjson")
        assert secret.read_text(encoding="utf-8") == world.ndjson(2)

    def test_a_file_swapped_for_a_fifo_does_not_block_the_poll(self, sqlite_world, monkeypatch):
        world = sqlite_world
        world.drop("brev.ndjson", world.ndjson(1))
        world.drop("sedan.ndjson", world.ndjson(1, first=3))
        _swap_after_listing(monkeypatch, world, "brev.ndjson", os.mkfifo)
        done: dict[str, object] = {}

        def poll():
            done["report"] = world.poll()

        worker = threading.Thread(target=poll, daemon=True)
        worker.start()
        worker.join(POLL_SECONDS)
        if worker.is_alive():  # let the blocked poll end before the test's folder goes
            descriptor = os.open(
                world.inbox / "pågående" / "brev.ndjson", os.O_WRONLY | os.O_NONBLOCK
            )
            os.close(descriptor)
            worker.join(POLL_SECONDS)
            pytest.fail("the poll blocked on a FIFO")

        report = done["report"]
        assert sorted((o.name, o.result) for o in report.files) == [
            ("brev.ndjson", REFUSED),
            ("sedan.ndjson", TAKEN),
        ]


def _rows(path):
    """The CSV's rows as a spreadsheet reads them (line breaks inside cells kept as written)."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream, delimiter=";"))


class TestOutcomeFile:
    @pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
    def test_a_cell_that_would_start_a_formula_is_shown_as_text(self, tmp_path, start):
        path = tmp_path / "utfall.csv"
        hostile = f'{start}HYPERLINK("https://example.org";"klicka")'
        write_outcomes(path, [LetterOutcome("brev-1", hostile, "delivered", "digital", hostile)])

        [header, row] = _rows(path)

        assert header == ["brev_id", "mottagare", "utfall", "kanal", "skäl"]
        assert row[1] == row[4] == "'" + hostile
        assert row[0] == "brev-1"

    def test_separators_and_line_breaks_stay_inside_their_cell(self, tmp_path):
        path = tmp_path / "utfall.csv"
        reason = 'skäl; med "citat"\noch en ny rad'
        write_outcomes(path, [LetterOutcome("brev-1", "191212121212", "failed", None, reason)])

        rows = _rows(path)

        assert rows[1] == ["brev-1", "19121212-1212", rows[1][2], "inte vald än", reason]
