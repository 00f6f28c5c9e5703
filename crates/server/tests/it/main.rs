//! Integration tests of the server: real HTTP on a loopback port, a real database
//! (SQLite always; PostgreSQL too when `BPOSHIELD_TEST_PG_URL` is set), and a real
//! headless Chromium for the browser test. One test binary for the crate, to save links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_e2e;
mod api_input;
mod auth_flows;
mod browser;
mod fleet;
mod harness;
mod identity;
mod identity_web;
mod ledger;
mod openapi;
mod recordings;
mod route_roles;
mod scim;
mod tls;
