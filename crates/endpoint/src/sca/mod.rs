//! Security configuration assessment (SCA) in the Wazuh 4.x/5.x policy dialect, so
//! that Wazuh's own policies (`ruleset/sca/*.yml`) and custom ones load unchanged.
//!
//! A policy is YAML with four sections: `policy` (`id`, `file`, `name`, `description`,
//! `references`, `regex_type`), optional `requirements` (`title`, `description`,
//! `condition`, `rules`), optional `variables` (`$name: /path,/other`) and `checks`
//! (`id`, `title` — `name` in 5.x —, `description`, `rationale`, `remediation`,
//! `impact`, `compliance`, `mitre`, `references`, `condition: all|any|none`, `rules`,
//! `regex_type`). [`Policy::parse`] reports every problem at once, each with its line
//! and a stable code ([`codes`]); [`validate`] also returns the warnings; [`run`]
//! evaluates a policy against a host (or a fixture tree) and returns the
//! [`ScanReport`](bposhield_proto::fleet::ScanReport) the agent sends.
//!
//! # Rules
//!
//! `[not ]TYPE:LOCATION[ -> …]`, where `not ` (or `NOT `) negates the whole rule:
//!
//! - `f:/a,/b` a regular file exists; `f:/a -> PATTERN` some line of the file matches.
//! - `d:/dir` a directory exists; `d:/dir -> FILTER` it (recursively) holds a file whose
//!   name matches; `d:/dir -> FILTER -> PATTERN` such a file has a matching line.
//!   `FILTER` is `r:REGEX` or a name (OS_Match-like in OS_Regex policies: a substring,
//!   `^`/`$` anchors, `|`; the exact name in PCRE2 ones).
//! - `p:NAME` a process runs (its `comm`, `argv[0]` or the base name of `argv[0]`);
//!   `NAME` may be a pattern (`p:r:^ntp`).
//! - `c:COMMAND -> PATTERN` some line of the command's output (stdout, then stderr)
//!   matches; `c:COMMAND` the command can be run. Commands run without a shell, split
//!   like Wazuh's `w_strtok` (spaces; double quotes group; a backslash escapes a space,
//!   a quote or a backslash; single quotes are ordinary characters), with `LC_ALL=C`,
//!   stdin from `/dev/null`, in their own process group, killed at the timeout.
//! - `r:HKEY…[ -> VALUE[ -> PATTERN]]` Windows registry: parsed, and "not applicable"
//!   on Linux.
//!
//! Variables (`$name`) are replaced in the location part only, longest name first, as
//! in Wazuh; a variable's comma list becomes a list of files or directories.
//!
//! Patterns: a literal (the whole line equals it), `r:REGEX`, `n:REGEX compare OP N`
//! (the first capture group read as an integer and compared with `<`, `<=`, `==`,
//! `!=`, `>=`, `>`), each optionally negated with `!`, joined with ` && ` (all on one
//! line). See [`pattern`] for the two regex dialects.
//!
//! # Results (Wazuh semantics)
//!
//! A rule is *found*, *not found* or *invalid* (not applicable, with a reason); `not`
//! swaps found and not found and leaves invalid alone. Invalid comes from: a content
//! check on a file or directory that does not exist or cannot be read ("Could not open
//! file '/etc/x'"), a path that is not a regular file, a command that cannot be run,
//! times out or is not allowed, an unreadable process list, a registry rule, a
//! pattern this engine cannot run or that does not compile (Wazuh compiles patterns
//! only when it evaluates them, so a malformed `r:`/`n:` leaves the policy loadable:
//! [`validate`] warns with `BPS-SCA-0009`/`0010` and that check is not applicable). A file *existence* check on a missing file is
//! simply "not found". Checks aggregate like Wazuh (first decisive rule wins):
//!
//! | condition | passed                 | failed                  | not applicable            |
//! |-----------|------------------------|-------------------------|---------------------------|
//! | `all`     | every rule found       | a rule not found        | else (some rule invalid)  |
//! | `any`     | a rule found           | all not found           | else                      |
//! | `none`    | all not found          | a rule found            | else                      |
//!
//! When the `requirements` are not met (anything but "passed"), the policy does not
//! apply to the host: every check is reported "not applicable" with that reason.
//!
//! Severity: a check is `critical` when its `compliance` holds `bposhield: [critical]`
//! (4.x list form or 5.x mapping form), else `normal`. Score:
//! `100 * passed / (passed + failed)`, 0 when nothing applied.
//!
//! Deviations from Wazuh, on purpose: the regex dialect of a policy without
//! `regex_type` follows its dialect (5.x markers — checks with `name`, `compliance` as
//! a mapping, `mitre` — mean PCRE2, as 5.x evaluates everything with PCRE2; otherwise
//! OS_Regex as in 4.x); `c:` without a pattern runs the command (5.x) instead of
//! passing without running it (4.x); the `d:` file filter's `r:` uses the check's
//! engine (4.x always used OS_Regex); outputs and files are read whole, not in 256
//! lines or 2 KiB lines; file reads, directory walks, command outputs and the process
//! list are read once per [`run`] and shared by all checks; `compare =>`/`=<` mean
//! `>=`/`<=` (with a warning; 4.x read them as `==`).

mod eval;
pub(crate) mod exec;
mod parse;
pub mod pattern;
mod yaml;

pub use eval::{report, run};
pub use parse::validate;
pub use pattern::{Pattern, RegexType};

use std::path::PathBuf;
use std::time::Duration;

/// Stable diagnostic codes (`BPS-SCA-00xx`). Errors make a policy unusable; warnings
/// (see [`validate`]) do not.
pub mod codes {
    /// The text is not YAML (error).
    pub const YAML: &str = "BPS-SCA-0001";
    /// The document is empty or not a mapping (error).
    pub const NOT_A_POLICY: &str = "BPS-SCA-0002";
    /// A required section or field is missing (error; `policy.file` only warns).
    pub const MISSING_FIELD: &str = "BPS-SCA-0003";
    /// A field has the wrong type, e.g. a list where text belongs (error).
    pub const WRONG_TYPE: &str = "BPS-SCA-0004";
    /// `condition` is not `all`, `any` or `none` (error).
    pub const UNKNOWN_CONDITION: &str = "BPS-SCA-0005";
    /// Two checks share an id (error).
    pub const DUPLICATE_CHECK_ID: &str = "BPS-SCA-0006";
    /// A check id is not a positive integer (error).
    pub const INVALID_CHECK_ID: &str = "BPS-SCA-0007";
    /// A rule is malformed: unknown type, empty location, bad quoting (error).
    pub const INVALID_RULE: &str = "BPS-SCA-0008";
    /// A regex does not compile in its dialect (warning: as in Wazuh, which compiles
    /// patterns only when it evaluates them, the policy loads and the check is "not
    /// applicable").
    pub const INVALID_REGEX: &str = "BPS-SCA-0009";
    /// An `n:` comparison is malformed: no `compare`, unknown operator, no capture
    /// group, a value that is not an integer (warning, like [`INVALID_REGEX`]).
    pub const INVALID_NUMERIC: &str = "BPS-SCA-0010";
    /// `regex_type` is neither `osregex` nor `pcre2` (error).
    pub const UNKNOWN_REGEX_TYPE: &str = "BPS-SCA-0011";
    /// A variable's name does not start with `$` or its value is not text (error).
    pub const INVALID_VARIABLE: &str = "BPS-SCA-0012";
    /// A rule's location uses a `$variable` that is not defined (warning).
    pub const UNDEFINED_VARIABLE: &str = "BPS-SCA-0013";
    /// A check has more than 255 rules, Wazuh's limit (error).
    pub const TOO_MANY_RULES: &str = "BPS-SCA-0014";
    /// A key appears twice in one mapping; the first one counts (warning).
    pub const DUPLICATE_KEY: &str = "BPS-SCA-0015";
    /// A key this dialect does not know (warning).
    pub const UNKNOWN_FIELD: &str = "BPS-SCA-0016";
    /// Valid PCRE2 the engine cannot run; the check will be not applicable (warning).
    pub const UNSUPPORTED_REGEX: &str = "BPS-SCA-0017";
    /// A registry rule: not applicable on Linux (warning).
    pub const WINDOWS_ONLY: &str = "BPS-SCA-0018";
    /// A deprecated form, read as its modern meaning (`all required`, `compare =>`)
    /// (warning).
    pub const DEPRECATED: &str = "BPS-SCA-0019";
    /// `compliance` or `mitre` in an unexpected shape; ignored (warning).
    pub const COMPLIANCE_FORMAT: &str = "BPS-SCA-0020";
}

/// One problem in a policy, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {code}: {message}")]
pub struct ScaError {
    /// 1-based line of the offending node.
    pub line: usize,
    /// 1-based column of the offending node.
    pub column: usize,
    /// A stable code from [`codes`].
    pub code: &'static str,
    /// What is wrong, naming the field, rule or pattern.
    pub message: String,
}

/// The result of [`validate`]: errors (the policy cannot be used) and warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Problems that make the policy unusable, by line.
    pub errors: Vec<ScaError>,
    /// Problems that do not stop it from running, by line.
    pub warnings: Vec<ScaError>,
}

/// A parsed, ready-to-run policy: variables expanded, regexes compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `policy.id`: the key a scan report is filed under.
    pub id: String,
    /// `policy.name`.
    pub name: String,
    /// `policy.description`.
    pub description: String,
    /// The policy's file name as the policy states it (`policy.file`).
    pub file: Option<String>,
    /// `policy.references`.
    pub references: Vec<String>,
    /// The policy-wide regex dialect (checks may override).
    pub regex_type: RegexType,
    /// When present and not met, no check applies.
    pub requirements: Option<Requirements>,
    /// `$name` → value, as written.
    pub variables: Vec<(String, String)>,
    /// The checks, in policy order.
    pub checks: Vec<Check>,
    /// Problems that do not stop the policy from running (see [`codes`]).
    pub warnings: Vec<ScaError>,
}

/// The policy's precondition: when not met, no check applies to the host.
#[derive(Debug, Clone)]
pub struct Requirements {
    /// `title` (4.x) or `name` (5.x).
    pub title: String,
    pub description: String,
    pub condition: Condition,
    pub rules: Vec<Rule>,
}

/// One check.
#[derive(Debug, Clone)]
pub struct Check {
    /// A positive integer, unique in the policy.
    pub id: i64,
    /// `title` (4.x) or `name` (5.x).
    pub title: String,
    pub description: Option<String>,
    pub rationale: Option<String>,
    pub remediation: Option<String>,
    pub impact: Option<String>,
    pub references: Vec<String>,
    /// `(framework, [controls])`, from the 4.x list or the 5.x mapping.
    pub compliance: Vec<(String, Vec<String>)>,
    /// `(key, [values])` of the 5.x `mitre` mapping.
    pub mitre: Vec<(String, Vec<String>)>,
    pub condition: Condition,
    /// The check's own `regex_type`, else the policy's.
    pub regex_type: RegexType,
    /// The rules, variables expanded and patterns compiled.
    pub rules: Vec<Rule>,
    /// Line of the check in the policy.
    pub line: usize,
}

impl Check {
    /// `critical` when the compliance holds `bposhield: [critical]`, else `normal`.
    pub fn severity(&self) -> &'static str {
        let critical = self
            .compliance
            .iter()
            .any(|(k, v)| k == "bposhield" && v.iter().any(|x| x.eq_ignore_ascii_case("critical")));
        if critical {
            "critical"
        } else {
            "normal"
        }
    }
}

/// How a check combines its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Passed when every rule holds.
    All,
    /// Passed when one rule holds.
    Any,
    /// Passed when no rule holds.
    None,
}

/// One rule of a check or of the requirements.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written.
    pub text: String,
    /// 1-based line of the rule in the policy.
    pub line: usize,
    /// `not ` prefix.
    pub negated: bool,
    pub kind: RuleKind,
}

/// What a rule looks at, variables already expanded.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// `f:` — files (a comma list), optionally a content pattern.
    File { paths: Vec<String>, pattern: Option<Pattern> },
    /// `d:` — directories, optionally a file-name filter and a content pattern.
    Dir { paths: Vec<String>, filter: Option<NameFilter>, pattern: Option<Pattern> },
    /// `p:` — a running process.
    Process { name: Pattern },
    /// `c:` — a command line, its words (`w_strtok` splitting), an output pattern.
    Command { command: String, argv: Vec<String>, pattern: Option<Pattern> },
    /// `r:` — a Windows registry key, value name and data pattern.
    Registry { key: String, value: Option<String>, pattern: Option<Pattern> },
}

/// The file-name filter of a `d:` rule.
#[derive(Debug, Clone)]
pub enum NameFilter {
    /// `r:REGEX` on the file name.
    Regex(Pattern),
    /// OS_Match (OS_Regex policies): `|`-separated alternatives, each a
    /// case-insensitive substring unless anchored with `^`/`$`.
    OsMatch(String),
    /// The exact file name (PCRE2 policies).
    Exact(String),
}

/// Where and how a policy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// The filesystem root: `f:/etc/x` reads `<root>/etc/x` (`/` on a host; tests use a
    /// fixture tree). Absolute symbolic links inside the tree resolve inside it.
    pub root: PathBuf,
    /// Where procfs is: `p:` rules read `<proc_root>/<pid>/{comm,cmdline}`.
    pub proc_root: PathBuf,
    /// How long a `c:` command may run before it is killed (Wazuh: 30 s).
    pub command_timeout: Duration,
    /// Whether `c:` rules may run commands at all; when not, they are "not applicable",
    /// like Wazuh's `sca.remote_commands=0` for policies pushed by the manager.
    pub allow_commands: bool,
}

impl Default for Env {
    /// The host itself: `/`, `/proc`, 30 s, commands allowed (the agent's defaults).
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            proc_root: PathBuf::from("/proc"),
            command_timeout: Duration::from_secs(30),
            allow_commands: true,
        }
    }
}

impl Policy {
    /// Parses and checks a policy, compiling every regex once.
    ///
    /// # Errors
    /// Every error found (not just the first), in line order, each with its line and
    /// code. Warnings go to [`Policy::warnings`].
    pub fn parse(yaml: &str) -> Result<Policy, Vec<ScaError>> {
        parse::parse(yaml).map(|(policy, _)| policy).map_err(|v| v.errors)
    }
}

/// Rule outcome, before aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Found,
    NotFound,
    Invalid(String),
}
