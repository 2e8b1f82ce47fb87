"""The outcome file of a taken file, written once every one of its letters has an outcome.

A letter's outcome is known once it is final, or addressed and in a print batch
(`vocabulary.OUTCOME_KNOWN_STATES`, what `utskick batch submit --wait` waits for). Each
poll looks at the source's done files whose outcome file is not written yet; for one whose
letters all have their outcome it writes `behandlade/<name>.utfall.csv` (see
`receipts.write_outcomes`) and records that in the row's receipt summary, so that it is
written once. A file of which no letter was accepted gets none.
"""

from __future__ import annotations

import posixpath

from utskick.intake.pickup import repository
from utskick.intake.pickup.context import Poll
from utskick.intake.pickup.folders import DONE
from utskick.intake.pickup.receipts import OUTCOME_SUFFIX, write_outcomes


def write_due_outcomes(poll: Poll) -> list[str]:
    """Write the outcome files that are due; returns the names of the files they belong to."""
    with poll.sessions() as session:
        due = [
            (row.id, row.batch_id, (row.receipt or {}).get(repository.DONE_NAME))
            for row in repository.awaiting_outcome(session, poll.source.name)
        ]
    written: list[str] = []
    for row_id, batch_id, done_name in due:
        if batch_id is None or not isinstance(done_name, str):
            continue
        with poll.sessions() as session:
            if repository.open_letters(session, batch_id):
                continue
            local = poll.work / f".{row_id}{OUTCOME_SUFFIX}"
            write_outcomes(local, repository.batch_outcomes(session, batch_id))
        poll.folder.put(local, posixpath.join(DONE, done_name + OUTCOME_SUFFIX))
        local.unlink()
        with poll.sessions() as session:
            repository.note_outcome_written(session, row_id, poll.clock())
            session.commit()
        written.append(done_name)
    return written
