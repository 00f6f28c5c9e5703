//! The configuration file parser must reject bad input with an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = bposhield_server::Config::from_toml(text, "fuzz.toml");
    }
});
