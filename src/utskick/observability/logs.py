"""Log lines for people and for log collectors, with the request id and without personal data.

`configure_logging` puts one handler on the root logger: text for a person at a terminal
(local time, level, logger, request id, message; control characters written out, so that a
record is one line of printable text), or one JSON object per line for a log collector
(`UTSKICK_LOG_FORMAT=json`). Every line passes `RedactingFilter` first. The call sites
are written not to log identity numbers, letter content, keys or passwords at all (a test
scans the logs of the whole test run); the filter is the second line of defence for what slips
through anyway: an identity number inside an error text from another party, a key or a
password in a URL.

The handler works on a copy of each record, so that other handlers (pytest's log capture,
a library's own) still see what the code logged.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
import sys
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from utskick.observability.context import current_request_id
from utskick.observability.identity_numbers import mask_identity_numbers

TEXT = "text"
JSON = "json"
LOCAL_TIME_ZONE = ZoneInfo("Europe/Stockholm")
NO_REQUEST_ID = "-"

# Libraries that describe every connection or request at INFO: their warnings are enough, and
# a request's line (with its URL) is our own code's to write, without query strings. Alembic
# names its database driver at INFO each time /health reads the schema's revision.
QUIET_LIBRARIES = (
    *("httpx", "httpcore", "httpx2", "httpcore2", "hpack"),
    *("paramiko", "mail.log", "multipart", "alembic"),
)
# The attributes every LogRecord has; any other attribute came in through `extra={...}`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}

# --- what is masked ----------------------------------------------------------------------------

MASKED_PRIVATE_KEY = "[masked private key]"
MASKED = "[masked]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_AUTHORIZATION = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*")
# An Utskick API key (`uk_` and 43 characters); the 11-character prefix shown in lists stays.
_API_KEY = re.compile(r"\buk_[A-Za-z0-9_-]{16,}")
_SECRET_VALUE = re.compile(
    r"(?i)(?<![A-Za-z])(password|passwd|l[öo]senord|secret|api[_-]?key|token)"
    r"(\s*[=:]\s*)(['\"]?)[^\s'\",;&]+"
)
# The password of a URL's userinfo (`scheme://user:password@host`); the user name stays. Greedy
# up to the last @ before the path, as a URL parser reads it, so a raw @ in it hides nothing.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/?#:@]*):[^\s/?#]*@")
# A URL inside a longer text (an error message): up to a space, a quote or an angle bracket.
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")


def redact(text: str) -> str:
    """`text` with identity numbers, private keys, API keys, tokens and passwords masked."""
    text = _PRIVATE_KEY.sub(MASKED_PRIVATE_KEY, text)
    text = _AUTHORIZATION.sub(rf"\1\2{MASKED}", text)
    text = _API_KEY.sub(f"uk_{MASKED}", text)
    text = _SECRET_VALUE.sub(rf"\1\2\3{MASKED}", text)
    text = _URL_PASSWORD.sub(rf"\1:{MASKED}@", text)
    return mask_identity_numbers(text)


def url_for_logs(url: str) -> str:
    """`url` as a log line or an error text may show it: scheme://host[:port]/path.

    The userinfo (user and password) and the query string and fragment (which may hold a
    token) are left out. A text that is no URL with a host is shown redacted.
    """
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:  # an IPv6 host without its closing bracket, say
        return redact(url)
    if not parts.scheme or not parts.netloc:
        return redact(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def urls_for_logs(text: str) -> str:
    """`text` (an error message, say) with every URL in it as `url_for_logs` shows it."""
    return _URL_IN_TEXT.sub(lambda found: url_for_logs(found[0]), text)


def _redacted_value(value: object) -> object:
    """An `extra` value with its text masked; numbers and other scalars as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(key): _redacted_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a log call added with `extra={...}`."""
    return {
        name: value
        for name, value in record.__dict__.items()
        if name not in _STANDARD_ATTRIBUTES and not name.startswith("_")
    }


class RedactingFilter(logging.Filter):
    """Masks identity numbers, private keys, API keys, tokens and passwords in a record.

    It rewrites the record in place (message, exception text, stack, `extra` fields), so it
    belongs on a handler that works on a copy (`RedactingHandler`), not on a logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's texts masked; never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: logging reports that
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in extra_fields(record).items():
            setattr(record, name, _redacted_value(value))
        return True


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that stamps the request id on a copy of each record and masks it."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self.addFilter(RedactingFilter())

    def handle(self, record: logging.LogRecord) -> bool:
        """Emit a masked copy of `record` (the original goes on unchanged to other handlers)."""
        own = copy.copy(record)
        # Stamped here, in the thread that logged: the formatter may run elsewhere.
        own.request_id = getattr(record, "request_id", None) or current_request_id()
        return bool(super().handle(own))


# --- how a line looks --------------------------------------------------------------------------


# What a terminal or a log viewer would act on rather than show: C0 controls (a line break, an
# escape sequence, NUL), DEL, C1 controls (0x9b starts an escape sequence too), the Unicode line
# and paragraph separators, and the bidirectional overrides that reorder what a reader sees.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Every line a text record continues on (a traceback) starts with this, so that no line of it
# can pass for a record of its own.
CONTINUATION = "    | "


def _escaped(found: re.Match[str]) -> str:
    character = found[0]
    named = _NAMED_ESCAPES.get(character)
    if named is not None:
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"  # noqa: PLR2004 (one byte)


def printable(text: str) -> str:
    r"""`text` with its control characters written out visibly (`\r`, `\n`, `\x1b`, …).

    What comes back is one line that a terminal shows as it is: a path or a header cannot
    start a forged log line, move the cursor or clear the screen.
    """
    return _CONTROL_CHARACTER.sub(_escaped, text)


def _request_id_of(record: logging.LogRecord) -> str | None:
    """The record's request id, redacted: the id comes from outside, so it is checked twice."""
    request_id = getattr(record, "request_id", None)
    if not isinstance(request_id, str):
        request_id = current_request_id()
    return redact(request_id) if request_id is not None else None


class TextFormatter(logging.Formatter):
    """`2026-12-07 14:03:12.345 INFO    utskick.access [5f2c…] message`, in local time.

    The line is printable text on one line whatever the message holds (`printable`); an
    exception's traceback follows on lines that each start with `CONTINUATION`.
    """

    def __init__(self, time_zone: dt.tzinfo = LOCAL_TIME_ZONE) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        self.time_zone = time_zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        """The record's time in the installation's time zone, to the millisecond."""
        moment = dt.datetime.fromtimestamp(record.created, self.time_zone)
        if datefmt:
            return moment.strftime(datefmt)
        return moment.isoformat(sep=" ", timespec="milliseconds")[:23]

    def format(self, record: logging.LogRecord) -> str:
        """The line, with `-` for a record outside any request, and the traceback if any."""
        record.request_id = _request_id_of(record) or NO_REQUEST_ID
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = printable(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for detail in (record.exc_text, record.stack_info):
            if detail:
                line += "".join(
                    f"\n{CONTINUATION}{printable(part)}" for part in detail.rstrip("\n").split("\n")
                )
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (non-ASCII escaped, so any collector reads it)."""
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id_of(record),
        }
        for name, value in extra_fields(record).items():
            line.setdefault(name, value)  # an extra never hides one of the fields above
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = record.stack_info
        return json.dumps(line, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of `text` or `json`."""
    if log_format == JSON:
        return JsonFormatter()
    if log_format == TEXT:
        return TextFormatter()
    raise ValueError(f"unknown log format {log_format!r}; use text or json")


def production_handler(stream: IO[str], log_format: str) -> RedactingHandler:
    """The handler `configure_logging` installs: masking, request id, the chosen format."""
    handler = RedactingHandler(stream)
    handler.setFormatter(formatter_for(log_format))
    return handler


def chosen_format(log_format: str | None, stream: IO[str]) -> str:
    """`log_format`, or when None: text on a terminal, JSON otherwise."""
    if log_format is not None:
        return log_format
    is_terminal = getattr(stream, "isatty", None)
    return TEXT if callable(is_terminal) and is_terminal() else JSON


def configure_logging(*, level: str, log_format: str | None, stream: IO[str] | None = None) -> None:
    """Send every log record at `level` or above to `stream` (stderr) through one handler.

    Calling it again replaces the handler it installed before (and nothing else).
    """
    stream = stream if stream is not None else sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "utskick_handler", False):
            root.removeHandler(handler)
            handler.close()
    handler = production_handler(stream, chosen_format(log_format, stream))
    handler.utskick_handler = True  # type: ignore[attr-defined]
    # On the handler too: a logger set lower elsewhere (DEBUG for one area) writes no more.
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


# --- outgoing calls ----------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"


class OutgoingRequest(Protocol):
    """A request as an HTTP client's request hook gets it (httpx and httpx2 alike)."""

    @property
    def headers(self) -> MutableMapping[str, str]:
        """The request's headers, which the hook may add to."""
        ...


def add_request_id_header(request: OutgoingRequest) -> None:
    """An httpx request hook: send the current request id along (unless the caller set one)."""
    request_id = current_request_id()
    if request_id is not None and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def httpx_request_id_hooks() -> dict[str, list[Callable[..., Any]]]:
    """`event_hooks` for an HTTP client (httpx or httpx2) whose requests carry `X-Request-ID`."""
    return {"request": [add_request_id_header]}
