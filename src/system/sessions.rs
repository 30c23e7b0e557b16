//! The renewal of the WireGuard peer over the fake's session model: a VPS that filters
//! echoes, and a peer whose session made before the endpoint route moved starts no
//! handshake until it is renewed (or has aged past SESSION_MAX_AGE_S).

use std::time::Duration;

use super::lab::{healthy_then_down, on_tunnel, Lab, KEY, PEER_IP};
use crate::decide::Target;
use crate::failsafe::Outcome;

/// The knob: the VPS answers echoes through the tunnel, or filters them (it still
/// handshakes either way).
fn vps_echoes(lab: &Lab, echoes: bool) {
    let key = ("wg0".to_string(), PEER_IP);
    let mut w = lab.w();
    if echoes {
        w.answers.insert(key);
    } else {
        w.answers.remove(&key);
    }
}

/// The peer's session: its latest handshake `age_s` ago.
fn session_of_age(lab: &Lab, age_s: u64) {
    let mut w = lab.w();
    let at = w.wall_now() - Duration::from_secs(age_s);
    let peer = w.peers.iter_mut().find(|p| p.public_key == KEY).expect("the VPS peer");
    peer.last_handshake = Some(at);
}

fn renewals(lab: &Lab) -> usize {
    lab.w().requests.iter().filter(|q| q.starts_with("wg renew")).count()
}

/// A silent VPS whose session, made over the primary 10 s before the outage, still holds:
/// neither the endpoint set again nor an echo starts a handshake, so only the one
/// renewal proves the tunnel — without it the activation would fall back to the backup.
#[test]
fn an_activation_over_a_session_that_holds_renews_the_peer_once() {
    let lab = Lab::new("session-activation", "");
    vps_echoes(&lab, false);
    session_of_age(&lab, 10);
    healthy_then_down(&lab);
    let out = lab.tick().expect("activation");
    assert!(matches!(out, Outcome::Activated { target: Target::Tunnel, .. }), "{out:?}");
    assert_eq!(renewals(&lab), 1, "{:#?}", lab.w().requests);
    on_tunnel(&lab);
}

/// While active, a silent VPS's handshake older than HANDSHAKE_MAX_AGE (60 s) whose
/// session still holds (under 180 s) starts no new one by the round's echo: the round
/// renews the peer, and the fresh handshake keeps the tables on the tunnel.
#[test]
fn a_round_with_a_stale_handshake_of_a_silent_vps_renews_and_stays() {
    let lab = Lab::new("session-round", "HANDSHAKE_MAX_AGE=60\n");
    vps_echoes(&lab, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    assert_eq!(renewals(&lab), 0, "no session before: setting the endpoint handshook");
    lab.advance_s(100);
    let out = lab.tick().expect("active");
    assert!(matches!(out, Outcome::Active { tunnel_ok: true, .. }), "{out:?}");
    assert_eq!(renewals(&lab), 1, "{:#?}", lab.w().requests);
    on_tunnel(&lab);
}

/// A VPS that answered echoes in the first outage and filters them in the second is
/// judged by what the second activation's proof saw (a handshake): its tunnel is kept.
/// The old rule (`peer_echoes |= answered`) remembered the echoes of the first outage,
/// called the tunnel down at the next round and moved the tables to the backup.
#[test]
fn a_vps_that_stops_echoing_between_outages_keeps_its_tunnel() {
    let lab = Lab::new("session-outages", "");
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    lab.primary_carrier(true);
    lab.tick().expect("waiting");
    lab.advance_s(61);
    assert!(matches!(lab.tick(), Ok(Outcome::Deactivated { .. })));
    // The session of the first outage still holds (61 s old).
    vps_echoes(&lab, false);
    lab.primary_carrier(false);
    let out = lab.tick().expect("second activation");
    assert!(matches!(out, Outcome::Activated { target: Target::Tunnel, .. }), "{out:?}");
    assert_eq!(renewals(&lab), 1, "{:#?}", lab.w().requests);
    let out = lab.tick().expect("active");
    assert!(matches!(out, Outcome::Active { tunnel_ok: true, .. }), "{out:?}");
    on_tunnel(&lab);
}

/// The tunnel's proof asks again every 50 ms until PROBE_TIMEOUT_MS (1000 ms): the first
/// echo lost (the first packet after the endpoint route moved), the second answers, and
/// the proof took one cadence and one round trip of the fake's clock, not the timeout.
#[test]
fn one_lost_echo_costs_the_tunnel_proof_one_cadence_not_the_timeout() {
    let lab = Lab::new("proof-cadence", "");
    let sys = lab.sys().expect("system");
    lab.w().lost_echoes = 1;
    let started = lab.w().boottime_ms;
    let sent = lab.w().echoes_sent;
    assert!(sys.peer_answers_soon().expect("probed"), "the second echo answers");
    assert_eq!(lab.w().echoes_sent - sent, 2, "asked again once");
    assert_eq!(lab.w().boottime_ms - started, 51, "one 50 ms cadence and a 1 ms round trip");
}

/// A VPS that never answers: the proof goes on asking every 50 ms, and says no only once
/// PROBE_TIMEOUT_MS has passed (20 echoes in 1000 ms).
#[test]
fn the_tunnel_proof_fails_only_after_probe_timeout_ms() {
    let lab = Lab::new("proof-timeout", "");
    let sys = lab.sys().expect("system");
    vps_echoes(&lab, false);
    let started = lab.w().boottime_ms;
    let sent = lab.w().echoes_sent;
    assert!(!sys.peer_answers_soon().expect("probed"));
    assert_eq!(lab.w().boottime_ms - started, 1000, "the whole PROBE_TIMEOUT_MS");
    assert_eq!(lab.w().echoes_sent - sent, 20, "one echo per 50 ms");
}

/// At activation, over a session that holds, the first echo lost: the proof's next echo
/// (50 ms later) proves the tunnel — no renewal, and the switch is made within 100 ms of
/// the fake's clock. A proof that waited out PROBE_TIMEOUT_MS for its one echo would have
/// called the tunnel unproven and renewed the peer.
#[test]
fn an_activation_whose_first_echo_is_lost_is_proven_by_the_next() {
    let lab = Lab::new("proof-activation", "");
    session_of_age(&lab, 10);
    healthy_then_down(&lab);
    lab.w().lost_echoes = 1;
    let out = lab.tick().expect("activation");
    let Outcome::Activated { ms, target: Target::Tunnel } = out else { panic!("{out:?}") };
    assert!(ms < 100, "switched {ms} ms after the activation began");
    assert_eq!(renewals(&lab), 0, "{:#?}", lab.w().requests);
    on_tunnel(&lab);
}
