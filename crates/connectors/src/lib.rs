//! Identity targets.
