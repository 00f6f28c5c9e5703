-- The tamper-evident ledger (RFC 9162 Merkle log). One entry per audit event, in one
-- global order: appenders reserve their indexes by updating the single head row, which
-- PostgreSQL locks until commit and SQLite serializes with its write lock.
CREATE TABLE ledger_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL
);
INSERT INTO ledger_head (id, size) VALUES (1, 0);

-- Every complete subtree above the leaves, written as it completes: (level L >= 1,
-- index i) covers leaves [i * 2^L, (i + 1) * 2^L). Hash in lower-case hex. The leaves
-- (level 0) are the audit rows' `leaf` column. Any tree head or proof for any size reads
-- O(log n) rows.
CREATE TABLE ledger_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Signed checkpoints (C2SP tlog-checkpoint notes), kept with their history.
CREATE TABLE ledger_checkpoints (
    size BIGINT PRIMARY KEY,
    root TEXT NOT NULL,
    note TEXT NOT NULL,
    published_at BIGINT NOT NULL
);

-- The verifier key the log is signed with, fixed at the first checkpoint, so a replica
-- started with another key refuses to sign instead of forking the log's identity.
CREATE TABLE ledger_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Each audit event is one ledger entry, in the same row: its index, the canonical JSON
-- text hashed into the log (`entry`) and its leaf hash SHA-256(0x00 || entry) in hex
-- (`leaf`). One row per entry keeps an append to one b-tree insert per index.
ALTER TABLE audit_events ADD COLUMN ledger_idx BIGINT;
ALTER TABLE audit_events ADD COLUMN entry TEXT;
ALTER TABLE audit_events ADD COLUMN leaf TEXT;
ALTER TABLE audit_events ADD COLUMN before_digest TEXT;
ALTER TABLE audit_events ADD COLUMN after_digest TEXT;
CREATE UNIQUE INDEX audit_events_ledger ON audit_events(ledger_idx);
