"""lethe's own tables, all prefixed ``lethe_`` so they can live in the application's database.

Changing a table means adding an Alembic revision under ``migrations/versions``; these
definitions are what the newest revision produces.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "anchors",
    "approvals",
    "batches",
    "chain",
    "deliveries",
    "entries",
    "events",
    "files",
    "holds",
    "jobs",
    "metadata",
    "runs",
    "slots",
]

metadata = MetaData()

runs = Table(
    "lethe_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("policies", JSON, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("record", JSON),
    # The run's lease: renewed by a heartbeat; a run past its expiry is taken as dead.
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("lease_expires_at", DateTime(timezone=True)),
)

events = Table(
    "lethe_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("batch_id", String(64)),
    Column("policy", String(128)),
    Column("dataset", String(128)),
    Column("phase", Integer),
    Column("event", String(32), nullable=False),
    Column("item_key", Text),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The event's format (lethe.state.digest): 1 chained event by event, 2 sealed by its entry.
    Column("v", Integer, nullable=False, server_default="1"),
    Column("entry", Integer),
    Index("ix_lethe_events_item", "dataset", "item_key"),
    Index("ix_lethe_events_run", "run_id"),
)

# One row per append (a batch's events, a run's end, a hold change): the Merkle root of its
# events' leaf hashes, chained to the entry before it (format 2; docs/ledger.md).
entries = Table(
    "lethe_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("v", Integer, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("ts", String(40), nullable=False),
    Column("batch_id", String(64)),
    Column("root", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Ed25519 signature (base64) of ``hash`` (its ASCII hex) and the signing key's id; NULL
    # when no key was configured at append time (docs/ledger.md "Signatures").
    Column("signature", Text),
    Column("key_id", String(16)),
)

# Every public key that ever signed an entry, so verify can name each one.
keys = Table(
    "lethe_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("first_seen", String(40), nullable=False),
)

# One row (id = 1): the last event's sequence number, the last entry's number and the chain's
# head hash, so that removing the newest events is detected, and so that appenders serialise
# on a single row lock.
chain = Table(
    "lethe_chain",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("entry", Integer, nullable=False, server_default="0"),
)

holds = Table(
    "lethe_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(128), nullable=False),
    Column("item_key", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("placed_by", String(256), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    Column("released_by", String(256)),
    Column("release_reason", Text),
    Index("ix_lethe_holds_active", "dataset", "item_key", "released_at"),
)

# A batch's intent, written before the application transaction commits, so that a crash
# between that commit and the audit append can be reconciled by the next run.
batches = Table(
    "lethe_batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("policy", String(128), nullable=False),
    Column("phase", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_lethe_batches_status", "status"),
)

# The slot ledger: one row per scheduled occurrence of a job (or per manual trigger minute).
# The unique (job, slot_utc) pair is the claim: whoever inserts it runs the slot, once.
# A row may stand for several slots (``covers``) when it records coalesced or missed ones.
slots = Table(
    "lethe_slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(128), nullable=False),
    Column("slot_utc", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("covers", Integer, nullable=False),
    Column("covers_from", DateTime(timezone=True)),
    Column("run_id", String(64)),
    Column("attempt", Integer, nullable=False),
    Column("fence", Integer, nullable=False),
    Column("trigger", String(32)),
    Column("owner", String(256)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("note", Text),
    UniqueConstraint("job", "slot_utc", name="uq_lethe_slots_job_slot"),
    Index("ix_lethe_slots_job_status", "job", "status"),
    Index("ix_lethe_slots_run", "run_id"),
)

# One row per job: pause state, and the row claims lock to serialise one job's verdicts.
jobs = Table(
    "lethe_jobs",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True)),
    Column("changed_by", String(256)),
)

# The delivery ledger of deletion warnings: one row per (policy, item, milestone), claimed
# ('sending') by a unique insert before the message leaves and marked 'delivered' once the
# server accepted it, so no milestone is sent twice whatever the runs, replicas or retries.
deliveries = Table(
    "lethe_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy", String(128), nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("item_key", Text, nullable=False),
    Column("milestone", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("recipient_sha256", String(64), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", JSON, nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("error", Text),
    UniqueConstraint("policy", "item_key", "milestone", name="uq_lethe_deliveries_item"),
    Index("ix_lethe_deliveries_item", "dataset", "item_key"),
)

# The file retry ledger: each file a batch's rows named, recorded with the batch's intent and
# deleted from its storage once that batch committed. A row stays until its file is gone
# (``attempts`` and ``error`` say how the last tries went); a file of a batch that rolled back
# is never deleted, only forgotten.
files = Table(
    "lethe_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("policy", String(128), nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("item_key", Text, nullable=False),
    Column("table_name", String(255), nullable=False),
    Column("column_name", String(255), nullable=False),
    Column("storage", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("tried_at", DateTime(timezone=True)),
    Index("ix_lethe_files_batch", "batch_id"),
)

# Approvals: a real run the circuit breaker refused leaves its exact plan here, pending; once
# someone approves it (``lethe approve``), one run may carry out exactly that plan
# (``lethe run --approved``), and the row is then ``used``. Rows are kept as history.
approvals = Table(
    "lethe_approvals",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("policies", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("refusal", Text, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(256)),
    Column("approved_reason", Text),
    Column("approved_at", DateTime(timezone=True)),
    Column("used_by", String(64)),
    Column("used_at", DateTime(timezone=True)),
    Index("ix_lethe_approvals_status", "status"),
)

# Anchoring (docs/evidence.md "Anchors"): one row per anchor and run head, written after the
# head was published (``anchored``, with what the anchor answered) or failed to be
# (``failed``, with why; the next run tries again). Verify reads the anchors themselves, not
# these rows, except for anchors that cannot be read back (webhooks).
anchors = Table(
    "lethe_anchors",
    metadata,
    Column("anchor", String(64), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("entry", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("tried_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("receipt", Text),
    Column("error", Text),
)
