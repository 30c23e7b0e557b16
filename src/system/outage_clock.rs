//! An outage's seconds over the fake world whose wall clock is stepped apart from boot
//! time: HISTORY_FILE's duration, `status`'s `outage_s_total` and Prometheus's
//! `wg_failsafe_outage_seconds_total` are boot-time lengths (DESIGN.md: times that span
//! ticks are CLOCK_BOOTTIME), whatever NTP does to the wall clock meanwhile.

use super::lab::*;
use crate::failsafe::Outcome;

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
