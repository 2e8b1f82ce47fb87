"""A mailbox operator's Service v3 over HTTPS with mutual TLS: `POST /service/v3`.

The HTTP layer only reads the request (at most 2 MB are kept; more is drained and refused),
takes the caller's certificate off the TLS connection and hands both to `MailboxOperator` in
a worker thread, since verifying and storing block. Answers are SOAP 1.1 with
`text/xml; charset=utf-8`; refusals are SOAP faults with HTTP 500. `GET /service/v3?wsdl`
serves the contract's Service.wsdl with this operator's address. While the app runs, a
background task sends the daily and weekly notice digests and retries failed notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from utskick.mm.schemas import SCHEMA_DIR
from utskick.mm.soap import MAX_MESSAGE_BYTES, SOAP_CONTENT_TYPE, SoapFault, fault_response
from utskick.reference.context import ReferenceContext
from utskick.reference.mailbox.notices import Notices
from utskick.reference.mailbox.operator import MailboxOperator
from utskick.reference.mailbox.storage import MessageStore
from utskick.reference.store import utc_now
from utskick.reference.tls import client_certificate
from utskick.reference.world import Organisation

logger = logging.getLogger(__name__)

DIGEST_INTERVAL_SECONDS = 60.0
# Beyond this the connection is not worth draining: the sender gets its 5005 either way.
_DRAIN_LIMIT_BYTES = 8 * MAX_MESSAGE_BYTES
_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


def create_operator_service_app(
    context: ReferenceContext,
    operator: Organisation,
    clock: Callable[[], dt.datetime] | None = None,
    *,
    digest_interval_seconds: float = DIGEST_INTERVAL_SECONDS,
) -> FastAPI:
    """The Service v3 app of one mailbox operator (`deliverSecure`, `notify`).

    Args:
        context: the reference context.
        operator: the mailbox operator this app speaks for.
        clock: the time at which signing certificates must be valid; default now.
        digest_interval_seconds: how often due digests and failed notices are sent.
    """
    key = operator.operator_key or ""
    store = MessageStore(context.sessions, operator.number, context.storage_keys[key])
    notices = Notices(context, operator, store)
    mailbox_operator = MailboxOperator(
        context, operator, clock=clock or utc_now, store=store, notices=notices
    )
    service_url = context.endpoints.operators[key].service_url

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(
            _send_digests_periodically(notices, operator, digest_interval_seconds)
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(notices.close)

    app = FastAPI(
        title=f"{operator.name}: Service v3",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # How many calls failed on purpose, by kind (tests read it).
    app.state.injected_failures = Counter()
    settings = context.settings
    if settings.failure_rate > 0:
        app.add_middleware(
            FailureInjection,
            rate=settings.failure_rate,
            delay_seconds=settings.failure_delay_seconds,
            counts=app.state.injected_failures,
        )

    @app.post("/service/v3")
    async def service(request: Request) -> Response:
        """Answer deliverSecure or notify; a refusal is a SOAP fault with HTTP 500."""
        body = await _read_limited(request)
        caller = client_certificate(request)
        try:
            answer = await run_in_threadpool(mailbox_operator.handle, body, caller)
        except SoapFault as fault:
            return _soap(fault_response(fault), status_code=500)
        return _soap(answer)

    @app.get("/service/v3")
    async def wsdl(request: Request) -> Response:
        """The contract's Service.wsdl with this operator's address, at `?wsdl`."""
        if "wsdl" not in {name.lower() for name in request.query_params}:
            return Response(
                "Service v3 tar emot SOAP-anrop med POST. Tjänstebeskrivningen finns på ?wsdl.",
                status_code=405,
                headers={"Allow": "POST"},
                media_type="text/plain; charset=utf-8",
            )
        document = _service_wsdl(service_url)
        if document is None:
            return Response(
                "Tjänstebeskrivningen (Service.wsdl) finns inte i den här installationen.",
                status_code=404,
                media_type="text/plain; charset=utf-8",
            )
        return _soap(document)

    return app


# --- failure injection ---------------------------------------------------------------------

ANSWER_500 = "answer_500"  # HTTP 500 without a SOAP fault; nothing stored
ANSWER_LATE = "answer_late"  # store, but answer after the caller has stopped waiting
DROP_CONNECTION = "drop_connection"  # close the connection in the middle of the answer
STORE_THEN_500 = "store_then_500"  # store, then answer HTTP 500 instead of the result
STORE_THEN_DROP = "store_then_drop"  # store, then close the connection instead of answering
FAILURE_KINDS = (ANSWER_500, ANSWER_LATE, DROP_CONNECTION, STORE_THEN_500, STORE_THEN_DROP)


class FailureInjection:
    """ASGI middleware that fails a share of Service v3 calls the way real networks do.

    For the connector's tests: a sender must retry each of these with the same message Id,
    and the operator, which stores a repeat once and answers it with the first TransId, must
    end up holding every letter exactly once. Only `POST /service/v3` is affected.
    """

    def __init__(
        self,
        app: Any,
        *,
        rate: float,
        delay_seconds: float,
        counts: Counter[str],
        kinds: Sequence[str] = FAILURE_KINDS,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.rate = rate
        self.delay_seconds = delay_seconds
        self.counts = counts
        self.kinds = tuple(kinds)
        self.rng = rng or random.Random()  # noqa: S311 (test noise, not security)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the call through, or fail it in one of the FAILURE_KINDS."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != "/service/v3"
            or self.rng.random() >= self.rate
        ):
            await self.app(scope, receive, send)
            return
        kind = self.rng.choice(self.kinds)
        self.counts[kind] += 1
        body = await _read_all(receive)
        replay = _replaying(body)
        if kind == ANSWER_500:
            await _plain_500(send)
        elif kind == DROP_CONNECTION:
            await _start_and_drop(send)
        elif kind == ANSWER_LATE:
            await asyncio.sleep(self.delay_seconds)
            await self.app(scope, replay, send)
        else:
            await self.app(scope, replay, _discard)
            if kind == STORE_THEN_500:
                await _plain_500(send)
            else:
                await _start_and_drop(send)


async def _read_all(receive: Any) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


def _replaying(body: bytes) -> Callable[[], Any]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            # The app asks again only to learn of a disconnect; wait like a quiet client.
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _discard(_message: Any) -> None:
    return None


async def _plain_500(send: Any) -> None:
    text = "Tillfälligt fel (avsiktligt, för test av omförsök).".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text, "more_body": False})


async def _start_and_drop(send: Any) -> None:
    """Send the status line and headers, then nothing: the server closes the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", SOAP_CONTENT_TYPE.encode()),
                (b"content-length", b"4096"),
            ],
        }
    )


async def _read_limited(request: Request) -> bytes:
    """The request body, keeping at most one byte more than the 2 MB limit.

    The rest is read and dropped (up to a bound) so that the sender still gets its 5005
    fault instead of a broken connection; the operator refuses on the length alone.
    """
    kept = bytearray()
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if len(kept) <= MAX_MESSAGE_BYTES:
            kept += chunk[: MAX_MESSAGE_BYTES + 1 - len(kept)]
        if seen > _DRAIN_LIMIT_BYTES:
            break
    return bytes(kept)


def _soap(document: bytes, status_code: int = 200) -> Response:
    return Response(document, status_code=status_code, headers={"Content-Type": SOAP_CONTENT_TYPE})


@cache
def _service_wsdl(service_url: str) -> bytes | None:
    """Service.wsdl from the package's contract files, pointing at this operator."""
    path = SCHEMA_DIR / "Service.wsdl"
    if not path.exists():
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(path), parser).getroot()
    for address in root.iter(f"{{{_WSDL_SOAP}}}address"):
        address.set("location", service_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def _send_digests_periodically(
    notices: Notices, operator: Organisation, interval_seconds: float
) -> None:
    """Every interval: the digests that are due, and the notices that failed before."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await run_in_threadpool(notices.send_due_digests, utc_now())
        except Exception:
            # A bad run must not end the loop; the next one tries again.
            logger.exception("%s: sending notice digests failed", operator.name)
