//! The bposhield server: web UI, REST API (`/api/v1`, OpenAPI at `/api/openapi.json`),
//! sign-in and sessions, authorization on every route, audit events, background jobs.
//!
//! Layout: [`routes`] is the route table (every route with the [`Action`] it needs);
//! [`ctx`] resolves who is calling and renders errors; [`services`] hold every state
//! change and write its audit event; [`api`] and [`web`] are thin adapters from HTTP to
//! services. Engines and the store never depend on this crate.
//!
//! [`Action`]: bposhield_core::Action

pub mod api;
pub mod audit;
pub mod config;
pub mod ctx;
pub mod error;
pub mod fleet;
pub mod identity;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod recordings;
pub mod routes;
pub mod scim;
pub mod services;
pub mod web;

use bposhield_core::Clock;
use bposhield_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
pub use error::{AppError, AppResult};

/// Shared state of one server process. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub audit: Arc<dyn audit::AuditSink>,
    pub limiter: ctx::SignInLimiter,
    pub auth_cache: ctx::AuthCache,
    pub metrics: metrics::Metrics,
    /// Identifies this replica in job leases.
    pub instance: String,
    /// Signs checkpoints; holds the verifier key.
    pub checkpointer: Arc<ledger::Checkpointer>,
    /// The auditor page's background verification.
    pub verify_runner: ledger::VerifyRunner,
    /// The identity lifecycle's executor wake-up and connector cache.
    pub identity: identity::Runtime,
    /// The recording vault, opened on first use ([`AppState::vault`]).
    pub vault_slot: recordings::VaultSlot,
    /// The fleet's bundle-signing key, loaded on first use ([`AppState::fleet_keys`]).
    pub fleet_keys_slot: fleet::KeySlot,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state: loads (or creates) the ledger signing key and starts the ledger
    /// writer behind the audit sink. Needs a Tokio runtime.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> anyhow::Result<Self> {
        let key = ledger::load_or_create_key(&config.ledger_key_path(), &config.ledger.origin)?;
        let checkpointer = Arc::new(ledger::Checkpointer::new(store.clone(), key, clock.clone()));
        let audit = Arc::new(ledger::LedgerSink::start(
            store.clone(),
            checkpointer.clone(),
            config.ledger.max_batch,
            config.ledger.checkpoint_every_entries,
        ));
        let instance = format!("{}-{}", std::process::id(), hex::encode(rand::random::<[u8; 4]>()));
        Ok(Self(Arc::new(Inner {
            store,
            clock,
            limiter: ctx::SignInLimiter::new(config.auth.signin_per_ip_per_minute),
            auth_cache: ctx::AuthCache::default(),
            config,
            audit,
            metrics: metrics::Metrics::default(),
            instance,
            checkpointer,
            verify_runner: ledger::VerifyRunner::default(),
            identity: identity::Runtime::default(),
            vault_slot: recordings::VaultSlot::default(),
            fleet_keys_slot: fleet::KeySlot::default(),
        })))
    }

    /// Binds the log to this replica's verifier key (refusing a key other than the one
    /// the log is already signed with) and brings audit rows of earlier versions into
    /// the ledger.
    pub async fn prepare_ledger(&self) -> anyhow::Result<()> {
        let mine = self.checkpointer.verifier().to_string();
        let bound = self.store.ledger_bind_key(&mine).await?;
        if bound != mine {
            anyhow::bail!(
                "this database's ledger is signed with {bound}, but this replica's key ({}) is {mine}; \
                 give every replica the same key file (ledger.signing_key_path)",
                self.config.ledger_key_path().display()
            );
        }
        let adopted = ledger::adopt_legacy_events(&self.store).await?;
        if adopted > 0 {
            tracing::info!(adopted, "audit events of an earlier version appended to the ledger");
        }
        Ok(())
    }
}

/// A running server: its address and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: axum_server::Handle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests (up to 10 s), and waits.
    pub async fn stop(self) {
        self.handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        let _ = self.task.await;
    }
}

/// Binds and serves (HTTP, or HTTPS when the config names a certificate and key), and
/// starts the background jobs. Port 0 picks a free port (tests).
pub async fn start(state: AppState) -> anyhow::Result<Running> {
    let addr: SocketAddr = format!("{}:{}", state.config.bind, state.config.port)
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid bind address {}:{}: {e}", state.config.bind, state.config.port))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    state.prepare_ledger().await?;
    // Sign what is there now, so auditors (and the checkpoint control) need not wait a
    // whole interval after a start, a seeding or an import. Read-only commands such as
    // `ledger verify` never sign.
    state.checkpointer.publish_head().await?;
    // The shipped floor USB policy and baselines, installed on a fresh database.
    fleet::ensure_builtin_policies(&state).await.map_err(|e| anyhow::anyhow!("fleet built-in policies: {e}"))?;
    let app = routes::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    jobs::spawn(state.clone());
    let task = match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| anyhow::anyhow!("cannot load TLS certificate/key: {e}"))?;
            let server = axum_server::from_tcp_rustls(listener, tls).handle(handle.clone());
            tokio::spawn(async move { server.serve(app).await })
        }
        _ => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(async move { server.serve(app).await })
        }
    };
    Ok(Running { addr, handle, task })
}
