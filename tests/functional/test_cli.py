"""The integrator's tools, run as a user runs them: the real `utskick` command in a subprocess."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main

from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.entrypoints.cli import app

UTSKICK = str(Path(sys.executable).with_name("utskick"))


def run(*args, env=None, cwd=None):
    return subprocess.run(
        [UTSKICK, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_dir = folder / "ca"
    for org, name, out in [
        ("202100-4748", "Exempelkommun", "sender.pem"),
        ("202100-9903", "Grannkommun", "sealer.pem"),
    ]:
        result = run(
            "dev-ca",
            "issue",
            "--org",
            org,
            "--name",
            name,
            "--out",
            str(folder / out),
            "--ca-dir",
            str(ca_dir),
        )
        assert result.returncode == 0, result.stderr
    return folder, ca_dir / "ca.pem"


def seal_command(
    key,
    out,
    *,
    recipient="19121212-1212",
    subject="Beslut om bygglov",
    body="Ditt bygglov är beviljat.",
):
    return [
        "mm", "seal", "--key", str(key), "--sender-org", "202100-4748", "--sender-name", "Exempelkommun",
        "--recipient", recipient, "--subject", subject, "--body", body, "--out", str(out),
    ]  # fmt: skip


def seal(pki, tmp_path, *extra):
    folder, _ = pki
    out = tmp_path / "request.xml"
    pdf = tmp_path / "beslut.pdf"
    pdf.write_bytes(minimal_pdf(3000))
    result = run(
        *seal_command(folder / "sender.pem", out),
        *["--seal-key", str(folder / "sealer.pem"), "--attach", str(pdf)],
        *extra,
    )
    return result, out


def test_seal_then_verify_prints_ok_with_both_organisations(pki, tmp_path):
    result, out = seal(pki, tmp_path)
    assert result.returncode == 0, result.stderr
    verified = run("mm", "verify", str(out), "--trust", str(pki[1]))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == "OK sender=202100-4748 sealer=202100-9903"


def test_a_tampered_file_prints_invalid_with_the_reason(pki, tmp_path):
    _, out = seal(pki, tmp_path)
    out.write_bytes(out.read_bytes().replace(b"Beslut om bygglov", b"Beslut om rivning"))
    verified = run("mm", "verify", str(out), "--trust", str(pki[1]))
    assert verified.returncode == 1
    assert verified.stdout.startswith("INVALID sigillet: kontrollsumman stämmer inte")


def test_verify_with_the_wrong_trust_anchor_is_invalid(pki, tmp_path, authority):
    from utskick.mm.devca import write_certificate

    _, out = seal(pki, tmp_path)
    stranger = tmp_path / "other-ca.pem"
    write_certificate(stranger, authority.certificate)
    verified = run("mm", "verify", str(out), "--trust", str(stranger))
    assert verified.returncode == 1
    assert "inte betrott" in verified.stdout


def test_the_real_sample_verifies_from_the_command_line(sample_bytes, tmp_path):
    import base64

    from cryptography import x509
    from lxml import etree

    from utskick.mm.devca import write_certificate

    sample = tmp_path / "sample.xml"
    sample.write_bytes(sample_bytes)
    der = base64.b64decode(
        etree.fromstring(sample_bytes)[-1].findtext(
            ".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
        )
    )
    write_certificate(tmp_path / "kommun-a.pem", x509.load_der_x509_certificate(der))
    ok = run(
        "mm",
        "verify",
        str(sample),
        "--trust",
        str(tmp_path / "kommun-a.pem"),
        "--at",
        "2020-06-01T12:00:00Z",
    )
    assert ok.stdout.strip() == "OK sender=202100-4748 sealer=202100-4748"
    expired = run("mm", "verify", str(sample), "--trust", str(tmp_path / "kommun-a.pem"))
    assert expired.returncode == 1
    assert "certifikatet har gått ut" in expired.stdout


def test_seal_refuses_an_invalid_recipient_and_writes_nothing(pki, tmp_path):
    folder, _ = pki
    out = tmp_path / "never.xml"
    result = run(*seal_command(folder / "sender.pem", out, recipient="19121212-1213"))
    assert result.returncode == 2
    assert "kontrollsiffran stämmer inte" in result.stderr
    assert not out.exists()


def test_seal_refuses_a_key_of_another_organisation(pki, tmp_path):
    folder, _ = pki
    result = run(*seal_command(folder / "sealer.pem", tmp_path / "x.xml"))
    assert result.returncode == 2
    assert "gäller organisationsnummer 2021009903" in result.stderr


def test_pkcs12_keys_with_a_passphrase_from_the_environment(tmp_path):
    import os

    env = {**os.environ, "NYCKEL_LOSEN": "hemligt"}
    issued = run(
        "dev-ca",
        "issue",
        "--org",
        "202100-4748",
        "--name",
        "Exempelkommun",
        "--out",
        str(tmp_path / "s.p12"),
        "--ca-dir",
        str(tmp_path / "ca"),
        "--passphrase-env",
        "NYCKEL_LOSEN",
        env=env,
    )
    assert issued.returncode == 0, issued.stderr
    out = tmp_path / "r.xml"
    sealed = run(
        "mm",
        "seal",
        "--key",
        str(tmp_path / "s.p12"),
        "--passphrase-env",
        "NYCKEL_LOSEN",
        "--sender-org",
        "202100-4748",
        "--sender-name",
        "Exempelkommun",
        "--recipient",
        "202100-9903",
        "--subject",
        "Faktura",
        "--body",
        "Se bilaga.",
        "--out",
        str(out),
        env=env,
    )
    assert sealed.returncode == 0, sealed.stderr
    verified = run("mm", "verify", str(out), "--trust", str(tmp_path / "ca" / "ca.pem"))
    assert verified.stdout.strip() == "OK sender=202100-4748 sealer=202100-4748"


def test_bench_sign_prints_the_figures_as_json():
    result = run("bench", "sign", "--json", "--seconds", "0.2")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["messages_per_s"] > 0
    assert figures["raw_rsa_signs_per_s"] > 0
    assert figures["ratio"] == pytest.approx(
        2 * figures["messages_per_s"] / figures["raw_rsa_signs_per_s"], rel=0.01
    )
    assert {"pdf_100kb_messages_per_s", "verify_per_s", "verify_pdf_100kb_per_s"} <= figures.keys()
    # Both wire forms: the default (prefixed) in messages_per_s, the other beside it, and the
    # cost of writing each form alone, with the simple tree rebuild as the baseline.
    assert figures["default_namespaces_messages_per_s"] > 0
    for letter in ("text", "pdf_100kb"):
        for form in ("prefixed", "prefixed_rebuild", "default"):
            assert figures[f"wire_{letter}_{form}_us"] > 0
            assert figures[f"wire_{letter}_{form}_cpu_us"] > 0
        assert figures[f"wire_{letter}_prefixed_per_default"] > 0
        assert figures[f"wire_{letter}_rebuild_per_prefixed"] > 0


# The command tree as Typer builds it: every group, so a new group is checked without editing here.
_ROOT = typer.main.get_command(app)
_GROUPS = sorted(
    name for name, command in _ROOT.commands.items() if isinstance(command, typer.core.TyperGroup)
)
# A row of the rich "Commands" panel: "│ name   description   │".
_COMMAND_ROW = re.compile(r"^│ (\S+) {2,}(\S.*?)\s*│$")
_SWEDISH_LETTERS = set("åäöÅÄÖ")
_SWEDISH_WORDS = {"och", "en", "ett", "som", "för", "med", "till", "av", "på", "alla", "eller",
                  "att"}  # fmt: skip
_ENGLISH_STARTS = ("Start ", "Run ", "List ", "Show ", "Hand ", "Write ", "Close ", "Mark ", "Measure ",
                   "Add ", "Set ", "Issue ", "Create ", "Verify ", "Migrate ", "The ")  # fmt: skip


def _listed_commands(help_text):
    """The command names and descriptions in a `--help` output's Kommandon panel."""
    panel = help_text.split("─ Kommandon ─", 1)[1].split("╰", 1)[0]
    return dict(row.groups() for line in panel.splitlines() if (row := _COMMAND_ROW.match(line)))


@pytest.mark.parametrize("group", ["", *_GROUPS])
def test_every_command_in_the_help_is_described_in_swedish(group):
    result = run(*([group] if group else []), "--help", env=dict(os.environ, COLUMNS="250"))
    assert result.returncode == 0, result.stderr
    listed = _listed_commands(result.stdout)
    command = _ROOT.commands[group] if group else _ROOT
    assert set(listed) == set(command.commands), result.stdout
    for name, description in listed.items():
        words = set(re.findall(r"\w+", description))
        assert _SWEDISH_LETTERS & set(description) or _SWEDISH_WORDS & words, (name, description)
        assert not description.startswith(_ENGLISH_STARTS), (name, description)
    # Typer's shell-completion options are left out: their help is English and not for operators.
    assert "--install-completion" not in result.stdout
    assert "--show-completion" not in result.stdout
