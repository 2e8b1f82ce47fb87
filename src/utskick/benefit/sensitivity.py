"""Sensitivity of the benefit model (the pre-study's 6.3.6.1): what if things go otherwise?

Scenarios: uptake scaled (the usage ramp times a factor, capped at 100 %), running costs up and
down by X % (the fixed running cost and the digital cost per mailing), and a delay of one year
(the ramps shifted: nothing is connected in year 1; the investment still falls in year 1). Each
gives the totals (net present value, payback …) of every view.

The tornado moves one input at a time by -X % and +X % and reads the NPV of one view; the bars
are sorted by their swing, widest first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from utskick.benefit.model import (
    INPUT_SPECS,
    ONE,
    SHARE_PLACES,
    BenefitInputs,
    InputSpec,
    RampAdjustment,
    Totals,
    View,
    compute,
    format_share,
    inputs_to_json,
    rounded,
    totals_to_json,
)

DEFAULT_UPTAKE_FACTORS = (Decimal("0.5"), Decimal("0.75"), Decimal("1.25"))
DEFAULT_CHANGE = Decimal("0.20")


@dataclass(frozen=True)
class Scenario:
    """One what-if: a stable key, a Swedish label and the totals of every view."""

    key: str
    label: str
    outcomes: dict[View, Totals]


@dataclass(frozen=True)
class TornadoBar:
    """One input moved down and up by the tornado's change, and the NPV at each end."""

    name: str
    label: str
    low_value: Decimal
    high_value: Decimal
    npv_low: Decimal
    npv_high: Decimal

    @property
    def swing(self) -> Decimal:
        """How far apart the two ends lie: the bar's length."""
        return abs(self.npv_high - self.npv_low)


@dataclass(frozen=True)
class Tornado:
    """NPV of one view across the inputs; `bars` sorted by swing, widest first."""

    view: View
    change: Decimal
    base_npv: Decimal
    bars: tuple[TornadoBar, ...]


@dataclass(frozen=True)
class SensitivityResult:
    """The scenarios (the base case first) and the tornado for a set of inputs."""

    inputs: BenefitInputs
    scenarios: tuple[Scenario, ...]
    tornado: Tornado


def outcomes(inputs: BenefitInputs, adjustment: RampAdjustment | None = None) -> dict[View, Totals]:
    """The totals (NPV, payback …) of every view for these inputs and ramp adjustment."""
    result = compute(inputs, adjustment)
    return {view: view_result.totals for view, view_result in result.views.items()}


def scenarios(
    inputs: BenefitInputs,
    uptake_factors: Sequence[Decimal] = DEFAULT_UPTAKE_FACTORS,
    running_cost_change: Decimal = DEFAULT_CHANGE,
) -> tuple[Scenario, ...]:
    """The base case, uptake scaled by each factor, running costs ± the change, one year late."""
    found = [Scenario("base", "Grundfall", outcomes(inputs))]
    found.extend(
        Scenario(
            f"uptake_{factor}",
            f"Användning × {_decimal_comma(factor)}",
            outcomes(inputs, RampAdjustment(usage_factor=factor)),
        )
        for factor in uptake_factors
    )
    for sign, word in ((1, "+"), (-1, "−")):
        factor = ONE + sign * running_cost_change
        changed = dataclasses.replace(
            inputs,
            running_cost=inputs.running_cost * factor,
            digital_cost=inputs.digital_cost * factor,
        )
        found.append(
            Scenario(
                f"running_cost_{'up' if sign > 0 else 'down'}",
                f"Driftkostnader {word}{format_share(running_cost_change, 0)}",
                outcomes(changed),
            )
        )
    found.append(
        Scenario(
            "delay_1_year", "Ett års försening", outcomes(inputs, RampAdjustment(delay_years=1))
        )
    )
    return tuple(found)


def tornado(
    inputs: BenefitInputs, view: View = View.MAILING_COST, change: Decimal = DEFAULT_CHANGE
) -> Tornado:
    """NPV of `view` with each input at -change and +change, the widest swing first.

    Moved values are kept valid: shares stay within 100 %, integers are rounded (the years
    of a five-year period become four and six), and processes connected never exceed those
    that can be connected.
    """
    bars = []
    for spec in INPUT_SPECS:
        base_value = Decimal(getattr(inputs, spec.name))
        low = _moved(spec, base_value, ONE - change)
        high = _moved(spec, base_value, ONE + change)
        bars.append(
            TornadoBar(
                name=spec.name,
                label=spec.title,
                low_value=low,
                high_value=high,
                npv_low=_npv(_with(inputs, spec, low), view),
                npv_high=_npv(_with(inputs, spec, high), view),
            )
        )
    bars.sort(key=lambda bar: bar.swing, reverse=True)
    return Tornado(view=view, change=change, base_npv=_npv(inputs, view), bars=tuple(bars))


def analyse(
    inputs: BenefitInputs,
    *,
    uptake_factors: Sequence[Decimal] = DEFAULT_UPTAKE_FACTORS,
    change: Decimal = DEFAULT_CHANGE,
    view: View = View.MAILING_COST,
) -> SensitivityResult:
    """The scenarios and the tornado, with one change (X %) for running costs and tornado."""
    return SensitivityResult(
        inputs=inputs,
        scenarios=scenarios(inputs, uptake_factors, change),
        tornado=tornado(inputs, view, change),
    )


def _moved(spec: InputSpec, value: Decimal, factor: Decimal) -> Decimal:
    moved = value * factor
    if spec.kind == "integer":
        moved = max(spec.minimum, rounded(moved, ONE))
    if spec.kind == "share":
        moved = min(ONE, moved)
    return moved


def _with(inputs: BenefitInputs, spec: InputSpec, value: Decimal) -> BenefitInputs:
    changes: dict[str, Any] = {spec.name: int(value) if spec.kind == "integer" else value}
    changed = dataclasses.replace(inputs, **changes)
    # Fewer connectable processes must not leave more connected than can be.
    most = Decimal(changed.connectable_processes)
    return dataclasses.replace(
        changed,
        processes_connected_first=min(changed.processes_connected_first, most),
        processes_connected_last=min(changed.processes_connected_last, most),
    )


def _npv(inputs: BenefitInputs, view: View) -> Decimal:
    return compute(inputs).views[view].totals.npv


def _decimal_comma(value: Decimal) -> str:
    return f"{value:f}".replace(".", ",")


def _money(value: Decimal) -> float:
    return float(rounded(value))


def to_json(result: SensitivityResult) -> dict[str, Any]:
    """The analysis as JSON-ready data: inputs, scenarios (per view) and the tornado."""
    return {
        "inputs": inputs_to_json(result.inputs),
        "scenarios": [
            {
                "key": scenario.key,
                "label": scenario.label,
                "views": {
                    view.value: totals_to_json(totals) for view, totals in scenario.outcomes.items()
                },
            }
            for scenario in result.scenarios
        ],
        "tornado": {
            "view": result.tornado.view.value,
            "change": float(rounded(result.tornado.change, SHARE_PLACES)),
            "base_npv": _money(result.tornado.base_npv),
            "bars": [
                {
                    "input": bar.name,
                    "label": bar.label,
                    "low_value": float(rounded(bar.low_value, SHARE_PLACES)),
                    "high_value": float(rounded(bar.high_value, SHARE_PLACES)),
                    "npv_low": _money(bar.npv_low),
                    "npv_high": _money(bar.npv_high),
                    "swing": _money(bar.swing),
                }
                for bar in result.tornado.bars
            ],
        },
    }
