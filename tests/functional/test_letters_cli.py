"""Letters from the command line, as an officer or an operator runs them.

The real `utskick` command runs in subprocesses against an installation whose home holds the
embedded reference's demo PKI; the reference itself runs on free ports in this process, and
the commands find it through `UTSKICK_REFERENCE_*_PORT`, as they find a running
`utskick serve`.
"""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.models import Letter
from utskick.printing.models import PrintBatch, PrintItem
from utskick.reference.context import build_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.runner import free_loopback_ports as _free_ports
from utskick.reference.settings import ReferenceSettings
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.senders.api_keys import authenticate
from utskick.senders.models import SendingSystem

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


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """A home with the reference running on free ports and both demo senders added by CLI."""
    home = tmp_path_factory.mktemp("cli-home")
    ports = dict(zip(PORTS, _free_ports(len(PORTS)), strict=True))
    context = build_context(
        ReferenceSettings(
            home=home, run_smtp_sink=False, **{name.lower(): port for name, port in ports.items()}
        )
    )
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_thread()
    env = dict(os.environ, COLUMNS="200", UTSKICK_HOME=str(home), UTSKICK_WORKER_THREADS="0")
    env.update({f"UTSKICK_REFERENCE_{name}": str(port) for name, port in ports.items()})
    env.pop("UTSKICK_DATABASE_URL", None)

    def run(*args, environment=None):
        return subprocess.run(
            [UTSKICK, *args],
            capture_output=True,
            text=True,
            env=environment or env,
            check=False,
        )

    for number, name, extra in [
        (EXEMPELKOMMUN, "Exempelkommun", ["--intermediary"]),
        (GRANNKOMMUN, "Grannkommun", []),
    ]:
        added = run(
            "senders", "add", number, "--name", name,
            "--key", str(context.pki.key_and_certificate(number)), *extra,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    yield run, home, env
    infrastructure.stop()


def _count_letters(home):
    engine = create_engine(f"sqlite:///{home / 'utskick.db'}")
    with engine.connect() as connection:
        count = connection.scalar(select(func.count(Letter.id)))
    engine.dispose()
    return count


def _print_batch_of(home, letter_id):
    """(local, department) of the print batch the letter went into."""
    engine = create_engine(f"sqlite:///{home / 'utskick.db'}")
    with Session(engine) as session:
        batch = session.scalar(
            select(PrintBatch)
            .join(PrintItem, PrintItem.batch_id == PrintBatch.id)
            .where(PrintItem.letter_id == letter_id)
        )
        found = None if batch is None else (batch.local, batch.department)
    engine.dispose()
    return found


def test_precheck_json_gives_channel_reason_and_operator_per_recipient(installation):
    run, *_ = installation
    result = run("precheck", "--json", "19121212-1212", "197501012475", "19851230-4166")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["recipient"], a["channel"], a["reason"]) for a in answers] == [
        ("191212121212", "digital", "reachable"),
        ("197501012475", "paper", "sender_not_accepted"),
        ("198512304166", "paper", "protected_identity"),
    ]
    assert answers[0]["operator"] == "Brevlåda Syd AB"
    from_grannkommun = run("precheck", "--json", "--sender", GRANNKOMMUN, "197501012475")
    assert json.loads(from_grannkommun.stdout)["channel"] == "digital"


def test_precheck_table_speaks_swedish(installation):
    run, *_ = installation
    result = run("precheck", "19661109-0827")
    assert result.returncode == 0, result.stderr
    assert "Mottagaren har ingen digital brevlåda." in result.stdout


def test_precheck_table_shows_numbers_as_people_type_them(installation):
    run, *_ = installation
    result = run("precheck", "196611090827")
    assert result.returncode == 0, result.stderr
    assert "19661109-0827" in result.stdout
    assert "196611090827" not in result.stdout
    assert "Förhandskontroll för avsändare 202100-4748" in result.stdout


def test_precheck_with_far_down_says_so_and_exits_1(installation):
    run, _, env = installation
    down = dict(env, UTSKICK_FAR_URL=f"https://127.0.0.1:{_free_ports(1)[0]}/far")
    result = run("precheck", "19121212-1212", environment=down)
    assert result.returncode == 1
    assert "FaR kan inte frågas just nu" in result.stderr


def test_send_with_wait_delivers_and_status_shows_the_events(installation, tmp_path):
    run, *_ = installation
    pdf = tmp_path / "beslut.pdf"
    pdf.write_bytes(minimal_pdf(2000))
    sent = run(
        "send", "--sender", "202100-4748", "--recipient", "19800423-2388",
        "--subject", "Beslut om bygglov", "--body", "Ditt bygglov är beviljat.",
        "--attach", f"{pdf}:both", "--class", "2", "--case", "BN 2026/1", "--wait",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    letter_id = sent.stdout.splitlines()[0].strip()
    assert "levererat digitalt" in sent.stdout
    status = run("status", letter_id)
    assert status.returncode == 0, status.stderr
    assert "levererat digitalt" in status.stdout
    for state in ("mottaget", "kanal vald"):
        assert state in status.stdout
    assert "TransId" in status.stdout
    assert "Mottagare 19800423-2388" in status.stdout
    assert "avsändare 202100-4748" in status.stdout
    # People read Swedish local time, not the UTC the database keeps.
    now_in_sweden = dt.datetime.now(ZoneInfo("Europe/Stockholm"))
    hours = {(now_in_sweden - dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:") for m in (0, 2)}
    assert any(hour in status.stdout for hour in hours), status.stdout
    assert "UTC" not in status.stdout
    # … with the zone named: CET in winter, CEST in summer.
    zone = now_in_sweden.tzname()
    assert f"{now_in_sweden:%Y-%m-%d} " in status.stdout
    assert f" {zone} " in status.stdout, status.stdout


def test_send_twice_with_the_same_key_is_one_letter(installation):
    run, *_ = installation
    command = (
        "send", "--sender", EXEMPELKOMMUN, "--recipient", "19661109-0827", "--subject",
        "Faktura", "--body", "Att betala: 100 kr.", "--class", "1", "--key", "faktura-1",
    )  # fmt: skip
    first, second = run(*command), run(*command)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert "fanns redan" in second.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recipient", "19121212-1213", "--class", "2"], "mottagaren"),
        (["--recipient", "19121212-1212", "--class", "4"], "skyddsklass 4"),
        (["--recipient", "19121212-1212", "--class", "2", "--sender", "5566778899"], "5566778899"),
    ],
)
def test_bad_input_is_refused_in_swedish_with_exit_2_and_nothing_stored(
    installation, extra, message
):
    run, home, _ = installation
    before = _count_letters(home)
    arguments = ["send", "--subject", "Beslut", "--body", "Text"]
    if "--sender" not in extra:
        arguments += ["--sender", EXEMPELKOMMUN]
    result = run(*arguments, *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Fel:" in result.stderr
    assert _count_letters(home) == before


# The API's names for fields that `utskick send` gives with options of other names.
API_FIELD_NAMES = (
    "protection_class", "message_type", "eservice_url", "case_number", "idempotency_key",
    "body_type", "attachments",
)  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ([], "--class/--type: ange skyddsklass"),
        (["--type", "okänd"], "--type: meddelandetypen 'okänd' finns inte"),
        (["--class", "4"], "--class: skyddsklass 4"),
        (["--class", "2", "--eservice-url", "ftp://e.test"], "--eservice-url: länken"),
        (["--class", "2", "--case", " "], "--case: fältet"),
        (["--class", "2", "--policy", "brevduva"], "--policy: sändningspolicyn"),
        (["--class", "2", "--key", " "], "--key: idempotensnyckeln"),
        (["--class", "2", "--department", "a\u202eb"], "--department: förvaltningen"),
        (["--class", "2", "--subject", "x" * 256], "--subject: ämnesraden har 256 tecken"),
        (["--class", "2", "--html", "--body", "<script>x</script>"], "--body/--body-file: "),
    ],
)
def test_a_refusal_names_the_option_of_send_not_the_api_field(installation, extra, named):
    run, home, _ = installation
    before = _count_letters(home)
    arguments = ["send", "--sender", EXEMPELKOMMUN, "--recipient", "19661109-0827"]
    if "--subject" not in extra:
        arguments += ["--subject", "Beslut"]
    if "--body" not in extra:
        arguments += ["--body", "Text"]
    result = run(*arguments, *extra)
    assert result.returncode == 2
    assert f"Fel: {named}" in result.stderr
    assert not any(field in result.stderr for field in API_FIELD_NAMES), result.stderr
    assert _count_letters(home) == before


def test_a_refused_attachment_is_named_as_typed_after_attach(installation, tmp_path):
    run, home, _ = installation
    before = _count_letters(home)
    good, broken = tmp_path / "beslut.pdf", tmp_path / "[bilaga].pdf"
    good.write_bytes(minimal_pdf(2000))
    broken.write_bytes(b"%PDF-1.4 trasig")
    result = run(
        "send", "--sender", EXEMPELKOMMUN, "--recipient", "19661109-0827", "--subject", "Beslut",
        "--body", "Text", "--class", "2", "--attach", str(good), "--attach", f"{broken}:paper",
    )  # fmt: skip
    assert result.returncode == 2
    # The second --attach as typed (brackets and all: a file name is never read as markup).
    assert f"Fel: --attach {broken}:paper: bilagan [bilaga].pdf kan inte läsas" in result.stderr
    assert "attachments[" not in result.stderr
    assert _count_letters(home) == before


@pytest.mark.parametrize(
    ("local_departments", "expected"),
    [
        (None, (True, "Socialtjänsten")),  # the demo's default, as `utskick serve` sets it
        ("[]", (False, "Socialtjänsten")),  # set by the operator: honoured as given
    ],
)
def test_send_wait_routes_paper_as_the_servers_workers_do(
    installation, local_departments, expected
):
    run, home, env = installation
    environment = {k: v for k, v in env.items() if k != "UTSKICK_PRINT_LOCAL_DEPARTMENTS"}
    if local_departments is not None:
        environment["UTSKICK_PRINT_LOCAL_DEPARTMENTS"] = local_departments
    sent = run(
        "send", "--sender", EXEMPELKOMMUN, "--recipient", "19661109-0827", "--class", "2",
        "--subject", "Beslut om försörjningsstöd", "--body", "Text",
        "--department", "Socialtjänsten", "--wait",
        environment=environment,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "i utskriftsbatch" in sent.stdout
    letter_id = sent.stdout.splitlines()[0].strip()
    assert _print_batch_of(home, letter_id) == expected


def test_a_non_pdf_attachment_is_refused(installation, tmp_path):
    run, home, _ = installation
    fake = tmp_path / "beslut.pdf"
    fake.write_text("inte en pdf")
    before = _count_letters(home)
    result = run(
        "send", "--sender", EXEMPELKOMMUN, "--recipient", "19121212-1212", "--subject", "Beslut",
        "--body", "Text", "--class", "2", "--attach", str(fake),
    )  # fmt: skip
    assert result.returncode == 2
    assert "PDF" in result.stderr
    assert _count_letters(home) == before


def test_batch_submit_accepts_good_lines_reports_bad_ones_by_number_and_waits(
    installation, tmp_path
):
    run, *_ = installation
    lines = [
        {"recipient": "19121212-1212", "subject": "Information", "body": "Hej",
         "protection_class": 1},
        {"recipient": "19661109-0827", "subject": "Information", "body": "Hej",
         "protection_class": 1},
        "inte json",
        {"recipient": "19121212-1213", "subject": "Information", "body": "Hej",
         "protection_class": 1},
        {"recipient": "19900315-3146", "subject": "Information", "body": "Hej",
         "protection_class": 4},
        {"recipient": "19750101-2475", "subject": "Information", "body": "Hej",
         "protection_class": 1, "okänt": 1},
        {"recipient": "19750101-2475", "subject": "Information", "body": "Hej",
         "protection_class": 1},
    ]  # fmt: skip
    file = tmp_path / "utskick.ndjson"
    file.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    result = run("batch", "submit", str(file), "--sender", EXEMPELKOMMUN, "--wait")
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert "3 brev mottagna" in output
    assert "4 rader avvisade" in output
    for number in (3, 4, 5, 6):
        assert f"rad {number}:" in output
    assert "rad 1:" not in output
    assert "skyddsklass 4" in output
    assert "levererat digitalt" in output
    assert "not_registered" in output
    assert "sender_not_accepted" in output


def test_systems_add_and_key_issue_a_key_that_the_api_accepts(installation):
    run, home, _ = installation
    added = run("systems", "add", "Ekonomisystemet", "--sender", EXEMPELKOMMUN)
    assert added.returncode == 0, added.stderr
    key = run("systems", "key", "Ekonomisystemet")
    assert key.returncode == 0, key.stderr
    clear_key = key.stdout.strip()
    assert "visas bara nu" in key.stderr
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    with session_factory(engine)() as session:
        assert authenticate(session, clear_key).name == "Ekonomisystemet"
    engine.dispose()
    unknown = run("systems", "add", "Annat", "--sender", "5566778899")
    assert unknown.returncode == 2
    assert "utskick senders add" in unknown.stderr
    assert "breven bevaras av systemet självt" in added.stdout
    archive = run("systems", "add", "Mappintag", "--sender", EXEMPELKOMMUN, "--no-keeps-records")
    assert "breven bevaras av Utskick" in archive.stdout
    with session_factory(engine)() as session:
        rows = session.execute(select(SendingSystem.name, SendingSystem.keeps_records))
        kept_by = {row.name: row.keeps_records for row in rows}
    assert (kept_by["Ekonomisystemet"], kept_by["Mappintag"]) == (True, False)


def test_commands_beside_serve_find_the_far_the_reference_serves(tmp_path, monkeypatch):
    from utskick.entrypoints.cli.common import beside_serve as _beside_serve
    from utskick.reference.context import endpoints_for
    from utskick.reference.world import DEMO_WORLD
    from utskick.settings import Settings

    monkeypatch.setenv("UTSKICK_REFERENCE_FAR_PORT", "18441")
    settings = _beside_serve(Settings(home=tmp_path))
    assert settings.far_url == endpoints_for(ReferenceSettings(home=tmp_path), DEMO_WORLD).far_url
    assert settings.tls_ca_file == tmp_path / "pki" / "ca.pem"
    assert _beside_serve(Settings(home=tmp_path, embedded_reference=False)).far_url is None


def test_commands_beside_serve_get_the_connector_settings_serve_uses(tmp_path, monkeypatch):
    from utskick.entrypoints.cli.common import beside_serve as _beside_serve
    from utskick.entrypoints.embedded import connector_settings_for
    from utskick.settings import Settings

    for name in ("FAR_URL", "POPULATION_URL", "TLS_CA_FILE", "PRINT_LOCAL_DEPARTMENTS"):
        monkeypatch.delenv(f"UTSKICK_{name}", raising=False)
    context = build_context(ReferenceSettings(home=tmp_path, run_smtp_sink=False))
    for given in (Settings(home=tmp_path), Settings(home=tmp_path, print_local_departments=[])):
        served, beside = connector_settings_for(given, context), _beside_serve(given)
        assert beside.far_url == served.far_url
        assert beside.population_url == served.population_url
        assert beside.tls_ca_file.resolve() == served.tls_ca_file.resolve()
        assert beside.print_local_departments == served.print_local_departments


def test_a_letter_set_for_later_waits_and_can_be_cancelled_by_cli(installation):
    run, _home, _env = installation
    later = (dt.datetime.now(ZoneInfo("Europe/Stockholm")) + dt.timedelta(days=2)).strftime(
        "%Y-%m-%d 06:00"
    )
    sent = run(
        "send", "--sender", "202100-4748", "--recipient", "19800423-2388",
        "--subject", "Påminnelse", "--body", "Glöm inte mötet.", "--class", "1",
        "--not-before", later,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    letter_id = sent.stdout.splitlines()[0].strip()
    status = run("status", letter_id)
    assert f"Skickas tidigast {later}" in status.stdout
    cancelled = run("cancel", letter_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "makulerat" in cancelled.stdout
    again = run("cancel", letter_id)
    assert again.returncode != 0
    assert "redan avslutat (makulerat)" in again.stderr


def test_a_time_that_cannot_be_read_is_refused_naming_the_option(installation):
    run, home, _env = installation
    before = _count_letters(home)
    sent = run(
        "send", "--sender", "202100-4748", "--recipient", "19800423-2388",
        "--subject", "Påminnelse", "--body", "Text.", "--class", "1",
        "--not-before", "på fredag",
    )  # fmt: skip
    assert sent.returncode != 0
    assert "--not-before" in sent.stderr
    assert "ingen tid som går att läsa" in sent.stderr
    assert _count_letters(home) == before
