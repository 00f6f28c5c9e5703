//! Running a command without a shell, with a timeout, for `c:` rules and host facts.
//!
//! The child gets `/dev/null` as stdin, `LC_ALL=C` (a service's usual environment, and
//! output the patterns can rely on) and its own process group; at the timeout the
//! whole group is killed (with `kill -KILL -- -PGID`, as the standard library can only
//! signal the child itself), so `sh -c "sleep 100"` does not leave its `sleep` behind.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a command printed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout, then stderr: the lines a `c:` pattern is matched against.
    pub fn combined(&self) -> String {
        if self.stderr.is_empty() {
            return self.stdout.clone();
        }
        let mut s = self.stdout.clone();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&self.stderr);
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecError {
    NotFound,
    PermissionDenied,
    Timeout,
    Failed(String),
}

/// Output kept per stream; more is read and dropped so the child never blocks.
const MAX_OUTPUT: usize = 8 << 20;

/// Runs `argv` and waits at most `timeout`. A non-zero exit status is not an error:
/// its output is judged like any other (as Wazuh does).
pub(crate) fn run(argv: &[String], timeout: Duration) -> Result<Output, ExecError> {
    let Some((program, args)) = argv.split_first() else { return Err(ExecError::Failed("empty command".into())) };
    let mut cmd = Command::new(program);
    cmd.args(args).env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ExecError::NotFound,
        std::io::ErrorKind::PermissionDenied => ExecError::PermissionDenied,
        _ => ExecError::Failed(e.to_string()),
    })?;
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, true, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, false, tx.clone());
    }
    drop(tx);

    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(ExecError::Timeout);
            }
            Ok(None) => {
                thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Err(e) => {
                kill_group(&mut child);
                return Err(ExecError::Failed(e.to_string()));
            }
        }
    }
    // The child has exited; a grandchild may still hold the pipes open, so the
    // readers are awaited until the same deadline.
    let mut output = Output::default();
    for _ in 0..2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((true, s)) => output.stdout = s,
            Ok((false, s)) => output.stderr = s,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill_group(&mut child);
                return Err(ExecError::Timeout);
            }
        }
    }
    Ok(output)
}

fn spawn_reader(mut stream: impl Read + Send + 'static, is_stdout: bool, tx: mpsc::Sender<(bool, String)>) {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        // The receiver may have given up (timeout): nothing to do then.
        let _ = tx.send((is_stdout, String::from_utf8_lossy(&kept).into_owned()));
    });
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let pgid = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}
