//! The audit event table: append and filtered reads. Append-only: there is no update or
//! delete function here, on purpose. Every row is also a ledger entry (see `ledger`).

use crate::ledger::{audit_from, AUDIT_SELECT};
use crate::{i, Result, Store, Q};
use bposhield_proto::AuditEvent;

/// Filters for the audit list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Matches actions starting with this, e.g. `people.` or `auth.sign_in`.
    pub action: Option<String>,
    pub object: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
    pub offset: u64,
}

impl Store {
    /// Appends one event to the ledger and the audit table (one commit). The server
    /// batches events through [`Store::ledger_append`] instead; this is the one-event form.
    pub async fn append_audit(&self, e: &AuditEvent) -> Result<()> {
        self.ledger_append(std::slice::from_ref(e)).await.map(|_| ())
    }

    /// Newest-first page of events matching `f`, and the total.
    pub async fn audit_events(&self, f: &AuditFilter) -> Result<(Vec<AuditEvent>, u64)> {
        let mut wh = Q::new("");
        if let Some(x) = f.actor.as_deref().filter(|x| !x.is_empty()) {
            wh.push(" AND actor = ").bind(x);
        }
        if let Some(x) = f.action.as_deref().filter(|x| !x.is_empty()) {
            let pat = format!("{}%", x.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            wh.push(" AND action LIKE ").bind(pat).push(" ESCAPE '\\'");
        }
        if let Some(x) = f.object.as_deref().filter(|x| !x.is_empty()) {
            wh.push(" AND object = ").bind(x);
        }
        if let Some(x) = f.outcome.as_deref().filter(|x| !x.is_empty()) {
            wh.push(" AND outcome = ").bind(x);
        }
        if let Some(x) = f.since {
            wh.push(" AND at >= ").bind(x);
        }
        if let Some(x) = f.until {
            wh.push(" AND at < ").bind(x);
        }
        let where_sql = wh.sql.clone();
        let mut count = wh;
        count.sql = format!("SELECT COUNT(*) AS n FROM audit_events WHERE 1 = 1{where_sql}");
        let total = i(&count.build().fetch_one(self.pool()).await?, "n")?;
        let mut list = count;
        list.sql = format!("{AUDIT_SELECT} FROM audit_events WHERE 1 = 1{where_sql} ORDER BY at DESC, id DESC LIMIT ");
        list.bind(i64::from(f.limit)).push(" OFFSET ").bind(i64::try_from(f.offset).unwrap_or(i64::MAX));
        let rows = list.build().fetch_all(self.pool()).await?;
        let items = rows.iter().map(|r| audit_from(r)).collect::<Result<Vec<_>>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }
}
