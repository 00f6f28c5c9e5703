//! The vault's header and body-preamble parsers on arbitrary bytes (a stored
//! object is outside input once the disk or bucket can be written by others):
//! never a panic; whatever parses re-encodes to the same bytes; and opening
//! a body under arbitrary segment bytes fails cleanly.
#![no_main]

use bposhield_vault::format::{Header, Opener, Params};
use bposhield_vault::keys::DataKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::decode(data) {
        assert_eq!(h.encode(), data);
    }
    if let Ok(p) = Params::from_preamble(data) {
        assert_eq!(&p.preamble()[..], &data[..40]);
        if let Ok(key) = DataKey::random() {
            let len = u64::from(u16::from_le_bytes([data.get(40).copied().unwrap_or(0), data.get(41).copied().unwrap_or(0)]));
            let o = Opener::new(&key, p, len);
            let mut seg = data[40..].to_vec();
            assert!(o.open(0, &mut seg).is_err(), "random bytes authenticated");
        }
    }
});
