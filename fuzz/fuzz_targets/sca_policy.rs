//! The SCA policy loader on arbitrary text (policies come from the server's bundles and
//! from operators' files): never a panic, every error has a line inside the text, and a
//! policy that loads also runs (against an empty root, commands off) without a panic.
#![no_main]

use bposhield_endpoint::sca::{self, Env, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1) + 1;
    match Policy::parse(text) {
        Ok(p) => {
            let env = Env {
                root: std::path::PathBuf::from("/nonexistent-fuzz-root"),
                proc_root: std::path::PathBuf::from("/nonexistent-fuzz-proc"),
                command_timeout: std::time::Duration::from_millis(10),
                allow_commands: false,
            };
            let r = sca::run(&p, &env);
            assert_eq!(r.checks.len(), p.checks.len());
        }
        Err(errs) => {
            assert!(!errs.is_empty());
            for e in errs {
                assert!(e.line <= lines, "error line {} past the text's {} lines", e.line, lines);
            }
        }
    }
});
