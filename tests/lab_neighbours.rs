//! The namespace lab with the router's real neighbours running beside the tool (issue 15):
//! the load balancer (`tests/lab/lb-emu.sh`, an emulation of EdgeOS's, `LAB_LB_EMU=1`),
//! FRR's zebra and staticd owning `main`'s defaults (`LAB_FRR=1`), and a DHCP client on a
//! WAN (busybox udhcpc served by the ISP's dnsmasq, `LAB_DHCP=eth0|eth1`). Each test checks
//! what a LAN client sees (the echo server's source address: ISP 1 198.51.100.2, ISP 2 .6,
//! the VPS .10) and what every table holds before and after, and never repairs by hand what
//! a real daemon would not. The first tests check that each actor does its job on a
//! healthy router, so that a failure of the later ones is the tool's, not the lab's.
//!
//! Root and the lab's tools (scripts/deps.sh) are needed: `#[ignore]`d by default, run with
//! `cargo test --test lab_neighbours -- --include-ignored`.

mod harness;

use harness::*;
use std::fs;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Polls `ok` every 50 ms until it holds; fails with `what` (and `show()`) after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, show: impl Fn() -> String) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < timeout, "no {what} within {timeout:?}:\n{}", show());
        sleep(Duration::from_millis(50));
    }
}

/// How often `what` occurs in the lab's file `name` (an actor's log).
fn count_in(lab: &Lab, name: &str, what: &str) -> usize {
    fs::read_to_string(lab.dir.join(name)).unwrap_or_default().matches(what).count()
}

/// Waits until the lab's file `name` holds `what` at least `n` times.
fn wait_in(lab: &Lab, name: &str, what: &str, n: usize, timeout: Duration) {
    let path = lab.dir.join(name);
    wait_until(
        &format!("`{what}` (x{n}) in {name}"),
        timeout,
        || count_in(lab, name, what) >= n,
        || fs::read_to_string(&path).unwrap_or_default(),
    );
}

const LB_LOG: &str = "rtr-lbemu.log";

/// The load balancer emulation's completed cycles.
fn lb_cycles(lab: &Lab) -> u64 {
    let n = fs::read_to_string(lab.dir.join("rtr-lbemu.cycles")).unwrap_or_default();
    n.trim().parse().unwrap_or(0)
}

/// Waits until the load balancer has completed two more cycles: whatever it does about the
/// tables as they are now, it has done.
fn lb_settled(lab: &Lab) {
    let from = lb_cycles(lab);
    wait_until("two load balancer cycles", Duration::from_secs(10), || lb_cycles(lab) >= from + 2, || lab.log());
}

/// Sends SIGSTOP or SIGCONT to the lab's daemon `name` (its pid file): a load balancer that
/// is slow to notice.
fn signal_actor(lab: &Lab, name: &str, sig: &str) {
    let pid = fs::read_to_string(lab.dir.join(format!("{name}.pid"))).expect("pid file");
    let out = sh(Command::new("kill").args(["-s", sig, pid.trim()]));
    assert!(out.status.success(), "kill -s {sig} {name}: {}", text(&out.stderr));
}

/// The tunnel's default is in main and in each of the load balancer's tables, and it wins
/// main (the load balancer may have re-imposed its metric-0 default in a table since: the
/// rules at priority 69 keep the LAN on main regardless).
fn assert_tunnel_in_every_table(lab: &Lab) {
    let t = lab.tables();
    let wg = format!("default via 10.11.0.1 dev {}w", lab.id);
    for table in ["10", "201", "202"] {
        let want = format!("{wg} table {table} proto static metric 40");
        assert!(table_defaults(&t, table).contains(&want), "table {table} has no tunnel default\n{t}");
    }
    assert_eq!(table_defaults(&t, "main")[0], format!("{wg} proto static metric 40"), "{t}");
}

/// Every (client, port) pair leaves through `via` (VPS during the failover; ISP 1 when
/// healthy, where the load balancer sends 8081 to ISP 2).
fn assert_lan_via(lab: &Lab, via: &str) {
    for client in ["c1", "c2"] {
        for port in [80, 8080, 8081] {
            let expected = if via == ISP1 && port == 8081 { ISP2 } else { via };
            assert_eq!(lab.fetch(client, port), expected, "{client} to port {port}\n{}", lab.tables());
        }
    }
}

/// `before` and `after` line by line: what only one of them holds.
fn diff(before: &str, after: &str) -> String {
    let gone: Vec<&str> = before.lines().filter(|l| !after.lines().any(|a| a == *l)).collect();
    let new: Vec<&str> = after.lines().filter(|l| !before.lines().any(|b| b == *l)).collect();
    let list = |lines: Vec<&str>| if lines.is_empty() { "(nothing)".to_string() } else { lines.join("\n  ") };
    format!("only before:\n  {}\nonly after:\n  {}", list(gone), list(new))
}

/// After recovery and the actors' next cycles, every table is `expected`.
fn assert_tables_are(lab: &Lab, expected: &str) {
    lb_settled(lab);
    let after = lab.tables();
    assert!(after == expected, "tables differ after recovery\n{}\nlog:\n{}", diff(expected, &after), lab.log());
}

/// `lab.sh up`'s environment for a lab whose load balancer emulation runs every second,
/// with `extra`.
fn lb_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("LAB_LB_EMU", "1"), ("LB_EMU_INTERVAL_S", "1")];
    env.extend_from_slice(extra);
    env
}

// ---------------------------------------------------------------------------------------
// Each actor on a healthy router, the tool not running

/// The emulation re-imposes a table default someone deleted, steers new flows of a dead
/// WAN to the live one and back, calls its transition script on each change (once each),
/// never touches main and (without the variant) leaves a dead WAN's table alone.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn the_load_balancer_emulation_reimposes_steers_and_calls_its_script() {
    let lab = Lab::up("nlb", &lb_env(&[]));
    let calls = lab.dir.join("transitions");
    lab_script_file(&lab, "lb-transition.sh", &format!("echo \"$*\" >> {}\n", calls.display()));
    let before = lab.tables();
    lab.rtr("ip route del default table 201");
    wait_in(&lab, LB_LOG, "table 201 re-imposed via 192.168.1.1 dev eth0", 1, Duration::from_secs(5));
    assert_eq!(lab.tables(), before);
    lab.ctl("primary", "down");
    wait_in(&lab, "transitions", "WAN_FAILOVER eth0 inactive", 1, Duration::from_secs(5));
    // New flows marked for eth0 go to ISP 2; table 201 and main keep their routes.
    assert_eq!(lab.fetch("c1", 8080), ISP2);
    let t = lab.tables();
    assert_eq!(table_defaults(&t, "201"), ["default via 192.168.1.1 dev eth0 table 201 proto static linkdown"]);
    let main_before = table_defaults(&before, "main");
    assert_eq!(table_defaults(&t, "main").len(), main_before.len(), "{t}");
    lab.ctl("primary", "up");
    wait_in(&lab, "transitions", "WAN_FAILOVER eth0 active", 1, Duration::from_secs(5));
    assert_eq!(lab.fetch("c1", 8080), ISP1);
    assert_tables_are(&lab, &before);
    assert_eq!(fs::read_to_string(&calls).expect("calls"), "WAN_FAILOVER eth0 inactive\nWAN_FAILOVER eth0 active\n");
}

/// The variant (LB_EMU_FAILOVER_TABLES=1) points the dead WAN's table at the live WAN
/// (metric 0, proto static) and gives it its own default back when it recovers.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn the_load_balancer_variant_fails_a_dead_wans_table_over_and_back() {
    let lab = Lab::up("nlv", &lb_env(&[("LB_EMU_FAILOVER_TABLES", "1")]));
    let before = lab.tables();
    lab.ctl("primary", "down");
    wait_in(&lab, LB_LOG, "table 201 failed over to eth1", 1, Duration::from_secs(5));
    let t = lab.tables();
    assert_eq!(table_defaults(&t, "201"), ["default via 192.168.2.1 dev eth1 table 201 proto static"], "{t}");
    lab.ctl("primary", "up");
    wait_in(&lab, LB_LOG, "table 201 re-imposed via 192.168.1.1 dev eth0", 1, Duration::from_secs(5));
    assert_tables_are(&lab, &before);
}

/// zebra installs the best of main's two static defaults (`proto static metric 20`, no
/// `nhid`), re-installs it when someone else deletes it, fails over to the backup by
/// distance on carrier loss (the same key, metric 20, through eth1) and back.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn zebra_installs_mains_default_reinstalls_it_and_fails_over_by_distance() {
    let lab = Lab::up("nfr", &[("LAB_FRR", "1")]);
    let before = lab.tables();
    let primary = "default via 192.168.1.1 dev eth0 proto static metric 20";
    assert_eq!(table_defaults(&before, "main"), [primary], "{before}");
    // FRR names its static routes proto 196 ("static" in its rt_protos.d), not 4: no proto.
    lab.rtr("ip route del default via 192.168.1.1 dev eth0 metric 20");
    let main = || table_defaults(&lab.tables(), "main");
    wait_until("zebra's re-install", Duration::from_secs(5), || main() == [primary], || lab.tables());
    lab.ctl("primary", "down");
    let backup = "default via 192.168.2.1 dev eth1 proto static metric 20";
    wait_until("zebra's failover", Duration::from_secs(5), || main() == [backup], || lab.tables());
    // What follows main (unmarked) leaves through ISP 2; no load balancer runs here to
    // steer the flows marked for eth0's table.
    assert_eq!(lab.fetch("c1", 80), ISP2);
    lab.ctl("primary", "up");
    wait_until("zebra's failback", Duration::from_secs(5), || lab.tables() == before, || lab.tables());
    assert_lan_via(&lab, ISP1);
}

/// The DHCP client takes its lease (address, main's default `proto dhcp` at the WAN's
/// metric) and, renewing, follows a new router: the old default goes, the new one comes.
/// Once on the primary, once on the backup.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn the_dhcp_client_takes_its_lease_and_renews_with_a_new_gateway() {
    for (wan, n, metric, via) in [("eth0", 1, 100, ISP1), ("eth1", 2, 200, ISP2)] {
        let lab = Lab::up("ndh", &[("LAB_DHCP", wan)]);
        let before = lab.tables();
        let lease = |gw: &str| format!("default via 192.168.{n}.{gw} dev {wan} proto dhcp metric {metric}");
        assert!(table_defaults(&before, "main").contains(&lease("1")), "{before}");
        lab.ctl("dhcp-gw", wan);
        let after = lab.tables();
        assert_eq!(after, before.replace(&lease("1"), &lease("254")), "{}", diff(&before, &after));
        let port = if wan == "eth0" { 80 } else { 8081 };
        assert_eq!(lab.fetch("c1", port), via, "{wan}'s new gateway forwards");
    }
}

// ---------------------------------------------------------------------------------------
// The tool beside them

/// The load balancer (variant) points table 201 at the backup BEFORE the tool's snapshot;
/// the tool fails over (the LAN through the VPS) and at recovery every table is what it
/// was before the outage: the load balancer's failover route is not given back. The tool
/// fails back before the load balancer has seen the primary return (it is stopped
/// meanwhile, as the daemon acting at the carrier event is faster than its cycle), so that
/// what the tool restores is seen before the load balancer re-imposes anything.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn a_table_the_load_balancer_failed_over_before_the_snapshot_is_restored_exactly() {
    let lab = Lab::up("nbs", &lb_env(&[("LB_EMU_FAILOVER_TABLES", "1")]));
    let before = lab.tables();
    // A cron tick while healthy, as on a router where the tool has run for a while: it has
    // seen the tables as their owners keep them.
    lab.run_ok();
    lab.ctl("primary", "down");
    wait_in(&lab, LB_LOG, "table 201 failed over to eth1", 1, Duration::from_secs(5));
    lab.run_ok();
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.run_ok();
    signal_actor(&lab, "rtr-lbemu", "STOP");
    lab.ctl("primary", "up");
    lab.run_ok();
    let restored = lab.tables();
    signal_actor(&lab, "rtr-lbemu", "CONT");
    wait_in(&lab, LB_LOG, "eth0 active", 1, Duration::from_secs(5));
    assert!(restored == before, "the tool's failback\n{}\nlog:\n{}", diff(&before, &restored), lab.log());
    assert_lan_via(&lab, ISP1);
    assert_tables_are(&lab, &before);
}

/// The same failover of table 201, AFTER the tool's snapshot (the load balancer stopped
/// while `run` switches, so it notices later): a default through another device at the
/// key of a saved one is the owner's failover, moved aside and never restored.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn a_table_the_load_balancer_failed_over_after_the_snapshot_is_restored_exactly() {
    let lab = Lab::up("nba", &lb_env(&[("LB_EMU_FAILOVER_TABLES", "1")]));
    let before = lab.tables();
    // A cron tick while healthy, as on a router where the tool has run for a while: it has
    // seen the tables as their owners keep them.
    lab.run_ok();
    signal_actor(&lab, "rtr-lbemu", "STOP");
    lab.ctl("primary", "down");
    lab.run_ok();
    signal_actor(&lab, "rtr-lbemu", "CONT");
    wait_in(&lab, LB_LOG, "table 201 failed over to eth1", 1, Duration::from_secs(5));
    lab.run_ok();
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.ctl("primary", "up");
    wait_in(&lab, LB_LOG, "eth0 active", 1, Duration::from_secs(5));
    lab.run_ok();
    assert_lan_via(&lab, ISP1);
    assert_tables_are(&lab, &before);
}

/// zebra fails main over by distance (its default through eth1 at the key of the
/// primary's) before the tool's snapshot; the tool fails over (zebra then leaves main alone:
/// it takes the tunnel's kernel route as distance 0, better than its statics). At failback
/// the tool must not put zebra's failover route back (zebra would replace it at once with
/// its best, which hides the mistake in the tables: the tool's own words are checked), and
/// after recovery every table is exactly as before.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn zebras_distance_failover_in_main_is_not_restored_and_main_comes_back_exactly() {
    let lab = Lab::up("nzf", &lb_env(&[("LAB_FRR", "1")]));
    let before = lab.tables();
    // A cron tick while healthy, as on a router where the tool has run for a while: it has
    // seen the tables as their owners keep them.
    lab.run_ok();
    lab.ctl("primary", "down");
    let main = || table_defaults(&lab.tables(), "main");
    let backup = "default via 192.168.2.1 dev eth1 proto static metric 20".to_string();
    wait_until("zebra's failover", Duration::from_secs(5), || main().contains(&backup), || lab.tables());
    // The load balancer has seen the outage too (an outage shorter than its cycle is none).
    wait_in(&lab, LB_LOG, "eth0 inactive", 1, Duration::from_secs(5));
    lab.run_ok();
    lab.run_ok();
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.ctl("primary", "up");
    wait_in(&lab, LB_LOG, "eth0 active", 1, Duration::from_secs(5));
    let r = lab.tool(&["-v", "run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("ip route add default via 192.168.2.1 dev eth1 table main"),
        "zebra's failover restored:\n{}",
        r.stdout
    );
    assert_lan_via(&lab, ISP1);
    assert_tables_are(&lab, &before);
}

/// The primary's link stays up but its upstream dies (TRACK_IPS see it; DHCP still works);
/// during the outage the lease is renewed with a new gateway. After recovery main has the
/// new lease's default and no stale one; every other table is as before.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn a_primary_lease_renewed_with_a_new_gateway_during_the_outage_is_what_main_has_after() {
    let lab = Lab::up("ndp", &lb_env(&[("LAB_DHCP", "eth0")]));
    let conf = lab.conf_variant("dhcp.conf", &[("PRIMARY_GW", "auto"), ("TRACK_IPS", "203.0.113.80")]);
    let before = lab.tables();
    // A cron tick while healthy, as on a router where the tool has run for a while: it has
    // seen the tables as their owners keep them.
    lab.run_expect(&conf, 0);
    lab.ctl("upstream", "down");
    lab.run_expect(&conf, 0);
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.ctl("dhcp-gw", "eth0");
    lab.run_expect(&conf, 0);
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.ctl("upstream", "up");
    lab.run_expect(&conf, 0);
    assert_lan_via(&lab, ISP1);
    let lease = |gw: &str| format!("default via 192.168.1.{gw} dev eth0 proto dhcp metric 100 ");
    assert_tables_are(&lab, &before.replace(&lease("1"), &lease("254")));
}

/// A LAN client pinging through the tunnel every 100 ms: (transmitted, received) once it
/// ends.
struct Pinger(std::process::Child);

impl Pinger {
    fn start(lab: &Lab, seconds: u32) -> Pinger {
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{}-c1", lab.id), "ping", "-n", "-q", "-i", "0.1", "-W", "1"])
            .args(["-w", &seconds.to_string(), "203.0.113.80"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping");
        Pinger(child)
    }

    fn counts(self) -> (u32, u32, String) {
        let out = self.0.wait_with_output().expect("ping");
        let summary = text(&out.stdout);
        let num = |after: &str| -> u32 {
            let line = summary.lines().find(|l| l.contains("transmitted")).unwrap_or_default();
            let field = line.split(", ").find(|f| f.contains(after)).unwrap_or_default();
            field.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        (num("transmitted"), num("received"), summary)
    }
}

/// BACKUP_GW=auto with the backup addressed by DHCP: a new backup gateway handed out during
/// the outage moves the endpoint route to it and the tunnel keeps carrying the LAN, a
/// packet every 100 ms losing no more than one probe interval's worth; under the daemon.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn a_new_backup_gateway_during_the_outage_keeps_the_tunnel_carrying_the_lan() {
    let lab = Lab::up("nbg", &lb_env(&[("LAB_DHCP", "eth1")]));
    let conf = daemon_conf(&lab, "bgw.conf", &[("BACKUP_GW", "auto")]);
    let before = lab.tables();
    let _daemon = Daemon::start(&lab, &conf, &[]);
    lab.ctl("primary", "down");
    wait_for(&lab, "ACTIVATED", Duration::from_secs(10));
    assert_lan_via(&lab, VPS);
    let pinger = Pinger::start(&lab, 6);
    sleep(Duration::from_secs(1));
    lab.ctl("dhcp-gw", "eth1");
    let endpoint = format!("{VPS} via 192.168.2.254 dev eth1");
    wait_until(
        "the endpoint route via the new gateway",
        Duration::from_secs(5),
        || lab.tables().contains(&endpoint),
        || lab.tables(),
    );
    let (sent, got, summary) = pinger.counts();
    // One probe interval (200 ms) is two packets.
    assert!(
        sent >= 50 && sent - got <= 2,
        "lost {} of {sent}:\n{summary}\n{}\nlog:\n{}",
        sent - got,
        lab.tables(),
        lab.log()
    );
    assert!(!lab.tables().contains(&format!("{VPS} via 192.168.2.1 ")), "a stale endpoint route\n{}", lab.tables());
    assert_lan_via(&lab, VPS);
    lab.ctl("primary", "up");
    wait_for(&lab, "DEACTIVATED", Duration::from_secs(10));
    assert_lan_via(&lab, ISP1);
    let lease = |gw: &str| format!("default via 192.168.2.{gw} dev eth1 proto dhcp metric 200 ");
    assert_tables_are(&lab, &before.replace(&lease("1"), &lease("254")));
}

/// The load balancer's transition script is the tool's EdgeOS hook: no cron, no daemon;
/// the emulation notices the dead primary, calls `wg-failsafe transition GROUP eth0
/// inactive`, and the failover happens through it; likewise the recovery (`active`).
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored"]
fn the_load_balancers_transition_script_drives_the_failover_and_the_recovery() {
    let lab = Lab::up("ntr", &lb_env(&[]));
    let bin = env!("CARGO_BIN_EXE_wg-failsafe");
    lab_script_file(
        &lab,
        "lb-transition.sh",
        &format!("exec {bin} -c {} transition \"$1\" \"$2\" \"$3\"\n", lab.conf().display()),
    );
    let before = lab.tables();
    // A cron tick while healthy, as on a router where the tool has run for a while: it has
    // seen the tables as their owners keep them.
    lab.run_ok();
    lab.ctl("primary", "down");
    wait_in(&lab, LB_LOG, "transition script WAN_FAILOVER eth0 inactive: exit 0", 1, Duration::from_secs(5));
    wait_for(&lab, "failsafe ACTIVATED", Duration::from_secs(10));
    assert!(lab.log().contains("load-balance group WAN_FAILOVER: eth0 is inactive"), "{}", lab.log());
    assert_tunnel_in_every_table(&lab);
    assert_lan_via(&lab, VPS);
    lab.ctl("primary", "up");
    wait_in(&lab, LB_LOG, "transition script WAN_FAILOVER eth0 active: exit 0", 1, Duration::from_secs(5));
    wait_for(&lab, "DEACTIVATED", Duration::from_secs(10));
    assert_lan_via(&lab, ISP1);
    assert_tables_are(&lab, &before);
}
