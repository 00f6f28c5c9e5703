//! The demo's call recordings (risk R2), clearly synthetic: a few hundred calls across
//! the process units, each with a transcript from the PII engine's corpus generator
//! (card numbers, CVVs, SSNs, Aadhaar… read out by "customers") and a short generated
//! audio stand-in (a few seconds of tones, not speech). They go in through the same
//! ingest and media services as the API, so they are scanned, redacted, encrypted and
//! audited like real ones. Some calls are older than their process's retention (the
//! purge job takes them on its first round), one of those is on legal hold, and the
//! showcase team manager's team has calls to play.

use crate::demo_data::DemoOrg;
use bposhield_dlp::corpus::{Generator, Profile};
use bposhield_proto::{RecordingInput, RetentionPolicy, Scope, TeamId};
use bposhield_server::ctx::Ctx;
use bposhield_server::{recordings, AppState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Calls seeded.
pub const CALLS: usize = 300;

/// A mono 16-bit PCM WAV of `secs` seconds at 8 kHz: two alternating tones, different
/// per call, so players show a real waveform.
fn tone_wav(secs: u32, f1: f64, f2: f64) -> Vec<u8> {
    let rate = 8000u32;
    let n = rate * secs;
    let mut v = Vec::with_capacity(44 + 2 * n as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(2 * n).to_le_bytes());
    for k in 0..n {
        let t = f64::from(k) / f64::from(rate);
        let f = if (k / (rate / 2)).is_multiple_of(2) { f1 } else { f2 };
        let s = (t * f * std::f64::consts::TAU).sin() * 6000.0;
        v.extend_from_slice(&(s as i16).to_le_bytes());
    }
    v
}

/// Seeds the recordings; returns how many.
pub async fn seed(state: &AppState, org: &DemoOrg, seed: u64) -> anyhow::Result<usize> {
    let ctx = Ctx::system("demo-seed");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x2E);
    let mut typical = Generator::new(seed, Profile::Typical);
    let mut dense = Generator::new(seed ^ 1, Profile::Dense);
    let showcase_team: Option<TeamId> =
        org.users.iter().find(|u| u.username == "tl.acme01").and_then(|u| match u.grants.first().map(|g| g.scope) {
            Some(Scope::Team(t)) => Some(t),
            _ => None,
        });
    // "Purge after review" for the showcase process; the others keep the default 90 days.
    if let Some(p) = org.teams.iter().find(|(t, _, _)| Some(*t) == showcase_team).map(|(_, _, t)| t.process_id) {
        let policy =
            RetentionPolicy { mode: "after_review".into(), purge_hours_after_review: 24, ..RetentionPolicy::default() };
        recordings::put_policy(state, &ctx, p, &policy).await.map_err(|e| anyhow::anyhow!("demo policy: {e}"))?;
    }
    let now = state.clock.now();
    let mut held = None;
    eprintln!("Seeding {CALLS} synthetic call recordings...");
    for n in 0..CALLS {
        // A fifth of the calls in the showcase team, the rest anywhere.
        let (team, _, t) = match showcase_team.filter(|_| n % 5 == 0) {
            Some(st) => org.teams.iter().find(|(id, _, _)| *id == st).unwrap_or(&org.teams[0]),
            None => &org.teams[rng.gen_range(0..org.teams.len())],
        };
        let agent = org
            .people
            .iter()
            .filter(|(_, p)| p.team_id == Some(*team))
            .nth(rng.gen_range(0..8))
            .map_or_else(|| format!("E{:06}", 900_000 + n), |(_, p)| p.employee_id.clone());
        let doc = if n % 4 == 0 { dense.next_doc() } else { typical.next_doc() };
        // Spread over the last four months: those older than 90 days are past retention.
        let age = rng.gen_range(600..(120 * 86_400));
        let input = RecordingInput {
            call_id: format!("DEMO-CMS-{:05}", n + 1),
            agent,
            process_id: t.process_id,
            team_id: Some(*team),
            started_at: now - age,
            duration_seconds: rng.gen_range(60..900),
            channel: "voice".into(),
            customer_ref: format!("CUST-{:06}", rng.gen_range(0..1_000_000)),
            transcript: Some(doc.text),
            screen_text: None,
        };
        let (rec, _) =
            recordings::ingest(state, &ctx, input).await.map_err(|e| anyhow::anyhow!("demo recording {n}: {e}"))?;
        let row = state.store.recording(rec.id).await?;
        if row.media_object.is_none() {
            let wav = tone_wav(3, 350.0 + f64::from(u32::try_from(n % 40).unwrap_or(0)) * 15.0, 440.0);
            recordings::store_media(state, &ctx, &row, "audio/wav", wav.as_slice())
                .await
                .map_err(|e| anyhow::anyhow!("demo media {n}: {e}"))?;
        }
        if held.is_none() && age > 100 * 86_400 && !rec.security_code {
            held = Some(rec);
        }
    }
    if let Some(rec) = held {
        recordings::set_hold(
            state,
            &ctx,
            &rec,
            "Chargeback dispute raised by the client; keep until it is closed",
            true,
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo hold: {e}"))?;
    }
    Ok(CALLS)
}
