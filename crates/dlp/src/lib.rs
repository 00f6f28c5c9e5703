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
//! This first part is [`validate`]: pure, allocation-free checksum and
//! structure validators over ASCII byte slices.

pub mod validate;
