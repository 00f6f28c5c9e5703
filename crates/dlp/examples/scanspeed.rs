//! Profiling probe for the scanner alone: `scanspeed FILE [MIB] [ROUNDS]` scans
//! the first MIB MiB of FILE in 1 MiB pieces (no output, no streaming margins) and
//! prints the median MB/s. Small and deterministic enough to run under
//! `valgrind --tool=cachegrind` for instruction counts, which move far less than
//! timings on a shared machine. The recorded figures come from `bposhield bench dlp`.
use std::io::Read;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: scanspeed FILE [MIB] [ROUNDS]   (text from `bposhield bench dlp --write-corpus DIR`)");
        std::process::exit(2);
    };
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(mib << 20).read_to_string(&mut text));
    if let Err(e) = read {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    }
    let scanner = bposhield_dlp::scan::Scanner::builtin();
    let mut speeds = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let (mut found, mut pos) = (0, 0);
        while pos < text.len() {
            let mut end = (pos + (1 << 20)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            found += scanner.scan(&text[pos..end]).len();
            pos = end;
        }
        let mbs = text.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
        eprintln!("{found} findings, {mbs:.0} MB/s");
        speeds.push(mbs);
    }
    speeds.sort_by(f64::total_cmp);
    println!("median {:.0} MB/s", speeds[speeds.len() / 2]);
}
