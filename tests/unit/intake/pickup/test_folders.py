"""The local folder as a source's inbox: listing, renames that never overwrite, atomic writes,
free names in the subfolders, and refusals said in Swedish."""

import json
import os

import pytest

from utskick.intake.pickup.folders import (
    LocalFolder,
    PickupFolderError,
    PickupUnavailableError,
    free_name,
)
from utskick.intake.pickup.opening import open_folder
from utskick.intake.pickup.receipts import ReceiptWriter
from utskick.intake.sources import Source


@pytest.fixture
def folder(tmp_path):
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    return LocalFolder(inbox)


class TestLocalFolder:
    def test_only_regular_files_are_listed_with_size_and_time(self, folder):
        (folder.root / "b.pdf").write_bytes(b"12345")
        (folder.root / "a.csv").write_bytes(b"1")
        (folder.root / "fel").mkdir()
        (folder.root / "länk.pdf").symlink_to(folder.root / "b.pdf")
        os.utime(folder.root / "b.pdf", (1_700_000_000, 1_700_000_000))

        entries = folder.list_files()

        assert [(e.name, e.size) for e in entries] == [("a.csv", 1), ("b.pdf", 5)]
        assert entries[1].mtime == 1_700_000_000

    def test_a_missing_subfolder_lists_nothing_and_a_missing_inbox_says_so(self, folder):
        assert folder.list_files("behandlade") == []
        folder.root.rmdir()
        with pytest.raises(PickupUnavailableError, match="finns inte"):
            folder.list_files()

    def test_a_rename_never_overwrites(self, folder):
        folder.make_folder("fel")
        (folder.root / "a.pdf").write_text("ny")
        (folder.root / "fel" / "a.pdf").write_text("gammal")

        with pytest.raises(FileExistsError):
            folder.rename("a.pdf", "fel/a.pdf")

        assert (folder.root / "fel" / "a.pdf").read_text() == "gammal"
        assert (folder.root / "a.pdf").read_text() == "ny"

    def test_a_text_is_written_whole_and_over_an_older_one(self, folder):
        folder.write_text("a.fel.txt", "första")
        folder.write_text("a.fel.txt", "andra")

        assert folder.root.joinpath("a.fel.txt").read_text("utf-8") == "andra"
        assert sorted(p.name for p in folder.root.iterdir()) == ["a.fel.txt"]

    def test_a_folder_without_write_permission_is_refused_in_swedish(self, folder, monkeypatch):
        def denied(*_args, **_kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("pathlib.Path.mkdir", denied)

        with pytest.raises(PickupFolderError, match="får inte ändra i mappen") as refused:
            folder.make_folder("fel")

        assert not isinstance(refused.value, PickupUnavailableError)

    def test_open_folder_refuses_a_folder_that_is_not_there(self, tmp_path):
        source = Source(name="k", system="S", folder=tmp_path / "saknas")

        with (
            pytest.raises(PickupUnavailableError, match=r"mappen .*saknas finns inte"),
            open_folder(source),
        ):
            pass


class TestFreeName:
    def test_the_name_itself_when_it_is_free(self, folder):
        assert free_name(folder, "", "a.pdf", "20261207-100000") == "a.pdf"

    def test_a_stamp_then_a_number_when_it_is_taken(self, folder):
        (folder.root / "a.pdf").write_text("")
        assert free_name(folder, "", "a.pdf", "20261207-100000") == "a.20261207-100000.pdf"
        (folder.root / "a.20261207-100000.pdf").write_text("")
        assert free_name(folder, "", "a.pdf", "20261207-100000") == "a.20261207-100000-2.pdf"

    def test_its_companions_must_be_free_too(self, folder):
        (folder.root / "a.pdf.kvitto.json").write_text("")

        name = free_name(folder, "", "a.pdf", "s", lambda c: [c + ".kvitto.json"])

        assert name == "a.s.pdf"

    def test_a_name_without_an_ending(self, folder):
        (folder.root / "README").write_text("")
        assert free_name(folder, "", "README", "s") == "README.s"


class TestReceiptWriter:
    def test_the_receipt_is_json_with_the_header_letters_and_totals(self, tmp_path):
        path = tmp_path / "kvitto.json"
        with ReceiptWriter(path, {"file": "å.ndjson", "batch_id": "b"}) as writer:
            writer.add({"line": 1, "accepted": True})
            writer.add({"line": 2, "accepted": False, "reason": "fel på raden"})
            writer.close({"accepted": 1, "rejected": 1})

        assert json.loads(path.read_text("utf-8")) == {
            "file": "å.ndjson",
            "batch_id": "b",
            "letters": [
                {"line": 1, "accepted": True},
                {"line": 2, "accepted": False, "reason": "fel på raden"},
            ],
            "accepted": 1,
            "rejected": 1,
        }

    def test_a_receipt_of_no_letters_is_json_too(self, tmp_path):
        path = tmp_path / "kvitto.json"
        with ReceiptWriter(path, {"file": "a"}) as writer:
            writer.close({"accepted": 0})

        assert json.loads(path.read_text("utf-8")) == {"file": "a", "letters": [], "accepted": 0}
