"""`utskick nytta`: the benefit calculator in the terminal.

The command function `nytta` is registered on the main app by `utskick.entrypoints.cli`;
it prints the model's tables (or `--json`), optionally the sensitivity analysis, and can
draw the chart.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from utskick.benefit import sensitivity
from utskick.benefit.model import (
    INPUT_SPECS,
    SPECS_BY_NAME,
    BenefitInputs,
    BenefitResult,
    InvalidInputsError,
    View,
    ViewResult,
    compute,
    format_kr,
    format_number,
    format_share,
    format_value,
    format_years,
    inputs_with,
    parse_assignments,
    to_json,
)
from utskick.benefit.sensitivity import SensitivityResult

# The command's help for users (Swedish); the docstring below is for developers.
NYTTA_HELP = (
    "Förenklad nyttomodell: lönar sig anslutningen till Mina meddelanden?\n\n"
    "Räknar förstudiens modell med Exempelkommunens värden om inget annat anges med --set."
)


def nytta(
    json_out: Annotated[
        bool, typer.Option("--json", help="Hela resultatet som JSON: indata, år för år, summor.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAMN=VÄRDE",
            help="Ändra en indata, t.ex. --set inhabitants=50000 eller --set usage_last=90%. "
            "Kan upprepas.",
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            metavar="FIL.png|FIL.svg",
            help="Spara diagrammet (kostnader, nyttor och ackumulerat netto per år för de tre "
            "vyerna; med --kanslighet tornadodiagrammet) som PNG eller SVG.",
        ),
    ] = None,
    kanslighet: Annotated[
        bool,
        typer.Option(
            "--kanslighet",
            help="Visa också känslighetsanalysen: användning upp och ned, driftkostnader ±20 %, "
            "ett års försening, och nuvärdets tornado över indata.",
        ),
    ] = False,
) -> None:
    """Print the simplified benefit model: does joining Mina meddelanden pay off?

    Computes the feasibility study's model with Exempelkommun's values unless `--set` says
    otherwise. The help users see is `NYTTA_HELP` (Swedish), given where the command is registered.
    """
    # Drawing needs matplotlib: imported only when a chart is asked for.
    from utskick.benefit import charts  # noqa: PLC0415 (matplotlib: +0.42 s on every run)

    errors = Console(stderr=True)
    try:
        inputs = inputs_with(parse_assignments(set_ or []))
        chart_format = charts.chart_format(chart) if chart is not None else None
    except InvalidInputsError as error:
        for item in error.errors:
            errors.print(f"[bold red]Fel:[/] {item.message}", highlight=False)
        raise typer.Exit(2) from None
    except charts.ChartFormatError as error:
        errors.print(f"[bold red]Fel:[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    result = compute(inputs)
    analysis = sensitivity.analyse(inputs) if kanslighet else None
    if chart is not None and chart_format is not None:
        figure = charts.tornado_chart(analysis.tornado) if analysis else charts.model_chart(result)
        chart.write_bytes(charts.render(figure, chart_format, chart.stem))
    if json_out:
        data = to_json(result)
        if analysis is not None:
            analysis_data = sensitivity.to_json(analysis)
            del analysis_data["inputs"]
            data["sensitivity"] = analysis_data
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(_inputs_table(inputs))
    console.print(_volumes_table(result))
    for view_result in result.views.values():
        console.print(_view_table(view_result))
    if analysis is not None:
        console.print(_scenarios_table(analysis))
        console.print(_tornado_table(analysis))
    if chart is not None:
        console.print(f"Diagrammet är sparat i {chart}.", highlight=False)


def _inputs_table(inputs: BenefitInputs) -> Table:
    table = Table(title="Indata", title_justify="left")
    table.add_column("Indata")
    table.add_column("Namn (--set)")
    table.add_column("Värde", justify="right")
    for spec in INPUT_SPECS:
        table.add_row(spec.title, spec.name, format_value(spec, getattr(inputs, spec.name)))
    return table


def _volumes_table(result: BenefitResult) -> Table:
    """What moves to digital each year and what it costs; the same in every view."""
    table = Table(title="Volymer och kostnader per år (kr)", title_justify="left")
    for header in (
        "År",
        "Anslutna processer",
        "Användning",
        "Digital andel",
        "Flyttade utskick",
        "varav beslut",
        "Investering",
        "Drift",
        "Digital kostnad",
        "Kostnader",
    ):
        table.add_column(header, justify="right")
    for row in result.views[View.MAILING_COST].years:
        table.add_row(
            str(row.year),
            format_number(row.processes_connected, 2),
            format_share(row.usage),
            format_share(row.digital_share),
            format_number(row.moved_mailings),
            format_number(row.moved_decisions),
            format_kr(row.investment),
            format_kr(row.running_cost),
            format_kr(row.digital_cost),
            format_kr(row.cost),
        )
    return table


def _view_table(view_result: ViewResult) -> Table:
    """A view's benefits, costs and nets per year, its totals, NPV and payback."""
    view = view_result.view
    totals = view_result.totals
    table = Table(
        title=f"{view.label} (kr)",
        title_justify="left",
        caption=f"Nuvärde {format_kr(totals.npv)} kr. Återbetalningstid: "
        f"{format_years(totals.payback_years_nominal)} på ackumulerat netto, "
        f"{format_years(totals.payback_years_discounted)} på diskonterat netto.",
        caption_justify="left",
    )
    parts = [("Utskickskostnad (A)", "mailing_cost_saving")]
    if view is View.WITH_PROCESS_IMPROVEMENT:
        parts.append(("Processförbättring (B)", "process_improvement"))
    if view is View.WITH_SECURITY:
        parts.append(("Säkerhet (C)", "security_value"))
    headers = ["År", *(label for label, _ in parts), "Nyttor", "Kostnader", "Netto"]
    headers += ["Ackumulerat netto", "Diskonterat netto", "Ack. diskonterat netto"]
    for header in headers:
        table.add_column(header, justify="right")
    for row in view_result.years:
        table.add_row(
            str(row.year),
            *(format_kr(getattr(row, name)) for _, name in parts),
            format_kr(row.benefit),
            format_kr(row.cost),
            format_kr(row.net),
            format_kr(row.accumulated_net),
            format_kr(row.discounted_net),
            format_kr(row.accumulated_discounted_net),
        )
    part_totals = [
        format_kr(sum((getattr(row, name) for row in view_result.years), Decimal(0)))
        for _, name in parts
    ]
    table.add_section()
    table.add_row(
        "Totalt",
        *part_totals,
        format_kr(totals.benefit),
        format_kr(totals.cost),
        format_kr(totals.net),
        "",
        format_kr(totals.npv),
        "",
        style="bold",
    )
    return table


def _payback(nominal: Decimal | None, discounted: Decimal | None) -> str:
    def shown(years: Decimal | None) -> str:
        return "–" if years is None else format_number(years, 2)

    return f"{shown(nominal)} / {shown(discounted)}"


def _scenarios_table(analysis: SensitivityResult) -> Table:
    table = Table(
        title="Känslighet: nuvärde (kr) och återbetalningstid (år) per vy",
        title_justify="left",
        caption="Återbetalningstid: nominellt / diskonterat; – = inte inom perioden.",
        caption_justify="left",
    )
    table.add_column("Scenario")
    for view in View:
        short = view.label.split(".")[0]
        table.add_column(f"{short}: nuvärde", justify="right")
        table.add_column(f"{short}: återbetalning", justify="right")
    for scenario in analysis.scenarios:
        cells = [scenario.label]
        for view in View:
            totals = scenario.outcomes[view]
            cells.append(format_kr(totals.npv))
            cells.append(_payback(totals.payback_years_nominal, totals.payback_years_discounted))
        table.add_row(*cells)
    return table


def _tornado_table(analysis: SensitivityResult) -> Table:
    tornado = analysis.tornado
    change = format_share(tornado.change, 0)
    table = Table(
        title=f"Tornado: nuvärde (kr) för {tornado.view.label} när en indata ändras ±{change}",
        title_justify="left",
        caption=f"Grundfall: {format_kr(tornado.base_npv)} kr. Störst spännvidd först.",
        caption_justify="left",
    )
    for header in ("Indata", f"−{change}", "Nuvärde", f"+{change}", "Nuvärde", "Spännvidd"):
        table.add_column(header, justify="left" if header == "Indata" else "right")
    for bar in tornado.bars:
        spec = SPECS_BY_NAME[bar.name]
        table.add_row(
            bar.label,
            format_value(spec, bar.low_value),
            format_kr(bar.npv_low),
            format_value(spec, bar.high_value),
            format_kr(bar.npv_high),
            format_kr(bar.swing),
        )
    return table
