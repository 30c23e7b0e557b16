//! ON_CHANGE: the owner's program, run after every state change (for notifications).
//!
//! It must never delay a switch, never hold the lock and never outlive HOOK_TIMEOUT_S,
//! and a failure must be logged even though `run` exits long before the program does.
//! So the tool forks a watcher and goes on. The watcher (a session of its own, every
//! descriptor of the tool closed so that neither the lock nor a netlink socket stays
//! held, stdio on /dev/null) starts the program without a shell in a process group of
//! its own, kills that group at HOOK_TIMEOUT_S, logs a failure, and exits. The tool
//! waits only for the middle process of the double fork, which exits at once: a daemon
//! is left no zombie. The tool is single-threaded, so the forked copy may allocate.
//!
//! ON_CHANGE runs as root, so it is run only while only root can change it: the file
//! and every directory above it root's and not writable by group or others
//! ([`crate::trust::program_problem`]), checked before the fork and again right before
//! the exec. A program that fails the check is not run, and that is logged once (not
//! again while the same reason holds).
//!
//! The changes of one sequence (`activated` then `fallback`) go to one watcher, which
//! runs the program for each in turn: the owner hears of them in the order they happened.

use std::ffi::OsStr;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::log::Logger;
use crate::netlink::route::table_name;
use crate::os::{Child, Group, Spawn, Status};
use crate::traffic::Bytes;

/// One state change as the program is told it.
pub struct Notice {
    /// `activated`, `fallback`, `tunnel-restored`, `deactivated`, `backup-down`,
    /// `backup-up`, `budget` or `error`.
    pub event: String,
    pub reason: String,
    /// How long the switch took, for the events that switch tables.
    pub ms: Option<u64>,
    /// The managed tables (empty when none is known yet).
    pub tables: Vec<u32>,
    /// Flows CONNTRACK_FLUSH reset after the switch (`None`: no switch, or not flushed).
    pub flows: Option<usize>,
    /// With several tunnels: the one that carries the LAN (empty: none, the tables are
    /// on the backup or the failsafe is off). `None` with one tunnel: no WGF_TUNNEL.
    pub tunnel: Option<String>,
    /// `deactivated`: the bytes of the outage it ended, tunnel and backup together.
    pub bytes: Option<Bytes>,
}

impl Notice {
    /// WGF_EVENT, WGF_REASON, WGF_MS (empty when nothing was switched), WGF_TABLES
    /// (table names, space separated), WGF_FLOWS (flows reset after the switch; empty
    /// when nothing was switched or CONNTRACK_FLUSH could not run), WGF_BYTES_RX and
    /// WGF_BYTES_TX (the outage's bytes in and out, at `deactivated`; empty otherwise) and,
    /// with several tunnels, WGF_TUNNEL (the interface that carries the LAN, empty when
    /// none does).
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let tables: Vec<String> = self.tables.iter().map(|t| table_name(*t)).collect();
        let tunnel = self.tunnel.iter().map(|t| ("WGF_TUNNEL", t.clone()));
        [
            ("WGF_EVENT", self.event.clone()),
            ("WGF_REASON", self.reason.clone()),
            ("WGF_MS", self.ms.map(|m| m.to_string()).unwrap_or_default()),
            ("WGF_TABLES", tables.join(" ")),
            ("WGF_FLOWS", self.flows.map(|n| n.to_string()).unwrap_or_default()),
            ("WGF_BYTES_RX", self.bytes.map(|b| b.rx.to_string()).unwrap_or_default()),
            ("WGF_BYTES_TX", self.bytes.map(|b| b.tx.to_string()).unwrap_or_default()),
        ]
        .into_iter()
        .chain(tunnel)
        .collect()
    }
}

/// Starts ON_CHANGE for each of `notices` in turn, detached; returns at once (nothing
/// when ON_CHANGE is empty or there is nothing to tell).
pub fn notify(cfg: &Config, log: &Logger, notices: &[Notice]) {
    let Some(n) = notices.first() else { return };
    let Some(program) = cfg.on_change.first() else { return };
    if let Some(why) = crate::trust::program_problem(std::path::Path::new(program)) {
        refused_once(
            log,
            &format!("ON_CHANGE {program} not run for `{}`: {why}; only root may be able to change it", n.event),
        );
        return;
    }
    // The watcher: a grandchild in a session of its own, detached from every descriptor.
    let started = crate::os::run_detached(
        || {
            let log = log.append_only();
            for n in notices {
                run(cfg, &log, n);
            }
        },
        |e| log.warn(&format!("ON_CHANGE not run for {}: fork: {e}", n.event)),
    );
    if let Err(e) = started {
        log.warn(&format!("ON_CHANGE not run for {}: fork: {e}", n.event));
    }
}

/// The last refusal logged, so that the same one is logged once (a daemon's state
/// changes, the notices of one sequence), and a new reason at once.
static REFUSED: Mutex<String> = Mutex::new(String::new());

fn refused_once(log: &Logger, message: &str) {
    let why = message.split_once(": ").map_or(message, |(_, why)| why);
    let mut last = REFUSED.lock().unwrap_or_else(|e| e.into_inner());
    if *last != why {
        log.warn(message);
        *last = why.to_string();
    }
}

/// Runs the program for one notice until it ends or HOOK_TIMEOUT_S; logs a failure.
fn run(cfg: &Config, log: &Logger, n: &Notice) {
    let program = &cfg.on_change[0];
    // Again right before the exec: whoever could change it since is root.
    if let Some(why) = crate::trust::program_problem(std::path::Path::new(program)) {
        refused_once(log, &format!("ON_CHANGE {program} not run for `{}`: {why}", n.event));
        return;
    }
    let timeout = Duration::from_secs(cfg.hook_timeout_s);
    let argv: Vec<&OsStr> = cfg.on_change.iter().map(OsStr::new).collect();
    let failure = match Child::spawn(&argv, &n.environment(), Spawn { stdout_pipe: false, group: Group::New }) {
        Err(e) => Some(format!("cannot be started: {e}")),
        Ok(mut child) => {
            let deadline = Instant::now() + timeout;
            let group = child.pid();
            // The program's group goes when the program ends or at the deadline: what it
            // left running (a `curl … &`) goes with it. The program is only looked at
            // (WNOWAIT) until then, so its unreaped zombie keeps the group's id from
            // being reused by another process before the kill.
            let timed_out = loop {
                if crate::os::has_exited(group) {
                    break false;
                }
                if Instant::now() >= deadline {
                    break true;
                }
                sleep(Duration::from_millis(20));
            };
            // The group the still-unreaped child leads.
            crate::os::kill_group(group);
            match child.wait() {
                _ if timed_out => Some(format!("killed after HOOK_TIMEOUT_S ({} s)", cfg.hook_timeout_s)),
                Ok(status) => failed(status),
                Err(e) => Some(format!("cannot be waited for: {e}")),
            }
        }
    };
    if let Some(why) = failure {
        log.warn(&format!("ON_CHANGE {program} for `{}`: {why}", n.event));
    }
}

/// What a finished program's status says, if it failed: "exited with status 3",
/// "killed by signal 9".
fn failed(status: Status) -> Option<String> {
    (!status.success()).then(|| status.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_event_its_reason_time_and_tables() {
        let n = Notice {
            event: "activated".into(),
            reason: "primary eth0: no carrier".into(),
            ms: Some(12),
            tables: vec![201, 254],
            flows: Some(3),
            tunnel: None,
            bytes: None,
        };
        let env = n.environment();
        assert_eq!(env[0], ("WGF_EVENT", "activated".to_string()));
        assert_eq!(env[1], ("WGF_REASON", "primary eth0: no carrier".to_string()));
        assert_eq!(env[2], ("WGF_MS", "12".to_string()));
        assert_eq!(env[3], ("WGF_TABLES", "201 main".to_string()));
        assert_eq!(env[4], ("WGF_FLOWS", "3".to_string()));
        assert_eq!((&env[5].1, &env[6].1), (&String::new(), &String::new()), "no bytes but at failback");
        assert_eq!(env.len(), 7, "one tunnel: no WGF_TUNNEL");
        let several = Notice { tunnel: Some("wg1".into()), ..n };
        assert_eq!(several.environment()[7], ("WGF_TUNNEL", "wg1".to_string()));
        let (flows, tunnel) = (None, None);
        let n =
            Notice { event: "error".into(), reason: "x".into(), ms: None, tables: vec![], flows, bytes: None, tunnel };
        assert_eq!(n.environment()[2].1, "");
        assert_eq!(n.environment()[3].1, "");
        assert_eq!(n.environment()[4].1, "");
        let bytes = Some(Bytes { rx: 5_242_880, tx: 81_920 });
        let n = Notice { event: "deactivated".into(), ms: Some(9), bytes, ..n };
        assert_eq!(n.environment()[5], ("WGF_BYTES_RX", "5242880".to_string()));
        assert_eq!(n.environment()[6], ("WGF_BYTES_TX", "81920".to_string()));
    }

    #[test]
    fn a_failure_is_described() {
        assert_eq!(failed(Status::from_raw(0)), None);
        assert_eq!(failed(Status::from_raw(3 << 8)).as_deref(), Some("exited with status 3"));
        assert_eq!(failed(Status::from_raw(9)).as_deref(), Some("killed by signal 9"));
    }
}
