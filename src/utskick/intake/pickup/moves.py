"""Moving a file out: to `behandlade/` with its receipt, or to `fel/` with the reason.

Each move is a rename within the source's folder. The file itself always moves last, after
its receipt or reason and its control file, so that a file still lying where it was has not
been finished; a move repeated after Utskick stopped moves only what is still there.
"""

from __future__ import annotations

import posixpath

from utskick.intake.pickup.context import Poll
from utskick.intake.pickup.folders import DONE, IN_PROGRESS, REFUSED, free_name
from utskick.intake.pickup.names import safe_name
from utskick.intake.pickup.plan import stem_of
from utskick.intake.pickup.receipts import REASON_SUFFIX, RECEIPT_SUFFIX, reason_text


def companion_name(main: str, control: str) -> str:
    """The name a control file gets beside its print file's new name (`x.csv` by `x.pdf`)."""
    return stem_of(main) + control[len(stem_of(control)) :]


def done_name(poll: Poll, name: str, control: str | None) -> str:
    """A name in `behandlade/` that is free for the file, its receipt and its control file."""

    def companions(candidate: str) -> list[str]:
        names = [candidate + RECEIPT_SUFFIX]
        if control:
            names.append(companion_name(candidate, control))
        return names

    return free_name(poll.folder, DONE, name, poll.stamp(), companions)


def finish_done(poll: Poll, name: str, control: str | None, target: str) -> None:
    """Move the receipt, the control file and then the file from `pågående/` to `behandlade/`."""
    moves = [(name + RECEIPT_SUFFIX, target + RECEIPT_SUFFIX)]
    if control:
        moves.append((control, companion_name(target, control)))
    moves.append((name, target))
    for old, new in moves:
        source = posixpath.join(IN_PROGRESS, old)
        if poll.folder.exists(source):
            poll.folder.rename(source, posixpath.join(DONE, new))


def refuse_from(
    poll: Poll,
    where: str,
    name: str,
    *,
    control: str | None,
    reason: str,
    sha256: str | None,
) -> None:
    """Move a file (and its control file) from `where` to `fel/` with `<name>.fel.txt`.

    The reason file is written first and the file moved last; done again after a stop, the
    file's name in `fel/` is still free, and the reason file is written over. A name that
    cannot be written as it is (`pickup.names`) gets its `safe_name` in `fel/`.
    """
    shown = safe_name(name)
    target = free_name(poll.folder, REFUSED, shown, poll.stamp())
    text = reason_text(
        name=shown,
        source=poll.source.name,
        when=poll.shown(poll.clock()),
        reason=reason,
        sha256=sha256,
    )
    poll.folder.write_text(posixpath.join(REFUSED, target + REASON_SUFFIX), text)
    if control and poll.folder.exists(posixpath.join(where, control)):
        wanted = companion_name(target, control)
        control_target = free_name(poll.folder, REFUSED, wanted, poll.stamp())
        poll.folder.rename(posixpath.join(where, control), posixpath.join(REFUSED, control_target))
    poll.folder.rename(posixpath.join(where, name), posixpath.join(REFUSED, target))
