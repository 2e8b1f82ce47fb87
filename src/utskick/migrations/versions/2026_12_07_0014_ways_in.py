"""More ways in: letters sent at a set time, print files, watched folders and e-mail in.

A letter may wait until `not_before`, and a print file's letter may carry its own address
in the window (`paper_layout`). Files taken from a source's folder are kept in
`intake_file`; e-mails officers sent as letters, with the reply owed, in `mail_submission`.
An officer's e-mail address (`web_user.email`) tells who sent an e-mail.

Revision ID: 2026_12_07_0014
Revises: 2026_12_07_0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_07_0014"
down_revision = "2026_12_07_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paper_layout", sa.String(length=24), nullable=True))
    with op.batch_alter_table("web_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_web_user_email"), ["email"])
    op.create_table(
        "intake_file",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["letter_batch.id"], name=op.f("fk_intake_file_batch_id_letter_batch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_file")),
        sa.UniqueConstraint("source", "sha256", name="uq_intake_file_content"),
    )
    with op.batch_alter_table("intake_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_file_batch_id"), ["batch_id"], unique=False)
    op.create_table(
        "mail_submission",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submission_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reply_to", sa.String(length=254), nullable=False),
        sa.Column("mail_message_id", sa.String(length=998), nullable=True),
        sa.Column("letter_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letter.id"],
            name=op.f("fk_mail_submission_letter_id_letter"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["web_user.id"],
            name=op.f("fk_mail_submission_user_id_web_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_submission")),
        sa.UniqueConstraint("submission_key", name=op.f("uq_mail_submission_submission_key")),
    )
    with op.batch_alter_table("mail_submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_submission_letter_id"), ["letter_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_submission_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("mail_submission")
    op.drop_table("intake_file")
    with op.batch_alter_table("web_user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_web_user_email"), type_="unique")
        batch_op.drop_column("email")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("paper_layout")
        batch_op.drop_column("not_before")
