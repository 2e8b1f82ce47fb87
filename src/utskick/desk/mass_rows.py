"""The check of every row of a mass mailing's table before sending, as the officer will see it.

The officer says which column holds the recipient (and, if the file has them, the subject and
a postal address; `utskick.letters.tables.columns.guess_mapping` proposes that). `check_rows`
then goes through the table row by row, as it is streamed, fills in the templates and says for
each row who the letter is for, what it will say, and what is wrong with it, in Swedish, so
that the officer can correct the file before anything is sent. The checks of a single value
are the tables' own (`utskick.letters.tables.rows`); the desk adds its templates and refuses a
recipient who is on two rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from utskick.desk.mass_template import Template
from utskick.letters.tables.columns import ColumnMapping
from utskick.letters.tables.reading import Table
from utskick.letters.tables.rows import body_problem, postal_address, recipient_of, subject_problem


@dataclass(frozen=True, slots=True)
class RowCheck:
    """One row as it would be sent: to whom, what, and what is wrong (None: nothing)."""

    row_number: int
    recipient_display: str
    recipient_id: str | None
    problem: str | None
    subject: str
    body: str
    postal_address: dict[str, object] | None

    @property
    def ok(self) -> bool:
        """Whether the row can be sent as it is."""
        return self.problem is None


def check_rows(
    table: Table,
    mapping: ColumnMapping,
    subject_template: Template | None,
    body_template: Template,
    today: dt.date,
) -> Iterator[RowCheck]:
    """Check every row of the table as it would be sent, one row at a time.

    The subject is `subject_template` filled in, or, without one, the mapping's subject
    column. A recipient seen on an earlier row (in any of the ways it can be typed) is a
    problem of the later row. Several problems of one row are joined by "; ".

    Raises:
        MappingError: the mapping names a column the table does not have.
        TableRefusedError: the table turns out unreadable further down (see `Table.rows`).
    """
    mapping.check(table.columns)
    first_row_of: dict[int, int] = {}
    for row_number, row in table.rows():
        recipient = recipient_of(row, mapping.recipient, today)
        problems = [recipient.problem] if recipient.problem else []
        if recipient.recipient_id is not None:
            earlier = first_row_of.setdefault(int(recipient.recipient_id), row_number)
            if earlier != row_number:
                problems.append(f"samma mottagare som på rad {earlier}; ta bort den ena raden")
        subject = _subject(row, mapping, subject_template)
        body = body_template.render(row).strip()
        address, address_problem = postal_address(row, mapping)
        more = (subject_problem(subject), body_problem(body), address_problem)
        problems.extend(problem for problem in more if problem is not None)
        yield RowCheck(
            row_number=row_number,
            recipient_display=recipient.display,
            recipient_id=recipient.recipient_id,
            problem="; ".join(problems) or None,
            subject=subject,
            body=body,
            postal_address=address,
        )


def _subject(row: Mapping[str, str], mapping: ColumnMapping, template: Template | None) -> str:
    if template is not None:
        return template.render(row).strip()
    if mapping.subject is not None:
        return row.get(mapping.subject, "")
    return ""
