//! Offline exceptions: a host that cannot reach the server shows a **challenge**; a
//! security officer reads it into the server, which answers with a **response code**;
//! the user types the code and the agent allows that one device on that one host for
//! the hours the officer chose.
//!
//! The challenge packs a tag of the host, a tag of the device's USBGuard hash and the
//! minute it was made (12 bytes, 20 Crockford base32 characters, shown in groups of
//! five). The response packs the granted hours and an HMAC-SHA256 over the challenge
//! and the hours, keyed by the host's offline key (given to the host at enrollment,
//! known to the server only besides). So a code works for one challenge, which means
//! one device on one host; the agent keeps the challenges it has honoured and refuses
//! a code for one twice, and refuses codes for challenges older than
//! [`CHALLENGE_TTL_SECONDS`].

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A challenge older than this (30 minutes) is refused.
pub const CHALLENGE_TTL_SECONDS: i64 = 30 * 60;
/// The longest exception a response code can grant (7 days).
pub const MAX_HOURS: u8 = 168;

const MAC_DOMAIN: &[u8] = b"bposhield-offline-v1";

/// Why a challenge or code was refused. Codes are stable (`BPS-AGT-02xx`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OfflineError {
    #[error("BPS-AGT-0201: not a challenge: {0}")]
    BadChallenge(&'static str),
    #[error("BPS-AGT-0202: not a response code: {0}")]
    BadCode(&'static str),
    #[error("BPS-AGT-0203: the response code does not match this challenge, host or device")]
    Mismatch,
    #[error("BPS-AGT-0204: the challenge expired; read out a new one")]
    Expired,
    #[error("BPS-AGT-0205: hours must be 1 to 168")]
    BadHours,
    #[error("BPS-AGT-0206: the challenge is for another host")]
    OtherHost,
}

/// A challenge, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub host_tag: [u8; 4],
    pub device_tag: [u8; 4],
    /// Unix minutes when the challenge was made.
    pub minute: u32,
}

/// The tag identifying a host in challenges: 4 bytes of SHA-256 of its id.
#[must_use]
pub fn host_tag(host_id: &str) -> [u8; 4] {
    tag(host_id.as_bytes())
}

/// The tag identifying a device in challenges: 4 bytes of SHA-256 of its hash.
#[must_use]
pub fn device_tag(device_hash: &str) -> [u8; 4] {
    tag(device_hash.as_bytes())
}

fn tag(b: &[u8]) -> [u8; 4] {
    let d = Sha256::digest(b);
    [d[0], d[1], d[2], d[3]]
}

impl Challenge {
    /// The challenge for a device on a host at `now` (Unix seconds).
    #[must_use]
    pub fn new(host_id: &str, device_hash: &str, now: i64) -> Self {
        Self {
            host_tag: host_tag(host_id),
            device_tag: device_tag(device_hash),
            minute: (now / 60).clamp(0, i64::from(u32::MAX)) as u32,
        }
    }

    fn bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.host_tag);
        b[4..8].copy_from_slice(&self.device_tag);
        b[8..].copy_from_slice(&self.minute.to_be_bytes());
        b
    }

    /// The form shown to the user, e.g. `7K2QD-…` (4 groups of 5).
    #[must_use]
    pub fn display(&self) -> String {
        group(&crockford(&self.bytes()))
    }

    /// Parses what an officer typed: case, spaces, dashes and the usual misreadings
    /// (`O`→0, `I`/`L`→1) do not matter.
    ///
    /// # Errors
    /// [`OfflineError::BadChallenge`] on anything else.
    pub fn parse(s: &str) -> Result<Self, OfflineError> {
        let b = uncrockford(s).ok_or(OfflineError::BadChallenge("only letters and digits of base32"))?;
        let b: [u8; 12] = b.try_into().map_err(|_| OfflineError::BadChallenge("20 characters"))?;
        let [h0, h1, h2, h3, d0, d1, d2, d3, m0, m1, m2, m3] = b;
        Ok(Self {
            host_tag: [h0, h1, h2, h3],
            device_tag: [d0, d1, d2, d3],
            minute: u32::from_be_bytes([m0, m1, m2, m3]),
        })
    }

    /// Unix seconds when the challenge was made.
    #[must_use]
    pub fn made_at(&self) -> i64 {
        i64::from(self.minute) * 60
    }
}

fn mac(key: &[u8], c: &Challenge, hours: u8) -> [u8; 32] {
    // HMAC takes keys of any length.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else { return [0; 32] };
    m.update(MAC_DOMAIN);
    m.update(&c.bytes());
    m.update(&[hours]);
    m.finalize().into_bytes().into()
}

/// The server's side: the response code for `challenge`, allowing the device for
/// `hours` (1-168), keyed by the host's offline key. `host_id` must be the host the
/// challenge names and `now` within the challenge's lifetime.
///
/// # Errors
/// [`OfflineError`] when the hours, host or challenge's age are wrong.
pub fn respond(key: &[u8], host_id: &str, challenge: &Challenge, hours: u8, now: i64) -> Result<String, OfflineError> {
    if hours == 0 || hours > MAX_HOURS {
        return Err(OfflineError::BadHours);
    }
    if challenge.host_tag != host_tag(host_id) {
        return Err(OfflineError::OtherHost);
    }
    check_age(challenge, now)?;
    let m = mac(key, challenge, hours);
    let mut b = [0u8; 8];
    b[0] = hours;
    b[1..].copy_from_slice(&m[..7]);
    // 64 bits: 13 characters.
    Ok(group(&crockford(&b)))
}

fn check_age(c: &Challenge, now: i64) -> Result<(), OfflineError> {
    let age = now - c.made_at();
    // A minute of clock skew ahead is tolerated.
    if !(-60..=CHALLENGE_TTL_SECONDS).contains(&age) {
        return Err(OfflineError::Expired);
    }
    Ok(())
}

/// The agent's side: checks `code` against the challenge it showed for the device
/// with `device_hash` on host `host_id`, at `now`. Returns the hours granted.
///
/// # Errors
/// [`OfflineError`] when the code is malformed, does not match, or came too late.
pub fn verify(
    key: &[u8],
    host_id: &str,
    device_hash: &str,
    challenge: &Challenge,
    code: &str,
    now: i64,
) -> Result<u8, OfflineError> {
    if challenge.host_tag != host_tag(host_id) || challenge.device_tag != device_tag(device_hash) {
        return Err(OfflineError::Mismatch);
    }
    check_age(challenge, now)?;
    let b = uncrockford(code).ok_or(OfflineError::BadCode("only letters and digits of base32"))?;
    let b: [u8; 8] = b.try_into().map_err(|_| OfflineError::BadCode("13 characters"))?;
    let hours = b[0];
    if hours == 0 || hours > MAX_HOURS {
        return Err(OfflineError::Mismatch);
    }
    let m = mac(key, challenge, hours);
    // Constant-time compare: the code is a MAC.
    let diff = m[..7].iter().zip(&b[1..]).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(OfflineError::Mismatch);
    }
    Ok(hours)
}

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn crockford(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

fn uncrockford(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.chars() {
        let v = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => 0,
            'I' | 'L' => 1,
            c => ALPHABET.iter().position(|&a| char::from(a) == c)? as u32,
        };
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

fn group(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 5);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "0193a0f0-0000-7000-8000-000000000001";
    const DEV: &str = "Zx3aY1ZwLkPSEv1Ucy4uO3ia8f0eYHy3KdTzd+lL1uE=";

    #[test]
    fn a_code_opens_one_device_on_one_host_for_a_while() {
        let key = [9u8; 32];
        let now = 1_800_000_000;
        let c = Challenge::new(HOST, DEV, now);
        let shown = c.display();
        assert_eq!(shown.len(), 23, "{shown}");
        let read_back = Challenge::parse(&shown.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(read_back, c);
        let code = respond(&key, HOST, &read_back, 4, now + 120).unwrap();
        assert_eq!(verify(&key, HOST, DEV, &c, &code, now + 300), Ok(4));
        // Another device, another host, another key, a late code, a flipped character.
        assert_eq!(verify(&key, HOST, "other", &c, &code, now + 300), Err(OfflineError::Mismatch));
        assert_eq!(verify(&key, "other-host", DEV, &c, &code, now + 300), Err(OfflineError::Mismatch));
        assert_eq!(verify(&[1; 32], HOST, DEV, &c, &code, now + 300), Err(OfflineError::Mismatch));
        assert_eq!(verify(&key, HOST, DEV, &c, &code, now + CHALLENGE_TTL_SECONDS + 60), Err(OfflineError::Expired));
        let mut bad = code.clone().into_bytes();
        bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(verify(&key, HOST, DEV, &c, &bad, now + 300).is_err());
        // The hours cannot be raised by editing the code's first characters.
        let mut raw = uncrockford(&code).unwrap();
        raw[0] = 168;
        assert_eq!(verify(&key, HOST, DEV, &c, &crockford(&raw), now + 300), Err(OfflineError::Mismatch));
    }

    #[test]
    fn server_refuses_bad_requests() {
        let c = Challenge::new(HOST, DEV, 1_800_000_000);
        assert_eq!(respond(&[1; 32], HOST, &c, 0, 1_800_000_000), Err(OfflineError::BadHours));
        assert_eq!(respond(&[1; 32], HOST, &c, 169, 1_800_000_000), Err(OfflineError::BadHours));
        assert_eq!(respond(&[1; 32], "another", &c, 1, 1_800_000_000), Err(OfflineError::OtherHost));
        assert_eq!(respond(&[1; 32], HOST, &c, 1, 1_800_000_000 + 3600), Err(OfflineError::Expired));
        assert!(matches!(Challenge::parse("hello!"), Err(OfflineError::BadChallenge(_))));
        assert!(matches!(Challenge::parse("ABCDE"), Err(OfflineError::BadChallenge(_))));
    }

    #[test]
    fn base32_round_trips() {
        for n in 0..40u8 {
            let b: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let s = crockford(&b);
            let back = uncrockford(&s).unwrap();
            assert_eq!(&back[..b.len()], &b[..]);
        }
    }
}
