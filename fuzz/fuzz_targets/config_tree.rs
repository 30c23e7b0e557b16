//! config.boot and `cli-shell-api showConfig`: the tree, the peers it configures and
//! what `init` derives from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::{edgeos, init};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let root = edgeos::parse_config_tree(&text);
    let _ = edgeos::peers_of(&root);
    let _ = edgeos::config_boot_peers(&text, "wg0");
    let derived = init::derive(&root, None);
    let _ = derived.missing_required();
    let _ = derived.to_text("fuzz");
});
