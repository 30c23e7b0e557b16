//! A DNS reply to an A query, as the LAN check and a name endpoint's lookup read it (its
//! answers, through CNAME chains and compression pointers).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::dns;

fuzz_target!(|data: &[u8]| {
    // The id the packet carries, so that the reader gets past the header.
    let id = u16::from_be_bytes([data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0)]);
    let _ = dns::lookup_of(id, "vps.example.net", data);
});
