//! An ICMP packet read from the raw or packet socket (IPv4 header first, as the kernel
//! gives it): an echo reply to our identifier and nonce, or nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::probe;

fuzz_target!(|data: &[u8]| {
    let key = probe::Match { ident: 0xbeef, nonce: 0x7767_6673_6166_6521, dst: None };
    if let Some((_, seq)) = probe::reply_of(data, &key) {
        // An accepted reply is an intact one: IPv4, ICMP, whole header, message and nonce.
        assert!(data.len() >= 36 && data[0] >> 4 == 4 && data[9] == 1, "accepted {data:?} as seq {seq}");
    }
});
