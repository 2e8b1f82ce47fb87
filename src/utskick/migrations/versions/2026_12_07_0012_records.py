"""Records: rules per message type, each ended letter's record, holds, the disposal log,
the access log, and the registration number on the letter.

Revision ID: 2026_12_07_0012
Revises: 2026_12_06_0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_07_0012"
down_revision = "2026_12_06_0011"
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_number", sa.String(length=100), nullable=True))
        batch_op.create_index(
            "ix_letter_registration_number", ["registration_number"], unique=False
        )
    op.create_table(
        "records_rule",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_number", sa.String(length=10), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("keeper", sa.String(length=8), nullable=False),
        sa.Column("content_months", sa.Integer(), nullable=True),
        sa.Column("metadata_months", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=500), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "rule IN ('register', 'kept_in_order', 'journal', 'no_record')",
            name=op.f("ck_records_rule_rule_known"),
        ),
        sa.CheckConstraint(
            "keeper IN ('system', 'utskick')", name=op.f("ck_records_rule_keeper_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_rule")),
        sa.UniqueConstraint(
            "organisation_number",
            "message_type",
            name=op.f("uq_records_rule_organisation_number"),
        ),
    )
    op.create_table(
        "letter_record",
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("sender_number", sa.String(length=10), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("keeper", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UtcDateTime, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("registration", sa.String(length=12), nullable=False),
        sa.Column("registration_attempts", sa.Integer(), nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=True),
        sa.Column("content_due", sa.Date(), nullable=True),
        sa.Column("metadata_due", sa.Date(), nullable=True),
        sa.Column("content_disposed_at", UtcDateTime, nullable=True),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("archive_package", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_letter_record_letter_id_letter"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", name=op.f("pk_letter_record")),
    )
    op.create_index("ix_letter_record_registration", "letter_record", ["registration"])
    op.create_index("ix_letter_record_content_due", "letter_record", ["content_due"])
    op.create_index("ix_letter_record_metadata_due", "letter_record", ["metadata_due"])
    op.create_index("ix_letter_record_sender_sent", "letter_record", ["sender_number", "sent_at"])
    op.create_table(
        "records_hold",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_number", sa.String(length=10), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=True),
        sa.Column("case_number", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("released_at", UtcDateTime, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(letter_id IS NULL) <> (case_number IS NULL)",
            name=op.f("ck_records_hold_letter_or_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_hold")),
    )
    op.create_index("ix_records_hold_case", "records_hold", ["sender_number", "case_number"])
    op.create_index("ix_records_hold_letter_id", "records_hold", ["letter_id"])
    op.create_table(
        "records_disposal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("sender_number", sa.String(length=10), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("what", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("oldest", UtcDateTime, nullable=True),
        sa.Column("newest", UtcDateTime, nullable=True),
        sa.Column("decision", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_disposal")),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organisation_number", sa.String(length=10), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("result_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_user_at", "access_log", ["username", "at"])
    op.create_index("ix_access_log_letter", "access_log", ["letter_id"])


def downgrade() -> None:
    op.drop_table("access_log")
    op.drop_table("records_disposal")
    op.drop_table("records_hold")
    op.drop_table("letter_record")
    op.drop_table("records_rule")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_registration_number")
        batch_op.drop_column("registration_number")
