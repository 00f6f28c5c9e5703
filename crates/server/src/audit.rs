//! The audit sink: the one interface every state change and every denial is written
//! through. Today it appends to the `audit_events` table; the ledger plugs a Merkle log
//! in behind the same trait without touching callers.

use crate::ctx::Ctx;
use bposhield_proto::{AuditEvent, EventId};
use bposhield_store::{Store, StoreError};
use std::future::Future;
use std::pin::Pin;

/// Where audit events go. Implementations must be durable before returning `Ok`.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record<'a>(&'a self, event: AuditEvent) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;
}

/// The table-backed sink.
pub struct StoreAuditSink {
    store: Store,
}

impl StoreAuditSink {
    /// A sink writing into `store`.
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl AuditSink for StoreAuditSink {
    fn record<'a>(&'a self, event: AuditEvent) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(async move { self.store.append_audit(&event).await })
    }
}

/// The outcome column of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

impl crate::AppState {
    /// Writes an audit event for the request in `ctx`. A failure to record is an error
    /// for the caller: an unrecorded security action must not look successful.
    pub async fn audit(
        &self,
        ctx: &Ctx,
        action: &str,
        object: &str,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> Result<(), crate::AppError> {
        let now_ms = self.clock.now_ms();
        let event = AuditEvent {
            id: EventId::new_v7(u64::try_from(now_ms).unwrap_or(0)),
            at: now_ms.div_euclid(1000),
            actor: ctx.actor_ref(),
            action: action.to_owned(),
            object: object.to_owned(),
            outcome: outcome.as_str().to_owned(),
            request_id: ctx.request_id.clone(),
            source_ip: ctx.ip.clone(),
            detail,
        };
        self.metrics.audit_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.audit.record(event).await.map_err(crate::AppError::from)
    }
}
