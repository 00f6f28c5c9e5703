//! The audit sink: the one interface every state change and every denial is written
//! through. The implementation is the ledger (`crate::ledger::LedgerSink`): each event
//! becomes an audit row and a Merkle log entry in the same commit.

use crate::ctx::Ctx;
use bposhield_proto::{AuditEvent, EventId};
use bposhield_store::StoreError;
use std::future::Future;
use std::pin::Pin;

/// Where audit events go. Implementations must be durable before returning `Ok`.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record<'a>(&'a self, event: AuditEvent) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;
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
        self.audit_change(ctx, action, object, outcome, detail, None::<&()>, None::<&()>).await
    }

    /// Like [`AppState::audit`] for a state change: the entry also carries the SHA-256
    /// of the canonical JSON of the object before and after (absent for a creation or a
    /// deletion), so the ledger binds the exact states without holding their data.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit_change<B: serde::Serialize, A: serde::Serialize>(
        &self,
        ctx: &Ctx,
        action: &str,
        object: &str,
        outcome: Outcome,
        detail: serde_json::Value,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<(), crate::AppError> {
        let before_digest = before.map(state_digest).transpose()?;
        let after_digest = after.map(state_digest).transpose()?;
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
            before_digest,
            after_digest,
            ledger_index: None,
        };
        self.metrics.audit_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.audit.record(event).await.map_err(crate::AppError::from)
    }
}

/// SHA-256 (hex) of the canonical JSON of a state.
fn state_digest<T: serde::Serialize>(v: &T) -> Result<String, crate::AppError> {
    let value = serde_json::to_value(v).map_err(crate::AppError::internal)?;
    let d = bposhield_ledger::entry::digest(&value).map_err(crate::AppError::internal)?;
    Ok(hex::encode(d))
}
