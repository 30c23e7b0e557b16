//! STATE_DIR's files: what reads as a record, a snapshot, a journal or an event line
//! is written back as the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::state::{parse_journal, Event, Record, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = Record::parse(text) {
        assert_eq!(Record::parse(&r.to_text()).as_ref(), Ok(&r), "record");
    }
    if let Ok(s) = Snapshot::parse(text) {
        assert_eq!(Snapshot::parse(&s.to_text(1)).as_ref(), Ok(&s), "snapshot");
    }
    if let Ok(items) = parse_journal(text) {
        let back: String = items.iter().map(|o| format!("{o}\n")).collect();
        assert_eq!(parse_journal(&back).as_ref(), Ok(&items), "journal");
    }
    for line in text.lines() {
        if let Some(e) = Event::parse(line) {
            assert_eq!(Event::parse(&e.to_line()).as_ref(), Some(&e), "event `{line}`");
        }
    }
});
