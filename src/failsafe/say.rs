//! What the sequences tell: every log line and every event (the ring in STATE_DIR and
//! ON_CHANGE) that activation, the round while active and deactivation compose, in one
//! place, so that the sequences read as what they do. A sequence names what happened
//! ([`News`]); [`News::said`] composes the words from it and the configuration (pure, so
//! every text is unit-tested), and [`tell`] logs them and announces the events.
//!
//! The texts are the owner's interface as much as the command line: the lab tests and
//! owners' scripts grep the log for them, so a change to one is a change to README.md.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::config::{Config, Fallback};
use crate::error::Error;
use crate::health::Unhealthy;
use crate::log::Level;
use crate::model::Target;
use crate::netlink::route::{table_name, Route};
use crate::netlink::rule::Rule;
use crate::state::Snapshot;
use crate::system::System;
use crate::traffic::Traffic;

mod words;
use words::{activated, budget, deactivated, fallback, ipv6_refused, lookup, no_tunnel_works, reimposed, tunnel_down};
pub use words::{activation_reason, flows_said, outcome_said};

/// Something a sequence did or found that is told.
#[derive(Clone, Copy, Debug)]
pub enum News<'a> {
    /// A healthy round could not remember the tables as last seen healthy.
    HealthyNotRemembered(&'a Error),
    /// A round while active that could not act could not record the failback wait either.
    FailbackNotCounted(&'a Error),
    /// BACKUP_CHECK: the backup path fails (why), or works again.
    BackupDown(&'a str),
    BackupUp,
    /// Activation begins, because the primary is down (`Some`) or by request.
    Activating(Option<&'a Unhealthy>),
    /// Activation stopped, and did not say why itself.
    ActivationFailed(&'a Error),
    /// FALLBACK=none and the tunnel unproven: nothing changed.
    TunnelUnproven,
    /// FALLBACK=backup and the tunnel unproven (why): the tables go to the backup.
    FallingBackAtActivation(&'a str),
    /// A default in the snapshot was an owner's failover: the table's healthy one
    /// comes back instead.
    AsideBeforeSnapshot(&'a Route),
    /// Activation done: the line, `activated`, and `fallback` when on the backup.
    Activated(&'a Activated<'a>),
    /// A default the kernel keeps for itself (router advertisement) that would win over
    /// the failsafe's: never deleted, so that family keeps leaving through it; the owner
    /// is told once, at activation, how to make the failsafe's win.
    KernelWinner(&'a Route),
    /// A LAN rule whose selectors the failsafe does not model.
    UnmodelledRule(&'a Rule),
    /// The LAN resolver (its address) does not answer: restarted.
    DnsRestart(Ipv4Addr),
    /// The daemon's DNS check could not ask the resolver (its address): restarted as one
    /// that does not answer.
    DnsNotAsked(Ipv4Addr, &'a std::io::Error),
    /// DNS_RESTART_CMD failed (as the door reports it: the command, then why).
    DnsRestartFailed(&'a Error),
    /// A healthy round could not keep a name endpoint's address fresh.
    EndpointNotRefreshed(&'a Error),
    /// The daemon: the tables switched `ms` after the kernel's event that asked for it
    /// (`what`; the figure `make bench` reads).
    SwitchedAfterEvent {
        ms: u64,
        what: &'a str,
    },
    /// A name endpoint's lookup came to this (`healthy`: a healthy round's, which tells
    /// only a new address or the first failure).
    Lookup {
        looked: &'a crate::endpoint::Looked,
        healthy: bool,
    },
    /// CONNTRACK_FLUSH after a switch: no flow could be reset (why).
    FlowsNotReset(&'a str),
    /// CONNTRACK_FLUSH after a switch: some of the flows it breaks were not deleted.
    FlowsNotDeleted {
        failed: usize,
        error: &'a str,
    },
    /// CONNTRACK_FLUSH=auto on a kernel without ctnetlink (told once per process).
    ConntrackUnsupported(&'a str),
    /// The route to the VPS cannot be put in while active (told once).
    EndpointRouteRefused(&'a Error),
    /// While active, a default appeared: moved aside, back at failback.
    Appeared(&'a Route),
    /// While active, an owner's failover (or the outage's own) appeared: moved aside
    /// for good.
    AppearedAside(&'a Route),
    /// The load balancer re-imposes these (told once an activation).
    Reimposed(&'a [Route]),
    /// Drift repaired: this many changes.
    Repaired(usize),
    /// The tunnel stopped working: the tables go to the backup (its gateway), with the
    /// flows reset. `unaddressed`: because WG_IFACE has no IPv4 address.
    Fallback {
        backup_gw: Ipv4Addr,
        flows: Option<usize>,
        unaddressed: bool,
    },
    /// The tunnel works again after a fallback: the tables use it again.
    TunnelRestored {
        flows: Option<usize>,
    },
    /// Several tunnels: the tables moved from tunnel `from` to the one in use.
    TunnelSwitched {
        from: &'a str,
    },
    /// The tables are on the tunnel and it is down (`true`: WG_IFACE has no IPv4 address).
    TunnelDown(bool),
    /// ... and it works again.
    TunnelUp,
    /// The primary passes again: failing back after this wait.
    PrimaryPasses {
        wait_s: u64,
    },
    /// A round while active completed an activation killed after its switch.
    ActivationCompleted,
    /// IPv6 refused by the kernel (why), or moved after all.
    Ipv6Refused(&'a str),
    Ipv6Moved,
    /// Deactivation by request although the primary is down (why).
    DeactivatingAnyway(&'a Unhealthy),
    /// Journal or snapshot lost: the failsafe's routes and rules are told by their shape.
    StateLost,
    /// A saved route whose device is gone.
    NotRestoring(&'a Route),
    /// A rule of ours whose deletion would delete another first.
    RuleLeft(&'a Rule),
    /// A cleanup left a default of ours: its table has no other, and no snapshot says
    /// what it had.
    DefaultLeft(&'a Route),
    /// IPv6 saved routes the kernel refused at failback.
    Ipv6NotRestored(&'a [String]),
    /// A deactivation that could not finish (what failed).
    DeactivationIncomplete(&'a [String]),
    /// Deactivation done, in `ms`: by request (`forced`) or after the wait.
    Deactivated {
        ms: u64,
        flows: Option<usize>,
        forced: bool,
        wait_s: u64,
        /// The bytes of the outage it ends.
        traffic: Traffic,
    },
    /// An unfinished activation's changes taken back: this many.
    TookBack(usize),
    /// The tunnel's proof at activation: an echo answered, or (`handshook`) only a
    /// handshake was made, after `ms`.
    TunnelProven {
        ms: u64,
        handshook: bool,
    },
    /// The VPS peer's endpoint and keepalive set (why, the endpoint, where its key came
    /// from).
    PeerSet {
        why: &'a str,
        endpoint: std::net::SocketAddr,
        source: &'a str,
    },
    /// The VPS peer renewed so that a handshake is made (why).
    PeerRenewed(&'a str),
    /// A step on the tunnel failed; told, never a stop.
    TunnelStepFailed(&'a Error),
    /// HISTORY_FILE could not take the outage's line (its path, the outage still in
    /// progress, why).
    HistoryNotWritten {
        path: &'a std::path::Path,
        in_progress: bool,
        error: &'a std::io::Error,
    },
    /// BACKUP_BUDGET_MB: `pct` of it reached for the first time in the period `since`.
    Budget {
        pct: u8,
        used_bytes: u64,
        budget_mb: u64,
        since: u64,
    },
}

/// What an activation did, for its line and events.
#[derive(Clone, Copy, Debug)]
pub struct Activated<'a> {
    pub ms: u64,
    pub why: Option<&'a Unhealthy>,
    pub target: Target,
    pub backup_gw: Ipv4Addr,
    pub snapshot: &'a Snapshot,
    /// IPv6 was refused (told in its own line).
    pub refused6: bool,
    /// The failback wait when flap damping lengthened it.
    pub damped_s: Option<u64>,
    pub flows: Option<usize>,
}

/// One thing said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    Log(Level, String),
    /// An event: its name and reason.
    Event(&'static str, String),
    /// Logged only when the event said just before is new (not a repeat of the last).
    LogIfNew(Level, String),
}

/// Tells `news`: its lines logged and its events recorded and queued for ON_CHANGE.
pub fn tell(sys: &mut System, news: News) {
    tell_tables(sys, news, None, &BTreeSet::new());
}

/// Tells news about the tables: its events go to ON_CHANGE with the tables they concern
/// and, for a switch, the time it took (`ms`; see [`System::event`]).
pub fn tell_tables(sys: &mut System, news: News, ms: Option<u64>, tables: &BTreeSet<u32>) {
    let mut new = true;
    for said in news.said(sys.cfg) {
        match said {
            Said::Log(level, line) => sys.log.log(level, &line),
            Said::LogIfNew(level, line) if new => sys.log.log(level, &line),
            Said::LogIfNew(..) => {}
            Said::Event(event, why) => new = sys.event(event, &why, ms, tables.iter().copied()),
        }
    }
}

/// News told by a driver outside a round (the daemon's DNS check beside its loop): its
/// log lines only, in the round's words.
pub fn log_only(c: &Config, log: &crate::log::Logger, news: News) {
    for said in news.said(c) {
        if let Said::Log(level, line) | Said::LogIfNew(level, line) = said {
            log.log(level, &line);
        }
    }
}

fn info(line: String) -> Vec<Said> {
    vec![Said::Log(Level::Info, line)]
}

fn warn(line: String) -> Vec<Said> {
    vec![Said::Log(Level::Warning, line)]
}

fn error(line: String) -> Vec<Said> {
    vec![Said::Log(Level::Error, line)]
}

/// The same words logged and as an event's reason.
fn both(level: Level, event: &'static str, why: String) -> Vec<Said> {
    vec![Said::Log(level, why.clone()), Said::Event(event, why)]
}

impl News<'_> {
    /// The reason of its (last) event, for an error returned in the same words.
    pub fn reason(&self, c: &Config) -> String {
        let mut events = self.said(c).into_iter().rev().filter_map(|s| match s {
            Said::Event(_, why) => Some(why),
            _ => None,
        });
        events.next().unwrap_or_default()
    }

    /// The words, in the order they are told.
    pub fn said(&self, c: &Config) -> Vec<Said> {
        let (wg, backup) = (&c.wg_iface, &c.backup_dev);
        match *self {
            News::BackupDown(why) => {
                let why = format!("backup {backup}: {why}");
                vec![Said::Log(Level::Warning, format!("{why}: a failover now would have no working path")), Said::Event("backup-down", why)]
            }
            News::BackupUp => both(Level::Info, "backup-up", format!("backup {backup} works again")),
            News::Activating(Some(w)) => {
                warn(format!("primary {} is down ({w}): activating the failsafe", c.primary_dev))
            }
            News::Activating(None) => info("activating the failsafe by request".into()),
            News::ActivationFailed(e) => vec![Said::Event("error", format!("activation failed: {e}"))],
            // The same reason every retry (the diagnostics, with their handshake ages,
            // change every time): one event per outage, not per minute.
            News::TunnelUnproven => vec![Said::Event(
                "error",
                format!("{} over {backup} (FALLBACK=none: no table changed)", no_tunnel_works(c)),
            )],
            News::FallingBackAtActivation(why) => {
                error(format!("{why}: routing every table straight out of {backup} instead (FALLBACK=backup)"))
            }
            News::AsideBeforeSnapshot(r) => info(format!(
                "`{r}` is an owner's failover made before the snapshot: the table's default as last seen healthy comes back at failback instead"
            )),
            News::Activated(a) => activated(c, a),
            News::KernelWinner(r) => warn(format!(
                "`{r}` is the kernel's (router advertisement) and wins over METRIC_WG={}: it stays, and traffic it matches keeps using it; set METRIC_WG below {} (or raise net.ipv6.conf.{}.ra_defrtr_metric)",
                c.metric_of(r.is_v6()),
                r.metric,
                r.dev.as_deref().unwrap_or("all")
            )),
            News::UnmodelledRule(r) => warn(format!(
                "`ip rule {r}` sends LAN traffic elsewhere with selectors wg-failsafe does not model: it is not copied before the LAN's rule, which takes that traffic to the tunnel during the outage"
            )),
            News::EndpointRouteRefused(e) => {
                let why = format!("the route to the VPS cannot be put in: {e}");
                vec![Said::Event("error", why.clone()), Said::LogIfNew(Level::Error, why)]
            }
            News::Appeared(r) => {
                info(format!("failsafe active: {r} appeared; moved aside, it comes back at failback"))
            }
            News::AppearedAside(r) => warn(format!(
                "failsafe active: {r} appeared (an owner's failover, or the outage's own); moved aside, it does not come back at failback"
            )),
            News::Reimposed(routes) => warn(reimposed(routes)),
            News::Repaired(n) => warn(format!("failsafe active: repaired {n} drifted route(s), rule(s) or link(s)")),
            News::Fallback { backup_gw, flows, unaddressed } => fallback(c, backup_gw, flows, unaddressed),
            News::TunnelRestored { flows } => {
                let line = format!("tunnel {wg} works again: every table uses it again{}", flows_said(flows));
                let why = format!("tunnel {wg} works over {backup}");
                vec![Said::Log(Level::Info, line), Said::Event("tunnel-restored", why)]
            }
            News::TunnelSwitched { from } => both(
                Level::Info,
                "tunnel-restored",
                format!("tunnel {wg} works over {backup}: every table moved to it from {from}"),
            ),
            News::TunnelDown(unaddressed) => both(Level::Error, "error", tunnel_down(c, unaddressed)),
            News::TunnelUp => both(Level::Info, "tunnel-restored", format!("tunnel {wg} works again")),
            News::PrimaryPasses { wait_s } => info(format!(
                "primary {} passes again: failing back after {wait_s} s without a failed round",
                c.primary_dev
            )),
            News::ActivationCompleted => vec![
                Said::Log(Level::Info, "failsafe ACTIVATED (an interrupted activation was completed)".into()),
                Said::Event("activated", "an interrupted activation was completed".into()),
            ],
            News::Ipv6Refused(why) => both(Level::Error, "error", ipv6_refused(c, why)),
            News::Ipv6Moved => info("IPv6 moved too now".into()),
            News::DeactivatingAnyway(why) => warn(format!(
                "deactivating by request although the primary {} is down ({why})",
                c.primary_dev
            )),
            News::Ipv6NotRestored(failures) => both(Level::Error, "error", format!(
                "IPv6 not fully restored (IPv4 is): the kernel refused a saved route, which its owner must add again: {}",
                failures.join("; ")
            )),
            News::DeactivationIncomplete(failures) => vec![Said::Event(
                "error",
                format!("deactivation incomplete, still in failsafe: {}", failures.join("; ")),
            )],
            News::Deactivated { ms, flows, forced, wait_s, traffic } => {
                deactivated(c, ms, flows, forced, wait_s, &traffic)
            }
            News::TookBack(n) => info(format!("took back {n} change(s) of an unfinished activation")),
            News::Budget { pct, used_bytes, budget_mb, since } => budget(c, pct, used_bytes, budget_mb, since),
            News::StateLost
            | News::NotRestoring(_)
            | News::RuleLeft(_)
            | News::DefaultLeft(_)
            | News::TunnelProven { .. }
            | News::PeerSet { .. }
            | News::PeerRenewed(_)
            | News::TunnelStepFailed(_)
            | News::HistoryNotWritten { .. } => self.said_of_steps(c),
            | News::HealthyNotRemembered(_)
            | News::FailbackNotCounted(_)
            | News::DnsRestart(_)
            | News::DnsNotAsked(..)
            | News::DnsRestartFailed(_)
            | News::EndpointNotRefreshed(_)
            | News::Lookup { .. }
            | News::SwitchedAfterEvent { .. }
            | News::FlowsNotReset(_)
            | News::FlowsNotDeleted { .. }
            | News::ConntrackUnsupported(_) => self.said_of_helps(c),
        }
    }

    /// The log lines of what helps the tables without moving them — the DNS check,
    /// CONNTRACK_FLUSH, a name endpoint kept fresh, what a round remembers — when it cannot.
    fn said_of_helps(&self, c: &Config) -> Vec<Said> {
        match *self {
            News::HealthyNotRemembered(e) => warn(format!("the tables as last seen healthy are not remembered: {e}")),
            News::FailbackNotCounted(e) => error(format!("the failback wait is not recorded: {e}")),
            News::DnsRestart(server) => warn(format!(
                "dnsmasq at {server} does not resolve {}: running {}",
                c.dns_test_name,
                c.dns_restart_cmd.join(" ")
            )),
            News::DnsNotAsked(server, e) => {
                warn(format!("DNS check of {server}: {e}: taken as a resolver that does not answer"))
            }
            News::DnsRestartFailed(e) => error(format!("DNS_RESTART_CMD failed: {e}")),
            News::EndpointNotRefreshed(e) => warn(format!(
                "WG_ENDPOINT {}: its address is not kept fresh: {e}",
                c.wg_endpoint.name.as_deref().unwrap_or_default()
            )),
            News::Lookup { looked, healthy } => lookup(c, looked, healthy),
            News::SwitchedAfterEvent { ms, what } => info(format!("tables switched {ms} ms after the kernel's event: {what}")),
            News::FlowsNotReset(e) => error(format!("CONNTRACK_FLUSH: no flow reset: {e}")),
            News::FlowsNotDeleted { failed, error: e } => {
                error(format!("CONNTRACK_FLUSH: {failed} flow(s) not deleted: {e}"))
            }
            News::ConntrackUnsupported(e) => warn(format!(
                "CONNTRACK_FLUSH=auto: {e}; flows a switch breaks wait for their timeout (CONNTRACK_FLUSH=off silences this)"
            )),
            _ => Vec::new(),
        }
    }

    /// The log lines (no event) of single steps: what a failback leaves or cannot put
    /// back, the tunnel's steps, HISTORY_FILE's failures.
    fn said_of_steps(&self, c: &Config) -> Vec<Said> {
        let (wg, backup) = (&c.wg_iface, &c.backup_dev);
        match *self {
            News::StateLost => {
                warn("state lost: taking back the routes and rules that have the failsafe's shape".into())
            }
            News::NotRestoring(r) => warn(format!("not restoring {r}: its device is gone (the kernel dropped it too)")),
            News::RuleLeft(r) => warn(format!(
                "left `ip rule {r}` in place: deleting it would delete another rule at priority {} first; remove both by hand",
                r.priority
            )),
            News::DefaultLeft(r) => warn(format!(
                "left `ip route {r}` in place: its table has no other default and the snapshot that said what it had is lost; put the table's own default back, then delete it by hand"
            )),
            News::TunnelProven { ms, handshook: false } => info(format!("tunnel {wg} up after {ms} ms")),
            News::TunnelProven { ms, handshook: true } => {
                info(format!("tunnel {wg} handshook over {backup} after {ms} ms"))
            }
            News::PeerSet { why, endpoint, source } => info(format!(
                "tunnel {wg} {why}: setting the peer's endpoint {endpoint} and keepalive (key from {source})"
            )),
            News::PeerRenewed(why) => info(format!(
                "tunnel {wg}: {why}: renewing the peer (same settings) so that a handshake is made over {backup}"
            )),
            News::TunnelStepFailed(e) => warn(format!("tunnel {wg}: {e}")),
            News::HistoryNotWritten { path, in_progress, error } => warn(format!(
                "HISTORY_FILE {}: the outage {}is not recorded: {error}",
                path.display(),
                if in_progress { "in progress " } else { "" }
            )),
            _ => Vec::new(),
        }
    }
}

/// Activation refused before it changed anything: `dev` does not exist.
pub fn no_interface(dev: &str) -> Error {
    Error::Failed(format!("interface {dev} does not exist; nothing was changed"))
}

/// Activation refused: the backup has no usable link (why).
pub fn no_backup_path(c: &Config, why: &Unhealthy) -> Error {
    Error::Failed(format!("backup {} {why}: no path to fail over to; every table is left as it is", c.backup_dev))
}

/// Activation (`at_activation`: nothing was changed) or the round while active refused:
/// no backup gateway.
pub fn no_backup_gateway(c: &Config, at_activation: bool) -> Error {
    let nothing = if at_activation { "; nothing was changed" } else { "" };
    Error::Failed(format!("BACKUP_GW={}: no gateway found for {}{nothing}", c.backup_gw, c.backup_dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{cfg, r, rule};
    use crate::health::Unhealthy;
    use crate::traffic::Bytes;

    fn lines(news: News, c: &Config) -> Vec<String> {
        news.said(c)
            .into_iter()
            .map(|s| match s {
                Said::Log(l, line) => format!("{l:?}: {line}"),
                Said::LogIfNew(l, line) => format!("{l:?} if new: {line}"),
                Said::Event(e, why) => format!("event {e}: {why}"),
            })
            .collect()
    }

    const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 1);

    fn to_tunnel(snapshot: &Snapshot) -> Activated<'_> {
        Activated {
            ms: 1,
            why: None,
            target: Target::Tunnel,
            backup_gw: GW,
            snapshot,
            refused6: false,
            damped_s: None,
            flows: None,
        }
    }

    #[test]
    fn activation_says_one_line_where_the_tables_went_and_its_events() {
        let c = cfg();
        let snapshot = Snapshot { tables: [201, 254].into_iter().collect(), ..Snapshot::default() };
        let why = Unhealthy::NoCarrier;
        let a = Activated { ms: 35, why: Some(&why), ..to_tunnel(&snapshot) };
        assert_eq!(
            lines(News::Activated(&a), &c),
            [
                "Info: failsafe ACTIVATED in 35 ms: tables 201, main now use wg0 via 10.11.0.1",
                "event activated: primary eth0: no carrier"
            ]
        );
        let b = Activated { target: Target::Backup, why: None, damped_s: Some(120), flows: Some(3), ..a };
        assert_eq!(
            lines(News::Activated(&b), &c),
            [
                "Info: failsafe ACTIVATED in 35 ms: tables 201, main now use eth1 via 192.168.2.1 (FALLBACK: the tunnel does not work), failback after 120 s (flapping); 3 flows reset",
                "event activated: by request",
                "event fallback: tunnel wg0 does not work over eth1: tables via 192.168.2.1",
            ]
        );
        let six = Snapshot { tables6: [254].into_iter().collect(), ..snapshot.clone() };
        let v6 = Activated { snapshot: &six, ..a };
        assert!(lines(News::Activated(&v6), &c)[0].ends_with("; IPv6 tables main refuse at once (unreachable)"));
        let refused = Activated { refused6: true, ..v6 };
        assert!(lines(News::Activated(&refused), &c)[0].ends_with("; IPv6: see the error above"));
    }

    #[test]
    fn the_tunnels_transitions_are_one_line_and_one_event_each() {
        let c = cfg();
        assert_eq!(
            lines(News::Fallback { backup_gw: GW, flows: Some(1), unaddressed: false }, &c),
            [
                "Error: tunnel wg0 stopped working: every table now goes straight out of eth1 via 192.168.2.1 (FALLBACK=backup); 1 flow reset",
                "event fallback: tunnel wg0 stopped working: every table now goes straight out of eth1 via 192.168.2.1 (FALLBACK=backup)",
            ]
        );
        assert_eq!(
            lines(News::TunnelRestored { flows: None }, &c),
            [
                "Info: tunnel wg0 works again: every table uses it again",
                "event tunnel-restored: tunnel wg0 works over eth1"
            ]
        );
        assert_eq!(
            lines(News::TunnelUp, &c),
            ["Info: tunnel wg0 works again", "event tunnel-restored: tunnel wg0 works again"]
        );
        let down = lines(News::TunnelDown(false), &c);
        assert!(
            down[0].starts_with("Error: failsafe active but tunnel wg0 is down: no answer from 10.11.0.1"),
            "{down:?}"
        );
        assert!(down[0].ends_with("(eth1 has no carrier either: the primary is used again at its first passing round)"));
        let none = crate::config::Config { fallback: Fallback::None, ..cfg() };
        assert!(lines(News::TunnelDown(false), &none)[1].ends_with("(FALLBACK=none keeps the tables on it)"));
        // WG_IFACE without its IPv4 address: said, not taken for a silent VPS.
        assert_eq!(
            lines(News::TunnelDown(true), &none)[0],
            "Error: failsafe active but tunnel wg0 is down: wg0 has no IPv4 address (FALLBACK=none keeps the tables on it)"
        );
        assert_eq!(
            lines(News::Fallback { backup_gw: GW, flows: None, unaddressed: true }, &c)[1],
            "event fallback: tunnel wg0 stopped working (wg0 has no IPv4 address): every table now goes straight out of eth1 via 192.168.2.1 (FALLBACK=backup)"
        );
    }

    /// A dead tunnel kept with FALLBACK=backup is so because the backup is down too: said
    /// so, not "FALLBACK=none" (an audit found the wrong words).
    #[test]
    fn routes_the_load_balancer_re_imposes_are_listed_in_one_line() {
        let c = cfg();
        let routes = [
            r("default via 192.168.1.1 dev eth0 table 201 proto static"),
            r("default via 192.168.2.1 dev eth1 table 202 proto static"),
        ];
        assert_eq!(
            lines(News::Reimposed(&routes[..1]), &c),
            ["Warning: failsafe active: the load balancer re-imposes `default via 192.168.1.1 dev eth0 table 201 proto static`; repairing it without a log line from now on"]
        );
        assert_eq!(
            lines(News::Reimposed(&routes), &c),
            ["Warning: failsafe active: the load balancer re-imposes `default via 192.168.1.1 dev eth0 table 201 proto static`, `default via 192.168.2.1 dev eth1 table 202 proto static`; repairing it without a log line from now on"]
        );
    }

    #[test]
    fn a_dead_tunnel_kept_is_said_with_its_reason() {
        let dead =
            super::super::Outcome::Active { repairs: 0, target: Target::Tunnel, tunnel_ok: false, wait_left_s: None };
        let mut c = cfg();
        c.fallback = Fallback::None;
        assert_eq!(
            outcome_said(&dead, &c),
            "failsafe active on a tunnel that does not work (FALLBACK=none) (0 repair(s))"
        );
        c.fallback = Fallback::Backup;
        assert_eq!(
            outcome_said(&dead, &c),
            "failsafe active on a tunnel that does not work, eth1 down too (no fallback to it) (0 repair(s))"
        );
        let back = super::super::Outcome::Active {
            repairs: 2,
            target: Target::Tunnel,
            tunnel_ok: true,
            wait_left_s: Some(30),
        };
        assert_eq!(
            outcome_said(&back, &c),
            "failsafe active via the tunnel (2 repair(s)); primary back, failing back in 30 s"
        );
    }

    /// A name endpoint's lookup in its words: a new address always, a failure at
    /// activation always, a healthy round's only the first.
    #[test]
    fn a_lookup_says_a_new_address_and_a_failure_once() {
        use crate::endpoint::Looked;
        let mut c = cfg();
        c.wg_endpoint.name = Some("vps.example.net".into());
        let (a, b, dns) = ([198, 51, 100, 10].into(), [198, 51, 100, 11].into(), [192, 0, 2, 53].into());
        let said = |looked: &Looked, healthy| lines(News::Lookup { looked, healthy }, &c);
        assert_eq!(
            said(&Looked::Changed { was: None, now: a, server: dns }, true),
            ["Info: WG_ENDPOINT vps.example.net is 198.51.100.10 (from 192.0.2.53)"]
        );
        assert_eq!(
            said(&Looked::Changed { was: Some(a), now: b, server: dns }, true),
            ["Info: WG_ENDPOINT vps.example.net is 198.51.100.11 now (was 198.51.100.10; from 192.0.2.53)"]
        );
        let failed = |first| Looked::Failed {
            why: "192.0.2.53: no answer within 3000 ms".into(),
            through: Some("eth1".into()),
            first,
        };
        let line = "Warning: WG_ENDPOINT vps.example.net could not be looked up through eth1: 192.0.2.53: no answer within 3000 ms";
        assert_eq!(said(&failed(true), true), [line]);
        assert_eq!(said(&failed(false), false), [line], "at activation, every time");
        assert!(said(&failed(false), true).is_empty(), "a healthy round: the first only");
        assert!(said(&Looked::Same, false).is_empty());
    }

    #[test]
    fn the_flushs_failures_are_told_as_they_were() {
        let c = cfg();
        assert_eq!(
            lines(News::FlowsNotReset("netlink: Permission denied"), &c),
            ["Error: CONNTRACK_FLUSH: no flow reset: netlink: Permission denied"]
        );
        assert_eq!(
            lines(News::FlowsNotDeleted { failed: 3, error: "Device or resource busy" }, &c),
            ["Error: CONNTRACK_FLUSH: 3 flow(s) not deleted: Device or resource busy"]
        );
        assert_eq!(lines(News::ConntrackUnsupported("no nf_conntrack_netlink"), &c), [
            "Warning: CONNTRACK_FLUSH=auto: no nf_conntrack_netlink; flows a switch breaks wait for their timeout (CONNTRACK_FLUSH=off silences this)"
        ]);
    }

    /// The DNS check's and a name endpoint's failures are told in the round's words, the
    /// same under `run` and the daemon (which tells them through `log_only`).
    #[test]
    fn the_resolvers_failures_are_told_in_words_not_as_raw_errors() {
        let c = cfg();
        let failed = Error::Failed("/etc/init.d/dnsmasq exited with status 1".into());
        assert_eq!(
            lines(News::DnsRestartFailed(&failed), &c),
            ["Error: DNS_RESTART_CMD failed: /etc/init.d/dnsmasq exited with status 1"]
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            lines(News::DnsNotAsked(GW, &refused), &c),
            ["Warning: DNS check of 192.168.2.1: connection refused: taken as a resolver that does not answer"]
        );
        let mut named = cfg();
        named.wg_endpoint.name = Some("vpn.example.net".into());
        let full = Error::Failed("STATE_DIR /run/wg-failsafe: No space left on device".into());
        assert_eq!(
            lines(News::EndpointNotRefreshed(&full), &named),
            ["Warning: WG_ENDPOINT vpn.example.net: its address is not kept fresh: STATE_DIR /run/wg-failsafe: No space left on device"]
        );
    }

    #[test]
    fn the_steps_on_the_tunnel_and_the_history_are_log_lines_only() {
        let c = cfg();
        assert_eq!(lines(News::TunnelProven { ms: 42, handshook: false }, &c), ["Info: tunnel wg0 up after 42 ms"]);
        assert_eq!(
            lines(News::TunnelProven { ms: 7, handshook: true }, &c),
            ["Info: tunnel wg0 handshook over eth1 after 7 ms"]
        );
        let endpoint = "203.0.113.10:51820".parse().expect("address");
        assert_eq!(
            lines(News::PeerSet { why: "at activation", endpoint, source: "/config/k" }, &c),
            ["Info: tunnel wg0 at activation: setting the peer's endpoint 203.0.113.10:51820 and keepalive (key from /config/k)"]
        );
        assert_eq!(
            lines(News::PeerRenewed("no echo"), &c),
            ["Info: tunnel wg0: no echo: renewing the peer (same settings) so that a handshake is made over eth1"]
        );
        let e = Error::Failed("gone".into());
        assert_eq!(lines(News::TunnelStepFailed(&e), &c), ["Warning: tunnel wg0: gone"]);
        let (path, error) = (std::path::Path::new("/config/h"), std::io::Error::other("full"));
        assert_eq!(
            lines(News::HistoryNotWritten { path, in_progress: true, error: &error }, &c),
            ["Warning: HISTORY_FILE /config/h: the outage in progress is not recorded: full"]
        );
        assert_eq!(
            lines(News::HistoryNotWritten { path, in_progress: false, error: &error }, &c),
            ["Warning: HISTORY_FILE /config/h: the outage is not recorded: full"]
        );
    }

    #[test]
    fn deactivation_says_why_it_failed_back_and_an_incomplete_one_is_an_error_in_the_same_words() {
        let c = cfg();
        let traffic = Traffic {
            tunnel: Bytes { rx: 5_000_000, tx: 80_000 },
            backup: Bytes { rx: 242_880, tx: 1_920 },
            base: None,
        };
        let done = News::Deactivated { ms: 12, flows: None, forced: false, wait_s: 60, traffic };
        let bytes = "the outage: 5242880 B in, 81920 B out (5000000 B in, 80000 B out via wg0, 242880 B in, 1920 B out straight out of eth1)";
        assert_eq!(
            lines(done, &c),
            [
                format!("Info: failsafe DEACTIVATED in 12 ms: every table is back on its own routes; {bytes}"),
                format!("event deactivated: primary eth0 passed every round for 60 s; {bytes}")
            ]
        );
        let forced = News::Deactivated { ms: 12, flows: None, forced: true, wait_s: 60, traffic };
        assert_eq!(lines(forced, &c)[1], format!("event deactivated: by request; {bytes}"));
        let failures = ["a".to_string(), "b".to_string()];
        let news = News::DeactivationIncomplete(&failures);
        assert_eq!(news.reason(&c), "deactivation incomplete, still in failsafe: a; b");
        assert_eq!(lines(news, &c), ["event error: deactivation incomplete, still in failsafe: a; b"]);
        assert_eq!(News::Ipv6Moved.reason(&c), "", "no event");
    }

    #[test]
    fn a_refused_endpoint_route_is_logged_only_when_its_event_is_new() {
        let e = Error::Failed("RTNETLINK: File exists".into());
        assert_eq!(
            lines(News::EndpointRouteRefused(&e), &cfg()),
            [
                "event error: the route to the VPS cannot be put in: RTNETLINK: File exists",
                "Error if new: the route to the VPS cannot be put in: RTNETLINK: File exists"
            ]
        );
    }

    #[test]
    fn the_log_line_says_how_many_flows_were_reset_when_a_flush_ran() {
        assert_eq!(
            (flows_said(None), flows_said(Some(0)), flows_said(Some(1))),
            (String::new(), "; 0 flows reset".into(), "; 1 flow reset".into())
        );
    }

    #[test]
    fn every_news_says_something() {
        let c = cfg();
        let (e, why) = (Error::Failed("x".into()), Unhealthy::NoCarrier);
        let (route, rule) =
            (r("default via 192.168.1.1 dev eth0 table 201"), rule("priority 69 from 192.168.10.0/24 lookup main"));
        let snapshot = Snapshot::default();
        let a = to_tunnel(&snapshot);
        let list = [String::from("x")];
        let all = [
            News::HealthyNotRemembered(&e),
            News::FailbackNotCounted(&e),
            News::BackupDown("gateway does not answer"),
            News::BackupUp,
            News::Activating(Some(&why)),
            News::Activating(None),
            News::ActivationFailed(&e),
            News::TunnelUnproven,
            News::FallingBackAtActivation("x"),
            News::AsideBeforeSnapshot(&route),
            News::Activated(&a),
            News::KernelWinner(&route),
            News::UnmodelledRule(&rule),
            News::DnsRestart(GW),
            News::DnsNotAsked(GW, &std::io::Error::other("x")),
            News::DnsRestartFailed(&e),
            News::EndpointNotRefreshed(&e),
            News::Lookup {
                looked: &crate::endpoint::Looked::Changed { was: None, now: GW, server: GW },
                healthy: true,
            },
            News::SwitchedAfterEvent { ms: 12, what: "eth0 lost its carrier" },
            News::FlowsNotReset("x"),
            News::FlowsNotDeleted { failed: 2, error: "x" },
            News::ConntrackUnsupported("x"),
            News::EndpointRouteRefused(&e),
            News::Appeared(&route),
            News::AppearedAside(&route),
            News::Reimposed(std::slice::from_ref(&route)),
            News::Repaired(2),
            News::Fallback { backup_gw: GW, flows: None, unaddressed: false },
            News::TunnelRestored { flows: None },
            News::TunnelSwitched { from: "wg1" },
            News::TunnelDown(false),
            News::TunnelUp,
            News::PrimaryPasses { wait_s: 3 },
            News::ActivationCompleted,
            News::Ipv6Refused("x"),
            News::Ipv6Moved,
            News::DeactivatingAnyway(&why),
            News::StateLost,
            News::NotRestoring(&route),
            News::RuleLeft(&rule),
            News::DefaultLeft(&route),
            News::Ipv6NotRestored(&list),
            News::DeactivationIncomplete(&list),
            News::Deactivated { ms: 1, flows: None, forced: true, wait_s: 0, traffic: Traffic::default() },
            News::TookBack(2),
            News::Budget { pct: 75, used_bytes: 75_000_000, budget_mb: 100, since: 1_796_083_200 },
        ];
        for news in all {
            let said = lines(news, &c);
            assert!(!said.is_empty() && said.iter().all(|l| !l.ends_with(": ")), "{news:?}: {said:?}");
        }
        assert_eq!(
            lines(News::BackupDown("gateway does not answer"), &c),
            [
                "Warning: backup eth1: gateway does not answer: a failover now would have no working path",
                "event backup-down: backup eth1: gateway does not answer"
            ]
        );
        assert_eq!(
            lines(News::Ipv6Refused("RTNETLINK: Network is unreachable"), &c),
            [
                "Error: IPv6 not moved to its target (IPv6 is left as it is; IPv4 is moved): RTNETLINK: Network is unreachable",
                "event error: IPv6 not moved to its target (IPv6 is left as it is; IPv4 is moved): RTNETLINK: Network is unreachable"
            ]
        );
        assert_eq!(
            lines(News::PrimaryPasses { wait_s: 3 }, &c),
            ["Info: primary eth0 passes again: failing back after 3 s without a failed round"]
        );
    }
}
