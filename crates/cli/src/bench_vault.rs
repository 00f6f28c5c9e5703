//! `bposhield bench vault`: the recording vault on local disk, beside its anchors
//! measured in the same run on the same file.
//!
//! * **encrypt only**: the format's cipher on one core, sealing 256 MiB of the file in
//!   memory (the ceiling for everything below);
//! * **put**: encrypt-and-store of a `--gib` GiB file (a call recording stands in:
//!   incompressible bytes) from disk into a local vault: MB/s of wall time and MB per
//!   CPU second (the vault's own work runs on one task; the file writes go through
//!   `object_store`'s blocking pool), and peak RSS;
//! * **get**: open and decrypt the whole object to nowhere, the same figures;
//! * **seek**: time to the first byte of 64 KiB in the middle, from a freshly opened
//!   vault (header read, key unwrapped, one segment fetched and decrypted);
//! * **anchors**: a plain read/write copy of the file (the disk's limit) and Debian's
//!   `age` encrypting it to a file (`age -r`), with its CPU seconds.
//!
//! Medians of `--rounds`. Put and get each run in a child process (`--child`), so
//! their CPU time and peak RSS (`VmHWM`, binary and runtime included) are the vault's.

use bposhield_vault::format::{DEFAULT_SEGMENT, MIN_SEGMENT};
use bposhield_vault::{Keyring, Vault};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct VaultBench {
    /// Size of the test file in GiB (at least 2 for the recorded figures).
    #[arg(long, default_value_t = 2.0)]
    gib: f64,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Directory for the test file, the vault and the anchors' output (on the disk
    /// to measure); a temporary directory by default.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Plaintext segment size in KiB (64 to 1024).
    #[arg(long, default_value_t = DEFAULT_SEGMENT / 1024)]
    segment_kib: u32,
    /// Measure `age` too: auto (if installed), on, off.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    age: String,
    /// Internal: run one phase (`put` or `get ID`) in this child process and print
    /// its figures, so its peak RSS is the vault's alone.
    #[arg(long, hide = true, num_args = 1..=2)]
    child: Vec<String>,
}

/// A file read with plain blocking reads, inline. The vault's ingest reads an
/// upload stream, whose bytes arrive in memory; `tokio::fs::File` would add a
/// thread hop and a copy per read that no upload pays.
struct InlineFile(std::fs::File);

impl tokio::io::AsyncRead for InlineFile {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = match self.0.read(buf.initialize_unfilled()) {
            Ok(n) => n,
            Err(e) => return std::task::Poll::Ready(Err(e)),
        };
        buf.advance(n);
        std::task::Poll::Ready(Ok(()))
    }
}

/// The child side: one phase, its figures on stdout as `id len wall_s cpu_s peak_mib`.
async fn child(b: &VaultBench, dir: &Path) -> anyhow::Result<()> {
    let keys = Keyring::load(&dir.join("vault.keys"))?;
    let segment = b.segment_kib.saturating_mul(1024).max(MIN_SEGMENT);
    let vault = Vault::open_url("", dir, keys)?.with_segment(segment)?;
    let (t, c) = (Instant::now(), cpu_seconds().0);
    let (id, len) = match b.child.as_slice() {
        [phase] if phase == "put" => {
            let s = vault.put(InlineFile(std::fs::File::open(dir.join("recording.bin"))?)).await?;
            (s.id.to_string(), s.len)
        }
        [phase, id] if phase == "get" => {
            let r = vault.open(&bposhield_vault::ObjectId::parse(id)?).await?;
            (id.clone(), r.copy_to(&mut tokio::io::sink()).await?)
        }
        other => anyhow::bail!("unknown phase {other:?}"),
    };
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds().0 - c);
    println!("{id} {len} {wall} {cpu} {}", crate::peak_rss_mib().unwrap_or(f64::NAN));
    Ok(())
}

/// Runs one phase in a child process; returns (id, len, wall, cpu, peak).
fn run_child(dir: &Path, b: &VaultBench, phase: &[&str]) -> anyhow::Result<(String, u64, f64, f64, f64)> {
    let out = Command::new(std::env::current_exe()?)
        .args(["bench", "vault", "--segment-kib", &b.segment_kib.to_string(), "--dir"])
        .arg(dir)
        .arg("--child")
        .args(phase)
        .output()?;
    anyhow::ensure!(out.status.success(), "{phase:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |k: usize| {
        f.get(k).and_then(|x| x.parse::<f64>().ok()).ok_or_else(|| anyhow::anyhow!("bad child output `{line}`"))
    };
    Ok((f.first().copied().unwrap_or_default().to_owned(), num(1)? as u64, num(2)?, num(3)?, num(4)?))
}

/// CPU seconds of this process and of its waited-for children, from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let tick = 100.0;
    let at = |k: usize| f.get(k).copied().unwrap_or(0.0) / tick;
    // utime, stime, cutime, cstime are fields 14-17 of the line: 11-14 after `)`.
    (at(11) + at(12), at(13) + at(14))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Phase {
    mb_s: Vec<f64>,
    mb_cpu_s: Vec<f64>,
    peak: Vec<f64>,
}

impl Phase {
    fn add(&mut self, bytes: u64, wall: f64, cpu: f64, peak: Option<f64>) {
        let mb = bytes as f64 / 1e6;
        self.mb_s.push(mb / wall.max(1e-9));
        self.mb_cpu_s.push(mb / cpu.max(0.01));
        if let Some(p) = peak {
            self.peak.push(p);
        }
    }
    fn row(&mut self, name: &str) {
        let peak = if self.peak.is_empty() { "-".into() } else { format!("{:.1}", median(&mut self.peak)) };
        println!("{:<28} {:>10.0} {:>14.0} {:>14}", name, median(&mut self.mb_s), median(&mut self.mb_cpu_s), peak);
    }
}

fn write_source(path: &Path, bytes: u64) -> anyhow::Result<()> {
    // 16 MiB of xorshift output, repeated: incompressible like encoded audio, and
    // cheap to write.
    let mut block = vec![0u8; 16 << 20];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for c in block.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes());
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn plain_copy(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let mut r = std::fs::File::open(from)?;
    let mut w = std::fs::File::create(to)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
    Ok(n)
}

fn age_available(mode: &str) -> anyhow::Result<bool> {
    let found = Command::new("age").arg("--version").output().is_ok_and(|o| o.status.success());
    if mode == "on" && !found {
        anyhow::bail!("age is not installed (apt-get install age)");
    }
    Ok(found && mode != "off")
}

pub async fn run(b: VaultBench) -> anyhow::Result<()> {
    if !b.child.is_empty() {
        let dir = b.dir.clone().ok_or_else(|| anyhow::anyhow!("--child needs --dir"))?;
        return child(&b, &dir).await;
    }
    let bytes = (b.gib * f64::from(1u32 << 30)) as u64;
    let segment = b.segment_kib.saturating_mul(1024).max(MIN_SEGMENT);
    let tmp = tempdir_in(b.dir.as_deref())?;
    let dir = tmp.path.clone();
    let src = dir.join("recording.bin");
    eprintln!("writing a {:.2} GiB test file to {} ...", bytes as f64 / f64::from(1u32 << 30), src.display());
    write_source(&src, bytes)?;
    let keys = Keyring::load_or_create(&dir.join("vault.keys"))?;
    let vault = Vault::open_url("", &dir, keys.clone())?.with_segment(segment)?;
    let mut encrypt_only = Vec::new();
    let with_age = age_available(&b.age)?;
    let recipient = if with_age { Some(age_recipient(&dir)?) } else { None };

    let (mut copy, mut put, mut get, mut age) =
        (Phase::default(), Phase::default(), Phase::default(), Phase::default());
    let mut seek_ms = Vec::new();
    for round in 0..b.rounds.max(1) {
        // Plain copy: the disk's limit.
        let dst = dir.join("copy.bin");
        let (t, c) = (Instant::now(), cpu_seconds().0);
        let n = plain_copy(&src, &dst)?;
        copy.add(n, t.elapsed().as_secs_f64(), cpu_seconds().0 - c, None);
        std::fs::remove_file(&dst)?;

        // Encrypt and store, then read and decrypt all of it: each in a child
        // process, so the peak RSS is the vault's.
        let (id, len, wall, cpu, peak) = run_child(&dir, &b, &["put"])?;
        put.add(len, wall, cpu, Some(peak));
        let stored = vault.open(&bposhield_vault::ObjectId::parse(&id)?).await?;
        let stored_len = stored.len();
        let (_, n, wall, cpu, peak) = run_child(&dir, &b, &["get", &id])?;
        anyhow::ensure!(n == len && len == bytes, "read {n} bytes of {len}, wrote {bytes}");
        get.add(n, wall, cpu, Some(peak));

        // The cipher alone on one core: the source's bytes sealed in memory.
        encrypt_only.push(seal_in_memory(&src, segment)?);

        // Seek to the middle from a fresh vault: header, unwrap, one segment.
        for k in 0..5u64 {
            let fresh = Vault::open_url("", &dir, keys.clone())?;
            let oid = bposhield_vault::ObjectId::parse(&id)?;
            let mid = stored_len / 2 + k * 4099;
            let t = Instant::now();
            let part = fresh.open(&oid).await?.read_range(mid..(mid + 65536).min(stored_len)).await?;
            seek_ms.push(t.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(!part.is_empty(), "empty read at the middle");
        }
        vault.purge(&bposhield_vault::ObjectId::parse(&id)?).await?;

        // age, to a file on the same disk.
        if let Some(r) = &recipient {
            let out = dir.join("recording.age");
            let (t, c) = (Instant::now(), cpu_seconds().1);
            let st = Command::new("age").arg("-r").arg(r).arg("-o").arg(&out).arg(&src).status()?;
            anyhow::ensure!(st.success(), "age failed: {st}");
            age.add(bytes, t.elapsed().as_secs_f64(), cpu_seconds().1 - c, None);
            std::fs::remove_file(&out)?;
        }
        eprintln!(
            "round {}: copy {:.0} MB/s, put {:.0} MB/s, get {:.0} MB/s, seek {:.2} ms{}",
            round + 1,
            copy.mb_s[round],
            put.mb_s[round],
            get.mb_s[round],
            seek_ms[seek_ms.len() - 1],
            age.mb_s.get(round).map_or(String::new(), |a| format!(", age {a:.0} MB/s"))
        );
    }
    println!(
        "\nbposhield vault on local disk ({:.2} GiB file, {} KiB segments; median of {} rounds):",
        bytes as f64 / f64::from(1u32 << 30),
        segment / 1024,
        b.rounds.max(1)
    );
    println!("{:<28} {:>10} {:>14} {:>14}", "", "MB/s", "MB per CPU s", "peak RSS MiB");
    println!("{:<28} {:>10.0} {:>14} {:>14}", "encrypt only, in memory", median(&mut encrypt_only), "(one core)", "-");
    copy.row("plain copy (disk limit)");
    put.row("vault encrypt + store");
    get.row("vault read + decrypt");
    if with_age {
        age.row("age -r (encrypt to file)");
        let ratio = median(&mut put.mb_cpu_s.clone()) / median(&mut age.mb_cpu_s.clone());
        println!("vault encrypt ÷ age, per CPU second: {ratio:.2} ×");
    } else {
        println!("age: not measured (apt-get install age, or --age on)");
    }
    let mut sorted = seek_ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "seek to the middle, time to first byte (fresh open, 64 KiB): median {:.2} ms, max {:.2} ms over {} seeks",
        median(&mut seek_ms),
        sorted.last().copied().unwrap_or(f64::NAN),
        sorted.len()
    );
    Ok(())
}

/// MB/s of sealing the first 256 MiB of `src` (read into memory first) in
/// `segment`-byte segments on this thread: the format's cipher cost alone.
fn seal_in_memory(src: &Path, segment: u32) -> anyhow::Result<f64> {
    let mut data = Vec::with_capacity(256 << 20);
    let n = std::fs::File::open(src)?.take(256 << 20).read_to_end(&mut data)?;
    let dek = bposhield_vault::keys::DataKey::random()?;
    let mut sealer = bposhield_vault::format::Sealer::new(&dek, bposhield_vault::format::Params::new(segment)?);
    let mut buf = Vec::with_capacity(segment as usize + 16);
    let t = Instant::now();
    let chunks: Vec<&[u8]> = data.chunks(segment as usize).collect();
    for (k, c) in chunks.iter().enumerate() {
        buf.clear();
        buf.extend_from_slice(c);
        sealer.seal_segment(&mut buf, k + 1 == chunks.len())?;
    }
    Ok(n as f64 / 1e6 / t.elapsed().as_secs_f64())
}

fn age_recipient(dir: &Path) -> anyhow::Result<String> {
    let key = dir.join("age.key");
    let out = Command::new("age-keygen").arg("-o").arg(&key).output()?;
    anyhow::ensure!(out.status.success(), "age-keygen failed");
    let text = std::fs::read_to_string(&key)?;
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("age-keygen wrote no public key"))
}

/// A directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir_in(base: Option<&Path>) -> anyhow::Result<TempDir> {
    let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let path = base.join(format!("bposhield-bench-vault-{}", std::process::id()));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir { path })
}
