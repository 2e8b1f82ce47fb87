"""Which print route a letter takes, and when print batches close.

A department listed in `print_local_departments` prints its own letters from a daily
exception list (route `lokal`); every other letter goes to the vendor that names its
department, or else to the first vendor that names none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from utskick.settings import PrintVendor, Settings

LOCAL_ROUTE = "lokal"


@dataclass(frozen=True)
class Route:
    """Where a department's paper letters are printed."""

    name: str
    local: bool
    vendor: PrintVendor | None  # None for local printing


def route_for(department: str | None, settings: Settings) -> Route:
    """The print route of a department's letters."""
    if department and department in settings.print_local_departments:
        return Route(LOCAL_ROUTE, local=True, vendor=None)
    vendors = settings.print_vendors or [PrintVendor()]
    named = next((v for v in vendors if department and department in v.departments), None)
    vendor = named or next((v for v in vendors if not v.departments), vendors[0])
    return Route(vendor.name, local=False, vendor=vendor)


def vendor_named(name: str, settings: Settings) -> PrintVendor | None:
    """The configured vendor with this name."""
    return next((v for v in settings.print_vendors if v.name == name), None)


def next_close(now: dt.datetime, settings: Settings, *, local: bool) -> dt.datetime:
    """The next scheduled close after `now` (exception lists: the first time of each day)."""
    zone = ZoneInfo(settings.print_timezone)
    times = sorted(_parse_time(value) for value in settings.print_close_times) or [dt.time(16)]
    if local:
        times = times[:1]
    local_now = now.astimezone(zone)
    for days in range(2):
        day = local_now.date() + dt.timedelta(days=days)
        for moment in times:
            candidate = dt.datetime.combine(day, moment, tzinfo=zone)
            if candidate > local_now:
                return candidate.astimezone(dt.UTC)
    return (local_now + dt.timedelta(days=1)).astimezone(dt.UTC)  # not reached


def _parse_time(value: str) -> dt.time:
    try:
        hours, minutes = value.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(
            f"stängningstiden {value!r} är ingen klockslag; skriv HH:MM, t.ex. 16:00"
        ) from None
