"""`utskick printfile submit` as an operator runs it: the real command in a subprocess, against
a home whose embedded reference runs on free ports in this process (as beside `utskick
serve`). A print file is split by its source's rule, each letter listed with its outcome; with
`--wait` the letters are delivered or go to print; a refused file says why and exits 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.print_files import anchor_file, pdf_of
from utskick.reference.context import build_context
from utskick.reference.runner import ReferenceInfrastructure, free_loopback_ports
from utskick.reference.settings import ReferenceSettings
from utskick.reference.world import EXEMPELKOMMUN

UTSKICK = str(Path(sys.executable).with_name("utskick"))
PORTS = (
    "FAR_PORT",
    "POPULATION_PORT",
    "SYD_SERVICE_PORT",
    "SYD_UI_PORT",
    "NORD_SERVICE_PORT",
    "NORD_UI_PORT",
    "SINK_PAGE_PORT",
    "SMTP_PORT",
    "DIARIUM_PORT",
)
SOURCES = """
[[source]]
name = "fakturor"
system = "Ekonomisystemet"
subject = "Faktura från Exempelkommun"
message_type = "beslut"
paper_layout = "address-in-window"
[source.recipient]
rule = "anchor"

[[source]]
name = "styrda"
system = "Ekonomisystemet"
message_type = "beslut"
[source.recipient]
rule = "control-file"
"""


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """A home with the reference running, Exempelkommun, a message type, the system, sources."""
    home = tmp_path_factory.mktemp("printfile-home")
    ports = dict(zip(PORTS, free_loopback_ports(len(PORTS)), strict=True))
    context = build_context(
        ReferenceSettings(
            home=home, run_smtp_sink=False, **{name.lower(): port for name, port in ports.items()}
        )
    )
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_thread()
    env = dict(os.environ, COLUMNS="300", UTSKICK_HOME=str(home), UTSKICK_WORKER_THREADS="0")
    env.update({f"UTSKICK_REFERENCE_{name}": str(port) for name, port in ports.items()})
    env.pop("UTSKICK_DATABASE_URL", None)

    def run(*args):
        return subprocess.run(
            [UTSKICK, *args], capture_output=True, text=True, env=env, check=False
        )

    key = str(context.pki.key_and_certificate(EXEMPELKOMMUN))
    for command in (
        ("senders", "add", EXEMPELKOMMUN, "--name", "Exempelkommun", "--key", key,
         "--intermediary"),
        ("systems", "add", "Ekonomisystemet", "--sender", EXEMPELKOMMUN),
    ):  # fmt: skip
        done = run(*command)
        assert done.returncode == 0, done.stderr
    _add_message_type(home)
    (home / "sources.toml").write_text(SOURCES, encoding="utf-8")
    yield run, home
    infrastructure.stop()


def _add_message_type(home):
    from sqlalchemy.orm import Session

    from utskick.db.engine import create_database_engine
    from utskick.letters.models import MessageType

    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    with Session(engine) as session:
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.commit()
    engine.dispose()


def one_line(output):
    return " ".join(output.split())


def test_a_print_file_is_split_and_with_wait_each_letter_gets_its_outcome(installation, tmp_path):
    run, _ = installation
    pdf = tmp_path / "fakturor.pdf"
    # Tolvan has a digital mailbox; David has none and gets the letter on paper.
    pdf.write_bytes(anchor_file(["19121212-1212", "19661109-0827"], 2))

    result = run("printfile", "submit", str(pdf), "--source", "fakturor", "--wait")

    assert result.returncode == 0, result.stderr
    output = one_line(result.stdout)
    assert "Utskriftsfilen fakturor.pdf från källan fakturor: 2 brev mottagna, 0 avvisade" in output
    assert "│ 1–2 │ 19121212-1212 │ mottaget (" in output
    assert "│ 3–4 │ 19661109-0827 │ mottaget (" in output
    assert "levererat digitalt" in output
    assert "i utskriftsbatch" in output
    assert "Mottagaren har ingen digital brevlåda" in output


def test_the_control_file_beside_the_pdf_is_found_and_a_bad_row_is_listed(installation, tmp_path):
    run, _ = installation
    pdf = tmp_path / "beslut.pdf"
    pdf.write_bytes(pdf_of([["Beslut A"], ["Beslut B"]]))
    (tmp_path / "beslut.csv").write_text(
        "Sidor;Personnummer;Ämne\n1;19121212-1212;Beslut A\n2;19121212-1213;Beslut B\n",
        encoding="utf-8-sig",
    )

    result = run("printfile", "submit", str(pdf), "--source", "styrda")

    assert result.returncode == 0, result.stderr
    output = one_line(result.stdout)
    assert "1 brev mottagna" in output
    assert "1 avvisade" in output
    assert "avvisat: rad 3: numret 19121212-1213 är inget giltigt" in output


def test_a_refused_file_says_why_and_exits_1(installation, tmp_path):
    run, _ = installation
    pdf = tmp_path / "trasig.pdf"
    pdf.write_bytes(b"%PDF-1.4 trasig")

    result = run("printfile", "submit", str(pdf), "--source", "fakturor")

    assert result.returncode == 1
    assert "utskriftsfilen togs inte emot: utskriftsfilen trasig.pdf kan inte läsas" in (
        one_line(result.stderr)
    )


def test_a_file_none_of_whose_letters_is_accepted_exits_1(installation, tmp_path):
    run, _ = installation
    pdf = tmp_path / "fel.pdf"
    pdf.write_bytes(anchor_file(["19121212-1213"], 1))

    result = run("printfile", "submit", str(pdf), "--source", "fakturor")

    assert result.returncode == 1
    assert "0 brev mottagna, 1 avvisade" in one_line(result.stdout)


def test_an_unknown_source_names_the_sources_there_are(installation, tmp_path):
    run, _ = installation
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(anchor_file(["19121212-1212"], 1))

    result = run("printfile", "submit", str(pdf), "--source", "okand")

    assert result.returncode == 2
    assert "källan 'okand' finns inte i källfilen (källor: fakturor, styrda)" in one_line(
        result.stderr
    )
