"""Print items keep the order they went to paper; positions are given when a batch closes.

Until now each letter joining an open batch took the next position from the batch's row,
which serialised all addressing of a department. Now an item records its print job's id
(`sequence`) and the batch numbers its items at close. Items of batches open during the
upgrade keep their order: their `sequence` is their old position, and they were created
before any item added afterwards.

Revision ID: 2026_12_07_0013
Revises: 2026_12_07_0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_07_0013"
down_revision = "2026_12_07_0012"
branch_labels = None
depends_on = None

_OPEN_ITEMS = "batch_id IN (SELECT id FROM print_batch WHERE state = 'open')"


def upgrade() -> None:
    with op.batch_alter_table("print_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
    op.execute(f"UPDATE print_item SET sequence = position WHERE {_OPEN_ITEMS}")  # noqa: S608


def downgrade() -> None:
    # The earlier code numbers open batches as letters join: give their items positions and
    # the batches their counts, in the order the new code would have closed them in.
    op.execute(
        "UPDATE print_item SET position = ("  # noqa: S608 (constant SQL)
        " SELECT numbered.n FROM ("
        "  SELECT letter_id, row_number() OVER ("
        "   PARTITION BY batch_id ORDER BY created_at, sequence, letter_id) AS n"
        f"  FROM print_item WHERE {_OPEN_ITEMS}"
        " ) AS numbered WHERE numbered.letter_id = print_item.letter_id"
        f") WHERE {_OPEN_ITEMS}"
    )
    op.execute(
        "UPDATE print_batch SET letter_count = ("
        " SELECT count(*) FROM print_item WHERE print_item.batch_id = print_batch.id"
        ") WHERE state = 'open'"
    )
    with op.batch_alter_table("print_item", schema=None) as batch_op:
        batch_op.drop_column("sequence")
