"""Initial schema: connections, sealed credentials, OAuth pending states, vault keys,
audit events and checkpoints, settings.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("account_ids", sa.Text(), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("access_token_expires_at", _TS, nullable=True),
        sa.Column("reauth_due_at", _TS, nullable=True),
        sa.Column("last_refresh_at", _TS, nullable=True),
        sa.Column("refresh_attempts", sa.Integer(), nullable=False),
        sa.Column("refresh_successes", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('connected', 'degraded', 'reauth_required', 'disconnected')",
            name="ck_connections_status"),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
    )
    op.create_table(
        "credentials",
        sa.Column("connection_id", sa.String(200), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("rotated_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "field", name="pk_credentials"),
    )
    op.create_index("ix_credentials_kek_id", "credentials", ["kek_id"])
    op.create_table(
        "oauth_pending_states",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=True),
        sa.Column("redirect_uri", sa.String(1000), nullable=False),
        sa.Column("verifier_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("verifier_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("verifier_wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("consumed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oauth_pending_states"),
    )
    op.create_index("ix_oauth_pending_states_kek_id", "oauth_pending_states", ["kek_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", _SEQ, autoincrement=False, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=True),
        sa.Column("broker", sa.String(32), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(50), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", _SEQ, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "vault_keys",
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_ref", sa.String(200), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("retired_at", _TS, nullable=True),
        sa.Column("destroyed_at", _TS, nullable=True),
        sa.CheckConstraint("state IN ('active', 'retiring', 'retired')",
                           name="ck_vault_keys_state"),
        sa.PrimaryKeyConstraint("kek_id", name="pk_vault_keys"),
        sa.UniqueConstraint("version", name="uq_vault_keys_version"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    for table in ("settings", "vault_keys", "audit_checkpoints", "audit_events",
                  "oauth_pending_states", "credentials", "connections"):
        op.drop_table(table)
