"""Sender organisations: the legal persons that sign letters (R9).

Revision ID: 2026_11_27_0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_27_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sender_organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_number", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("key_path", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(organisation_number) = 10",
            name=op.f("ck_sender_organisation_organisation_number_length"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_organisation")),
        sa.UniqueConstraint(
            "organisation_number", name=op.f("uq_sender_organisation_organisation_number")
        ),
    )


def downgrade() -> None:
    op.drop_table("sender_organisation")
