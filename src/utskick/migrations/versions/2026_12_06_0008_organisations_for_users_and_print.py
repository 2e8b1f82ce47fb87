"""Web users belong to a sender organisation, a records role joins, and print batches are
kept per sender organisation (so two municipalities' departments of the same name never
share an exception list).

Existing users other than administrators are given the installation's intermediary (or its
first sender organisation): before this revision there was one organisation in practice.
Existing print batches take the organisation of their first letter.

Revision ID: 2026_12_06_0008
Revises: 2026_12_06_0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_06_0008"
down_revision = "2026_12_06_0007"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('officer', 'department_admin', 'management', 'admin')"
NEW_ROLES = "role IN ('officer', 'department_admin', 'records', 'management', 'admin')"


def upgrade() -> None:
    with op.batch_alter_table("web_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_number", sa.String(length=10), nullable=True))
        batch_op.drop_constraint(op.f("ck_web_user_role_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_web_user_role_known"), NEW_ROLES)
    op.execute(
        "UPDATE web_user SET organisation_number = (SELECT organisation_number "
        "FROM sender_organisation ORDER BY intermediary DESC, id LIMIT 1) WHERE role <> 'admin'"
    )
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sender_number", sa.String(length=10), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE print_batch SET sender_number = COALESCE((SELECT letter.sender_number "
        "FROM print_item JOIN letter ON letter.id = print_item.letter_id "
        "WHERE print_item.batch_id = print_batch.id ORDER BY print_item.position LIMIT 1), '')"
    )
    # Open batches were keyed by route and department; now by organisation too.
    op.execute(
        "UPDATE print_batch SET open_key = sender_number || '|' || open_key "
        "WHERE open_key IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE print_batch SET open_key = substr(open_key, length(sender_number) + 2) "
        "WHERE open_key IS NOT NULL"
    )
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.drop_column("sender_number")
    op.execute("DELETE FROM web_user WHERE role = 'records'")
    with op.batch_alter_table("web_user", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_web_user_role_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_web_user_role_known"), OLD_ROLES)
        batch_op.drop_column("organisation_number")
