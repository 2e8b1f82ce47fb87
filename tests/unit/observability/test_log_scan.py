"""The scan of the test run's logs finds what must never be logged, and fails the run for it.

Without these tests a scan that finds nothing would look the same as logs that hold nothing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.log_scan import Markers, scan_folder

TESTS = Path(__file__).resolve().parents[2]
MARKERS = Markers(frozenset({"rätt-lösenord-1"}), frozenset({"Hej! Här kommer beslutet."}))
API_KEY = "uk_" + "Q" * 43


def write_lines(path, *records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def line(message, logger="utskick.letters", **fields):
    return {"logger": logger, "test": "t::x", "message": message, **fields}


class TestScanFolder:
    @pytest.mark.parametrize(
        "written",
        [
            *("19121212-1212", "191212121212", "121212-1212", "121212+1212", "1212121212"),
            *("20120614-3230", "197001632392", "19121212 1212"),  # born 2012, samordningsnummer
        ],
    )
    def test_reports_a_personnummer_in_the_written_logs(self, tmp_path, written):
        write_lines(tmp_path / "formatted-gw0.jsonl", line(f"letter to {written} delivered"))
        result = scan_folder(tmp_path, MARKERS)
        assert result.failed
        [hit] = result.formatted_hits
        assert hit.kind == "personal identity number"
        assert (hit.file, hit.logger, hit.test) == (
            "formatted-gw0.jsonl",
            "utskick.letters",
            "t::x",
        )
        assert written not in hit.excerpt
        assert hit.excerpt.startswith("letter to «personal identity number» delivered")

    def test_reports_one_inside_an_exception_or_an_extra_field(self, tmp_path):
        write_lines(
            tmp_path / "formatted-main.jsonl",
            line("failed", exc_info="ValueError: 198512304166 är okänd"),
            line("ok", recipient="19851230-4166"),
        )
        assert len(scan_folder(tmp_path, MARKERS).formatted_hits) == 2

    def test_reports_keys_passwords_and_letter_content(self, tmp_path):
        write_lines(
            tmp_path / "formatted-main.jsonl",
            line(f"key {API_KEY}"),
            line("-----BEGIN PRIVATE KEY-----\nMIIE"),
            line("login with rätt-lösenord-1"),
            line("body: Hej! Här kommer beslutet."),
        )
        kinds = [hit.kind for hit in scan_folder(tmp_path, MARKERS).formatted_hits]
        assert kinds == ["API key", "private key", "password", "letter content"]

    def test_leaves_organisation_numbers_wrong_check_digits_and_ids(self, tmp_path):
        write_lines(
            tmp_path / "formatted-main.jsonl",
            line("sender 202100-4748 (162021004748), intermediary 2021009903"),
            line("191212121213 refused: check digit"),
            line("request 5f2c19121212121200aa, letter 1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
            line("[masked id number] masked, key prefix uk_A1b2C3d4"),
            # A print batch folder: the tests' clock time, 2026-11-27 10:04 (valid check digit).
            line("print batch handed over to 20261127-1004_tryckeriet_alla_ab12"),
        )
        result = scan_folder(tmp_path, MARKERS)
        assert not result.failed
        assert result.formatted_lines == 5

    def test_a_raw_message_fails_the_run_only_from_an_utskick_logger(self, tmp_path):
        write_lines(
            tmp_path / "raw-gw1.jsonl",
            line("to 19121212-1212"),
            line("GET /records/19121212-1212", logger="httpx"),
        )
        result = scan_folder(tmp_path, MARKERS)
        assert [hit.logger for hit in result.raw_hits] == ["utskick.letters"]
        assert [hit.logger for hit in result.raw_hits_elsewhere] == ["httpx"]
        assert result.failed


class TestMarkers:
    def test_finds_the_tests_passwords_and_letter_texts(self):
        markers = Markers.from_tests(TESTS)
        assert "rätt-lösenord-1" in markers.passwords
        assert {"Beslut om bygglov", "Hej! Här kommer beslutet."} <= markers.contents
        # An error text asserted on is no letter content.
        assert "får ha högst 255 tecken" not in markers.contents


LEAKING_TEST = """
import logging

def test_logs_a_personnummer():
    logging.getLogger("utskick.demo").info("letter to %s", "19121212-1212")
"""
CLEAN_TEST = """
import logging

def test_logs_a_letter_id():
    logging.getLogger("utskick.demo").info("letter %s delivered", "L-1")
"""


def run_inner(tmp_path, source, *options):
    """Run pytest on one test file with the plugin, in a process of its own."""
    (tmp_path / "test_inner.py").write_text(source, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(TESTS), TMPDIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.log_scan", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-q", *options, str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


class TestPlugin:
    def test_a_run_whose_test_passed_fails_for_a_leak_in_its_logs(self, tmp_path):
        inner = run_inner(tmp_path, LEAKING_TEST, "-n", "2")
        assert "1 passed" in inner.stdout, inner.stdout + inner.stderr
        assert inner.returncode == 1
        assert "1 leaks in the logs as written" not in inner.stdout  # the redaction caught it
        assert "1 leaks in Utskick's raw log messages" in inner.stdout
        assert "utskick.demo" in inner.stdout
        assert "test_inner.py::test_logs_a_personnummer" in inner.stdout
        assert "19121212-1212" not in inner.stdout

    def test_a_clean_run_passes_and_says_what_it_scanned(self, tmp_path):
        inner = run_inner(tmp_path, CLEAN_TEST)
        assert inner.returncode == 0, inner.stdout + inner.stderr
        assert "log scan: 1 log lines as written, 1 raw messages; 0 leaks" in inner.stdout
