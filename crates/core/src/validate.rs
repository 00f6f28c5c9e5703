//! Validation of user-supplied data. Every problem names the field it is about, so the
//! API can say `field: "hire_date"` and the web form can show the message beside it.

use bposhield_proto::{ErrorCode, PersonInput, ProcessInput, SiteInput, TeamInput, UserInput};

/// One rejected field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: ErrorCode,
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// An invalid-field error.
    #[must_use]
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self { code: ErrorCode::InvalidField, field: field.to_owned(), message: message.into() }
    }
    /// An error with a specific code.
    #[must_use]
    pub fn with_code(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self { code, field: field.to_owned(), message: message.into() }
    }
}

/// All problems found in one input (empty = valid).
pub type Problems = Vec<FieldError>;

fn text(p: &mut Problems, field: &str, v: &str, max: usize) {
    let t = v.trim();
    if t.is_empty() {
        p.push(FieldError::invalid(field, "is required"));
    } else if t.chars().count() > max {
        p.push(FieldError::invalid(field, format!("must be at most {max} characters")));
    } else if t.chars().any(char::is_control) {
        p.push(FieldError::invalid(field, "must not contain control characters"));
    }
}

fn code_like(p: &mut Problems, field: &str, v: &str, max: usize) {
    if v.is_empty() || v.len() > max || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        p.push(FieldError::invalid(field, format!("must be 1-{max} letters, digits, '-' or '_'")));
    }
}

/// Checks a `YYYY-MM-DD` calendar date.
#[must_use]
pub fn is_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

/// Validates a site.
#[must_use]
pub fn site(i: &SiteInput) -> Problems {
    let mut p = Vec::new();
    code_like(&mut p, "code", &i.code, 16);
    text(&mut p, "name", &i.name, 120);
    text(&mut p, "city", &i.city, 80);
    text(&mut p, "country", &i.country, 80);
    p
}

/// Validates a process unit.
#[must_use]
pub fn process(i: &ProcessInput) -> Problems {
    let mut p = Vec::new();
    code_like(&mut p, "code", &i.code, 24);
    text(&mut p, "name", &i.name, 120);
    text(&mut p, "client", &i.client, 120);
    p
}

/// Validates a team.
#[must_use]
pub fn team(i: &TeamInput) -> Problems {
    let mut p = Vec::new();
    text(&mut p, "name", &i.name, 120);
    p
}

/// Validates a person's own fields (references are checked by the service against the store).
#[must_use]
pub fn person(i: &PersonInput) -> Problems {
    let mut p = Vec::new();
    code_like(&mut p, "employee_id", &i.employee_id, 32);
    text(&mut p, "given_name", &i.given_name, 80);
    text(&mut p, "family_name", &i.family_name, 80);
    text(&mut p, "job_role", &i.job_role, 80);
    if let Some(e) = &i.email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
            && !e.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            p.push(FieldError::invalid("email", "must be an e-mail address like name@example.com"));
        }
    }
    if !is_date(&i.hire_date) {
        p.push(FieldError::invalid("hire_date", "must be a date YYYY-MM-DD"));
    }
    match &i.exit_date {
        Some(d) if !is_date(d) => p.push(FieldError::invalid("exit_date", "must be a date YYYY-MM-DD")),
        Some(d) if is_date(&i.hire_date) && d.as_str() < i.hire_date.as_str() => {
            p.push(FieldError::invalid("exit_date", "must not be before the hire date"));
        }
        _ => {}
    }
    if i.team_id.is_some() && i.process_id.is_none() {
        p.push(FieldError::with_code(
            bposhield_proto::ErrorCode::TeamSiteMismatch,
            "process_id",
            "a person in a team must be in that team's process unit",
        ));
    }
    p
}

/// Validates a username.
pub fn username(p: &mut Problems, u: &str) {
    let ok = (3..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && u.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !ok {
        p.push(FieldError::invalid(
            "username",
            "must be 3-64 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter",
        ));
    }
}

/// Validates a new user (password policy is checked separately, with the username).
#[must_use]
pub fn user(i: &UserInput) -> Problems {
    let mut p = Vec::new();
    username(&mut p, &i.username);
    text(&mut p, "display_name", &i.display_name, 120);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for (d, ok) in
            [("2026-02-28", true), ("2026-02-30", false), ("26-01-01", false), ("2026-1-01", false), ("", false)]
        {
            assert_eq!(is_date(d), ok, "{d}");
        }
    }

    #[test]
    fn site_fields_named() {
        let p = site(&SiteInput {
            code: "bad code".into(),
            name: String::new(),
            city: "Pune".into(),
            country: "IN".into(),
        });
        let fields: Vec<_> = p.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "name"]);
    }
}
