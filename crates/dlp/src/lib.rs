//! bposhield PII detection and redaction engine.
//!
//! What belongs here, once complete:
//! - **detectors**: find candidate PII (card numbers, SSNs, Aadhaar, PAN, IBAN,
//!   routing numbers, ...) in text, each confirmed by a validator so that a
//!   random run of digits is not reported as a card number;
//! - **redaction**: replace or mask the confirmed spans;
//! - **streaming scan**: the same over chunked input without buffering it all.
//!
//! What does not belong here: HTTP, databases, configuration loading. The
//! server and connectors call into this crate, never the other way round.
//!
//! Modules:
//! - [`validate`]: pure, allocation-free checksum and structure validators
//!   over ASCII byte slices;
//! - [`scan`]: [`scan::scan`] finds card numbers, SSNs, Aadhaar, PAN, IBAN,
//!   e-mail addresses and (with a keyword nearby) ABA routing numbers, each
//!   confirmed by a validator and scored, with overlaps resolved;
//! - [`redact`]: [`redact::redact`] masks or tokenises (keyed HMAC) the
//!   found spans;
//! - [`stream`]: [`stream::StreamScanner`] and [`stream::scan_reader`] run
//!   the scan over chunked input in bounded memory, with global offsets.
//! - [`corpus`]: a seeded generator of labelled synthetic call transcripts;
//! - [`eval`]: [`eval::evaluate`] scores a detector against that corpus.

mod context;
pub mod corpus;
mod digits;
pub mod eval;
pub mod redact;
pub mod scan;
pub mod spoken;
pub mod stream;
mod swar;
mod unicode;
pub mod validate;
