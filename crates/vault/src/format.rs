//! The vault's format, version 1: a **body** of AES-256-GCM segments and a
//! detached **header** that holds the wrapped data key. `docs/vault.md` is the
//! specification; this module is its only implementation and does no I/O.
//!
//! Body: a 40-byte preamble, then segments. Segment `i` is the plaintext
//! bytes `i*S .. (i+1)*S` (the last one may be shorter, and is empty only for
//! an empty object) sealed with the object's data key, nonce
//! `prefix(7) ‖ i (u32 BE) ‖ last (1 byte: 1 for the final segment, else 0)`
//! and the preamble as associated data, followed by its 16-byte tag. So a
//! segment moved to another position, another object's segment, a body cut
//! at a segment boundary, or a flipped bit all fail authentication.
//!
//! Header: the same 40 bytes under another magic, the plaintext length, the
//! body digest, the id of the key-encryption key (KEK), and the data key
//! wrapped by that KEK with everything before it as associated data. The
//! header lives apart from the body so that destroying it (purge) makes every
//! copy of the body unreadable, and so that KEK rotation rewrites a
//! 160-byte header instead of the media.

use crate::error::VaultError;
use crate::keys::DataKey;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
use sha2::{Digest, Sha256};

/// Format version written and read by this build.
pub const VERSION: u8 = 1;
/// First bytes of every body.
pub const BODY_MAGIC: [u8; 8] = *b"BPSVBODY";
/// First bytes of every header.
pub const HEADER_MAGIC: [u8; 8] = *b"BPSVHEAD";
/// Length of the body preamble (and of the header's first part).
pub const PREAMBLE_LEN: usize = 40;
/// GCM tag length, appended to every segment.
pub const TAG_LEN: usize = 16;
/// Smallest and largest plaintext segment sizes.
pub const MIN_SEGMENT: u32 = 64 * 1024;
/// See [`MIN_SEGMENT`].
pub const MAX_SEGMENT: u32 = 1024 * 1024;
/// Segment size used unless configured: one segment is what a seek decrypts
/// before its first byte, and 256 KiB takes well under a millisecond.
pub const DEFAULT_SEGMENT: u32 = 256 * 1024;
/// Length of a wrapped data key: 32 key bytes and a 16-byte tag.
pub const WRAPPED_LEN: usize = 48;
/// Longest KEK id.
pub const MAX_KEK_ID: usize = 64;

/// An object's identifier: 16 random bytes, written as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 16]);

impl ObjectId {
    /// A fresh random id.
    ///
    /// # Errors
    /// When the system random generator fails.
    pub fn random() -> Result<Self, VaultError> {
        let mut b = [0u8; 16];
        crate::keys::fill_random(&mut b)?;
        Ok(Self(b))
    }

    /// Parses 32 hex digits.
    ///
    /// # Errors
    /// [`VaultError::BadId`] for anything else.
    pub fn parse(s: &str) -> Result<Self, VaultError> {
        let mut b = [0u8; 16];
        if s.len() != 32 || hex::decode_to_slice(s, &mut b).is_err() {
            return Err(VaultError::BadId(s.chars().take(40).collect()));
        }
        Ok(Self(b))
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The fixed parameters of one object, shared by its body and header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Plaintext bytes per segment.
    pub segment: u32,
    /// The object's id.
    pub id: ObjectId,
    /// Random per-object nonce prefix.
    pub nonce_prefix: [u8; 7],
}

impl Params {
    /// Fresh parameters (random id and nonce prefix) for a new object.
    ///
    /// # Errors
    /// A segment size outside [`MIN_SEGMENT`]..=[`MAX_SEGMENT`], or a
    /// random generator failure.
    pub fn new(segment: u32) -> Result<Self, VaultError> {
        check_segment(segment)?;
        let mut nonce_prefix = [0u8; 7];
        crate::keys::fill_random(&mut nonce_prefix)?;
        Ok(Self { segment, id: ObjectId::random()?, nonce_prefix })
    }

    fn encode(&self, magic: [u8; 8]) -> [u8; PREAMBLE_LEN] {
        let mut p = [0u8; PREAMBLE_LEN];
        p[..8].copy_from_slice(&magic);
        p[8] = VERSION;
        p[12..16].copy_from_slice(&self.segment.to_be_bytes());
        p[16..32].copy_from_slice(&self.id.0);
        p[32..39].copy_from_slice(&self.nonce_prefix);
        p
    }

    fn decode(p: &[u8], magic: [u8; 8], what: &'static str) -> Result<Self, VaultError> {
        if p.len() < PREAMBLE_LEN || p[..8] != magic {
            return Err(VaultError::Format(format!("not a bposhield vault {what}")));
        }
        if p[8] != VERSION {
            return Err(VaultError::Format(format!(
                "{what} format version {} is not supported (this build reads {VERSION})",
                p[8]
            )));
        }
        if p[9..12] != [0, 0, 0] || p[39] != 0 {
            return Err(VaultError::Format(format!("{what} has non-zero reserved bytes")));
        }
        let segment = u32::from_be_bytes([p[12], p[13], p[14], p[15]]);
        check_segment(segment)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&p[16..32]);
        let mut nonce_prefix = [0u8; 7];
        nonce_prefix.copy_from_slice(&p[32..39]);
        Ok(Self { segment, id: ObjectId(id), nonce_prefix })
    }

    /// The body preamble: also the associated data of every segment.
    #[must_use]
    pub fn preamble(&self) -> [u8; PREAMBLE_LEN] {
        self.encode(BODY_MAGIC)
    }

    /// Reads a body preamble.
    ///
    /// # Errors
    /// [`VaultError::Format`] when it is not one.
    pub fn from_preamble(p: &[u8]) -> Result<Self, VaultError> {
        Self::decode(p, BODY_MAGIC, "body")
    }

    /// Number of segments of an object of `len` plaintext bytes (at least one).
    #[must_use]
    pub fn segments(&self, len: u64) -> u64 {
        len.div_ceil(u64::from(self.segment)).max(1)
    }

    /// Body length for `len` plaintext bytes.
    #[must_use]
    pub fn body_len(&self, len: u64) -> u64 {
        PREAMBLE_LEN as u64 + len + TAG_LEN as u64 * self.segments(len)
    }

    /// Byte range of segment `i` (ciphertext and tag) in the body, for an
    /// object of `len` plaintext bytes.
    #[must_use]
    pub fn segment_range(&self, i: u64, len: u64) -> std::ops::Range<u64> {
        let seg = u64::from(self.segment);
        let start = PREAMBLE_LEN as u64 + i * (seg + TAG_LEN as u64);
        let plain = len.saturating_sub(i * seg).min(seg);
        start..start + plain + TAG_LEN as u64
    }

    fn nonce(&self, i: u64, last: bool) -> Result<Nonce, VaultError> {
        let counter = u32::try_from(i).map_err(|_| VaultError::TooLarge)?;
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.nonce_prefix);
        n[7..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        Ok(Nonce::assume_unique_for_key(n))
    }
}

fn check_segment(segment: u32) -> Result<(), VaultError> {
    if (MIN_SEGMENT..=MAX_SEGMENT).contains(&segment) {
        Ok(())
    } else {
        Err(VaultError::Format(format!("segment size {segment} outside {MIN_SEGMENT}..={MAX_SEGMENT}")))
    }
}

fn aead_key(dek: &DataKey) -> LessSafeKey {
    // A 32-byte key is always valid for AES-256-GCM; `DataKey` holds exactly that.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, dek.bytes()).unwrap_or_else(|_| unreachable!()))
}

/// Streaming encryption of one object: feed plaintext with [`Sealer::update`],
/// end with [`Sealer::finish`]; each sealed segment (ciphertext and tag) is
/// handed to the caller's sink as soon as it is complete, so memory is one
/// segment whatever the object's size.
pub struct Sealer {
    key: LessSafeKey,
    params: Params,
    preamble: [u8; PREAMBLE_LEN],
    index: u64,
    buf: Vec<u8>,
    len: u64,
    digest: Sha256,
}

/// What [`Sealer::finish`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Plaintext length.
    pub len: u64,
    /// Body digest: SHA-256 of the preamble and every segment's tag, in
    /// order. The tags authenticate their segments under the object's key,
    /// so this names the exact ciphertext without hashing the media twice.
    pub digest: [u8; 32],
}

impl Sealer {
    /// Starts an object with data key `dek`.
    #[must_use]
    pub fn new(dek: &DataKey, params: Params) -> Self {
        let preamble = params.preamble();
        let mut digest = Sha256::new();
        digest.update(preamble);
        Self {
            key: aead_key(dek),
            params,
            preamble,
            index: 0,
            buf: Vec::with_capacity(params.segment as usize + TAG_LEN),
            len: 0,
            digest,
        }
    }

    /// The body preamble, to be written before the first segment.
    #[must_use]
    pub fn preamble(&self) -> [u8; PREAMBLE_LEN] {
        self.preamble
    }

    /// Adds plaintext. A full segment is sealed (as not the last) only when
    /// more plaintext follows it, so the last segment is always marked.
    ///
    /// # Errors
    /// The sink's error, or [`VaultError::TooLarge`] past 2³² segments.
    pub fn update<E>(&mut self, mut data: &[u8], sink: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E>
    where
        E: From<VaultError>,
    {
        let seg = self.params.segment as usize;
        while !data.is_empty() {
            if self.buf.len() == seg {
                let mut buf = std::mem::take(&mut self.buf);
                self.seal_segment(&mut buf, false)?;
                sink(&buf)?;
                buf.clear();
                self.buf = buf;
            }
            let take = (seg - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals the last segment and returns the object's length and digest.
    ///
    /// # Errors
    /// As [`Sealer::update`].
    pub fn finish<E>(mut self, sink: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<Sealed, E>
    where
        E: From<VaultError>,
    {
        let mut buf = std::mem::take(&mut self.buf);
        self.seal_segment(&mut buf, true)?;
        sink(&buf)?;
        Ok(self.finish_sealed())
    }

    /// Seals the next segment in place: `seg` holds its plaintext (exactly
    /// one segment's worth unless `last`) and gets its tag appended. For
    /// callers that read plaintext straight into segment buffers; they must
    /// only pass `last = false` once they know more plaintext follows, and
    /// end with one `last = true` segment and [`Sealer::finish_sealed`].
    ///
    /// # Errors
    /// [`VaultError::Format`] for a short segment not marked last,
    /// [`VaultError::TooLarge`] past 2³² segments.
    pub fn seal_segment(&mut self, seg: &mut Vec<u8>, last: bool) -> Result<(), VaultError> {
        let full = self.params.segment as usize;
        if seg.len() > full || (!last && seg.len() != full) {
            return Err(VaultError::Format(format!("segment of {} bytes where {full} are due", seg.len())));
        }
        let nonce = self.params.nonce(self.index, last)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&self.preamble), seg)
            .map_err(|_| VaultError::TooLarge)?;
        self.len += seg.len() as u64;
        seg.extend_from_slice(tag.as_ref());
        self.digest.update(tag.as_ref());
        self.index += 1;
        Ok(())
    }

    /// Length and digest once the last segment is sealed.
    #[must_use]
    pub fn finish_sealed(self) -> Sealed {
        Sealed { len: self.len, digest: self.digest.finalize().into() }
    }
}

/// Decrypts segments of one object, in any order.
pub struct Opener {
    key: LessSafeKey,
    params: Params,
    preamble: [u8; PREAMBLE_LEN],
    len: u64,
}

impl Opener {
    /// An opener for an object of `len` plaintext bytes.
    #[must_use]
    pub fn new(dek: &DataKey, params: Params, len: u64) -> Self {
        Self { key: aead_key(dek), params, preamble: params.preamble(), len }
    }

    /// The object's parameters.
    #[must_use]
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Plaintext length.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decrypts segment `i` in place (`sealed` is its ciphertext and tag, as
    /// at [`Params::segment_range`]) and returns the plaintext part.
    ///
    /// # Errors
    /// [`VaultError::Tampered`] when it does not authenticate as segment `i`
    /// of this object (modified, moved, from another object, or a body cut
    /// short so that a middle segment stands last).
    pub fn open<'b>(&self, i: u64, sealed: &'b mut [u8]) -> Result<&'b [u8], VaultError> {
        let n = self.params.segments(self.len);
        let expect = self.params.segment_range(i, self.len);
        if i >= n || sealed.len() as u64 != expect.end - expect.start {
            return Err(VaultError::Truncated { segment: i });
        }
        let nonce = self.params.nonce(i, i + 1 == n)?;
        let (data, tag) = sealed.split_at_mut(sealed.len() - TAG_LEN);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(&self.preamble), Tag::from(t), data, 0..)
            .map(|p| &*p)
            .map_err(|_| VaultError::Tampered { segment: i })
    }
}

/// A parsed header. The data key inside stays wrapped until a keyring
/// unwraps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The object's parameters (same as its body's preamble).
    pub params: Params,
    /// Plaintext length.
    pub len: u64,
    /// Body digest ([`Sealed::digest`]).
    pub digest: [u8; 32],
    /// Id of the KEK that wrapped the data key.
    pub kek_id: String,
    /// Wrap nonce.
    pub wrap_nonce: [u8; 12],
    /// The wrapped data key.
    pub wrapped: [u8; WRAPPED_LEN],
}

impl Header {
    /// The bytes the wrapped key is bound to: everything before the wrap
    /// nonce. Changing any field of the header makes the key fail to unwrap.
    #[must_use]
    pub fn bound(params: &Params, len: u64, digest: &[u8; 32], kek_id: &str) -> Vec<u8> {
        let mut b = Vec::with_capacity(PREAMBLE_LEN + 8 + 32 + 1 + kek_id.len());
        b.extend_from_slice(&params.encode(HEADER_MAGIC));
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(digest);
        // Ids are checked to be 1..=MAX_KEK_ID bytes where keys are made.
        b.push(u8::try_from(kek_id.len()).unwrap_or(u8::MAX));
        b.extend_from_slice(kek_id.as_bytes());
        b
    }

    /// Serialises the header.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Self::bound(&self.params, self.len, &self.digest, &self.kek_id);
        b.extend_from_slice(&self.wrap_nonce);
        b.extend_from_slice(&self.wrapped);
        b
    }

    /// Parses a header.
    ///
    /// # Errors
    /// [`VaultError::Format`] for anything malformed.
    pub fn decode(b: &[u8]) -> Result<Self, VaultError> {
        let params = Params::decode(b, HEADER_MAGIC, "header")?;
        let short = || VaultError::Format("header is cut short".into());
        let rest = &b[PREAMBLE_LEN..];
        if rest.len() < 8 + 32 + 1 {
            return Err(short());
        }
        let len = u64::from_be_bytes(rest[..8].try_into().map_err(|_| short())?);
        let digest: [u8; 32] = rest[8..40].try_into().map_err(|_| short())?;
        let id_len = rest[40] as usize;
        let rest = &rest[41..];
        if id_len == 0 || id_len > MAX_KEK_ID || rest.len() != id_len + 12 + WRAPPED_LEN {
            return Err(VaultError::Format("header has a bad key id or length".into()));
        }
        let kek_id = std::str::from_utf8(&rest[..id_len])
            .map_err(|_| VaultError::Format("header key id is not UTF-8".into()))?
            .to_owned();
        let wrap_nonce: [u8; 12] = rest[id_len..id_len + 12].try_into().map_err(|_| short())?;
        let wrapped: [u8; WRAPPED_LEN] = rest[id_len + 12..].try_into().map_err(|_| short())?;
        if len.checked_add(TAG_LEN as u64 * params.segments(len)).is_none() {
            return Err(VaultError::Format("header length out of range".into()));
        }
        Ok(Self { params, len, digest, kek_id, wrap_nonce, wrapped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(dek: &DataKey, params: Params, data: &[u8], step: usize) -> (Vec<u8>, Sealed) {
        let mut s = Sealer::new(dek, params);
        let mut body = s.preamble().to_vec();
        let mut sink = |b: &[u8]| -> Result<(), VaultError> {
            body.extend_from_slice(b);
            Ok(())
        };
        for part in data.chunks(step.max(1)) {
            s.update(part, &mut sink).unwrap_or_else(|e| panic!("{e}"));
        }
        let sealed = s.finish(&mut sink).unwrap_or_else(|e| panic!("{e}"));
        (body, sealed)
    }

    fn open_all(dek: &DataKey, body: &mut [u8], len: u64) -> Result<Vec<u8>, VaultError> {
        let params = Params::from_preamble(body)?;
        let o = Opener::new(dek, params, len);
        if body.len() as u64 != params.body_len(len) {
            return Err(VaultError::Truncated { segment: params.segments(len) - 1 });
        }
        let mut out = Vec::new();
        for i in 0..params.segments(len) {
            let r = params.segment_range(i, len);
            out.extend_from_slice(o.open(i, &mut body[r.start as usize..r.end as usize])?);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_boundary() {
        let dek = DataKey::random().unwrap_or_else(|e| panic!("{e}"));
        let seg = MIN_SEGMENT as usize;
        for len in [0, 1, seg - 1, seg, seg + 1, 2 * seg, 3 * seg + 17] {
            let params = Params::new(MIN_SEGMENT).unwrap_or_else(|e| panic!("{e}"));
            let data: Vec<u8> = (0..len).map(|k| (k * 7 % 251) as u8).collect();
            for step in [1000, seg, len.max(1)] {
                let (mut body, sealed) = seal_all(&dek, params, &data, step);
                assert_eq!(sealed.len, len as u64);
                assert_eq!(body.len() as u64, params.body_len(len as u64), "len {len}");
                assert_eq!(open_all(&dek, &mut body, len as u64).unwrap_or_else(|e| panic!("{e}")), data);
            }
        }
    }

    #[test]
    fn a_middle_segment_never_passes_for_the_last() {
        // Even with a length that agrees (say a forged header), a body cut at
        // a segment boundary fails: its new last segment was sealed as not last.
        let dek = DataKey::random().unwrap_or_else(|e| panic!("{e}"));
        let params = Params::new(MIN_SEGMENT).unwrap_or_else(|e| panic!("{e}"));
        let seg = MIN_SEGMENT as usize;
        let (body, _) = seal_all(&dek, params, &vec![7u8; 3 * seg], seg);
        let short = 2 * seg as u64;
        let mut cut = body[..params.body_len(short) as usize].to_vec();
        assert!(matches!(open_all(&dek, &mut cut, short), Err(VaultError::Tampered { segment: 1 })));
        // And the wrong key fails at once.
        let other = DataKey::random().unwrap_or_else(|e| panic!("{e}"));
        let mut whole = body.clone();
        assert!(matches!(open_all(&other, &mut whole, 3 * seg as u64), Err(VaultError::Tampered { segment: 0 })));
    }

    #[test]
    fn header_round_trips_and_rejects_junk() {
        let params = Params::new(DEFAULT_SEGMENT).unwrap_or_else(|e| panic!("{e}"));
        let h = Header {
            params,
            len: 12345,
            digest: [7; 32],
            kek_id: "kek-1".into(),
            wrap_nonce: [1; 12],
            wrapped: [2; WRAPPED_LEN],
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b).unwrap_or_else(|e| panic!("{e}")), h);
        for cut in 0..b.len() {
            assert!(Header::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut v = b.clone();
        v[8] = 2;
        assert!(matches!(Header::decode(&v), Err(VaultError::Format(m)) if m.contains("version 2")));
        assert!(Header::decode(&params.preamble()).is_err(), "a body preamble is not a header");
    }
}
