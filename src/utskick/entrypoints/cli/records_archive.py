"""`utskick records archive`: a period's records as E-ARK SIP packages for the e-archive.

`export` writes the organisation's records of the period into a folder, one package folder
per thousand letters (`records.archive`), marks them archived, and logs the export in the
access log as done by the person at the command line (their login name). The population
register is asked who is protected now, as the records pages ask it; when it does not
answer, no package is written.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from utskick.db.engine import session_factory
from utskick.entrypoints.cli.common import HomeOption, fail, now, open_installation
from utskick.records.archive import ArchiveError, ArchiveResult, export_archive

archive_app = typer.Typer(
    help="Arkivexport: allmänna handlingar som E-ARK SIP-paket till e-arkivet.",
    no_args_is_help=True,
)


def _day(typed: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(typed)
    except ValueError:
        raise fail(f"{option} ska vara ett datum som 2026-01-31, inte {typed!r}") from None


def _person() -> str:
    """The login name of whoever runs the command (the access log's "who")."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "okänd användare"


@archive_app.command(
    "export",
    help="Exportera en organisations allmänna handlingar för en period som E-ARK SIP-paket "
    "(en mapp per 1 000 brev). Breven markeras som arkiverade; innehåll som sparas tills det "
    "arkiveras kan därefter gallras.",
)
def archive_export(
    *,
    org: Annotated[str, typer.Option("--org", help="Avsändarorganisationens organisationsnummer.")],
    fran: Annotated[
        str, typer.Option("--fran", help="Första dagen (ÅÅÅÅ-MM-DD) vars avslutade brev tas med.")
    ],
    till: Annotated[str, typer.Option("--till", help="Sista dagen (ÅÅÅÅ-MM-DD), inräknad.")],
    mal: Annotated[
        Path, typer.Option("--mal", help="Mappen som paketen skrivs till (skapas om den saknas).")
    ],
    letters_per_package: Annotated[
        int, typer.Option("--brev-per-paket", help="Högst så här många brev per paket.")
    ] = 1000,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Skriv resultatet som JSON.")] = False,
) -> None:
    """Export an organisation's records of a period as E-ARK SIP packages."""
    period_from, period_to = _day(fran, "--fran"), _day(till, "--till")
    installation = open_installation(home)
    try:
        result = export_archive(
            session_factory(installation.engine),
            organisation_number=org,
            period_from=period_from,
            period_to=period_to,
            target=mal,
            clock=now,
            actor=_person(),
            letters_per_package=letters_per_package,
            time_zone=installation.settings.print_timezone,
            protection=installation.adapters.protection,
        )
    except ArchiveError as error:
        raise fail(str(error)) from None
    if as_json:
        print(json.dumps(_as_json(result), ensure_ascii=False, indent=2))
        return
    _print_result(result, period_from, period_to)


def _as_json(result: ArchiveResult) -> dict[str, object]:
    return {
        "letters": result.letters,
        "attachments": result.attachments,
        "bytes": result.bytes,
        "packages": [
            {
                "name": package.name,
                "path": str(package.path),
                "letters": package.letters,
                "attachments": package.attachments,
                "files": package.files,
                "bytes": package.bytes,
            }
            for package in result.packages
        ],
    }


def _print_result(result: ArchiveResult, period_from: dt.date, period_to: dt.date) -> None:
    if not result.packages:
        print(
            f"Inga brev att arkivera {period_from} – {period_to}: alla avslutade brev i perioden "
            "är redan arkiverade, eller inga allmänna handlingar avslutades då."
        )
        return
    print(
        f"{result.letters} brev ({result.attachments} bilagor, "
        f"{result.bytes / 1_048_576:.1f} MiB) i {len(result.packages)} arkivpaket:"
    )
    for package in result.packages:
        print(f"  {package.path}  {package.letters} brev")
