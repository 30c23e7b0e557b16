//! `show load-balance status` as EdgeOS prints it, and the verdict read from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::edgeos;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let status = edgeos::parse_lb_status(&text);
    let _ = edgeos::lb_down(&status, "eth0");
    let _ = edgeos::lb_down(&status, "pppoe0");
});
