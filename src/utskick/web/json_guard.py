"""JSON objects whose keys repeat are refused, wherever JSON comes in.

`{"recipient": "191212121212", "recipient": "198004232388"}` is valid JSON syntax, but its
meaning depends on the parser: Python's and pydantic's take the last value, others the first
or refuse. A letter whose recipient depends on who reads it must not be accepted, so every JSON
body of the API (`StrictJsonBodies`) and every line of a batch (`loads_strict`) is refused
when any object in it, at any depth, names a key twice.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from utskick.web.limits import replaying

UNREADABLE = "anropets innehåll kan inte läsas; skicka giltig JSON i UTF-8"
TOO_DEEP = (
    "anropets innehåll kan inte läsas: JSON-strukturen är för djupt nästlad; ett brev "
    "behöver bara några nivåer"
)
_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice; `key` is that key."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.message = (
            f'nyckeln "{key}" står två gånger i samma JSON-objekt; ange varje fält en gång'
        )
        super().__init__(self.message)


class NumberText(str):
    """A JSON number kept as it was written (`1e309`, `NaN`), told apart from a JSON string."""

    __slots__ = ()


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen[key] = value
    return seen


def loads_strict(text: str | bytes, *, numbers_as_text: bool = False) -> Any:
    """`json.loads`, refusing any object that names a key twice.

    Args:
        text: the JSON.
        numbers_as_text: keep each number (and NaN, Infinity) as the text it was written as,
            so that no number is too long or too large to read and none is rounded.

    Raises:
        DuplicateKeyError: naming the repeated key.
        ValueError: the text is no JSON (json.JSONDecodeError), not UTF-8, or has a number
            too long to read.
        RecursionError: nested deeper than the parser can follow.
    """
    if numbers_as_text:
        return json.loads(
            text,
            object_pairs_hook=_refuse_repeats,
            parse_int=NumberText,
            parse_float=NumberText,
            parse_constant=NumberText,
        )
    return json.loads(text, object_pairs_hook=_refuse_repeats)


def _is_json(scope: Scope) -> bool:
    r"""Whether the request's body is read as JSON: a JSON media type, or none given.

    The media type is also read the way FastAPI reads it (`email.message`, which strips
    every character `str.strip` does): `application/json\x1c` is JSON to FastAPI, and a
    body it parses must never pass unchecked.
    """
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            if media_type == b"application/json" or media_type.endswith(b"+json"):
                return True
            message = email.message.Message()
            message["content-type"] = value.decode("latin-1")
            subtype = message.get_content_subtype()
            return message.get_content_maintype() == "application" and (
                subtype == "json" or subtype.endswith("+json")
            )
    return True


class StrictJsonBodies:
    """ASGI middleware: 422 for a JSON body with a repeated key, on paths under `prefix`.

    The body is read whole (the size limit in front of this middleware bounds it) and handed
    on unchanged. Bodies that are not JSON at all are left to the endpoint, which says so in
    its own words; only what the endpoint's parser would get wrong or fail on without a word
    (a repeated key, invalid UTF-8, nesting too deep to follow) is answered here.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, exempt: str) -> None:
        self.app = app
        self.prefix = prefix
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body of a JSON request, then pass the request on (or answer)."""
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in _CHECKED_METHODS
            or not path.startswith(self.prefix)
            or path.startswith(self.exempt)
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        refusal = _refusal(body)
        if refusal is not None:
            status, detail, errors = refusal
            await answer_error(send, status, detail, errors)
            return
        await self.app(scope, replaying(body, receive), send)


def _refusal(body: bytes) -> tuple[int, str, list[dict[str, str | None]]] | None:
    if not body.strip():
        return None
    try:
        loads_strict(body, numbers_as_text=True)  # only the keys matter here
    except DuplicateKeyError as error:
        return (
            422,
            f"felaktig indata — {error.message}",
            [{"field": error.key, "message": error.message}],
        )
    except json.JSONDecodeError:
        return None  # the endpoint names the syntax error itself
    except RecursionError:
        return 400, TOO_DEEP, []
    except ValueError:  # not UTF-8
        return 400, UNREADABLE, []
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def answer_error(
    send: Send, status: int, detail: str, errors: list[dict[str, str | None]]
) -> None:
    """Answer the request with a JSON error in the API's error shape (`ErrorResponse`)."""
    body = json.dumps({"detail": detail, "errors": errors}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
