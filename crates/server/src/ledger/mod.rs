//! The ledger behind the audit sink: group commit, the signing key, signed checkpoints,
//! and verification of the stored log.
//!
//! Group commit: every request that records an event hands it to one writer task and
//! waits. The writer takes everything that queued up while the previous commit ran (up
//! to `ledger.max_batch`), appends it in one transaction (one fsync), and only then
//! answers each waiter. So throughput grows with concurrency while no caller is ever
//! acknowledged before its entry is on disk.
//!
//! [`api`] and [`web`] are the module's REST routes and auditor pages.

pub mod api;
pub mod web;

use crate::audit::AuditSink;
use bposhield_core::Clock;
use bposhield_ledger::note::{self, Checkpoint, SignerKey, VerifierKey};
use bposhield_ledger::tree::{self, Frontier};
use bposhield_ledger::Hash;
use bposhield_proto::AuditEvent;
use bposhield_store::{entry_for, Appended, Store, StoreError, StoredCheckpoint};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Entries verified per database read during a full verification.
const VERIFY_CHUNK: u64 = 20_000;

/// Reads the signing key at `path`, or creates it (mode 0600) named `origin` when the
/// file does not exist. A key readable by others is refused.
pub fn load_or_create_key(path: &Path, origin: &str) -> anyhow::Result<SignerKey> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    anyhow::bail!(
                        "the ledger signing key {} is readable by others (mode {:o}); run `chmod 600` on it",
                        path.display(),
                        mode & 0o777
                    );
                }
            }
            SignerKey::from_file_text(&text)
                .map_err(|e| anyhow::anyhow!("the ledger signing key {} is not valid: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SignerKey::generate(origin).map_err(|e| anyhow::anyhow!("ledger.origin `{origin}`: {e}"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot create the ledger signing key {}: {e}", path.display()))?;
            f.write_all(key.to_file_text().as_bytes())?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), verifier = %key.verifier(), "created the ledger signing key");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read the ledger signing key {}: {e}", path.display())),
    }
}

/// Signs and stores checkpoints.
pub struct Checkpointer {
    store: Store,
    key: SignerKey,
    verifier: VerifierKey,
    clock: Arc<dyn Clock>,
}

impl Checkpointer {
    #[must_use]
    pub fn new(store: Store, key: SignerKey, clock: Arc<dyn Clock>) -> Self {
        let verifier = key.verifier();
        Self { store, key, verifier, clock }
    }

    /// The public key auditors verify with.
    #[must_use]
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Signs and stores the checkpoint of the tree of `size` with head `root`.
    pub async fn publish(&self, size: u64, root: Hash) -> Result<StoredCheckpoint, StoreError> {
        let cp = Checkpoint { origin: self.key.name().to_owned(), size, root, extensions: Vec::new() };
        let note = note::sign_checkpoint(&self.key, &cp).map_err(|e| StoreError::Corrupt(format!("signing: {e}")))?;
        let stored = StoredCheckpoint { size, root, note, published_at: self.clock.now() };
        self.store.ledger_put_checkpoint(&stored).await?;
        Ok(stored)
    }

    /// Publishes a checkpoint of the current head if it grew since the latest one.
    pub async fn publish_head(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let size = self.store.ledger_size().await?;
        let latest = self.store.ledger_checkpoints(1).await?.into_iter().next().map_or(0, |c| c.size);
        if size == 0 || size <= latest {
            return Ok(None);
        }
        let root = self.store.ledger_root(size).await?;
        self.publish(size, root).await.map(Some)
    }
}

struct Pending {
    event: AuditEvent,
    /// The canonical entry and its leaf hash, computed by the caller's task so the one
    /// writer only writes.
    entry: (String, Hash),
    done: oneshot::Sender<Result<u64, String>>,
}

/// The audit sink that appends to the ledger with group commit.
pub struct LedgerSink {
    tx: mpsc::Sender<Pending>,
}

impl LedgerSink {
    /// Starts the writer task on the current runtime. A checkpoint is published whenever
    /// the log crosses a multiple of `every_entries`.
    #[must_use]
    pub fn start(store: Store, checkpointer: Arc<Checkpointer>, max_batch: usize, every_entries: u64) -> Self {
        let (tx, rx) = mpsc::channel::<Pending>(max_batch.max(1) * 4);
        tokio::spawn(writer(store, checkpointer, rx, max_batch.max(1), every_entries.max(1)));
        Self { tx }
    }
}

async fn writer(
    store: Store,
    checkpointer: Arc<Checkpointer>,
    mut rx: mpsc::Receiver<Pending>,
    max_batch: usize,
    every: u64,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        let mut events = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        for p in batch.drain(..) {
            events.push(p.event);
            entries.push(p.entry);
            waiters.push(p.done);
        }
        match store.ledger_append_entries(events, entries).await {
            Ok(Appended { first, size, root }) => {
                for (k, done) in waiters.into_iter().enumerate() {
                    let _ = done.send(Ok(first + k as u64));
                }
                if size / every > first / every {
                    if let Err(e) = checkpointer.publish(size, root).await {
                        tracing::warn!(error = %e, size, "could not publish a ledger checkpoint");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = waiters.len(), "ledger append failed; nothing of the batch was written");
                let msg = e.to_string();
                for done in waiters {
                    let _ = done.send(Err(msg.clone()));
                }
            }
        }
    }
}

impl AuditSink for LedgerSink {
    fn record<'a>(&'a self, event: AuditEvent) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(async move {
            let entry = entry_for(&event)?;
            let (done, wait) = oneshot::channel();
            self.tx
                .send(Pending { event, entry, done })
                .await
                .map_err(|_| StoreError::Unavailable("the ledger writer has stopped".into()))?;
            match wait.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(m)) => Err(StoreError::Unavailable(format!("ledger append failed: {m}"))),
                Err(_) => Err(StoreError::Unavailable("the ledger writer has stopped".into())),
            }
        })
    }
}

/// Appends audit rows written before the ledger existed (databases of an earlier
/// version), oldest first, so the ledger covers the whole audit history.
pub async fn adopt_legacy_events(store: &Store) -> Result<u64, StoreError> {
    let mut adopted = 0;
    loop {
        let events = store.audit_events_outside_ledger(1000).await?;
        if events.is_empty() {
            return Ok(adopted);
        }
        store.ledger_adopt(&events).await?;
        adopted += events.len() as u64;
    }
}

/// What a full verification found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Entries in the log.
    pub size: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Entries re-hashed and found covered by a valid checkpoint.
    pub verified: u64,
    /// Entries after the latest checkpoint (hashed, not yet signed).
    pub unsigned: u64,
    /// The first bad entry index, when verification failed at a nameable entry.
    pub first_bad_index: Option<u64>,
    /// What is wrong; `None` when the log verifies.
    pub problem: Option<String>,
}

impl VerifyReport {
    /// Whether the log verified.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Progress of a verification: entries done and total.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

/// Re-hashes every stored entry, rebuilds the tree and checks it against every stored
/// checkpoint (signature by `key`, size and root), the stored subtrees, and the audit
/// rows (each must produce exactly its entry). Stops at the first problem.
pub async fn verify_log(store: &Store, key: &VerifierKey, progress: &Progress) -> Result<VerifyReport, StoreError> {
    let size = store.ledger_size().await?;
    progress.total.store(size, Ordering::Relaxed);
    let checkpoints = store.ledger_all_checkpoints().await?;
    let mut report = VerifyReport {
        size,
        checkpoints: checkpoints.len() as u64,
        verified: 0,
        unsigned: 0,
        first_bad_index: None,
        problem: None,
    };
    let fail = |mut r: VerifyReport, idx: Option<u64>, why: String| {
        r.first_bad_index = idx;
        r.problem = Some(why);
        Ok(r)
    };
    // Signatures first: a checkpoint that is not ours, or says something else than its
    // row, is tampering whatever the entries say.
    for cp in &checkpoints {
        match note::open_checkpoint(&cp.note, key) {
            Ok(c) if c.size == cp.size && c.root == cp.root => {}
            Ok(_) => return fail(report, None, format!("checkpoint {} does not match its signed note", cp.size)),
            Err(e) => return fail(report, None, format!("checkpoint {}: {e}", cp.size)),
        }
        if cp.size > size {
            return fail(
                report,
                Some(size),
                format!("checkpoint {} covers more entries than the log holds ({size}): entries were removed", cp.size),
            );
        }
    }
    let mut next_cp = checkpoints.iter().peekable();
    let mut frontier = Frontier::new();
    let mut last_good = 0u64;
    let mut pos = 0u64;
    while pos < size {
        let end = (pos + VERIFY_CHUNK).min(size);
        let rows = store.ledger_rows(pos, end).await?;
        let stored_nodes = store.ledger_nodes_completed_in(pos, end).await?;
        let mut rows = rows.into_iter().peekable();
        for idx in pos..end {
            let Some((event, text, stored_leaf)) = rows.next_if(|(e, _, _)| e.ledger_index == Some(idx)) else {
                return fail(report, Some(idx), format!("entry {idx} is missing"));
            };
            let leaf = tree::leaf_hash(text.as_bytes());
            if leaf != stored_leaf {
                return fail(report, Some(idx), format!("entry {idx} was changed after it was appended"));
            }
            if !entry_for(&event).is_ok_and(|(t, _)| t == text) {
                return fail(report, Some(idx), format!("the audit row of entry {idx} was changed"));
            }
            // Every subtree this leaf completes must be the stored one: rows rewritten or
            // swapped together with their leaf hashes still break their parents.
            let mut bad_subtree = None;
            frontier.push_with(leaf, |id, h| {
                if id.level > 0 && bad_subtree.is_none() && stored_nodes.get(&id) != Some(h) {
                    bad_subtree = Some(id);
                }
            });
            if let Some(id) = bad_subtree {
                let first = id.index << id.level;
                return fail(
                    report,
                    Some(first),
                    format!(
                        "the entries {first}..={idx} do not hash to the stored subtree {id:?}: rewritten or reordered"
                    ),
                );
            }
            while let Some(cp) = next_cp.next_if(|cp| cp.size == frontier.size()) {
                if frontier.root() != cp.root {
                    return fail(
                        report,
                        Some(last_good),
                        format!(
                            "the log does not match checkpoint {} (entries {last_good}..{} were rewritten consistently)",
                            cp.size, cp.size
                        ),
                    );
                }
                last_good = cp.size;
                report.verified = cp.size;
            }
        }
        if rows.next().is_some() {
            return fail(report, Some(pos), format!("entries {pos}..{end} are out of order or duplicated"));
        }
        progress.done.store(end, Ordering::Relaxed);
        pos = end;
    }
    report.unsigned = size - report.verified;
    Ok(report)
}

/// The state of the background verification the auditor page starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyJob {
    pub running: bool,
    pub started_at: i64,
    pub done: u64,
    pub total: u64,
    /// Set when the run ended.
    pub report: Option<VerifyReport>,
    /// Set when the run could not complete (database error).
    pub error: Option<String>,
}

/// One background verification at a time per replica.
#[derive(Default)]
pub struct VerifyRunner {
    progress: Arc<Progress>,
    state: Arc<Mutex<Option<VerifyJob>>>,
}

impl VerifyRunner {
    /// The current or last run.
    #[must_use]
    pub fn status(&self) -> Option<VerifyJob> {
        let mut job = self.state.lock().ok()?.clone()?;
        if job.running {
            job.done = self.progress.done.load(Ordering::Relaxed);
            job.total = self.progress.total.load(Ordering::Relaxed);
        }
        Some(job)
    }

    /// Starts a run unless one is running; returns whether it started.
    pub fn start(&self, store: Store, key: VerifierKey, now: i64) -> bool {
        let Ok(mut st) = self.state.lock() else { return false };
        if st.as_ref().is_some_and(|j| j.running) {
            return false;
        }
        *st = Some(VerifyJob { running: true, started_at: now, done: 0, total: 0, report: None, error: None });
        self.progress.done.store(0, Ordering::Relaxed);
        let (progress, state) = (self.progress.clone(), self.state.clone());
        tokio::spawn(async move {
            let result = verify_log(&store, &key, &progress).await;
            if let Ok(mut st) = state.lock() {
                if let Some(job) = st.as_mut() {
                    job.running = false;
                    job.done = progress.done.load(Ordering::Relaxed);
                    job.total = progress.total.load(Ordering::Relaxed);
                    match result {
                        Ok(r) => job.report = Some(r),
                        Err(e) => job.error = Some(e.to_string()),
                    }
                }
            }
        });
        true
    }
}

/// The O(log n) check behind the ledger control: the latest checkpoint's signature, and
/// the stored tree's head at its size against the signed root.
pub async fn ledger_facts(
    store: &Store,
    key: &VerifierKey,
    now: i64,
    every_seconds: u64,
) -> Result<bposhield_core::controls::LedgerFacts, StoreError> {
    let size = store.ledger_size().await?;
    let latest = store.ledger_checkpoints(1).await?.into_iter().next();
    let verifies = match &latest {
        Some(cp) => {
            let signed = note::open_checkpoint(&cp.note, key).map(|c| c.size == cp.size && c.root == cp.root);
            let stored = if cp.size <= size { Some(store.ledger_root(cp.size).await) } else { None };
            matches!(signed, Ok(true)) && matches!(stored, Some(Ok(r)) if r == cp.root)
        }
        None => false,
    };
    Ok(bposhield_core::controls::LedgerFacts {
        now,
        size,
        latest_checkpoint: latest.map(|c| (c.size, c.published_at)),
        latest_checkpoint_verifies: verifies,
        checkpoint_every_seconds: i64::try_from(every_seconds).unwrap_or(i64::MAX),
    })
}

/// The inclusion proof of entry `index` in the tree of `size` (default: the current
/// head), from O(log n) stored subtrees.
pub async fn inclusion_proof(
    store: &Store,
    index: u64,
    size: Option<u64>,
) -> Result<bposhield_ledger::bundle::InclusionProof, crate::AppError> {
    let head = store.ledger_size().await?;
    let size = size.unwrap_or(head);
    if size > head || index >= size {
        return Err(crate::AppError::new(
            bposhield_proto::ErrorCode::LedgerRange,
            format!("need index < size <= {head} (the log's size); got index {index}, size {size}"),
        ));
    }
    let ids = tree::inclusion_nodes(index, size).map_err(crate::AppError::internal)?;
    let nodes = store.ledger_nodes(&ids).await?;
    let hashes = tree::inclusion_proof(index, size, |id| nodes.get(&id).copied()).map_err(crate::AppError::internal)?;
    Ok(bposhield_ledger::bundle::InclusionProof { index, size, hashes })
}

/// The consistency proof between tree sizes `from` and `to`.
pub async fn consistency_proof(
    store: &Store,
    from: u64,
    to: u64,
) -> Result<bposhield_ledger::bundle::ConsistencyProof, crate::AppError> {
    let head = store.ledger_size().await?;
    if from > to || to > head {
        return Err(crate::AppError::new(
            bposhield_proto::ErrorCode::LedgerRange,
            format!("need from <= to <= {head} (the log's size); got from {from}, to {to}"),
        ));
    }
    let ids = tree::consistency_nodes(from, to).map_err(crate::AppError::internal)?;
    let nodes = store.ledger_nodes(&ids).await?;
    let hashes = tree::consistency_proof(from, to, |id| nodes.get(&id).copied()).map_err(crate::AppError::internal)?;
    Ok(bposhield_ledger::bundle::ConsistencyProof { from, to, hashes })
}

/// Builds the auditor's bundle of entries `[from, to)`: the entries, every checkpoint
/// after `from` up to the first one covering `to` (a checkpoint of the head is
/// published first when none covers it yet), each entry's inclusion proof in that final
/// checkpoint, and consistency proofs between consecutive checkpoints.
pub async fn build_bundle(
    store: &Store,
    checkpointer: &Checkpointer,
    from: u64,
    to: Option<u64>,
) -> Result<bposhield_ledger::bundle::Bundle, crate::AppError> {
    use bposhield_ledger::bundle::{Bundle, ProofLine};
    let head = store.ledger_size().await?;
    let to = to.unwrap_or(head);
    if from >= to || to > head {
        return Err(crate::AppError::new(
            bposhield_proto::ErrorCode::LedgerRange,
            format!("need from < to <= {head} (the log's size); got from {from}, to {to}"),
        ));
    }
    let mut all = store.ledger_all_checkpoints().await?;
    if !all.iter().any(|c| c.size >= to) {
        checkpointer.publish_head().await?;
        all = store.ledger_all_checkpoints().await?;
    }
    let final_size = all.iter().find(|c| c.size >= to).map(|c| c.size).ok_or_else(|| {
        crate::AppError::new(bposhield_proto::ErrorCode::LedgerRange, "no checkpoint covers the range yet")
    })?;
    let cps: Vec<StoredCheckpoint> = all.into_iter().filter(|c| c.size > from && c.size <= final_size).collect();
    let entries = store.ledger_entries(from, to).await?;
    let mut proofs = Vec::with_capacity(entries.len() + cps.len());
    for (idx, _) in &entries {
        proofs.push(ProofLine::Inclusion(inclusion_proof(store, *idx, Some(final_size)).await?));
    }
    for pair in cps.windows(2) {
        proofs.push(ProofLine::Consistency(consistency_proof(store, pair[0].size, pair[1].size).await?));
    }
    Ok(Bundle {
        origin: checkpointer.verifier().name().to_owned(),
        from,
        to,
        verifier: checkpointer.verifier().to_string(),
        entries,
        checkpoints: cps.into_iter().map(|c| c.note).collect(),
        proofs,
    })
}
