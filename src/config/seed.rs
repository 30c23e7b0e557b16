//! The seed script's newer keys, read beside ours: WG_PORT (WG_ENDPOINT_PORT's other
//! name), ALERT_ENABLED/ALERT_URL/ALERT_METHOD (its alert, accepted with one note that
//! says how to move to ON_CHANGE: wg-failsafe sends nothing itself), and whether a file
//! is the seed's, where an unknown key is a note rather than a stopped failsafe.

use std::path::Path;

use super::keys::Entries;

/// The keys only the seed script's newer versions read: WG_PORT is WG_ENDPOINT_PORT's
/// other name; ALERT_* its built-in alert, which this tool leaves to ON_CHANGE.
pub(super) const ONLY_KEYS: [&str; 4] = ["WG_PORT", "ALERT_ENABLED", "ALERT_URL", "ALERT_METHOD"];

/// The seed's configuration file name (`/config/user-data/wireguard-failsafe.conf`).
const FILE_NAME: &str = "wireguard-failsafe.conf";

/// Whether the file was written for the seed script: it holds a key only the seed
/// reads, or it has the seed's file name. In such a file a key unknown here is one of
/// the seed's (its versions add keys) and is a note, not a stopped failsafe; in a file
/// written for wg-failsafe it is a typo, and an error.
pub(super) fn is_seed_file(path: &Path, entries: &Entries) -> bool {
    ONLY_KEYS.iter().any(|k| entries.contains_key(k)) || path.file_name().is_some_and(|n| n == FILE_NAME)
}

/// WG_PORT, the seed's name for the port, becomes WG_ENDPOINT_PORT (on WG_PORT's line);
/// both given with different values is an error naming both lines.
pub(super) fn port_alias(entries: &mut Entries) -> Result<(), (usize, String)> {
    let Some(alias) = entries.remove("WG_PORT") else {
        return Ok(());
    };
    match entries.get("WG_ENDPOINT_PORT") {
        None => {
            entries.insert("WG_ENDPOINT_PORT", alias);
            Ok(())
        }
        Some(port) => {
            let same = port.value == alias.value
                || matches!((port.value.parse::<u16>(), alias.value.parse::<u16>()), (Ok(a), Ok(b)) if a == b);
            if same {
                return Ok(());
            }
            Err((
                alias.line.max(port.line),
                format!(
                    "WG_PORT (line {}) and WG_ENDPOINT_PORT (line {}) name different ports; keep one of them",
                    alias.line, port.line
                ),
            ))
        }
    }
}

/// The one note about the seed's ALERT_* keys: accepted, nothing sent; ON_CHANGE does it.
pub(super) fn alert_note(entries: &Entries) -> Option<String> {
    let first = ONLY_KEYS[1..].iter().filter_map(|k| entries.get(k)).map(|e| e.line).min()?;
    let off = entries.get("ALERT_ENABLED").is_some_and(|e| matches!(e.value.as_str(), "false" | "0" | "no" | "off"));
    if off {
        return Some(format!(
            "line {first}: ALERT_ENABLED, ALERT_URL and ALERT_METHOD (the seed script's alert, switched off) \
             do nothing here: delete the ALERT_ lines (ON_CHANGE sends alerts: README, Notifications)"
        ));
    }
    Some(format!(
        "line {first}: ALERT_ENABLED, ALERT_URL and ALERT_METHOD (the seed script's alert) are accepted but \
         nothing is sent: set ON_CHANGE to a program that sends it (README, Notifications: \
         the seed's ntfy alert as ON_CHANGE) and delete the ALERT_ lines"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::keys::tests::MINIMAL;
    use super::super::parse;
    use std::path::Path;

    fn parse_at(path: &str, text: &str) -> Result<crate::config::Config, String> {
        parse(Path::new(path), text).map_err(|e| e.to_string())
    }

    #[test]
    fn wg_port_is_wg_endpoint_ports_other_name() {
        let c = parse_at("/t.conf", &format!("{MINIMAL}WG_PORT=\"51821\"\n")).expect("WG_PORT accepted");
        assert_eq!((c.wg_endpoint_port, c.notes.len()), (51821, 0));
        let c = parse_at("/t.conf", &format!("{MINIMAL}WG_PORT=51821\nWG_ENDPOINT_PORT=51821\n")).expect("same port");
        assert_eq!(c.wg_endpoint_port, 51821);
        // The value is checked as WG_ENDPOINT_PORT's, on WG_PORT's line.
        assert_eq!(
            parse_at("/t.conf", &format!("{MINIMAL}WG_PORT=99999\n")).expect_err("out of range"),
            "/t.conf:8: WG_ENDPOINT_PORT: `99999` is out of range (1..=65535)"
        );
    }

    #[test]
    fn wg_port_and_wg_endpoint_port_that_differ_name_both_lines() {
        let e = parse_at("/t.conf", &format!("WG_ENDPOINT_PORT=51820\n{MINIMAL}WG_PORT=51821\n")).expect_err("differ");
        assert_eq!(
            e,
            "/t.conf:9: WG_PORT (line 9) and WG_ENDPOINT_PORT (line 1) name different ports; keep one of them"
        );
        let e = parse_at("/t.conf", &format!("{MINIMAL}WG_PORT=1\nWG_PORT=1\n")).expect_err("twice");
        assert_eq!(e, "/t.conf:9: WG_PORT is set twice (first on line 8)");
    }

    #[test]
    fn the_seeds_alert_keys_are_accepted_with_one_note_naming_on_change() {
        let text = format!("{MINIMAL}ALERT_ENABLED=true\nALERT_URL=\"https://ntfy.sh/topic\"\nALERT_METHOD=POST\n");
        let c = parse_at("/t.conf", &text).expect("accepted");
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(c.notes[0].starts_with("line 8: ALERT_ENABLED, ALERT_URL and ALERT_METHOD"), "{}", c.notes[0]);
        assert!(c.notes[0].contains("set ON_CHANGE"), "{}", c.notes[0]);
        assert!(!c.notes[0].contains("ntfy.sh/topic"), "the URL holds a secret topic: {}", c.notes[0]);
        // Same tables, same everything else: the alert changes nothing of the failsafe.
        let plain = parse_at("/t.conf", MINIMAL).expect("minimal");
        assert_eq!(crate::config::Config { notes: Vec::new(), ..c }, plain);
    }

    #[test]
    fn an_unknown_key_is_a_note_in_the_seeds_file_and_an_error_in_ours() {
        // The seed's own key marks its file; so does its file name.
        let c = parse_at("/t.conf", &format!("{MINIMAL}ALERT_ENABLED=false\nCHECK_INTERVAL=60\n")).expect("seed");
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        assert!(c.notes[0].starts_with("line 9: unknown key `CHECK_INTERVAL` ignored (the seed script's file"));
        assert!(c.notes[1].contains("(the seed script's alert, switched off) do nothing here"), "{}", c.notes[1]);
        let c = parse_at("/config/user-data/wireguard-failsafe.conf", &format!("{MINIMAL}CHECK_INTERVAL=60\n"))
            .expect("the seed's file name");
        assert_eq!(
            c.notes,
            ["line 8: unknown key `CHECK_INTERVAL` ignored (the seed script's file: its keys are not all known here)"]
        );
        // Ours: a typo stops the tool, as before.
        assert_eq!(
            parse_at("/config/user-data/wg-failsafe.conf", &format!("{MINIMAL}CHECK_INTERVAL=60\n")).expect_err("typo"),
            "/config/user-data/wg-failsafe.conf:8: unknown key `CHECK_INTERVAL`"
        );
        // A known key with a bad value is an error in the seed's file too.
        assert!(parse_at("/t.conf", &format!("{MINIMAL}WG_PORT=x\nFOO=1\n")).is_err());
    }
}
