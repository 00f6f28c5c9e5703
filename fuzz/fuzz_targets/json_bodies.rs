//! The JSON body extractor behind every API route: any bytes give a value or a coded
//! error, never a panic.
#![no_main]
use bposhield_proto::*;
use bposhield_server::api::parse_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_json::<PersonInput>(data);
    let _ = parse_json::<UserInput>(data);
    let _ = parse_json::<SiteInput>(data);
    let _ = parse_json::<GrantInput>(data);
    let _ = parse_json::<TokenCreate>(data);
});
