//! The vault over a blob backend (`object_store`): local disk under the data
//! directory by default, or S3-compatible storage (`s3://bucket/prefix`).
//!
//! Layout under the prefix: `b/<id>` is an object's body, `h/<id>` its
//! header. **An object exists when its header does.** `put` uploads the body
//! as a multipart upload (made visible only by its completion: a temporary
//! file renamed on local disk, `CompleteMultipartUpload` on S3), then writes
//! the header with one atomic put. A crash before the header leaves at most
//! an unreadable orphan body, which [`Vault::check`] reports and
//! [`Vault::purge`] removes; nothing partial is ever readable.

use crate::error::VaultError;
use crate::format::{Header, ObjectId, Opener, Params, Sealer, DEFAULT_SEGMENT, PREAMBLE_LEN, TAG_LEN};
use crate::keys::{DataKey, Keyring};
use bytes::BufMut;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{MultipartUpload, ObjectStore, PutPayload};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of the parts of a multipart upload (S3 needs at least 5 MiB; some
/// stores want all but the last equal, which `Parts` keeps).
const PART: usize = 6 * 1024 * 1024;
/// Parts uploading at once. Memory is about `PART * (INFLIGHT + 2)` (the part
/// being filled and one returning to the pool) whatever the object's size.
const INFLIGHT: usize = 2;
/// Plaintext read per step when streaming a whole object out.
const READ_WINDOW: u64 = 4 * 1024 * 1024;

/// A vault: where blobs go and the keys that guard them.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    keys: Keyring,
    segment: u32,
    location: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("location", &self.location).field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// What [`Vault::put`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The new object's id.
    pub id: ObjectId,
    /// Plaintext length.
    pub len: u64,
    /// Body digest (see [`crate::format::Sealed::digest`]).
    pub digest: [u8; 32],
}

/// What [`Vault::purge`] destroyed, for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// The object's id.
    pub id: ObjectId,
    /// Plaintext length and body digest from its header (`None` when only an
    /// orphan body was left).
    pub len: Option<u64>,
    /// See `len`.
    pub digest: Option<[u8; 32]>,
}

/// Result of [`Vault::rewrap`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Headers re-wrapped under the current KEK.
    pub rewrapped: usize,
    /// Headers already under it.
    pub current: usize,
    /// Headers that could not be re-wrapped, with the reason.
    pub failed: Vec<(String, String)>,
}

/// Result of [`Vault::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Complete objects (header and body).
    pub objects: usize,
    /// Bodies without a header: an upload cut short before its header, or a
    /// purge cut short after it. Unreadable; `purge` removes them.
    pub orphan_bodies: Vec<String>,
    /// Headers without a body (a purge cut short between its two deletes).
    pub headers_without_body: Vec<String>,
    /// Names under the prefix that are not vault objects.
    pub strangers: Vec<String>,
}

impl CheckReport {
    /// Whether every object is whole.
    #[must_use]
    pub fn consistent(&self) -> bool {
        self.orphan_bodies.is_empty() && self.headers_without_body.is_empty()
    }
}

impl Vault {
    /// A vault over `store` under `prefix`, wrapping data keys with `keys`.
    #[must_use]
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, keys: Keyring, location: &str) -> Self {
        Self { store, prefix: StorePath::from(prefix), keys, segment: DEFAULT_SEGMENT, location: location.to_owned() }
    }

    /// Opens the backend a blob URL names: empty or `file:` for
    /// `<data_dir>/blobs`, `file:///abs/dir`, or `s3://bucket[/prefix]`
    /// (credentials, region and endpoint from the usual `AWS_*` environment:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
    ///
    /// # Errors
    /// [`VaultError::Url`] for an unknown scheme, or the backend's error.
    pub fn open_url(url: &str, data_dir: &std::path::Path, keys: Keyring) -> Result<Self, VaultError> {
        let local = |dir: std::path::PathBuf| -> Result<Self, VaultError> {
            if !dir.exists() {
                std::fs::create_dir_all(&dir)?;
                // Ciphertext only, but still nobody else's business: owner-only.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                }
            }
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
            Ok(Self::new(Arc::new(fs), "", keys.clone(), &format!("file://{}", dir.display())))
        };
        if url.is_empty() || url == "file:" {
            return local(data_dir.join("blobs"));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(VaultError::Url(format!("`{url}`: a file URL needs an absolute path (file:///dir)")));
            }
            return local(path.into());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(VaultError::Url(format!("`{url}` names no bucket (s3://bucket/prefix)")));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
            return Ok(Self::new(Arc::new(s3), prefix.trim_matches('/'), keys, url));
        }
        Err(VaultError::Url(format!("`{url}`: expected file:///dir or s3://bucket/prefix")))
    }

    /// Uses `segment` plaintext bytes per segment for new objects.
    ///
    /// # Errors
    /// [`VaultError::Format`] outside 64 KiB..=1 MiB.
    pub fn with_segment(mut self, segment: u32) -> Result<Self, VaultError> {
        Params::new(segment)?;
        self.segment = segment;
        Ok(self)
    }

    /// Where the blobs are (a URL, for messages; no credentials).
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The keyring.
    #[must_use]
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    fn header_path(&self, id: &ObjectId) -> StorePath {
        self.prefix.child("h").child(id.to_string())
    }

    fn body_path(&self, id: &ObjectId) -> StorePath {
        self.prefix.child("b").child(id.to_string())
    }

    /// Encrypts everything `src` yields into a new object. Memory stays at a
    /// few parts whatever the size; the object becomes readable only once
    /// complete.
    ///
    /// # Errors
    /// Reading `src` or the backend; the partial upload is aborted.
    pub async fn put<R: AsyncRead + Unpin>(&self, mut src: R) -> Result<Stored, VaultError> {
        let params = Params::new(self.segment)?;
        let dek = DataKey::random()?;
        let body = self.body_path(&params.id);
        let mut parts = Parts::new(self.store.put_multipart(&body).await?);
        let mut sealer = Sealer::new(&dek, params);
        let seg = self.segment as usize;
        // Plaintext is read straight into one of two segment buffers and sealed
        // in place. A full segment waits until the other buffer receives at
        // least one byte: only then is it known not to be the last.
        let sealed = async {
            parts.write(&sealer.preamble()).await?;
            let mut cur = Vec::with_capacity(seg + TAG_LEN);
            let mut next = Vec::with_capacity(seg + TAG_LEN);
            fill(&mut src, &mut cur, seg).await?;
            loop {
                if cur.len() == seg {
                    fill(&mut src, &mut next, seg).await?;
                }
                let last = next.is_empty();
                sealer.seal_segment(&mut cur, last)?;
                parts.write(&cur).await?;
                if last {
                    break;
                }
                cur.clear();
                std::mem::swap(&mut cur, &mut next);
            }
            parts.finish().await?;
            Ok::<_, VaultError>(sealer.finish_sealed())
        }
        .await;
        let sealed = match sealed {
            Ok(s) => s,
            Err(e) => {
                parts.abort().await;
                return Err(e);
            }
        };
        let kek = self.keys.current();
        let bound = Header::bound(&params, sealed.len, &sealed.digest, kek.id());
        let (wrap_nonce, wrapped) = kek.wrap(&dek, &bound)?;
        let header =
            Header { params, len: sealed.len, digest: sealed.digest, kek_id: kek.id().to_owned(), wrap_nonce, wrapped };
        if let Err(e) = self.store.put(&self.header_path(&params.id), PutPayload::from(header.encode())).await {
            let _ = self.store.delete(&body).await;
            return Err(e.into());
        }
        Ok(Stored { id: params.id, len: sealed.len, digest: sealed.digest })
    }

    /// [`Vault::put`] of bytes in memory.
    ///
    /// # Errors
    /// As [`Vault::put`].
    pub async fn put_bytes(&self, data: &[u8]) -> Result<Stored, VaultError> {
        self.put(data).await
    }

    /// The header of object `id`.
    ///
    /// # Errors
    /// [`VaultError::NotFound`], [`VaultError::Format`], the backend.
    pub async fn header(&self, id: &ObjectId) -> Result<Header, VaultError> {
        let bytes = match self.store.get(&self.header_path(id)).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(VaultError::NotFound(id.to_string())),
            Err(e) => return Err(e.into()),
        };
        let h = Header::decode(&bytes)?;
        if h.params.id != *id {
            return Err(VaultError::WrongObject { header: h.params.id.to_string(), body: id.to_string() });
        }
        Ok(h)
    }

    /// Opens object `id` for reading: unwraps its key and checks that the
    /// body is this header's and has the length it says.
    ///
    /// # Errors
    /// [`VaultError::NotFound`], [`VaultError::KeyUnavailable`],
    /// [`VaultError::KeyUnwrap`], [`VaultError::WrongObject`],
    /// [`VaultError::Truncated`], the backend.
    pub async fn open(&self, id: &ObjectId) -> Result<Reader, VaultError> {
        let h = self.header(id).await?;
        let kek = self.keys.get(&h.kek_id)?;
        let dek = kek.unwrap(&h.wrap_nonce, &h.wrapped, &Header::bound(&h.params, h.len, &h.digest, &h.kek_id))?;
        let path = self.body_path(id);
        let meta = match self.store.head(&path).await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => return Err(VaultError::NotFound(id.to_string())),
            Err(e) => return Err(e.into()),
        };
        let pre = self.store.get_range(&path, 0..PREAMBLE_LEN as u64).await?;
        let body = Params::from_preamble(&pre)?;
        if body != h.params {
            return Err(VaultError::WrongObject { header: h.params.id.to_string(), body: body.id.to_string() });
        }
        let want = h.params.body_len(h.len);
        if meta.size != want {
            // The first segment that is not whole.
            let seg = u64::from(h.params.segment) + crate::format::TAG_LEN as u64;
            let whole = meta.size.saturating_sub(PREAMBLE_LEN as u64) / seg;
            return Err(VaultError::Truncated { segment: whole.min(h.params.segments(h.len) - 1) });
        }
        Ok(Reader {
            store: Arc::clone(&self.store),
            path,
            opener: Opener::new(&dek, h.params, h.len),
            digest: h.digest,
        })
    }

    /// Plaintext bytes `range` of object `id`, decrypting only the segments
    /// that hold them.
    ///
    /// # Errors
    /// As [`Vault::open`] and [`Reader::read_range`].
    pub async fn read_range(&self, id: &ObjectId, range: Range<u64>) -> Result<Vec<u8>, VaultError> {
        self.open(id).await?.read_range(range).await
    }

    /// Crypto-shreds object `id`: deletes its header (the only copy of its
    /// wrapped data key, so every copy of the body becomes unreadable), then
    /// its body. Returns what the ledger records.
    ///
    /// # Errors
    /// [`VaultError::NotFound`] when neither exists, the backend.
    pub async fn purge(&self, id: &ObjectId) -> Result<Purged, VaultError> {
        let header = match self.header(id).await {
            Ok(h) => Some(h),
            Err(VaultError::NotFound(_)) => None,
            // A corrupt header is still destroyed.
            Err(VaultError::Format(_) | VaultError::WrongObject { .. }) => None,
            Err(e) => return Err(e),
        };
        let hpath = self.header_path(id);
        let bpath = self.body_path(id);
        let had_body = match self.store.head(&bpath).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        let had_header = match self.store.head(&hpath).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if !had_header && !had_body {
            return Err(VaultError::NotFound(id.to_string()));
        }
        if had_header {
            self.store.delete(&hpath).await?;
        }
        if had_body {
            self.store.delete(&bpath).await?;
        }
        Ok(Purged { id: *id, len: header.as_ref().map(|h| h.len), digest: header.map(|h| h.digest) })
    }

    async fn ids_under(&self, dir: &str) -> Result<(Vec<ObjectId>, Vec<String>), VaultError> {
        let base = self.prefix.child(dir);
        let mut ids = Vec::new();
        let mut strangers = Vec::new();
        let mut list = self.store.list(Some(&base));
        while let Some(meta) = list.try_next().await? {
            let name = meta.location.filename().unwrap_or_default().to_owned();
            match ObjectId::parse(&name) {
                Ok(id) if meta.location == base.child(name.as_str()) => ids.push(id),
                _ => strangers.push(meta.location.to_string()),
            }
        }
        ids.sort();
        Ok((ids, strangers))
    }

    /// Ids of every complete-looking object (those with a header).
    ///
    /// # Errors
    /// The backend.
    pub async fn list(&self) -> Result<Vec<ObjectId>, VaultError> {
        Ok(self.ids_under("h").await?.0)
    }

    /// Rotation, step two: re-wraps every header not under the current KEK.
    /// Headers are small; the media are not touched. Safe to run again after
    /// an interruption.
    ///
    /// # Errors
    /// The backend's listing; per-object failures are in the report.
    pub async fn rewrap(&self) -> Result<RewrapReport, VaultError> {
        let current = self.keys.current();
        let mut report = RewrapReport::default();
        for id in self.list().await? {
            let step = async {
                let h = self.header(&id).await?;
                if h.kek_id == current.id() {
                    return Ok::<bool, VaultError>(false);
                }
                let old = self.keys.get(&h.kek_id)?;
                let dek =
                    old.unwrap(&h.wrap_nonce, &h.wrapped, &Header::bound(&h.params, h.len, &h.digest, &h.kek_id))?;
                let bound = Header::bound(&h.params, h.len, &h.digest, current.id());
                let (wrap_nonce, wrapped) = current.wrap(&dek, &bound)?;
                let new = Header { kek_id: current.id().to_owned(), wrap_nonce, wrapped, ..h };
                self.store.put(&self.header_path(&id), PutPayload::from(new.encode())).await?;
                Ok(true)
            };
            match step.await {
                Ok(true) => report.rewrapped += 1,
                Ok(false) => report.current += 1,
                // Purged meanwhile: nothing to re-wrap.
                Err(VaultError::NotFound(_)) => {}
                Err(e) => report.failed.push((id.to_string(), format!("{} {e}", e.code()))),
            }
        }
        Ok(report)
    }

    /// Compares headers and bodies.
    ///
    /// # Errors
    /// The backend.
    pub async fn check(&self) -> Result<CheckReport, VaultError> {
        let (heads, mut strangers) = self.ids_under("h").await?;
        let (bodies, more) = self.ids_under("b").await?;
        strangers.extend(more);
        let mut r = CheckReport { strangers, ..CheckReport::default() };
        for id in &heads {
            if bodies.binary_search(id).is_ok() {
                r.objects += 1;
            } else {
                r.headers_without_body.push(id.to_string());
            }
        }
        r.orphan_bodies = bodies.iter().filter(|b| heads.binary_search(b).is_err()).map(ToString::to_string).collect();
        Ok(r)
    }
}

/// Reads from `src` into `buf` until it holds `want` bytes or `src` ends.
async fn fill<R: AsyncRead + Unpin>(src: &mut R, buf: &mut Vec<u8>, want: usize) -> Result<(), VaultError> {
    while buf.len() < want {
        let room = want - buf.len();
        if src.read_buf(&mut (&mut *buf).limit(room)).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// A multipart upload fed in equal parts of [`PART`] bytes (some stores
/// require equal parts), at most [`INFLIGHT`] of them uploading at once.
struct Parts {
    upload: Box<dyn MultipartUpload>,
    buf: Vec<u8>,
    inflight: VecDeque<tokio::task::JoinHandle<object_store::Result<()>>>,
    sent: usize,
    /// Part buffers back from finished uploads: reusing them spares the
    /// kernel faulting in and zeroing fresh pages for every part.
    pool: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

/// A part's bytes on their way to the backend; the buffer returns to the
/// pool when the backend drops it.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(buf);
        }
    }
}

impl Parts {
    fn new(upload: Box<dyn MultipartUpload>) -> Self {
        Self { upload, buf: Vec::with_capacity(PART), inflight: VecDeque::new(), sent: 0, pool: Arc::default() }
    }

    async fn write(&mut self, mut data: &[u8]) -> Result<(), VaultError> {
        while !data.is_empty() {
            let take = (PART - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == PART {
                self.send().await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<(), VaultError> {
        let fresh = self.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(|| Vec::with_capacity(PART));
        let part = Pooled { buf: std::mem::replace(&mut self.buf, fresh), pool: Arc::clone(&self.pool) };
        let payload = PutPayload::from(bytes::Bytes::from_owner(part));
        self.inflight.push_back(tokio::spawn(self.upload.put_part(payload)));
        self.sent += 1;
        while self.inflight.len() > INFLIGHT {
            self.wait_one().await?;
        }
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), VaultError> {
        if let Some(h) = self.inflight.pop_front() {
            h.await.map_err(|e| VaultError::Storage(e.to_string()))??;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), VaultError> {
        if !self.buf.is_empty() || self.sent == 0 {
            self.send().await?;
        }
        while !self.inflight.is_empty() {
            self.wait_one().await?;
        }
        self.upload.complete().await?;
        Ok(())
    }

    async fn abort(&mut self) {
        for h in self.inflight.drain(..) {
            h.abort();
        }
        let _ = self.upload.abort().await;
    }
}

/// An open object: its key unwrapped, ready for ranged reads.
pub struct Reader {
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    opener: Opener,
    digest: [u8; 32],
}

impl Reader {
    /// Plaintext length.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.opener.len()
    }

    /// Whether the object is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.opener.is_empty()
    }

    /// Body digest from the header.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Plaintext bytes `range`: fetches and decrypts only the segments that
    /// hold them, in one ranged read.
    ///
    /// # Errors
    /// [`VaultError::Range`] outside the object, [`VaultError::Tampered`],
    /// the backend.
    pub async fn read_range(&self, range: Range<u64>) -> Result<Vec<u8>, VaultError> {
        let len = self.len();
        if range.start > range.end || range.end > len {
            return Err(VaultError::Range { start: range.start, end: range.end, len });
        }
        if range.start == range.end {
            return Ok(Vec::new());
        }
        let p = *self.opener.params();
        let seg = u64::from(p.segment);
        let (first, last) = (range.start / seg, (range.end - 1) / seg);
        let from = p.segment_range(first, len).start;
        let to = p.segment_range(last, len).end;
        let mut sealed = self.store.get_range(&self.path, from..to).await?.to_vec();
        if sealed.len() as u64 != to - from {
            return Err(VaultError::Truncated { segment: first });
        }
        let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
        for i in first..=last {
            let r = p.segment_range(i, len);
            let plain = self.opener.open(i, &mut sealed[(r.start - from) as usize..(r.end - from) as usize])?;
            let base = i * seg;
            let a = range.start.max(base) - base;
            let b = range.end.min(base + plain.len() as u64) - base;
            out.extend_from_slice(&plain[a as usize..b as usize]);
        }
        Ok(out)
    }

    /// Writes the whole plaintext to `w`, a few MiB at a time. The last
    /// segment's end-of-object mark is checked, so a body cut at a segment
    /// boundary fails here rather than ending early.
    ///
    /// # Errors
    /// As [`Reader::read_range`], and writing to `w`.
    pub async fn copy_to<W: AsyncWrite + Unpin>(&self, w: &mut W) -> Result<u64, VaultError> {
        let len = self.len();
        let seg = u64::from(self.opener.params().segment);
        let window = (READ_WINDOW / seg).max(1) * seg;
        let mut pos = 0;
        if len == 0 {
            // Still authenticate the one empty segment.
            self.read_range_checked_empty().await?;
        }
        while pos < len {
            let end = (pos + window).min(len);
            let part = self.read_range(pos..end).await?;
            w.write_all(&part).await?;
            pos = end;
        }
        w.flush().await?;
        Ok(len)
    }

    async fn read_range_checked_empty(&self) -> Result<(), VaultError> {
        let p = *self.opener.params();
        let r = p.segment_range(0, 0);
        let mut sealed = self.store.get_range(&self.path, r).await?.to_vec();
        self.opener.open(0, &mut sealed).map(|_| ())
    }
}
