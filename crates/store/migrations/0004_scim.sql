-- SCIM 2.0 resources (/scim/v2). A User's id is the platform person id it maps to; the
-- resource itself is kept as JSON (doc), with the columns filters are pushed down to.
-- version counts changes (the ETag). Portable DDL (SQLite and PostgreSQL).

CREATE TABLE scim_users (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    user_name_lc TEXT NOT NULL UNIQUE,
    external_id TEXT,
    employee_number TEXT,
    doc TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scim_users_external ON scim_users(external_id);
CREATE INDEX scim_users_employee ON scim_users(employee_number);
CREATE INDEX scim_users_order ON scim_users(created_at, id);

CREATE TABLE scim_groups (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    display_name_lc TEXT NOT NULL UNIQUE,
    external_id TEXT,
    employee_number TEXT,
    doc TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scim_groups_external ON scim_groups(external_id);
CREATE INDEX scim_groups_order ON scim_groups(created_at, id);
