//! HR CSV import: the people file and the activity feeds (badge, login, attendance).
//!
//! Every row is checked and either becomes a record or a [`Rejected`] entry with the
//! physical line number (header = line 1) and a reason an HR person can act on. Only
//! problems that make the whole file unusable (empty, required columns missing) are
//! errors; one bad row never stops the other 299,999.

use crate::dates::{parse_date, parse_timestamp};
use crate::model::{HrRecord, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A field of [`HrRecord`], as named in a [`ColumnMapping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HrField {
    EmployeeId,
    GivenName,
    FamilyName,
    Email,
    Login,
    Site,
    Process,
    Team,
    ManagerEmployeeId,
    JobRole,
    Status,
    StatusReason,
    HireDate,
    ExitDate,
}

impl HrField {
    /// Every field, in the default header order.
    pub const ALL: [Self; 14] = [
        Self::EmployeeId,
        Self::GivenName,
        Self::FamilyName,
        Self::Email,
        Self::Login,
        Self::Site,
        Self::Process,
        Self::Team,
        Self::ManagerEmployeeId,
        Self::JobRole,
        Self::Status,
        Self::StatusReason,
        Self::HireDate,
        Self::ExitDate,
    ];

    /// The field's name (also its default column header).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EmployeeId => "employee_id",
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::Email => "email",
            Self::Login => "login",
            Self::Site => "site",
            Self::Process => "process",
            Self::Team => "team",
            Self::ManagerEmployeeId => "manager_employee_id",
            Self::JobRole => "job_role",
            Self::Status => "status",
            Self::StatusReason => "status_reason",
            Self::HireDate => "hire_date",
            Self::ExitDate => "exit_date",
        }
    }

    /// Fields every row must have. A family name is not among them: many staff have a
    /// single name.
    #[must_use]
    pub fn is_required(self) -> bool {
        matches!(self, Self::EmployeeId | Self::GivenName | Self::JobRole | Self::Status | Self::HireDate)
    }
}

/// Which CSV column (by header, matched case-insensitively) feeds which field. Stored as
/// JSON `{"employee_id": "Emp No", …}`; unknown field names are rejected when read.
/// Optional fields may be left out; their columns may also be absent from a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ColumnMapping {
    columns: BTreeMap<HrField, String>,
}

impl Default for ColumnMapping {
    /// Every field read from the column of the same name.
    fn default() -> Self {
        Self { columns: HrField::ALL.iter().map(|f| (*f, f.name().to_owned())).collect() }
    }
}

/// A mapping the importer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the column mapping could not be read: {0}")]
    Json(String),
    #[error("the column mapping does not say which column holds the required field {0}")]
    RequiredUnmapped(&'static str),
    #[error("the column mapping gives field {0} an empty column name")]
    EmptyHeader(&'static str),
}

impl ColumnMapping {
    /// Reads and validates a stored mapping.
    ///
    /// # Errors
    /// Malformed JSON, an unknown field name, or a [`ColumnMapping::validate`] error.
    pub fn from_json(text: &str) -> Result<Self, MappingError> {
        let m: Self = serde_json::from_str(text).map_err(|e| MappingError::Json(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Reads `field` from the column headed `header`.
    pub fn set(&mut self, field: HrField, header: impl Into<String>) {
        self.columns.insert(field, header.into());
    }

    /// Stops reading `field` (an optional field then stays empty).
    pub fn unset(&mut self, field: HrField) {
        self.columns.remove(&field);
    }

    /// The column header for `field`, if mapped.
    #[must_use]
    pub fn header(&self, field: HrField) -> Option<&str> {
        self.columns.get(&field).map(String::as_str)
    }

    /// Every required field mapped, no empty header.
    ///
    /// # Errors
    /// See [`MappingError`].
    pub fn validate(&self) -> Result<(), MappingError> {
        for f in HrField::ALL {
            match self.columns.get(&f) {
                None if f.is_required() => return Err(MappingError::RequiredUnmapped(f.name())),
                Some(h) if h.trim().is_empty() => return Err(MappingError::EmptyHeader(f.name())),
                _ => {}
            }
        }
        Ok(())
    }
}

/// A file the importer cannot read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("the header row (line 1) has no column named {}", .0.join(", "))]
    MissingColumns(Vec<String>),
    #[error("the header row (line 1) names column {0:?} twice")]
    DuplicateColumn(String),
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Physical line in the file where the row starts; the header is line 1.
    pub line: u64,
    /// The column at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ParseReport {
    /// Valid rows with their line numbers. Dates are normalised `YYYY-MM-DD`, status
    /// lower case, text trimmed.
    pub records: Vec<(u64, HrRecord)>,
    pub rejected: Vec<Rejected>,
}

/// Longest value accepted in any cell; longer ones are pasted garbage, not names.
pub const MAX_FIELD_LEN: usize = 256;
/// Longest employee number or login.
pub const MAX_ID_LEN: usize = 64;

/// Parses an HR people file.
///
/// # Errors
/// Only for problems with the whole file; bad rows are in [`ParseReport::rejected`].
pub fn parse(bytes: &[u8], mapping: &ColumnMapping) -> Result<ParseReport, FileError> {
    mapping.validate()?;
    let mut rows = Rows::new(bytes);
    let mut row = csv::ByteRecord::new();
    let header = read_header(&mut rows, &mut row)?.ok_or(FileError::Empty)?;
    let width = header.len();
    let mut cols: [Option<usize>; 14] = [None; 14];
    let mut missing = Vec::new();
    for (i, f) in HrField::ALL.iter().enumerate() {
        let Some(h) = mapping.header(*f) else { continue };
        cols[i] = header.get(&h.trim().to_lowercase()).copied();
        if cols[i].is_none() && f.is_required() {
            missing.push(h.to_owned());
        }
    }
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }

    let mut report = ParseReport::default();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    while let Some(line) = next_row(&mut rows, &mut row, &mut report.rejected) {
        if row.len() != width {
            report.rejected.push(reject(
                line,
                None,
                format!("the row has {} columns, the header has {width}", row.len()),
            ));
            continue;
        }
        match record(&row, &cols) {
            Err((field, reason)) => report.rejected.push(reject(line, Some(field.name()), reason)),
            Ok(rec) => match first_seen.get(rec.employee_id.as_str()) {
                Some(first) => report.rejected.push(reject(
                    line,
                    Some(HrField::EmployeeId.name()),
                    format!("employee id {} already appears on line {first}", rec.employee_id),
                )),
                None => {
                    first_seen.insert(rec.employee_id.clone(), line);
                    report.records.push((line, rec));
                }
            },
        }
    }
    Ok(report)
}

/// What an activity event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Badge,
    Login,
    Attendance,
}

/// One badge-in, login or attendance mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub employee_id: String,
    pub kind: ActivityKind,
    pub at: Time,
}

/// Parses an activity feed with columns `employee_id,kind,at` (any order, any case;
/// other columns ignored). `at` is RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or Unix
/// seconds. Timestamps in the future are the caller's to judge: the parser has no clock.
/// A file-level problem comes back as a single rejection of line 1.
#[must_use]
pub fn parse_activity(bytes: &[u8]) -> (Vec<ActivityEvent>, Vec<Rejected>) {
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    let mut rows = Rows::new(bytes);
    let mut row = csv::ByteRecord::new();
    let header = match read_header(&mut rows, &mut row) {
        Ok(Some(h)) => h,
        Ok(None) => return (events, vec![reject(1, None, FileError::Empty.to_string())]),
        Err(e) => return (events, vec![reject(1, None, e.to_string())]),
    };
    let cols: Vec<Option<usize>> = ["employee_id", "kind", "at"].iter().map(|c| header.get(*c).copied()).collect();
    let [Some(c_emp), Some(c_kind), Some(c_at)] = cols[..] else {
        let missing: Vec<String> = ["employee_id", "kind", "at"]
            .iter()
            .zip(&cols)
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| (*n).to_owned())
            .collect();
        return (events, vec![reject(1, None, FileError::MissingColumns(missing).to_string())]);
    };
    let width = header.len();
    while let Some(line) = next_row(&mut rows, &mut row, &mut rejected) {
        if row.len() != width {
            rejected.push(reject(line, None, format!("the row has {} columns, the header has {width}", row.len())));
            continue;
        }
        let get = |i: usize, name: &'static str| -> Result<&str, (&'static str, String)> {
            match cell(&row, i, false) {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err((name, format!("{name} is empty"))),
                Err(reason) => Err((name, reason)),
            }
        };
        let event = (|| {
            let employee_id = get(c_emp, "employee_id")?;
            check_id(employee_id).map_err(|r| ("employee_id", r))?;
            let kind = match get(c_kind, "kind")?.to_ascii_lowercase().as_str() {
                "badge" => ActivityKind::Badge,
                "login" => ActivityKind::Login,
                "attendance" => ActivityKind::Attendance,
                other => return Err(("kind", format!("kind {other:?} is not one of badge, login, attendance"))),
            };
            let at_text = get(c_at, "at")?;
            let at = parse_timestamp(at_text).ok_or_else(|| {
                (
                    "at",
                    format!(
                        "{at_text:?} is not a time (use 2024-05-01T08:30:00Z, 2024-05-01 08:30:00 or Unix seconds)"
                    ),
                )
            })?;
            Ok(ActivityEvent { employee_id: employee_id.to_owned(), kind, at })
        })();
        match event {
            Ok(e) => events.push(e),
            Err((field, reason)) => rejected.push(reject(line, Some(field), reason)),
        }
    }
    (events, rejected)
}

/// The latest event per employee: what the engine's activity map needs (after the server
/// maps employee numbers to person ids).
#[must_use]
pub fn latest_by_employee(events: &[ActivityEvent]) -> HashMap<String, Time> {
    let mut out: HashMap<String, Time> = HashMap::new();
    for e in events {
        let t = out.entry(e.employee_id.clone()).or_insert(e.at);
        *t = (*t).max(e.at);
    }
    out
}

/// A csv reader plus our own line count. The csv crate's `Position::line` lags by one
/// in CRLF files (the `\n` of the previous row is consumed with the next one), and HR
/// staff open these files in Excel: line numbers must match what they see.
struct Rows<'a> {
    rdr: csv::Reader<&'a [u8]>,
    data: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> Rows<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let data = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
        let rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(data);
        Self { rdr, data, at: 0, line: 1 }
    }

    /// The physical line where the row starting at byte `pos` begins.
    fn line_at(&mut self, pos: Option<&csv::Position>) -> u64 {
        let mut to = pos.map_or(self.at, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX)).min(self.data.len());
        while to < self.data.len() && matches!(self.data[to], b'\r' | b'\n') {
            to += 1;
        }
        if to > self.at {
            // `\r\n`, `\n` and a lone `\r` (old Mac exports) each end one line.
            let chunk = &self.data[self.at..to];
            let ends = chunk
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && chunk.get(i + 1) != Some(&b'\n')));
            self.line += ends.count() as u64;
            self.at = to;
        }
        self.line
    }
}

/// Lower-cased, trimmed header → column index.
fn read_header(rows: &mut Rows<'_>, row: &mut csv::ByteRecord) -> Result<Option<HashMap<String, usize>>, FileError> {
    match rows.rdr.read_byte_record(row) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Ok(None),
    }
    let mut header = HashMap::new();
    for (i, h) in row.iter().enumerate() {
        let name = String::from_utf8_lossy(h).trim().to_lowercase();
        if name.is_empty() {
            continue;
        }
        if header.insert(name.clone(), i).is_some() {
            return Err(FileError::DuplicateColumn(name));
        }
    }
    if header.is_empty() {
        return Ok(None);
    }
    Ok(Some(header))
}

/// The next row's line number, or `None` at the end. The csv reader only fails on I/O,
/// which a byte slice cannot; should it ever, the rest of the file is reported rejected.
fn next_row(rows: &mut Rows<'_>, row: &mut csv::ByteRecord, rejected: &mut Vec<Rejected>) -> Option<u64> {
    match rows.rdr.read_byte_record(row) {
        Ok(true) => Some(rows.line_at(row.position())),
        Ok(false) => None,
        Err(e) => {
            let line = rows.line_at(e.position());
            rejected.push(reject(line, None, format!("the file could not be read from here on: {e}")));
            None
        }
    }
}

fn reject(line: u64, field: Option<&str>, reason: String) -> Rejected {
    Rejected { line, field: field.map(str::to_owned), reason }
}

/// A trimmed cell, `None` when empty or absent. Line breaks and tabs are only allowed in
/// free text (`multiline`); in names and codes they are copy-paste accidents.
fn cell(row: &csv::ByteRecord, i: usize, multiline: bool) -> Result<Option<&str>, String> {
    let Some(raw) = row.get(i) else { return Ok(None) };
    let text = std::str::from_utf8(raw).map_err(|_| "the value is not valid UTF-8 text".to_owned())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_FIELD_LEN {
        return Err(format!("the value is longer than {MAX_FIELD_LEN} characters"));
    }
    if text.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err("the value contains control characters (line breaks, tabs)".to_owned());
    }
    Ok(Some(text))
}

fn record(row: &csv::ByteRecord, cols: &[Option<usize>; 14]) -> Result<HrRecord, (HrField, String)> {
    let mut v: [Option<&str>; 14] = [None; 14];
    for (i, f) in HrField::ALL.iter().enumerate() {
        if let Some(c) = cols[i] {
            v[i] = cell(row, c, *f == HrField::StatusReason).map_err(|r| (*f, r))?;
        }
        if v[i].is_none() && f.is_required() {
            return Err((*f, format!("{} is required but empty", f.name())));
        }
    }
    let get = |f: HrField| v[f as usize];
    let req = |f: HrField| get(f).unwrap_or_default().to_owned();
    let opt = |f: HrField| get(f).map(str::to_owned);

    let employee_id = req(HrField::EmployeeId);
    check_id(&employee_id).map_err(|r| (HrField::EmployeeId, r))?;
    if let Some(m) = get(HrField::ManagerEmployeeId) {
        check_id(m).map_err(|r| (HrField::ManagerEmployeeId, r))?;
    }
    if let Some(e) = get(HrField::Email) {
        if !is_email(e) {
            return Err((HrField::Email, format!("{e:?} is not an email address")));
        }
    }
    if let Some(l) = get(HrField::Login) {
        if l.len() > MAX_ID_LEN || l.chars().any(char::is_whitespace) {
            return Err((
                HrField::Login,
                format!("login {l:?} must be at most {MAX_ID_LEN} characters without spaces"),
            ));
        }
    }
    let status = req(HrField::Status).to_ascii_lowercase();
    if !matches!(status.as_str(), "active" | "suspended" | "terminated") {
        return Err((HrField::Status, format!("status {status:?} is not one of active, suspended, terminated")));
    }
    let date = |f: HrField| -> Result<Option<Time>, (HrField, String)> {
        get(f)
            .map(|d| {
                parse_date(d)
                    .ok_or_else(|| (f, format!("{} {d:?} is not a calendar date in the form YYYY-MM-DD", f.name())))
            })
            .transpose()
    };
    let hire = date(HrField::HireDate)?;
    let exit = date(HrField::ExitDate)?;
    if let (Some(h), Some(x)) = (hire, exit) {
        if x < h {
            return Err((HrField::ExitDate, "exit_date is before hire_date".to_owned()));
        }
    }
    Ok(HrRecord {
        employee_id,
        given_name: req(HrField::GivenName),
        family_name: req(HrField::FamilyName),
        email: opt(HrField::Email),
        login: opt(HrField::Login),
        site: req(HrField::Site),
        process: opt(HrField::Process),
        team: opt(HrField::Team),
        manager_employee_id: opt(HrField::ManagerEmployeeId),
        job_role: req(HrField::JobRole),
        status,
        status_reason: opt(HrField::StatusReason),
        hire_date: req(HrField::HireDate),
        exit_date: opt(HrField::ExitDate),
    })
}

/// Employee numbers travel into LDAP filters, file names and URLs: letters, digits and
/// `. _ -` only.
fn check_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_LEN {
        return Err(format!("employee id must be at most {MAX_ID_LEN} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(format!("employee id {id:?} may only contain letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// The shape only (one `@`, a dotted domain, no spaces): whether the mailbox exists is
/// not the importer's business.
fn is_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !e.chars().any(char::is_whitespace)
        && e.len() <= 254
}
