-- Identity lifecycle (R3): targets and their accounts, birthrights, policies, HR events,
-- activity, plans and the persisted action queue, manual work items, access reviews.

-- What the lifecycle needs of a person beyond the HR card: why and since when the
-- status is what it is, and the login name on directory-style targets.
ALTER TABLE people ADD COLUMN status_reason TEXT;
ALTER TABLE people ADD COLUMN status_since BIGINT;
ALTER TABLE people ADD COLUMN login TEXT;

CREATE TABLE id_targets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    process_id TEXT REFERENCES processes(id),
    correlation TEXT NOT NULL,
    -- Connector configuration as JSON; secrets only as *_file paths.
    config TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    last_read_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);

-- Accounts as the targets last reported them, with their owner link and situation.
CREATE TABLE id_accounts (
    target_id TEXT NOT NULL REFERENCES id_targets(id),
    account_key TEXT NOT NULL,
    login TEXT NOT NULL,
    employee_id TEXT,
    email TEXT,
    enabled BIGINT NOT NULL,
    -- JSON array of entitlement names.
    entitlements TEXT NOT NULL,
    last_used BIGINT,
    owner_id TEXT REFERENCES people(id),
    -- How the owner was established: correlation or manual (orphan queue).
    link_source TEXT,
    situation TEXT NOT NULL,
    -- 0 once the account has disappeared from the target.
    present BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (target_id, account_key)
);
CREATE INDEX id_accounts_owner ON id_accounts(owner_id);
CREATE INDEX id_accounts_situation ON id_accounts(situation);

CREATE TABLE id_birthrights (
    id TEXT PRIMARY KEY,
    process_id TEXT REFERENCES processes(id),
    job_role TEXT,
    target_id TEXT NOT NULL REFERENCES id_targets(id),
    entitlement TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE id_assignments (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    target_id TEXT NOT NULL REFERENCES id_targets(id),
    entitlement TEXT NOT NULL,
    from_at BIGINT NOT NULL,
    until_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX id_assignments_person ON id_assignments(person_id);

-- Lifecycle policy per process unit as JSON; process_id '' is the default.
CREATE TABLE id_policies (
    process_id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE id_hr_events (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX id_hr_events_person ON id_hr_events(person_id, at);
CREATE INDEX id_hr_events_at ON id_hr_events(at);

-- Latest activity per person and feed (badge, login, attendance).
CREATE TABLE id_activity (
    person_id TEXT NOT NULL REFERENCES people(id),
    kind TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, kind)
);

-- A transfer between process units whose clean-up is not finished.
CREATE TABLE id_moves (
    person_id TEXT PRIMARY KEY REFERENCES people(id),
    from_process_id TEXT,
    from_team_id TEXT,
    at BIGINT NOT NULL
);

-- Consecutive full HR files a person was missing from.
CREATE TABLE id_hr_absence (
    person_id TEXT PRIMARY KEY REFERENCES people(id),
    misses BIGINT NOT NULL
);

CREATE TABLE id_plans (
    id TEXT PRIMARY KEY,
    -- scheduled, event, manual, dry_run
    kind TEXT NOT NULL,
    -- simulated, held, approved, rejected, queued, done
    status TEXT NOT NULL,
    cause TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    breaker TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    decision_note TEXT
);
CREATE INDEX id_plans_created ON id_plans(created_at);

-- The persisted action queue. `open_key` is set while an action is pending and cleared
-- when it finishes, so the same change to the same account is never queued twice.
CREATE TABLE id_actions (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL REFERENCES id_plans(id),
    person_id TEXT REFERENCES people(id),
    target_id TEXT NOT NULL REFERENCES id_targets(id),
    account_key TEXT,
    op TEXT NOT NULL,
    op_name TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- held, queued, running, done, failed, manual, cancelled
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_by TEXT,
    last_error TEXT,
    open_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX id_actions_due ON id_actions(status, next_at);
CREATE INDEX id_actions_person ON id_actions(person_id, created_at);
CREATE INDEX id_actions_plan ON id_actions(plan_id);

-- Actions on the manual target: work items for IT admins with an SLA clock.
CREATE TABLE id_work_items (
    action_id TEXT PRIMARY KEY REFERENCES id_actions(id),
    due_at BIGINT NOT NULL,
    escalated_at BIGINT,
    completed_by TEXT,
    completed_at BIGINT,
    proof TEXT
);
CREATE INDEX id_work_items_due ON id_work_items(completed_at, due_at);

-- Findings on accounts that need a human: dormant, orphan, collision.
CREATE TABLE id_flags (
    target_id TEXT NOT NULL,
    account_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    person_id TEXT,
    since BIGINT NOT NULL,
    PRIMARY KEY (target_id, account_key, kind)
);

CREATE TABLE id_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    process_id TEXT REFERENCES processes(id),
    target_id TEXT REFERENCES id_targets(id),
    reviewer_role TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    default_decision TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX id_campaigns_process ON id_campaigns(process_id, created_at);

CREATE TABLE id_review_items (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES id_campaigns(id),
    target_id TEXT NOT NULL,
    account_key TEXT NOT NULL,
    person_id TEXT,
    team_id TEXT,
    login TEXT NOT NULL,
    entitlements TEXT NOT NULL,
    decision TEXT,
    comment TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    action_id TEXT
);
CREATE INDEX id_review_items_campaign ON id_review_items(campaign_id, decision)
