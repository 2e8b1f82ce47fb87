"""`utskick batch submit` with a table: a CSV or XLSX file (told from its content, not its name)
becomes one batch by the API's rules, bad rows are listed by their row in Excel, the same file
again gives its letters back, and a file that is no table is refused whole."""

import io
import json

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.api import add_demo_senders, letter_json
from support.world import EXEMPELKOMMUN, fresh_personnummer
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.entrypoints.cli import app
from utskick.letters.models import Letter
from utskick.migrations import migrate


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home with a migrated database and the two demo senders (so no sender goes without
    saying)."""
    monkeypatch.setenv("UTSKICK_HOME", str(tmp_path))
    monkeypatch.setenv("UTSKICK_WORKER_THREADS", "0")
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("UTSKICK_DATABASE_URL", raising=False)
    engine = migrate.migrated_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    add_demo_senders(engine)
    yield tmp_path, engine
    engine.dispose()


def _submit(home, file, *options):
    return CliRunner().invoke(app, ["batch", "submit", str(file), "--home", str(home), *options])


def _said(result):
    return " ".join(result.output.split())


def _letters(engine):
    with Session(engine) as session:
        letters = session.scalars(select(Letter).order_by(Letter.idempotency_key)).all()
        session.expunge_all()
        return letters


def test_a_csv_file_with_defaults_and_a_bad_row(home):
    tmp_path, engine = home
    first, second = fresh_personnummer(), fresh_personnummer()
    file = tmp_path / "utskick.csv"
    file.write_bytes(
        "Personnummer;Text;Diarienummer\r\n"
        f"{first};Hej Åsa!;SOC 1\r\n"
        "19121212-1213;Hej!;\r\n"
        f"{second};Hej Örjan!;\r\n".encode("cp1252")
    )
    options = ("--sender", EXEMPELKOMMUN, "--subject", "Beslut", "--message-type", "beslut")

    result = _submit(tmp_path, file, *options, "--department", "Omsorg")

    assert result.exit_code == 0, result.output
    said = _said(result)
    assert "2 brev mottagna" in said
    assert "1 rad avvisad" in said
    assert "rad 3: Personnummer: 19121212-1213 är inget giltigt identitetsnummer" in said
    letters = {letter.recipient_id: letter for letter in _letters(engine)}
    assert set(letters) == {first, second}
    assert (letters[first].subject, letters[first].body) == ("Beslut", "Hej Åsa!")
    assert (letters[first].case_number, letters[first].department) == ("SOC 1", "Omsorg")
    assert letters[first].sender_number == EXEMPELKOMMUN

    again = _submit(tmp_path, file, *options, "--department", "Omsorg")

    assert again.exit_code == 0, again.output
    assert "2 brev mottagna (varav 2 redan kända)" in _said(again)
    assert len(_letters(engine)) == 2


def test_a_workbook_is_told_from_its_content_not_its_name(home):
    tmp_path, engine = home
    workbook = openpyxl.Workbook()
    workbook.active.append(["Personnummer", "Ämne", "Text", "Skyddsklass", "Avsändare"])
    workbook.active.append([fresh_personnummer(), "Kallelse", "Välkommen!", 1, EXEMPELKOMMUN])
    data = io.BytesIO()
    workbook.save(data)
    file = tmp_path / "export.dat"
    file.write_bytes(data.getvalue())

    result = _submit(tmp_path, file)

    assert result.exit_code == 0, result.output
    assert "1 brev mottaget" in _said(result)
    [letter] = _letters(engine)
    assert (letter.subject, letter.protection_class) == ("Kallelse", 1)


def test_a_file_that_is_no_table_is_refused_whole(home):
    tmp_path, engine = home
    file = tmp_path / "lista.csv"
    file.write_bytes(minimal_pdf(100))

    result = _submit(tmp_path, file, "--sender", EXEMPELKOMMUN)

    assert result.exit_code == 2
    assert "Filen är en PDF, inte en tabell" in _said(result)
    assert _letters(engine) == []


def test_a_table_without_a_sender_says_how_to_give_one(home):
    tmp_path, engine = home
    file = tmp_path / "lista.csv"
    file.write_text("Personnummer;Ämne;Text;Skyddsklass\n191212121212;B;Hej;2\n", "utf-8")

    result = _submit(tmp_path, file)

    assert result.exit_code == 2
    assert "--sender" in _said(result)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Letter)) == 0


def test_the_options_fill_in_what_ndjson_lines_leave_out(home):
    tmp_path, engine = home
    line = letter_json(recipient=fresh_personnummer())
    for name in ("sender", "subject"):
        line.pop(name)
    file = tmp_path / "utskick.ndjson"
    file.write_text(json.dumps(line) + "\n", encoding="utf-8")

    result = _submit(tmp_path, file, "--sender", EXEMPELKOMMUN, "--subject", "Från flaggan")

    assert result.exit_code == 0, result.output
    [letter] = _letters(engine)
    assert letter.subject == "Från flaggan"
