"""Print batches and items; letters keep the postal address their caller gave.

Revision ID: 2026_11_27_0003
Revises: 2026_11_27_0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_27_0003"
down_revision = "2026_11_27_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("postal_address", sa.JSON(), nullable=True))

    op.create_table(
        "print_batch",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("route", sa.String(length=100), nullable=False),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("open_key", sa.String(length=310), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("letter_count", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("sheet_count", sa.Integer(), nullable=True),
        sa.Column("folder", sa.String(length=255), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_batch")),
        sa.UniqueConstraint("open_key", name=op.f("uq_print_batch_open_key")),
    )
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.create_index("ix_print_batch_route_state", ["route", "state"], unique=False)

    op.create_table(
        "print_item",
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("impossible_reason", sa.String(length=32), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("sheets", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["print_batch.id"], name=op.f("fk_print_item_batch_id_print_batch")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_print_item_letter_id_letter"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", name=op.f("pk_print_item")),
    )
    with op.batch_alter_table("print_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_item_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("print_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_item_batch_id"))
    op.drop_table("print_item")
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_print_batch_route_state")
    op.drop_table("print_batch")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("postal_address")
