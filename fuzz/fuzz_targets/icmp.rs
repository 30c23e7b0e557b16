//! An ICMP packet read from the raw or packet socket (IPv4 header first, as the kernel
//! gives it): an echo reply to our identifier, or nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::probe;

fuzz_target!(|data: &[u8]| {
    if let Some((_, seq)) = probe::reply_of(data, 0xbeef) {
        // An accepted reply is an intact one: IPv4, ICMP, whole header and message.
        assert!(data.len() >= 28 && data[0] >> 4 == 4 && data[9] == 1, "accepted {data:?} as seq {seq}");
    }
});
