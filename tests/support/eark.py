"""Run the independent E-ARK validator (eark-validator 1.1.3 in `.venv-eark`) on packages.

`make eark-validator` (which `make test` runs) makes the venv. Without it the tests that
need it skip and say how to get it, except in CI (`CI=true`), where a skip would hide that
no package was validated: there they fail.

The CSIP vocabularies are the project's shared copies, `../shared/contracts/e-ark/schema/`
beside the checkout (CI lays `shared/` beside its clone too).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-eark" / "bin" / "python"
RUNNER = Path(__file__).with_name("eark_validate.py")
VOCABULARIES = ROOT.parent / "shared" / "contracts" / "e-ark" / "schema"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: CI must validate the archive packages")
    pytest.skip(f"{reason}; run `make eark-validator` to validate the archive packages")


def validate_packages(packages: list[Path]) -> list[dict]:
    """The validator's verdict on each package (see `eark_validate.py`)."""
    if not PYTHON.exists():
        _unavailable(f"{PYTHON} is missing")
    if not VOCABULARIES.is_dir():
        _unavailable(f"the CSIP vocabularies are not at {VOCABULARIES}")
    completed = subprocess.run(
        [str(PYTHON), str(RUNNER), "--vocabularies", str(VOCABULARIES), *map(str, packages)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode not in (0, 1) or len(lines) != len(packages):
        raise AssertionError(f"the validator did not run: {completed.stderr[-3000:]}")
    return [json.loads(line) for line in lines]
