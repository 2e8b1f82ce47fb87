"""The API's event feed: every event of the system's letters, in order, for systems that poll.

`GET /api/v1/events?after=<next>&limit=<n>` is the webhooks' other half: a system that cannot
take webhooks (no address reachable from Utskick, or a batch job that runs at night) asks for
the events after the last one it has seen, each in the same JSON document a webhook carries
(`letters.webhooks.event_document`), and keeps the answer's `next` for its next call.

Events are listed only once they are `settings.event_feed_settle_seconds` old. The cursor is
the event row's id, handed out when the row is inserted; a row is seen when its transaction
commits, and transactions do not commit in the order they inserted. Without the delay a
poller could read event 101 while event 100's transaction is still open, move past it and
never see 100. After the delay every earlier transaction has committed (see
`letters.event_feed`), so a poller that follows `next` sees each event exactly once.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from utskick.intake.api_common import ApiError, System, api_router, sessions_of, settings_of
from utskick.intake.schemas import State
from utskick.letters.event_feed import FeedPage, events_after
from utskick.letters.webhooks import event_document

router = api_router()

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_LARGEST_ID = 2**63 - 1  # the largest id a database column of ids can hold
_CURSOR = re.compile(r"[0-9]{1,19}")
_BAD_CURSOR = (
    "after ska vara värdet av next från ett tidigare svar (ett heltal, högst 19 siffror); "
    "utelämna after för att börja från den första händelsen"
)


class FeedEventOut(BaseModel):
    """One event: the same document a webhook carries."""

    # Forbidden extras: a field the webhook gains must be described here too, or tests fail.
    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description="`letter.` and the state (Standard Webhooks' event type).",
        examples=["letter.delivered"],
    )
    timestamp: str = Field(
        description="When the event happened (RFC 3339, UTC).",
        examples=["2026-12-07T09:15:02.123456Z"],
    )
    event_id: str = Field(description="The event's id; a webhook's `webhook-id` header.")
    letter_id: str
    idempotency_key: str = Field(description="The key the letter was handed over with.")
    state: State
    reason: str | None = Field(description="Reason code of a non-digital outcome.")
    detail: str | None = Field(description="What happened, in Swedish, for a person.")
    channel: str | None = Field(description="The letter's channel (digital, paper, none) now.")
    at: str = Field(description="When the event happened (RFC 3339), as always sent.")
    actor: str = Field(description="Who caused it (`api:<system>`, `worker:<id>`, `cli` …).")
    data: dict[str, object] | None = Field(description="Extra facts: TransId, operator …")


class EventFeedOut(BaseModel):
    """A page of the feed: events oldest first, and where the next page starts."""

    events: list[FeedEventOut]
    next: str = Field(
        description="Send as `after` in the next call; the same value when nothing new came.",
        examples=["1042"],
    )
    more: bool = Field(description="True: more events wait; ask again at once with `next`.")


_DESCRIPTION = (
    "Alla händelser för systemets egna brev, äldsta först, i samma JSON-form som webhookens "
    "innehåll. För system som hämtar i stället för att ta emot webhookar: spara `next` och "
    "skicka det som `after` i nästa anrop; varje händelse kommer då med exakt en gång. En "
    "händelse visas först när den är några sekunder gammal (inställningen "
    "`UTSKICK_EVENT_FEED_SETTLE_SECONDS`, 5 s), så att en transaktion som fortfarande pågår "
    "inte kan lägga en tidigare händelse bakom markören."
)


@router.get(
    "/events",
    tags=["händelser"],
    summary="Händelser att hämta, i ordning",
    description=_DESCRIPTION,
    response_model=EventFeedOut,
)
def event_feed(
    request: Request,
    system: System,
    after: Annotated[
        str | None,
        Query(
            max_length=19,
            description="Värdet av `next` från förra svaret; utelämnas första gången.",
            examples=["1042"],
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Högst så många händelser (1–1000).")
    ] = DEFAULT_LIMIT,
) -> EventFeedOut:
    """The system's events after the cursor, oldest first, once they are settled.

    Only events at least `event_feed_settle_seconds` old are listed, so that an event whose
    transaction commits late cannot land behind a cursor a poller already holds (see the
    module text). `next` is the last listed event's id, or `after` again when none was.
    """
    cursor = _cursor(after)
    settle = dt.timedelta(seconds=settings_of(request).event_feed_settle_seconds)
    settled_by = dt.datetime.now(dt.UTC) - settle
    with sessions_of(request)() as session:
        page = events_after(session, system.id, after=cursor, limit=limit, settled_by=settled_by)
        return _feed_out(page, cursor)


def _cursor(after: str | None) -> int:
    """The event id after which to list; 422 for anything that is not one."""
    if after is None:
        return 0
    if not _CURSOR.fullmatch(after) or int(after) > _LARGEST_ID:
        raise ApiError(422, _BAD_CURSOR, field="after")
    return int(after)


def _feed_out(page: FeedPage, cursor: int) -> EventFeedOut:
    events = [
        FeedEventOut.model_validate(
            event_document(
                entry.event, idempotency_key=entry.idempotency_key, channel=entry.channel
            )
        )
        for entry in page.entries
    ]
    last = page.entries[-1].event.id if page.entries else cursor
    return EventFeedOut(events=events, next=str(last), more=page.more)
