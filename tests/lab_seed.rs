//! The seed script's newer configuration file in the namespace lab (issue 17, item 3): its
//! current branch adds WG_PORT and ALERT_ENABLED/ALERT_URL/ALERT_METHOD, and a later
//! version may add more; such a file must run a failover and a recovery unchanged, each
//! run saying once that its alert is not sent (and how to move it to ON_CHANGE).
//!
//! Root and the lab's tools (scripts/deps.sh) are needed: `#[ignore]`d by default, run with
//! `cargo test --test lab_seed -- --include-ignored`.

mod harness;

use harness::*;

/// How many lines of `text` carry the note about the seed's alert.
fn alert_notes(text: &str) -> usize {
    text.lines().filter(|l| l.contains("ALERT_ENABLED, ALERT_URL and ALERT_METHOD")).count()
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn the_seeds_newer_file_with_wg_port_and_alert_keys_fails_over_and_back_unchanged() {
    let lab = Lab::up("sn", &[]);
    let before = lab.tables();
    let wg = format!("{}w", lab.id);
    // Shaped like the seed's current file: shell quoting and comments, the port as
    // WG_PORT, the ntfy alert, and a key of a later seed version unknown here; plus the
    // lab's paths.
    let seed = format!(
        "# WireGuard failsafe configuration\n\
         WG_IFACE=\"{wg}\"\n\
         WG_PEER_IP=\"10.11.0.1\"          # VPS WireGuard tunnel IP\n\
         WG_ENDPOINT=\"{VPS}\"\n\
         WG_PORT=\"51820\"\n\
         PRIMARY_DEV=\"eth0\"\n\
         PRIMARY_GW=\"192.168.1.1\"\n\
         BACKUP_DEV=\"eth1\"\n\
         BACKUP_GW=\"192.168.2.1\"\n\
         LAN_SUBNET=\"192.168.10.0/24\"\n\
         \n\
         METRIC_WG=40\n\
         METRIC_PRIMARY=100\n\
         METRIC_BACKUP=200\n\
         \n\
         # Alerts (ntfy)\n\
         ALERT_ENABLED=true\n\
         ALERT_URL=\"https://ntfy.sh/router-secret-topic\"\n\
         ALERT_METHOD=\"POST\"\n\
         ALERT_PRIORITY=\"high\"\n\
         WG_PEER_KEY_FILE='{dir}/vps-peer-public.key'\n\
         STATE_DIR='{dir}/state'\n\
         LOCK_FILE='{dir}/lock'\n\
         LOG_FILE='{dir}/wg-failsafe.log'\n\
         UP_AFTER_S=0\n",
        dir = lab.dir.display()
    );
    let path = lab.conf_file("wireguard-failsafe.conf", &seed);

    lab.ctl("primary", "down");
    let r = lab.tool_with(&path, &["run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_failsafe_tables(&lab);
    lab.assert_traffic_via(VPS);
    assert_eq!(alert_notes(&r.stderr), 1, "one note per run:\n{}", r.stderr);
    assert!(r.stderr.contains("unknown key ALERT_PRIORITY ignored"), "{}", r.stderr);
    assert!(!r.stderr.contains("secret-topic") && !lab.log().contains("secret-topic"), "{}", r.stderr);

    lab.ctl("primary", "up");
    let r = lab.tool_with(&path, &["run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lab.tables(), before, "tables after recovery differ from before the outage");
    lab.assert_traffic_via(ISP1);
    let log = lab.log();
    assert!(log.contains("failsafe ACTIVATED in") && log.contains("failsafe DEACTIVATED in"), "{log}");
    // Said at every run to whoever reads stderr; logged once per change of the file
    // (cron's minute would repeat it).
    assert_eq!(alert_notes(&r.stderr), 1, "{}", r.stderr);
    assert_eq!(alert_notes(&log), 1, "one note in the log for one file:\n{log}");
    lab.run_expect(&path, 0);
    assert_eq!(alert_notes(&lab.log()), 1, "{}", lab.log());
    // The file edited: logged again, once.
    lab.conf_file("wireguard-failsafe.conf", &seed.replace("ALERT_METHOD=\"POST\"", "ALERT_METHOD=\"PUT\""));
    lab.run_expect(&path, 0);
    lab.run_expect(&path, 0);
    assert_eq!(alert_notes(&lab.log()), 2, "{}", lab.log());
}
