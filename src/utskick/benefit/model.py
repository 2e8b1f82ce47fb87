"""The pre-study's simplified benefit model: inputs, the year-by-year computation and its totals.

The stable API, used by the calculator and by the statistics that put plan next to actuals:

- `BenefitInputs`: every input of the model, the example municipality's values as defaults.
- `compute(inputs) -> BenefitResult`: per view (`View`), the year rows and the totals.
- `inputs_with(overrides)`: inputs from `name=value` text (CLI, web form, API), checked, with
  Swedish errors (`InvalidInputsError`) naming each input that is wrong.
- `to_json(result)`: the result as JSON-ready data (inputs used, views, years, totals).

All money is `Decimal` kronor and all shares are `Decimal` fractions (0.10 is 10 %); nothing is
rounded until it is shown or serialised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

ZERO = Decimal(0)
ONE = Decimal(1)
MINUTES_PER_HOUR = Decimal(60)
MAX_YEARS = 50
MAX_INPUT_LENGTH = 40

InputKind = Literal["integer", "number", "share", "money"]


class View(StrEnum):
    """The pre-study's three views of the benefit: A, A + B and A + C."""

    MAILING_COST = "mailing_cost"
    WITH_PROCESS_IMPROVEMENT = "with_process_improvement"
    WITH_SECURITY = "with_security"

    @property
    def label(self) -> str:
        """The view's Swedish name, as the pre-study puts it."""
        return VIEW_LABELS[self]


VIEW_LABELS = {
    View.MAILING_COST: "A. Utskickskostnad",
    View.WITH_PROCESS_IMPROVEMENT: "A + B. Med processförbättring",
    View.WITH_SECURITY: "A + C. Med säkerhetsvärde",
}


@dataclass(frozen=True)
class BenefitInputs:
    """Every input of the model; the defaults are the pre-study's example municipality.

    Attributes:
        inhabitants: Inhabitants of the municipality.
        mailings_per_inhabitant: Mailings per inhabitant and year.
        decision_share: Share of the mailings that are decisions (myndighetsbeslut).
        preceding_mailings: Other mailings preceding each decision (a form, a meeting notice).
        connectable_processes: Processes that can be connected.
        processes_connected_first: Processes connected in year 1.
        processes_connected_last: Processes connected in the last year (linear in between).
        usage_first: Usage of the digital channel within a connected process, year 1.
        usage_last: The same in the last year (linear in between).
        years: The investment period in years.
        discount_rate: The discount rate (kalkylränta) for the net present value.
        paper_cost: Paper cost per mailing, material and postage, kr.
        digital_cost: Digital cost per mailing, kr (a running cost).
        investment: The investment, all of it in year 1, kr.
        running_cost: Fixed running cost per year (operation and maintenance), kr.
        minutes_saved: Officer time saved per mailing moved to digital, minutes.
        hourly_cost: Cost of an hour of officer time, kr (the pre-study gives none: an assumption).
        security_value: Value of secure delivery per decision moved to digital, kr (the price
            of a registered letter).
    """

    inhabitants: int = 100_000
    mailings_per_inhabitant: Decimal = Decimal(5)
    decision_share: Decimal = Decimal("0.10")
    preceding_mailings: Decimal = Decimal(1)
    connectable_processes: int = 50
    processes_connected_first: Decimal = Decimal(2)
    processes_connected_last: Decimal = Decimal(35)
    usage_first: Decimal = Decimal("0.25")
    usage_last: Decimal = Decimal("0.85")
    years: int = 5
    discount_rate: Decimal = Decimal("0.08")
    paper_cost: Decimal = Decimal("7.00")
    digital_cost: Decimal = Decimal("1.50")
    investment: Decimal = Decimal(307_715)
    running_cost: Decimal = Decimal(30_507)
    minutes_saved: Decimal = Decimal(10)
    hourly_cost: Decimal = Decimal(350)
    security_value: Decimal = Decimal(60)


@dataclass(frozen=True)
class InputSpec:
    """What an input is: its name, its Swedish label, its kind and its least and greatest value."""

    name: str
    label: str
    kind: InputKind
    minimum: Decimal = ZERO
    maximum: Decimal | None = None

    @property
    def title(self) -> str:
        """The label with a capital letter, for headings and form fields."""
        return self.label[:1].upper() + self.label[1:]


# Upper bounds far above any municipality's plan (Sweden has about 10.5 million inhabitants),
# low enough that every sum stays exact in Decimal and no input can make the model slow.
_MAX_COUNT = Decimal(100_000_000)
_MAX_PER_UNIT = Decimal(100_000)
_MAX_PROCESSES = Decimal(100_000)
_MAX_AMOUNT = Decimal(1_000_000_000_000)  # kr
INPUT_SPECS: tuple[InputSpec, ...] = (
    InputSpec("inhabitants", "invånare", "integer", maximum=_MAX_COUNT),
    InputSpec(
        "mailings_per_inhabitant", "utskick per invånare och år", "number", maximum=Decimal(1000)
    ),
    InputSpec("decision_share", "andel utskick som är myndighetsbeslut", "share"),
    InputSpec(
        "preceding_mailings", "andra utskick före varje beslut", "number", maximum=Decimal(1000)
    ),
    InputSpec(
        "connectable_processes",
        "processer som kan anslutas",
        "integer",
        ONE,
        maximum=_MAX_PROCESSES,
    ),
    InputSpec(
        "processes_connected_first", "anslutna processer år 1", "number", maximum=_MAX_PROCESSES
    ),
    InputSpec(
        "processes_connected_last",
        "anslutna processer sista året",
        "number",
        maximum=_MAX_PROCESSES,
    ),
    InputSpec("usage_first", "användning av digital kanal år 1", "share"),
    InputSpec("usage_last", "användning av digital kanal sista året", "share"),
    InputSpec("years", "år (investeringsperiod)", "integer", ONE, Decimal(MAX_YEARS)),
    InputSpec("discount_rate", "kalkylränta", "share"),
    InputSpec(
        "paper_cost",
        "papperskostnad per utskick (material och porto)",
        "money",
        maximum=_MAX_PER_UNIT,
    ),
    InputSpec("digital_cost", "digital kostnad per utskick", "money", maximum=_MAX_PER_UNIT),
    InputSpec("investment", "investering (år 1)", "money", maximum=_MAX_AMOUNT),
    InputSpec("running_cost", "fast driftkostnad per år", "money", maximum=_MAX_AMOUNT),
    InputSpec(
        "minutes_saved",
        "processförbättring per digitalt utskick (minuter)",
        "number",
        maximum=Decimal(10_000),
    ),
    InputSpec("hourly_cost", "kostnad för en timme handläggartid", "money", maximum=_MAX_PER_UNIT),
    InputSpec(
        "security_value", "värde av säker leverans per beslut", "money", maximum=_MAX_PER_UNIT
    ),
)
SPECS_BY_NAME = {spec.name: spec for spec in INPUT_SPECS}
INPUT_NAMES = tuple(spec.name for spec in INPUT_SPECS)


@dataclass(frozen=True)
class InputError:
    """One input that is wrong: its name and what to do about it, in Swedish."""

    field: str
    message: str


class InvalidInputsError(ValueError):
    """The inputs cannot be used; `errors` names each one that is wrong."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(error.message for error in self.errors))


@dataclass(frozen=True)
class RampAdjustment:
    """A change to the ramps used by the sensitivity analysis (none by default).

    Attributes:
        usage_factor: Multiplies the usage of every year, capped at 100 %.
        delay_years: Shifts the ramps: nothing is connected or used in the first
            `delay_years` years, and year y takes the ramps' value of year y - delay_years.
    """

    usage_factor: Decimal = ONE
    delay_years: int = 0


@dataclass(frozen=True)
class YearRow:
    """One year of one view. Benefit parts that the view does not count are zero."""

    year: int
    processes_connected: Decimal
    usage: Decimal
    digital_share: Decimal
    moved_mailings: Decimal
    moved_decisions: Decimal
    mailing_cost_saving: Decimal
    process_improvement: Decimal
    security_value: Decimal
    benefit: Decimal
    investment: Decimal
    running_cost: Decimal
    digital_cost: Decimal
    cost: Decimal
    net: Decimal
    accumulated_net: Decimal
    discounted_net: Decimal
    accumulated_discounted_net: Decimal


@dataclass(frozen=True)
class Totals:
    """A view's totals over the investment period.

    `payback_years_nominal` is read on the accumulated net, `payback_years_discounted` on the
    accumulated discounted net; each is None when that sum is still negative in the last year.
    """

    benefit: Decimal
    cost: Decimal
    net: Decimal
    npv: Decimal
    payback_years_nominal: Decimal | None
    payback_years_discounted: Decimal | None


@dataclass(frozen=True)
class ViewResult:
    """One view: its year rows (year 1 first) and its totals."""

    view: View
    years: tuple[YearRow, ...]
    totals: Totals


@dataclass(frozen=True)
class BenefitResult:
    """The model's outcome for a set of inputs: the three views."""

    inputs: BenefitInputs
    views: Mapping[View, ViewResult]


# --- the computation -------------------------------------------------------------------------


def linear_ramp(first: Decimal, last: Decimal, year: int, years: int) -> Decimal:
    """The ramp's value in `year` (1..years), rising linearly from `first` to `last`."""
    if years == 1:
        return first
    return first + (last - first) * Decimal(year - 1) / Decimal(years - 1)


def eligible_mailings(inputs: BenefitInputs) -> Decimal:
    """Mailings per year that can move to digital: the decisions and the mailings before them."""
    return (
        inputs.inhabitants
        * inputs.mailings_per_inhabitant
        * inputs.decision_share
        * (ONE + inputs.preceding_mailings)
    )


def compute(inputs: BenefitInputs, adjustment: RampAdjustment | None = None) -> BenefitResult:
    """The year-by-year result and totals of the three views.

    Raises:
        InvalidInputsError: an input is out of range (see `validate`).
    """
    errors = validate(inputs)
    if errors:
        raise InvalidInputsError(errors)
    adjustment = adjustment or RampAdjustment()
    views = {view: _view(inputs, adjustment, view) for view in View}
    return BenefitResult(inputs=inputs, views=views)


def _view(inputs: BenefitInputs, adjustment: RampAdjustment, view: View) -> ViewResult:
    rows: list[YearRow] = []
    accumulated = ZERO
    accumulated_discounted = ZERO
    eligible = eligible_mailings(inputs)
    for year in range(1, inputs.years + 1):
        processes, usage = _ramps(inputs, adjustment, year)
        digital_share = processes / inputs.connectable_processes * usage
        moved = eligible * digital_share
        moved_decisions = moved / (ONE + inputs.preceding_mailings)
        saving = moved * inputs.paper_cost
        improvement = moved * inputs.minutes_saved / MINUTES_PER_HOUR * inputs.hourly_cost
        security = moved_decisions * inputs.security_value
        if view is not View.WITH_PROCESS_IMPROVEMENT:
            improvement = ZERO
        if view is not View.WITH_SECURITY:
            security = ZERO
        benefit = saving + improvement + security
        investment = inputs.investment if year == 1 else ZERO
        digital = moved * inputs.digital_cost
        cost = investment + inputs.running_cost + digital
        net = benefit - cost
        discounted = net / (ONE + inputs.discount_rate) ** year
        accumulated += net
        accumulated_discounted += discounted
        rows.append(
            YearRow(
                year=year,
                processes_connected=processes,
                usage=usage,
                digital_share=digital_share,
                moved_mailings=moved,
                moved_decisions=moved_decisions,
                mailing_cost_saving=saving,
                process_improvement=improvement,
                security_value=security,
                benefit=benefit,
                investment=investment,
                running_cost=inputs.running_cost,
                digital_cost=digital,
                cost=cost,
                net=net,
                accumulated_net=accumulated,
                discounted_net=discounted,
                accumulated_discounted_net=accumulated_discounted,
            )
        )
    totals = Totals(
        benefit=sum((row.benefit for row in rows), ZERO),
        cost=sum((row.cost for row in rows), ZERO),
        net=accumulated,
        npv=accumulated_discounted,
        payback_years_nominal=payback_years([row.net for row in rows]),
        payback_years_discounted=payback_years([row.discounted_net for row in rows]),
    )
    return ViewResult(view=view, years=tuple(rows), totals=totals)


def _ramps(inputs: BenefitInputs, adjustment: RampAdjustment, year: int) -> tuple[Decimal, Decimal]:
    """Processes connected and usage in `year`, after the sensitivity adjustment."""
    ramp_year = year - adjustment.delay_years
    if ramp_year < 1:
        return ZERO, ZERO
    processes = linear_ramp(
        inputs.processes_connected_first, inputs.processes_connected_last, ramp_year, inputs.years
    )
    usage = linear_ramp(inputs.usage_first, inputs.usage_last, ramp_year, inputs.years)
    return processes, min(ONE, usage * adjustment.usage_factor)


def payback_years(nets: Sequence[Decimal]) -> Decimal | None:
    """When the accumulated sum of the yearly `nets` reaches zero, in years from the start.

    The net of a year is taken to accrue evenly over it, so the point is interpolated within
    the year in which the accumulated sum turns non-negative: (k - 1) + deficit / net(k). It is
    the last such turn, so a sum that dips below zero again later counts from its final
    recovery; None when the sum is negative at the end, 0 when it never was negative.
    """
    accumulated = ZERO
    sums = []
    for net in nets:
        accumulated += net
        sums.append(accumulated)
    if not sums or sums[-1] < ZERO:
        return None
    payback = ZERO
    before = ZERO
    for year, (net, after) in enumerate(zip(nets, sums, strict=True), start=1):
        if before < ZERO <= after:
            payback = Decimal(year - 1) + (-before) / net
        before = after
    return payback


# --- reading and checking inputs ---------------------------------------------------------------


def validate(inputs: BenefitInputs) -> list[InputError]:
    """Every input that is out of range, with a Swedish message (empty when all is well)."""
    errors = []
    for spec in INPUT_SPECS:
        value = Decimal(getattr(inputs, spec.name))
        if not _in_range(spec, value):
            errors.append(_range_error(spec, format_input(spec, value)))
    errors.extend(_cross_errors(inputs))
    return errors


def _cross_errors(inputs: BenefitInputs) -> list[InputError]:
    errors = []
    for name in ("processes_connected_first", "processes_connected_last"):
        value: Decimal = getattr(inputs, name)
        if value > inputs.connectable_processes:
            spec = SPECS_BY_NAME[name]
            errors.append(
                InputError(
                    name,
                    f"{spec.label} ({name}) kan inte vara fler än processerna som kan anslutas "
                    f"({inputs.connectable_processes}), fick {format_input(spec, value)}; "
                    "sänk värdet eller höj connectable_processes",
                )
            )
    return errors


def _in_range(spec: InputSpec, value: Decimal) -> bool:
    if not value.is_finite() or value < spec.minimum:
        return False
    if spec.kind == "integer" and value != value.to_integral_value():
        return False
    maximum = ONE if spec.kind == "share" else spec.maximum
    return maximum is None or value <= maximum


def _expected(spec: InputSpec) -> str:
    """What a valid value of the input looks like, in Swedish."""
    if spec.kind == "share":
        return "en andel mellan 0 % och 100 %, t.ex. 10% eller 0.10"
    bound = f"≥ {spec.minimum}"
    if spec.maximum is not None:
        bound = f"mellan {_bound(spec.minimum)} och {_bound(spec.maximum)}"
    if spec.kind == "integer":
        return f"ett heltal {bound}"
    if spec.kind == "money":
        return f"ett belopp i kr {bound}, t.ex. 7.50"
    return f"ett tal {bound}, t.ex. 2.5"


def _bound(value: Decimal) -> str:
    return format_number(value) if value == value.to_integral_value() else f"{value}"


def _range_error(spec: InputSpec, shown: str) -> InputError:
    if len(shown) > MAX_INPUT_LENGTH:
        shown = shown[:MAX_INPUT_LENGTH] + "…"
    return InputError(
        spec.name, f"{spec.label} ({spec.name}) måste vara {_expected(spec)}, fick '{shown}'"
    )


def parse_input(spec: InputSpec, text: str) -> Decimal | int:
    """The value of one input from its text, checked against the input's range.

    Spaces are ignored, `,` and `.` are both a decimal point, and a share is either a
    percentage (`10%`) or a fraction (`0.10`).

    Raises:
        InvalidInputsError: the text is not a valid value of the input.
    """
    cleaned = "".join(text.split()).replace(",", ".")
    if len(cleaned) > MAX_INPUT_LENGTH:
        # No plan needs a longer number; a longer one would only cost time to read.
        raise InvalidInputsError([_range_error(spec, text)])
    percent = spec.kind == "share" and cleaned.endswith("%")
    if percent:
        cleaned = cleaned[:-1]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if percent and value.is_finite():
        value /= 100
    if not _in_range(spec, value):
        raise InvalidInputsError([_range_error(spec, text)])
    return int(value) if spec.kind == "integer" else value


def inputs_with(overrides: Mapping[str, str], base: BenefitInputs | None = None) -> BenefitInputs:
    """`base` (the example municipality by default) with the named inputs replaced.

    Raises:
        InvalidInputsError: an unknown name or a bad value; every such input is named, and
            nothing is changed.
    """
    base = base or BenefitInputs()
    changes: dict[str, Any] = {}
    errors: list[InputError] = []
    for name, text in overrides.items():
        spec = SPECS_BY_NAME.get(name)
        if spec is None:
            errors.append(unknown_input_error(name))
            continue
        try:
            changes[name] = parse_input(spec, text)
        except InvalidInputsError as error:
            errors.extend(error.errors)
    if errors:
        raise InvalidInputsError(errors)
    inputs = dataclasses.replace(base, **changes)
    cross = _cross_errors(inputs)
    if cross:
        raise InvalidInputsError(cross)
    return inputs


def unknown_input_error(name: str) -> InputError:
    """The error for a name that is not an input, listing the names that are."""
    return InputError(name, f"okänd indata '{name}'; giltiga namn: {', '.join(INPUT_NAMES)}")


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    """`name=value` texts (from `--set`) as a mapping.

    Raises:
        InvalidInputsError: a text without `=`.
    """
    overrides: dict[str, str] = {}
    errors = []
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals:
            errors.append(
                InputError(
                    assignment,
                    f"'{assignment}' saknar '='; skriv namn=värde, t.ex. inhabitants=50000; "
                    f"giltiga namn: {', '.join(INPUT_NAMES)}",
                )
            )
            continue
        overrides[name.strip()] = value
    if errors:
        raise InvalidInputsError(errors)
    return overrides


# --- showing and serialising ---------------------------------------------------------------------

CENT = Decimal("0.01")
SHARE_PLACES = Decimal("0.0001")


def rounded(value: Decimal, places: Decimal = CENT) -> Decimal:
    """`value` rounded half up to `places` (money to öre by default)."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def format_kr(amount: Decimal) -> str:
    """Whole kronor with spaces between thousands: `-1 234 567`."""
    return f"{rounded(amount, ONE):,.0f}".replace(",", " ")


def format_number(value: Decimal, decimals: int = 0) -> str:
    """A number with spaces between thousands and a decimal comma: `10,25`."""
    text = f"{rounded(value, Decimal(10) ** -decimals):,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",")


def format_share(share: Decimal, decimals: int = 1) -> str:
    """A fraction as a Swedish percentage: `8,2 %`."""
    return f"{format_number(share * 100, decimals)} %"


def format_years(years: Decimal | None) -> str:
    """A payback time, `4,21 år`, or that there is none within the period."""
    if years is None:
        return "återbetalas inte inom perioden"
    return f"{format_number(years, 2)} år"


def format_input(spec: InputSpec, value: Decimal | int) -> str:
    """An input's value as it is typed in a form: `10%` for shares, plain numbers otherwise."""
    if spec.kind == "share":
        return f"{Decimal(value) * 100:f}".rstrip("0").rstrip(".") + "%"
    return f"{value}" if spec.kind == "integer" else _plain(Decimal(value))


def format_value(spec: InputSpec, value: Decimal | int) -> str:
    """An input's value for people: `100 000`, `10 %`, `7,00 kr`."""
    if spec.kind == "share":
        return format_share(Decimal(value), 1)
    if spec.kind == "money":
        return f"{format_number(Decimal(value), 2)} kr"
    places = 0 if Decimal(value) == Decimal(value).to_integral_value() else 2
    return format_number(Decimal(value), places)


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(value: Decimal | None, places: Decimal = CENT) -> float | None:
    return None if value is None else float(rounded(value, places))


def inputs_to_json(inputs: BenefitInputs) -> dict[str, int | float]:
    """Every input as a JSON number: integers as such, shares to 4 decimals, the rest to 2."""
    data: dict[str, int | float] = {}
    for spec in INPUT_SPECS:
        value = getattr(inputs, spec.name)
        if spec.kind == "integer":
            data[spec.name] = int(value)
        else:
            data[spec.name] = float(rounded(value, SHARE_PLACES if spec.kind == "share" else CENT))
    return data


_SHARE_FIELDS = frozenset({"usage", "digital_share"})


def year_to_json(row: YearRow) -> dict[str, int | float | None]:
    """One year row: shares to 4 decimals, money and counts to 2."""
    data: dict[str, int | float | None] = {"year": row.year}
    for field in dataclasses.fields(row):
        if field.name != "year":
            places = SHARE_PLACES if field.name in _SHARE_FIELDS else CENT
            data[field.name] = _number(getattr(row, field.name), places)
    return data


def totals_to_json(totals: Totals) -> dict[str, float | None]:
    """A view's totals: money to 2 decimals, payback years to 4, null when never paid back."""
    return {
        "benefit": _number(totals.benefit),
        "cost": _number(totals.cost),
        "net": _number(totals.net),
        "npv": _number(totals.npv),
        "payback_years_nominal": _number(totals.payback_years_nominal, SHARE_PLACES),
        "payback_years_discounted": _number(totals.payback_years_discounted, SHARE_PLACES),
    }


def to_json(result: BenefitResult) -> dict[str, Any]:
    """The result as JSON-ready data: `inputs` (every input used) and `views` → years, totals."""
    return {
        "inputs": inputs_to_json(result.inputs),
        "views": {
            view.value: {
                "label": view.label,
                "years": [year_to_json(row) for row in view_result.years],
                "totals": totals_to_json(view_result.totals),
            }
            for view, view_result in result.views.items()
        },
    }
