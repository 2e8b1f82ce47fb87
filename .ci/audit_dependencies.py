# ruff: noqa: INP001  (a script that CI runs, not part of a package)
"""Check every locked dependency against the package index's vulnerability advisories.

Runs pip-audit on a hash-locked requirements file (no installation, no resolution: the lock
already names every package and version) and decides on its JSON report:

- exit 0: every package was checked and none has a known vulnerability;
- exit 1: a known vulnerability: each is printed with its advisory and the fixed versions;
- exit 2: pip-audit failed for another reason (an unreadable lock, say);
- exit 3: some or all packages could not be checked (the advisory data did not answer). With
  --allow-unchecked this is printed as NOT CHECKED and exits 0, so that a network without the
  advisory data can still run the rest of CI; it never passes in silence.

Usage: python .ci/audit_dependencies.py requirements-dev.lock [--allow-unchecked] [--service osv]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FAILED = 2
UNCHECKED = 3
# What pip-audit's and requests' errors say when the advisory service cannot be reached.
UNREACHABLE = (
    "ConnectionError",
    "ConnectTimeout",
    "NameResolutionError",
    "Max retries exceeded",
    "network may be blocking",
)


def say(line: str) -> None:
    """What the audit found, on standard output for the CI log."""
    sys.stdout.write(line + "\n")


def run_pip_audit(lock: Path, service: str, report: Path) -> subprocess.CompletedProcess[str]:
    """pip-audit from this interpreter's environment, against one advisory service."""
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [
        str(pip_audit),
        "--requirement",
        str(lock),
        "--require-hashes",
        "--disable-pip",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--output",
        str(report),
        "--progress-spinner",
        "off",
    ]
    # The command is ours: a fixed program beside this interpreter and fixed options.
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603


def print_vulnerabilities(dependencies: list[dict[str, Any]]) -> int:
    """Print one line per known vulnerability; return how many there are."""
    found = 0
    for dependency in dependencies:
        for vulnerability in dependency.get("vulns") or []:
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            say(
                f"VULNERABLE {dependency['name']} {dependency['version']}: "
                f"{vulnerability['id']} (fixed in: {fixed})"
            )
            found += 1
    return found


def print_unchecked(dependencies: list[dict[str, Any]]) -> int:
    """Print which packages could not be checked and why; return how many."""
    names_by_reason: dict[str, list[str]] = {}
    for dependency in dependencies:
        if "skip_reason" in dependency:
            # pip-audit ends each reason with ": name (version)"; group on what comes before.
            reason = str(dependency["skip_reason"]).rsplit(": ", 1)[0]
            names_by_reason.setdefault(reason, []).append(str(dependency["name"]))
    unchecked = sum(len(names) for names in names_by_reason.values())
    if unchecked:
        say(f"NOT CHECKED: {unchecked} of {len(dependencies)} packages:")
        for reason, names in sorted(names_by_reason.items()):
            say(f"  {reason}: {', '.join(names)}")
    return unchecked


def audit(lock: Path, service: str) -> int:
    """Run the audit and return the exit code described in the module docstring."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "pip-audit.json"
        result = run_pip_audit(lock, service, report)
        if not report.exists():
            sys.stderr.write(result.stderr)
            last = result.stderr.strip().splitlines()[-1:] or ["(pip-audit printed nothing)"]
            if any(sign in result.stderr for sign in UNREACHABLE):
                say(f"NOT CHECKED: the advisory service ({service}) did not answer: {last[0]}")
                return UNCHECKED
            say(f"pip-audit failed on {lock}: {last[0]}")
            return FAILED
        dependencies = json.loads(report.read_text(encoding="utf-8"))["dependencies"]
    if print_vulnerabilities(dependencies):
        return 1
    if print_unchecked(dependencies):
        return UNCHECKED
    say(f"Checked {len(dependencies)} packages in {lock}: no known vulnerabilities.")
    return 0


def main() -> int:
    """Audit the lock named on the command line; the exit code is the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path, help="hash-locked requirements file")
    parser.add_argument(
        "--allow-unchecked",
        action="store_true",
        help="exit 0 (after saying so) when the advisories could not be reached",
    )
    parser.add_argument(
        "--service",
        choices=["pypi", "osv"],
        default="pypi",
        help="advisory service pip-audit asks (default: the package index's own)",
    )
    arguments = parser.parse_args()
    status = audit(arguments.lock, arguments.service)
    if status == UNCHECKED and arguments.allow_unchecked:
        say("The dependencies were NOT checked for vulnerabilities (--allow-unchecked).")
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
