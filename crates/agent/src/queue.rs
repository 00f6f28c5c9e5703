//! The bounded on-disk event queue: what the agent saw is kept until the server has
//! acknowledged it, across restarts and outages.
//!
//! Events are JSON lines appended to segment files `seg-<first seq>.jsonl` in
//! `<state>/queue/`, fsynced at each append. A segment is closed at
//! [`SEGMENT_EVENTS`] events or when shipping starts, and shipping sends whole closed
//! segments, oldest first, deleting them once the server acknowledges. A crash after
//! the server stored a batch but before the delete re-sends it; the server ignores the
//! events it has (`(host, seq)` is unique). A torn last line, from a crash in the middle
//! of an append, is skipped. When the queue outgrows its bound the oldest segment goes
//! and the count of dropped events is reported with the next batch.
//!
//! Sequence numbers are `max(last + 1, now in microseconds)`: increasing across restarts
//! even when the queue was empty, without a counter file to keep in step.

use bposhield_proto::fleet::{AgentEvent, AgentEventBody};
use std::fs;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

/// Events per segment (and so at most per batch).
pub const SEGMENT_EVENTS: usize = 500;

/// The queue.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    last_seq: i64,
    /// The open segment: path and events in it.
    open: Option<(PathBuf, usize)>,
    /// Events dropped for room since the last report.
    dropped: i64,
    /// Events in the segment files (kept here: health is sent with every batch).
    depth: i64,
}

/// A batch taken from the queue: send `events`, then [`Queue::ack`] it.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<AgentEvent>,
    segments: Vec<PathBuf>,
}

impl Queue {
    /// Opens the queue in `dir` (created 0700).
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut q = Self { dir: dir.to_path_buf(), max_bytes, last_seq: 0, open: None, dropped: 0, depth: 0 };
        for seg in q.segments()? {
            for e in read_segment(&seg) {
                q.last_seq = q.last_seq.max(e.seq);
                q.depth += 1;
            }
        }
        Ok(q)
    }

    /// Segment files, oldest first.
    fn segments(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
            })
            .collect();
        // Names carry a zero-padded sequence number: name order is age order.
        v.sort();
        Ok(v)
    }

    /// Appends an event, durable when this returns.
    ///
    /// # Errors
    /// On I/O failure (disk full): the event is not queued.
    pub fn push(&mut self, at: i64, now_us: i64, body: AgentEventBody) -> std::io::Result<i64> {
        let seq = (self.last_seq + 1).max(now_us);
        let event = AgentEvent { seq, at, body };
        let mut line = serde_json::to_vec(&event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let (path, n) = match self.open.take() {
            Some((p, n)) if n < SEGMENT_EVENTS => (p, n),
            _ => (self.dir.join(format!("seg-{seq:020}.jsonl")), 0),
        };
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&line)?;
        f.sync_data()?;
        self.last_seq = seq;
        self.depth += 1;
        self.open = Some((path, n + 1));
        self.enforce_bound()?;
        Ok(seq)
    }

    fn enforce_bound(&mut self) -> std::io::Result<()> {
        loop {
            let segs = self.segments()?;
            let total: u64 = segs.iter().filter_map(|p| fs::metadata(p).ok()).map(|m| m.len()).sum();
            if total <= self.max_bytes || segs.len() <= 1 {
                return Ok(());
            }
            let oldest = &segs[0];
            let n = read_segment(oldest).len() as i64;
            self.dropped += n;
            self.depth -= n;
            fs::remove_file(oldest)?;
            if self.open.as_ref().is_some_and(|(p, _)| p == oldest) {
                self.open = None;
            }
        }
    }

    /// Events waiting.
    #[must_use]
    pub fn depth(&self) -> i64 {
        self.depth
    }

    /// Events dropped for room since the last call; resets the count.
    pub fn take_dropped(&mut self) -> i64 {
        std::mem::take(&mut self.dropped)
    }

    /// The oldest whole segments, up to `max` events (at least one segment), closing the
    /// open segment first. `None` when the queue is empty.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn take_batch(&mut self, max: usize) -> std::io::Result<Option<Batch>> {
        self.open = None;
        let mut events = Vec::new();
        let mut segments = Vec::new();
        for seg in self.segments()? {
            let ev = read_segment(&seg);
            if !segments.is_empty() && events.len() + ev.len() > max {
                break;
            }
            events.extend(ev);
            segments.push(seg);
        }
        Ok((!segments.is_empty()).then_some(Batch { events, segments }))
    }

    /// The server stored the batch: its segments go.
    ///
    /// # Errors
    /// When a segment cannot be removed (it is then sent again, harmlessly).
    pub fn ack(&mut self, batch: Batch) -> std::io::Result<()> {
        self.depth = (self.depth - batch.events.len() as i64).max(0);
        for seg in batch.segments {
            match fs::remove_file(&seg) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The events of a segment; a torn or damaged line is skipped.
fn read_segment(path: &Path) -> Vec<AgentEvent> {
    let Ok(f) = fs::File::open(path) else { return Vec::new() };
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<AgentEvent>(&l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bposhield_proto::fleet::HostFacts;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bpa-queue-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn facts(n: i64) -> AgentEventBody {
        AgentEventBody::Facts(HostFacts { packages: n, ..HostFacts::default() })
    }

    #[test]
    fn survives_reopen_ships_in_order_and_acks() {
        let d = tmp("reopen");
        let mut q = Queue::open(&d, 1 << 20).unwrap();
        for i in 0..1_200 {
            q.push(10, 5, facts(i)).unwrap();
        }
        drop(q);
        // A torn line at the end of the newest segment, as after a crash mid-append.
        let newest = fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).max().unwrap();
        fs::OpenOptions::new().append(true).open(&newest).unwrap().write_all(b"{\"seq\":99").unwrap();
        let mut q = Queue::open(&d, 1 << 20).unwrap();
        assert_eq!(q.depth(), 1_200);
        // Sequence numbers keep increasing after a reopen.
        let s = q.push(11, 0, facts(-1)).unwrap();
        assert_eq!(s, 5 + 1_200);
        let b = q.take_batch(SEGMENT_EVENTS).unwrap().unwrap();
        assert_eq!(b.events.len(), SEGMENT_EVENTS);
        assert!(b.events.windows(2).all(|w| w[0].seq < w[1].seq));
        q.ack(b).unwrap();
        let mut n = 0;
        while let Some(b) = q.take_batch(1_000).unwrap() {
            n += b.events.len();
            q.ack(b).unwrap();
        }
        assert_eq!(n, 701);
        assert_eq!(q.depth(), 0);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn bounded_drops_oldest_and_counts() {
        let d = tmp("bound");
        let mut q = Queue::open(&d, 40_000).unwrap();
        for i in 0..3_000 {
            q.push(10, 0, facts(i)).unwrap();
        }
        let total: u64 = fs::read_dir(&d).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(total <= 40_000 + 100_000, "{total}");
        let dropped = q.take_dropped();
        assert!(dropped > 0);
        assert_eq!(q.depth() + dropped, 3_000);
        assert_eq!(q.take_dropped(), 0);
        let _ = fs::remove_dir_all(&d);
    }
}
