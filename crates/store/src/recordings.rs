//! Call recordings: metadata, redacted text and PII findings. The media and original
//! text are in the vault; these rows name their vault objects.

use crate::{i, oi, oparse, os, parse, q, s, Result, Store, StoreError};
use bposhield_core::Visibility;
use bposhield_proto::{
    ProcessId, Recording, RecordingFinding, RecordingHold, RecordingId, RetentionPolicy, RetentionRow, Scope,
};
use sqlx::any::AnyRow;

const COLS: &str =
    "id, call_id, site_id, process_id, team_id, agent_ref, agent_person_id, started_at, duration_seconds, \
    channel, customer_ref, media_object, media_type, media_bytes, redacted_transcript, redacted_screen, pii_types, \
    security_code, created_at, review_completed_at, purge_due_at, hold_reason, hold_by, hold_at, purged_at";

/// A recording row as stored, with the vault object ids the API never shows.
#[derive(Debug, Clone)]
pub struct RecordingRow {
    pub recording: Recording,
    /// Vault object of the media, once uploaded.
    pub media_object: Option<String>,
    /// Vault object of the original transcript and screen text.
    pub text_object: Option<String>,
}

fn row(r: &AnyRow) -> Result<(Recording, Option<String>)> {
    let pii: String = s(r, "pii_types")?;
    let media_object = os(r, "media_object")?;
    Ok((
        Recording {
            id: parse(r, "id")?,
            call_id: s(r, "call_id")?,
            site_id: parse(r, "site_id")?,
            process_id: parse(r, "process_id")?,
            team_id: oparse(r, "team_id")?,
            agent: s(r, "agent_ref")?,
            agent_person_id: oparse(r, "agent_person_id")?,
            started_at: i(r, "started_at")?,
            duration_seconds: i(r, "duration_seconds")?,
            channel: s(r, "channel")?,
            customer_ref: s(r, "customer_ref")?,
            has_media: media_object.is_some(),
            media_type: os(r, "media_type")?,
            media_bytes: oi(r, "media_bytes")?,
            pii_types: pii.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            security_code: i(r, "security_code")? != 0,
            redacted_transcript: s(r, "redacted_transcript")?,
            redacted_screen: s(r, "redacted_screen")?,
            findings: Vec::new(),
            created_at: i(r, "created_at")?,
            review_completed_at: oi(r, "review_completed_at")?,
            purge_due_at: oi(r, "purge_due_at")?,
            hold: match os(r, "hold_reason")? {
                Some(reason) => Some(RecordingHold {
                    reason,
                    by: os(r, "hold_by")?.unwrap_or_default(),
                    at: oi(r, "hold_at")?.unwrap_or(0),
                }),
                None => None,
            },
            purged_at: oi(r, "purged_at")?,
        },
        media_object,
    ))
}

impl Store {
    /// Inserts a recording and its findings in one transaction. A second insert with
    /// the same call id fails with [`StoreError::Unique`].
    pub async fn insert_recording(&self, r: &Recording, text_object: Option<&str>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        q("INSERT INTO recordings (id, call_id, site_id, process_id, team_id, agent_ref, agent_person_id, started_at, \
           duration_seconds, channel, customer_ref, text_object, redacted_transcript, redacted_screen, pii_types, \
           security_code, created_at, purge_due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
        .arg(r.id.to_string())
        .arg(r.call_id.as_str())
        .arg(r.site_id.to_string())
        .arg(r.process_id.to_string())
        .arg(r.team_id.map(|t| t.to_string()))
        .arg(r.agent.as_str())
        .arg(r.agent_person_id.map(|p| p.to_string()))
        .arg(r.started_at)
        .arg(r.duration_seconds)
        .arg(r.channel.as_str())
        .arg(r.customer_ref.as_str())
        .arg(text_object.map(str::to_owned))
        .arg(r.redacted_transcript.as_str())
        .arg(r.redacted_screen.as_str())
        .arg(r.pii_types.join(","))
        .arg(r.security_code)
        .arg(r.created_at)
        .arg(r.purge_due_at)
        .build()
        .execute(&mut *tx)
        .await?;
        for (n, f) in r.findings.iter().enumerate() {
            q("INSERT INTO recording_findings (recording_id, source, seq, kind, start_offset, end_offset, score_milli, masked) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .arg(r.id.to_string())
            .arg(f.source.as_str())
            .arg(i64::try_from(n).unwrap_or(i64::MAX))
            .arg(f.kind.as_str())
            .arg(f.start)
            .arg(f.end)
            .arg((f.score * 1000.0).round() as i64)
            .arg(f.masked.as_str())
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the uploaded media of a recording that has none yet. Returns false when
    /// it already had media (the caller then discards the new object).
    pub async fn set_recording_media(
        &self,
        id: RecordingId,
        object: &str,
        media_type: &str,
        bytes: i64,
        digest: &str,
    ) -> Result<bool> {
        let done = q("UPDATE recordings SET media_object = $1, media_type = $2, media_bytes = $3, media_digest = $4 \
                      WHERE id = $5 AND media_object IS NULL AND purged_at IS NULL")
        .arg(object)
        .arg(media_type)
        .arg(bytes)
        .arg(digest)
        .arg(id.to_string())
        .build()
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One recording with its findings and vault object ids.
    pub async fn recording(&self, id: RecordingId) -> Result<RecordingRow> {
        let r = q(&format!("SELECT {COLS}, text_object FROM recordings WHERE id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let text_object = os(&r, "text_object")?;
        let (mut recording, media_object) = row(&r)?;
        recording.findings = self.recording_findings(id).await?;
        Ok(RecordingRow { recording, media_object, text_object })
    }

    /// The recording with this call id, if any.
    pub async fn recording_by_call(&self, call_id: &str) -> Result<Option<RecordingId>> {
        let r =
            q("SELECT id FROM recordings WHERE call_id = $1").arg(call_id).build().fetch_optional(self.pool()).await?;
        r.map(|r| parse(&r, "id")).transpose()
    }

    async fn recording_findings(&self, id: RecordingId) -> Result<Vec<RecordingFinding>> {
        let rows = q("SELECT source, kind, start_offset, end_offset, score_milli, masked FROM recording_findings \
                      WHERE recording_id = $1 ORDER BY source DESC, seq")
        .arg(id.to_string())
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecordingFinding {
                    source: s(r, "source")?,
                    kind: s(r, "kind")?,
                    start: i(r, "start_offset")?,
                    end: i(r, "end_offset")?,
                    score: i(r, "score_milli")? as f64 / 1000.0,
                    masked: s(r, "masked")?,
                })
            })
            .collect()
    }

    /// Recordings the visibility allows, newest first (without findings, and with the
    /// redacted texts left empty).
    pub async fn recordings(&self, vis: &Visibility, limit: u32, offset: u32) -> Result<Vec<Recording>> {
        // A list carries metadata only: the texts (up to megabytes each) come with one
        // recording.
        let cols =
            COLS.replace("redacted_transcript, redacted_screen", "'' AS redacted_transcript, '' AS redacted_screen");
        let mut qb = crate::Q::new(&format!("SELECT {cols} FROM recordings WHERE "));
        match vis {
            Visibility::All => {
                qb.push("1 = 1");
            }
            Visibility::Nothing => return Ok(Vec::new()),
            Visibility::Within(scopes) => {
                qb.push("(1 = 0");
                for sc in scopes {
                    match sc {
                        Scope::Global => qb.push(" OR 1 = 1"),
                        Scope::Site(x) => qb.push(" OR site_id = ").bind(x.to_string()),
                        Scope::Process(x) => qb.push(" OR process_id = ").bind(x.to_string()),
                        Scope::Team(x) => qb.push(" OR team_id = ").bind(x.to_string()),
                    };
                }
                qb.push(")");
            }
        }
        qb.push(" ORDER BY started_at DESC, id DESC LIMIT ").bind(i64::from(limit));
        qb.push(" OFFSET ").bind(i64::from(offset));
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter().map(|r| row(r).map(|(rec, _)| rec)).collect()
    }

    /// The retention policy of a process unit, if one was set.
    pub async fn recording_policy(&self, process: ProcessId) -> Result<Option<RetentionPolicy>> {
        let r = q("SELECT mode, keep_days, purge_hours_after_review, security_code_hours, allow_download \
                   FROM recording_policies WHERE process_id = $1")
        .arg(process.to_string())
        .build()
        .fetch_optional(self.pool())
        .await?;
        r.map(|r| {
            Ok(RetentionPolicy {
                mode: s(&r, "mode")?,
                keep_days: i(&r, "keep_days")?,
                purge_hours_after_review: i(&r, "purge_hours_after_review")?,
                security_code_hours: i(&r, "security_code_hours")?,
                allow_download: i(&r, "allow_download")? != 0,
            })
        })
        .transpose()
    }

    /// Sets a process unit's policy and re-computes the due time of its recordings
    /// not yet purged, in one transaction.
    pub async fn put_recording_policy(&self, process: ProcessId, p: &RetentionPolicy, now: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        q("INSERT INTO recording_policies (process_id, mode, keep_days, purge_hours_after_review, security_code_hours, \
           allow_download, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (process_id) DO UPDATE SET \
           mode = excluded.mode, keep_days = excluded.keep_days, purge_hours_after_review = excluded.purge_hours_after_review, \
           security_code_hours = excluded.security_code_hours, allow_download = excluded.allow_download, \
           updated_at = excluded.updated_at")
        .arg(process.to_string())
        .arg(p.mode.as_str())
        .arg(p.keep_days)
        .arg(p.purge_hours_after_review)
        .arg(p.security_code_hours)
        .arg(p.allow_download)
        .arg(now)
        .build()
        .execute(&mut *tx)
        .await?;
        // The same rule as `bposhield_server::recordings::due_at`, in SQL.
        let base = if p.mode == "after_review" {
            "CASE WHEN review_completed_at IS NULL THEN NULL ELSE review_completed_at + $1 END"
        } else {
            "started_at + $1"
        };
        let span = if p.mode == "after_review" { p.purge_hours_after_review * 3600 } else { p.keep_days * 86_400 };
        q(&format!(
            "UPDATE recordings SET purge_due_at = CASE WHEN security_code <> 0 THEN \
             (CASE WHEN ({base}) IS NULL OR ({base}) > created_at + $2 THEN created_at + $2 ELSE ({base}) END) \
             ELSE ({base}) END WHERE process_id = $3 AND purged_at IS NULL"
        ))
        .arg(span)
        .arg(p.security_code_hours * 3600)
        .arg(process.to_string())
        .build()
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the review of a recording complete and sets its new due time.
    pub async fn set_recording_reviewed(&self, id: RecordingId, at: i64, due: Option<i64>) -> Result<()> {
        q("UPDATE recordings SET review_completed_at = $1, purge_due_at = $2 WHERE id = $3 AND purged_at IS NULL")
            .arg(at)
            .arg(due)
            .arg(id.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets (`Some`) or releases (`None`) a legal hold.
    pub async fn set_recording_hold(&self, id: RecordingId, hold: Option<&RecordingHold>) -> Result<()> {
        q("UPDATE recordings SET hold_reason = $1, hold_by = $2, hold_at = $3 WHERE id = $4")
            .arg(hold.map(|h| h.reason.clone()))
            .arg(hold.map(|h| h.by.clone()))
            .arg(hold.map(|h| h.at))
            .arg(id.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Recordings due for purge at `now`: due, not on hold, not purged. With their
    /// vault objects (media, original text).
    pub async fn recordings_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<(RecordingId, Option<String>, Option<String>)>> {
        let rows = q("SELECT id, media_object, text_object FROM recordings WHERE purge_due_at <= $1 \
                      AND purged_at IS NULL AND hold_reason IS NULL ORDER BY purge_due_at, id LIMIT $2")
        .arg(now)
        .arg(i64::from(limit))
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((parse(r, "id")?, os(r, "media_object")?, os(r, "text_object")?))).collect()
    }

    /// Records a purge: the vault objects are gone; the metadata, redacted text and
    /// findings stay as evidence. False when it was already purged or is now on hold.
    pub async fn mark_recording_purged(&self, id: RecordingId, at: i64) -> Result<bool> {
        let done = q("UPDATE recordings SET purged_at = $1, media_object = NULL, text_object = NULL \
                      WHERE id = $2 AND purged_at IS NULL")
        .arg(at)
        .arg(id.to_string())
        .build()
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The retention report's rows: due in `[from, to)`, purged in `[from, to)`, on
    /// hold now, overdue at `now`.
    pub async fn retention_rows(
        &self,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<(Vec<RetentionRow>, Vec<RetentionRow>, Vec<RetentionRow>, Vec<RetentionRow>)> {
        let sel = "SELECT id, call_id, process_id, purge_due_at, purged_at, hold_reason FROM recordings WHERE ";
        let fetch = |cond: &'static str, args: Vec<i64>| {
            let sql = format!("{sel}{cond} ORDER BY purge_due_at, id");
            async move {
                let qb = args.into_iter().fold(q(&sql), |qb, a| qb.arg(a));
                let rows = qb.build().fetch_all(self.pool()).await?;
                rows.iter()
                    .map(|r| {
                        Ok(RetentionRow {
                            recording_id: parse(r, "id")?,
                            call_id: s(r, "call_id")?,
                            process_id: parse(r, "process_id")?,
                            purge_due_at: oi(r, "purge_due_at")?,
                            purged_at: oi(r, "purged_at")?,
                            hold_reason: os(r, "hold_reason")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            }
        };
        let expired = fetch("purge_due_at >= $1 AND purge_due_at < $2", vec![from, to]).await?;
        let purged = fetch("purged_at >= $1 AND purged_at < $2", vec![from, to]).await?;
        let on_hold = fetch("hold_reason IS NOT NULL AND purged_at IS NULL", vec![]).await?;
        let overdue = fetch("purge_due_at < $1 AND purged_at IS NULL AND hold_reason IS NULL", vec![now]).await?;
        Ok((expired, purged, on_hold, overdue))
    }

    /// What the R2 controls read at `now`.
    pub async fn recording_facts(&self, now: i64) -> Result<bposhield_core::controls::RecordingFacts> {
        let live =
            q("SELECT COUNT(*) AS n FROM recordings WHERE purged_at IS NULL").build().fetch_one(self.pool()).await?;
        let overdue = q("SELECT id FROM recordings WHERE purge_due_at < $1 AND purged_at IS NULL AND hold_reason IS NULL ORDER BY purge_due_at, id")
            .arg(now)
            .build()
            .fetch_all(self.pool())
            .await?;
        let codes = q("SELECT id, text_object, media_object, purge_due_at, hold_reason FROM recordings WHERE security_code <> 0 ORDER BY id")
            .build()
            .fetch_all(self.pool())
            .await?;
        let since = now - 7 * 86_400;
        let plays = q("SELECT id, detail FROM audit_events WHERE at >= $1 AND outcome = 'success' \
                       AND action IN ('recordings.play', 'recordings.seek', 'recordings.download') ORDER BY at, id LIMIT 100000")
        .arg(since)
        .build()
        .fetch_all(self.pool())
        .await?;
        let denied = q("SELECT COUNT(*) AS n FROM audit_events WHERE at >= $1 AND outcome = 'denied' \
                        AND action IN ('recordings.play', 'recordings.seek', 'recordings.download')")
        .arg(since)
        .build()
        .fetch_one(self.pool())
        .await?;
        let mut plays_without_reason = Vec::new();
        for r in &plays {
            let detail: serde_json::Value = serde_json::from_str(&s(r, "detail")?).unwrap_or_default();
            if detail["reason"].as_str().is_none_or(|x| x.trim().is_empty()) {
                plays_without_reason.push(s(r, "id")?);
            }
        }
        Ok(bposhield_core::controls::RecordingFacts {
            live: u64::try_from(i(&live, "n")?).unwrap_or(0),
            overdue: overdue.iter().map(|r| s(r, "id")).collect::<Result<_>>()?,
            security_codes: codes
                .iter()
                .map(|r| {
                    let text = os(r, "text_object")?.is_some();
                    let media_late = os(r, "media_object")?.is_some()
                        && oi(r, "purge_due_at")?.is_some_and(|d| d < now)
                        && os(r, "hold_reason")?.is_none();
                    Ok((s(r, "id")?, text || media_late))
                })
                .collect::<Result<_>>()?,
            plays_7d: plays.len() as u64,
            plays_without_reason,
            denied_7d: u64::try_from(i(&denied, "n")?).unwrap_or(0),
            // The server looks at the files; the database cannot.
            keyring_private: None,
            blobs_private: None,
        })
    }
}
