//! An outage's totals over the fake world. Its seconds, with the wall clock stepped apart
//! from boot time: HISTORY_FILE's duration, `status`'s `outage_s_total` and Prometheus's
//! `wg_failsafe_outage_seconds_total` are boot-time lengths (DESIGN.md: times that span
//! ticks are CLOCK_BOOTTIME), whatever NTP does to the wall clock meanwhile. Its bytes:
//! counted from 0 after the tool renews the peer, and never going down in `status`.

use super::lab::*;
use crate::decide::Target;
use crate::failsafe::Outcome;
use crate::traffic::Bytes;

/// A router without an RTC boots into an outage with its clock at the firmware's build
/// date and fails over before NTP has set it (NTP then syncs through the tunnel): the
/// 10-minute outage is 10 minutes in the history and in the totals, not years.
#[test]
fn an_outage_before_ntp_sync_is_not_recorded_as_years_long() {
    let mut lab = Lab::new("ntpsync", "");
    lab.cfg.history_file = Some(lab.dir.join("history"));
    let lab = lab;
    // Booted with the clock about 3 years behind.
    lab.w().wall_step_s = -3 * 365 * 86_400;
    lab.tick().expect("healthy");
    lab.primary_carrier(false);
    lab.tick().expect("activation");
    // NTP syncs through the tunnel a minute later; the outage lasts 10 minutes in all.
    lab.advance_s(60);
    lab.w().wall_step_s = 0;
    lab.tick().expect("active");
    lab.advance_s(480);
    lab.primary_carrier(true);
    lab.tick().expect("waiting");
    lab.advance_s(61);
    assert!(matches!(lab.tick().expect("failback"), Outcome::Deactivated { .. }));
    let text = std::fs::read_to_string(lab.dir.join("history")).expect("history");
    let o = &crate::history::parse_all(&text)[0];
    let total = crate::status::gather(&mut lab.sys().expect("sys")).expect("status").outage_s_total;
    assert!(o.duration_s() < 3_600 && total < 3_600, "duration_s={} outage_s_total={total}: {text}", o.duration_s());
}

/// `wg_failsafe_outage_seconds_total` is a Prometheus counter: within one boot it never
/// goes down (a decrease reads as a counter reset, and rate()/increase() invent an
/// outage), also when NTP steps the wall clock back during an outage.
#[test]
fn the_outage_seconds_counter_never_goes_down_within_a_boot() {
    let lab = Lab::new("ntpback", "");
    lab.tick().expect("healthy");
    lab.primary_carrier(false);
    lab.tick().expect("activation");
    lab.advance_s(600);
    let first = crate::status::gather(&mut lab.sys().expect("sys")).expect("status").outage_s_total;
    // The clock is stepped back 5 minutes (NTP correcting a fast clock), 10 s later.
    lab.w().wall_step_s = -300;
    lab.advance_s(10);
    let second = crate::status::gather(&mut lab.sys().expect("sys")).expect("status").outage_s_total;
    assert!(second >= first, "outage_seconds_total went from {first} to {second}");
}

/// A silent VPS's stale handshake makes a round renew the peer, whose counters start again
/// at 0; a 5 MB download follows before the next reading. All 5 MB are counted — the old
/// rule saw only a counter below its last reading, and counted 4.7 MB past the 300 kB.
#[test]
fn the_bytes_of_a_peer_the_round_renewed_count_from_0() {
    let lab = Lab::new("renewbytes", "HANDSHAKE_MAX_AGE=60\n");
    lab.w().answers.remove(&("wg0".to_string(), PEER_IP));
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    lab.w().peers[0].rx_bytes = 300_000;
    lab.advance_s(100);
    assert!(matches!(lab.tick(), Ok(Outcome::Active { tunnel_ok: true, .. })));
    assert!(lab.w().requests.iter().any(|q| q.starts_with("wg renew")), "{:#?}", lab.w().requests);
    let sys = lab.sys().expect("sys");
    let (traffic, wg0) = (sys.record().traffic, sys.links.index("wg0"));
    drop(sys);
    assert_eq!((traffic.base.map(|b| b.counters.rx), traffic.base.and_then(|b| b.device)), (Some(0), wg0));
    let counted = traffic.tunnel.rx;
    lab.w().peers[0].rx_bytes = 5_000_000;
    assert!(matches!(lab.tick(), Ok(Outcome::Active { tunnel_ok: true, .. })));
    assert_eq!(lab.sys().expect("sys").record().traffic.tunnel.rx - counted, 5_000_000);
}

/// `wg_failsafe_backup_bytes_total` (status's `bytes_total`) is a Prometheus counter: it
/// is what the record's readings counted, so a status that read the counters beyond the
/// last reading cannot be followed by a smaller figure when the device is gone (an LTE
/// modem re-enumerating while FALLBACK has the tables on it) or made again.
#[test]
fn the_bytes_counter_never_goes_down_in_status() {
    let lab = Lab::new("bytesmono", "");
    let set_backup = |rx: Option<u64>| lab.w().link_bytes = rx.map(|rx| (3, Bytes { rx, tx: 0 })).into_iter().collect();
    let status_rx = || crate::status::gather(&mut lab.sys().expect("sys")).expect("status").bytes_total.rx;
    set_backup(Some(300_000));
    lab.tick().expect("healthy");
    tunnel_works(&lab, false);
    lab.primary_carrier(false);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Backup, .. })));
    // Each reading keeps its device's interface index (eth1's is 3).
    assert_eq!(lab.sys().expect("sys").record().traffic.base.and_then(|b| b.device), Some(3));
    let mut seen = vec![status_rx()];
    set_backup(Some(1_300_000));
    seen.push(status_rx());
    lab.tick().expect("active: 1 MB counted");
    seen.push(status_rx());
    set_backup(Some(2_300_000));
    seen.push(status_rx());
    // The device is gone, then back with its counters from 0.
    set_backup(None);
    seen.push(status_rx());
    lab.tick().expect("active: nothing to read");
    seen.push(status_rx());
    set_backup(Some(200_000));
    seen.push(status_rx());
    lab.tick().expect("active: a new base");
    set_backup(Some(700_000));
    lab.tick().expect("active: 500 kB counted");
    seen.push(status_rx());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&1_500_000), "{seen:?}");
}
