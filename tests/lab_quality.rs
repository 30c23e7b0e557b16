//! Quality thresholds and BACKUP_TRACK_IPS in the namespace lab (issue 18). The host
//! kernel has no netem: loss is nftables' `numgen` in ISP 1 dropping the router's echo
//! requests to its gateway (`random` where the test's figures hold whatever the draw,
//! `inc`, an exact share, where a test sits between two limits), delay the lab's userspace
//! responder (tests/lab/late-echo.py) answering in the gateway's place. A primary at 50 %
//! loss is failed over with LOSS_DOWN_PCT set and kept without; the failback waits for the
//! stricter UP limit; a primary 1500 ms late is failed over on LATENCY_DOWN_MS; under the
//! daemon a primary oscillating between 30 % and 0 % loss is failed over once and failed
//! back once (a steady loss between the two limits kept on the tunnel meanwhile by the
//! UP limit alone), one silent TRACK_IPS target fails nothing (each target judged on its
//! own), and a tunnel that answers but loses half its echoes is routed around and back;
//! BACKUP_TRACK_IPS notice the backup's dead upstream behind a live gateway.
//!
//! Root and the lab's tools (scripts/deps.sh) are needed: `#[ignore]`d by default, run with
//! `cargo test --test lab_quality -- --include-ignored`.

mod harness;

use harness::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Runs `nft -f -` with `rules` in the lab's namespace `ns`.
fn nft(lab: &Lab, ns: &str, rules: &str) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &format!("{}-{ns}", lab.id), "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft");
    child.stdin.take().expect("stdin").write_all(rules.as_bytes()).expect("write the rules");
    let out = child.wait_with_output().expect("nft");
    assert!(out.status.success(), "nft: {}\n{rules}", text(&out.stderr));
}

/// ISP 1 drops the router's echo requests to its gateway: `how` is an nftables `numgen`
/// condition (`random mod 100 < 50`: 50 % drawn at random; `inc mod 10 < 3`: exactly 3 of
/// every 10), or `None` for no loss.
fn primary_loss(lab: &Lab, how: Option<&str>) {
    let flush = "table ip wfsq_loss\ndelete table ip wfsq_loss\n";
    let rule = match how {
        Some(cond) => format!(
            "table ip wfsq_loss {{\n chain in {{\n type filter hook input priority filter; policy accept;
               iifname \"lan\" icmp type echo-request numgen {cond} drop\n }}\n}}\n"
        ),
        None => String::new(),
    };
    nft(lab, "isp1", &format!("{flush}{rule}"));
}

/// How often `what` is in the log.
fn count(lab: &Lab, what: &str) -> usize {
    lab.log().matches(what).count()
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn run_fails_over_a_primary_at_50_pct_loss_only_with_limits_and_fails_back_below_the_up_limit() {
    let lab = Lab::up("qr", &[]);
    // 20 echoes a round, 300 ms for each: at 50 % loss the chance of 4 lost or fewer (a
    // round within LOSS_DOWN_PCT=20) is 0.6 %, of all 20 lost (no answer: a dead primary
    // without any limit) one in a million.
    let base = [("PROBE_COUNT", "20"), ("PROBE_TIMEOUT_MS", "300")];
    let plain = lab.conf_variant("qr-plain.conf", &base);
    let limits = [("LOSS_DOWN_PCT", "20"), ("LOSS_UP_PCT", "5"), ("UP_AFTER_S", "3")];
    let conf = lab.conf_variant("qr.conf", &[&base[..], &limits[..]].concat());
    let before = lab.tables();
    primary_loss(&lab, Some("random mod 100 < 50"));
    // Unset: a primary that answers at all is kept, today's behaviour.
    for _ in 0..2 {
        lab.run_expect(&plain, 0);
    }
    assert_eq!(count(&lab, "failsafe ACTIVATED"), 0, "failed over without limits:\n{}", lab.log());
    assert_eq!(lab.tables(), before);
    // Set: failed over, for the reason.
    lab.run_expect(&conf, 0);
    let log = lab.log();
    assert!(log.contains("failsafe ACTIVATED") && log.contains("poor quality: "), "{log}");
    assert!(log.contains("echoes lost, above LOSS_DOWN_PCT=20 %"), "{log}");
    assert_failsafe_tables(&lab);
    lab.assert_traffic_via(VPS);
    // 10 % (exactly 2 of every 20 echoes): within LOSS_DOWN_PCT, above LOSS_UP_PCT —
    // ticks past UP_AFTER_S do not fail back.
    primary_loss(&lab, Some("inc mod 10 < 1"));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        lab.run_expect(&conf, 0);
        sleep(Duration::from_millis(300));
    }
    assert_eq!(count(&lab, "failsafe DEACTIVATED"), 0, "failed back above LOSS_UP_PCT:\n{}", lab.log());
    assert_failsafe_tables(&lab);
    // `status` says why: its own round (20 echoes, exactly 2 lost) against the UP limits
    // (the failback wait), in the judge's words.
    let st = lab.tool_with(&conf, &["status"]).stdout;
    assert!(st.contains("\nquality:  loss 2 of 20 echoes (10 %; down above 20 %, up at most 5 %), rtt "), "{st}");
    assert!(
        st.contains(
            ": FAILS the up limits (failback wait): poor quality: 2 of 20 echoes lost, above LOSS_UP_PCT=5 %\n"
        ),
        "{st}"
    );
    let json = lab.tool_with(&conf, &["status", "--json"]).stdout;
    assert!(json.contains("\"quality\":{\"sent\":20,\"lost\":2,\"loss_pct\":10,\"rtt_ms\":"), "{json}");
    let against = "\"loss_down_pct\":20,\"loss_up_pct\":5,\"latency_down_ms\":null,\"latency_up_ms\":null,\"against\":\"up\",\"passes\":false,";
    assert!(json.contains(against), "{json}");
    // No loss: failed back once it held for UP_AFTER_S, every table as before.
    primary_loss(&lab, None);
    let started = Instant::now();
    while count(&lab, "failsafe DEACTIVATED") == 0 {
        assert!(started.elapsed() < Duration::from_secs(15), "no failback:\n{}", lab.log());
        lab.run_expect(&conf, 0);
        sleep(Duration::from_millis(300));
    }
    assert!(started.elapsed() >= Duration::from_secs(3), "failed back before UP_AFTER_S");
    assert_eq!(lab.tables(), before);
    // Off again: the round against the DOWN limits; no limits, no quality line.
    let st = lab.tool_with(&conf, &["status"]).stdout;
    assert!(st.contains("\nquality:  loss 0 of 20 echoes (0 %; down above 20 %, up at most 5 %), rtt "), "{st}");
    assert!(st.contains(" ms (no limit): passes the down limits\n"), "{st}");
    let plain_st = lab.tool_with(&plain, &["status"]).stdout;
    assert!(!plain_st.contains("\nquality:"), "{plain_st}");
    assert!(lab.tool_with(&plain, &["status", "--json"]).stdout.contains("\"quality\":null}"));
    let once = (count(&lab, "failsafe ACTIVATED"), count(&lab, "failsafe DEACTIVATED"));
    assert_eq!(once, (1, 1), "one failover, one failback:\n{}", lab.log());
}

/// ISP 1's gateway answers every echo `delay_ms` late (its kernel's replies off, the
/// lab's responder in their place, for `seconds`).
fn late_gateway(lab: &Lab, delay_ms: u32, seconds: u32) -> Killed {
    let isp1 = format!("{}-isp1", lab.id);
    let off = sh(Command::new("ip").args(["netns", "exec", &isp1, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"]));
    assert!(off.status.success(), "{}", text(&off.stderr));
    let responder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/late-echo.py");
    let child = Command::new("ip")
        .args(["netns", "exec", &isp1, "python3"])
        .arg(&responder)
        .args([delay_ms.to_string(), seconds.to_string(), "192.168.1.1".into()])
        .stdin(Stdio::null())
        .spawn()
        .expect("the late responder");
    // It answers (once it has started: a few tries).
    let rtt = lab.rtr(
        "for i in 1 2 3 4 5; do ping -n -c 1 -W 3 -I eth0 192.168.1.1 | sed -n 's/.*time=\\([0-9.]*\\) ms.*/\\1/p' | grep . && break; done",
    );
    let rtt_ms: f64 = rtt.trim().parse().unwrap_or_else(|_| panic!("no late answer: `{rtt}`"));
    assert!(rtt_ms >= f64::from(delay_ms) - 50.0, "{rtt_ms} ms");
    Killed(child)
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn run_fails_over_a_primary_answering_1500_ms_late_only_with_a_latency_limit() {
    let lab = Lab::up("ql", &[]);
    let base = [("PROBE_COUNT", "2"), ("PROBE_TIMEOUT_MS", "2500")];
    let plain = lab.conf_variant("ql-plain.conf", &base);
    let limits = [("LATENCY_DOWN_MS", "1000"), ("LATENCY_UP_MS", "200")];
    let conf = lab.conf_variant("ql.conf", &[&base[..], &limits[..]].concat());
    let before = lab.tables();
    let late = late_gateway(&lab, 1500, 60);
    lab.run_expect(&plain, 0);
    assert_eq!(count(&lab, "failsafe ACTIVATED"), 0, "failed over without a limit:\n{}", lab.log());
    assert_eq!(lab.tables(), before);
    lab.run_expect(&conf, 0);
    let log = lab.log();
    assert!(log.contains("failsafe ACTIVATED") && log.contains("above LATENCY_DOWN_MS=1000 ms"), "{log}");
    assert_failsafe_tables(&lab);
    // The kernel answers again, at once: back after UP_AFTER_S (0 in the lab's file).
    drop(late);
    let isp1 = format!("{}-isp1", lab.id);
    sh(Command::new("ip").args(["netns", "exec", &isp1, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0"]));
    lab.run_expect(&conf, 0);
    lab.run_expect(&conf, 0);
    assert!(lab.log().contains("failsafe DEACTIVATED"), "{}", lab.log());
    assert_eq!(lab.tables(), before);
}

/// The daemon, window shortened for the lab (documented in README): QUALITY_WINDOW_S=4
/// (10 by default), UP_AFTER_S=2 (60), rounds every 200 ms, LOSS_DOWN_PCT=20 and
/// LOSS_UP_PCT=5. The scenario first: the primary loses exactly 3 of every 10
/// echoes for 4 s, then none for 2.5 s, three times over — the window crosses
/// LOSS_DOWN_PCT in the first lossy phase (one failover), and no failback while it
/// oscillates. Then the hysteresis itself: a steady 10 % (2 of every 20 echoes, in pairs
/// 4 s apart) is within the DOWN limit and above the UP limit, and its rounds pass for
/// 3.5 s between the pairs — longer than UP_AFTER_S, so only LOSS_UP_PCT keeps the LAN on
/// the tunnel for those 8 s. Clean for good: one failback. At most one failover and one
/// failback in the daemon's whole run (about 35 s). Without the hysteresis (LOSS_UP_PCT=20)
/// both parts fail, as seen once each: a failback 4 s after the failover, in the first
/// clean phase, then a second failover; and, the steady phase straight after a lossy one,
/// a failback 6 s into it.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn a_primary_oscillating_between_30_and_0_pct_loss_is_failed_over_once_and_back_once_under_the_daemon() {
    let lab = Lab::up("qd", &[]);
    let conf = daemon_conf(
        &lab,
        "qd.conf",
        &[
            ("PROBE_TIMEOUT_MS", "500"),
            ("LOSS_DOWN_PCT", "20"),
            ("LOSS_UP_PCT", "5"),
            ("QUALITY_WINDOW_S", "4"),
            ("UP_AFTER_S", "2"),
        ],
    );
    let before = lab.tables();
    let d = Daemon::start(&lab, &conf, &[]);
    sleep(Duration::from_secs(5));
    assert_eq!(count(&lab, "failsafe ACTIVATED"), 0, "a clean primary failed over:\n{}", lab.log());
    let started = Instant::now();
    // Within LOSS_UP_PCT at the earliest 2.2 s into a clean phase, so a failback 2 s
    // later, after the next lossy phase has broken the wait (its first lost echo, 3 s in);
    // within LOSS_DOWN_PCT about 1.4 s in.
    for _ in 0..3 {
        primary_loss(&lab, Some("inc mod 10 < 3"));
        sleep(Duration::from_secs(4));
        primary_loss(&lab, None);
        sleep(Duration::from_millis(2500));
    }
    let log = lab.log();
    assert_eq!(log.matches("failsafe ACTIVATED").count(), 1, "{log}");
    assert_eq!(log.matches("failsafe DEACTIVATED").count(), 0, "failed back while oscillating:\n{log}");
    assert!(log.contains("above LOSS_DOWN_PCT=20 %"), "{log}");
    // Between the limits for 8 s: kept on the tunnel past UP_AFTER_S, by LOSS_UP_PCT alone.
    primary_loss(&lab, Some("inc mod 20 < 2"));
    sleep(Duration::from_secs(8));
    let log = lab.log();
    assert_eq!(log.matches("failsafe DEACTIVATED").count(), 0, "failed back above LOSS_UP_PCT:\n{log}");
    assert_failsafe_tables(&lab);
    lab.assert_traffic_via(VPS);
    primary_loss(&lab, None);
    let clean = Instant::now();
    wait_for(&lab, "failsafe DEACTIVATED", Duration::from_secs(15));
    // UP_AFTER_S of passing rounds (the wait may start up to 0.3 s before the loss ends:
    // a pair of lost echoes leaving the window before the next pair is counted).
    assert!(clean.elapsed() >= Duration::from_millis(1500), "failed back {:?} after the loss", clean.elapsed());
    eprintln!("one failover, one failback in {:?}", started.elapsed());
    assert_eq!(d.stop(), Some(0));
    assert_eq!(lab.tables(), before);
    let log = lab.log();
    assert_eq!(
        (log.matches("failsafe ACTIVATED").count(), log.matches("failsafe DEACTIVATED").count()),
        (1, 1),
        "{log}"
    );
}

/// ISP 1 drops the echo requests it forwards from the router to `target` (a TRACK_IPS
/// target): `how` an nftables `numgen` condition (see [`primary_loss`]), `""` all of
/// them; `None` stops. One table per target.
fn target_loss(lab: &Lab, target: &str, how: Option<&str>) {
    let table = format!("wfsq_t{}", target.replace('.', "_"));
    let flush = format!("table ip {table}\ndelete table ip {table}\n");
    let rule = match how {
        Some(cond) => format!(
            "table ip {table} {{\n chain through {{\n type filter hook forward priority filter; policy accept;
               iifname \"lan\" ip daddr {target} icmp type echo-request {} drop\n }}\n}}\n",
            if cond.is_empty() { String::new() } else { format!("numgen {cond}") }
        ),
        None => String::new(),
    };
    nft(lab, "isp1", &format!("{flush}{rule}"));
}

/// TRACK_IPS under the daemon, each target judged on its own window: one of two that
/// never answers (TRACK_RELIABILITY=1) fails neither the rounds nor the quality of a
/// perfect line — summed up, it was 50 % loss, above LOSS_DOWN_PCT=20: failed over at
/// once and never back. The other target losing every other echo fails the quality
/// (failover); clean again, with the dead target still dead, failed back after UP_AFTER_S.
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn one_silent_track_ip_does_not_fail_a_perfect_primary_on_quality_under_the_daemon() {
    let lab = Lab::up("qk", &[]);
    let conf = daemon_conf(
        &lab,
        "qk.conf",
        &[
            ("TRACK_IPS", "203.0.113.80 203.0.113.81"),
            ("TRACK_RELIABILITY", "1"),
            ("PROBE_TIMEOUT_MS", "500"),
            ("LOSS_DOWN_PCT", "20"),
            ("LOSS_UP_PCT", "5"),
            ("QUALITY_WINDOW_S", "2"),
        ],
    );
    let before = lab.tables();
    target_loss(&lab, "203.0.113.81", Some(""));
    let d = Daemon::start(&lab, &conf, &[]);
    sleep(Duration::from_secs(6));
    assert_eq!(count(&lab, "failsafe ACTIVATED"), 0, "failed over on a dead target's loss:\n{}", lab.log());
    assert_eq!(lab.tables(), before);
    // The live target at 50 %: its own loss fails the round's quality.
    target_loss(&lab, "203.0.113.80", Some("inc mod 2 < 1"));
    wait_for(&lab, "failsafe ACTIVATED", Duration::from_secs(10));
    assert!(lab.log().contains("poor quality: ") && lab.log().contains("above LOSS_DOWN_PCT=20 %"), "{}", lab.log());
    assert_failsafe_tables(&lab);
    target_loss(&lab, "203.0.113.80", None);
    wait_for(&lab, "failsafe DEACTIVATED", Duration::from_secs(15));
    assert_eq!(d.stop(), Some(0));
    target_loss(&lab, "203.0.113.81", None);
    assert_eq!(lab.tables(), before);
    let once = (count(&lab, "failsafe ACTIVATED"), count(&lab, "failsafe DEACTIVATED"));
    assert_eq!(once, (1, 1), "{}", lab.log());
}

/// ISP 2 answers the router (its gateway echoes) but forwards nothing for it: the backup's
/// upstream is dead behind a live modem.
fn backup_upstream(lab: &Lab, dead: bool) {
    let flush = "table ip wfsq_bup\ndelete table ip wfsq_bup\n";
    let rule = "table ip wfsq_bup {\n chain drop_through {\n type filter hook forward priority filter; policy accept;
        iifname \"lan\" drop\n }\n}\n";
    nft(lab, "isp2", &format!("{flush}{}", if dead { rule } else { "" }));
}

/// BACKUP_TRACK_IPS through the backup's gateway every BACKUP_CHECK_INTERVAL_S (10 s, the
/// least): the gateway answering while its upstream drops everything is `backup-down`
/// after two checks (hook, status); the upstream back, `backup-up` at the next check.
fn backup_track_ips_scenario(lab: &Lab, conf: &Path, out: &Path, tick: &dyn Fn()) {
    let before = lab.tables();
    tick();
    // Up (`run`'s first check is recorded; the daemon records only news).
    let status = lab.tool_with(conf, &["status"]).stdout;
    assert!(
        status.contains("backup:   eth1 up since ") || status.contains("backup:   eth1 not checked yet"),
        "{status}"
    );
    backup_upstream(lab, true);
    let gw = lab.rtr("ping -n -c 1 -W 2 -I eth1 192.168.2.1 >/dev/null && echo answers");
    assert_eq!(gw.trim(), "answers", "the backup's gateway must still answer");
    let started = Instant::now();
    while !std::fs::read_to_string(out).unwrap_or_default().contains("backup-down|") {
        assert!(started.elapsed() < Duration::from_secs(40), "no backup-down:\n{}", lab.log());
        tick();
        sleep(Duration::from_millis(500));
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(8), "down after one check ({took:?})");
    let text = std::fs::read_to_string(out).unwrap_or_default();
    assert!(
        text.contains("backup-down|backup eth1: none of BACKUP_TRACK_IPS (203.0.113.80) answers through gateway 192.168.2.1 out of eth1"),
        "{text}"
    );
    let status = lab.tool_with(conf, &["status"]).stdout;
    assert!(status.contains("backup:   eth1 DOWN since "), "{status}");
    assert_eq!(lab.tables(), before, "a dead backup changed a table");
    backup_upstream(lab, false);
    let text = {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(out).unwrap_or_default();
            if text.contains("backup-up|") {
                break text;
            }
            assert!(started.elapsed() < Duration::from_secs(25), "no backup-up:\n{}", lab.log());
            tick();
            sleep(Duration::from_millis(500));
        }
    };
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(lab.tool_with(conf, &["status"]).stdout.contains("backup:   eth1 up since "));
    assert_eq!(lab.tables(), before);
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn backup_track_ips_report_the_backups_dead_upstream_behind_a_live_gateway_under_run() {
    let lab = Lab::up("qb", &[]);
    let (hook, out) = recording_hook(&lab);
    let conf = lab.conf_variant(
        "qb.conf",
        &[
            ("BACKUP_CHECK", "on"),
            ("BACKUP_TRACK_IPS", "203.0.113.80"),
            ("BACKUP_CHECK_INTERVAL_S", "10"),
            ("ON_CHANGE", &hook.display().to_string()),
        ],
    );
    backup_track_ips_scenario(&lab, &conf, &out, &|| {
        lab.run_expect(&conf, 0);
    });
    // Between checks a tick probes nothing through the backup: the record's time of the
    // last check is what a tick at once after one leaves.
    let state = lab.state_dir().join("state");
    let checked = |s: String| s.lines().find(|l| l.starts_with("backup_checked_s=")).map(String::from);
    let at = checked(std::fs::read_to_string(&state).expect("state")).expect("a check recorded");
    lab.run_expect(&conf, 0);
    assert_eq!(checked(std::fs::read_to_string(&state).expect("state")), Some(at));
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn backup_track_ips_report_the_backups_dead_upstream_behind_a_live_gateway_under_the_daemon() {
    let lab = Lab::up("qbd", &[]);
    let (hook, out) = recording_hook(&lab);
    let conf = daemon_conf(
        &lab,
        "qbd.conf",
        &[
            ("BACKUP_CHECK", "on"),
            ("BACKUP_TRACK_IPS", "203.0.113.80"),
            ("BACKUP_CHECK_INTERVAL_S", "10"),
            ("ON_CHANGE", &hook.display().to_string()),
        ],
    );
    let d = Daemon::start(&lab, &conf, &[]);
    backup_track_ips_scenario(&lab, &conf, &out, &|| {});
    assert_eq!(d.stop(), Some(0));
}

/// The tunnel while it carries the LAN, under the daemon: the VPS drops exactly every
/// other echo to its tunnel address — every round still finds it alive (no DOWN_AFTER_MS
/// without an answer), but its window (QUALITY_WINDOW_S=3 here) is at 50 %, above
/// LOSS_DOWN_PCT=20: it is treated as a dead tunnel, the tables go straight out of the
/// backup (FALLBACK=backup); clean again, a whole fresh window within LOSS_DOWN_PCT (the
/// tunnel is judged by loss against the DOWN limit only), it carries the LAN again.
/// (Without the limits the same loss routes nothing around: the test then times out.)
#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn a_tunnel_that_answers_but_loses_half_its_echoes_is_routed_around_under_the_daemon() {
    let lab = Lab::up("qt", &[]);
    let conf = daemon_conf(
        &lab,
        "qt.conf",
        &[("LOSS_DOWN_PCT", "20"), ("LOSS_UP_PCT", "5"), ("QUALITY_WINDOW_S", "3"), ("PROBE_TIMEOUT_MS", "500")],
    );
    let before = lab.tables();
    let d = Daemon::start(&lab, &conf, &[]);
    lab.ctl("primary", "down");
    wait_for(&lab, "failsafe ACTIVATED", Duration::from_secs(15));
    assert_failsafe_tables(&lab);
    sleep(Duration::from_secs(4));
    assert!(!lab.log().contains("stopped working"), "a clean tunnel was routed around:\n{}", lab.log());
    nft(
        &lab,
        "vps",
        "table ip wfsq_tloss {\n chain in {\n type filter hook input priority filter; policy accept;
         ip daddr 10.11.0.1 icmp type echo-request numgen inc mod 2 < 1 drop\n }\n}\n",
    );
    wait_for(&lab, "stopped working", Duration::from_secs(15));
    assert_target_tables(&lab, "via 192.168.2.1 dev eth1");
    lab.assert_traffic_via_backup();
    nft(&lab, "vps", "table ip wfsq_tloss\ndelete table ip wfsq_tloss\n");
    wait_for(&lab, "works again", Duration::from_secs(15));
    assert_failsafe_tables(&lab);
    lab.assert_traffic_via(VPS);
    lab.ctl("primary", "up");
    wait_for(&lab, "failsafe DEACTIVATED", Duration::from_secs(20));
    assert_eq!(d.stop(), Some(0));
    assert_eq!(lab.tables(), before);
}
