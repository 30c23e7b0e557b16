//! A DNS reply: to the LAN check's query (its header), and to a name endpoint's (its
//! answers, through CNAME chains and compression pointers).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::dns;

fuzz_target!(|data: &[u8]| {
    let id = data.first().map_or(0, |b| u16::from(*b) << 8 | u16::from(*b));
    let _ = dns::parse_reply(id, data);
    // The id the packet carries, so that the reader gets past the header.
    let id = u16::from_be_bytes([data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0)]);
    let _ = dns::lookup_of(id, "vps.example.net", data);
});
