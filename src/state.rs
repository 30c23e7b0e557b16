//! STATE_DIR: what must survive between ticks and across a crash.
//!
//! - `state`: the recorded mode and a few counters (`key=value` lines).
//! - `snapshot`: the default routes of every managed table as they were before
//!   activation touched anything, one route per line in `ip route` words. Written once,
//!   atomically (temporary file, fsync, rename, fsync of the directory), and reused, never
//!   rewritten, by a later run that finds it.
//! - `journal`: write-ahead list of what activation added (`route …` / `rule …` lines),
//!   appended and fsynced *before* each addition, so a run killed at any point never
//!   leaves a route or rule that a later run would mistake for the user's.
//!
//! All three live on `/var/run`, which is RAM: a reboot clears them together with the
//! routes they describe.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::netlink::route::Route;
use crate::netlink::rule::Rule;

/// A state file that cannot be read or understood.
#[derive(Debug)]
pub struct StateError {
    pub path: PathBuf,
    pub detail: String,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.detail)
    }
}

impl std::error::Error for StateError {}

/// The recorded mode and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub failsafe: bool,
    /// Wall-clock time of the last switch, for humans (status); never used for timing.
    pub since_unix_s: u64,
    pub activations: u64,
    pub deactivations: u64,
    /// How long the last activation or deactivation took.
    pub last_switch_ms: u64,
}

impl Record {
    fn to_text(&self) -> String {
        format!(
            "mode={}\nsince={}\nactivations={}\ndeactivations={}\nlast_switch_ms={}\n",
            if self.failsafe { "failsafe" } else { "normal" },
            self.since_unix_s,
            self.activations,
            self.deactivations,
            self.last_switch_ms
        )
    }

    fn parse(text: &str) -> Result<Record, String> {
        let mut r = Record::default();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = || format!("line {}: cannot read `{line}`", i + 1);
            let (k, v) = line.split_once('=').ok_or_else(bad)?;
            let num = || v.parse::<u64>().map_err(|_| bad());
            match k {
                "mode" => {
                    r.failsafe = match v {
                        "failsafe" => true,
                        "normal" => false,
                        _ => return Err(bad()),
                    }
                }
                "since" => r.since_unix_s = num()?,
                "activations" => r.activations = num()?,
                "deactivations" => r.deactivations = num()?,
                "last_switch_ms" => r.last_switch_ms = num()?,
                _ => return Err(bad()),
            }
        }
        Ok(r)
    }
}

/// Something activation added and deactivation must take back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Route(Route),
    Rule(Rule),
}

impl fmt::Display for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owned::Route(r) => write!(f, "route {r}"),
            Owned::Rule(r) => write!(f, "rule {r}"),
        }
    }
}

impl std::str::FromStr for Owned {
    type Err = String;

    fn from_str(s: &str) -> Result<Owned, String> {
        match s.split_once(' ') {
            Some(("route", r)) => Ok(Owned::Route(r.parse()?)),
            Some(("rule", r)) => Ok(Owned::Rule(r.parse()?)),
            _ => Err(format!("`{s}` is neither a route nor a rule")),
        }
    }
}

/// The state directory.
pub struct State {
    dir: PathBuf,
}

impl State {
    pub fn new(dir: &Path) -> State {
        State { dir: dir.to_path_buf() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn error(&self, name: &str, detail: impl fmt::Display) -> StateError {
        StateError { path: self.path(name), detail: detail.to_string() }
    }

    /// Reads a file; `None` if it does not exist.
    fn read(&self, name: &str) -> Result<Option<String>, StateError> {
        match fs::read_to_string(self.path(name)) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(name, e)),
        }
    }

    fn ensure_dir(&self) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)
    }

    /// Replaces `name` atomically: temporary file, fsync, rename, fsync the directory.
    fn write_atomic(&self, name: &str, text: &str) -> Result<(), StateError> {
        let tmp = self.path(&format!(".{name}.tmp"));
        let result = (|| -> io::Result<()> {
            self.ensure_dir()?;
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(name))?;
            File::open(&self.dir)?.sync_all()
        })();
        result.map_err(|e| self.error(name, e))
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        match fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.error(name, e)),
            _ => Ok(()),
        }
    }

    /// The recorded mode; a missing file is "normal, never switched".
    pub fn record(&self) -> Result<Record, StateError> {
        match self.read("state")? {
            None => Ok(Record::default()),
            Some(t) => Record::parse(&t).map_err(|e| self.error("state", e)),
        }
    }

    pub fn write_record(&self, r: &Record) -> Result<(), StateError> {
        self.write_atomic("state", &r.to_text())
    }

    pub fn snapshot_exists(&self) -> bool {
        self.path("snapshot").exists()
    }

    /// The saved default routes, if a snapshot exists.
    pub fn snapshot(&self) -> Result<Option<Vec<Route>>, StateError> {
        let Some(text) = self.read("snapshot")? else { return Ok(None) };
        let mut routes = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            routes.push(line.parse().map_err(|e| self.error("snapshot", format_args!("line {}: {e}", i + 1)))?);
        }
        Ok(Some(routes))
    }

    pub fn write_snapshot(&self, routes: &[Route], taken_unix_s: u64) -> Result<(), StateError> {
        let mut text = format!(
            "# wg-failsafe snapshot taken at unix time {taken_unix_s}: the default routes of every managed table\n"
        );
        for r in routes {
            text.push_str(&format!("{r}\n"));
        }
        self.write_atomic("snapshot", &text)
    }

    pub fn remove_snapshot(&self) -> Result<(), StateError> {
        self.remove("snapshot")
    }

    /// What activation added. A last line cut short by a crash is ignored: it was
    /// written before its addition, so the addition never happened.
    pub fn journal(&self) -> Result<Vec<Owned>, StateError> {
        let Some(text) = self.read("journal")? else { return Ok(Vec::new()) };
        let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
        let mut owned = Vec::new();
        for (i, line) in complete.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let item = line.parse().map_err(|e| self.error("journal", format_args!("line {}: {e}", i + 1)))?;
            if !owned.contains(&item) {
                owned.push(item);
            }
        }
        Ok(owned)
    }

    /// Records `item` as about to be added, durably, before it is added.
    pub fn journal_append(&self, item: &Owned) -> Result<(), StateError> {
        let result = (|| -> io::Result<()> {
            self.ensure_dir()?;
            let path = self.path("journal");
            let created = !path.exists();
            let mut f = OpenOptions::new().append(true).create(true).mode(0o600).open(&path)?;
            f.write_all(format!("{item}\n").as_bytes())?;
            f.sync_all()?;
            if created {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        result.map_err(|e| self.error("journal", e))
    }

    pub fn clear_journal(&self) -> Result<(), StateError> {
        self.remove("journal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wgfs-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn record_round_trip_and_default() {
        let d = temp_dir("record");
        let s = State::new(&d);
        assert_eq!(s.record().expect("missing file is fine"), Record::default());
        let r = Record {
            failsafe: true,
            since_unix_s: 1_700_000_000,
            activations: 3,
            deactivations: 2,
            last_switch_ms: 41,
        };
        s.write_record(&r).expect("write");
        assert_eq!(s.record().expect("read back"), r);
        fs::write(d.join("state"), "mode=maybe\n").expect("write");
        assert_eq!(
            s.record().expect_err("bad mode").to_string(),
            format!("{}: line 1: cannot read `mode=maybe`", d.join("state").display())
        );
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn snapshot_round_trip() {
        let d = temp_dir("snap");
        let s = State::new(&d);
        assert!(s.snapshot().expect("absent").is_none());
        let routes: Vec<Route> = [
            "default via 192.168.1.1 dev eth0 table main proto static metric 100",
            "default via 192.168.1.1 dev eth0 table 201 proto static onlink mtu 1492",
        ]
        .iter()
        .map(|t| t.parse().expect("valid"))
        .collect();
        s.write_snapshot(&routes, 5).expect("write");
        assert!(s.snapshot_exists());
        assert_eq!(s.snapshot().expect("read"), Some(routes));
        assert!(!d.join(".snapshot.tmp").exists());
        s.remove_snapshot().expect("remove");
        s.remove_snapshot().expect("removing twice is fine");
        assert!(!s.snapshot_exists());
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn journal_ignores_a_torn_last_line_and_duplicates() {
        let d = temp_dir("journal");
        let s = State::new(&d);
        assert!(s.journal().expect("absent").is_empty());
        let a: Owned =
            "route 203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190".parse().expect("ok");
        let b: Owned = "rule priority 69 from 192.168.10.0/24 lookup main".parse().expect("ok");
        s.journal_append(&a).expect("append");
        s.journal_append(&b).expect("append");
        s.journal_append(&a).expect("append");
        let mut f = OpenOptions::new().append(true).open(d.join("journal")).expect("open");
        f.write_all(b"route default via 10.11").expect("torn write");
        assert_eq!(s.journal().expect("read"), vec![a, b]);
        s.clear_journal().expect("clear");
        assert!(s.journal().expect("cleared").is_empty());
        fs::remove_dir_all(&d).ok();
    }
}
