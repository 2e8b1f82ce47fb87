"""Charts of the benefit realised, in the calculator's style (`utskick.benefit.charts`).

The outcome chart stacks the letters that went digitally, on paper and could not go at all,
per month. The plan chart puts the letters sent digitally and their saving next to the plan:
bars for what happened, a line for what the benefit model planned.
"""

from __future__ import annotations

from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from utskick.benefit.charts import BENEFIT_COLOUR, COST_COLOUR, DPI, NET_COLOUR
from utskick.benefit.model import format_kr
from utskick.statistics.report import StatisticsReport

PAPER_COLOUR = "#8d6e63"
IMPOSSIBLE_COLOUR = COST_COLOUR
DIGITAL_COLOUR = BENEFIT_COLOUR
PLAN_COLOUR = NET_COLOUR
MONTH_NAMES = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def month_label(month: str) -> str:
    """`2026-11` as `nov 2026`."""
    year, number = month.split("-")
    return f"{MONTH_NAMES[int(number) - 1]} {year}"


def _month_axis(axes: Axes, labels: list[str]) -> None:
    axes.set_xticks(range(len(labels)), [month_label(label) for label in labels])
    axes.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)  # noqa: PLR2004
    axes.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)


def outcomes_chart(report: StatisticsReport) -> Figure:
    """Digital, paper and impossible letters per month as stacked bars."""
    labels = [month.month for month in report.months]
    digital = [month.figures.counts.digital for month in report.months]
    paper = [month.figures.counts.paper for month in report.months]
    impossible = [month.figures.counts.impossible_total for month in report.months]
    figure = _figure(max(6.0, 0.7 * len(labels) + 2), 4)
    axes = figure.subplots()
    positions = range(len(labels))
    stacks = (
        ("digitalt", digital, DIGITAL_COLOUR, [0] * len(labels)),
        ("papper", paper, PAPER_COLOUR, digital),
        (
            "omöjligt",
            impossible,
            IMPOSSIBLE_COLOUR,
            [a + b for a, b in zip(digital, paper, strict=True)],
        ),
    )
    for name, values, colour, bottom in stacks:
        bars = axes.bar(
            positions, values, 0.7, bottom=bottom, color=colour, label=name.capitalize()
        )
        # Ids make each bar findable in the SVG.
        for label, bar in zip(labels, bars, strict=True):
            bar.set_gid(f"{name.replace('ö', 'o')}-{label}")
    _month_axis(axes, labels)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Letters are never fewer than none: a period without letters shows 0 to 1, not -0.05.
    tallest = max([a + b + c for a, b, c in zip(digital, paper, impossible, strict=True)] or [0])
    axes.set_ylim(0, max(tallest, 1) * 1.1)
    axes.set_ylabel("brev")
    axes.set_title("Brev per månad: digitalt, papper och omöjligt")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def plan_chart(report: StatisticsReport) -> Figure:
    """Letters sent digitally and their saving per month (bars) next to the plan (a line)."""
    labels = [month.month for month in report.months]
    positions = list(range(len(labels)))
    figure = _figure(max(10.0, 1.2 * len(labels) + 2), 4)
    letters_axes, saving_axes = figure.subplots(1, 2)
    planned = [(index, month.plan) for index, month in enumerate(report.months) if month.plan]
    panels = (
        (letters_axes, "brev", [float(m.figures.counts.digital) for m in report.months],
         [float(plan.moved_mailings) for _, plan in planned], "Digitala brev: utfall och plan"),
        (saving_axes, "kr", [float(m.figures.saving) for m in report.months],
         [float(plan.saving) for _, plan in planned], "Besparing: utfall och plan"),
    )  # fmt: skip
    for axes, unit, actual, plan, title in panels:
        bars = axes.bar(positions, actual, 0.6, color=DIGITAL_COLOUR, label="Utfall")
        for label, bar in zip(labels, bars, strict=True):
            bar.set_gid(f"utfall-{unit}-{label}")
        if planned:
            axes.plot(
                [index for index, _ in planned],
                plan,
                color=PLAN_COLOUR,
                marker="o",
                label="Plan (nyttomodellen)",
                gid=f"plan-{unit}",
            )
        _month_axis(axes, labels)
        axes.set_ylabel(unit)
        axes.set_title(title)
        # Headroom above the highest bar or plan point, so that the plan line is not cut off.
        axes.set_ylim(0, max([*actual, *plan, 1.0]) * 1.15)
    # One legend for both panels, below them, where it hides no bar and no plan point.
    handles, names = letters_axes.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=len(names))
    saving_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_kr(Decimal(value))))
    return figure
