"""The people who log in to the web app (web_user): username, scrypt hash, role, department.

Revision ID: 2026_11_27_0004
Revises: 2026_11_27_0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_27_0004"
down_revision = "2026_11_27_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role <> 'department_admin' OR department IS NOT NULL",
            name=op.f("ck_web_user_department_admin_has_department"),
        ),
        sa.CheckConstraint(
            "role IN ('officer', 'department_admin', 'management', 'admin')",
            name=op.f("ck_web_user_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_user")),
        sa.UniqueConstraint("username", name=op.f("uq_web_user_username")),
    )


def downgrade() -> None:
    op.drop_table("web_user")
