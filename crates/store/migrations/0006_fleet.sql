-- The endpoint fleet (risks R1 and R4): enrollment tokens, enrolled hosts with what
-- their agents report, USB device events, SCA results, policies and where they apply,
-- per-scope settings, USB exceptions and offline response codes.
-- Portable DDL (SQLite and PostgreSQL); booleans are BIGINT 0/1 like everywhere else.

-- One counter for every change that goes into a bundle: a change stamps the changed
-- policy or scope with the next value, so a host's bundle version (the highest stamp
-- of what applies to it) only ever goes up.
CREATE TABLE fleet_counter (
    id BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO fleet_counter (id, value) VALUES (1, 0);

CREATE TABLE fleet_enroll_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL REFERENCES sites(id),
    process_id TEXT REFERENCES processes(id),
    label TEXT NOT NULL,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);

-- credential_hash / next_credential_hash: SHA-256 of the host's bearer credentials
-- (the next one is pending after a rotation until first used). offline_key is sealed
-- with a key derived from the bundle-signing seed; host_tag (hex) finds the host of an
-- offline challenge.
CREATE TABLE fleet_hosts (
    id TEXT PRIMARY KEY,
    machine_id TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    process_id TEXT REFERENCES processes(id),
    os TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    next_credential_hash TEXT UNIQUE,
    offline_key TEXT NOT NULL,
    host_tag TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    enroll_token_id TEXT,
    retired_at BIGINT,
    simulated BIGINT NOT NULL,
    last_seen_at BIGINT,
    policy_version BIGINT NOT NULL,
    usb_enforcing BIGINT NOT NULL,
    queue_depth BIGINT NOT NULL,
    queue_dropped BIGINT NOT NULL,
    last_scan_at BIGINT,
    facts TEXT,
    facts_at BIGINT,
    pending_security_updates BIGINT,
    updates_pending_since BIGINT
);
CREATE INDEX fleet_hosts_tag ON fleet_hosts(host_tag);
CREATE INDEX fleet_hosts_process ON fleet_hosts(process_id, hostname);
CREATE INDEX fleet_hosts_site ON fleet_hosts(site_id, hostname);

-- Device events, idempotent on (host_id, seq); site and process copied from the host
-- at ingest so the timeline and the controls filter without a join.
CREATE TABLE fleet_device_events (
    host_id TEXT NOT NULL REFERENCES fleet_hosts(id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    site_id TEXT NOT NULL,
    process_id TEXT,
    decision TEXT NOT NULL,
    device_hash TEXT NOT NULL,
    vendor_product TEXT NOT NULL,
    name TEXT NOT NULL,
    port TEXT NOT NULL,
    interfaces TEXT NOT NULL,
    blocked_interfaces TEXT NOT NULL,
    storage_like BIGINT NOT NULL,
    reason TEXT NOT NULL,
    exception_id TEXT,
    offline_challenge TEXT,
    device_rule TEXT NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE INDEX fleet_device_events_at ON fleet_device_events(at);
CREATE INDEX fleet_device_events_process ON fleet_device_events(process_id, at);

-- The latest result of each SCA policy on each host (checks with their evidence as
-- JSON), and every scan's score over time (idempotent on the event's seq).
CREATE TABLE fleet_scan_latest (
    host_id TEXT NOT NULL REFERENCES fleet_hosts(id),
    policy_id TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    not_applicable BIGINT NOT NULL,
    score BIGINT NOT NULL,
    critical_failed BIGINT NOT NULL,
    critical_ids TEXT NOT NULL,
    checks TEXT NOT NULL,
    PRIMARY KEY (host_id, policy_id)
);
CREATE TABLE fleet_scan_history (
    host_id TEXT NOT NULL REFERENCES fleet_hosts(id),
    seq BIGINT NOT NULL,
    policy_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    score BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    not_applicable BIGINT NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE INDEX fleet_scan_history_at ON fleet_scan_history(host_id, at);

-- Policies (kind usb or sca). builtin names the shipped content file; edited turns 1
-- once an admin changes it, after which new releases leave it alone.
CREATE TABLE fleet_policies (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    sca_id TEXT,
    builtin TEXT,
    edited BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
-- scope: global, site:<id>, process:<id> or host:<id>.
CREATE TABLE fleet_assignments (
    policy_id TEXT NOT NULL REFERENCES fleet_policies(id),
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, scope)
);
CREATE INDEX fleet_assignments_scope ON fleet_assignments(scope);

-- Per-scope settings (NULL inherits) and the scope's change stamp (assignments,
-- settings and, for a host, its exceptions and enrollment).
CREATE TABLE fleet_scopes (
    scope TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    usb_enforce BIGINT,
    scan_interval_seconds BIGINT,
    heartbeat_seconds BIGINT
);

CREATE TABLE fleet_exceptions (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL REFERENCES fleet_hosts(id),
    device_hash TEXT NOT NULL,
    device_name TEXT NOT NULL,
    reason TEXT NOT NULL,
    hours BIGINT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    note TEXT,
    expires_at BIGINT,
    first_used_at BIGINT
);
CREATE INDEX fleet_exceptions_host ON fleet_exceptions(host_id, status);
CREATE INDEX fleet_exceptions_status ON fleet_exceptions(status, requested_at);

-- Offline response codes issued (the code itself is not kept).
CREATE TABLE fleet_offline_codes (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL REFERENCES fleet_hosts(id),
    challenge TEXT NOT NULL,
    hours BIGINT NOT NULL,
    reason TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX fleet_offline_codes_challenge ON fleet_offline_codes(challenge);
CREATE INDEX fleet_offline_codes_until ON fleet_offline_codes(valid_until)
