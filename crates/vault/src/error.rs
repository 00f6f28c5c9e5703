//! Vault errors, each with a stable code (`BPS-VLT-NNNN`) that operators can
//! grep for and runbooks can cite. Messages never contain key material or
//! plaintext.

/// Everything the vault can report.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Input that is not a vault object of a version this build reads.
    #[error("{0}")]
    Format(String),
    /// Header and body name different objects (a header from another object).
    #[error("header belongs to object {header}, body to object {body}")]
    WrongObject {
        /// Id in the header.
        header: String,
        /// Id in the body.
        body: String,
    },
    /// A segment failed authentication.
    #[error(
        "segment {segment} fails authentication: the ciphertext was modified, reordered or spliced from another object"
    )]
    Tampered {
        /// The segment's index.
        segment: u64,
    },
    /// The body is shorter or longer than its header says.
    #[error("body is truncated or extended at segment {segment}")]
    Truncated {
        /// First segment that is not where it should be.
        segment: u64,
    },
    /// The header names a KEK that is not in the keyring.
    #[error("key-encryption key `{0}` is not in the keyring")]
    KeyUnavailable(String),
    /// The data key does not unwrap: the header was modified or the KEK is wrong.
    #[error(
        "the data key does not unwrap under key-encryption key `{0}`: the header was modified or the key is wrong"
    )]
    KeyUnwrap(String),
    /// No such object (never stored, or purged).
    #[error("no object {0} in the vault (never stored, or purged)")]
    NotFound(String),
    /// A read outside the object.
    #[error("range {start}..{end} is outside the object's {len} bytes")]
    Range {
        /// Requested start.
        start: u64,
        /// Requested end.
        end: u64,
        /// Object length.
        len: u64,
    },
    /// The blob backend failed.
    #[error("blob store: {0}")]
    Storage(String),
    /// The keyring file is missing, malformed or too open.
    #[error("keyring: {0}")]
    Keyring(String),
    /// Reading the plaintext source or a local file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// More than 2³² segments in one object.
    #[error("object too large for one vault object")]
    TooLarge,
    /// A malformed object id.
    #[error("`{0}` is not an object id (32 hex digits)")]
    BadId(String),
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// A blob URL the vault cannot use.
    #[error("blob url: {0}")]
    Url(String),
}

impl VaultError {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Format(_) => "BPS-VLT-0001",
            Self::WrongObject { .. } => "BPS-VLT-0002",
            Self::Tampered { .. } => "BPS-VLT-0003",
            Self::Truncated { .. } => "BPS-VLT-0004",
            Self::KeyUnavailable(_) => "BPS-VLT-0005",
            Self::KeyUnwrap(_) => "BPS-VLT-0006",
            Self::NotFound(_) => "BPS-VLT-0007",
            Self::Range { .. } => "BPS-VLT-0008",
            Self::Storage(_) => "BPS-VLT-0009",
            Self::Keyring(_) => "BPS-VLT-0010",
            Self::Io(_) => "BPS-VLT-0011",
            Self::TooLarge => "BPS-VLT-0012",
            Self::BadId(_) => "BPS-VLT-0013",
            Self::Random => "BPS-VLT-0014",
            Self::Url(_) => "BPS-VLT-0015",
        }
    }
}

impl From<object_store::Error> for VaultError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Self::NotFound(path),
            e => Self::Storage(e.to_string()),
        }
    }
}
