-- Platform core: organisation, people, users and roles, sessions, tokens, audit, controls.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. Ids are UUID text, times are
-- Unix seconds, booleans are 0/1 BIGINT, JSON is TEXT.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE processes (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    client TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX processes_site ON processes(site_id);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    process_id TEXT NOT NULL REFERENCES processes(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (process_id, name)
);

CREATE TABLE people (
    id TEXT PRIMARY KEY,
    employee_id TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    email TEXT,
    site_id TEXT NOT NULL REFERENCES sites(id),
    process_id TEXT REFERENCES processes(id),
    team_id TEXT REFERENCES teams(id),
    manager_id TEXT REFERENCES people(id),
    job_role TEXT NOT NULL,
    status TEXT NOT NULL,
    hire_date TEXT NOT NULL,
    exit_date TEXT,
    search TEXT NOT NULL,
    -- The row as API JSON, written from the same value as the columns (list pages).
    doc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX people_site ON people(site_id, family_name);
CREATE INDEX people_process ON people(process_id, family_name);
CREATE INDEX people_team ON people(team_id, family_name);
CREATE INDEX people_manager ON people(manager_id);
CREATE INDEX people_order ON people(family_name, given_name, id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    person_id TEXT UNIQUE REFERENCES people(id),
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    totp_secret TEXT,
    totp_enabled BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    password_changed_at BIGINT NOT NULL,
    search TEXT NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, role, scope)
);
CREATE INDEX grants_role_scope ON grants(role, scope);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    mfa_pending BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    source_ip TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    grants TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    request_id TEXT NOT NULL,
    source_ip TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events(at, id);
CREATE INDEX audit_events_actor ON audit_events(actor, at);

CREATE TABLE control_results (
    id TEXT PRIMARY KEY,
    control_id TEXT NOT NULL,
    status TEXT NOT NULL,
    evidence TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL
);
CREATE INDEX control_results_control ON control_results(control_id, evaluated_at);
CREATE INDEX control_results_at ON control_results(evaluated_at);

-- The latest result of each control, kept beside the history so the dashboard reads a
-- handful of rows however long the history grows.
CREATE TABLE control_latest (
    control_id TEXT PRIMARY KEY,
    result_id TEXT NOT NULL,
    status TEXT NOT NULL,
    evidence TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL
);

-- Bumped whenever a user's access changes (grant, revocation, disabling): replicas
-- poll it to drop cached token authentications within a second.
CREATE TABLE auth_epoch (
    id BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);

CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
)
