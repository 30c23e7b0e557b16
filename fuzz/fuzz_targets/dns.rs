//! A DNS reply from the LAN resolver.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::dns;

fuzz_target!(|data: &[u8]| {
    let id = data.first().map_or(0, |b| u16::from(*b) << 8 | u16::from(*b));
    let _ = dns::parse_reply(id, data);
});
