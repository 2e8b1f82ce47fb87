"""A pytest plugin: the logs of the whole test run, scanned for personal data and secrets.

While the tests run, every log record (DEBUG and up from `utskick.*`, INFO and up from the
rest) is written twice into a folder shared by the xdist workers: once as production writes
it (`utskick.observability.logs.production_handler`, JSON, with the redaction filter), once as
the raw `record.getMessage()` before any redaction. At the end of the session (in the xdist
controller, or in the only process) both are scanned for personal identity numbers with a
valid check digit, PEM private keys, API keys, the tests' passwords and the tests' letter
subjects and bodies. The run fails (exit status 1) when the production output holds any, or
when an Utskick logger's raw message does: the call site must not log it in the first place.

The scan is written apart from the production filter (its own patterns), so that it checks
the filter rather than repeating it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from utskick.observability.logs import QUIET_LIBRARIES, production_handler, redact

FOLDER_KEY = "utskick_log_scan_folder"
FORMATTED = "formatted"
RAW = "raw"
TESTS = Path(__file__).resolve().parents[1]

# --- what counts as a leak -------------------------------------------------------------------

# A personnummer or samordningsnummer in any form people write it: 10 or 12 digits, with or
# without -, + or a space before the last four; standing alone (not inside a hex id).
_IDENTITY = re.compile(
    r"(?<![0-9A-Za-z])(?P<century>\d{2})?(?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})"
    r"[-+ ]?(?P<serial>\d{4})(?![0-9A-Za-z])"
)
_PRIVATE_KEY = re.compile(r"PRIVATE KEY-----")
_API_KEY = re.compile(r"uk_[A-Za-z0-9_-]{40,}")
_PASSWORD_LITERAL = re.compile(
    r"""(?im)(?:(?:^\s*|[(,]\s*)\w*password\w*\s*[=:]|"password"\s*:)\s*(["'])([^"'\\\n]{8,})\1"""
)
# A letter's subject or body in the tests: a literal given as `subject`/`body` (or a constant
# named *_SUBJECT, *_BODY, *_ADDRESS) that starts with a capital, has a space and no markup.
_CONTENT_LITERAL = re.compile(
    r"""(?:\b(?:subject|body)\b|["'](?:subject|body)["']|\b\w*_(?:SUBJECT|BODY|ADDRESS)\b)"""
    r"""\s*[:=]\s*(["'])([A-ZÅÄÖ0-9][^"'\\\n{}<>=/;]{11,})\1"""
)


# No test person is born after 2012 (support.world); a twelve-digit date from 2025 on is one of
# the tests' clock times written as YYYYMMDD-HHMM, as print batch folders are named.
_FIRST_CLOCK_YEAR = "25"


def _check_digit_valid(ten: str) -> bool:
    """Luhn over ten digits, computed here rather than taken from the code under test."""
    total = 0
    for position, digit in enumerate(int(character) for character in ten[:9]):
        doubled = digit * (2 - position % 2)
        total += doubled // 10 + doubled % 10
    return (10 - total % 10) % 10 == int(ten[9])


def _is_personal_identity(found: re.Match[str]) -> bool:
    """A person's number: a plausible birth date (or +60 days) and a valid check digit.

    An organisation number (month digits 20 and up, or 16 before a twelve-digit one) is not
    personal data and does not count.
    """
    century = found["century"]
    if century is not None and century not in {"18", "19", "20"}:
        return False
    if century == "20" and found["year"] >= _FIRST_CLOCK_YEAR:
        return False  # a time of the tests' clocks (a print folder's 20261127-1000), no person
    month, day = int(found["month"]), int(found["day"])
    if not 1 <= month <= 12 or not (1 <= day <= 31 or 61 <= day <= 91):
        return False
    return _check_digit_valid(found["year"] + found["month"] + found["day"] + found["serial"])


@dataclasses.dataclass(frozen=True)
class Markers:
    """The tests' own secrets and letter texts, found in the test sources."""

    passwords: frozenset[str]
    contents: frozenset[str]

    @classmethod
    def from_tests(cls, folder: Path = TESTS) -> Markers:
        """The passwords and letter texts the tests under `folder` use."""
        passwords: set[str] = set()
        contents: set[str] = set()
        for path in folder.rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            passwords.update(found[2] for found in _PASSWORD_LITERAL.finditer(source))
            contents.update(
                found[2].strip() for found in _CONTENT_LITERAL.finditer(source) if " " in found[2]
            )
        return cls(frozenset(passwords), frozenset(contents))


@dataclasses.dataclass(frozen=True)
class Leak:
    """One thing found in one text: what it is and where."""

    kind: str
    start: int
    end: int


def leaks_in(text: str, markers: Markers) -> list[Leak]:
    """Every personal identity number, private key, API key, password and letter text."""
    found = [
        Leak("personal identity number", hit.start(), hit.end())
        for hit in _IDENTITY.finditer(text)
        if _is_personal_identity(hit)
    ]
    found += [Leak("private key", hit.start(), hit.end()) for hit in _PRIVATE_KEY.finditer(text)]
    found += [Leak("API key", hit.start(), hit.end()) for hit in _API_KEY.finditer(text)]
    for kind, values in (("password", markers.passwords), ("letter content", markers.contents)):
        for value in values:
            start = text.find(value)
            if start >= 0:
                found.append(Leak(kind, start, start + len(value)))
    return found


def masked_excerpt(text: str, leak: Leak, around: int = 40) -> str:
    """The text around a leak, with the leak itself (and anything else secret) masked."""
    before = text[max(0, leak.start - around) : leak.start]
    after = text[leak.end : leak.end + around]
    return f"{redact(before)}«{leak.kind}»{redact(after)}".replace("\n", "⏎")


# --- the scan --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hit:
    """One leak in one log line."""

    file: str
    logger: str
    test: str
    kind: str
    excerpt: str

    def line(self) -> str:
        """The hit as one line of the report."""
        return f"{self.file}  {self.logger}  ({self.test})  {self.kind}: {self.excerpt}"


@dataclasses.dataclass
class ScanResult:
    """What the scan of one folder found."""

    formatted_lines: int = 0
    raw_lines: int = 0
    formatted_hits: list[Hit] = dataclasses.field(default_factory=list)
    raw_hits: list[Hit] = dataclasses.field(default_factory=list)  # from utskick loggers
    raw_hits_elsewhere: list[Hit] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether the run must fail."""
        return bool(self.formatted_hits or self.raw_hits)


def _texts(value: object) -> Iterator[str]:
    """Every string in a decoded JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _records(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"message": line}  # not JSON: scanned as it stands
            yield record if isinstance(record, dict) else {"message": str(record)}


def _is_ours(logger: str) -> bool:
    return logger == "utskick" or logger.startswith("utskick.")


def scan_folder(folder: Path, markers: Markers) -> ScanResult:
    """Scan every formatted and raw log file in `folder`."""
    result = ScanResult()
    for path in sorted(folder.glob("*.jsonl")):
        formatted = path.name.startswith(FORMATTED)
        for record in _records(path):
            logger, test = str(record.get("logger", "?")), str(record.get("test", "?"))
            if formatted:
                result.formatted_lines += 1
                # Every field production wrote; not the test's id, which the plugin added.
                texts = list(_texts({k: v for k, v in record.items() if k != "test"}))
            else:
                result.raw_lines += 1
                texts = [str(record.get("message", ""))]
            for text in texts:
                for leak in leaks_in(text, markers):
                    hit = Hit(path.name, logger, test, leak.kind, masked_excerpt(text, leak))
                    if formatted:
                        result.formatted_hits.append(hit)
                    elif _is_ours(logger):
                        result.raw_hits.append(hit)
                    else:
                        result.raw_hits_elsewhere.append(hit)
    return result


def report(result: ScanResult, folder: Path, limit: int = 50) -> list[str]:
    """The lines the terminal shows about the scan."""
    summary = (
        f"log scan: {result.formatted_lines} log lines as written, {result.raw_lines} raw "
        f"messages; {len(result.formatted_hits)} leaks in the written logs, "
        f"{len(result.raw_hits)} in Utskick's raw messages, "
        f"{len(result.raw_hits_elsewhere)} in other libraries' raw messages"
    )
    lines = [summary]
    for title, hits in (
        ("in the logs as written (the redaction let these through)", result.formatted_hits),
        ("in Utskick's raw log messages (log the letter id instead)", result.raw_hits),
    ):
        if hits:
            lines.append(f"{len(hits)} leaks {title}:")
            lines += [f"  {hit.line()}" for hit in hits[:limit]]
            if len(hits) > limit:
                lines.append(f"  … and {len(hits) - limit} more")
    if result.failed:
        lines.append(f"the log files are kept in {folder}")
    return lines


# --- capturing the logs ----------------------------------------------------------------------


class _LevelByLogger(logging.Filter):
    """DEBUG and up from Utskick's loggers, INFO and up from everyone else's."""

    def filter(self, record: logging.LogRecord) -> bool:
        least = logging.DEBUG if _is_ours(record.name) else logging.INFO
        return record.levelno >= least


class _CurrentTest(logging.Filter):
    """Stamps the running test's id on a record (a copy: the handler makes one)."""

    def __init__(self, scan: LogScan) -> None:
        super().__init__()
        self.scan = scan

    def filter(self, record: logging.LogRecord) -> bool:
        record.test = self.scan.current_test
        return True


class _RawHandler(logging.Handler):
    """Writes each record's message, unredacted, as one JSON line."""

    def __init__(self, path: Path, scan: LogScan) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan
        self.file = path.open("a", encoding="utf-8", buffering=1)
        self.addFilter(_LevelByLogger())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = {
                "logger": record.name,
                "level": record.levelname,
                "test": self.scan.current_test,
                "message": record.getMessage(),
            }
            self.file.write(json.dumps(line) + "\n")
        except Exception:  # noqa: BLE001 (as logging does: report, never break the test)
            self.handleError(record)

    def setStream(self, stream: IO[str]) -> IO[str]:  # noqa: N802 (as logging.StreamHandler)
        """Write to `stream` from now on; returns the file written so far."""
        with self.lock:  # type: ignore[union-attr]
            written, self.file = self.file, stream
        return written


class LogScan:
    """The plugin in one process: its two handlers, and in the controller the scan."""

    def __init__(self, folder: Path, *, owns_folder: bool) -> None:
        self.folder = folder
        self.owns_folder = owns_folder  # the controller (or the only process) scans
        self.current_test = "(session)"
        self.handlers: list[logging.Handler] = []
        self.result: ScanResult | None = None

    def attach(self, name: str) -> None:
        """Add the two handlers to the root logger, and open the levels they need."""
        stream = (self.folder / f"{FORMATTED}-{name}.jsonl").open(
            "a", encoding="utf-8", buffering=1
        )
        formatted = production_handler(stream, "json")
        formatted.setLevel(logging.DEBUG)
        # Before the redaction: a test's id may hold an identity number too.
        formatted.filters[:0] = [_LevelByLogger(), _CurrentTest(self)]
        self.handlers = [formatted, _RawHandler(self.folder / f"{RAW}-{name}.jsonl", self)]
        root = logging.getLogger()
        for handler in self.handlers:
            root.addHandler(handler)
        # INFO from everyone (not DEBUG: libraries would flood), DEBUG from Utskick, and the
        # chattiest libraries at WARNING, as `configure_logging` has them in production.
        if root.level > logging.INFO:
            root.setLevel(logging.INFO)
        logging.getLogger("utskick").setLevel(logging.DEBUG)
        for library in QUIET_LIBRARIES:
            logging.getLogger(library).setLevel(logging.WARNING)

    def detach(self) -> None:
        """Remove the handlers and close their files (every line is on disk already).

        A thread a test left running may be writing a line just now: the handler's lock
        lets it finish, and anything later goes nowhere instead of into a closed file.
        """
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            assert isinstance(handler, logging.StreamHandler | _RawHandler)
            nowhere = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 (kept open)
            written = handler.setStream(nowhere)
            if written is not None:
                written.close()
        self.handlers = []

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist, in the controller: tell each worker the shared folder."""
        node.workerinput[FOLDER_KEY] = str(self.folder)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Remember which test is running, for the report."""
        self.current_test = nodeid

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """After the last teardown: close the files; in the controller, scan them all."""
        self.detach()
        if not self.owns_folder:
            return  # a worker: the controller scans once every worker has finished
        self.result = scan_folder(self.folder, Markers.from_tests())
        if self.result.failed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Show the scan's outcome under the test summary."""
        if self.result is None:
            return
        failed = self.result.failed
        terminalreporter.write_sep("=", "log scan", red=failed, green=not failed)
        for line in report(self.result, self.folder):
            terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    """Start the scan in this process; a worker writes into the controller's folder."""
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        scan = LogScan(Path(worker_input[FOLDER_KEY]), owns_folder=False)
    else:
        scan = LogScan(Path(tempfile.mkdtemp(prefix="utskick-log-scan-")), owns_folder=True)
    config.pluginmanager.register(scan, "utskick-log-scan")
    scan.attach(os.environ.get("PYTEST_XDIST_WORKER", "main"))
