"""The schema as SQLAlchemy Core tables: the single source the migrations mirror.

No table ever holds a secret in plain text: credentials and OAuth code verifiers
are stored only as envelope-encrypted ciphertext (see ``brokerlink.auth.vault``),
and OAuth ``state`` values only as their SHA-256.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from brokerlink.storage.types import UtcDateTime

# Named constraints so Alembic batch mode (SQLite table rebuilds) can find them later.
metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

CONNECTION_STATUSES = ("connected", "degraded", "reauth_required", "disconnected")

connections = Table(
    "connections", metadata,
    Column("id", String(64), primary_key=True),
    Column("broker", String(32), nullable=False),
    Column("label", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    # JSON list of account ids, stored as canonical text so both backends agree.
    Column("account_ids", Text, nullable=False, default="[]"),
    Column("base_url", String(500), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("access_token_expires_at", UtcDateTime(), nullable=True),
    Column("reauth_due_at", UtcDateTime(), nullable=True),
    Column("last_refresh_at", UtcDateTime(), nullable=True),
    Column("refresh_attempts", Integer, nullable=False, default=0),
    Column("refresh_successes", Integer, nullable=False, default=0),
    CheckConstraint(
        "status IN ('connected', 'degraded', 'reauth_required', 'disconnected')",
        name="status"),
)

# Sealed-secret columns shared by every table holding vault ciphertext; rotation
# re-wraps ``wrapped_key`` and updates ``kek_id``/``kek_version`` in place.
credentials = Table(
    "credentials", metadata,
    # No foreign key to connections: the vault also seals system secrets under
    # reserved ids such as "__audit__". Connection removal deletes its rows explicitly.
    Column("connection_id", String(200), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("kek_id", String(64), nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rotated_at", UtcDateTime(), nullable=True),
)
Index("ix_credentials_kek_id", credentials.c.kek_id)

oauth_pending_states = Table(
    "oauth_pending_states", metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("broker", String(32), nullable=False),
    Column("connection_id", String(64), nullable=True),
    Column("redirect_uri", String(1000), nullable=False),
    Column("verifier_ciphertext", LargeBinary, nullable=False),
    Column("verifier_nonce", LargeBinary, nullable=False),
    Column("verifier_wrapped_key", LargeBinary, nullable=False),
    Column("kek_id", String(64), nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("consumed", Boolean, nullable=False, default=False),
)
Index("ix_oauth_pending_states_kek_id", oauth_pending_states.c.kek_id)

audit_events = Table(
    "audit_events", metadata,
    # Assigned by the appender under the chain lock, not by the database: a gap is
    # then evidence of deletion rather than of a rolled-back sequence value.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("connection_id", String(64), nullable=True),
    Column("broker", String(32), nullable=True),
    Column("action", String(100), nullable=False),
    # Canonical JSON text, not a JSON column: the HMAC covers these exact bytes.
    Column("detail", Text, nullable=False),
    Column("outcome", String(50), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

vault_keys = Table(
    "vault_keys", metadata,
    Column("kek_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False, unique=True),
    Column("provider", String(32), nullable=False),
    # Where the provider finds the key: a key file name or a keyring user name. Never key bytes.
    Column("provider_ref", String(200), nullable=True),
    Column("salt", LargeBinary, nullable=True),
    # AES-GCM of a fixed label under the KEK: proves a supplied key is the right one.
    Column("check_value", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=True),
    Column("destroyed_at", UtcDateTime(), nullable=True),
    CheckConstraint("state IN ('active', 'retiring', 'retired')", name="state"),
)

settings = Table(
    "settings", metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# --- orders (migration 0002) -----------------------------------------------------------

INTENT_STATUSES = ("pending_new", "new", "partially_filled", "filled", "pending_cancel",
                   "canceled", "pending_replace", "replaced", "rejected", "expired", "unknown")

# The order journal: one row per order intent, written before the order leaves.
order_intents = Table(
    "order_intents", metadata,
    Column("id", String(36), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("client_order_id", String(48), nullable=False),
    Column("idempotency_key", String(255), nullable=True),
    # SHA-256 of the canonical order (account, symbol, side, quantity, type, prices, tif).
    Column("fingerprint", String(64), nullable=False),
    # The OrderRequest as canonical JSON (decimals as strings).
    Column("request_json", Text, nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("broker_order_id", String(64), nullable=True),
    # The OrderResult the caller got, as JSON, so an idempotent replay is identical.
    Column("result_json", Text, nullable=True),
    Column("error_type", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("not_sent", Boolean, nullable=False, default=False),
    Column("resolution", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    UniqueConstraint("connection_id", "client_order_id", name="uq_order_intents_client_order"),
    # NULL keys never collide (both backends), so key-less intents are unconstrained.
    UniqueConstraint("connection_id", "idempotency_key", name="uq_order_intents_idempotency"),
)
Index("ix_order_intents_status", order_intents.c.status)
Index("ix_order_intents_broker_order_id", order_intents.c.broker_order_id)

QUEUE_STATUSES = ("queued", "released", "canceled", "expired", "refused")

# Orders held while the market is closed, released at the next open.
order_queue = Table(
    "order_queue", metadata,
    Column("id", String(36), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("request_json", Text, nullable=False),
    # Decimals as canonical text: exact on both backends.
    Column("reference_price", String(40), nullable=True),
    Column("collar_pct", String(40), nullable=True),
    Column("status", String(16), nullable=False),
    Column("queued_at", UtcDateTime(), nullable=False),
    Column("release_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("client_order_id", String(48), nullable=False),
    Column("message", Text, nullable=True),
    Column("result_json", Text, nullable=True),
    CheckConstraint(
        "status IN ('queued', 'released', 'canceled', 'expired', 'refused')", name="status"),
)
Index("ix_order_queue_status", order_queue.c.status)

# --- paper accounts (migration 0003) ---------------------------------------------------

# A paper connection's simulated account, so it outlives the process that trades it.
# Deleted with its connection (``ConnectionRepository.delete``); no foreign key, as
# elsewhere: SQLite batch migrations rebuild a parent table by dropping it.
paper_accounts = Table(
    "paper_accounts", metadata,
    Column("connection_id", String(64), primary_key=True),
    # Bumped by every save; a save names the version it read (compare-and-swap).
    Column("version", Integer, nullable=False),
    # ``sim.snapshot`` JSON as text: exact on both backends (decimals are strings).
    Column("state", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("version >= 1", name="version"),
)
