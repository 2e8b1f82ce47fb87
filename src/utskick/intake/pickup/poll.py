"""One poll of one source: resume what was cut short, take what is complete, report outcomes.

`poll_source` is the whole of it, for the `pickup` job (`pickup.jobs`), the command line and
the tests. Under the source's lock (`pickup.locks`) it opens the folder, makes the
subfolders `pågående/`, `behandlade/` and `fel/`, resumes what lies in `pågående/`, lists
the inbox, decides per file (`pickup.plan`, by `pickup.stability`), takes, refuses or leaves
each, and writes the outcome files that are due (`pickup.outcomes`).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from utskick.intake.pickup.context import (
    REFUSED,
    WAITING,
    FileOutcome,
    PickupSetupError,
    Poll,
    PollReport,
)
from utskick.intake.pickup.folders import INBOX, SUBFOLDERS, PickupFolder
from utskick.intake.pickup.locks import source_lock, work_folder
from utskick.intake.pickup.moves import refuse_from
from utskick.intake.pickup.names import safe_name
from utskick.intake.pickup.opening import open_folder
from utskick.intake.pickup.outcomes import write_due_outcomes
from utskick.intake.pickup.plan import Refuse, Take, Wait, plan
from utskick.intake.pickup.stability import PROCESS_MEMORY, ListingMemory
from utskick.intake.pickup.taking import resume, take_new
from utskick.intake.sources import Source
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.settings import Settings

logger = logging.getLogger(__name__)


def _no_register() -> ProtectedIdentityLookup | None:
    return None


def poll_source(
    source: Source,
    *,
    sessions: Callable[[], Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    protection: Callable[[], ProtectedIdentityLookup | None] = _no_register,
    memory: ListingMemory = PROCESS_MEMORY,
) -> PollReport:
    """Poll the source's folder once (see the module text).

    Args:
        source: the source; it must pick up (`folder` or `sftp_url`).
        sessions: new units of work; each step commits its own.
        settings: the installation's settings (home folder, time zone).
        clock: now, aware.
        protection: the population register, asked before letters with an address are
            stored; without it such letters are refused with the reason.
        memory: what this process saw at earlier listings (`stability`).

    Raises:
        PickupSetupError: the source picks up nowhere or names a system that does not exist.
        PickupFolderError: the folder refused a request (permissions, host key, login).
        PickupUnavailableError: the folder or its server cannot be reached now.
    """
    if not source.picks_up:
        raise PickupSetupError(f"källan {source.name} har varken folder eller sftp_url")
    report = PollReport(source.name)
    with sessions() as session:
        engine = session.get_bind().engine
    with source_lock(engine, settings.home, source.name) as held:
        if not held:
            report.busy = True
            return report
        with (
            open_folder(source) as folder,
            tempfile.TemporaryDirectory(
                dir=work_folder(settings.home), prefix=f"{source.name}-"
            ) as work,
        ):
            poll = Poll(
                source=source,
                folder=folder,
                sessions=sessions,
                settings=settings,
                clock=clock,
                protection=protection,
                work=Path(work),
                actor=f"folder:{source.name}",
            )
            _poll(poll, folder, memory, report)
    return report


def _poll(poll: Poll, folder: PickupFolder, memory: ListingMemory, report: PollReport) -> None:
    for subfolder in SUBFOLDERS:
        folder.make_folder(subfolder)
    report.files.extend(resume(poll))
    now = poll.clock().timestamp()
    entries = folder.list_files(INBOX)
    complete = memory.look(poll.source.name, entries, now, poll.source.stable_seconds)
    actions = plan(poll.source, entries, complete, now)
    taken_controls = {a.control for a in actions if isinstance(a, Take) and a.control}
    for action in actions:
        if isinstance(action, Take):
            outcome = take_new(poll, action)
            (report.waiting if outcome.result == WAITING else report.files).append(outcome)
        elif isinstance(action, Refuse):
            refuse_from(poll, INBOX, action.name, control=None, reason=action.reason, sha256=None)
            report.files.append(FileOutcome(safe_name(action.name), REFUSED, message=action.reason))
        elif isinstance(action, Wait) and action.name not in taken_controls:
            report.waiting.append(
                FileOutcome(safe_name(action.name), WAITING, message=action.reason)
            )
    report.outcomes.extend(write_due_outcomes(poll))
    for outcome in report.files:
        logger.info(
            "pickup %s: %s %s (%d accepted, %d rejected)%s",
            poll.source.name,
            outcome.name,
            outcome.result,
            outcome.accepted,
            outcome.rejected,
            f": {outcome.message}" if outcome.message else "",
        )
