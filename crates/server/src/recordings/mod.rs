//! The recordings module (risk R2): call recordings from the call-monitoring system,
//! encrypted in the vault, their transcripts scanned for PII at ingest, the media
//! playable (with seeking) only by the recording's own team manager and process head,
//! with a stated reason, every access and every refusal in the ledger.
//!
//! The flow: `POST /api/v1/recordings` (metadata and optional transcript and screen
//! text) scans the text with the PII engine, keeps the redacted text and the findings
//! (masked) in the database and the original text encrypted in the vault;
//! `PUT /api/v1/recordings/{id}/media` streams the media into the vault;
//! `GET /api/v1/recordings/{id}/media?reason=…` serves it with HTTP Range, decrypting
//! only the segments asked for.

pub mod api;
pub mod web;

use crate::audit::Outcome;
use crate::ctx::{Auth, Ctx};
use crate::error::{AppError, AppResult};
use crate::AppState;
use bposhield_core::{authorize_media, Decision};
use bposhield_dlp::scan::{Finding, Kind, Scanner};
use bposhield_proto::{
    ErrorCode, ProcessId, Recording, RecordingFinding, RecordingHold, RecordingId, RecordingInput, RetentionPolicy,
    RetentionReport,
};
use bposhield_store::recordings::RecordingRow;
use bposhield_store::StoreError;
use bposhield_vault::{Vault, VaultError};
use serde_json::json;
use std::sync::OnceLock;

/// Largest transcript or screen text accepted with one recording.
pub const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// The process's vault, opened on first use from the configuration.
#[derive(Default)]
pub struct VaultSlot(OnceLock<Vault>);

impl AppState {
    /// The recording vault.
    ///
    /// # Errors
    /// `BPS-REC-0005` when the keyring or blob store cannot be opened.
    pub fn vault(&self) -> AppResult<&Vault> {
        if let Some(v) = self.vault_slot.0.get() {
            return Ok(v);
        }
        let v = self.config.open_vault().map_err(|e| {
            tracing::error!(code = e.code(), error = %e, "cannot open the recording vault");
            AppError::new(ErrorCode::VaultUnavailable, format!("the recording vault is unavailable ({})", e.code()))
        })?;
        Ok(self.vault_slot.0.get_or_init(|| v))
    }
}

/// Whether the keyring file and the local blob directory are closed to other OS
/// accounts (`None` where there is nothing to check yet, or the blobs are not local).
#[must_use]
pub fn storage_privacy(cfg: &crate::Config) -> (Option<bool>, Option<bool>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
        // A keyring given as a secret (`vault.keys`) has no file of ours to check.
        let keyring =
            if cfg.vault.keys.is_empty() { mode(&cfg.vault_keys_path()).map(|m| m & 0o077 == 0) } else { None };
        let url = &cfg.vault.blob_url;
        let dir = if url.is_empty() || url == "file:" {
            Some(cfg.data_dir.join("blobs"))
        } else {
            url.strip_prefix("file://").map(std::path::PathBuf::from)
        };
        // Other accounts must not list or read the directory; the data directory
        // above it (0700) normally closes it already, which counts too.
        let blobs = dir.and_then(|d| {
            let own = mode(&d)?;
            let parent = d.parent().and_then(mode).unwrap_or(0o777);
            Some(own & 0o007 == 0 || parent & 0o007 == 0)
        });
        (keyring, blobs)
    }
    #[cfg(not(unix))]
    {
        let _ = cfg;
        (None, None)
    }
}

/// A vault error as the caller sees it: integrity failures are named, storage
/// failures are 503, details go to the log.
pub(crate) fn vault_error(e: &VaultError) -> AppError {
    match e {
        VaultError::NotFound(_) => AppError::new(ErrorCode::RecordingNoMedia, "the recording has no media (purged?)"),
        VaultError::Range { .. } => AppError::new(ErrorCode::RangeNotSatisfiable, e.to_string()),
        VaultError::Tampered { .. }
        | VaultError::Truncated { .. }
        | VaultError::WrongObject { .. }
        | VaultError::KeyUnwrap(_)
        | VaultError::Format(_) => {
            tracing::error!(code = e.code(), error = %e, "a stored recording failed its integrity check");
            AppError::new(
                ErrorCode::VaultIntegrity,
                format!("the stored recording failed its integrity check ({})", e.code()),
            )
        }
        _ => {
            tracing::error!(code = e.code(), error = %e, "recording vault error");
            AppError::new(ErrorCode::VaultUnavailable, format!("the recording vault is unavailable ({})", e.code()))
        }
    }
}

/// Scans one text: the findings (masked) and the redacted text, which keeps every
/// byte offset (each finding's bytes become `*`, so offsets still line up).
fn scan_text(scanner: &Scanner, source: &str, text: &str) -> (Vec<RecordingFinding>, String, Vec<Finding>) {
    let found = scanner.scan(text);
    let mut redacted = text.as_bytes().to_vec();
    let mut out = Vec::with_capacity(found.len());
    for f in &found {
        for b in &mut redacted[f.start..f.end] {
            // Keep separators and line breaks so the redacted transcript still reads.
            if b.is_ascii_alphanumeric() || *b >= 0x80 {
                *b = b'*';
            }
        }
        let mut masked = String::new();
        bposhield_dlp::redact::redact_span(
            f,
            &text[f.start..f.end],
            &bposhield_dlp::redact::Style::KeepLast4,
            &mut masked,
        );
        out.push(RecordingFinding {
            source: source.to_owned(),
            kind: f.kind.name().to_owned(),
            start: i64::try_from(f.start).unwrap_or(i64::MAX),
            end: i64::try_from(f.end).unwrap_or(i64::MAX),
            score: f64::from(f.score),
            masked,
        });
    }
    // Findings lie on char boundaries and every byte of a multi-byte char inside one
    // became `*`, so the text is still UTF-8; the lossy path is never taken.
    let redacted = String::from_utf8(redacted).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (out, redacted, found)
}

/// Ingests a recording's metadata and text. Idempotent on `call_id`: a second push of
/// the same call returns the stored recording and `false`.
pub async fn ingest(st: &AppState, ctx: &Ctx, input: RecordingInput) -> AppResult<(Recording, bool)> {
    if let Some(id) = st.store.recording_by_call(&input.call_id).await? {
        return Ok((st.store.recording(id).await?.recording, false));
    }
    let problems = validate(&input);
    if !problems.is_empty() {
        return Err(AppError::from_problems(problems));
    }
    let process = match st.store.process(input.process_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => {
            return Err(AppError::field(ErrorCode::UnknownReference, "process_id", "no such process unit"))
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(t) = input.team_id {
        match st.store.team(t).await {
            Ok(team) if team.process_id == process.id => {}
            Ok(_) => {
                return Err(AppError::field(
                    ErrorCode::TeamSiteMismatch,
                    "team_id",
                    "the team belongs to another process",
                ))
            }
            Err(StoreError::NotFound) => {
                return Err(AppError::field(ErrorCode::UnknownReference, "team_id", "no such team"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let agent_person_id = match st.store.person_by_employee_id(input.agent.trim()).await {
        Ok(p) => Some(p.id),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let scanner = Scanner::builtin();
    let transcript = input.transcript.as_deref().unwrap_or("");
    let screen = input.screen_text.as_deref().unwrap_or("");
    let (mut findings, redacted_transcript, raw_t) = scan_text(&scanner, "transcript", transcript);
    let (screen_findings, redacted_screen, raw_s) = scan_text(&scanner, "screen", screen);
    findings.extend(screen_findings);
    let security_code = raw_t.iter().chain(&raw_s).any(|f| f.kind == Kind::Cvv);
    let mut pii_types: Vec<String> = findings.iter().map(|f| f.kind.clone()).collect();
    pii_types.sort();
    pii_types.dedup();
    // The original text is kept encrypted like the media, unless it holds a card
    // security code: PCI DSS forbids keeping that after authorization, so only the
    // redacted text is stored.
    let text_object = if (transcript.is_empty() && screen.is_empty()) || security_code {
        None
    } else {
        let doc = json!({ "transcript": transcript, "screen_text": screen }).to_string();
        let stored = st.vault()?.put_bytes(doc.as_bytes()).await.map_err(|e| vault_error(&e))?;
        Some(stored.id.to_string())
    };
    let now = st.clock.now();
    let policy = policy_for(st, process.id).await?;
    let rec = Recording {
        id: RecordingId::new_v7(u64::try_from(st.clock.now_ms()).unwrap_or(0)),
        call_id: input.call_id.trim().to_owned(),
        site_id: process.site_id,
        process_id: process.id,
        team_id: input.team_id,
        agent: input.agent.trim().to_owned(),
        agent_person_id,
        started_at: input.started_at,
        duration_seconds: input.duration_seconds,
        channel: input.channel.trim().to_owned(),
        customer_ref: input.customer_ref.trim().to_owned(),
        has_media: false,
        media_type: None,
        media_bytes: None,
        pii_types,
        security_code,
        redacted_transcript,
        redacted_screen,
        findings,
        created_at: now,
        review_completed_at: None,
        purge_due_at: due_at(&policy, input.started_at, now, security_code, None),
        hold: None,
        purged_at: None,
    };
    match st.store.insert_recording(&rec, text_object.as_deref()).await {
        Ok(()) => {}
        // The same call pushed twice at once: the other push won.
        Err(StoreError::Unique(_)) => {
            if let Some(obj) = text_object.as_deref().and_then(|o| bposhield_vault::ObjectId::parse(o).ok()) {
                let _ = st.vault()?.purge(&obj).await;
            }
            let id = st.store.recording_by_call(&rec.call_id).await?.ok_or_else(|| AppError::not_found("recording"))?;
            return Ok((st.store.recording(id).await?.recording, false));
        }
        Err(e) => return Err(e.into()),
    }
    st.audit(
        ctx,
        "recordings.ingested",
        &format!("recording:{}", rec.id),
        Outcome::Success,
        json!({
            "call_id": rec.call_id,
            "pii_types": rec.pii_types,
            "findings": rec.findings.len(),
            "security_code": rec.security_code,
            "original_text_kept": text_object.is_some(),
        }),
    )
    .await?;
    if security_code {
        st.audit(
            ctx,
            "recordings.security_code_found",
            &format!("recording:{}", rec.id),
            Outcome::Success,
            json!({ "call_id": rec.call_id, "original_text": "not stored" }),
        )
        .await?;
    }
    Ok((rec, true))
}

fn validate(i: &RecordingInput) -> Vec<bposhield_core::validate::FieldError> {
    use bposhield_core::validate::FieldError;
    let mut p = Vec::new();
    let mut text = |field: &str, v: &str, max: usize| {
        let v = v.trim();
        if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
            p.push(FieldError::with_code(
                ErrorCode::InvalidField,
                field,
                format!("required, at most {max} bytes, no control characters"),
            ));
        }
    };
    text("call_id", &i.call_id, 128);
    text("agent", &i.agent, 64);
    text("channel", &i.channel, 32);
    text("customer_ref", &i.customer_ref, 128);
    if i.started_at < 0 {
        p.push(FieldError::with_code(ErrorCode::InvalidField, "started_at", "Unix seconds, not negative"));
    }
    if !(0..=86_400).contains(&i.duration_seconds) {
        p.push(FieldError::with_code(ErrorCode::InvalidField, "duration_seconds", "0 to 86400"));
    }
    for (field, v) in [("transcript", &i.transcript), ("screen_text", &i.screen_text)] {
        if v.as_ref().is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
            p.push(FieldError::with_code(ErrorCode::InvalidField, field, format!("at most {MAX_TEXT_BYTES} bytes")));
        }
    }
    p
}

/// Streams a recording's media into the vault and records it (once per recording).
/// Shared by the upload API and `bposhield recordings import`.
pub async fn store_media<R: tokio::io::AsyncRead + Unpin>(
    st: &AppState,
    ctx: &Ctx,
    row: &RecordingRow,
    content_type: &str,
    media: R,
) -> AppResult<Recording> {
    let ct = content_type.trim();
    let media_ok = ct.starts_with("audio/") || ct.starts_with("video/") || ct == "application/octet-stream";
    if !media_ok || ct.len() > 100 || ct.chars().any(char::is_control) {
        return Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            "send audio/*, video/* or application/octet-stream",
        ));
    }
    let id = row.recording.id;
    if row.media_object.is_some() || row.recording.purged_at.is_some() {
        return Err(AppError::new(ErrorCode::RecordingMediaExists, "this recording already has media (or was purged)"));
    }
    let vault = st.vault()?;
    let stored = vault.put(media).await.map_err(|e| match e {
        VaultError::Io(io) => AppError::new(ErrorCode::InvalidField, format!("upload interrupted: {io}")),
        e => vault_error(&e),
    })?;
    let digest = hex::encode(stored.digest);
    let len = i64::try_from(stored.len).unwrap_or(i64::MAX);
    if !st.store.set_recording_media(id, &stored.id.to_string(), ct, len, &digest).await? {
        // Another upload won the race: keep its media, destroy this one.
        let _ = vault.purge(&stored.id).await;
        return Err(AppError::new(ErrorCode::RecordingMediaExists, "this recording already has media"));
    }
    st.audit(
        ctx,
        "recordings.media_stored",
        &format!("recording:{id}"),
        Outcome::Success,
        json!({ "bytes": stored.len, "digest": digest, "media_type": ct }),
    )
    .await?;
    Ok(st.store.recording(id).await?.recording)
}

/// The recording if the caller may see its metadata (`recordings.view` at a scope that
/// covers it); a recording outside the caller's scope answers like a missing one.
pub async fn visible(st: &AppState, auth: &Auth, id: RecordingId) -> AppResult<RecordingRow> {
    let row = match st.store.recording(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(AppError::not_found("recording")),
        Err(e) => return Err(e.into()),
    };
    let r = &row.recording;
    let res = bposhield_core::Resource::Org { site: r.site_id, process: Some(r.process_id), team: r.team_id };
    if bposhield_core::authorize(&auth.actor, bposhield_core::Action::RecordingsView, res).is_allow() {
        Ok(row)
    } else {
        Err(AppError::not_found("recording"))
    }
}

/// Checks that the caller may play this recording's media, with a reason; records the
/// refusal in the ledger when not.
pub async fn check_media_access(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    rec: &Recording,
    what: &str,
    reason: Option<&str>,
) -> AppResult<String> {
    let object = format!("recording:{}", rec.id);
    let decision = authorize_media(&auth.actor, rec.process_id, rec.team_id);
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    let refusal = match (&decision, &reason) {
        (Decision::Deny(why), _) => Some((ErrorCode::Forbidden, why.clone())),
        (Decision::Allow, None) => {
            Some((ErrorCode::RecordingReasonRequired, "state why you need this recording (reason=…)".to_owned()))
        }
        (Decision::Allow, Some(r)) if r.len() > 500 || r.chars().any(char::is_control) => {
            Some((ErrorCode::RecordingReasonRequired, "the reason must be at most 500 characters of text".to_owned()))
        }
        (Decision::Allow, Some(_)) => None,
    };
    if let Some((code, why)) = refusal {
        st.audit(
            ctx,
            &format!("recordings.{what}"),
            &object,
            Outcome::Denied,
            json!({ "why": why, "reason": reason, "call_id": rec.call_id }),
        )
        .await?;
        return Err(AppError::new(code, format!("not allowed: {why}")));
    }
    Ok(reason.unwrap_or_default())
}

// ---- retention ------------------------------------------------------------------------

/// The process unit `id` if the caller may perform `action` on it; one outside the
/// caller's scope answers like a missing one.
pub(crate) async fn process_in_scope(
    st: &AppState,
    a: &Auth,
    id: ProcessId,
    action: bposhield_core::Action,
) -> AppResult<ProcessId> {
    let p = match st.store.process(id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(AppError::not_found("process unit")),
        Err(e) => return Err(e.into()),
    };
    let res = bposhield_core::Resource::Org { site: p.site_id, process: Some(p.id), team: None };
    if bposhield_core::authorize(&a.actor, action, res).is_allow() {
        Ok(p.id)
    } else {
        Err(AppError::not_found("process unit"))
    }
}

/// A process unit's retention policy, or the default (keep 90 days; a recording with a
/// card security code 24 hours).
pub async fn policy_for(st: &AppState, process: ProcessId) -> AppResult<RetentionPolicy> {
    Ok(st.store.recording_policy(process).await?.unwrap_or_default())
}

/// When a recording falls due under `p`: `keep_days` after the call, or
/// `purge_hours_after_review` after the review (none before it); a recording with a
/// card security code at the latest `security_code_hours` after ingest. The store's
/// `put_recording_policy` applies the same rule in SQL.
#[must_use]
pub fn due_at(
    p: &RetentionPolicy,
    started_at: i64,
    created_at: i64,
    security_code: bool,
    reviewed: Option<i64>,
) -> Option<i64> {
    let base = if p.mode == "after_review" {
        reviewed.map(|r| r + p.purge_hours_after_review * 3600)
    } else {
        Some(started_at + p.keep_days * 86_400)
    };
    if security_code {
        let cap = created_at + p.security_code_hours * 3600;
        Some(base.map_or(cap, |b| b.min(cap)))
    } else {
        base
    }
}

/// Checks a policy from the API.
pub fn validate_policy(p: &RetentionPolicy) -> AppResult<()> {
    use bposhield_core::validate::FieldError;
    let mut problems = Vec::new();
    if !matches!(p.mode.as_str(), "keep_days" | "after_review") {
        problems.push(FieldError::with_code(ErrorCode::InvalidField, "mode", "keep_days or after_review"));
    }
    if !(1..=3650).contains(&p.keep_days) {
        problems.push(FieldError::with_code(ErrorCode::InvalidField, "keep_days", "1 to 3650"));
    }
    if !(0..=8760).contains(&p.purge_hours_after_review) {
        problems.push(FieldError::with_code(ErrorCode::InvalidField, "purge_hours_after_review", "0 to 8760"));
    }
    if !(0..=720).contains(&p.security_code_hours) {
        problems.push(FieldError::with_code(ErrorCode::InvalidField, "security_code_hours", "0 to 720"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::from_problems(problems))
    }
}

/// Sets a process unit's policy (re-computing its recordings' due times); audited with
/// the policy before and after.
pub async fn put_policy(st: &AppState, ctx: &Ctx, process: ProcessId, p: &RetentionPolicy) -> AppResult<()> {
    validate_policy(p)?;
    let before = st.store.recording_policy(process).await?;
    st.store.put_recording_policy(process, p, st.clock.now()).await?;
    st.audit_change(
        ctx,
        "recordings.policy_set",
        &format!("process:{process}"),
        Outcome::Success,
        json!({ "mode": p.mode, "keep_days": p.keep_days, "purge_hours_after_review": p.purge_hours_after_review,
                "security_code_hours": p.security_code_hours, "allow_download": p.allow_download }),
        before.as_ref(),
        Some(p),
    )
    .await
}

/// Marks a recording's review complete (its own team manager or process head only;
/// a refusal is recorded): under "purge after review" it falls due.
pub async fn mark_reviewed(st: &AppState, ctx: &Ctx, auth: &Auth, rec: &Recording) -> AppResult<Option<i64>> {
    if let Decision::Deny(why) = authorize_media(&auth.actor, rec.process_id, rec.team_id) {
        let object = format!("recording:{}", rec.id);
        st.audit(ctx, "recordings.reviewed", &object, Outcome::Denied, json!({ "why": why })).await?;
        return Err(AppError::new(ErrorCode::Forbidden, format!("not allowed: {why}")));
    }
    let now = st.clock.now();
    let policy = policy_for(st, rec.process_id).await?;
    let due = due_at(&policy, rec.started_at, rec.created_at, rec.security_code, Some(now));
    st.store.set_recording_reviewed(rec.id, now, due).await?;
    st.audit(
        ctx,
        "recordings.reviewed",
        &format!("recording:{}", rec.id),
        Outcome::Success,
        json!({ "purge_due_at": due }),
    )
    .await?;
    Ok(due)
}

/// Sets or releases a legal hold, with a reason either way.
pub async fn set_hold(st: &AppState, ctx: &Ctx, rec: &Recording, reason: &str, set: bool) -> AppResult<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 || reason.chars().any(char::is_control) {
        return Err(AppError::field(ErrorCode::InvalidField, "reason", "1 to 500 characters of text"));
    }
    if rec.purged_at.is_some() {
        return Err(AppError::new(ErrorCode::RecordingNoMedia, "the recording was already purged"));
    }
    let hold = set.then(|| RecordingHold { reason: reason.to_owned(), by: ctx.actor_ref(), at: st.clock.now() });
    st.store.set_recording_hold(rec.id, hold.as_ref()).await?;
    let action = if set { "recordings.hold_set" } else { "recordings.hold_released" };
    st.audit(ctx, action, &format!("recording:{}", rec.id), Outcome::Success, json!({ "reason": reason })).await
}

/// Purges every recording due at the clock's now that is not on hold: crypto-shreds
/// its media and original text in the vault, keeps the metadata, redacted text and
/// findings as evidence, and records each purge in the ledger with the objects'
/// digests. Returns how many were purged.
pub async fn purge_due(st: &AppState, ctx: &Ctx) -> AppResult<usize> {
    let mut purged = 0;
    loop {
        let now = st.clock.now();
        let due = st.store.recordings_due(now, 200).await?;
        if due.is_empty() {
            return Ok(purged);
        }
        // Opened only when something is due, so a server without recordings never
        // creates a keyring.
        let vault = st.vault()?;
        for (id, media, text) in due {
            // A hold set since the list was read wins: look again just before shredding.
            let fresh = st.store.recording(id).await?;
            if fresh.recording.hold.is_some() || fresh.recording.purged_at.is_some() {
                continue;
            }
            let mut digests = serde_json::Map::new();
            for (what, object) in [("media", media), ("text", text)] {
                let Some(obj) = object.as_deref().and_then(|o| bposhield_vault::ObjectId::parse(o).ok()) else {
                    continue;
                };
                match vault.purge(&obj).await {
                    Ok(p) => {
                        digests.insert(format!("{what}_digest"), json!(p.digest.map(hex::encode)));
                    }
                    // Gone already (a purge cut short after the vault, before the row).
                    Err(VaultError::NotFound(_)) => {
                        digests.insert(format!("{what}_digest"), json!(null));
                    }
                    Err(e) => return Err(vault_error(&e)),
                }
            }
            if st.store.mark_recording_purged(id, now).await? {
                purged += 1;
                st.audit(
                    ctx,
                    "recordings.purged",
                    &format!("recording:{id}"),
                    Outcome::Success,
                    serde_json::Value::Object(digests),
                )
                .await?;
            }
        }
    }
}

/// The retention report for `[from, to)`: evidence for the quarterly check.
pub async fn retention_report(st: &AppState, from: i64, to: i64) -> AppResult<RetentionReport> {
    let now = st.clock.now();
    let (expired, purged, on_hold, overdue) = st.store.retention_rows(from, to, now).await?;
    Ok(RetentionReport { from, to, generated_at: now, expired, purged, on_hold, overdue })
}
