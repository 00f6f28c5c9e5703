//! The ledger's storage: entries, complete subtrees, the head row, checkpoints.
//!
//! Appends are batches (the server's group commit hands over many events at once): one
//! transaction reserves the next indexes by bumping the head row, writes the audit rows,
//! the entries and every complete subtree the batch finishes, and commits once. The
//! tree's right edge is cached in this process and re-read (O(log n) rows) whenever
//! another replica appended in between.

use crate::{i, os, q, s, Cols, Result, Store, StoreError, Q};
use bposhield_ledger::entry::{canonical_json, ENTRY_SCHEMA};
use bposhield_ledger::tree::{self, Frontier, NodeId};
use bposhield_ledger::Hash;
use bposhield_proto::AuditEvent;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// Rows per multi-row INSERT (audit rows: 12 values each). Small on purpose: sqlx
/// binds SQLite's `$n` parameters by name, and looking each name up costs time linear in
/// the statement's parameter count, so a statement's binding cost grows with the square
/// of its size (a 500-row insert cost ~100 ms; 32-row ones cost microseconds per row).
const ROWS_PER_INSERT: usize = 32;
/// Rows per multi-row INSERT or lookup of tree nodes (2-3 values each).
const NODE_ROWS: usize = 128;
/// On the dedicated SQLite connection, one row per statement: the statement text is the
/// same every time (prepared once, bound by position), and SQLite needs no statement
/// journal for a single-row insert. Many rows per statement pay off only where each
/// statement costs a round trip (sqlx, PostgreSQL).
const ROWS_INLINE: usize = 1;

/// One signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub note: String,
    pub published_at: i64,
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Index of the batch's first entry.
    pub first: u64,
    /// Tree size and head after the batch.
    pub size: u64,
    pub root: Hash,
}

/// The canonical ledger entry of an audit event and its leaf hash. Personal data stays
/// out: the entry has ids, codes and digests; the source address and the detail are
/// bound by the digest of `{"detail", "source_ip"}`, kept in full in the audit table.
pub fn entry_for(e: &AuditEvent) -> Result<(String, Hash)> {
    let bound = serde_json::json!({ "detail": e.detail, "source_ip": e.source_ip });
    let bound = canonical_json(&bound).map_err(|x| StoreError::Corrupt(format!("audit detail: {x}")))?;
    let mut v = serde_json::json!({
        "v": ENTRY_SCHEMA,
        "id": e.id.to_string(),
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "outcome": e.outcome,
        "request_id": e.request_id,
        "detail_sha256": sha256_hex(bound.as_bytes()),
    });
    if let Some(b) = &e.before_digest {
        v["before_sha256"] = serde_json::Value::String(b.clone());
    }
    if let Some(a) = &e.after_digest {
        v["after_sha256"] = serde_json::Value::String(a.clone());
    }
    let text = canonical_json(&v).map_err(|x| StoreError::Corrupt(format!("ledger entry: {x}")))?;
    let leaf = tree::leaf_hash(text.as_bytes());
    Ok((text, leaf))
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex32(&sha2::Sha256::digest(b).into())
}

/// Lower-case hex of a hash, without `hex::encode`'s per-character pushes (it showed in
/// the append profile: every entry writes two of these).
fn hex32(h: &Hash) -> String {
    let mut buf = [0u8; 64];
    // Cannot fail: the buffer is exactly twice the input.
    let _ = hex::encode_to_slice(h, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

pub(crate) fn parse_hash(text: &str) -> Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(text, &mut h).map_err(|e| StoreError::Corrupt(format!("ledger hash `{text}`: {e}")))?;
    Ok(h)
}

impl Store {
    /// Appends audit events to the ledger as one batch, durably (one commit); returns
    /// where they landed. Either every event is in the ledger and the audit table, or
    /// none is.
    pub async fn ledger_append(&self, events: &[AuditEvent]) -> Result<Appended> {
        let prepared = events.iter().map(entry_for).collect::<Result<Vec<_>>>()?;
        self.ledger_append_prepared(events.to_vec(), prepared, false).await
    }

    /// [`Store::ledger_append`] with each event's entry and leaf hash already computed
    /// by [`entry_for`] (callers compute them on their own threads, in parallel), taking
    /// the batch by value so nothing is copied on the way to the database.
    pub async fn ledger_append_entries(
        &self,
        events: Vec<AuditEvent>,
        prepared: Vec<(String, Hash)>,
    ) -> Result<Appended> {
        if events.len() != prepared.len() {
            return Err(StoreError::Corrupt("one entry per event is needed".into()));
        }
        self.ledger_append_prepared(events, prepared, false).await
    }

    /// Audit rows written before the ledger existed (no `ledger_idx`), oldest first.
    pub async fn audit_events_outside_ledger(&self, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows = q(&format!("{AUDIT_SELECT} FROM audit_events WHERE ledger_idx IS NULL ORDER BY at, id LIMIT $1"))
            .arg(i64::from(limit))
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| audit_from(r)).collect()
    }

    /// Gives audit rows that predate the ledger their entries (their rows already exist).
    pub async fn ledger_adopt(&self, events: &[AuditEvent]) -> Result<Appended> {
        let prepared = events.iter().map(entry_for).collect::<Result<Vec<_>>>()?;
        self.ledger_append_prepared(events.to_vec(), prepared, true).await
    }

    async fn ledger_append_prepared(
        &self,
        events: Vec<AuditEvent>,
        prepared: Vec<(String, Hash)>,
        adopt: bool,
    ) -> Result<Appended> {
        if events.is_empty() {
            let size = self.ledger_size().await?;
            return Ok(Appended { first: size, size, root: self.ledger_root(size).await? });
        }
        // One appender per process at a time; across replicas the head row orders them.
        let mut cache = self.ledger_frontier.lock().await;
        let reserve = q("UPDATE ledger_head SET size = size + $1 WHERE id = 1 RETURNING size")
            .arg(i64::try_from(events.len()).map_err(|_| StoreError::Corrupt("batch too large".into()))?);
        let cached = cache.take();
        let (old, frontier) = if let Some(w) = &self.inline_writer {
            // SQLite file: the same statements on a dedicated connection, off the async
            // runtime (the commit waits for fsync).
            let w = w.clone();
            tokio::task::spawn_blocking(move || {
                w.transaction(|tx| {
                    let old = size_u64(tx.fetch_one(&reserve, |r| r.req_int("size"))?)? - events.len() as u64;
                    let mut frontier = match cached {
                        Some(f) if f.size() == old => f,
                        _ => {
                            let mut hashes = Vec::new();
                            for sel in frontier_queries(old)? {
                                let h = tx.fetch_one(&sel, hash_col).map_err(|e| missing_subtree(e, old))?;
                                hashes.push(h);
                            }
                            frontier_from(old, hashes)?
                        }
                    };
                    for st in batch_statements(&events, &prepared, adopt, old, &mut frontier, ROWS_INLINE)? {
                        tx.execute(&st)?;
                    }
                    Ok((old, frontier))
                })
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("ledger writer: {e}")))??
        } else {
            let mut tx = self.pool().begin().await?;
            let row = reserve.build().fetch_one(&mut *tx).await?;
            let old = size_u64(i(&row, "size")?)? - events.len() as u64;
            let mut frontier = match cached {
                Some(f) if f.size() == old => f,
                _ => {
                    let mut hashes = Vec::new();
                    for sel in frontier_queries(old)? {
                        let row = sel.build().fetch_one(&mut *tx).await.map_err(|e| missing_subtree(e.into(), old))?;
                        hashes.push(hash_col(&row)?);
                    }
                    frontier_from(old, hashes)?
                }
            };
            for st in batch_statements(&events, &prepared, adopt, old, &mut frontier, ROWS_PER_INSERT)? {
                st.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            (old, frontier)
        };
        let (size, root) = (frontier.size(), frontier.root());
        *cache = Some(frontier);
        Ok(Appended { first: old, size, root })
    }

    /// Benchmarks only: extends a synthetic tree from `from` leaves (minimal audit rows
    /// carrying only the leaf hash, and the subtrees above), so proof timing at 10M
    /// entries needs no 10M real events. Refuses a ledger that is not at `from`.
    pub async fn ledger_bench_load(&self, from: u64, leaves: &[Hash], nodes: &[(NodeId, Hash)]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let to = from + leaves.len() as u64;
        let done = q("UPDATE ledger_head SET size = $1 WHERE id = 1 AND size = $2")
            .arg(idx_i64(to)?)
            .arg(idx_i64(from)?)
            .build()
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt("benchmark trees extend only the benchmark's own ledger".into()));
        }
        let per = NODE_ROWS / 4;
        for (c, chunk) in leaves.chunks(per).enumerate() {
            let mut ins = Q::new(
                "INSERT INTO audit_events (id, at, actor, action, object, outcome, request_id, detail, ledger_idx, leaf) VALUES ",
            );
            for (k, leaf) in chunk.iter().enumerate() {
                let idx = from + (c * per + k) as u64;
                if k > 0 {
                    ins.push(", ");
                }
                ins.push("(").bind(format!("bench-{idx}"));
                ins.push(", 0, 'system', 'bench.leaf', 'bench', 'success', 'bench', '{}', ");
                ins.bind(idx_i64(idx)?).push(", ").bind(hex32(leaf)).push(")");
            }
            ins.build().execute(&mut *tx).await?;
        }
        let inner: Vec<(NodeId, Hash)> = nodes.iter().filter(|(id, _)| id.level > 0).copied().collect();
        for chunk in inner.chunks(NODE_ROWS) {
            node_insert(chunk)?.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        *self.ledger_frontier.lock().await = None;
        Ok(())
    }

    /// Entries in the ledger now.
    pub async fn ledger_size(&self) -> Result<u64> {
        let row = sqlx::query("SELECT size FROM ledger_head WHERE id = 1").fetch_one(self.pool()).await?;
        u64::try_from(i(&row, "size")?).map_err(|_| StoreError::Corrupt("ledger size".into()))
    }

    /// The stored hashes of the given complete subtrees (leaves from the audit rows,
    /// the rest from `ledger_nodes`), in two queries.
    pub async fn ledger_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let mut out = HashMap::with_capacity(ids.len());
        let (leaves, inner): (Vec<&NodeId>, Vec<&NodeId>) = ids.iter().partition(|id| id.level == 0);
        for chunk in leaves.chunks(NODE_ROWS) {
            let mut sel = Q::new("SELECT ledger_idx AS idx, leaf AS hash FROM audit_events WHERE ledger_idx IN (");
            for (k, id) in chunk.iter().enumerate() {
                if k > 0 {
                    sel.push(", ");
                }
                sel.bind(idx_i64(id.index)?);
            }
            sel.push(")");
            for r in sel.build().fetch_all(self.pool()).await? {
                let index = size_u64(i(&r, "idx")?)?;
                out.insert(NodeId { level: 0, index }, parse_hash(&os(&r, "hash")?.unwrap_or_default())?);
            }
        }
        for chunk in inner.chunks(NODE_ROWS) {
            // A plain OR of primary-key lookups: SQLite plans it as one index search per
            // term ("MULTI-INDEX OR"); a constant term such as `1 = 0 OR …` would turn it
            // into a full scan (1 s at 10M entries instead of well under a millisecond).
            let mut sel = Q::new("SELECT level, idx, hash FROM ledger_nodes WHERE ");
            for (k, id) in chunk.iter().enumerate() {
                if k > 0 {
                    sel.push(" OR ");
                }
                sel.push("(level = ").bind(i64::from(id.level)).push(" AND idx = ").bind(idx_i64(id.index)?);
                sel.push(")");
            }
            for r in sel.build().fetch_all(self.pool()).await? {
                let (id, h) = node_row(&r)?;
                out.insert(id, h);
            }
        }
        Ok(out)
    }

    /// The stored subtrees above the leaves that complete while leaves `[from, to)` are
    /// appended (node (L, i) completes with leaf (i + 1) * 2^L - 1), for verification.
    pub async fn ledger_nodes_completed_in(&self, from: u64, to: u64) -> Result<HashMap<NodeId, Hash>> {
        let mut out = HashMap::new();
        let mut level = 1u32;
        while level < 64 && (1u64 << level) <= to {
            // i + 1 in [ceil((from + 1) / 2^L), floor(to / 2^L)]
            let lo = (from + (1u64 << level)) >> level;
            let hi = to >> level;
            if lo <= hi {
                let sel = q("SELECT level, idx, hash FROM ledger_nodes WHERE level = $1 AND idx >= $2 AND idx < $3")
                    .arg(i64::from(level))
                    .arg(idx_i64(lo - 1)?)
                    .arg(idx_i64(hi)?);
                out.extend(self.read_all(sel, node_row).await?);
            }
            level += 1;
        }
        Ok(out)
    }

    /// The tree head of the first `size` entries.
    pub async fn ledger_root(&self, size: u64) -> Result<Hash> {
        let nodes = self.ledger_nodes(&tree::root_nodes(size)).await?;
        tree::root(size, |id| nodes.get(&id).copied()).map_err(|e| StoreError::Corrupt(format!("ledger tree: {e}")))
    }

    /// Entries `[from, to)` as `(index, text)`, ascending. Gaps (deleted rows) show as
    /// missing indexes; the caller decides what that means.
    pub async fn ledger_entries(&self, from: u64, to: u64) -> Result<Vec<(u64, String)>> {
        let rows = q("SELECT ledger_idx AS idx, entry FROM audit_events \
                      WHERE ledger_idx >= $1 AND ledger_idx < $2 ORDER BY ledger_idx")
        .arg(idx_i64(from)?)
        .arg(idx_i64(to)?)
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((size_u64(i(r, "idx")?)?, os(r, "entry")?.unwrap_or_default()))).collect()
    }

    /// The stored leaf hash of entry `index`.
    pub async fn ledger_leaf(&self, index: u64) -> Result<Hash> {
        let id = NodeId { level: 0, index };
        self.ledger_nodes(&[id]).await?.remove(&id).ok_or(StoreError::NotFound)
    }

    /// The audit rows of ledger indexes `[from, to)` with their stored entry text and
    /// leaf hash (all zero when unreadable), ascending: what verification re-derives.
    pub async fn ledger_rows(&self, from: u64, to: u64) -> Result<Vec<(AuditEvent, String, Hash)>> {
        let sel = q(&format!(
            "{AUDIT_SELECT}, entry, leaf FROM audit_events WHERE ledger_idx >= $1 AND ledger_idx < $2 ORDER BY ledger_idx"
        ))
        .arg(idx_i64(from)?)
        .arg(idx_i64(to)?);
        self.read_all(sel, |r| {
            let leaf = parse_hash(&r.text("leaf")?.unwrap_or_default()).unwrap_or([0; 32]);
            Ok((audit_from(r)?, r.text("entry")?.unwrap_or_default(), leaf))
        })
        .await
    }

    /// Stores a signed checkpoint (a second one for the same size is ignored: two
    /// replicas may both publish the same head).
    pub async fn ledger_put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<()> {
        q("INSERT INTO ledger_checkpoints (size, root, note, published_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .arg(idx_i64(cp.size)?)
            .arg(hex32(&cp.root))
            .arg(cp.note.as_str())
            .arg(cp.published_at)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Checkpoints, newest first, at most `limit`.
    pub async fn ledger_checkpoints(&self, limit: u32) -> Result<Vec<StoredCheckpoint>> {
        let rows = q("SELECT size, root, note, published_at FROM ledger_checkpoints ORDER BY size DESC LIMIT $1")
            .arg(i64::from(limit))
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// Every checkpoint, oldest first.
    pub async fn ledger_all_checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query("SELECT size, root, note, published_at FROM ledger_checkpoints ORDER BY size")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// The verifier key the log is bound to, set by the first caller (`None` = bound
    /// now to `key`). Returns the bound key.
    pub async fn ledger_bind_key(&self, key: &str) -> Result<String> {
        q("INSERT INTO ledger_meta (name, value) VALUES ('verifier_key', $1) ON CONFLICT (name) DO NOTHING")
            .arg(key)
            .build()
            .execute(self.pool())
            .await?;
        let row =
            sqlx::query("SELECT value FROM ledger_meta WHERE name = 'verifier_key'").fetch_one(self.pool()).await?;
        s(&row, "value")
    }

    /// The audit event at ledger index `idx`.
    pub async fn audit_event_at(&self, idx: u64) -> Result<AuditEvent> {
        let row = q(&format!("{AUDIT_SELECT} FROM audit_events WHERE ledger_idx = $1"))
            .arg(idx_i64(idx)?)
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        audit_from(&row)
    }
}

/// The audit columns; callers add `FROM audit_events …` (and may add columns first).
pub(crate) const AUDIT_SELECT: &str = "SELECT id, at, actor, action, object, outcome, request_id, source_ip, detail, \
     before_digest, after_digest, ledger_idx";

/// An audit event from the columns of [`AUDIT_SELECT`], whichever executor read them.
pub(crate) fn audit_from(r: &dyn Cols) -> Result<AuditEvent> {
    let id = r.req_text("id")?;
    Ok(AuditEvent {
        id: id.parse().map_err(|e| StoreError::Corrupt(format!("id={id}: {e}")))?,
        at: r.req_int("at")?,
        actor: r.req_text("actor")?,
        action: r.req_text("action")?,
        object: r.req_text("object")?,
        outcome: r.req_text("outcome")?,
        request_id: r.req_text("request_id")?,
        source_ip: r.text("source_ip")?,
        detail: serde_json::from_str(&r.req_text("detail")?)
            .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
        before_digest: r.text("before_digest")?,
        after_digest: r.text("after_digest")?,
        ledger_index: r.int("ledger_idx")?.and_then(|x| u64::try_from(x).ok()),
    })
}

fn checkpoint_row(r: &AnyRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: u64::try_from(i(r, "size")?).map_err(|_| StoreError::Corrupt("checkpoint size".into()))?,
        root: parse_hash(&s(r, "root")?)?,
        note: s(r, "note")?,
        published_at: i(r, "published_at")?,
    })
}

fn node_id(r: &dyn Cols) -> Result<NodeId> {
    let level = u8::try_from(r.req_int("level")?).map_err(|_| StoreError::Corrupt("ledger node level".into()))?;
    let index = u64::try_from(r.req_int("idx")?).map_err(|_| StoreError::Corrupt("ledger node index".into()))?;
    Ok(NodeId { level, index })
}

fn node_row(r: &dyn Cols) -> Result<(NodeId, Hash)> {
    Ok((node_id(r)?, parse_hash(&r.req_text("hash")?)?))
}

fn idx_i64(x: u64) -> Result<i64> {
    i64::try_from(x).map_err(|_| StoreError::Corrupt(format!("ledger index {x} out of range")))
}

/// The lookups of the right edge of the stored tree of `size` leaves, run inside the
/// append's transaction after the head row is locked (so nobody extends it meanwhile).
fn frontier_queries(size: u64) -> Result<Vec<Q>> {
    Frontier::ids(size)
        .into_iter()
        .map(|id| {
            Ok(if id.level == 0 {
                q("SELECT leaf AS hash FROM audit_events WHERE ledger_idx = $1").arg(idx_i64(id.index)?)
            } else {
                q("SELECT hash FROM ledger_nodes WHERE level = $1 AND idx = $2")
                    .arg(i64::from(id.level))
                    .arg(idx_i64(id.index)?)
            })
        })
        .collect()
}

/// The `hash` column of a frontier lookup.
fn hash_col(r: &dyn Cols) -> Result<Hash> {
    parse_hash(&r.req_text("hash")?)
}

/// A frontier lookup that found no row: the stored tree is damaged.
fn missing_subtree(e: StoreError, size: u64) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::Corrupt(format!("ledger subtree missing at size {size}")),
        other => other,
    }
}

fn frontier_from(size: u64, hashes: Vec<Hash>) -> Result<Frontier> {
    Frontier::from_parts(size, hashes).map_err(|e| StoreError::Corrupt(format!("ledger frontier: {e}")))
}

fn size_u64(x: i64) -> Result<u64> {
    u64::try_from(x).map_err(|_| StoreError::Corrupt("ledger size".into()))
}

/// Every write of one batch appended after `old` entries: the entries, the audit rows
/// (or, when adopting rows of an earlier version, their new index), and each complete
/// subtree the batch finishes, as multi-row inserts. Advances `frontier`.
fn batch_statements(
    events: &[AuditEvent],
    prepared: &[(String, Hash)],
    adopt: bool,
    old: u64,
    frontier: &mut Frontier,
    rows: usize,
) -> Result<Vec<Q>> {
    let mut out = Vec::new();
    let mut nodes: Vec<(NodeId, Hash)> = Vec::with_capacity(events.len() * 2 + 64);
    for (_, leaf) in prepared {
        frontier.push_with(*leaf, |id, h| nodes.push((id, *h)));
    }
    for (chunk_no, (chunk, evs)) in prepared.chunks(rows).zip(events.chunks(rows)).enumerate() {
        let base = old + (chunk_no * rows) as u64;
        if adopt {
            for (k, ((text, leaf), e)) in chunk.iter().zip(evs).enumerate() {
                out.push(
                    q("UPDATE audit_events SET ledger_idx = $1, entry = $2, leaf = $3 WHERE id = $4 AND ledger_idx IS NULL")
                        .arg(idx_i64(base + k as u64)?)
                        .arg(text.as_str())
                        .arg(hex32(leaf))
                        .arg(e.id.to_string()),
                );
            }
        } else {
            let mut ins = Q::new(
                "INSERT INTO audit_events (id, at, actor, action, object, outcome, request_id, source_ip, detail, \
                 before_digest, after_digest, ledger_idx, entry, leaf) VALUES ",
            );
            for (k, ((text, leaf), e)) in chunk.iter().zip(evs).enumerate() {
                if k > 0 {
                    ins.push(", ");
                }
                ins.push("(").bind(e.id.to_string()).push(", ").bind(e.at).push(", ").bind(e.actor.as_str());
                ins.push(", ").bind(e.action.as_str()).push(", ").bind(e.object.as_str());
                ins.push(", ").bind(e.outcome.as_str()).push(", ").bind(e.request_id.as_str());
                ins.push(", ").bind(e.source_ip.clone()).push(", ").bind(e.detail.to_string());
                ins.push(", ").bind(e.before_digest.clone()).push(", ").bind(e.after_digest.clone());
                ins.push(", ").bind(idx_i64(base + k as u64)?).push(", ").bind(text.as_str());
                ins.push(", ").bind(hex32(leaf)).push(")");
            }
            out.push(ins);
        }
    }
    // Leaves are the audit rows' `leaf`; only the subtrees above them have rows.
    nodes.retain(|(id, _)| id.level > 0);
    for chunk in nodes.chunks(if rows == ROWS_INLINE { 1 } else { NODE_ROWS }) {
        out.push(node_insert(chunk)?);
    }
    Ok(out)
}

fn node_insert(chunk: &[(NodeId, Hash)]) -> Result<Q> {
    let mut ins = Q::new("INSERT INTO ledger_nodes (level, idx, hash) VALUES ");
    for (k, (id, h)) in chunk.iter().enumerate() {
        if k > 0 {
            ins.push(", ");
        }
        ins.push("(").bind(i64::from(id.level)).push(", ").bind(idx_i64(id.index)?);
        ins.push(", ").bind(hex32(h)).push(")");
    }
    Ok(ins)
}
