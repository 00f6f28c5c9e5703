//! Every ledger parser that reads outside input (checkpoints, keys, signed notes, bundle
//! proof lines, entries) must reject bad input with an error, never panic.
#![no_main]
use bposhield_ledger::{bundle, entry, note};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

// The Go reference key (golang.org/x/mod/sumdb/note): a fixed, valid verifier so that
// `open` gets past key parsing and exercises signature-line matching.
const KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fn key() -> Option<&'static note::VerifierKey> {
    static K: OnceLock<Option<note::VerifierKey>> = OnceLock::new();
    K.get_or_init(|| note::VerifierKey::parse(KEY).ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = note::Checkpoint::parse(text);
        let _ = note::VerifierKey::parse(text);
        let _ = note::SignerKey::from_file_text(text);
        if let Some(k) = key() {
            let _ = note::open(text, k);
            let _ = note::open_checkpoint(text, k);
        }
        let _ = bundle::parse_proof_line(text);
        let _ = entry::check_canonical(text);
    }
});
