//! C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, and C2SP
//! `tlog-checkpoint` bodies (https://c2sp.org/tlog-checkpoint).
//!
//! Key text formats are those of Go's `golang.org/x/mod/sumdb/note`, so keys move freely
//! between this crate and the Go tooling (witnesses, `note` verifiers).

use crate::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of Ed25519 in the signed-note registry.
const ALG_ED25519: u8 = 0x01;
/// Verifiers must accept 16 signatures; 100 is Go's limit and bounds the work per note.
const MAX_SIGNATURES: usize = 100;
/// Start of every signature line: EM DASH, space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Errors of keys, notes and checkpoints. Messages say what is wrong, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A signer or verifier key text that is not well formed.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// A note (text or signature lines) that is not well formed.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// A checkpoint body that is not well formed.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// No signature line by this key name and key id.
    #[error("the note carries no signature by {0}")]
    NoSignatureByKey(String),
    /// A signature line by this key whose signature does not verify (strict Ed25519).
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
}

/// Key id: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ALG_ED25519])
        .chain_update(public_key)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The spec's key name rule: non-empty, no Unicode space, no '+'. Control characters are
/// refused too, since no note may contain them.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::MalformedKey("key names must be non-empty, without spaces or '+'".into()))
    }
}

/// Parses exactly 8 lowercase hex digits (the form Go prints and this crate writes).
fn parse_key_id(text: &str) -> Option<[u8; 4]> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(id)
}

/// Decodes `base64(0x01 ‖ 32 bytes)`, the key material of both key texts.
fn decode_key_material(text: &str) -> Result<[u8; 32], NoteError> {
    let bytes = B64.decode(text).map_err(|_| NoteError::MalformedKey("key material is not standard base64".into()))?;
    match bytes.split_first() {
        Some((&ALG_ED25519, rest)) => {
            <[u8; 32]>::try_from(rest).map_err(|_| NoteError::MalformedKey("Ed25519 keys are 32 bytes".into()))
        }
        Some(_) => Err(NoteError::MalformedKey("unknown signature algorithm".into())),
        None => Err(NoteError::MalformedKey("empty key material".into())),
    }
}

fn encode_key_material(key: &[u8; 32]) -> String {
    let mut bytes = [0u8; 33];
    bytes[0] = ALG_ED25519;
    bytes[1..].copy_from_slice(key);
    B64.encode(bytes)
}

/// The private signing key of a log. Debug never prints key material.
pub struct SignerKey {
    name: String,
    id: [u8; 4],
    key: SigningKey,
}

impl SignerKey {
    /// A fresh random key named `name` (a key name: non-empty, no whitespace, no '+').
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        use rand::RngCore as _;
        check_name(name)?;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| NoteError::MalformedKey(format!("the system random source failed: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        Ok(Self::from_signing_key(name, key))
    }

    fn from_signing_key(name: &str, key: SigningKey) -> Self {
        let id = key_id(name, key.verifying_key().as_bytes());
        Self { name: name.to_owned(), id, key }
    }

    /// Parses the key file text written by [`SignerKey::to_file_text`]: Go's note signer
    /// format `PRIVATE+KEY+<name>+<keyid hex>+<base64(0x01 ‖ 32-byte seed)>` (trailing
    /// newline allowed); the key id must match.
    pub fn from_file_text(text: &str) -> Result<Self, NoteError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| NoteError::MalformedKey("a signer key starts with PRIVATE+KEY+".into()))?;
        // Base64 may contain '+', so only the first two '+' separate fields.
        let (name, rest) =
            rest.split_once('+').ok_or_else(|| NoteError::MalformedKey("missing key id in signer key".into()))?;
        let (id_text, material) =
            rest.split_once('+').ok_or_else(|| NoteError::MalformedKey("missing key material in signer key".into()))?;
        check_name(name)?;
        let id = parse_key_id(id_text).ok_or_else(|| NoteError::MalformedKey("key id is not 8 hex digits".into()))?;
        let seed = decode_key_material(material)?;
        let key = Self::from_signing_key(name, SigningKey::from_bytes(&seed));
        if key.id != id {
            return Err(NoteError::MalformedKey("key id does not match the key".into()));
        }
        Ok(key)
    }

    /// The key file text (with a trailing newline).
    pub fn to_file_text(&self) -> String {
        format!("PRIVATE+KEY+{}+{}+{}\n", self.name, hex::encode(self.id), encode_key_material(self.key.as_bytes()))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its public verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }

    /// Signs `text` (a note body: non-empty, ending in '\n', no control characters other
    /// than newline) and returns the whole signed note: text, a blank line, one signature
    /// line `— <name> <base64(keyid ‖ signature)>\n`.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut blob = [0u8; 4 + 64];
        blob[..4].copy_from_slice(&self.id);
        blob[4..].copy_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob)))
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

/// A public verifier key: `<name>+<keyid hex>+<base64(0x01 ‖ 32-byte key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parses the text form; rejects a key id that does not match, unknown algorithm
    /// bytes, wrong lengths.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, rest) =
            text.split_once('+').ok_or_else(|| NoteError::MalformedKey("missing key id in verifier key".into()))?;
        let (id_text, material) = rest
            .split_once('+')
            .ok_or_else(|| NoteError::MalformedKey("missing key material in verifier key".into()))?;
        check_name(name)?;
        let id = parse_key_id(id_text).ok_or_else(|| NoteError::MalformedKey("key id is not 8 hex digits".into()))?;
        let bytes = decode_key_material(material)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| NoteError::MalformedKey("not a valid Ed25519 public key".into()))?;
        // A small-order key would make `verify_strict` reject everything anyway; refusing
        // it here gives the operator the real reason.
        if key.is_weak() {
            return Err(NoteError::MalformedKey("weak (small-order) Ed25519 public key".into()));
        }
        if key_id(name, &bytes) != id {
            return Err(NoteError::MalformedKey("key id does not match the key".into()));
        }
        Ok(Self { name: name.to_owned(), id, key })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id (first 4 bytes of SHA-256(name ‖ '\n' ‖ 0x01 ‖ key)).
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    fn label(&self) -> String {
        format!("{}+{}", self.name, hex::encode(self.id))
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}+{}", self.name, hex::encode(self.id), encode_key_material(self.key.as_bytes()))
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The rules every note text obeys: non-empty, ends in a newline, no control characters
/// other than newline (UTF-8 validity is given by `&str`).
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::MalformedNote("the note text must end with a newline".into()));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::MalformedNote("control character in the note".into()));
    }
    Ok(())
}

/// One parsed signature line.
struct SignatureLine<'a> {
    name: &'a str,
    id: [u8; 4],
    signature: Vec<u8>,
}

/// Splits a note into its text and parsed signature lines, without verifying anything.
fn split(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let malformed = |why: &str| NoteError::MalformedNote(why.to_owned());
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("control character in the note"));
    }
    // The text ends at the last blank line; it may itself contain blank lines.
    let blank = note.rfind("\n\n").ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, block) = (&note[..blank + 1], &note[blank + 2..]);
    let block = block.strip_suffix('\n').ok_or_else(|| malformed("the signatures must end with a newline"))?;
    if block.is_empty() {
        return Err(malformed("no signature lines"));
    }
    let mut lines = Vec::new();
    for line in block.split('\n') {
        if lines.len() == MAX_SIGNATURES {
            return Err(malformed("too many signature lines"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| malformed("a signature line must start with '— '"))?;
        let (name, b64) =
            rest.split_once(' ').ok_or_else(|| malformed("a signature line needs a name and a signature"))?;
        if !is_valid_name(name) {
            return Err(malformed("invalid key name in a signature line"));
        }
        let bytes = B64.decode(b64).map_err(|_| malformed("the signature is not standard base64"))?;
        if bytes.len() < 5 {
            return Err(malformed("the signature is too short"));
        }
        let id = [bytes[0], bytes[1], bytes[2], bytes[3]];
        lines.push(SignatureLine { name, id, signature: bytes[4..].to_vec() });
    }
    Ok((text, lines))
}

/// The text of a signed note, checked for form but NOT for signatures: for naming and
/// sorting files, never for trusting their content.
pub(crate) fn unverified_text(note: &str) -> Result<&str, NoteError> {
    split(note).map(|(text, _)| text)
}

/// Splits a signed note and checks it carries a valid signature by `key` (matching name
/// and key id; `verify_strict`). Signatures by other keys are ignored, as the spec says.
/// Returns the note text (the signed part, ending in '\n').
pub fn open(note: &str, key: &VerifierKey) -> Result<String, NoteError> {
    let (text, lines) = split(note)?;
    let mut verified = false;
    for line in lines.iter().filter(|l| l.name == key.name && l.id == key.id) {
        let signature = Signature::from_slice(&line.signature).map_err(|_| NoteError::BadSignature(key.label()))?;
        key.key.verify_strict(text.as_bytes(), &signature).map_err(|_| NoteError::BadSignature(key.label()))?;
        verified = true;
    }
    if verified {
        Ok(text.to_owned())
    } else {
        Err(NoteError::NoSignatureByKey(key.label()))
    }
}

/// A checkpoint body: origin line, tree size, base64 root hash, optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; equal to its key name here.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash of the first `size` leaves.
    pub root: Hash,
    /// Opaque extra lines (non-empty each).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n` then each extension line + '\n'.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text (strict: decimal size without leading zeros or '+',
    /// standard base64 of exactly 32 bytes, non-empty origin, no empty extension lines).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let malformed = |why: &str| NoteError::MalformedCheckpoint(why.to_owned());
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed("control character in the checkpoint"));
        }
        let body = text.strip_suffix('\n').ok_or_else(|| malformed("the checkpoint must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size_text = lines.next().ok_or_else(|| malformed("missing tree size line"))?;
        let canonical_decimal = !size_text.is_empty()
            && size_text.bytes().all(|b| b.is_ascii_digit())
            && (size_text == "0" || !size_text.starts_with('0'));
        if !canonical_decimal {
            return Err(malformed("the tree size must be a decimal number without leading zeros"));
        }
        let size = size_text.parse::<u64>().map_err(|_| malformed("the tree size is too large"))?;
        let root_text = lines.next().ok_or_else(|| malformed("missing root hash line"))?;
        let root = B64
            .decode(root_text)
            .ok()
            .and_then(|b| Hash::try_from(b.as_slice()).ok())
            .ok_or_else(|| malformed("the root hash must be standard base64 of 32 bytes"))?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(malformed("empty extension line"));
            }
            extensions.push(line.to_owned());
        }
        Ok(Self { origin: origin.to_owned(), size, root, extensions })
    }
}

/// Signs a checkpoint with `key`; the checkpoint's origin must equal the key name.
pub fn sign_checkpoint(key: &SignerKey, cp: &Checkpoint) -> Result<String, NoteError> {
    if cp.origin != key.name {
        return Err(NoteError::MalformedCheckpoint("the origin must equal the key name".into()));
    }
    let text = cp.to_text();
    // Refuses anything the verifier would read back differently (newlines inside lines,
    // empty extensions, …).
    if Checkpoint::parse(&text).as_ref() != Ok(cp) {
        return Err(NoteError::MalformedCheckpoint("the checkpoint does not round-trip through its text".into()));
    }
    key.sign(&text)
}

/// Verifies a signed checkpoint note with `key` and parses it; the origin must equal the
/// key name.
pub fn open_checkpoint(note: &str, key: &VerifierKey) -> Result<Checkpoint, NoteError> {
    let text = open(note, key)?;
    let cp = Checkpoint::parse(&text)?;
    if cp.origin != key.name {
        return Err(NoteError::MalformedCheckpoint("the origin does not equal the key name".into()));
    }
    Ok(cp)
}
