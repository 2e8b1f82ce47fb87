"""Benefit realised: what the letters the system handled became, and what that saved (R12).

Per Stockholm month, department, sender organisation and message type the letters are counted
by outcome: digital (delivered), paper (handed to a print vendor or printed locally),
impossible (by reason), not reachable, failed, cancelled and still in progress. Delivery times
(median and 90th percentile) are read from the letter's acceptance to its `delivered`,
`handed_to_print` or `printed` event, for digital and paper apart. The saving realised is
digital letters × (paper cost − digital cost); the working time saved is digital letters ×
minutes / 60, valued at the hourly cost. Next to the actuals stands the plan: the benefit
model's moved mailings of the model year a month falls in, spread evenly over its twelve months.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from utskick.benefit.model import (
    BenefitInputs,
    InvalidInputsError,
    View,
    compute,
    inputs_with,
    parse_assignments,
    rounded,
)
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.letters.vocabulary import (
    CANCELLED,
    DELIVERED,
    FAILED,
    HANDED_TO_PRINT,
    IMPOSSIBLE,
    IMPOSSIBLE_REASONS,
    NOT_REACHABLE,
    PRINTED,
)
from utskick.settings import Settings
from utskick.statistics.repository import (
    MONTHS_PER_YEAR,
    STOCKHOLM,
    LetterScope,
    Month,
    StatisticsRepository,
    months_between,
)

DEFAULT_MONTHS = 12
MAX_MONTHS = 120
MINUTES_PER_HOUR = Decimal(60)
SECONDS_PER_HOUR = 3600.0

DIGITAL_STATES = frozenset({DELIVERED})
PAPER_STATES = frozenset({HANDED_TO_PRINT, PRINTED})
# Paper impossible for a reason not among IMPOSSIBLE_REASONS (they have Swedish names).
OTHER_REASON = "other"
OTHER_REASON_NAME = "annat skäl"
NO_DEPARTMENT = "(ingen förvaltning)"
NO_MESSAGE_TYPE = "(ingen meddelandetyp)"


class StatisticsFilterError(ValueError):
    """A filter that cannot be used; the message says in Swedish what to write instead."""


# --- the counts ------------------------------------------------------------------------------


@dataclass
class OutcomeCounts:
    """Letters by outcome. Every state not named here counts as still in progress."""

    digital: int = 0
    paper: int = 0
    impossible: dict[str, int] = field(default_factory=dict)
    not_reachable: int = 0
    failed: int = 0
    cancelled: int = 0
    in_progress: int = 0

    def add(self, state: str, reason: str | None, letters: int) -> None:
        """Count `letters` letters in `state` (with `reason`)."""
        if state in DIGITAL_STATES:
            self.digital += letters
        elif state in PAPER_STATES:
            self.paper += letters
        elif state == IMPOSSIBLE:
            key = reason if reason in IMPOSSIBLE_REASONS else OTHER_REASON
            self.impossible[key] = self.impossible.get(key, 0) + letters
        elif state == NOT_REACHABLE:
            self.not_reachable += letters
        elif state == FAILED:
            self.failed += letters
        elif state == CANCELLED:
            self.cancelled += letters
        else:
            self.in_progress += letters

    @property
    def impossible_total(self) -> int:
        """Letters for which paper was impossible, whatever the reason."""
        return sum(self.impossible.values())

    @property
    def total(self) -> int:
        """Every letter counted."""
        return (
            self.digital
            + self.paper
            + self.impossible_total
            + self.not_reachable
            + self.failed
            + self.cancelled
            + self.in_progress
        )


@dataclass(frozen=True)
class TimeSummary:
    """Delivery times of a group of letters, in seconds (None when there are none)."""

    letters: int
    median_seconds: float | None
    p90_seconds: float | None


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """The value below which `share` of the sorted values lie, linearly interpolated.

    With n values the position is (n − 1) × share, counted from 0: the median of 1, 2, 3, 10
    is 2.5, and their 90th percentile is 3 + 0.7 × (10 − 3) = 7.9. None for no values.
    """
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    below = int(position)
    if below + 1 >= len(ordered):
        return ordered[-1]
    return ordered[below] + (position - below) * (ordered[below + 1] - ordered[below])


def summarise_times(seconds: Iterable[float]) -> TimeSummary:
    """Median and 90th percentile of delivery times."""
    ordered = sorted(seconds)
    return TimeSummary(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


@dataclass(frozen=True)
class BenefitPrices:
    """The municipality's prices and minutes, from the settings."""

    paper_cost: Decimal
    digital_cost: Decimal
    minutes_per_letter: Decimal
    hourly_cost: Decimal

    @classmethod
    def from_settings(cls, settings: Settings) -> BenefitPrices:
        """The prices configured for this installation."""
        return cls(
            paper_cost=settings.benefit_paper_cost_kr,
            digital_cost=settings.benefit_digital_cost_kr,
            minutes_per_letter=settings.benefit_minutes_per_letter,
            hourly_cost=settings.benefit_hourly_cost_kr,
        )

    def saving(self, digital_letters: Decimal | int) -> Decimal:
        """Kronor saved on postage and material by letters that went digitally."""
        return Decimal(digital_letters) * (self.paper_cost - self.digital_cost)

    def hours_saved(self, digital_letters: Decimal | int) -> Decimal:
        """Officer hours saved by letters that went digitally."""
        return Decimal(digital_letters) * self.minutes_per_letter / MINUTES_PER_HOUR

    def time_value(self, digital_letters: Decimal | int) -> Decimal:
        """The hours saved in kronor."""
        return self.hours_saved(digital_letters) * self.hourly_cost


@dataclass(frozen=True)
class Figures:
    """The outcome of a group of letters: counts, delivery times and the benefit realised."""

    counts: OutcomeCounts
    digital_times: TimeSummary
    paper_times: TimeSummary
    saving: Decimal
    hours_saved: Decimal
    time_value: Decimal


@dataclass
class _Group:
    """Counts and times collected for one group before they are summarised."""

    counts: OutcomeCounts = field(default_factory=OutcomeCounts)
    digital_seconds: list[float] = field(default_factory=list)
    paper_seconds: list[float] = field(default_factory=list)

    def figures(self, prices: BenefitPrices) -> Figures:
        digital = self.counts.digital
        return Figures(
            counts=self.counts,
            digital_times=summarise_times(self.digital_seconds),
            paper_times=summarise_times(self.paper_seconds),
            saving=prices.saving(digital),
            hours_saved=prices.hours_saved(digital),
            time_value=prices.time_value(digital),
        )


@dataclass(frozen=True)
class Row:
    """One month, department, sender organisation and message type."""

    month: str
    department: str | None
    sender_number: str
    sender_name: str
    message_type: str | None
    message_type_name: str | None
    figures: Figures


@dataclass(frozen=True)
class PlanMonth:
    """The plan for one month: a twelfth of its model year's moved mailings and their saving."""

    model_year: int
    moved_mailings: Decimal
    saving: Decimal


@dataclass(frozen=True)
class MonthFigures:
    """All letters in scope of one month, with the plan for it (None outside the plan's years)."""

    month: str
    figures: Figures
    plan: PlanMonth | None


@dataclass(frozen=True)
class StatisticsReport:
    """The statistics for a scope: rows, months, the total and the plan next to them."""

    scope: LetterScope
    prices: BenefitPrices
    rows: list[Row]
    months: list[MonthFigures]
    total: Figures
    plan_first_year: int
    plan_error: str | None


# --- the plan --------------------------------------------------------------------------------


def plan_inputs(settings: Settings) -> BenefitInputs:
    """The benefit model's inputs for the plan.

    The settings' prices and minutes, then the municipality's own inputs
    (`UTSKICK_BENEFIT_PLAN_INPUTS`), over the example municipality's values.

    Raises:
        InvalidInputsError: a plan input is unknown or out of range.
    """
    base = dataclasses.replace(
        BenefitInputs(),
        paper_cost=settings.benefit_paper_cost_kr,
        digital_cost=settings.benefit_digital_cost_kr,
        minutes_saved=settings.benefit_minutes_per_letter,
        hourly_cost=settings.benefit_hourly_cost_kr,
    )
    return inputs_with(parse_assignments(settings.benefit_plan_inputs), base)


def monthly_plan(
    inputs: BenefitInputs, first_year: int, months: Sequence[Month], prices: BenefitPrices
) -> dict[str, PlanMonth]:
    """The plan for each month that falls within the model's years.

    Calendar year `first_year` is model year 1.
    """
    years = compute(inputs).views[View.MAILING_COST].years
    plan = {}
    for month in months:
        model_year = month.year - first_year + 1
        if 1 <= model_year <= len(years):
            moved = years[model_year - 1].moved_mailings / MONTHS_PER_YEAR
            plan[str(month)] = PlanMonth(model_year, moved, prices.saving(moved))
    return plan


# --- filters ---------------------------------------------------------------------------------


def current_month(now: dt.datetime | None = None) -> Month:
    """The Stockholm month of `now` (default: the present)."""
    return Month.of(now or dt.datetime.now(dt.UTC))


def scope_from_filters(
    *,
    first_month: str | None,
    last_month: str | None,
    department: str | None,
    sender: str | None,
    message_type: str | None,
    today: Month,
) -> LetterScope:
    """The scope a filter form or query asks for; empty fields mean "all".

    The period defaults to the twelve months up to `today`'s month.

    Raises:
        StatisticsFilterError: a field cannot be read; nothing is computed.
    """
    try:
        last = Month.parse(last_month) if last_month else today
        first = Month.parse(first_month) if first_month else last.minus(DEFAULT_MONTHS - 1)
    except ValueError as error:
        raise StatisticsFilterError(str(error)) from None
    if first > last:
        raise StatisticsFilterError(
            f"perioden börjar ({first}) efter att den slutar ({last}); byt plats på månaderna"
        )
    if len(months_between(first, last)) > MAX_MONTHS:
        raise StatisticsFilterError(
            f"perioden får vara högst {MAX_MONTHS} månader; välj en kortare period"
        )
    sender_number = None
    if sender:
        try:
            sender_number = parse_organisation(sender).organisation_number
        except InvalidIdentityError as error:
            raise StatisticsFilterError(f"avsändaren: {error}") from None
    return LetterScope(
        first_month=first,
        last_month=last,
        department=department or None,
        sender_number=sender_number,
        message_type=message_type or None,
    )


# --- the report ------------------------------------------------------------------------------


def build_report(session: Session, scope: LetterScope, settings: Settings) -> StatisticsReport:
    """Count the letters in scope, summarise their times and savings, and set the plan beside."""
    repository = StatisticsRepository(session)
    prices = BenefitPrices.from_settings(settings)
    rows: dict[tuple[str, str | None, str, str | None], _Group] = {}
    months = {str(month): _Group() for month in months_between(scope.first_month, scope.last_month)}
    total = _Group()
    for count in repository.outcome_counts(scope):
        key = (count.month, count.department, count.sender_number, count.message_type)
        for group in (rows.setdefault(key, _Group()), months[count.month], total):
            group.counts.add(count.state, count.reason, count.letters)
    for time in repository.delivery_times(scope):
        key = (time.month, time.department, time.sender_number, time.message_type)
        seconds = max(0.0, (time.delivered_at - time.created_at).total_seconds())
        for group in (rows[key], months[time.month], total):
            target = group.digital_seconds if time.state in DIGITAL_STATES else group.paper_seconds
            target.append(seconds)

    first_letter = repository.first_letter_at()
    first_year = settings.benefit_plan_first_year or (
        first_letter.astimezone(STOCKHOLM).year if first_letter else scope.last_month.year
    )
    plan: dict[str, PlanMonth] = {}
    plan_error = None
    try:
        plan = monthly_plan(
            plan_inputs(settings),
            first_year,
            months_between(scope.first_month, scope.last_month),
            prices,
        )
    except InvalidInputsError as error:
        plan_error = f"planen kan inte beräknas (UTSKICK_BENEFIT_PLAN_INPUTS): {error}"

    senders = repository.sender_names()
    types = repository.message_type_names()
    return StatisticsReport(
        scope=scope,
        prices=prices,
        rows=[
            Row(
                month=month,
                department=department,
                sender_number=sender,
                sender_name=senders.get(sender, sender),
                message_type=message_type,
                message_type_name=types.get(message_type) if message_type else None,
                figures=group.figures(prices),
            )
            for (month, department, sender, message_type), group in sorted(
                rows.items(), key=lambda item: tuple(part or "" for part in item[0])
            )
        ],
        months=[
            MonthFigures(month, group.figures(prices), plan.get(month))
            for month, group in months.items()
        ],
        total=total.figures(prices),
        plan_first_year=first_year,
        plan_error=plan_error,
    )


# --- export ----------------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """A delivery time for people: `45 s`, `12 min`, `3,5 h`, `2,0 dygn`, or `–`."""
    if seconds is None:
        return "–"
    if seconds < 60:  # noqa: PLR2004 (seconds in a minute)
        return f"{seconds:.0f} s"
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 24 * SECONDS_PER_HOUR:
        return f"{seconds / SECONDS_PER_HOUR:.1f} h".replace(".", ",")
    return f"{seconds / (24 * SECONDS_PER_HOUR):.1f} dygn".replace(".", ",")


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _money(value: Decimal) -> float:
    return float(rounded(value))


def figures_to_json(figures: Figures) -> dict[str, Any]:
    """Counts, times (seconds) and benefit (kr, hours) as JSON-ready data."""
    counts = figures.counts
    return {
        "letters": counts.total,
        "digital": counts.digital,
        "paper": counts.paper,
        "impossible": counts.impossible_total,
        "impossible_by_reason": dict(sorted(counts.impossible.items())),
        "not_reachable": counts.not_reachable,
        "failed": counts.failed,
        "cancelled": counts.cancelled,
        "in_progress": counts.in_progress,
        "delivery_seconds": {
            "digital": {
                "median": _seconds(figures.digital_times.median_seconds),
                "p90": _seconds(figures.digital_times.p90_seconds),
            },
            "paper": {
                "median": _seconds(figures.paper_times.median_seconds),
                "p90": _seconds(figures.paper_times.p90_seconds),
            },
        },
        "saving_kr": _money(figures.saving),
        "hours_saved": _money(figures.hours_saved),
        "time_value_kr": _money(figures.time_value),
    }


def to_json(report: StatisticsReport) -> dict[str, Any]:
    """The report as JSON-ready data: filters, prices, total, months (with plan) and rows."""
    scope = report.scope
    return {
        "filters": {
            "from": str(scope.first_month),
            "to": str(scope.last_month),
            "department": scope.department,
            "sender": scope.sender_number,
            "message_type": scope.message_type,
        },
        "prices": {
            "paper_cost_kr": _money(report.prices.paper_cost),
            "digital_cost_kr": _money(report.prices.digital_cost),
            "minutes_per_letter": _money(report.prices.minutes_per_letter),
            "hourly_cost_kr": _money(report.prices.hourly_cost),
        },
        "plan_first_year": report.plan_first_year,
        "plan_error": report.plan_error,
        "total": figures_to_json(report.total),
        "months": [
            {
                "month": month.month,
                **figures_to_json(month.figures),
                "plan": None
                if month.plan is None
                else {
                    "model_year": month.plan.model_year,
                    "moved_mailings": _money(month.plan.moved_mailings),
                    "saving_kr": _money(month.plan.saving),
                },
            }
            for month in report.months
        ],
        "rows": [
            {
                "month": row.month,
                "department": row.department,
                "sender": row.sender_number,
                "sender_name": row.sender_name,
                "message_type": row.message_type,
                **figures_to_json(row.figures),
            }
            for row in report.rows
        ],
    }


CSV_HEADER = (
    "månad",
    "förvaltning",
    "avsändare",
    "organisationsnummer",
    "meddelandetyp",
    "brev",
    "digitalt",
    "papper",
    "omöjligt",
    *(f"omöjligt: {name}" for name in IMPOSSIBLE_REASONS.values()),
    f"omöjligt: {OTHER_REASON_NAME}",
    "inte nåbar",
    "misslyckade",
    "makulerade",
    "pågår",
    "leveranstid digitalt median (s)",
    "leveranstid digitalt 90:e percentil (s)",
    "leveranstid papper median (s)",
    "leveranstid papper 90:e percentil (s)",
    "besparing (kr)",
    "sparad tid (h)",
    "sparad tid (kr)",
)


def _swedish_number(value: Decimal | float | None) -> str:
    """A number as Swedish Excel reads it: decimal comma, no thousands separator."""
    if value is None:
        return ""
    return (
        f"{value:.2f}".replace(".", ",")
        if isinstance(value, Decimal)
        else (f"{value:.1f}".replace(".", ","))
    )


def to_csv(report: StatisticsReport) -> str:
    """One line per month, department, sender and message type, for a spreadsheet.

    Semicolons between fields and decimal commas, as a Swedish spreadsheet expects; the text
    starts with a byte order mark so that the letters å, ä and ö are read as UTF-8.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        figures = row.figures
        counts = figures.counts
        writer.writerow(
            (
                row.month,
                row.department or NO_DEPARTMENT,
                row.sender_name,
                row.sender_number,
                row.message_type_name or row.message_type or NO_MESSAGE_TYPE,
                counts.total,
                counts.digital,
                counts.paper,
                counts.impossible_total,
                *(counts.impossible.get(reason, 0) for reason in IMPOSSIBLE_REASONS),
                counts.impossible.get(OTHER_REASON, 0),
                counts.not_reachable,
                counts.failed,
                counts.cancelled,
                counts.in_progress,
                _swedish_number(figures.digital_times.median_seconds),
                _swedish_number(figures.digital_times.p90_seconds),
                _swedish_number(figures.paper_times.median_seconds),
                _swedish_number(figures.paper_times.p90_seconds),
                _swedish_number(rounded(figures.saving)),
                _swedish_number(rounded(figures.hours_saved)),
                _swedish_number(rounded(figures.time_value)),
            )
        )
    return "\ufeff" + buffer.getvalue()
