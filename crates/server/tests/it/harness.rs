//! Test harness: a server on a free loopback port over a fresh database, a small
//! organisation, and one user (with a bearer token) per role.

use bposhield_core::ManualClock;
use bposhield_proto::*;
use bposhield_server::ctx::Ctx;
use bposhield_server::{services, AppState, Config, Running};
use bposhield_store::Store;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

pub const PG_URL_ENV: &str = "BPOSHIELD_TEST_PG_URL";
/// 2026-11-29 00:00 UTC.
pub const T0_MS: i64 = 1_795_910_400_000;
pub const PASSWORD: &str = "Tangerine-Orbit-Kettle-83";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running test server with its fixtures.
pub struct TestServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub base: String,
    pub running: Option<Running>,
    pub site: Site,
    pub other_site: Site,
    pub process: ProcessUnit,
    pub team: Team,
    pub other_team: Team,
    pub person: Person,
    /// Bearer token per role (each user holds that one role, globally).
    pub tokens: HashMap<Role, String>,
    pub users: HashMap<Role, User>,
    pub client: reqwest::Client,
    cleanup: Option<(String, String)>,
    dir: std::path::PathBuf,
}

impl TestServer {
    /// Starts a server on `db`; `None` when PostgreSQL is asked for but not configured.
    pub async fn start(db: Db, test: &str) -> Option<TestServer> {
        Self::start_with(db, test, |_| {}).await
    }

    /// Like [`start`](Self::start), with a hook to adjust the configuration.
    pub async fn start_with(db: Db, test: &str, tweak: impl FnOnce(&mut Config)) -> Option<TestServer> {
        // Server logs on failure: `RUST_LOG=bposhield=debug cargo test … -- --nocapture`.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let unique = Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("bposhield-it-{test}-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = Config { data_dir: dir.clone(), port: 0, ..Config::default() };
        cfg.auth.require_totp_roles.clear();
        cfg.controls.evaluate_every_seconds = 3600;
        let mut cleanup = None;
        if db == Db::Postgres {
            let Some(admin_url) = std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty()) else {
                eprintln!("{test}: PostgreSQL variant skipped; set {PG_URL_ENV} to run it");
                return None;
            };
            let name = format!("bps_it_{unique}");
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            let _ = admin.close().await;
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_owned();
            cfg.database_url = format!("{base}/{name}");
            cleanup = Some((admin_url, name));
        }
        tweak(&mut cfg);
        let store = Store::connect(&cfg.effective_database_url()).await.unwrap();
        let clock = Arc::new(ManualClock::new(T0_MS));
        let state = AppState::new(store, clock.clone(), cfg).unwrap();
        let ctx = Ctx::system("test-setup");
        let site = services::create_site(
            &state,
            &ctx,
            None,
            &SiteInput { code: "PNQ1".into(), name: "Pune One".into(), city: "Pune".into(), country: "India".into() },
        )
        .await
        .unwrap();
        let other_site = services::create_site(
            &state,
            &ctx,
            None,
            &SiteInput {
                code: "MNL1".into(),
                name: "Manila One".into(),
                city: "Manila".into(),
                country: "Philippines".into(),
            },
        )
        .await
        .unwrap();
        let process = services::create_process(
            &state,
            &ctx,
            None,
            &ProcessInput {
                site_id: site.id,
                code: "ACME-CARDS".into(),
                name: "Acme Bank cards, inbound".into(),
                client: "Acme Bank".into(),
            },
        )
        .await
        .unwrap();
        let team =
            services::create_team(&state, &ctx, None, &TeamInput { process_id: process.id, name: "Cards T01".into() })
                .await
                .unwrap();
        let other_team =
            services::create_team(&state, &ctx, None, &TeamInput { process_id: process.id, name: "Cards T02".into() })
                .await
                .unwrap();
        let person = services::create_person(&state, &ctx, None, &person_input("E000001", &site, &process, &team))
            .await
            .unwrap();
        let mut tokens = HashMap::new();
        let mut users = HashMap::new();
        for role in Role::ALL {
            let u = services::create_user(
                &state,
                &ctx,
                None,
                &UserInput {
                    username: format!("u.{}", role.as_str().replace('_', "-")),
                    display_name: role.label().into(),
                    password: PASSWORD.into(),
                    person_id: None,
                    grants: vec![GrantInput { role, scope: Scope::Global }],
                },
            )
            .await
            .unwrap();
            let t =
                services::issue_token(&state, &ctx, u.id, "test", 30, vec![GrantInput { role, scope: Scope::Global }])
                    .await
                    .unwrap();
            tokens.insert(role, t.token);
            users.insert(role, u);
        }
        let running = bposhield_server::start(state.clone()).await.unwrap();
        let base = format!("http://{}", running.addr);
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Some(TestServer {
            state,
            clock,
            base,
            running: Some(running),
            site,
            other_site,
            process,
            team,
            other_team,
            person,
            tokens,
            users,
            client,
            cleanup,
            dir,
        })
    }

    /// The log's verifier key.
    pub fn checkpointer_key(&self) -> bposhield_ledger::note::VerifierKey {
        self.state.checkpointer.verifier().clone()
    }

    /// A request with the bearer token of `role`.
    pub fn req(&self, role: Role, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.tokens[&role])
    }

    /// Another replica on the same database (own state and caches, same clock), and its
    /// base URL.
    pub async fn second_replica(&self) -> (Running, String) {
        let cfg = self.state.config.clone();
        let store = Store::connect(&cfg.effective_database_url()).await.unwrap();
        let state = AppState::new(store, self.clock.clone(), cfg).unwrap();
        let running = bposhield_server::start(state).await.unwrap();
        let base = format!("http://{}", running.addr);
        (running, base)
    }

    /// Stops the server and drops the database.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.state.store.close().await;
        if let Some((admin_url, name)) = self.cleanup.take() {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A valid person in `team`.
pub fn person_input(employee_id: &str, site: &Site, process: &ProcessUnit, team: &Team) -> PersonInput {
    PersonInput {
        employee_id: employee_id.into(),
        given_name: "Priya".into(),
        family_name: "Sharma".into(),
        email: Some(format!("{}@example.com", employee_id.to_lowercase())),
        site_id: site.id,
        process_id: Some(process.id),
        team_id: Some(team.id),
        manager_id: None,
        job_role: "Customer service associate".into(),
        status: EmploymentStatus::Active,
        hire_date: "2024-02-01".into(),
        exit_date: None,
    }
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from `async fn <name>(db: Db)`.
#[macro_export]
macro_rules! both_dbs {
    ($($name:ident),* $(,)?) => {
        pub mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::harness::Db::Sqlite).await }
            )*
        }
        pub mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::harness::Db::Postgres).await }
            )*
        }
    };
}
