//! Stable error codes shared by the JSON API and the HTML error pages.
//!
//! A code is `BPS-<AREA>-<NNNN>`. Operators grep logs and write runbooks against these,
//! so they never change meaning; retired codes stay reserved.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! codes {
    ($( $variant:ident = ($code:literal, $status:literal, $title:literal) ),* $(,)?) => {
        /// Every error the platform reports to a caller.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant ),* }

        impl ErrorCode {
            /// All codes, for documentation and uniqueness tests.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant ),* ];

            /// The stable code string, e.g. `BPS-AUTH-0001`.
            #[must_use]
            pub fn code(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code ),* }
            }

            /// The HTTP status this error maps to.
            #[must_use]
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status ),* }
            }

            /// A short human title, shown on error pages.
            #[must_use]
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title ),* }
            }

            /// Parses a code string back (clients and tests).
            #[must_use]
            pub fn from_code(s: &str) -> Option<Self> {
                match s { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

codes! {
    // General request errors.
    MalformedJson = ("BPS-REQ-0001", 400, "Malformed JSON"),
    InvalidField = ("BPS-REQ-0002", 422, "Invalid field"),
    UnknownField = ("BPS-REQ-0003", 400, "Unknown field"),
    BodyTooLarge = ("BPS-REQ-0004", 413, "Request body too large"),
    UnsupportedMediaType = ("BPS-REQ-0005", 415, "Unsupported media type"),
    InvalidQuery = ("BPS-REQ-0006", 400, "Invalid query parameter"),
    InvalidPath = ("BPS-REQ-0007", 400, "Invalid path parameter"),
    NotFound = ("BPS-REQ-0008", 404, "Not found"),
    MethodNotAllowed = ("BPS-REQ-0009", 405, "Method not allowed"),
    // Authentication and authorization.
    NotAuthenticated = ("BPS-AUTH-0001", 401, "Sign-in required"),
    BadCredentials = ("BPS-AUTH-0002", 401, "Wrong username or password"),
    Forbidden = ("BPS-AUTH-0003", 403, "Not allowed"),
    CsrfFailed = ("BPS-AUTH-0004", 403, "Form expired or forged"),
    Throttled = ("BPS-AUTH-0005", 429, "Too many attempts"),
    AccountLocked = ("BPS-AUTH-0006", 423, "Account temporarily locked"),
    AccountDisabled = ("BPS-AUTH-0007", 403, "Account disabled"),
    SecondFactorRequired = ("BPS-AUTH-0008", 401, "Second factor required"),
    BadSecondFactor = ("BPS-AUTH-0009", 401, "Wrong second-factor code"),
    SecondFactorEnrolmentRequired = ("BPS-AUTH-0010", 403, "Second factor enrolment required"),
    WeakPassword = ("BPS-AUTH-0011", 422, "Password does not meet the policy"),
    TokenExpired = ("BPS-AUTH-0012", 401, "Token expired or revoked"),
    SessionExpired = ("BPS-AUTH-0013", 401, "Session expired"),
    // Organisation and people.
    DuplicateEmployeeId = ("BPS-ORG-0001", 409, "Employee id already exists"),
    ManagerCycle = ("BPS-ORG-0002", 422, "Manager chain would form a cycle"),
    TeamSiteMismatch = ("BPS-ORG-0003", 422, "Team belongs to another site or process"),
    UnknownReference = ("BPS-ORG-0004", 422, "Referenced record does not exist"),
    DuplicateName = ("BPS-ORG-0005", 409, "Name already in use"),
    // Users, roles and tokens.
    DuplicateUsername = ("BPS-USR-0001", 409, "Username already exists"),
    InvalidScope = ("BPS-USR-0002", 422, "Invalid role scope"),
    PersonAlreadyLinked = ("BPS-USR-0003", 409, "Person already linked to another user"),
    // Store and configuration.
    DatabaseNewerThanBinary = ("BPS-STO-0001", 500, "Database schema is newer than this binary"),
    StoreUnavailable = ("BPS-STO-0002", 503, "Database unavailable"),
    Conflict = ("BPS-STO-0003", 409, "Concurrent update, retry"),
    ConfigInvalid = ("BPS-CFG-0001", 500, "Invalid configuration"),
    // Ledger.
    LedgerRange = ("BPS-LED-0001", 422, "Index or tree size outside the ledger"),
    LedgerVerifyRunning = ("BPS-LED-0002", 409, "A ledger verification is already running"),
    // SCIM 2.0 (/scim/v2); the scimType of RFC 7644 Table 9 travels beside the code.
    ScimInvalidFilter = ("BPS-SCIM-0001", 400, "Invalid SCIM filter"),
    ScimInvalidSyntax = ("BPS-SCIM-0002", 400, "Invalid SCIM request syntax"),
    ScimInvalidPath = ("BPS-SCIM-0003", 400, "Invalid SCIM attribute path"),
    ScimNoTarget = ("BPS-SCIM-0004", 400, "SCIM path matches nothing"),
    ScimInvalidValue = ("BPS-SCIM-0005", 400, "Invalid SCIM attribute value"),
    ScimMutability = ("BPS-SCIM-0006", 400, "SCIM attribute cannot be changed"),
    ScimUniqueness = ("BPS-SCIM-0007", 409, "SCIM resource already exists"),
    ScimTooMany = ("BPS-SCIM-0008", 400, "Too many SCIM results"),
    ScimPreconditionFailed = ("BPS-SCIM-0009", 412, "SCIM resource changed (ETag mismatch)"),
    ScimInvalidVersion = ("BPS-SCIM-0010", 400, "Unsupported SCIM protocol version"),
    ScimSensitive = ("BPS-SCIM-0011", 400, "Sensitive data in the SCIM request URI"),
    // Recordings (R2).
    RecordingReasonRequired = ("BPS-REC-0001", 422, "State a reason to open a recording"),
    RecordingNoMedia = ("BPS-REC-0002", 404, "The recording has no media"),
    RangeNotSatisfiable = ("BPS-REC-0003", 416, "Requested range not satisfiable"),
    RecordingMediaExists = ("BPS-REC-0004", 409, "The recording already has media"),
    VaultUnavailable = ("BPS-REC-0005", 503, "Recording vault unavailable"),
    VaultIntegrity = ("BPS-REC-0006", 500, "A stored recording failed its integrity check"),
    RecordingDownloadDisabled = ("BPS-REC-0007", 403, "Downloads are disabled for this process"),
    // Endpoint fleet (R1, R4).
    FleetEnrollTokenInvalid = ("BPS-FLT-0001", 401, "Enrollment token unknown, expired, revoked or used up"),
    FleetHostCredentialInvalid = ("BPS-FLT-0002", 401, "Host credential unknown or retired"),
    FleetPolicyInvalid = ("BPS-FLT-0003", 400, "Policy text does not parse"),
    FleetSelfApproval = ("BPS-FLT-0004", 403, "An exception cannot be decided by its requester"),
    FleetExceptionDecided = ("BPS-FLT-0005", 409, "The exception was already decided"),
    FleetChallengeInvalid = ("BPS-FLT-0006", 422, "Offline challenge malformed or expired"),
    FleetChallengeAmbiguous = ("BPS-FLT-0007", 409, "The challenge matches several hosts; name the host"),
    FleetUnknownHost = ("BPS-FLT-0008", 404, "No such host"),
    // Last resort; every occurrence is a bug to fix.
    Internal = ("BPS-GEN-0001", 500, "Internal error"),
}

/// The JSON body of every API error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code, e.g. `BPS-ORG-0001`.
    pub code: String,
    /// Human-readable message; names the offending field where there is one.
    pub message: String,
    /// The field (JSON path or form field name) that caused the error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id, also shown in the server log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!(c.code().starts_with("BPS-") && c.code().len() >= 12, "{}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
            assert!((400..600).contains(&c.http_status()));
        }
    }
}
