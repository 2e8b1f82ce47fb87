"""The README's tour, run as written: a newcomer copies these commands and expects the output.

The commands are read out of README.md itself, so that the test fails when the README and the
tool drift apart. Only what differs on a test machine is changed: `.venv/bin/utskick` is this
environment's command, `var/` a temporary folder, and the demo key one the test CA issues.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from utskick.letters.inputs import AttachmentInput, checked_attachments

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
EXAMPLE_PDF = REPOSITORY / "docs/examples/beslut.pdf"
UTSKICK = str(Path(sys.executable).with_name("utskick"))


def _shell_blocks():
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def _block_with(marker):
    blocks = [block for block in _shell_blocks() if marker in block]
    assert len(blocks) == 1, f"README.md should have one sh block with {marker!r}"
    return blocks[0]


def _command_starting(block, start):
    """The command in `block` that begins with `start`, with its continuation lines."""
    lines = block.splitlines()
    first = next(number for number, line in enumerate(lines) if line.startswith(start))
    command = []
    for line in lines[first:]:
        command.append(line)
        if not line.endswith("\\"):
            break
    return "\n".join(command)


def _as_run_here(script, var):
    return script.replace(".venv/bin/utskick", UTSKICK).replace("var/", f"{var}/")


def _bash(script):
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_real_sample_verifies_with_the_commands_in_the_readme(sample_bytes, tmp_path):
    block = _block_with("SealedDeliveryWithSignature.xml")
    expected = [line[2:] for line in block.splitlines() if line.startswith("# OK")]
    assert expected, "the README should say what verify prints"
    result = _bash(_as_run_here(block, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_the_example_pdf_passes_the_checks_every_letter_passes():
    content = EXAMPLE_PDF.read_bytes()
    (checked,) = checked_attachments((AttachmentInput("beslut.pdf", content),))
    assert checked.content == content


def test_the_example_pdf_is_what_its_script_makes(tmp_path):
    made = tmp_path / "beslut.pdf"
    script = REPOSITORY / "docs/examples/make_beslut_pdf.py"
    subprocess.run([sys.executable, str(script), str(made)], check=True)
    assert made.read_bytes() == EXAMPLE_PDF.read_bytes()


@pytest.fixture
def demo_key(tmp_path):
    """The README's `var/pki/2021004748.pem`: Exempelkommun's key from a test CA."""
    (tmp_path / "pki").mkdir()
    issued = subprocess.run(
        [UTSKICK, "dev-ca", "issue", "--org", "202100-4748", "--name", "Exempelkommun",
         "--out", str(tmp_path / "pki" / "2021004748.pem"), "--ca-dir", str(tmp_path / "ca")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    return tmp_path / "ca" / "ca.pem"


def test_the_seal_command_in_the_readme_attaches_the_example_pdf(tmp_path, demo_key):
    block = _block_with("--attach docs/examples/beslut.pdf")
    seal = _command_starting(block, ".venv/bin/utskick mm seal")
    sealed = _bash(_as_run_here(seal, tmp_path))
    assert sealed.returncode == 0, sealed.stderr
    request = tmp_path / "request.xml"
    assert b"beslut.pdf" in request.read_bytes()
    verified = _bash(f"{UTSKICK} mm verify {request} --trust {demo_key}")
    assert verified.stdout.strip() == "OK sender=202100-4748 sealer=202100-4748", verified.stderr
