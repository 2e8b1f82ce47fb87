"""Archive export: E-ARK SIP packages that an independent validator accepts, and what they hold.

Letters end and become records under the demo's rules (`ended_letters`); `export_archive`
then commits package by package inside a transaction the test rolls back. Every package is
checked by eark-validator 1.1.3 (a venv of its own, `support.eark`), and the tests show it
refusing a package changed after the export, so a passing validation means something.
Run on SQLite and PostgreSQL.
"""

import dataclasses
import datetime as dt
import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import select

from functional.records.ended_letters import (
    at,
    ended_letter,
    make_records,
    prepare_world,
    savepoint_sessions,
)
from support.eark import validate_packages
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.letters import events, vocabulary
from utskick.letters.address_screen import ProtectionUnknownError
from utskick.letters.models import Letter
from utskick.records.archive import ArchiveError, export_archive
from utskick.records.models import LetterRecord
from utskick.web.access_log import EXPORT, AccessLogEntry

pytestmark = pytest.mark.storage

METS = "{http://www.loc.gov/METS/}"
XLINK = "{http://www.w3.org/1999/xlink}"
PREMIS = "{http://www.loc.gov/premis/v3}"
ARKIV = "{urn:utskick:arkiv:1}"
SCHEMAS = Path(__file__).parents[3] / "src" / "utskick" / "records" / "schema"
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
EXPORTED_AT = dt.datetime(2026, 4, 2, 7, 0, tzinfo=dt.UTC)


@dataclasses.dataclass
class World:
    sessions: object
    march: list  # ids of the letters that ended in March and are records
    protected: str
    minimised: str
    not_a_record: str
    outside: list


@pytest.fixture
def world(migrated_engine):
    with savepoint_sessions(migrated_engine) as (sessions, _connection):
        with sessions.begin() as session:
            systems = prepare_world(session)
            march = [
                ended_letter(session, systems.desk, message_type="beslut", ended_at=at(day))
                for day in ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05")
            ]
            with_two = ended_letter(
                session, systems.desk, message_type="kallelse", ended_at=at("2026-03-06"),
                attachments=2, case_number="SN 2026/77",
            )  # fmt: skip
            paper = ended_letter(
                session, systems.desk, message_type="beslut", ended_at=at("2026-03-07"), paper=True
            )
            protected = ended_letter(
                session, systems.desk, message_type="beslut", ended_at=at("2026-03-08")
            )
            events.record(session, protected, protected.state, current=False, actor="test",
                          now=at("2026-03-08", 10), reason=vocabulary.PROTECTED_IDENTITY)  # fmt: skip
            minimised = ended_letter(
                session, systems.archiving, message_type="faktura", ended_at=at("2026-03-09")
            )
            notice = ended_letter(session, systems.desk, message_type="information",
                                  ended_at=at("2026-03-10"))  # fmt: skip
            # 23:30 UTC on 31 March is 1 April in Stockholm: outside March.
            late = ended_letter(session, systems.desk, message_type="beslut",
                                ended_at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC))  # fmt: skip
            other = ended_letter(session, systems.desk, message_type="beslut",
                                 sender=GRANNKOMMUN, ended_at=at("2026-03-11"))  # fmt: skip
            letters = [*march, with_two, paper, protected, minimised, notice, late, other]
            make_records(session, letters)
        yield World(
            sessions=sessions,
            march=[letter.id for letter in (*march, with_two, paper, protected, minimised)],
            protected=protected.id,
            minimised=minimised.id,
            not_a_record=notice.id,
            outside=[late.id, other.id],
        )


def export(world, target, **options):
    values = {
        "organisation_number": EXEMPELKOMMUN,
        "period_from": MARCH[0],
        "period_to": MARCH[1],
        "target": target,
        "clock": lambda: EXPORTED_AT,
        "actor": "arkivarie",
        "letters_per_package": 4,
    }
    values.update(options)
    return export_archive(world.sessions, **values)


def data_files(package: Path) -> dict[str, tuple[int, str]]:
    """(size, SHA-256) of every file the representation's METS lists, by path in the package."""
    mets = etree.parse(str(package / "representations" / "rep1" / "METS.xml"))
    listed = {}
    for file in mets.iter(f"{METS}file"):
        href = file.find(f"{METS}FLocat").get(f"{XLINK}href")
        listed[f"representations/rep1/{href}"] = (int(file.get("SIZE")), file.get("CHECKSUM"))
    return listed


class TestPackages:
    def test_every_package_is_valid_for_the_independent_validator(self, world, tmp_path):
        result = export(world, tmp_path)
        assert [package.letters for package in result.packages] == [4, 4]
        verdicts = validate_packages([package.path for package in result.packages])
        for verdict in verdicts:
            assert verdict["errors"] == [], verdict
            assert verdict["valid"], verdict
            assert verdict["structure"] == "WellFormed"

    def test_the_packages_hold_the_periods_records_and_nothing_else(self, world, tmp_path):
        result = export(world, tmp_path)
        exported = []
        for package in result.packages:
            records = etree.parse(str(package.path / "metadata/descriptive/arkiv.xml"))
            exported += [letter.get("id") for letter in records.iter(f"{ARKIV}letter")]
        assert sorted(exported) == sorted(world.march)
        assert world.not_a_record not in exported
        assert not set(world.outside) & set(exported)
        assert result.letters == 8

    def test_the_root_mets_names_the_package_and_its_profile(self, world, tmp_path):
        package = export(world, tmp_path).packages[0].path
        root = etree.parse(str(package / "METS.xml")).getroot()
        assert root.get("OBJID") == package.name
        assert root.get("PROFILE") == "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
        assert root.get("TYPE") == "Textual works – Digital"
        header = root.find(f"{METS}metsHdr")
        assert header.get("{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE") == "SIP"
        labels = [div.get("LABEL") for div in root.iter(f"{METS}div")]
        for label in (
            "Metadata",
            "Documentation",
            "Schemas",
            "Representations",
            "Representations/rep1",
        ):
            assert label in labels

    def test_the_descriptive_records_file_follows_its_schema(self, world, tmp_path):
        schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "arkiv.xsd")))
        for package in export(world, tmp_path).packages:
            document = etree.parse(str(package.path / "metadata/descriptive/arkiv.xml"))
            assert schema.validate(document), schema.error_log
            assert (package.path / "schemas" / "arkiv.xsd").read_bytes() == (
                SCHEMAS / "arkiv.xsd"
            ).read_bytes()


class TestFixity:
    def test_every_data_file_matches_its_size_and_sha256_in_mets_and_premis(self, world, tmp_path):
        for package in export(world, tmp_path).packages:
            listed = data_files(package.path)
            premis = etree.parse(str(package.path / "metadata/preservation/premis.xml"))
            fixity = {
                obj.findtext(
                    f"{PREMIS}objectIdentifier/{PREMIS}objectIdentifierValue"
                ): obj.findtext(f".//{PREMIS}messageDigest")
                for obj in premis.iter(f"{PREMIS}object")
            }
            assert listed
            for path, (size, checksum) in listed.items():
                content = (package.path / path).read_bytes()
                assert len(content) == size, path
                assert hashlib.sha256(content).hexdigest() == checksum == fixity[path], path

    def test_original_attachments_are_kept_as_they_were_sent(self, world, tmp_path):
        result = export(world, tmp_path)
        attachments = [
            path
            for package in result.packages
            for path in (package.path / "representations/rep1/data").glob("*/bilagor/*")
        ]
        # Eight letters of one attachment each, one of them with two; the minimised letter's
        # digital attachment went at delivery, so it is listed but not in the package.
        assert len(attachments) == 8
        assert {path.name for path in attachments} >= {"1-bilaga-1.pdf", "2-bilaga-2.pdf"}


class TestRecordPdfs:
    def pdf_text(self, tmp_path, world, letter_id):
        result = export(world, tmp_path)
        for package in result.packages:
            path = package.path / "representations/rep1/data" / letter_id / "brev.pdf"
            if path.exists():
                reader = PdfReader(io.BytesIO(path.read_bytes()))
                return "\n".join(page.extract_text() for page in reader.pages)
        raise AssertionError(f"no record PDF for {letter_id}")

    def test_a_protected_recipient_is_masked_in_the_pdf_and_the_records_file(self, world, tmp_path):
        text = self.pdf_text(tmp_path, world, world.protected)
        assert "skyddad identitet" in text
        assert "19121212-1212" not in text
        for package in tmp_path.iterdir():
            records = package / "metadata/descriptive/arkiv.xml"
            if records.exists() and world.protected in records.read_text():
                tree = etree.parse(str(records))
                letter = next(
                    x for x in tree.iter(f"{ARKIV}letter") if x.get("id") == world.protected
                )
                recipient = letter.find(f"{ARKIV}recipient")
                assert recipient.get("protectedIdentity") == "true"
                assert not recipient.text

    def test_a_minimised_letter_says_its_content_is_gone(self, world, tmp_path):
        text = self.pdf_text(tmp_path, world, world.minimised)
        assert "minimerat" in text
        assert "Detta är brev nummer" not in text


class Register:
    """The population register as the export asks it: who is protected now."""

    def __init__(self, protected=(), answers=True):
        self.protected_ids = set(protected)
        self.answers = answers
        self.asked = []

    def protected(self, recipient_ids):
        self.asked.append(list(recipient_ids))
        if not self.answers:
            raise ProtectionUnknownError("folkbokföringen svarar inte")
        return self.protected_ids & set(recipient_ids)


class TestPopulationRegister:
    def test_a_recipient_protected_since_the_letter_went_out_is_masked(self, world, tmp_path):
        register = Register(protected={"191212121212"})
        result = export(world, tmp_path, protection=lambda: register)
        assert register.asked
        for package in result.packages:
            tree = etree.parse(str(package.path / "metadata/descriptive/arkiv.xml"))
            for recipient in tree.iter(f"{ARKIV}recipient"):
                assert recipient.get("protectedIdentity") == "true"
                assert not recipient.text
            for pdf in (package.path / "representations/rep1/data").glob("*/brev.pdf"):
                text = PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()
                assert "19121212-1212" not in text

    def test_a_register_that_does_not_answer_stops_the_export(self, world, tmp_path):
        with pytest.raises(ArchiveError, match="Folkbokföringen svarar inte"):
            export(world, tmp_path, protection=lambda: Register(answers=False))
        assert not list(tmp_path.glob("utskick-*"))
        assert not (tmp_path / ".utskick-tmp").exists()
        with world.sessions() as session:
            archived = session.scalars(
                select(LetterRecord.letter_id).where(LetterRecord.archived_at.is_not(None))
            ).all()
        assert archived == []


class TestMarkingArchived:
    def test_exported_records_are_marked_with_their_package(self, world, tmp_path):
        result = export(world, tmp_path)
        with world.sessions() as session:
            rows = session.execute(
                select(LetterRecord.letter_id, LetterRecord.archive_package).where(
                    LetterRecord.archived_at.is_not(None)
                )
            ).all()
        marked = {str(letter_id): str(package) for letter_id, package in rows}
        names = {package.name for package in result.packages}
        assert set(marked) == set(world.march)
        assert set(marked.values()) == names

    def test_a_second_export_of_the_period_finds_nothing_new(self, world, tmp_path):
        export(world, tmp_path / "first")
        again = export(world, tmp_path / "second")
        assert again.packages == ()
        assert again.letters == 0

    def test_the_export_is_in_the_access_log_with_who_and_how_many(self, world, tmp_path):
        result = export(world, tmp_path)
        with world.sessions() as session:
            entry = session.scalars(
                select(AccessLogEntry).where(AccessLogEntry.action == EXPORT)
            ).one()
        assert entry.username == "arkivarie"
        assert entry.organisation_number == EXEMPELKOMMUN
        assert entry.result_count == 8
        assert entry.detail["paket"] == [package.name for package in result.packages]

    def test_a_system_run_writes_no_access_log(self, world, tmp_path):
        export(world, tmp_path, actor=None)
        with world.sessions() as session:
            assert session.scalars(select(AccessLogEntry)).all() == []

    def test_no_half_written_package_is_left_in_the_target(self, world, tmp_path):
        export(world, tmp_path)
        assert not (tmp_path / ".utskick-tmp").exists()


class TestTampering:
    def test_a_file_changed_after_the_export_is_reported(self, world, tmp_path):
        package = export(world, tmp_path).packages[0].path
        pdf = next((package / "representations/rep1/data").glob("*/brev.pdf"))
        content = bytearray(pdf.read_bytes())
        content[len(content) // 2] ^= 0x01  # same size: only the checksum can tell
        pdf.write_bytes(bytes(content))
        (verdict,) = validate_packages([package])
        assert not verdict["valid"]
        assert any("MANIFEST" in error and pdf.name in error for error in verdict["errors"])

    def test_a_mets_without_its_objid_is_reported(self, world, tmp_path):
        package = export(world, tmp_path).packages[0].path
        mets = package / "METS.xml"
        tree = etree.parse(str(mets))
        del tree.getroot().attrib["OBJID"]
        tree.write(str(mets), xml_declaration=True, encoding="UTF-8")
        (verdict,) = validate_packages([package])
        assert not verdict["valid"]
        assert any(error.startswith("CSIP1:") for error in verdict["errors"]), verdict

    def test_a_missing_representation_file_is_reported(self, world, tmp_path):
        package = export(world, tmp_path).packages[0].path
        next((package / "representations/rep1/data").glob("*/brev.pdf")).unlink()
        (verdict,) = validate_packages([package])
        assert not verdict["valid"]
        assert any("missing" in error for error in verdict["errors"]), verdict


class TestRefusals:
    def test_a_period_that_ends_before_it_starts_is_refused(self, world, tmp_path):
        with pytest.raises(ArchiveError, match="före"):
            export(world, tmp_path, period_from=MARCH[1], period_to=MARCH[0])
        assert not any(tmp_path.iterdir())

    def test_an_unknown_organisation_is_refused(self, world, tmp_path):
        with pytest.raises(ArchiveError, match="finns inte bland avsändarna"):
            export(world, tmp_path, organisation_number="212000-0142")


class TestMemory:
    def test_memory_does_not_grow_with_the_number_of_letters(self, world, tmp_path):
        # Six letters end on 1 May, twenty-four more later in May.
        with world.sessions.begin() as session:
            systems = prepare_world(session)
            extra = [
                ended_letter(
                    session,
                    systems.desk,
                    message_type="beslut",
                    ended_at=at("2026-05-01") + dt.timedelta(days=n // 6, minutes=n),
                )
                for n in range(30)
            ]
            make_records(session, extra)
        # Warm up (fonts, the sRGB profile) on the March letters first.
        export(world, tmp_path / "warm", letters_per_package=2)
        peaks = {}
        for last_day, expected in ((dt.date(2026, 5, 1), 6), (dt.date(2026, 5, 31), 30)):
            with world.sessions.begin() as session:
                session.query(LetterRecord).filter(
                    LetterRecord.letter_id.in_([letter.id for letter in extra])
                ).update({"archived_at": None, "archive_package": None})
            tracemalloc.start()
            result = export(world, tmp_path / str(expected), period_from=dt.date(2026, 5, 1),
                            period_to=last_day, letters_per_package=3)  # fmt: skip
            peaks[expected] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert result.letters == expected
        # Five times the letters in packages of three: the peak is one package's, not more.
        assert peaks[30] < peaks[6] * 1.5 + 512 * 1024, peaks


def test_letters_are_exported_in_the_order_they_ended(world, tmp_path):
    result = export(world, tmp_path)
    ended = []
    with world.sessions() as session:
        for package in result.packages:
            tree = etree.parse(str(package.path / "metadata/descriptive/arkiv.xml"))
            ids = [letter.get("id") for letter in tree.iter(f"{ARKIV}letter")]
            ended += [session.get(Letter, letter_id).updated_at for letter_id in ids]
    assert ended == sorted(ended)
