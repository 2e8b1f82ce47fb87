"""Log lines for people and for log collectors, with the request id and without personal data.

`configure_logging` puts one handler on the root logger: text for a person at a terminal
(local time, level, logger, request id, message), or one JSON object per line for a log
collector (`UTSKICK_LOG_FORMAT=json`). Every line passes `RedactingFilter` first. The call sites
are written not to log identity numbers, letter content, keys or passwords at all (a test
scans the logs of the whole test run); the filter is the second line of defence for what slips
through anyway: an identity number inside an error text from another party, a key in a URL.

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
from collections.abc import Callable, Mapping, MutableMapping
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from utskick.observability.context import current_request_id

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

MASKED_IDENTITY = "[masked id number]"
MASKED_PRIVATE_KEY = "[masked private key]"
MASKED = "[masked]"

# A personnummer, samordningsnummer or organisationsnummer: 10 or 12 digits, optionally with
# -, + or a space before the last four, standing alone (not inside a longer number or a hex id).
_IDENTITY_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?P<century>\d{2})?(?P<date>\d{6})[-+ ]?(?P<serial>\d{4})(?![0-9A-Za-z])"
)
# 16 marks an organisation number written with 12 digits; 18, 19 and 20 are centuries.
_TWELVE_DIGIT_PREFIXES = frozenset({"16", "18", "19", "20"})
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


def luhn_valid(ten_digits: str) -> bool:
    """Whether the last of ten digits is the Luhn check digit of the nine before it."""
    total = 0
    for position, character in enumerate(ten_digits[:9]):
        product = int(character) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product  # noqa: PLR2004 (digit sum of 10-18)
    return (10 - total % 10) % 10 == int(ten_digits[9])


def _mask_identity(found: re.Match[str]) -> str:
    century = found["century"]
    if century is not None and century not in _TWELVE_DIGIT_PREFIXES:
        return found[0]  # twelve digits that are no identity number
    return MASKED_IDENTITY if luhn_valid(found["date"] + found["serial"]) else found[0]


def redact(text: str) -> str:
    """`text` with identity numbers, private keys, API keys, tokens and passwords masked."""
    text = _PRIVATE_KEY.sub(MASKED_PRIVATE_KEY, text)
    text = _AUTHORIZATION.sub(rf"\1\2{MASKED}", text)
    text = _API_KEY.sub(f"uk_{MASKED}", text)
    text = _SECRET_VALUE.sub(rf"\1\2\3{MASKED}", text)
    return _IDENTITY_NUMBER.sub(_mask_identity, text)


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


def _request_id_of(record: logging.LogRecord) -> str | None:
    request_id = getattr(record, "request_id", None)
    return request_id if isinstance(request_id, str) else current_request_id()


class TextFormatter(logging.Formatter):
    """`2026-12-07 14:03:12.345 INFO    utskick.access [5f2c…] message`, in local time."""

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
        """The line, with `-` for a record outside any request."""
        record.request_id = _request_id_of(record) or NO_REQUEST_ID
        return super().format(record)


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
