//! config.boot and `cli-shell-api showConfig`: the tree, the peers it configures and
//! what `init` derives from it. Inputs go up to 1 MiB (scripts/fuzz.sh sets -max_len for
//! this target) so that nesting past edgeos::MAX_DEPTH is reached, and a deep input is
//! also built from a short one: its first byte says how deep to nest the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::{edgeos, init};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((&depth, rest)) = data.split_first() {
        // 0..=255 levels of `n {` around the rest: both sides of MAX_DEPTH.
        let deep = "n {\n".repeat(usize::from(depth)) + &String::from_utf8_lossy(rest);
        let checked = edgeos::parse_config_tree_checked(&deep);
        assert!(usize::from(depth) <= edgeos::MAX_DEPTH || checked.is_err(), "{depth} levels accepted");
    }
    let root = edgeos::parse_config_tree(&text);
    let _ = edgeos::peers_of(&root);
    let _ = edgeos::config_boot_peers(&text, "wg0");
    let mut derived = init::derive(&root, &init::Given::default());
    let _ = derived.missing_required();
    let _ = derived.to_text("fuzz");
    init::derive_v6(&mut derived, Err("fuzz".into()));
    // And with every option given (the owner's answers to the refusals).
    let lan = ["192.168.0.0/16".to_string()];
    let given = init::Given::new(Some("10.11.0.1"), Some("198.51.100.7:51821"), &lan, Some("wg1"));
    if let Ok(given) = given {
        let _ = init::derive(&root, &given).to_text("fuzz");
    }
});
