"""Log lines: text for people, JSON for collectors, the request id, and nothing secret."""

import io
import json
import logging
import sys

import httpx2
import pytest

from utskick.observability.context import request_id_scope
from utskick.observability.logs import (
    CONTINUATION,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    httpx_request_id_hooks,
    printable,
    production_handler,
    redact,
    url_for_logs,
    urls_for_logs,
)

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
API_KEY = "uk_" + "A1b2C3d4" * 5 + "xyz"


def record(message, *args, level=logging.INFO, exc_info=None, **extra):
    made = logging.LogRecord("utskick.test", level, __file__, 1, message, args, exc_info)
    made.__dict__.update(extra)
    return made


def refuse(message):
    raise ValueError(message)


def emitted(handler_format, made):
    """What the production handler writes for one record (never through the root logger)."""
    stream = io.StringIO()
    production_handler(stream, handler_format).handle(made)
    return stream.getvalue()


class TestRedact:
    @pytest.mark.parametrize(
        "written", ["19121212-1212", "191212121212", "121212-1212", "121212+1212", "1212121212"]
    )
    def test_masks_an_identity_number_in_every_written_form(self, written):
        assert redact(f"mottagare {written} saknas") == "mottagare [masked id number] saknas"

    def test_masks_a_samordningsnummer_and_keeps_an_organisation_number(self):
        assert "197001632392" not in redact("id 197001632392")
        # An organisation's number names no person, and operators need it in the log.
        assert redact("org 202100-4748 (162021004748)") == "org 202100-4748 (162021004748)"

    @pytest.mark.parametrize(
        "kept",
        [
            "191212121213",  # wrong check digit
            "12345678901234",  # longer than any identity number
            "5f2c1212121212ab",  # digits inside a hex id
            "2026-12-07 14:03:12",
        ],
    )
    def test_leaves_numbers_that_are_no_identity_number(self, kept):
        assert redact(f"x {kept} y") == f"x {kept} y"

    def test_masks_private_keys_api_keys_tokens_and_passwords(self):
        text = redact(
            f"{PEM} Authorization: Bearer {API_KEY} key={API_KEY} password=hemligt123 "
            "webhook_secret: s3cr3t"
        )
        for secret in ("MIIEvQIB", API_KEY, "hemligt123", "s3cr3t"):
            assert secret not in text
        assert "[masked private key]" in text

    def test_keeps_the_short_key_prefix_shown_in_lists(self):
        assert redact("key uk_A1b2C3d4 revoked") == "key uk_A1b2C3d4 revoked"

    @pytest.mark.parametrize(
        ("written", "shown"),
        [
            (
                "https://utskick:hemligt123@hooks.example/in",
                "https://utskick:[masked]@hooks.example/in",
            ),
            ("sftp://tryck:p@ss@sftp.example:22/ut", "sftp://tryck:[masked]@sftp.example:22/ut"),
            ("HTTP://a:b@[2001:db8::1]:8443/", "HTTP://a:[masked]@[2001:db8::1]:8443/"),
        ],
    )
    def test_masks_the_password_of_a_url(self, written, shown):
        assert redact(f"posted to {written} and failed") == f"posted to {shown} and failed"

    @pytest.mark.parametrize(
        "kept", ["https://hooks.example:8443/in", "https://utskick@hooks.example/in", "a:b@c"]
    )
    def test_leaves_a_url_without_a_password(self, kept):
        assert redact(f"x {kept} y") == f"x {kept} y"


class TestUrlForLogs:
    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            (
                "https://u:pw@hooks.example:8443/in/v1?token=abc#frag",
                "https://hooks.example:8443/in/v1",
            ),
            ("http://127.0.0.1:38707/hooks", "http://127.0.0.1:38707/hooks"),
            ("https://[2001:db8::1]:443/x?sig=1", "https://[2001:db8::1]:443/x"),
            ("https://hooks.example", "https://hooks.example"),
        ],
    )
    def test_shows_scheme_host_port_and_path_only(self, url, shown):
        assert url_for_logs(url) == shown

    def test_text_that_is_no_url_is_shown_redacted(self):
        assert url_for_logs("password=hemligt123") == "password=[masked]"

    def test_every_url_in_an_error_text_is_shown_so(self):
        said = "Connection failed for url 'https://u:pw@hooks.example/in?token=abc'"
        assert urls_for_logs(said) == "Connection failed for url 'https://hooks.example/in'"


class TestPrintable:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("a\r\nb", "a\\r\\nb"),
            ("\x1b]0;x\x07\x1b[2J", "\\x1b]0;x\\x07\\x1b[2J"),
            ("nul\x00 del\x7f csi\x9b tab\t", "nul\\x00 del\\x7f csi\\x9b tab\\t"),
            ("line\u2028sep \u202eevil", "line\\u2028sep \\u202eevil"),
        ],
    )
    def test_writes_control_characters_out_visibly(self, text, shown):
        assert printable(text) == shown

    def test_leaves_ordinary_text_as_it_is(self):
        text = "Brev till Åsa Öberg: 100 % klart, C:\\temp\\ut"
        assert printable(text) == text


class TestProductionHandler:
    def test_json_is_one_object_per_line_with_the_request_id_and_extras(self):
        with request_id_scope("req-42"):
            line = emitted("json", record("letter %s sent", "L1", extra_field=3))
        assert line.endswith("\n")
        assert line.count("\n") == 1
        written = json.loads(line)
        assert written["message"] == "letter L1 sent"
        assert written["request_id"] == "req-42"
        assert written["level"] == "INFO"
        assert written["logger"] == "utskick.test"
        assert written["extra_field"] == 3
        assert written["time"].endswith("+00:00")

    def test_json_masks_the_message_the_extras_and_the_exception(self):
        try:
            refuse("19121212-1212 är inte giltigt")
        except ValueError:
            failure = sys.exc_info()
        made = record(
            "recipient %s", "191212121212", level=logging.ERROR, exc_info=failure,
            who="19121212-1212", headers={"authorization": f"Bearer {API_KEY}"},
        )  # fmt: skip
        line = emitted("json", made)
        assert "1212121212" not in line.replace("-", "")
        assert API_KEY not in line
        written = json.loads(line)
        assert written["message"] == "recipient [masked id number]"
        assert "ValueError: [masked id number] är inte giltigt" in written["exc_info"]

    def test_other_handlers_still_get_the_record_as_logged(self):
        made = record("recipient %s", "191212121212")
        emitted("json", made)
        assert made.getMessage() == "recipient 191212121212"

    def test_text_names_time_level_logger_request_id_and_message(self):
        with request_id_scope("req-7"):
            line = emitted("text", record("letter %s sent", "L1"))
        outside = emitted("text", record("started"))
        assert " INFO    utskick.test [req-7] letter L1 sent" in line
        assert "[-] started" in outside
        assert line[:4].isdigit()
        assert line[10] == " "

    def test_text_is_one_printable_line_whatever_the_message_holds(self):
        forged = "GET /x\r\n2026-12-07 14:03:12.345 INFO    utskick.access [a] GET /admin 200"
        line = emitted("text", record("path %s", forged + "\x1b[2J\x00"))
        assert line.count("\n") == 1
        assert not [c for c in line.rstrip("\n") if ord(c) < 0x20 or ord(c) == 0x7F]
        assert "GET /x\\r\\n2026-12-07" in line

    def test_a_traceback_follows_on_marked_lines_that_cannot_pass_for_records(self):
        try:
            refuse("bad\n2026-12-07 14:03:12.345 ERROR   utskick.access [a] forged")
        except ValueError:
            failure = sys.exc_info()
        line = emitted("text", record("failed", level=logging.ERROR, exc_info=failure))
        first, *rest = line.rstrip("\n").split("\n")
        assert first.endswith("[-] failed")
        assert rest
        assert all(part.startswith(CONTINUATION) for part in rest)
        assert any("ValueError: bad" in part for part in rest)

    def test_an_identity_number_as_request_id_is_masked(self):
        # The request id is checked when it is taken in; the line masks it again regardless.
        as_json = json.loads(emitted("json", record("sent", request_id="19121212-1212")))
        as_text = emitted("text", record("sent", request_id="19121212-1212"))
        assert as_json["request_id"] == "[masked id number]"
        assert "utskick.test [[masked id number]] sent" in as_text
        assert "19121212" not in as_text

    def test_the_text_time_is_local(self):
        made = record("x")
        made.created = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC, summer time in Sweden
        assert TextFormatter().format(made).startswith("2026-05-28 22:26:40.000")
        assert json.loads(JsonFormatter().format(made))["time"].startswith("2026-05-28T20:26:40")


@pytest.fixture
def root_logging():
    """The root logger's handlers and level, put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


class TestConfigureLogging:
    def test_installs_one_handler_however_often_it_is_called(self, root_logging):
        others = [h for h in root_logging.handlers if not getattr(h, "utskick_handler", False)]
        first, second = io.StringIO(), io.StringIO()
        configure_logging(level="WARNING", log_format="json", stream=first)
        configure_logging(level="INFO", log_format="text", stream=second)
        ours = [h for h in root_logging.handlers if getattr(h, "utskick_handler", False)]
        assert len(ours) == 1
        assert [h for h in root_logging.handlers if h not in ours] == others
        assert root_logging.level == logging.INFO
        logging.getLogger("utskick.configured").info("hello")
        assert first.getvalue() == ""
        assert "utskick.configured [-] hello" in second.getvalue()

    @pytest.mark.usefixtures("root_logging")
    def test_chooses_json_when_not_on_a_terminal(self):
        stream = io.StringIO()
        configure_logging(level="INFO", log_format=None, stream=stream)
        logging.getLogger("utskick.configured").warning("hello")
        assert json.loads(stream.getvalue())["message"] == "hello"

    @pytest.mark.usefixtures("root_logging")
    def test_leaves_out_records_below_the_level(self):
        stream = io.StringIO()
        configure_logging(level="WARNING", log_format="json", stream=stream)
        logging.getLogger("utskick.configured").info("not written")
        assert stream.getvalue() == ""


class TestOutgoingCalls:
    def test_a_call_carries_the_current_request_id(self):
        seen = []
        transport = httpx2.MockTransport(
            lambda request: seen.append(request.headers.get("x-request-id")) or httpx2.Response(204)
        )
        with httpx2.Client(transport=transport, event_hooks=httpx_request_id_hooks()) as client:
            with request_id_scope("req-9"):
                client.get("https://far.example/")
            client.get("https://far.example/")
        assert seen == ["req-9", None]
