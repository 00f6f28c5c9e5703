-- Call recordings (risk R2). The media and the original transcript live encrypted in
-- the vault (blob store); these rows hold what may be shown: metadata, the redacted
-- transcript and screen text, and the PII findings (type, offsets, masked value).
-- Portable DDL (SQLite and PostgreSQL).

CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL REFERENCES sites(id),
    process_id TEXT NOT NULL REFERENCES processes(id),
    team_id TEXT REFERENCES teams(id),
    agent_ref TEXT NOT NULL,
    agent_person_id TEXT REFERENCES people(id),
    started_at BIGINT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    channel TEXT NOT NULL,
    customer_ref TEXT NOT NULL,
    media_object TEXT,
    media_type TEXT,
    media_bytes BIGINT,
    media_digest TEXT,
    text_object TEXT,
    redacted_transcript TEXT NOT NULL,
    redacted_screen TEXT NOT NULL,
    pii_types TEXT NOT NULL,
    security_code BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    review_completed_at BIGINT,
    purge_due_at BIGINT,
    hold_reason TEXT,
    hold_by TEXT,
    hold_at BIGINT,
    purged_at BIGINT
);
CREATE INDEX recordings_due ON recordings(purge_due_at);
CREATE INDEX recordings_team ON recordings(team_id, started_at);
CREATE INDEX recordings_process ON recordings(process_id, started_at);
CREATE INDEX recordings_started ON recordings(started_at, id);

-- Retention per process unit: keep N days after the call, or purge N hours after the
-- review is marked complete. A recording with a card security code is due N hours
-- after ingest whatever the mode. No row: the defaults of the server.
CREATE TABLE recording_policies (
    process_id TEXT PRIMARY KEY REFERENCES processes(id),
    mode TEXT NOT NULL,
    keep_days BIGINT NOT NULL,
    purge_hours_after_review BIGINT NOT NULL,
    security_code_hours BIGINT NOT NULL,
    allow_download BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE recording_findings (
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    source TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    start_offset BIGINT NOT NULL,
    end_offset BIGINT NOT NULL,
    score_milli BIGINT NOT NULL,
    masked TEXT NOT NULL,
    PRIMARY KEY (recording_id, source, seq)
);
