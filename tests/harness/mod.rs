//! The namespace lab's harness, shared by the lab test files (`tests/lab.rs`,
//! `tests/lab_neighbours.rs`): a `Lab` brought up by `tests/lab/lab.sh` and torn down on
//! drop, the tool's runs in the router namespace, the tables and the LAN's traffic as the
//! tests compare them, the daemon, and the small waits and files the tests share.
//!
//! Each test file is its own crate and uses a part of this module only.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const ISP1: &str = "198.51.100.2";
pub const ISP2: &str = "198.51.100.6";
pub const VPS: &str = "198.51.100.10";
// What the echo server reports for the same three paths over IPv6 (a dual-stack lab).
pub const ISP1_6: &str = "[2001:0db8:0000:0001:0000:0000:0000:0002]";
pub const ISP2_6: &str = "[2001:0db8:0000:0002:0000:0000:0000:0002]";
pub const VPS_6: &str = "[2001:0db8:0000:0003:0000:0000:0000:0002]";

pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

pub fn sh(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One lab instance; torn down on drop, also when a test fails.
pub struct Lab {
    pub id: String,
    pub dir: PathBuf,
}

/// What one run of the tool printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Lab {
    /// `tag` (at most 4 characters) must be unique among the tests of this file.
    pub fn up(tag: &str, env: &[(&str, &str)]) -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{tag}{}", (std::process::id() * 7 + n) % 10_000);
        let lab = Lab { dir: PathBuf::from(format!("/tmp/wfs-lab-{id}")), id };
        // A lab left by a killed earlier run with the same name goes first.
        sh(Command::new(lab_script()).args(["down", &lab.id]));
        let out = sh(Command::new(lab_script()).args(["up", &lab.id]).envs(env.iter().copied()));
        assert!(out.status.success(), "lab up failed: {}{}", text(&out.stdout), text(&out.stderr));
        lab
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.join("wg-failsafe.conf")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("wg-failsafe.log")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Runs `lab.sh CMD ID ARGS…`.
    pub fn script(&self, cmd: &str, args: &[&str]) -> Output {
        sh(Command::new(lab_script()).arg(cmd).arg(&self.id).args(args))
    }

    pub fn ctl(&self, cmd: &str, arg: &str) {
        let out = self.script(cmd, &[arg]);
        assert!(out.status.success(), "lab {cmd} {arg}: {}", text(&out.stderr));
    }

    /// The tool, in the router namespace, with `args` after `-c <lab config>`.
    pub fn tool_with(&self, conf: &Path, args: &[&str]) -> Run {
        let out = sh(Command::new("ip")
            .args(["netns", "exec", &format!("{}-rtr", self.id), env!("CARGO_BIN_EXE_wg-failsafe"), "-c"])
            .arg(conf)
            .args(args));
        Run { code: out.status.code().unwrap_or(-1), stdout: text(&out.stdout), stderr: text(&out.stderr) }
    }

    pub fn tool(&self, args: &[&str]) -> Run {
        self.tool_with(&self.conf(), args)
    }

    /// `run` under strace, sent SIGKILL at its `n`th call of `syscall`; whether it was
    /// killed (a run that makes fewer such calls ends as usual).
    pub fn run_killed_at(&self, syscall: &str, n: u32) -> bool {
        let out = sh(Command::new("ip")
            .args(["netns", "exec", &format!("{}-rtr", self.id), "strace", "-f", "-o", "/dev/null", "-e"])
            .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
            .arg(env!("CARGO_BIN_EXE_wg-failsafe"))
            .arg("-c")
            .arg(self.conf())
            .arg("run"));
        out.status.code() != Some(0)
    }

    /// `run`, which must exit 0.
    pub fn run_ok(&self) -> Run {
        let r = self.tool(&["run"]);
        assert_eq!(r.code, 0, "run failed:\n{}{}", r.stdout, r.stderr);
        r
    }

    /// The router's `ip -4/-6 route show table all` and `ip -4/-6 rule show`, with the
    /// seconds left of a router advertisement's lifetime taken out (they tick).
    pub fn tables(&self) -> String {
        let t = text(&self.script("tables", &[]).stdout);
        t.lines()
            .map(|l| match l.find(" expires ") {
                Some(i) => {
                    let rest = &l[i + 9..];
                    let end = rest.find(' ').unwrap_or(rest.len());
                    format!("{} expires{}", &l[..i], &rest[end..])
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// The source address the echo server saw for `client`'s IPv6 request to `port`.
    pub fn fetch6(&self, client: &str, port: u16) -> String {
        let out = self.script("fetch6", &[client, &port.to_string()]);
        if !out.status.success() {
            eprintln!("IPv6 {client}:{port}: {}", text(&out.stderr).trim());
        }
        text(&out.stdout).trim().to_string()
    }

    /// Every (client, port) pair's IPv6 leaves through `via` (the load balancer sends
    /// 8081 to ISP 2 unless the failsafe is on).
    pub fn assert_traffic6_via(&self, via: &str) {
        for client in ["c1", "c2"] {
            for port in [80, 8080, 8081] {
                let expected = if via == ISP1_6 && port == 8081 { ISP2_6 } else { via };
                assert_eq!(self.fetch6(client, port), expected, "IPv6 {client} to port {port}");
            }
        }
    }

    /// The source address the echo server saw for `client`'s request to `port`.
    pub fn fetch(&self, client: &str, port: u16) -> String {
        text(&self.script("fetch", &[client, &port.to_string()]).stdout).trim().to_string()
    }

    pub fn resolves(&self, client: &str) -> bool {
        self.script("resolve", &[client]).status.success()
    }

    /// Every (client, port) pair leaves through `via`; DNS works from both LAN subnets.
    pub fn assert_traffic_via(&self, via: &str) {
        for client in ["c1", "c2"] {
            for port in [80, 8080, 8081] {
                let expected = if via == VPS {
                    VPS
                } else if port == 8081 {
                    ISP2
                } else {
                    via
                };
                assert_eq!(self.fetch(client, port), expected, "{client} to port {port}");
            }
            assert!(self.resolves(client), "DNS from {client}");
        }
    }

    /// A copy of the lab config with some keys replaced or added.
    pub fn conf_variant(&self, name: &str, changes: &[(&str, &str)]) -> PathBuf {
        let mut lines: Vec<String> =
            fs::read_to_string(self.conf()).expect("lab config").lines().map(String::from).collect();
        for (key, value) in changes {
            lines.retain(|l| !l.starts_with(&format!("{key}=")));
            lines.push(format!("{key}={value}"));
        }
        self.conf_file(name, &(lines.join("\n") + "\n"))
    }

    /// A configuration file of the lab with this text, root's and 0600 as the tool wants.
    pub fn conf_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, text).expect("write config");
        chmod(&path, 0o600);
        path
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Runs a shell command in the router namespace; it must succeed.
    pub fn rtr(&self, cmd: &str) -> String {
        let out = self.script("exec", &["rtr", "sh", "-c", cmd]);
        assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// `run` with `conf`, which must exit `code`.
    pub fn run_expect(&self, conf: &Path, code: i32) -> Run {
        let r = self.tool_with(conf, &["run"]);
        assert_eq!(r.code, code, "run exited {}:\n{}{}\nlog:\n{}", r.code, r.stdout, r.stderr, self.log());
        r
    }

    /// Every (client, port) pair leaves through ISP 2, the backup, directly (FALLBACK).
    pub fn assert_traffic_via_backup(&self) {
        for client in ["c1", "c2"] {
            for port in [80, 8080, 8081] {
                assert_eq!(self.fetch(client, port), ISP2, "{client} to port {port}");
            }
            assert!(self.resolves(client), "DNS from {client}");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        sh(Command::new(lab_script()).args(["down", &self.id]));
    }
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The IPv4 default routes of one table, as `ip route show table T` prints them (`ip -6`
/// ends every route with its router preference: those are IPv6's).
pub fn table_defaults(tables: &str, table: &str) -> Vec<String> {
    tables
        .lines()
        .filter(|l| l.starts_with("default") || l.starts_with("unreachable default"))
        .filter(|l| !l.contains(" pref "))
        .filter(|l| match table {
            "main" => !l.contains(" table "),
            t => l.contains(&format!(" table {t} ")),
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// No line of `ip -4/-6 route show table all` / `ip -4/-6 rule show` appears twice in
/// its section.
pub fn assert_no_duplicates(tables: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in tables.lines() {
        if line.starts_with("== ") {
            seen.clear();
        }
        assert!(seen.insert(line), "duplicated: {line}\n{tables}");
    }
}

/// The state every managed table must be in while the failsafe is active.
pub fn assert_failsafe_tables(lab: &Lab) {
    assert_target_tables(lab, &format!("via 10.11.0.1 dev {}w", lab.id));
}

/// Every managed table's only winning default goes `via` (the tunnel, or the backup
/// gateway when the failsafe fell back), with the rules and the endpoint route in place.
pub fn assert_target_tables(lab: &Lab, via: &str) {
    let t = lab.tables();
    for table in ["10", "201", "202"] {
        assert_eq!(
            table_defaults(&t, table),
            [format!("default {via} table {table} proto static metric 40")],
            "table {table}\n{t}"
        );
    }
    let main = table_defaults(&t, "main");
    assert_eq!(main[0], format!("default {via} proto static metric 40"), "{t}");
    for rule in [
        "69:\tfrom 192.168.10.0/24 lookup main",
        "69:\tfrom all fwmark 0x65 lookup main",
        "69:\tfrom all fwmark 0x66 lookup main",
        "69:\tfrom all fwmark 0x100/0xf00 lookup main",
    ] {
        assert!(t.contains(rule), "missing rule {rule}\n{t}");
    }
    assert!(t.contains(&format!("{VPS} via 192.168.2.1 dev eth1 proto static metric 190")), "{t}");
    assert!(t.contains(&format!("69:\tfrom all to {VPS} lookup main")), "no endpoint rule\n{t}");
    assert_no_duplicates(&t);
}

/// The router's VPS peer as `wg show IFACE dump` gives its settings: public key, preshared
/// key, endpoint, allowed IPs and keepalive (not its handshake or counters).
pub fn peer_settings(lab: &Lab) -> Vec<String> {
    let dump = lab.rtr(&format!("wg show {}w dump", lab.id));
    let peer = dump.lines().nth(1).unwrap_or_else(|| panic!("no peer in:\n{dump}"));
    let f: Vec<&str> = peer.split('\t').collect();
    [0, 1, 2, 3, 7].iter().map(|i| f.get(*i).copied().unwrap_or("?").to_string()).collect()
}

/// Waits (up to 10 s) until the router's peer has completed a handshake.
pub fn wait_for_handshake(lab: &Lab) {
    let started = Instant::now();
    while lab.rtr(&format!("wg show {}w latest-handshakes", lab.id)).split_whitespace().nth(1) == Some("0") {
        assert!(started.elapsed() < Duration::from_secs(10), "no handshake over the primary");
        sleep(Duration::from_millis(100));
    }
}

/// A child process killed when the test lets go of it (also when it fails).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

// ---------------------------------------------------------------------------------------
// The daemon

/// A `wg-failsafe daemon` in the router namespace; killed on drop (itself, not only
/// what started it: a tracer killed lets its tracee run on).
pub struct Daemon {
    pub child: std::process::Child,
    netns: String,
}

impl Daemon {
    /// Starts the daemon with `conf` (optionally under `wrap`, e.g. strace) and waits for
    /// it to say so in the log.
    pub fn start(lab: &Lab, conf: &Path, wrap: &[&str]) -> Daemon {
        Daemon::start_from(lab, Path::new(env!("CARGO_BIN_EXE_wg-failsafe")), conf, wrap)
    }

    /// [`Daemon::start`] of the binary at `exe` (a copy the test may replace).
    pub fn start_from(lab: &Lab, exe: &Path, conf: &Path, wrap: &[&str]) -> Daemon {
        let netns = format!("{}-rtr", lab.id);
        let child = Command::new("ip")
            .args(["netns", "exec", &netns])
            .args(wrap)
            .arg(exe)
            .arg("-c")
            .arg(conf)
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the daemon");
        let d = Daemon { child, netns };
        wait_for(lab, "daemon started", Duration::from_secs(10));
        d
    }

    pub fn signal(&self, sig: &str) {
        let out = sh(Command::new("kill").args(["-s", sig, &self.child.id().to_string()]));
        assert!(out.status.success(), "kill -s {sig}: {}", text(&out.stderr));
    }

    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Any wg-failsafe still in the namespace is the daemon (detached by its tracer).
        let pids = text(&sh(Command::new("ip").args(["netns", "pids", &self.netns])).stdout);
        for pid in pids.split_whitespace() {
            if fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "wg-failsafe") {
                sh(Command::new("kill").args(["-KILL", pid]));
                while Path::new(&format!("/proc/{pid}/comm")).exists()
                    && fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
                {
                    sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

/// Waits until the log holds `what` (at least `n` times); the time it took.
pub fn wait_for_n(lab: &Lab, what: &str, n: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    while lab.log().matches(what).count() < n {
        assert!(started.elapsed() < timeout, "no `{what}` (x{n}) within {timeout:?}; log:\n{}", lab.log());
        sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// The daemon's own figure of its last switch: "tables switched N ms after the kernel's
/// event", waited for (up to 5 s).
pub fn switched_ms(lab: &Lab) -> u64 {
    wait_for(lab, "tables switched", Duration::from_secs(5));
    let log = lab.log();
    log.rsplit("tables switched ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no switch time in:\n{log}"))
}

pub fn wait_for(lab: &Lab, what: &str, timeout: Duration) -> Duration {
    wait_for_n(lab, what, 1, timeout)
}

/// The daemon's configuration: rounds every 200 ms, down after 1 s without a passing
/// one, failback after 2 s.
pub fn daemon_conf(lab: &Lab, name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let mut keys = vec![("PROBE_INTERVAL_MS", "200"), ("DOWN_AFTER_MS", "1000"), ("UP_AFTER_S", "2")];
    keys.extend_from_slice(extra);
    lab.conf_variant(name, &keys)
}

/// Writes an executable shell script (root's, 0755) into the lab's directory.
pub fn lab_script_file(lab: &Lab, name: &str, body: &str) -> PathBuf {
    let path = lab.dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write script");
    chmod(&path, 0o755);
    path
}

/// An ON_CHANGE program that appends `EVENT|REASON` to the file it returns second.
pub fn recording_hook(lab: &Lab) -> (PathBuf, PathBuf) {
    let out = lab.dir.join("hook.out");
    let hook = lab_script_file(lab, "hook.sh", &format!("echo \"$WGF_EVENT|$WGF_REASON\" >> {}\n", out.display()));
    (hook, out)
}

pub fn wait_for_file(path: &Path, what: &str, timeout: Duration) -> String {
    let started = Instant::now();
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        assert!(started.elapsed() < timeout, "no `{what}` in {} within {timeout:?}:\n{text}", path.display());
        sleep(Duration::from_millis(20));
    }
}
