//! The configuration file: any text is a configuration or an error naming the line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wg_failsafe::config::parse(Path::new("/fuzz/wg-failsafe.conf"), text);
    }
});
