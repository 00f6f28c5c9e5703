//! Password policy and hashing.
//!
//! Policy: at least 12 characters, at most 256; a zxcvbn strength score of at least 3;
//! not one of the ~20,000 most common passwords (the list Django bundles), nor such a
//! password with digits or symbols tacked on, nor built from the username. Hashes are
//! argon2id in PHC string form, so parameters can be raised later without a migration.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Minimum length in characters.
pub const MIN_LEN: usize = 12;
/// Maximum length in characters (bounds hashing cost for hostile input).
pub const MAX_LEN: usize = 256;

/// Why a password was refused. The message is safe to show; it never echoes the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("is one of the most commonly used passwords")]
    Common,
    #[error("must not contain the username")]
    ContainsUsername,
    #[error("is too easy to guess: {0}")]
    Weak(String),
}

static COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_LIST.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
}

/// Checks `password` against the policy. `user_inputs` are words the user is known by
/// (username, display name) that must not make up the password.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), PasswordProblem> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PasswordProblem::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if common().contains(lower.as_str()) || common().contains(stem) {
        return Err(PasswordProblem::Common);
    }
    for input in user_inputs {
        let input = input.trim().to_lowercase();
        if input.chars().count() >= 4 && lower.contains(&input) {
            return Err(PasswordProblem::ContainsUsername);
        }
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if (entropy.score() as u8) < 3 {
        let hint = entropy
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "add more unrelated words or characters".to_owned());
        return Err(PasswordProblem::Weak(hint));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Verifies a password against a PHC hash. A malformed hash never verifies.
#[must_use]
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// A valid hash of a random secret, verified against when the username is unknown so a
/// wrong username costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash("unknown-user-timing-equaliser").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        let table: &[(&str, Option<PasswordProblem>)] = &[
            ("short", Some(PasswordProblem::TooShort)),
            ("password1234", Some(PasswordProblem::Common)),
            ("qwertyuiop123", Some(PasswordProblem::Common)),
            ("iloveyou!!!!!!", Some(PasswordProblem::Common)),
            ("priya.sharma-2026-x", Some(PasswordProblem::ContainsUsername)),
            ("aaaaaaaaaaaaaaaa", None),
            ("correct horse battery staple", None),
            ("Tr4vel-Mango-Quartz-91", None),
        ];
        for (pw, want) in table {
            let got = check_policy(pw, &["priya.sharma"]).err();
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) if w == g => {}
                (None, Some(PasswordProblem::Weak(_))) if *pw == "aaaaaaaaaaaaaaaa" => {}
                _ => panic!("{pw}: want {want:?}, got {got:?}"),
            }
        }
        assert!(matches!(check_policy("aaaaaaaaaaaaaaaa", &[]), Err(PasswordProblem::Weak(_))));
        assert_eq!(check_policy(&"x".repeat(300), &[]), Err(PasswordProblem::TooLong));
    }

    #[test]
    fn hash_roundtrip() {
        let h = hash("Tr4vel-Mango-Quartz-91").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Tr4vel-Mango-Quartz-91", &h));
        assert!(!verify("Tr4vel-Mango-Quartz-92", &h));
        assert!(!verify("x", "not a hash"));
        assert!(!dummy_hash().is_empty());
    }
}
