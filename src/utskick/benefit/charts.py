"""Charts of the benefit model in the pre-study's style, as PNG or SVG bytes.

The model chart shows costs and benefits per year as bars and the accumulated net as a line,
for one view or all three side by side; the tornado chart shows the NPV swing of each input.
Figures are built on `matplotlib.figure.Figure` (no pyplot, so no global figure state) and
rendered under a lock, because matplotlib's settings (`rcParams`) are global to the process.
"""

from __future__ import annotations

import io
import threading
from decimal import Decimal
from pathlib import Path
from typing import Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from utskick.benefit.model import BenefitResult, View, ViewResult, format_kr
from utskick.benefit.sensitivity import Tornado

ChartFormat = Literal["png", "svg"]
DPI = 100
COST_COLOUR = "#c0392b"
BENEFIT_COLOUR = "#2e7d32"
NET_COLOUR = "#1b1b1b"
_RENDERING = threading.Lock()


class ChartFormatError(ValueError):
    """The file name asks for a format other than PNG or SVG."""


def chart_format(path: Path) -> ChartFormat:
    """The format a chart file's suffix asks for.

    Raises:
        ChartFormatError: the suffix is neither `.png` nor `.svg`.
    """
    suffix = path.suffix.lower()
    if suffix == ".png":
        return "png"
    if suffix == ".svg":
        return "svg"
    raise ChartFormatError(
        f"diagrammet kan sparas som .png eller .svg, inte '{path.name}'; byt filändelse"
    )


def _figure(width: float, height: float) -> Figure:
    """A figure of `width` × `height` inches on the Agg canvas (PNG size: inches × DPI)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _kr_axis(axes: Axes) -> None:
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_kr(Decimal(value))))
    axes.set_ylabel("kr")
    axes.axhline(0, color="#888888", linewidth=0.8)
    axes.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)


def _draw_view(axes: Axes, view_result: ViewResult, index: int) -> None:
    """Bars of cost and benefit per year, side by side, and the accumulated net as a line."""
    years = [row.year for row in view_result.years]
    width = 0.38
    costs = axes.bar(
        [year - width / 2 for year in years],
        [float(row.cost) for row in view_result.years],
        width,
        color=COST_COLOUR,
        label="Kostnader",
    )
    benefits = axes.bar(
        [year + width / 2 for year in years],
        [float(row.benefit) for row in view_result.years],
        width,
        color=BENEFIT_COLOUR,
        label="Nyttor",
    )
    # Ids make each bar findable in the SVG (and by assistive technology reading it).
    for year, cost_bar, benefit_bar in zip(years, costs, benefits, strict=True):
        cost_bar.set_gid(f"kostnader-{index}-ar-{year}")
        benefit_bar.set_gid(f"nyttor-{index}-ar-{year}")
    axes.plot(
        years,
        [float(row.accumulated_net) for row in view_result.years],
        color=NET_COLOUR,
        marker="o",
        label="Ackumulerat netto",
        gid=f"ackumulerat-netto-{index}",
    )
    axes.set_title(view_result.view.label)
    axes.set_xlabel("År")
    axes.set_xticks(years)
    _kr_axis(axes)


def model_chart(result: BenefitResult, view: View | None = None) -> Figure:
    """The pre-study's chart for one view, or for all three side by side when `view` is None."""
    views = [view] if view is not None else list(View)
    figure = _figure(6 * len(views), 5)
    for index, (axes, shown) in enumerate(
        zip(figure.subplots(1, len(views), squeeze=False)[0], views, strict=True), start=1
    ):
        _draw_view(axes, result.views[shown], index)
    # One legend for all panels, below them, where it hides no bar.
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return figure


def tornado_chart(tornado: Tornado) -> Figure:
    """One horizontal bar per input from the NPV at -X % to the NPV at +X %, widest on top."""
    bars = list(reversed(tornado.bars))  # matplotlib draws the first bar at the bottom
    figure = _figure(10, 1.5 + 0.4 * len(bars))
    axes = figure.subplots()
    base = float(tornado.base_npv)
    positions = range(len(bars))
    change = f"{tornado.change * 100:.0f} %"
    ends = (("npv_low", COST_COLOUR, "−", "lag"), ("npv_high", BENEFIT_COLOUR, "+", "hog"))
    for end, colour, sign, word in ends:
        patches = axes.barh(
            positions,
            [float(getattr(bar, end)) - base for bar in bars],
            left=base,
            color=colour,
            label=f"Indata {sign}{change}",
        )
        for bar, patch in zip(bars, patches, strict=True):
            patch.set_gid(f"tornado-{word}-{bar.name}")
    axes.axvline(base, color=NET_COLOUR, linewidth=1)
    axes.set_yticks(list(positions), [bar.label for bar in bars])
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_kr(Decimal(value))))
    axes.set_xlabel(
        f"Nuvärde (kr), {tornado.view.label}; grundfall {format_kr(tornado.base_npv)} kr"
    )
    axes.set_title(f"Känslighet: nuvärdet när en indata i taget ändras ±{change}")
    axes.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def render(figure: Figure, file_format: ChartFormat, name: str = "chart") -> bytes:
    """The figure as PNG or SVG bytes; SVG keeps its text as text, with ids salted by `name`."""
    buffer = io.BytesIO()
    with _RENDERING, mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format=file_format, dpi=DPI)
    return buffer.getvalue()


def inline_svg(figure: Figure, name: str) -> str:
    """The figure as an `<svg>` element to put in an HTML page (no XML prologue)."""
    svg = render(figure, "svg", name).decode("utf-8")
    return svg[svg.index("<svg") :]
