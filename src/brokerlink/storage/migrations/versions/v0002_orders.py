"""Orders: the write-ahead order journal and the market-closed order queue.

Revision ID: 0002_orders
Revises: 0001_initial
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_orders"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_intents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(48), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("broker_order_id", sa.String(64), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("error_type", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("not_sent", sa.Boolean(), nullable=False),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_order_intents"),
        sa.UniqueConstraint("connection_id", "client_order_id",
                            name="uq_order_intents_client_order"),
        sa.UniqueConstraint("connection_id", "idempotency_key",
                            name="uq_order_intents_idempotency"),
    )
    op.create_index("ix_order_intents_status", "order_intents", ["status"])
    op.create_index("ix_order_intents_broker_order_id", "order_intents", ["broker_order_id"])
    op.create_table(
        "order_queue",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("reference_price", sa.String(40), nullable=True),
        sa.Column("collar_pct", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queued_at", _TS, nullable=False),
        sa.Column("release_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("client_order_id", sa.String(48), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'released', 'canceled', 'expired', 'refused')",
            name="ck_order_queue_status"),
        sa.PrimaryKeyConstraint("id", name="pk_order_queue"),
    )
    op.create_index("ix_order_queue_status", "order_queue", ["status"])


def downgrade() -> None:
    op.drop_index("ix_order_queue_status", table_name="order_queue")
    op.drop_table("order_queue")
    op.drop_index("ix_order_intents_broker_order_id", table_name="order_intents")
    op.drop_index("ix_order_intents_status", table_name="order_intents")
    op.drop_table("order_intents")
