"""`take_print_file` from a file to letters, on SQLite and PostgreSQL: split by a control file
(CSV and JSON) or by an anchor, one letter for the other rules; each letter's PDF only its
own pages; refused files leave nothing behind; a letter that cannot be read is rejected and
the others accepted; the same file taken again (also after a crash) gives back its letters
and creates none twice."""

import io
import json

import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from support.print_files import (
    RECIPIENTS,
    anchor_file,
    form_pdf,
    letter_pages,
    page_texts,
    pdf_of,
    with_metadata,
    xmp_packet,
)
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.intake.printfile import (
    PrintFileRefusedError,
    pages_pdf,
    print_file_key,
    system_for_source,
    take_print_file,
)
from utskick.intake.printfile import service as printfile_service
from utskick.intake.printfile.service import attachment_name
from utskick.letters.models import Batch, Letter
from utskick.letters.service import LetterService
from utskick.senders.systems import create_sending_system

pytestmark = pytest.mark.storage


@pytest.fixture
def take(sessions, settings, system, tmp_path):
    """Take a print file (bytes) with its control file (text) by the source given."""

    def run(source, pdf, *, name="utskrift.pdf", control=None, control_name="utskrift.csv"):
        path = tmp_path / name
        path.write_bytes(pdf)
        control_path = None
        if control is not None:
            control_path = tmp_path / control_name
            control_path.write_text(control, encoding="utf-8")
        return take_print_file(
            sessions=sessions,
            settings=settings,
            system=system,
            source=source,
            pdf=path,
            control=control_path,
            file_key=print_file_key(source, path, control_path),
            actor="test",
        )

    return run


def letters_of(sessions, receipt):
    ids = [letter.letter_id for letter in receipt.letters if letter.letter_id]
    with sessions() as session:
        found = {
            letter.id: letter
            for letter in session.scalars(select(Letter).where(Letter.id.in_(ids)))
        }
        for letter in found.values():
            _ = letter.attachments  # loaded before the session closes
        return [found[letter_id] for letter_id in ids]


def only_attachment(letter):
    [attachment] = letter.attachments
    return attachment


class TestAnchor:
    def test_every_letter_is_accepted_with_exactly_its_own_pages(
        self, take, source_for, sessions, stored
    ):
        pdf = anchor_file(RECIPIENTS, 2)

        receipt = take(source_for("anchor", paper_layout="address-in-window"), pdf)

        assert (receipt.accepted, receipt.rejected) == (4, 0)
        assert [
            (it.index, it.first_page, it.last_page, it.recipient) for it in receipt.letters
        ] == [
            (1, 1, 2, RECIPIENTS[0]),
            (2, 3, 4, RECIPIENTS[1]),
            (3, 5, 6, RECIPIENTS[2]),
            (4, 7, 8, RECIPIENTS[3]),
        ]
        texts = page_texts(pdf)
        for number, letter in enumerate(letters_of(sessions, receipt)):
            attachment = only_attachment(letter)
            assert (attachment.filename, attachment.channel) == ("brev.pdf", "both")
            assert page_texts(attachment.content) == texts[2 * number : 2 * number + 2]
            # Only the letter's pages: far less than the file.
            assert attachment.size < len(pdf) / 2
            assert letter.subject == "Faktura från Exempelkommun"
            assert (letter.message_type, letter.paper_layout) == ("beslut", "address-in-window")
            assert letter.batch_id == receipt.batch_id
            assert letter.sender_number == EXEMPELKOMMUN
        assert stored() == {"letters": 4, "attachments": 4, "batches": 1}
        with sessions() as session:
            batch = session.get(Batch, receipt.batch_id)
            assert (batch.accepted, batch.rejected, batch.completed_at is not None) == (4, 0, True)

    def test_a_letter_that_cannot_be_read_is_rejected_and_the_others_accepted(
        self, take, source_for, sessions, stored, tmp_path
    ):
        pdf = pdf_of(
            [
                *letter_pages(RECIPIENTS[0], 2),
                *letter_pages("19121212-1213", 2),
                ["Personnummer: 19121212-1212", "Personnummer: 19800423-2388"],
                *letter_pages(RECIPIENTS[3], 1),
            ]
        )

        receipt = take(source_for("anchor"), pdf)

        assert (receipt.accepted, receipt.rejected) == (2, 2)
        rejected = [letter for letter in receipt.letters if letter.letter_id is None]
        assert [(it.index, it.first_page, it.last_page) for it in rejected] == [
            (2, 3, 4),
            (3, 5, 5),
        ]
        assert "sidan 3: numret 19121212-1213" in rejected[0].problem
        assert "sidan 5 har två olika nummer" in rejected[1].problem
        assert stored() == {"letters": 2, "attachments": 2, "batches": 1}
        with sessions() as session:
            batch = session.get(Batch, receipt.batch_id)
            assert (batch.accepted, batch.rejected) == (2, 2)
            assert [row["line"] for row in batch.rejections] == [2, 3]
        # The rejected letter's pages can be put aside: nothing is lost.
        assert page_texts(pages_pdf(tmp_path / "utskrift.pdf", 3, 4)) == page_texts(pdf)[2:4]


class TestControlFile:
    CSV = (
        "Sidor;Personnummer;Ämne;Diarienummer;Tidigast\r\n"
        "1-3;19121212-1212;Beslut om bygglov;BN 2026/1;2026-12-24 06:00\r\n"
        "4;198004232388;Beslut om parkering;BN 2026/2;\r\n"
    )

    def test_a_csv_control_file_splits_the_file_and_gives_subjects_and_times(
        self, take, source_for, sessions
    ):
        pdf = pdf_of([*letter_pages("x", 3), *letter_pages("y", 1)])

        receipt = take(source_for("control-file", subject=None), pdf, control=self.CSV)

        first, second = letters_of(sessions, receipt)
        assert (first.subject, first.case_number, first.recipient_id) == (
            "Beslut om bygglov",
            "BN 2026/1",
            "191212121212",
        )
        assert first.not_before is not None
        assert (second.subject, second.not_before) == ("Beslut om parkering", None)
        assert page_texts(only_attachment(first).content) == page_texts(pdf)[:3]

    def test_a_json_control_file_does_the_same(self, take, source_for, sessions):
        control = json.dumps(
            {
                "letters": [
                    {"pages": "1-2", "recipient": "19121212-1212", "subject": "Svar"},
                    {"first_page": 3, "last_page": 4, "recipient": "198004232388"},
                ]
            }
        )

        receipt = take(
            source_for("control-file"),
            anchor_file(RECIPIENTS[:2], 2),
            control=control,
            control_name="utskrift.json",
        )

        assert [letter.subject for letter in letters_of(sessions, receipt)] == [
            "Svar",
            "Faktura från Exempelkommun",
        ]

    def test_a_control_file_that_does_not_fit_refuses_the_file_and_stores_nothing(
        self, take, source_for, stored
    ):
        control = "sidor;personnummer\n1-2;19121212-1212\n3-6;198004232388\n"

        with pytest.raises(PrintFileRefusedError) as refused:
            take(source_for("control-file"), anchor_file(RECIPIENTS[:2], 2), control=control)

        assert "sidorna 3–6 finns inte; utskriftsfilen utskrift.pdf har 4 sidor" in (
            refused.value.message
        )
        assert stored() == {"letters": 0, "attachments": 0, "batches": 0}

    def test_without_its_control_file_the_file_is_refused(self, take, source_for):
        with pytest.raises(PrintFileRefusedError) as refused:
            take(source_for("control-file"), anchor_file(RECIPIENTS[:1], 1))

        assert "ingen styrfil kom med utskrift.pdf" in refused.value.message


class TestOneLetterRules:
    def test_a_form_field_names_the_recipient_of_the_whole_file(self, take, source_for, sessions):
        pdf = form_pdf("personnummer", "19121212-1212")

        receipt = take(
            source_for("form-field", rule_fields={"field": "personnummer"}), pdf, name="beslut.pdf"
        )

        [letter] = letters_of(sessions, receipt)
        assert letter.recipient_id == "191212121212"
        # The whole file is the letter: its own bytes, under its own name.
        assert (only_attachment(letter).filename, only_attachment(letter).content) == (
            "beslut.pdf",
            pdf,
        )

    def test_metadata_names_the_recipient(self, take, source_for, sessions):
        pdf = with_metadata(pdf_of([["Beslut"]]), xmp=xmp_packet({"k:Mottagare": "198004232388"}))

        receipt = take(source_for("metadata", rule_fields={"field": "Mottagare"}), pdf)

        assert [letter.recipient_id for letter in letters_of(sessions, receipt)] == ["198004232388"]

    def test_the_file_name_names_the_recipient_and_is_left_out_of_the_attachments_name(
        self, take, source_for, sessions
    ):
        receipt = take(
            source_for("filename"), pdf_of([["Beslut"]]), name="19121212-1212_beslut.pdf"
        )

        [letter] = letters_of(sessions, receipt)
        assert (letter.recipient_id, only_attachment(letter).filename) == (
            "191212121212",
            "beslut.pdf",
        )

    def test_a_file_whose_recipient_cannot_be_read_is_rejected_and_no_batch_is_kept(
        self, take, source_for, stored
    ):
        receipt = take(
            source_for("form-field", rule_fields={"field": "personnummer"}), pdf_of([["Beslut"]])
        )

        assert receipt.batch_id is None
        assert (receipt.accepted, receipt.rejected) == (0, 1)
        assert 'inget formulärfält "personnummer"' in receipt.letters[0].problem
        assert stored() == {"letters": 0, "attachments": 0, "batches": 0}


def _encrypted(pdf):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt("hemligt", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


class TestRefusedFiles:
    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"hej", "utskriftsfilen utskrift.pdf är ingen PDF-fil"),
            (anchor_file(RECIPIENTS[:1], 1)[:400], "utskriftsfilen utskrift.pdf kan inte läsas"),
            (_encrypted(anchor_file(RECIPIENTS[:1], 1)), "är krypterad eller lösenordsskyddad"),
            (pdf_of([["Beslut utan mottagare"]]), 'ingen sida i utskriftsfilen utskrift.pdf har texten "Personnummer:"'),
        ],
        ids=["not-a-pdf", "damaged", "encrypted", "no-identity"],
    )  # fmt: skip
    def test_a_file_that_cannot_be_taken_is_refused_and_nothing_is_stored(
        self, take, source_for, stored, content, reason
    ):
        with pytest.raises(PrintFileRefusedError) as refused:
            take(source_for("anchor"), content)

        assert reason in refused.value.message
        assert stored() == {"letters": 0, "attachments": 0, "batches": 0}

    def test_no_subject_anywhere_refuses_the_file(self, take, source_for, stored):
        with pytest.raises(PrintFileRefusedError) as refused:
            take(source_for("anchor", subject=None), anchor_file(RECIPIENTS[:2], 1))

        assert refused.value.message.startswith(
            "2 brev i utskriften har ingen ämnesrad (det första: sidan 1), och källan "
            "ekonomisystem anger ingen"
        )
        assert stored()["letters"] == 0

    def test_no_message_type_anywhere_refuses_the_file(self, take, source_for):
        with pytest.raises(PrintFileRefusedError) as refused:
            take(source_for("anchor", message_type=None), anchor_file(RECIPIENTS[:1], 1))

        assert "har ingen meddelandetyp" in refused.value.message

    def test_a_system_with_two_senders_needs_the_source_to_name_one(
        self, sessions, settings, source_for, tmp_path
    ):
        with sessions() as session:
            system = create_sending_system(
                session, name="Två avsändare", sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN], now=NOW
            )
            session.commit()
            session.refresh(system)
        path = tmp_path / "utskrift.pdf"
        path.write_bytes(anchor_file(RECIPIENTS[:1], 1))

        with pytest.raises(PrintFileRefusedError) as refused:
            take_print_file(
                sessions=sessions, settings=settings, system=system, source=source_for(),
                pdf=path, control=None, file_key="k", actor="test",
            )  # fmt: skip

        assert "ange sender för källan" in refused.value.message


class TestTakenAgain:
    def test_the_same_file_again_gives_back_its_letters_and_creates_none(
        self, take, source_for, sessions, stored
    ):
        pdf = anchor_file(RECIPIENTS, 1)
        first = take(source_for(), pdf)

        again = take(source_for(), pdf)

        assert again.batch_id == first.batch_id
        assert [it.letter_id for it in again.letters] == [it.letter_id for it in first.letters]
        assert [it.created for it in first.letters] == [True] * 4
        assert [it.created for it in again.letters] == [False] * 4
        assert (again.accepted, again.replayed) == (4, 4)
        assert stored() == {"letters": 4, "attachments": 4, "batches": 1}
        with sessions() as session:
            assert session.get(Batch, first.batch_id).accepted == 4

    def test_after_a_crash_the_file_taken_again_stores_only_what_was_missing(
        self, take, source_for, stored, monkeypatch
    ):
        monkeypatch.setattr(printfile_service, "CHUNK_LETTERS", 2)
        real_accept_many = LetterService.accept_many
        calls = []

        def crash_on_the_second_chunk(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("Utskick stängdes av")
            return real_accept_many(self, *args, **kwargs)

        monkeypatch.setattr(LetterService, "accept_many", crash_on_the_second_chunk)
        pdf = anchor_file(RECIPIENTS, 1)
        with pytest.raises(RuntimeError):
            take(source_for(), pdf)
        assert stored()["letters"] == 2

        receipt = take(source_for(), pdf)

        assert [it.created for it in receipt.letters] == [False, False, True, True]
        assert stored() == {"letters": 4, "attachments": 4, "batches": 1}

    def test_a_letter_taken_before_with_other_content_is_rejected_not_sent_again(
        self, sessions, settings, system, source_for, tmp_path
    ):
        path = tmp_path / "utskrift.pdf"
        path.write_bytes(anchor_file(RECIPIENTS[:1], 1))
        options = {"sessions": sessions, "settings": settings, "system": system, "pdf": path,
                   "control": None, "file_key": "samma", "actor": "test"}  # fmt: skip
        take_print_file(source=source_for(subject="Faktura"), **options)

        receipt = take_print_file(source=source_for(subject="Påminnelse"), **options)

        assert receipt.letters[0].letter_id is None
        assert "togs emot förut ur samma utskriftsfil" in receipt.letters[0].problem


def test_the_letters_are_split_a_chunk_at_a_time(take, source_for, monkeypatch):
    monkeypatch.setattr(printfile_service, "CHUNK_LETTERS", 2)
    happened = []
    real_part, real_accept_many = printfile_service.part_pdf, LetterService.accept_many

    def part(*args):
        happened.append("split")
        return real_part(*args)

    def accept_many(self, system, letters, **kwargs):
        happened.append(f"accept {len(letters)}")
        return real_accept_many(self, system, letters, **kwargs)

    monkeypatch.setattr(printfile_service, "part_pdf", part)
    monkeypatch.setattr(LetterService, "accept_many", accept_many)

    take(source_for(), anchor_file([*RECIPIENTS, RECIPIENTS[0]], 1))

    assert happened == [
        "split",
        "split",
        "accept 2",
        "split",
        "split",
        "accept 2",
        "split",
        "accept 1",
    ]


def test_a_source_whose_system_does_not_exist_is_refused(sessions, source_for):
    with sessions() as session, pytest.raises(PrintFileRefusedError) as refused:
        system_for_source(session, source_for(system="Finns inte"))

    assert "hör till systemet 'Finns inte', som inte finns i Utskick" in refused.value.message


@pytest.mark.parametrize(
    ("name", "whole", "rule", "expected"),
    [
        ("fakturor.pdf", False, "anchor", "brev.pdf"),
        ("beslut om bygglov.pdf", True, "form-field", "beslut om bygglov.pdf"),
        ("19121212-1212_beslut.pdf", True, "filename", "beslut.pdf"),
        ("191212121212.pdf", True, "filename", "brev.pdf"),
        ("..pdf", True, "metadata", "brev.pdf"),
    ],
)
def test_the_attachments_name(name, whole, rule, expected):
    assert attachment_name(name, whole_file=whole, rule=rule) == expected
