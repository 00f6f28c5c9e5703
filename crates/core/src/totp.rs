//! Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30 s steps, 6 digits), as every
//! authenticator app speaks them, and single-use recovery codes.
//!
//! Hand-written on top of the `hmac`/`sha1` crates: the algorithm is a dozen lines and
//! the RFC's test vectors below pin it.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Step length in seconds.
pub const STEP: i64 = 30;
/// Accepted clock drift, in steps, either side.
pub const DRIFT_STEPS: i64 = 1;

/// A new random 160-bit secret.
#[must_use]
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The code for a given step counter (RFC 4226 HOTP with dynamic truncation).
#[must_use]
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[off]) & 0x7f) << 24
        | u32::from(h[off + 1]) << 16
        | u32::from(h[off + 2]) << 8
        | u32::from(h[off + 3]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// The 6-digit code at Unix time `now`.
#[must_use]
pub fn code_at(secret: &[u8], now: i64) -> String {
    hotp(secret, step_of(now), 6)
}

fn step_of(now: i64) -> u64 {
    u64::try_from(now.div_euclid(STEP)).unwrap_or(0)
}

/// Checks `code` at `now` within the drift window. Returns the matched step so the
/// caller can refuse a replay of the same or an earlier step.
#[must_use]
pub fn verify(secret: &[u8], code: &str, now: i64, last_used_step: Option<u64>) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = step_of(now);
    (-DRIFT_STEPS..=DRIFT_STEPS)
        .filter_map(|d| base.checked_add_signed(d))
        .filter(|s| last_used_step.is_none_or(|last| *s > last))
        .find(|s| constant_eq(hotp(secret, *s, 6).as_bytes(), code.as_bytes()))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
#[must_use]
pub fn base32(data: &[u8]) -> String {
    const ALPHA: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHA[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHA[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI to put in a QR code or paste into an authenticator.
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// Ten fresh recovery codes (`xxxxx-xxxxx`, lowercase base32, 50 bits each).
#[must_use]
pub fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut b = [0u8; 7];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let s = base32(&b).to_lowercase();
            format!("{}-{}", &s[0..5], &s[5..10])
        })
        .collect()
}

/// The stored form of a recovery code (codes are random, so a plain SHA-256 suffices).
#[must_use]
pub fn hash_recovery_code(code: &str) -> String {
    let norm: String = code.trim().to_lowercase().chars().filter(|c| *c != ' ').collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors_sha1() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(secret, step_of(t), 8), want, "t={t}");
        }
    }

    #[test]
    fn verify_window_and_replay() {
        let s = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&s, now - 30);
        let step = verify(&s, &code, now, None).unwrap();
        assert_eq!(verify(&s, &code, now, Some(step)), None, "replay refused");
        assert_eq!(verify(&s, &code_at(&s, now - 90), now, None), None, "too old");
        assert_eq!(verify(&s, "12a456", now, None), None);
    }

    #[test]
    fn base32_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(hash_recovery_code(&codes[0].to_uppercase()), hash_recovery_code(&codes[0]));
    }
}
