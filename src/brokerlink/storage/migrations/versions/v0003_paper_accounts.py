"""Paper accounts: a paper connection's simulated account, kept across processes.

Revision ID: 0003_paper_accounts
Revises: 0002_orders
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_paper_accounts"
down_revision: str | None = "0002_orders"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_paper_accounts_version"),
        sa.PrimaryKeyConstraint("connection_id", name="pk_paper_accounts"),
    )


def downgrade() -> None:
    op.drop_table("paper_accounts")
