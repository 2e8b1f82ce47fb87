"""Letters with their attachments and events, batches, message types, jobs, sending systems
and their API keys; sender organisations get their support info, passphrase variable and the
intermediary flag.

Revision ID: 2026_11_27_0002
Revises: 2026_11_27_0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_27_0002"
down_revision = "2026_11_27_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_due", ["run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_letter_id"), ["letter_id"], unique=False)

    op.create_table(
        "message_type",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("protection_class", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "protection_class BETWEEN 1 AND 4", name=op.f("ck_message_type_class_range")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_message_type")),
    )
    op.create_table(
        "sending_system",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sender_numbers", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=True),
        sa.Column("webhook_url", sa.String(length=1024), nullable=True),
        sa.Column("webhook_secret", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_system")),
        sa.UniqueConstraint("name", name=op.f("uq_sending_system_name")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sending_system_id", sa.String(length=36), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sending_system_id"],
            ["sending_system.id"],
            name=op.f("fk_api_key_sending_system_id_sending_system"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_key_sending_system_id"), ["sending_system_id"], unique=False
        )

    op.create_table(
        "letter_batch",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sending_system_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("rejections", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sending_system_id"],
            ["sending_system.id"],
            name=op.f("fk_letter_batch_sending_system_id_sending_system"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_batch")),
    )
    with op.batch_alter_table("letter_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letter_batch_sending_system_id"), ["sending_system_id"], unique=False
        )

    op.create_table(
        "letter",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sending_system_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("sender_number", sa.String(length=10), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("recipient_id", sa.String(length=12), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_type", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("protection_class", sa.Integer(), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=True),
        sa.Column("policy", sa.String(length=24), nullable=False),
        sa.Column("eservice_url", sa.String(length=1024), nullable=True),
        sa.Column("case_number", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("operator_number", sa.String(length=10), nullable=True),
        sa.Column("service_address", sa.String(length=1024), nullable=True),
        sa.Column("trans_id", sa.String(length=64), nullable=True),
        sa.Column("delivered_digest", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "protection_class BETWEEN 1 AND 3", name=op.f("ck_letter_class_sendable")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["letter_batch.id"], name=op.f("fk_letter_batch_id_letter_batch")
        ),
        sa.ForeignKeyConstraint(
            ["sending_system_id"],
            ["sending_system.id"],
            name=op.f("fk_letter_sending_system_id_sending_system"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
        sa.UniqueConstraint("message_id", name=op.f("uq_letter_message_id")),
        sa.UniqueConstraint(
            "sending_system_id", "idempotency_key", name=op.f("uq_letter_sending_system_id")
        ),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_letter_case_number"), ["case_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_letter_recipient_id"), ["recipient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_letter_reference"), ["reference"], unique=False)
        batch_op.create_index("ix_letter_state", ["state"], unique=False)
        batch_op.create_index(
            "ix_letter_system_created", ["sending_system_id", "created_at"], unique=False
        )

    op.create_table(
        "letter_attachment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_letter_attachment_letter_id_letter"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_attachment")),
    )
    with op.batch_alter_table("letter_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letter_attachment_letter_id"), ["letter_id"], unique=False
        )

    op.create_table(
        "letter_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_letter_event_letter_id_letter"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_letter_event_event_id")),
    )
    with op.batch_alter_table("letter_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_event_letter_id"), ["letter_id"], unique=False)

    with op.batch_alter_table("sender_organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("passphrase_env", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("intermediary", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("support_text", sa.String(length=1024), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("support_url", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("support_phone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("support_email", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sender_organisation", schema=None) as batch_op:
        batch_op.drop_column("support_email")
        batch_op.drop_column("support_phone")
        batch_op.drop_column("support_url")
        batch_op.drop_column("support_text")
        batch_op.drop_column("intermediary")
        batch_op.drop_column("passphrase_env")

    with op.batch_alter_table("letter_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_event_letter_id"))

    op.drop_table("letter_event")
    with op.batch_alter_table("letter_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_attachment_letter_id"))

    op.drop_table("letter_attachment")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_system_created")
        batch_op.drop_index("ix_letter_state")
        batch_op.drop_index(batch_op.f("ix_letter_reference"))
        batch_op.drop_index(batch_op.f("ix_letter_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_letter_case_number"))
        batch_op.drop_index(batch_op.f("ix_letter_batch_id"))

    op.drop_table("letter")
    with op.batch_alter_table("letter_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_batch_sending_system_id"))

    op.drop_table("letter_batch")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_sending_system_id"))

    op.drop_table("api_key")
    op.drop_table("sending_system")
    op.drop_table("message_type")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_letter_id"))
        batch_op.drop_index("ix_job_due")

    op.drop_table("job")
