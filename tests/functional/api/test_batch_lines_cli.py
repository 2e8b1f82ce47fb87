"""The command line hands letters over by the API's rules. `utskick batch submit`: a line with a
repeated key is refused, and a line with an address is refused when the population register
cannot be asked whether the person is protected; the other lines are accepted and nothing else
is stored. `utskick send`: a key used again with other content is refused naming the letter."""

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.api import add_demo_senders, letter_json
from utskick.entrypoints.cli import app
from utskick.letters.models import Letter
from utskick.migrations import migrate

ADDRESS = {"name": "Eva Ek", "lines": ["Dolda gatan 7"], "postal_code": "999 99", "city": "X"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home with a migrated database and the demo senders, none of which has a key (so the
    population register cannot be asked)."""
    monkeypatch.setenv("UTSKICK_HOME", str(tmp_path))
    monkeypatch.setenv("UTSKICK_WORKER_THREADS", "0")
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("UTSKICK_DATABASE_URL", raising=False)
    engine = migrate.migrated_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    add_demo_senders(engine)
    yield tmp_path, engine
    engine.dispose()


def _unwrapped(output):
    """The output as one line: the console wraps long messages at its width."""
    return " ".join(output.split())


def _letter_count(engine):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Letter))


def test_batch_submit_refuses_repeated_keys_and_unjudged_addresses(home):
    tmp_path, engine = home
    repeated = json.dumps(letter_json())[:-1] + ', "subject": "Annat"}'
    lines = [
        json.dumps(letter_json(reference="1")),
        repeated,
        json.dumps(letter_json(recipient="196611090827", address=ADDRESS)),
    ]
    file = tmp_path / "utskick.ndjson"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["batch", "submit", str(file), "--home", str(tmp_path)])

    assert result.exit_code == 0, result.output
    output = _unwrapped(result.output)
    assert "1 brev mottaget" in output
    assert 'rad 2: nyckeln "subject" står två gånger i samma JSON-objekt' in output
    assert "rad 3: address: den angivna adressen kan inte tas emot" in output
    assert _letter_count(engine) == 1
    with Session(engine) as session:
        assert session.scalar(select(Letter.postal_address)) is None


def test_send_with_a_used_key_and_other_content_is_refused_naming_the_letter(home):
    tmp_path, engine = home
    common = ["send", "--home", str(tmp_path), "--sender", "202100-4748"]
    common += ["--recipient", "19121212-1212", "--class", "2", "--key", "BN-2026-7"]
    first = CliRunner().invoke(app, [*common, "--subject", "Beslut", "--body", "Beviljas."])
    assert first.exit_code == 0, first.output
    letter_id = first.stdout.splitlines()[0].strip()
    other = CliRunner().invoke(app, [*common, "--subject", "Beslut", "--body", "Avslås."])
    assert other.exit_code == 2
    assert f"har redan använts för brevet {letter_id}" in _unwrapped(other.output)
    assert _letter_count(engine) == 1
