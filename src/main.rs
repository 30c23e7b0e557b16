//! wg-failsafe: keeps an EdgeRouter online when its primary WAN dies by moving every
//! routing table that carries a default route onto a WireGuard tunnel over the backup
//! WAN, and puts every table back exactly as it was when the primary returns.
//!
//! This file is the command line: argument validation, the lock, and the one place that
//! prints errors and chooses the exit code. The work is in the library (src/lib.rs),
//! and its system calls in `wg_failsafe::os`.
#![deny(unsafe_code)]

use wg_failsafe::status::Format;
use wg_failsafe::{check, config, daemon, error, failsafe, init, lock, log, metrics, os, state, status, system};

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use config::Config;
use error::{Context, Error};
use lock::{Lock, LockError};
use log::Logger;
use system::System;

const HELP: &str = "\
wg-failsafe — moves every routing table onto a WireGuard tunnel while the primary WAN is
down, and puts every table back exactly as it was when it returns.

Usage: wg-failsafe [-c FILE] [-n|--dry-run] [-v] <command>

Commands:
  run                      one tick: observe, decide, act (cron, every minute)
  status [--json|--prometheus]
                           mode, health, tunnel, the default routes of every managed table,
                           the outages' bytes; as JSON, or as Prometheus metrics
  activate                 force the failsafe on (still refuses a dead tunnel)
  deactivate               force it off (restores the snapshot)
  check                    every precondition of a failover, one line each (ok, note, WARN,
                           FAIL), change nothing; exit 1 on a FAIL
  transition GROUP IFACE STATE
                           EdgeOS load-balance hook: returns at once, runs a tick detached
  daemon                   stay in the foreground: react to the kernel's events at once and
                           probe every PROBE_INTERVAL_MS; while it runs, `run` does nothing
                           (SIGHUP reloads the configuration, SIGTERM stops, tables as they are)
  init [--config-boot FILE] [--print | -o FILE] [--force] [--peer-ip IP]
       [--endpoint HOST[:PORT]] [--lan PREFIX[,PREFIX...]]... [--wg-iface NAME]
                           write a configuration derived from EdgeOS's own (cli-shell-api, else
                           /config/config.boot) to /config/user-data/wg-failsafe.conf; exit 2,
                           writing nothing, when a required value cannot be derived;
                           each option gives a value it cannot derive (checked as the key
                           it sets: WG_PEER_IP, WG_ENDPOINT[_PORT], LAN_SUBNET, WG_IFACE);
                           --endpoint HOST is the VPS's IPv4 address or host name;
                           --peer-ip (the VPS's tunnel address, inside the interface's
                           prefix) or --wg-iface also choose among WireGuard interfaces

Options:
  -c FILE         configuration file; default: $WG_FAILSAFE_CONF, then
                  /config/user-data/wg-failsafe.conf, then the seed script's
                  /config/user-data/wireguard-failsafe.conf
  -n, --dry-run   print each route/rule change in `ip route`/`ip rule` words; change nothing
  -v, --verbose   also print log messages and changes to stderr
  -V, --version   print the version
  -h, --help      print this help

Exit status: 0 done (including \"nothing to do\"), 1 could not reach the desired state,
2 usage or configuration error (nothing was changed), 75 another instance holds the lock
and `run` gave up waiting.
";

/// The validated command line.
struct Cli {
    config: Option<PathBuf>,
    dry_run: bool,
    verbose: bool,
    command: Cmd,
}

enum Cmd {
    Help,
    Version,
    Run,
    Status { format: Format },
    Activate,
    Deactivate,
    Check,
    Transition { group: String, iface: String, state: String },
    Daemon,
    Init(init::Options),
}

fn parse_args(raw: Vec<OsString>) -> Result<Cli, Error> {
    let usage = |m: String| Error::Usage(format!("{m} (see --help)"));
    let mut args = pico_args::Arguments::from_vec(raw);
    let help = args.contains(["-h", "--help"]);
    let version = args.contains(["-V", "--version"]);
    let dry_run = args.contains(["-n", "--dry-run"]);
    let verbose = args.contains(["-v", "--verbose"]);
    let json = args.contains("--json");
    let prometheus = args.contains("--prometheus");
    let print = args.contains("--print");
    let force = args.contains("--force");
    let path_opt = |args: &mut pico_args::Arguments, key: &'static str| {
        args.opt_value_from_os_str(key, |s| Ok::<_, String>(PathBuf::from(s))).map_err(|e| usage(e.to_string()))
    };
    let config_boot = path_opt(&mut args, "--config-boot")?;
    let out = path_opt(&mut args, "-o")?;
    let text_opt = |args: &mut pico_args::Arguments, key: &'static str| {
        args.opt_value_from_str::<_, String>(key).map_err(|e| usage(format!("{key}: {e}")))
    };
    let peer_ip = text_opt(&mut args, "--peer-ip")?;
    let endpoint = text_opt(&mut args, "--endpoint")?;
    let wg_iface = text_opt(&mut args, "--wg-iface")?;
    let lan: Vec<String> = args.values_from_str("--lan").map_err(|e| usage(format!("--lan: {e}")))?;
    let given = init::Given::new(peer_ip.as_deref(), endpoint.as_deref(), &lan, wg_iface.as_deref()).map_err(usage)?;
    let init_opts = config_boot.is_some() || out.is_some() || print || force || given != init::Given::default();
    let config: Option<PathBuf> =
        args.opt_value_from_os_str("-c", |s| Ok::<_, String>(PathBuf::from(s))).map_err(|e| usage(e.to_string()))?;
    let mut free: Vec<String> = Vec::new();
    for a in args.finish() {
        free.push(a.into_string().map_err(|a| usage(format!("argument {a:?} is not UTF-8")))?);
    }
    if let Some(opt) = free.iter().find(|a| a.starts_with('-')) {
        return Err(usage(format!("unknown option `{opt}`")));
    }
    let no_more = |rest: &[String], cmd: &str| match rest {
        [] => Ok(()),
        _ => Err(usage(format!("`{cmd}` takes no arguments, got `{}`", rest.join(" ")))),
    };
    let command = match (help, version, free.split_first()) {
        (true, _, _) => Cmd::Help,
        (_, true, _) => Cmd::Version,
        (_, _, None) => return Err(usage("missing command".into())),
        (_, _, Some((cmd, rest))) => match cmd.as_str() {
            "run" => no_more(rest, cmd).map(|_| Cmd::Run)?,
            "status" => {
                no_more(rest, cmd)?;
                let format = match (json, prometheus) {
                    (true, true) => return Err(usage("status takes --json or --prometheus, not both".into())),
                    (true, false) => Format::Json,
                    (false, true) => Format::Prometheus,
                    (false, false) => Format::Text,
                };
                Cmd::Status { format }
            }
            "activate" => no_more(rest, cmd).map(|_| Cmd::Activate)?,
            "deactivate" => no_more(rest, cmd).map(|_| Cmd::Deactivate)?,
            "check" => no_more(rest, cmd).map(|_| Cmd::Check)?,
            "daemon" => no_more(rest, cmd).map(|_| Cmd::Daemon)?,
            "init" => {
                no_more(rest, cmd)?;
                if print && out.is_some() {
                    return Err(usage("init takes --print or -o FILE, not both".into()));
                }
                Cmd::Init(init::Options { config_boot, print, out, force, given })
            }
            "transition" => match rest {
                [group, iface, state] if matches!(state.as_str(), "active" | "inactive" | "failover") => {
                    Cmd::Transition { group: group.clone(), iface: iface.clone(), state: state.clone() }
                }
                [_, _, state] => {
                    return Err(usage(format!("transition state `{state}` is not active, inactive or failover")))
                }
                _ => return Err(usage("transition takes GROUP IFACE STATE".into())),
            },
            other => return Err(usage(format!("unknown command `{other}`"))),
        },
    };
    if (json || prometheus) && !matches!(command, Cmd::Status { .. }) {
        let opt = if json { "--json" } else { "--prometheus" };
        return Err(usage(format!("{opt} goes with `status` only")));
    }
    if init_opts && !matches!(command, Cmd::Init(_)) {
        return Err(usage(
            "--config-boot, --print, -o, --force, --peer-ip, --endpoint, --lan and --wg-iface go with `init` only"
                .into(),
        ));
    }
    if dry_run && matches!(command, Cmd::Daemon) {
        return Err(usage("`daemon` changes the tables as it goes; it takes no --dry-run".into()));
    }
    Ok(Cli { config, dry_run, verbose, command })
}

fn main() -> ExitCode {
    // Before any child: this process reaps its own (a parent may pass SIGCHLD ignored).
    os::default_sigchld();
    let cli = match parse_args(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => return fail(&e, None),
    };
    match cli.command {
        Cmd::Help => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Cmd::Version => {
            println!("wg-failsafe {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        // Derives a configuration: there is none to read yet.
        Cmd::Init(o) => {
            return match init::run(&o) {
                Ok(code) => code,
                Err(e) => fail(&e, None),
            }
        }
        _ => {}
    }
    let env_path = std::env::var("WG_FAILSAFE_CONF").ok();
    let cfg = match config::find(cli.config.as_deref(), env_path.as_deref()).and_then(|p| config::load(&p)) {
        Ok(c) => c,
        Err(e) => {
            // Cron and the load balancer discard stderr: a broken configuration must
            // still reach syslog (there is no LOG_FILE without a configuration).
            let unattended = matches!(cli.command, Cmd::Run | Cmd::Transition { .. } | Cmd::Daemon) && !cli.dry_run;
            return fail(&Error::Config(e), unattended.then(Logger::syslog_only).as_ref());
        }
    };
    if matches!(cli.command, Cmd::Daemon) {
        tell_notes(&cfg, &Logger::syslog_only(), true);
        return match daemon::run(&cfg.path.clone(), cfg, cli.verbose) {
            Ok(code) => code,
            Err(e) => fail(&e, Some(&Logger::syslog_only())),
        };
    }
    // Read-only commands and dry runs leave LOG_FILE and syslog alone.
    let persist =
        !cli.dry_run && matches!(cli.command, Cmd::Run | Cmd::Activate | Cmd::Deactivate | Cmd::Transition { .. });
    let log = Logger::new(cfg.log_file.clone(), cfg.log_max_kb, persist, cli.verbose);
    tell_notes(&cfg, &log, persist);
    match execute(&cli, &cfg, &log) {
        Ok(code) => code,
        Err(e) => fail(&e, Some(&log)),
    }
}

/// The configuration's notes (the seed script's keys accepted but unused): to stderr for
/// whoever ran it, and to the log — when this run keeps one — once per change of the file
/// (cron would repeat them every minute), remembered in STATE_DIR.
fn tell_notes(cfg: &Config, log: &Logger, persist: bool) {
    if cfg.notes.is_empty() {
        return;
    }
    let to_log = persist
        && state::State::open(&cfg.state_dir)
            .and_then(|mut s| s.notes_changed(&cfg.notes_fingerprint()))
            .unwrap_or(true);
    for note in &cfg.notes {
        if to_log {
            log.warn(note);
        }
        if !(to_log && log.echoes()) {
            eprintln!("wg-failsafe: warning: {note}");
        }
    }
}

/// Reports an error once (to the log when there is one, else stderr) and picks the code.
fn fail(e: &Error, log: Option<&Logger>) -> ExitCode {
    if let Some(l) = log {
        l.error(&e.to_string());
    }
    eprintln!("wg-failsafe: {e}");
    ExitCode::from(e.exit_code())
}

fn execute(cli: &Cli, cfg: &Config, log: &Logger) -> Result<ExitCode, Error> {
    match &cli.command {
        Cmd::Help | Cmd::Version | Cmd::Daemon | Cmd::Init(_) => Ok(ExitCode::SUCCESS),
        Cmd::Transition { group, iface, state } => transition(cli, cfg, log, group, iface, state),
        Cmd::Status { format } => show_status(cfg, log, *format),
        Cmd::Check => check(cfg, log),
        Cmd::Run if daemon_running(cfg) => {
            // The daemon does what a tick would, sooner; cron is its watchdog.
            if cli.verbose {
                println!("a wg-failsafe daemon is running: nothing to do");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run | Cmd::Activate | Cmd::Deactivate => {
            // A dry run changes nothing, so it needs no lock.
            let _lock = if cli.dry_run { None } else { Some(take_lock(cfg)?) };
            let mut sys = System::open(cfg, log, cli.dry_run)?;
            let told = match cli.command {
                Cmd::Run => failsafe::tick(&mut sys),
                Cmd::Activate => failsafe::by_hand(&mut sys, failsafe::ByHand::Activate),
                _ => failsafe::by_hand(&mut sys, failsafe::ByHand::Deactivate),
            };
            // ON_CHANGE hears of what the sequence announced, once it is over.
            let result = told.announce(cfg, log);
            if cli.dry_run || cli.verbose {
                for c in &sys.changes {
                    println!("{c}");
                }
            }
            // Let go of the system in one place, failed or not (the lock after it).
            drop(sys);
            let outcome = result?;
            let code = outcome.exit_code();
            if !matches!(cli.command, Cmd::Run) || cli.verbose {
                println!("{}", failsafe::say::outcome_said(&outcome, cfg));
            } else if code != 0 {
                // Logged once, at the transition; cron discards this.
                eprintln!("wg-failsafe: {}", failsafe::say::outcome_said(&outcome, cfg));
            }
            Ok(ExitCode::from(code))
        }
    }
}

/// Whether a daemon holds STATE_DIR/daemon.lock.
/// `status`. Never inlined: its figures (round-trip times, shares) are the binary's only
/// floating point, and an Octeon has no FPU — its kernel emulates each instruction, and
/// qemu's Octeon model traps — so no other command's code, `main`'s prologue included,
/// may save or touch a floating-point register.
#[inline(never)]
fn show_status(cfg: &Config, log: &Logger, format: Format) -> Result<ExitCode, Error> {
    let mut sys = System::open(cfg, log, true)?;
    let gathered = status::gather(&mut sys);
    // Let go of the system in one place, failed or not.
    drop(sys);
    let st = gathered?;
    let out = match format {
        Format::Text => st.to_text(),
        Format::Json => st.to_json() + "\n",
        Format::Prometheus => metrics::prometheus(&st),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn daemon_running(cfg: &Config) -> bool {
    state::State::open(&cfg.state_dir).is_ok_and(|s| s.daemon_running())
}

fn take_lock(cfg: &Config) -> Result<Lock, Error> {
    match Lock::acquire(&cfg.lock_file, Duration::from_secs(cfg.lock_timeout_s)) {
        Ok(l) => Ok(l),
        Err(LockError::Busy) => Err(Error::Busy(format!(
            "another wg-failsafe holds {} (waited {} s)",
            cfg.lock_file.display(),
            cfg.lock_timeout_s
        ))),
        Err(LockError::Io(e)) => Err(e).context(cfg.lock_file.display()),
    }
}

/// The EdgeOS load-balance hook: log the transition, start a detached `run`, return.
fn transition(cli: &Cli, cfg: &Config, log: &Logger, group: &str, iface: &str, state: &str) -> Result<ExitCode, Error> {
    log.info(&format!("load-balance group {group}: {iface} is {state}"));
    let exe = std::env::current_exe().context("finding this program")?;
    let mut argv: Vec<&OsStr> = vec![exe.as_os_str(), OsStr::new("-c"), cfg.path.as_os_str()];
    if cli.dry_run {
        argv.push(OsStr::new("--dry-run"));
    }
    argv.push(OsStr::new("run"));
    // The child leaves the load balancer's session so that nothing waits for it; it is
    // not waited for either (this process exits at once, and init reaps it).
    let how = os::Spawn { stdout_pipe: false, group: os::Group::Session };
    os::Child::spawn(&argv, &[], how).context("starting a detached run")?;
    Ok(ExitCode::SUCCESS)
}

/// `check`: every precondition, each on its own line; changes nothing. Exit 1 when one
/// breaks the failover (FAIL); WARN and note lines do not count.
fn check(cfg: &Config, log: &Logger) -> Result<ExitCode, Error> {
    let findings = check::all(cfg, log, &init::test_root(), daemon_running(cfg));
    for f in &findings {
        println!("{f}");
    }
    let problems = findings.iter().filter(|f| f.level == check::Level::Fail).count();
    if problems > 0 {
        return Err(Error::Failed(format!("{problems} check(s) failed")));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Cli, Error> {
        parse_args(args.iter().map(OsString::from).collect())
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args) {
            Err(Error::Usage(m)) => m,
            Err(e) => panic!("expected a usage error, got {e}"),
            Ok(_) => panic!("expected a usage error for {args:?}"),
        }
    }

    /// README's command-line block says what `--help` says, in the same words: its
    /// commands, between the usage line and `-V/--version, -h/--help`.
    #[test]
    fn readme_command_line_block_is_the_help() {
        let readme = include_str!("../README.md");
        let block = readme.split_once("## Command line\n\n```\n").map(|(_, b)| b).expect("README's block");
        let block = block.split_once("```").map(|(b, _)| b).expect("its end");
        let (usage, rest) = block.split_once('\n').expect("a usage line");
        let commands = rest.strip_suffix("  -V/--version, -h/--help\n").expect("the last line");
        let help_usage = HELP.lines().find_map(|l| l.strip_prefix("Usage: ")).expect("usage");
        let help = HELP.split_once("Commands:\n").and_then(|(_, c)| c.split_once("\nOptions:")).expect("commands").0;
        assert_eq!(usage, help_usage);
        assert_eq!(commands.trim_end(), help.trim_end(), "README's Command line block differs from --help");
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse(&["-c", "/tmp/x.conf", "-n", "run", "-v"]).expect("valid");
        assert_eq!(cli.config.as_deref(), Some(Path::new("/tmp/x.conf")));
        assert!(cli.dry_run && cli.verbose);
        assert!(matches!(cli.command, Cmd::Run));
        assert!(matches!(parse(&["status", "--json"]).expect("valid").command, Cmd::Status { format: Format::Json }));
        let prometheus = parse(&["status", "--prometheus"]).expect("valid").command;
        assert!(matches!(prometheus, Cmd::Status { format: Format::Prometheus }));
        assert!(matches!(parse(&["status"]).expect("valid").command, Cmd::Status { format: Format::Text }));
        assert!(matches!(parse(&["--version"]).expect("valid").command, Cmd::Version));
        assert!(matches!(parse(&["-h", "run"]).expect("valid").command, Cmd::Help));
        match parse(&["init", "--config-boot", "/tmp/c.boot", "--peer-ip", "10.11.0.1", "--force"])
            .expect("valid")
            .command
        {
            Cmd::Init(o) => {
                assert_eq!(o.config_boot.as_deref(), Some(Path::new("/tmp/c.boot")));
                assert_eq!(o.given.peer_ip, Some(std::net::Ipv4Addr::new(10, 11, 0, 1)));
                assert!(o.force && !o.print && o.out.is_none());
            }
            _ => panic!("not init"),
        }
    }

    #[test]
    fn init_options_give_what_a_refusal_asks_for() {
        let args = [
            "init",
            "--endpoint",
            "198.51.100.7:51821",
            "--lan",
            "192.168.1.0/24,192.168.30.0/24",
            "--lan",
            "10.20.0.0/16",
            "--lan",
            "192.168.1.0/24",
            "--wg-iface",
            "wg1",
            "--print",
        ];
        match parse(&args).expect("valid").command {
            Cmd::Init(o) => {
                assert_eq!(o.given.endpoint, Some(("198.51.100.7".to_string(), Some(51821))));
                let lan: Vec<String> = o.given.lan.iter().map(|n| n.to_string()).collect();
                assert_eq!(
                    lan,
                    ["192.168.1.0/24", "192.168.30.0/24", "10.20.0.0/16"],
                    "repeated and comma lists, once each"
                );
                assert_eq!(o.given.wg_iface.as_deref(), Some("wg1"));
                assert_eq!(o.given.peer_ip, None);
            }
            _ => panic!("not init"),
        }
        match parse(&["init", "--endpoint", "198.51.100.7"]).expect("valid").command {
            Cmd::Init(o) => assert_eq!(o.given.endpoint, Some(("198.51.100.7".to_string(), None))),
            _ => panic!("not init"),
        }
        // Each refused as the configuration's parser refuses the key it gives, naming the option.
        for (args, message) in [
            (&["init", "--endpoint", "198.51.100.7:99999"][..], "--endpoint: `99999` is out of range (1..=65535)"),
            (&["init", "--endpoint", "198.51.100.7:0"], "--endpoint: `0` is out of range (1..=65535)"),
            (
                &["init", "--endpoint", "198.51.100.300"],
                "--endpoint: `198.51.100.300` is neither an IPv4 address nor a host name (RFC 1123: letters, digits and inner hyphens, labels of 1 to 63, 253 in all)",
            ),
            (
                &["init", "--lan", "192.168.1.1/24"],
                "--lan: `192.168.1.1/24` has host bits set (the network is 192.168.1.0/24)",
            ),
            (&["init", "--lan", "192.168.1.0/33"], "--lan: `192.168.1.0/33` has an invalid prefix length"),
            (&["init", "--lan", ","], "--lan: no subnet given"),
            (
                &["init", "--wg-iface", "a-very-long-interface"],
                "--wg-iface: `a-very-long-interface` is not a valid interface name (1-15 characters, no / : or spaces)",
            ),
            (&["init", "--peer-ip", "10.11.0"], "--peer-ip: `10.11.0` is not an IPv4 address"),
            (
                &["run", "--lan", "192.168.1.0/24"],
                "--config-boot, --print, -o, --force, --peer-ip, --endpoint, --lan and --wg-iface go with `init` only",
            ),
        ] {
            assert_eq!(usage_error(args), format!("{message} (see --help)"), "{args:?}");
        }
    }

    #[test]
    fn transition_takes_three_arguments_and_a_known_state() {
        match parse(&["transition", "G", "eth0", "failover"]).expect("valid").command {
            Cmd::Transition { group, iface, state } => {
                assert_eq!((group.as_str(), iface.as_str(), state.as_str()), ("G", "eth0", "failover"))
            }
            _ => panic!("not a transition"),
        }
        assert_eq!(
            usage_error(&["transition", "G", "eth0", "up"]),
            "transition state `up` is not active, inactive or failover (see --help)"
        );
        assert_eq!(usage_error(&["transition", "G"]), "transition takes GROUP IFACE STATE (see --help)");
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert_eq!(usage_error(&[]), "missing command (see --help)");
        assert_eq!(usage_error(&["frobnicate"]), "unknown command `frobnicate` (see --help)");
        assert_eq!(usage_error(&["run", "--frobnicate"]), "unknown option `--frobnicate` (see --help)");
        assert_eq!(usage_error(&["run", "now"]), "`run` takes no arguments, got `now` (see --help)");
        assert_eq!(usage_error(&["run", "--json"]), "--json goes with `status` only (see --help)");
        assert_eq!(usage_error(&["run", "--prometheus"]), "--prometheus goes with `status` only (see --help)");
        assert_eq!(
            usage_error(&["status", "--json", "--prometheus"]),
            "status takes --json or --prometheus, not both (see --help)"
        );
        assert_eq!(
            usage_error(&["run", "--force"]),
            "--config-boot, --print, -o, --force, --peer-ip, --endpoint, --lan and --wg-iface go with `init` only (see --help)"
        );
        assert_eq!(
            usage_error(&["init", "--print", "-o", "/x"]),
            "init takes --print or -o FILE, not both (see --help)"
        );
        assert!(usage_error(&["init", "--peer-ip", "nope"]).starts_with("--peer-ip: "));
        assert_eq!(Error::Usage(String::new()).exit_code(), 2);
    }
}
