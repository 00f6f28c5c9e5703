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
    purged_at BIGINT
);
CREATE INDEX recordings_team ON recordings(team_id, started_at);
CREATE INDEX recordings_process ON recordings(process_id, started_at);
CREATE INDEX recordings_started ON recordings(started_at, id);

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
