"""The `utskick` command: run the service, and tools for operators and integrators.

Each command group is a module of this package, and this module puts them together in the
order `utskick --help` lists them: `serve` (and `worker`), `letters` (`precheck`, `send`,
`status`), `nytta`, `mm` (`mm seal` and `mm verify` produce and check exactly what goes on
the wire), `devca` (test certificates), `db` (with backup and restore), `bench`
(measurements), `systems` (their keys and webhooks), `senders` (with `senders key`, in
`senders_key`), `message-types`, `jobs` (failed jobs: retry, cancel), `batch`, `sources`
(watched folders and SFTP pickups), `printfile`, `printing` (`print`), `users` and `records`
(with `records archive`). What they share is in `common`; no group module
imports this one.

Every `utskick` run, `utskick --help` too, imports every group module. A module that only some
commands need and that would make each run noticeably slower is imported where it is used; its
import line gives the cost: the CPU time it adds on top of `import utskick.entrypoints.cli`
(`time.process_time`, the least of 11 runs).
"""

from __future__ import annotations

import typer

import utskick.entrypoints.cli.senders_key  # noqa: F401 (registers `senders key` on senders_app)
from utskick.entrypoints.cli.batch import batch_app
from utskick.entrypoints.cli.bench import bench_app
from utskick.entrypoints.cli.db import db_app
from utskick.entrypoints.cli.devca import ca_app
from utskick.entrypoints.cli.jobs import jobs_app
from utskick.entrypoints.cli.letters import letter_commands
from utskick.entrypoints.cli.mail_in import mail_in_commands
from utskick.entrypoints.cli.message_types import message_types_app
from utskick.entrypoints.cli.mm import mm_app
from utskick.entrypoints.cli.nytta import NYTTA_HELP, nytta
from utskick.entrypoints.cli.printfile import printfile_app
from utskick.entrypoints.cli.printing import print_app
from utskick.entrypoints.cli.records import records_app
from utskick.entrypoints.cli.records_archive import archive_app
from utskick.entrypoints.cli.senders import senders_app
from utskick.entrypoints.cli.serve import serve_commands
from utskick.entrypoints.cli.sources import sources_app
from utskick.entrypoints.cli.swedish_help import use_swedish_help
from utskick.entrypoints.cli.systems import systems_app
from utskick.entrypoints.cli.users import users_app

__all__ = ["app"]

use_swedish_help()

# Help is Swedish, given as `help=`; docstrings stay English, for developers. Shell completion
# is left out: an operator does not need it, and its two options' help is Typer's English.
app = typer.Typer(
    help="Utskick: kommunens anslutning till Mina meddelanden.",
    no_args_is_help=True,
    add_completion=False,
)
benefit_commands = typer.Typer()
benefit_commands.command("nytta", help=NYTTA_HELP)(nytta)

# A Typer added without a name adds its commands to the root, in this order.
for commands in (serve_commands, mail_in_commands, letter_commands, benefit_commands):
    app.add_typer(commands)
app.add_typer(mm_app, name="mm")
app.add_typer(ca_app, name="dev-ca")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(systems_app, name="systems")
app.add_typer(senders_app, name="senders")
app.add_typer(message_types_app, name="message-types")
app.add_typer(jobs_app, name="jobs")
app.add_typer(batch_app, name="batch")
app.add_typer(sources_app, name="sources")
app.add_typer(printfile_app, name="printfile")
app.add_typer(print_app, name="print")
app.add_typer(users_app, name="users")
records_app.add_typer(archive_app, name="archive")
app.add_typer(records_app, name="records")
