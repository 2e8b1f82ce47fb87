"""Run the JDK's XML-signature verifier (`JdkSealedDeliveryVerifier.java`) from a test.

The Java program imports nothing from Utskick and uses the JDK's own parser, canonicaliser
and `javax.xml.crypto.dsig`: a second verifier apart from `independent_verifier.py`. It is
compiled once per test session (or run as a source file where `javac` is missing).

Where `java` is missing the tests that need it are skipped with the reason, unless
UTSKICK_TEST_REQUIRE_JAVA=1 (CI), where that is a failure.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("JdkSealedDeliveryVerifier.java")
MAIN_CLASS = "JdkSealedDeliveryVerifier"
REQUIRE_JAVA = os.environ.get("UTSKICK_TEST_REQUIRE_JAVA") == "1"


@dataclass(frozen=True)
class JdkVerdict:
    """What the Java verifier printed, line by line, and its exit code (0: both verify)."""

    returncode: int
    lines: tuple[str, ...]
    stderr: str

    def line(self, start):
        """The one line that starts with `start`."""
        found = [line for line in self.lines if line.startswith(start)]
        assert len(found) == 1, (start, self.lines, self.stderr)
        return found[0]


class JdkVerifier:
    """The compiled Java verifier; `verify(request_bytes, ca_pem)` runs it on one request."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.command = java_command(SOURCE, MAIN_CLASS, workdir)
        self._count = 0

    def verify(self, request: bytes, ca_pem: Path | None = None) -> JdkVerdict:
        """Verify one deliverSecure request as a Java-based operator would."""
        self._count += 1
        path = self.workdir / f"request-{self._count}.xml"
        path.write_bytes(request)
        arguments = [str(path)] + ([str(ca_pem)] if ca_pem is not None else [])
        done = subprocess.run(
            [*self.command, *arguments], capture_output=True, text=True, timeout=120, check=False
        )
        return JdkVerdict(done.returncode, tuple(done.stdout.splitlines()), done.stderr)


def jdk_verifier_or_skip(workdir: Path) -> JdkVerifier:
    """The verifier; a skip with the reason where `java` is missing (a failure in CI)."""
    require_java("the JDK's XML-signature verifier")
    return JdkVerifier(workdir)


def require_java(what: str) -> None:
    """Skip with the reason where `java` is missing; fail instead in CI."""
    if shutil.which("java") is None:
        reason = (
            f"java is not installed, so {what} cannot run (apt-get install openjdk-17-jdk-headless)"
        )
        if REQUIRE_JAVA:
            pytest.fail(reason + "; UTSKICK_TEST_REQUIRE_JAVA=1: CI must run it")
        pytest.skip(reason)


def java_command(source: Path, main_class: str, workdir: Path) -> list[str]:
    """The command that runs a Java program: compiled into `workdir`, or as a source file."""
    javac = shutil.which("javac")
    if javac is None:
        return [shutil.which("java"), str(source)]
    classes = workdir / "classes"
    subprocess.run([javac, "-d", str(classes), str(source)], check=True, capture_output=True)
    return [shutil.which("java"), "-cp", str(classes), main_class]
