//! Running a policy: rules against the filesystem under `Env::root`, the process list
//! under `Env::proc_root` and commands; results aggregated as Wazuh does.

use super::exec::{self, ExecError};
use super::{Check, Condition, Env, NameFilter, Outcome, Pattern, Policy, Rule, RuleKind};
use bposhield_proto::fleet::{CheckResult, ScanReport};
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Runs a policy and reports every check (see the module docs for the semantics).
pub fn run(policy: &Policy, env: &Env) -> ScanReport {
    let mut cx = Scan::new(env);
    let unmet = policy.requirements.as_ref().and_then(|req| {
        let (result, reason) = evaluate(&mut cx, req.condition, &req.rules);
        (result != Verdict::Passed).then(|| format!("policy requirements not met: {} ({reason})", req.title))
    });
    let checks: Vec<CheckResult> = policy
        .checks
        .iter()
        .map(|check| {
            let (verdict, reason) = match &unmet {
                Some(why) => (Verdict::NotApplicable, why.clone()),
                None => evaluate(&mut cx, check.condition, &check.rules),
            };
            result(check, verdict, reason)
        })
        .collect();
    report(policy, checks)
}

/// The report of `policy` from its checks' results: the counts, and the score
/// `100 * passed / (passed + failed)` (0 when nothing applied).
#[must_use]
pub fn report(policy: &Policy, checks: Vec<CheckResult>) -> ScanReport {
    let count = |v: &str| checks.iter().filter(|c| c.result == v).count() as i64;
    let (passed, failed, not_applicable) = (count("passed"), count("failed"), count("not applicable"));
    let score = if passed + failed == 0 { 0 } else { 100 * passed / (passed + failed) };
    ScanReport {
        policy_id: policy.id.clone(),
        policy_name: policy.name.clone(),
        passed,
        failed,
        not_applicable,
        score,
        checks,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    NotApplicable,
}

fn result(check: &Check, verdict: Verdict, reason: String) -> CheckResult {
    CheckResult {
        id: check.id,
        title: check.title.clone(),
        result: match verdict {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotApplicable => "not applicable",
        }
        .to_string(),
        reason,
        severity: check.severity().to_string(),
    }
}

/// Wazuh's aggregation: rules in order, stopping at the first decisive one.
fn evaluate(cx: &mut Scan<'_>, condition: Condition, rules: &[Rule]) -> (Verdict, String) {
    let mut invalid: Option<String> = None;
    for rule in rules {
        let outcome = match evaluate_rule(cx, rule) {
            Outcome::Invalid(why) => Outcome::Invalid(why),
            o if !rule.negated => o,
            Outcome::Found => Outcome::NotFound,
            Outcome::NotFound => Outcome::Found,
        };
        match (condition, outcome) {
            (Condition::All, Outcome::NotFound) => {
                return (Verdict::Failed, format!("rule not satisfied: {}", rule.text))
            }
            (Condition::Any, Outcome::Found) => return (Verdict::Passed, format!("rule satisfied: {}", rule.text)),
            (Condition::None, Outcome::Found) => return (Verdict::Failed, format!("rule satisfied: {}", rule.text)),
            (_, Outcome::Invalid(why)) => {
                invalid.get_or_insert_with(|| format!("{why} (rule: {})", rule.text));
            }
            _ => {}
        }
    }
    if let Some(why) = invalid {
        return (Verdict::NotApplicable, why);
    }
    let n = rules.len();
    match condition {
        Condition::All => (Verdict::Passed, format!("all {n} rules satisfied")),
        Condition::Any => (Verdict::Failed, format!("none of the {n} rules satisfied")),
        Condition::None => (Verdict::Passed, format!("none of the {n} rules satisfied")),
    }
}

fn evaluate_rule(cx: &mut Scan<'_>, rule: &Rule) -> Outcome {
    let patterns = match &rule.kind {
        RuleKind::File { pattern, .. } | RuleKind::Command { pattern, .. } => vec![pattern.as_ref()],
        RuleKind::Dir { filter, pattern, .. } => {
            let f = match filter {
                Some(NameFilter::Regex(p)) => Some(p),
                _ => None,
            };
            vec![f, pattern.as_ref()]
        }
        RuleKind::Process { name } => vec![Some(name)],
        RuleKind::Registry { .. } => vec![],
    };
    if let Some(why) = patterns.into_iter().flatten().find_map(Pattern::unsupported) {
        return Outcome::Invalid(why.to_string());
    }
    match &rule.kind {
        RuleKind::File { paths, pattern: None } => any_of(paths.iter().map(|p| cx.file_exists(p))),
        RuleKind::File { paths, pattern: Some(pattern) } => any_of(paths.iter().map(|p| cx.file_matches(p, pattern))),
        RuleKind::Dir { paths, filter: None, .. } => any_of(paths.iter().map(|p| cx.dir_exists(p))),
        RuleKind::Dir { paths, filter: Some(filter), pattern } => {
            any_of(paths.iter().map(|p| cx.dir_matches(p, filter, pattern.as_ref())))
        }
        RuleKind::Process { name } => cx.process_running(name),
        RuleKind::Command { command, argv, pattern } => cx.command(command, argv, pattern.as_ref()),
        RuleKind::Registry { .. } => Outcome::Invalid("registry rules apply to Windows only".into()),
    }
}

/// A list of targets: found when one is, else invalid when one is, else not found.
/// Lazy, so a match stops the walk as in Wazuh.
fn any_of(outcomes: impl Iterator<Item = Outcome>) -> Outcome {
    let mut acc = Outcome::NotFound;
    for o in outcomes {
        match o {
            Outcome::Found => return Outcome::Found,
            Outcome::Invalid(why) => {
                if !matches!(acc, Outcome::Invalid(_)) {
                    acc = Outcome::Invalid(why);
                }
            }
            Outcome::NotFound => {}
        }
    }
    acc
}

/// A process as `p:` rules see it.
struct Proc {
    comm: String,
    argv0: String,
}

/// A file under a walked directory.
struct Entry {
    /// The path as the policy would name it (`/etc/modprobe.d/usb.conf`).
    logical: String,
    name: String,
}

struct Walk {
    files: Vec<Entry>,
    /// The first entry that could not be examined, if any.
    error: Option<String>,
}

type CommandResult = Result<Rc<String>, String>;

/// One run's reads, shared by every check.
struct Scan<'a> {
    env: &'a Env,
    /// Whether `root` is `/`: paths are then used as they are.
    at_root: bool,
    files: HashMap<String, Result<Rc<String>, io::ErrorKind>>,
    walks: HashMap<String, Result<Rc<Walk>, String>>,
    commands: HashMap<String, CommandResult>,
    procs: Option<Result<Rc<Vec<Proc>>, String>>,
}

/// Files larger than this are not read (not applicable): no configuration file is.
const MAX_FILE: u64 = 64 << 20;
/// Directory walks stop this deep (Wazuh has no limit; a loop guard).
const MAX_DEPTH: usize = 32;

impl<'a> Scan<'a> {
    fn new(env: &'a Env) -> Self {
        Self {
            env,
            at_root: env.root == Path::new("/"),
            files: HashMap::new(),
            walks: HashMap::new(),
            commands: HashMap::new(),
            procs: None,
        }
    }

    /// The host path for a policy path, symbolic links inside the root resolved inside it.
    fn resolve(&self, logical: &str) -> io::Result<PathBuf> {
        if self.at_root {
            return Ok(PathBuf::from(logical));
        }
        resolve_under(&self.env.root, logical)
    }

    fn file_exists(&mut self, path: &str) -> Outcome {
        let meta = self.resolve(path).and_then(std::fs::metadata);
        match meta {
            Ok(m) if m.is_file() => Outcome::Found,
            Ok(_) => Outcome::Invalid(format!("'{path}' is not a regular file")),
            Err(e) if is_missing(&e) => Outcome::NotFound,
            Err(e) => Outcome::Invalid(format!("Could not open '{path}': {e}")),
        }
    }

    fn read(&mut self, path: &str) -> Result<Rc<String>, io::ErrorKind> {
        if let Some(hit) = self.files.get(path) {
            return hit.clone();
        }
        let read = self.resolve(path).and_then(|p| {
            let meta = std::fs::metadata(&p)?;
            if !meta.is_file() {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
            }
            if meta.len() > MAX_FILE {
                return Err(io::Error::new(io::ErrorKind::FileTooLarge, "file too large"));
            }
            let bytes = std::fs::read(&p)?;
            Ok(Rc::new(match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }))
        });
        let read = read.map_err(|e| if is_missing(&e) { io::ErrorKind::NotFound } else { e.kind() });
        self.files.insert(path.to_string(), read.clone());
        read
    }

    fn file_matches(&mut self, path: &str, pattern: &Pattern) -> Outcome {
        match self.read(path) {
            Ok(text) => match pattern.matches_any_line(&text) {
                Ok(true) => Outcome::Found,
                Ok(false) => Outcome::NotFound,
                Err(why) => Outcome::Invalid(format!("{why} (file '{path}')")),
            },
            Err(io::ErrorKind::NotFound) => Outcome::Invalid(format!("Could not open file '{path}'")),
            Err(kind) => Outcome::Invalid(format!("Could not open file '{path}': {}", io::Error::from(kind))),
        }
    }

    fn dir_exists(&mut self, path: &str) -> Outcome {
        match self.resolve(path).and_then(std::fs::metadata) {
            Ok(m) if m.is_dir() => Outcome::Found,
            Ok(_) => Outcome::Invalid(format!("Could not check directory existence for '{path}': not a directory")),
            Err(e) if is_missing(&e) => Outcome::NotFound,
            Err(e) => Outcome::Invalid(format!("Could not check directory existence for '{path}': {e}")),
        }
    }

    fn walk(&mut self, dir: &str) -> Result<Rc<Walk>, String> {
        if let Some(hit) = self.walks.get(dir) {
            return hit.clone();
        }
        let walked = self.walk_uncached(dir).map(Rc::new);
        self.walks.insert(dir.to_string(), walked.clone());
        walked
    }

    fn walk_uncached(&self, dir: &str) -> Result<Walk, String> {
        let top = self.resolve(dir).map_err(|e| format!("Could not open dir '{dir}': {e}"))?;
        let top_meta = std::fs::metadata(&top).map_err(|e| {
            if is_missing(&e) {
                format!("Could not open dir '{dir}'")
            } else {
                format!("Could not open dir '{dir}': {e}")
            }
        })?;
        if !top_meta.is_dir() {
            return Err(format!("Could not open dir '{dir}': not a directory"));
        }
        let mut walk = Walk { files: Vec::new(), error: None };
        let mut queue: VecDeque<(PathBuf, String, usize)> =
            VecDeque::from([(top, dir.trim_end_matches('/').to_string(), 0)]);
        while let Some((host, logical, depth)) = queue.pop_front() {
            let read = match std::fs::read_dir(&host) {
                Ok(r) => r,
                Err(e) => {
                    walk.error.get_or_insert_with(|| format!("Could not open '{logical}': {e}"));
                    continue;
                }
            };
            let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                let child_logical = format!("{logical}/{name}");
                match entry.file_type() {
                    // As Wazuh (lstat): a symbolic link to a directory is not descended.
                    Ok(t) if t.is_dir() => {
                        if depth + 1 < MAX_DEPTH {
                            queue.push_back((entry.path(), child_logical, depth + 1));
                        }
                    }
                    Ok(_) => walk.files.push(Entry { logical: child_logical, name }),
                    Err(e) => {
                        walk.error
                            .get_or_insert_with(|| format!("Cannot check directory entry '{child_logical}': {e}"));
                    }
                }
            }
        }
        Ok(walk)
    }

    fn dir_matches(&mut self, dir: &str, filter: &NameFilter, pattern: Option<&Pattern>) -> Outcome {
        let walk = match self.walk(dir) {
            Ok(w) => w,
            Err(why) => return Outcome::Invalid(why),
        };
        let mut acc = match &walk.error {
            Some(why) => Outcome::Invalid(why.clone()),
            None => Outcome::NotFound,
        };
        for entry in &walk.files {
            let name_ok = match filter {
                NameFilter::Regex(p) => p.matches_line(&entry.name),
                NameFilter::OsMatch(m) => Ok(os_match(m, &entry.name)),
                NameFilter::Exact(n) => Ok(*n == entry.name),
            };
            match name_ok {
                Ok(true) => {}
                Ok(false) => continue,
                Err(why) => return Outcome::Invalid(why),
            }
            let outcome = match pattern {
                None => self.file_exists(&entry.logical),
                Some(p) => self.file_matches(&entry.logical, p),
            };
            match outcome {
                Outcome::Found => return Outcome::Found,
                Outcome::Invalid(why) => acc = Outcome::Invalid(why),
                Outcome::NotFound => {}
            }
        }
        acc
    }

    fn processes(&mut self) -> Result<Rc<Vec<Proc>>, String> {
        if let Some(p) = &self.procs {
            return p.clone();
        }
        let read = read_processes(&self.env.proc_root).map(Rc::new);
        self.procs = Some(read.clone());
        read
    }

    fn process_running(&mut self, name: &Pattern) -> Outcome {
        let procs = match self.processes() {
            Ok(p) => p,
            Err(why) => return Outcome::Invalid(why),
        };
        for p in procs.iter() {
            let base = p.argv0.rsplit('/').next().unwrap_or(&p.argv0);
            for candidate in [p.comm.as_str(), p.argv0.as_str(), base] {
                if candidate.is_empty() {
                    continue;
                }
                match name.matches_line(candidate) {
                    Ok(true) => return Outcome::Found,
                    Ok(false) => {}
                    Err(why) => return Outcome::Invalid(why),
                }
            }
        }
        Outcome::NotFound
    }

    fn command(&mut self, command: &str, argv: &[String], pattern: Option<&Pattern>) -> Outcome {
        if !self.env.allow_commands {
            return Outcome::Invalid(format!(
                "Ignoring check for running command '{command}': commands are not allowed on this host (allow_commands = false)"
            ));
        }
        let output = match self.commands.get(command) {
            Some(hit) => hit.clone(),
            None => {
                let run = match exec::run(argv, self.env.command_timeout) {
                    Ok(out) => Ok(Rc::new(out.combined())),
                    Err(ExecError::NotFound | ExecError::PermissionDenied) => {
                        Err(format!("Invalid path or wrong permissions to run command '{command}'"))
                    }
                    Err(ExecError::Timeout) => Err(format!("Timeout overtaken running command '{command}'")),
                    Err(ExecError::Failed(e)) => Err(format!("Failed to run command '{command}': {e}")),
                };
                self.commands.insert(command.to_string(), run.clone());
                run
            }
        };
        let text = match output {
            Ok(t) => t,
            Err(why) => return Outcome::Invalid(why),
        };
        let Some(pattern) = pattern else { return Outcome::Found };
        match pattern.matches_any_line(&text) {
            Ok(true) => Outcome::Found,
            Ok(false) => Outcome::NotFound,
            Err(why) => Outcome::Invalid(why),
        }
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// OS_Match (`sregex`): alternatives split at `|`, each a case-insensitive substring,
/// `^` anchoring at the start and `$` at the end.
fn os_match(pattern: &str, s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    pattern.split('|').any(|alt| {
        let alt = alt.to_ascii_lowercase();
        let (start, body) = match alt.strip_prefix('^') {
            Some(b) => (true, b),
            None => (false, alt.as_str()),
        };
        let (end, body) = match body.strip_suffix('$') {
            Some(b) => (true, b),
            None => (false, body),
        };
        match (start, end) {
            (true, true) => s == body,
            (true, false) => s.starts_with(body),
            (false, true) => s.ends_with(body),
            (false, false) => s.contains(body),
        }
    })
}

/// Resolves `logical` under `root` like a chroot would: `..` stops at the root and
/// absolute symbolic link targets restart from the root.
fn resolve_under(root: &Path, logical: &str) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = Path::new(logical).components().filter_map(normal_or_parent).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, c) in target.components().filter_map(normal_or_parent).enumerate() {
                    pending.insert(i, c);
                }
            }
            Ok(_) => resolved.push(part),
            Err(e) if is_missing(&e) => {
                // The rest does not exist: the caller's stat reports it.
                resolved.push(part);
                resolved.extend(pending.drain(..));
            }
            Err(e) => return Err(e),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

fn normal_or_parent(c: Component<'_>) -> Option<OsString> {
    match c {
        Component::Normal(s) => Some(s.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    }
}

/// Every process's `comm` and `argv[0]`; processes that vanish meanwhile are skipped.
fn read_processes(proc_root: &Path) -> Result<Vec<Proc>, String> {
    let dir = std::fs::read_dir(proc_root)
        .map_err(|e| format!("Could not read the process list from '{}': {e}", proc_root.display()))?;
    let mut out = Vec::new();
    for entry in dir.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).map(|s| s.trim_end_matches('\n').to_string());
        let argv0 = std::fs::read(path.join("cmdline")).map(|b| {
            let first = b.split(|&c| c == 0).next().unwrap_or_default();
            String::from_utf8_lossy(first).into_owned()
        });
        if comm.is_err() && argv0.is_err() {
            continue;
        }
        out.push(Proc { comm: comm.unwrap_or_default(), argv0: argv0.unwrap_or_default() });
    }
    Ok(out)
}
