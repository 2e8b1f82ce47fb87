"""`utskick bench`: performance measurements, printed as a table or one JSON object.

The measurements that start the reference parties or the web app import them only when they
run; each such import says what it would add to every `utskick` run (see the package's notes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated

import typer

from utskick.entrypoints.benchmarks.checks import run_checks_benchmark
from utskick.entrypoints.benchmarks.signing import run_signing_benchmark
from utskick.entrypoints.cli.common import fail

bench_app = typer.Typer(help="Prestandamätningar.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")]
SecondsOption = Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")]
# `bench records` measures at N/4 and N letters: at least one letter in the smaller size.
MIN_RECORDS_LETTERS = 4


def _print_result(result: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:40} {value}")


@bench_app.command(
    "sign",
    help="Mät signering med försegling och verifiering, jämfört med ren RSA-signering (en kärna).",
)
def bench_sign(as_json: JsonFlag = False, seconds: SecondsOption = 3.0) -> None:
    """Measure sign + seal and verification throughput against raw RSA signing (one core)."""
    _print_result(run_signing_benchmark(seconds=seconds), as_json)


@bench_app.command(
    "checks",
    help="Mät kontrollerna vid mottagning (HTML-brödtext, PDF-bilaga) mot enbart deras tolkare.",
)
def bench_checks(
    as_json: JsonFlag = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Små indata (64 kB) och korta mätningar, för en snabb kontroll."
        ),
    ] = False,
    seconds: SecondsOption = 0.2,
) -> None:
    """Measure the intake checks (HTML body, PDF attachment) against their parsers alone."""
    if seconds <= 0:
        raise fail("--seconds ska vara större än 0")
    _print_result(run_checks_benchmark(quick=quick, seconds=0.05 if quick else seconds), as_json)


@bench_app.command(
    "far", help="Mät referens-FaR:ens isReachable (1 000 id per anrop, HTTPS med ömsesidig TLS)."
)
def bench_far(as_json: JsonFlag = False, seconds: SecondsOption = 3.0) -> None:
    """Measure the reference FaR's isReachable (1,000 ids per call, HTTPS + mutual TLS)."""
    # The reference FaR and its server.
    from utskick.entrypoints.benchmarks.far import (  # noqa: PLC0415 (+0.16 s on every run)
        run_is_reachable_benchmark,
    )

    _print_result(run_is_reachable_benchmark(seconds=seconds), as_json)


@bench_app.command(
    "deliver",
    help="Mät hur en referensoperatör för brevlådor tar emot deliverSecure (verifiera och lagra).",
)
def bench_deliver(as_json: JsonFlag = False, seconds: SecondsOption = 3.0) -> None:
    """Measure a reference operator's deliverSecure acceptance (verify + store)."""
    # The reference mailbox operator.
    from utskick.entrypoints.benchmarks.delivery import (  # noqa: PLC0415 (+0.07 s on every run)
        run_deliver_secure_benchmark,
    )

    _print_result(run_deliver_secure_benchmark(seconds=seconds), as_json)


@bench_app.command(
    "batch",
    help="Mät ett massutskick från början till slut: utskick batch submit tills alla brev har "
    "ett utfall (60 % digitalt, 25 % papper, 15 % går inte att skicka), med CPU, "
    "databasanrop och minne per process.",
)
def bench_batch(
    letters: Annotated[int, typer.Option(help="Antal brev i massutskicket.")] = 10_000,
    database: Annotated[str, typer.Option(help="sqlite eller postgresql.")] = "sqlite",
    workers: Annotated[int, typer.Option(help="Antal worker-processer.")] = 1,
    worker_threads: Annotated[int, typer.Option(help="Trådar i varje worker-process.")] = 4,
    as_json: JsonFlag = False,
) -> None:
    """Measure a batch end to end: `utskick batch submit` until every letter has an outcome."""
    # The whole reference infrastructure and the web app.
    from utskick.entrypoints.benchmarks.batch import (  # noqa: PLC0415 (+1.0 s on every run)
        run_batch_benchmark,
    )

    if database not in ("sqlite", "postgresql"):
        raise fail("--database ska vara sqlite eller postgresql")
    if letters < 1:
        raise fail("--letters ska vara minst 1")
    if workers < 1 or worker_threads < 1:
        raise fail("--workers och --worker-threads ska vara minst 1")
    _print_result(
        run_batch_benchmark(
            letters=letters,
            database=database,
            workers=workers,
            worker_threads=worker_threads,
        ),
        as_json,
    )


@bench_app.command(
    "precheck",
    help="Mät svarstiden (p50/p99) för förhandskontroll av en mottagare via API:t, med och "
    "utan cache.",
)
def bench_precheck(
    calls: Annotated[int, typer.Option(help="Mätta anrop per variant.")] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Measure precheck latency (p50/p99) for one recipient through the API, cached and not."""
    # The web app and the reference FaR.
    from utskick.entrypoints.benchmarks.precheck import (  # noqa: PLC0415 (+0.27 s on every run)
        run_precheck_benchmark,
    )

    if calls < 1:
        raise fail("--calls ska vara minst 1")
    _print_result(run_precheck_benchmark(calls=calls), as_json)


@bench_app.command(
    "print",
    help="Mät rendering, adressering och överlämning till tryckeriet på en kärna, med "
    "minnesåtgång.",
)
def bench_print(
    batch: Annotated[
        list[int] | None,
        typer.Option(help="Brev per batch som lämnas över; kan anges flera gånger."),
    ] = None,
    render_letters: Annotated[int, typer.Option(help="Brev i renderingsmätningen.")] = 2_000,
    as_json: JsonFlag = False,
) -> None:
    """Measure print rendering, addressing and hand-over on one core, with memory."""
    # The print vendor's SFTP server and the web app.
    from utskick.entrypoints.benchmarks.printing import (  # noqa: PLC0415 (+0.9 s on every run)
        run_print_benchmark,
    )

    sizes = batch or [1_000, 5_000, 20_000]
    if min(sizes) < 1 or render_letters < 1:
        raise fail("--batch och --render-letters ska vara minst 1")
    _print_result(run_print_benchmark(batch_sizes=sizes, render_letters=render_letters), as_json)


@bench_app.command(
    "massutskick",
    help="Mät uppladdning och förhandskontroll av ett massutskick (CSV) genom webbappen, med "
    "minnesåtgång, jämfört med att bara läsa tabellen.",
)
def bench_massutskick(
    rows: Annotated[int, typer.Option(help="Antal rader (mottagare) i filen.")] = 10_000,
    as_json: JsonFlag = False,
) -> None:
    """Measure a mass mailing's upload and precheck through the web app, with memory."""
    # The reference infrastructure and the web app.
    from utskick.entrypoints.benchmarks.massutskick import (  # noqa: PLC0415 (+0.9 s on every run)
        run_massutskick_benchmark,
    )

    if rows < 1:
        raise fail("--rows ska vara minst 1")
    _print_result(run_massutskick_benchmark(rows=rows), as_json)


@bench_app.command(
    "printfile",
    help="Mät hur en utskriftsfil med många brev delas och tas emot (take_print_file) i en ny "
    "SQLite-databas, jämfört med att bara läsa sidornas text med pypdf; sidor/s, brev/s, "
    "CPU-sekunder och minnestopp.",
)
def bench_printfile(
    pages: Annotated[int, typer.Option(help="Antal sidor i utskriftsfilen.")] = 10_000,
    pages_per_letter: Annotated[int, typer.Option(help="Sidor per brev.")] = 2,
    rule: Annotated[str, typer.Option(help="Mottagarregel: anchor eller control-file.")] = (
        "anchor"
    ),
    as_json: JsonFlag = False,
) -> None:
    """Measure splitting and taking a print file against reading its pages' text."""
    # pypdf, reportlab and the migrations.
    from utskick.entrypoints.benchmarks.printfile import (  # noqa: PLC0415 (+0.2 s on every run)
        RULES,
        run_printfile_benchmark,
    )

    if pages < 1 or pages_per_letter < 1:
        raise fail("--pages och --pages-per-letter ska vara minst 1")
    if rule not in RULES:
        raise fail(f"--rule ska vara {' eller '.join(RULES)}")
    _print_result(
        run_printfile_benchmark(pages=pages, pages_per_letter=pages_per_letter, rule=rule),
        as_json,
    )


@bench_app.command(
    "records",
    help="Mät arkivexport (E-ARK SIP) och gallring av N avslutade brev, vid N/4 och N brev, "
    "med minnestopp.",
)
def bench_records(
    letters: Annotated[int, typer.Option(help="Antal avslutade brev i den största mätningen.")] = (
        100_000
    ),
    as_json: JsonFlag = False,
) -> None:
    """Measure archive export and disposal of N ended letters, at N/4 and N, with memory."""
    # The records' export and disposal, and the migrations.
    from utskick.entrypoints.benchmarks.records import (  # noqa: PLC0415 (+0.3 s on every run)
        run_records_benchmark,
    )

    if letters < MIN_RECORDS_LETTERS:
        raise fail(f"--letters ska vara minst {MIN_RECORDS_LETTERS}")
    _print_result(run_records_benchmark(letters=letters), as_json)
