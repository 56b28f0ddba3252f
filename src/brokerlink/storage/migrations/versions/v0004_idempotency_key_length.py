"""Order intents: idempotency keys up to 255 characters (the journal's documented bound).

The journal refuses a key outside 1 to 255 printable ASCII characters before it stores
anything (``manager.journal.check_idempotency_key``); the column was 200 wide, so a
valid 201-255 character key failed on PostgreSQL with a database error. SQLite does
not enforce the width, but batch mode keeps both schemas saying the same.

Revision ID: 0004_idempotency_key_length
Revises: 0003_paper_accounts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_idempotency_key_length"
down_revision: str | None = "0003_paper_accounts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_intents") as batch:
        batch.alter_column("idempotency_key", existing_type=sa.String(200),
                           type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("order_intents") as batch:
        batch.alter_column("idempotency_key", existing_type=sa.String(255),
                           type_=sa.String(200), existing_nullable=True)
