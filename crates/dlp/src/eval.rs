//! Scores a detector against a labelled corpus ([`crate::corpus`]): per-kind
//! true positives, false positives and misses, precision and recall, and the
//! same for spoken values.
//!
//! # Matching
//!
//! Spans match when they **overlap** and have the **same kind**; exact
//! boundaries are not required, because detectors legitimately differ on
//! them (a phone number's `+`, a spoken value's trailing "oh") and the cost
//! of PII leaking is the same either way.
//!
//! - A label with an overlapping same-kind prediction is a true positive
//!   (`tp`), otherwise a miss (`fn_`). A prediction spanning two labels
//!   finds both.
//! - A prediction that overlaps no same-kind label is a false positive
//!   (`fp`), counted once however many other-kind labels it touches.
//! - Precision is `tp / (tp + fp)` and recall `tp / (tp + fn_)`: `tp` counts
//!   labels found, `fp` predictions wasted. Either is 1.0 when its
//!   denominator is 0.
//! - The spoken row counts labels with `spoken == true` (found or missed by
//!   any same-kind prediction) and predictions with `spoken == true` that
//!   overlap no same-kind label (its `fp`).
//! - Empty spans overlap nothing.

use std::fmt;

use serde::ser::SerializeStruct;

use crate::corpus::Doc;
use crate::scan::{Finding, Kind};

/// Counts for one row of a [`Report`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    /// Labels found.
    pub tp: usize,
    /// Predictions that match no label.
    pub fp: usize,
    /// Labels missed.
    pub fn_: usize,
}

impl Score {
    /// Number of labels (`tp + fn_`).
    pub fn labels(&self) -> usize {
        self.tp + self.fn_
    }

    /// `tp / (tp + fp)`, 1.0 when there is neither.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn_)`, 1.0 when there are no labels.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn add(&mut self, other: Score) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

/// The [`Score`] of one kind; serialized as `{kind, labels, tp, fp, fn, precision,
/// recall}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KindScore {
    /// The kind scored.
    pub kind: Kind,
    /// Its counts.
    #[serde(flatten)]
    pub score: Score,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// One row per kind that has labels or predictions, in [`Kind::ALL`] order.
    pub per_kind: Vec<KindScore>,
    /// All kinds together (micro-average).
    pub total: Score,
    /// Spoken labels and spoken predictions only.
    pub spoken: Score,
    /// Documents scored.
    pub docs: usize,
    /// Bytes of text scored.
    pub bytes: usize,
}

/// The accuracy targets (minimum precision and recall) per type of the PII
/// engine: 0.99 for card, SSN, Aadhaar, PAN, IBAN and e-mail, 0.97
/// for phone.
pub const TARGETS: &[(Kind, f64)] = &[
    (Kind::Card, 0.99),
    (Kind::Ssn, 0.99),
    (Kind::Aadhaar, 0.99),
    (Kind::Pan, 0.99),
    (Kind::Iban, 0.99),
    (Kind::Email, 0.99),
    (Kind::Phone, 0.97),
];

/// Target for numbers spoken as words, all types together.
pub const SPOKEN_TARGET: f64 = 0.97;

/// Runs `predict` over every document and scores its findings against the
/// labels (see the module documentation for the matching rules).
pub fn evaluate(docs: &[Doc], mut predict: impl FnMut(&str) -> Vec<Finding>) -> Report {
    let mut per_kind = [Score::default(); Kind::ALL.len()];
    let mut seen = [false; Kind::ALL.len()];
    let mut spoken = Score::default();
    let mut bytes = 0;
    // Reused per document: spans of one kind sorted by start, with the
    // running maximum of their ends, so that "does anything overlap
    // [s, e)?" is one binary search.
    let mut labels = Spans::default();
    let mut preds = Spans::default();
    for doc in docs {
        bytes += doc.text.len();
        let found = predict(&doc.text);
        for (k, &kind) in Kind::ALL.iter().enumerate() {
            labels.fill(doc.labels.iter().filter(|l| l.kind == kind).map(|l| (l.start, l.end, l.spoken)));
            preds.fill(found.iter().filter(|f| f.kind == kind).map(|f| (f.start, f.end, f.spoken)));
            if labels.spans.is_empty() && preds.spans.is_empty() {
                continue;
            }
            seen[k] = true;
            let row = &mut per_kind[k];
            for &(s, e, is_spoken) in &labels.spans {
                let hit = preds.overlaps(s, e);
                if hit {
                    row.tp += 1;
                } else {
                    row.fn_ += 1;
                }
                if is_spoken {
                    if hit {
                        spoken.tp += 1;
                    } else {
                        spoken.fn_ += 1;
                    }
                }
            }
            for &(s, e, is_spoken) in &preds.spans {
                if !labels.overlaps(s, e) {
                    row.fp += 1;
                    if is_spoken {
                        spoken.fp += 1;
                    }
                }
            }
        }
    }
    let mut total = Score::default();
    let rows = Kind::ALL
        .iter()
        .zip(per_kind)
        .zip(seen)
        .filter(|&(_, seen)| seen)
        .map(|((&kind, s), _)| {
            total.add(s);
            KindScore { kind, score: s }
        })
        .collect();
    Report { per_kind: rows, total, spoken, docs: docs.len(), bytes }
}

impl fmt::Display for Report {
    /// An aligned table: kind, labels, tp, fp, fn, precision, recall; then
    /// the total and spoken rows and the corpus size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "kind", "labels", "tp", "fp", "fn", "precision", "recall"
        )?;
        for row in &self.per_kind {
            write_row(f, row.kind.name(), row.score)?;
        }
        write_row(f, "all", self.total)?;
        write_row(f, "spoken", self.spoken)?;
        write!(f, "{} docs, {} bytes", self.docs, self.bytes)
    }
}

fn write_row(f: &mut fmt::Formatter<'_>, name: &str, s: Score) -> fmt::Result {
    writeln!(
        f,
        "{:<14} {:>8} {:>8} {:>8} {:>8} {:>9.4} {:>8.4}",
        name,
        s.labels(),
        s.tp,
        s.fp,
        s.fn_,
        s.precision(),
        s.recall()
    )
}

/// Serialized with its derived figures: `{labels, tp, fp, fn, precision, recall}`.
impl serde::Serialize for Score {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("Score", 6)?;
        st.serialize_field("labels", &self.labels())?;
        st.serialize_field("tp", &self.tp)?;
        st.serialize_field("fp", &self.fp)?;
        st.serialize_field("fn", &self.fn_)?;
        st.serialize_field("precision", &self.precision())?;
        st.serialize_field("recall", &self.recall())?;
        st.end()
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// Spans `(start, end, spoken)` of one kind in one document, and an index
/// over the non-empty ones: their starts in order with the running maximum
/// of their ends, so that "does anything overlap `[s, e)`?" is one binary
/// search.
#[derive(Default)]
struct Spans {
    spans: Vec<(usize, usize, bool)>,
    index: Vec<(usize, usize)>,
}

impl Spans {
    fn fill(&mut self, spans: impl Iterator<Item = (usize, usize, bool)>) {
        self.spans.clear();
        self.spans.extend(spans);
        self.spans.sort_unstable();
        self.index.clear();
        let mut max = 0;
        for &(s, e, _) in &self.spans {
            if s < e {
                max = max.max(e);
                self.index.push((s, max));
            }
        }
    }

    /// Whether any non-empty span overlaps `[s, e)` (never, if that is empty).
    fn overlaps(&self, s: usize, e: usize) -> bool {
        // Of the spans starting before `e`, one overlaps iff the largest end
        // among them is past `s`.
        let n = self.index.partition_point(|&(start, _)| start < e);
        s < e && n > 0 && self.index[n - 1].1 > s
    }
}
