//! A WG_ENDPOINT given by name: when it is looked up, through which path, and the
//! address kept for it in STATE_DIR (`endpoint`) with its TTL.
//!
//! - While the primary is healthy and the failsafe off, an entry that has expired is
//!   looked up again through the system's resolvers (WG_ENDPOINT_DNS, else resolv.conf's),
//!   routed as usual: at most once per tick or round, and after a failed lookup not again
//!   before [`RETRY_S`]. `run` waits for the answer ([`look_up`]); the daemon asks beside
//!   its loop and takes the answer in when it comes ([`begin`], then [`finish`]) — one
//!   plan, one entry, whoever waits.
//! - At activation the primary is dead, and so is any lookup routed through it: an entry
//!   still within its TTL is used as it is; else the name is looked up through BACKUP_DEV
//!   (framed to BACKUP_GW, see `probe::exchange`), asking WG_ENDPOINT_DNS or resolv.conf's
//!   resolvers that are not loopback (a router's own dnsmasq forwards over the dead
//!   default route); when that fails too, an expired address is better than none. With
//!   none at all the tunnel cannot be proven, and FALLBACK decides.
//! - While the failsafe is on, the address activation used stays — the endpoint route
//!   and the peer keep it until failback, whatever the name says meanwhile: nothing looks
//!   the name up while the failsafe is on, unless nothing is known at all (neither the
//!   entry nor the endpoint route activation journaled): then it is looked up as at
//!   activation, but not again before [`RETRY_S`] after a failed lookup (activation's
//!   included); the daemon asks beside its loop ([`begin`], then [`finish`]), as while
//!   healthy.
//! - An address is taken only when [`usable_endpoint`] says it can be the VPS: an answer
//!   that cannot is a failed lookup (told, with the reason), and an entry holding one is
//!   read as holding none.
//!
//! Times are CLOCK_BOOTTIME seconds, passed in, and an entry names the boot it was
//! written in: an entry of another boot is none.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::config::Config;
use crate::dns::{self, Resolved};
use crate::netlink::route::RT_TABLE_MAIN;
use crate::state::{Owned, State, StateError};

/// The shortest time an address is kept, whatever its TTL says (a TTL of 0 would
/// otherwise send a daemon to the resolver every round).
pub const TTL_MIN_S: u64 = 30;
/// The longest.
pub const TTL_MAX_S: u64 = 86_400;
/// After a failed lookup, the next one while healthy, or while the failsafe is on with
/// no address known, waits this long (activation's own lookup never waits).
pub const RETRY_S: u64 = 60;
/// The time a lookup may take, all its resolvers together: while healthy, short (the
/// daemon's rounds and events wait meanwhile, and the primary's resolvers answer fast);
/// at activation, longer (the address is needed now).
const REFRESH_TIMEOUT_MS: u64 = 1000;
const ACTIVATION_TIMEOUT_MS: u64 = 3000;

/// The state file's entry for a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub name: String,
    /// The last address found; `None` when no lookup has found one.
    pub addr: Option<Ipv4Addr>,
    /// Until then (boot time, s) the address is within its TTL.
    pub expires_s: u64,
    /// No lookup while healthy before then (a failed one was made).
    pub retry_s: u64,
    /// The boot it was written in (`/proc/sys/kernel/random/boot_id`).
    pub boot: String,
}

impl Cached {
    pub fn to_text(&self) -> String {
        let addr = self.addr.map_or("-".to_string(), |a| a.to_string());
        format!("{} {addr} {} {} {}\n", self.name, self.expires_s, self.retry_s, self.boot)
    }

    /// The entry of `text`; `None` when it is not one (a bad file is as good as none).
    pub fn parse(text: &str) -> Option<Cached> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [name, addr, expires_s, retry_s, boot] = f[..] else { return None };
        let addr = if addr == "-" { None } else { Some(addr.parse().ok()?) };
        Some(Cached {
            name: name.to_string(),
            addr,
            expires_s: expires_s.parse().ok()?,
            retry_s: retry_s.parse().ok()?,
            boot: boot.to_string(),
        })
    }

    /// This entry, when it is for `name` and was written in this boot.
    fn valid_for(&self, name: &str, boot: &str) -> bool {
        self.name == name && self.boot == boot
    }
}

/// Why an address is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The primary is healthy and the failsafe off: keep the entry fresh.
    Refresh,
    /// Activation: the address is needed now, and the primary is dead.
    Activation,
    /// The failsafe is on and no address is known: as activation, but not again before
    /// the retry time of a failed lookup.
    Active,
}

/// What to do for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing: the entry is fresh (or a failed lookup is too recent to try again).
    Keep,
    /// Use this address, within its TTL.
    Use(Ipv4Addr),
    /// Look the name up: through the backup at activation, routed otherwise.
    Ask { via_backup: bool },
}

/// The plan for `name` at boot time `now_s`, given the state file's entry.
pub fn plan(cached: Option<&Cached>, name: &str, boot: &str, now_s: u64, need: Need) -> Plan {
    let valid = cached.filter(|c| c.valid_for(name, boot));
    match need {
        Need::Refresh if valid.is_some_and(|c| now_s < c.expires_s.max(c.retry_s)) => Plan::Keep,
        Need::Refresh => Plan::Ask { via_backup: false },
        Need::Active if valid.is_some_and(|c| now_s < c.retry_s) => Plan::Keep,
        Need::Activation | Need::Active => match valid.and_then(|c| c.addr.filter(|_| now_s < c.expires_s)) {
            Some(addr) => Plan::Use(addr),
            None => Plan::Ask { via_backup: true },
        },
    }
}

/// Whether `addr`, found for a name, can be the VPS: `Err` says why not. An address of
/// this host, of the LAN or of the tunnel's peer would become `ADDR/32 via BACKUP_GW` in
/// main and the peer's endpoint — a LAN host hijacked, the tunnel looped into itself.
/// `own`: the router's own addresses.
pub fn usable_endpoint(cfg: &Config, addr: Ipv4Addr, own: &[Ipv4Addr]) -> Result<(), String> {
    let [a, b, ..] = addr.octets();
    let why = match addr {
        _ if a == 0 => "is in 0.0.0.0/8 (this network)",
        _ if addr.is_loopback() => "is a loopback address",
        _ if addr.is_multicast() => "is a multicast address",
        _ if addr.is_broadcast() => "is the broadcast address",
        _ if a >= 240 => "is in 240.0.0.0/4 (reserved)",
        _ if a == 169 && b == 254 => "is a link-local address",
        _ if addr == cfg.wg_peer_ip => "is WG_PEER_IP, the peer inside the tunnel",
        _ if own.contains(&addr) => "is one of this router's own addresses",
        _ => match cfg.lan_subnets.iter().find(|n| n.contains(addr)) {
            Some(net) => return Err(format!("is inside LAN_SUBNET {net}")),
            None => return Ok(()),
        },
    };
    Err(why.into())
}

/// The state file's entry, with an address [`usable_endpoint`] refuses read as none (and
/// expired: it is looked up again).
fn entry_of(cfg: &Config, state: &State, own: &[Ipv4Addr]) -> Option<Cached> {
    let mut entry = state.endpoint().as_deref().and_then(Cached::parse)?;
    if entry.addr.is_some_and(|a| usable_endpoint(cfg, a, own).is_err()) {
        entry.addr = None;
        entry.expires_s = 0;
    }
    Some(entry)
}

/// The entry after a lookup at `now_s`: the address found with its TTL (clamped to
/// [`TTL_MIN_S`]..=[`TTL_MAX_S`]), or after a failure the last address kept (expired or
/// not, as it was) and no retry before [`RETRY_S`].
pub fn after(cached: Option<&Cached>, name: &str, boot: &str, now_s: u64, found: Option<&Resolved>) -> Cached {
    let (addr, expires_s, retry_s) = match found {
        Some(r) => (Some(r.addr), now_s + u64::from(r.ttl_s).clamp(TTL_MIN_S, TTL_MAX_S), 0),
        None => {
            let kept = cached.filter(|c| c.valid_for(name, boot));
            (kept.and_then(|c| c.addr), kept.map_or(0, |c| c.expires_s), now_s + RETRY_S)
        }
    };
    Cached { name: name.to_string(), addr, expires_s, retry_s, boot: boot.to_string() }
}

/// The resolvers to ask: WG_ENDPOINT_DNS, else the system's; through the backup, not the
/// loopback ones (the router's own resolver forwards over the dead primary).
pub fn resolvers(cfg: &Config, system: &[Ipv4Addr], via_backup: bool) -> Vec<Ipv4Addr> {
    let list = if cfg.wg_endpoint_dns.is_empty() { system } else { &cfg.wg_endpoint_dns[..] };
    let mut servers = Vec::new();
    for ip in list {
        if !(via_backup && ip.is_loopback()) {
            servers.push(*ip);
        }
    }
    servers
}

fn boot() -> String {
    crate::state::boot_id().unwrap_or_else(|| "-".into())
}

/// The state file's entry for `name`, when it is one of this boot (`status` shows it).
pub fn kept(state: &State, name: &str) -> Option<Cached> {
    state.endpoint().as_deref().and_then(Cached::parse).filter(|c| c.valid_for(name, &boot()))
}

/// At the start of a round: a name endpoint takes the address its entry holds, whatever
/// its age (while the failsafe is on: the one activation used), if it can be the VPS
/// (`own`: the router's addresses).
pub fn recall(cfg: &Config, state: &State, own: &[Ipv4Addr]) {
    let Some(name) = &cfg.wg_endpoint.name else { return };
    let entry = entry_of(cfg, state, own);
    if let Some(addr) = entry.filter(|c| c.valid_for(name, &boot())).and_then(|c| c.addr) {
        cfg.wg_endpoint.resolved_to(addr);
    }
}

/// When the entry is lost (or names another name) while the failsafe is on: the address
/// of the endpoint route activation journaled (`table main`, a /32 via BACKUP_DEV at the
/// endpoint's metric) — the one the failsafe must keep until failback.
pub fn recall_from_journal(cfg: &Config, journal: &[Owned]) {
    if cfg.wg_endpoint.name.is_none() || cfg.wg_endpoint.known() {
        return;
    }
    let found = journal.iter().find_map(|o| match o {
        Owned::Route(r)
            if r.table == RT_TABLE_MAIN
                && r.dst.len == 32
                && r.metric == cfg.metric_endpoint()
                && r.dev.as_deref() == Some(cfg.backup_dev.as_str()) =>
        {
            match r.dst.addr {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            }
        }
        _ => None,
    });
    if let Some(ip) = found {
        cfg.wg_endpoint.resolved_to(ip);
    }
}

/// Whether [`look_up`] would ask a resolver now for `need` (a name whose entry does not
/// answer it): activation then finds the backup's path first.
pub fn asks(cfg: &Config, state: &State, now_s: u64, need: Need, own: &[Ipv4Addr]) -> bool {
    let Some(name) = &cfg.wg_endpoint.name else { return false };
    let cached = entry_of(cfg, state, own);
    matches!(plan(cached.as_ref(), name, &boot(), now_s, need), Plan::Ask { .. })
}

/// What looking a name endpoint up came to, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Looked {
    /// No lookup was due (or the endpoint is an address).
    Nothing,
    /// The address in use is the one the entry held.
    Same,
    /// The name has this address now (it had `was`, or none).
    Changed { was: Option<Ipv4Addr>, now: Ipv4Addr, server: Ipv4Addr },
    /// The lookup failed (`why`; asked `through` BACKUP_DEV, or routed); the address kept,
    /// if any, is still in use. `first`: the last lookup had not failed (a healthy round
    /// tells only the first failure).
    Failed { why: String, through: Option<String>, first: bool },
}

/// A lookup [`plan`] called for, between its question and its answer: whom to ask, and
/// what [`finish`] needs to take the answer in.
#[derive(Debug)]
pub struct Asking {
    pub name: String,
    /// The router's own addresses, when it was asked (see [`usable_endpoint`]).
    own: Vec<Ipv4Addr>,
    /// Through BACKUP_DEV (activation), else routed.
    pub via_backup: bool,
    /// The resolvers, in turn (see [`resolvers`]).
    pub servers: Vec<Ipv4Addr>,
    /// All of them together.
    pub timeout: Duration,
    /// When it was asked (boot time, s): the TTL counts from then.
    asked_s: u64,
}

/// Where [`begin`] leaves a lookup.
#[derive(Debug)]
pub enum Begun {
    /// Nothing to ask: the entry answers (the address in use set from it).
    Done(Looked),
    /// Ask, then [`finish`].
    Ask(Asking),
}

/// The first half of a lookup at boot time `now_s` for `need` (see [`plan`]): an entry
/// that answers sets the address in use; otherwise whom to ask. `run` asks and finishes
/// at once ([`look_up`]); the daemon asks beside its loop (`dns::Resolving`). `own`: the
/// router's addresses (see [`usable_endpoint`]).
pub fn begin(cfg: &Config, state: &State, now_s: u64, need: Need, own: &[Ipv4Addr]) -> Begun {
    let Some(name) = &cfg.wg_endpoint.name else { return Begun::Done(Looked::Nothing) };
    let boot = boot();
    let cached = entry_of(cfg, state, own);
    let via_backup = match plan(cached.as_ref(), name, &boot, now_s, need) {
        Plan::Keep => {
            // The address kept is the one in use (a daemon's configuration reloaded has none).
            if let Some(addr) = cached.as_ref().filter(|c| c.valid_for(name, &boot)).and_then(|c| c.addr) {
                cfg.wg_endpoint.resolved_to(addr);
            }
            return Begun::Done(Looked::Nothing);
        }
        Plan::Use(addr) => {
            cfg.wg_endpoint.resolved_to(addr);
            return Begun::Done(Looked::Same);
        }
        Plan::Ask { via_backup } => via_backup,
    };
    let servers = resolvers(cfg, &dns::system_nameservers(), via_backup);
    let timeout_ms = match need {
        Need::Refresh => REFRESH_TIMEOUT_MS,
        Need::Activation | Need::Active => ACTIVATION_TIMEOUT_MS,
    };
    let timeout = Duration::from_millis(timeout_ms);
    let own = own.to_vec();
    Begun::Ask(Asking { name: name.clone(), own, via_backup, servers, timeout, asked_s: now_s })
}

/// The second half: the answer to `asked` (an address, or what each resolver did) taken
/// in — the entry written (not in a dry run) and the address in use set. A lookup for a
/// name the configuration no longer has (reloaded meanwhile) is dropped; an address that
/// cannot be the VPS ([`usable_endpoint`]) is a failed lookup.
pub fn finish(
    cfg: &Config,
    state: &mut State,
    asked: &Asking,
    result: Result<Resolved, String>,
    dry_run: bool,
) -> Result<Looked, StateError> {
    let name = &asked.name;
    if cfg.wg_endpoint.name.as_ref() != Some(name) {
        return Ok(Looked::Nothing);
    }
    let result = result.and_then(|r| match usable_endpoint(cfg, r.addr, &asked.own) {
        Ok(()) => Ok(r),
        Err(why) => Err(format!("{} answered {}, which cannot be the VPS: it {why}", r.server, r.addr)),
    });
    let (boot, now_s) = (boot(), asked.asked_s);
    let cached = entry_of(cfg, state, &asked.own);
    let entry = after(cached.as_ref(), name, &boot, now_s, result.as_ref().ok());
    if !dry_run && cached.as_ref() != Some(&entry) {
        state.write_endpoint(&entry.to_text())?;
    }
    let valid = cached.filter(|c| c.valid_for(name, &boot));
    let first = valid.as_ref().is_none_or(|c| c.retry_s == 0);
    let was = valid.and_then(|c| c.addr);
    Ok(match (result, entry.addr) {
        (Ok(r), _) if was == Some(r.addr) => {
            cfg.wg_endpoint.resolved_to(r.addr);
            Looked::Same
        }
        (Ok(r), _) => {
            cfg.wg_endpoint.resolved_to(r.addr);
            Looked::Changed { was, now: r.addr, server: r.server }
        }
        (Err(why), kept) => {
            if let Some(addr) = kept {
                cfg.wg_endpoint.resolved_to(addr);
            }
            Looked::Failed { why, through: asked.via_backup.then(|| cfg.backup_dev.clone()), first }
        }
    })
}

/// Looks the name up when `need` calls for it (see [`plan`]), asking with `ask` (which
/// waits for the answer), writes the entry (not in a dry run) and sets the address in use.
pub fn look_up(
    cfg: &Config,
    state: &mut State,
    now_s: u64,
    need: Need,
    own: &[Ipv4Addr],
    ask: impl FnOnce(&Asking) -> Result<Resolved, String>,
    dry_run: bool,
) -> Result<Looked, StateError> {
    match begin(cfg, state, now_s, need, own) {
        Begun::Done(looked) => Ok(looked),
        Begun::Ask(asking) => finish(cfg, state, &asking, ask(&asking), dry_run),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys_tests::MINIMAL;

    const NAME: &str = "vps.example.net";
    const BOOT: &str = "b1";

    fn entry(addr: Option<[u8; 4]>, expires_s: u64, retry_s: u64) -> Cached {
        Cached { name: NAME.into(), addr: addr.map(Ipv4Addr::from), expires_s, retry_s, boot: BOOT.into() }
    }

    #[test]
    fn the_entry_reads_back_what_was_written_and_a_bad_one_is_none() {
        for e in [entry(Some([198, 51, 100, 10]), 1300, 0), entry(None, 0, 160)] {
            assert_eq!(Cached::parse(&e.to_text()), Some(e));
        }
        assert_eq!(Cached::parse("vps.example.net 1.2.3 100 0 b1\n"), None);
        assert_eq!(Cached::parse("vps.example.net 1.2.3.4 100 0\n"), None);
        assert_eq!(Cached::parse(""), None);
    }

    #[test]
    fn healthy_rounds_look_up_only_an_expired_entry_and_not_again_soon_after_a_failure() {
        let fresh = entry(Some([198, 51, 100, 10]), 1300, 0);
        assert_eq!(plan(Some(&fresh), NAME, BOOT, 1299, Need::Refresh), Plan::Keep);
        assert_eq!(plan(Some(&fresh), NAME, BOOT, 1300, Need::Refresh), Plan::Ask { via_backup: false });
        assert_eq!(plan(None, NAME, BOOT, 5, Need::Refresh), Plan::Ask { via_backup: false });
        // Another name (the file changed) or another boot: no entry.
        assert_eq!(plan(Some(&fresh), "other.example.net", BOOT, 10, Need::Refresh), Plan::Ask { via_backup: false });
        assert_eq!(plan(Some(&fresh), NAME, "b2", 10, Need::Refresh), Plan::Ask { via_backup: false });
        let failed = after(Some(&fresh), NAME, BOOT, 1400, None);
        assert_eq!(failed, entry(Some([198, 51, 100, 10]), 1300, 1400 + RETRY_S));
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1400 + RETRY_S - 1, Need::Refresh), Plan::Keep);
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1400 + RETRY_S, Need::Refresh), Plan::Ask { via_backup: false });
    }

    #[test]
    fn activation_uses_an_address_within_its_ttl_else_asks_through_the_backup() {
        let fresh = entry(Some([198, 51, 100, 10]), 1300, 0);
        assert_eq!(plan(Some(&fresh), NAME, BOOT, 1000, Need::Activation), Plan::Use([198, 51, 100, 10].into()));
        assert_eq!(plan(Some(&fresh), NAME, BOOT, 1300, Need::Activation), Plan::Ask { via_backup: true });
        assert_eq!(plan(None, NAME, BOOT, 1000, Need::Activation), Plan::Ask { via_backup: true });
        // A failed refresh holds off the next refresh, never an activation's lookup.
        let failed = after(Some(&fresh), NAME, BOOT, 1400, None);
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1401, Need::Activation), Plan::Ask { via_backup: true });
        assert_eq!(
            plan(Some(&entry(None, 0, 2000)), NAME, BOOT, 1000, Need::Activation),
            Plan::Ask { via_backup: true }
        );
    }

    #[test]
    fn while_on_with_no_address_a_failed_lookup_is_not_repeated_before_the_retry_time() {
        // Activation failed at 1000: the rounds after it wait, then ask through the backup.
        let failed = after(None, NAME, BOOT, 1000, None);
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1001, Need::Active), Plan::Keep);
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1000 + RETRY_S - 1, Need::Active), Plan::Keep);
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1000 + RETRY_S, Need::Active), Plan::Ask { via_backup: true });
        assert_eq!(plan(None, NAME, BOOT, 5, Need::Active), Plan::Ask { via_backup: true });
        // An activation still asks at once.
        assert_eq!(plan(Some(&failed), NAME, BOOT, 1001, Need::Activation), Plan::Ask { via_backup: true });
    }

    #[test]
    fn an_address_that_cannot_be_the_vps_is_refused_with_its_reason() {
        let c = crate::config::parse(std::path::Path::new("/t.conf"), MINIMAL).expect("valid");
        let own: [Ipv4Addr; 2] = [[192, 168, 2, 10].into(), [100, 64, 0, 1].into()];
        let why = |s: &str| usable_endpoint(&c, s.parse().expect("ip"), &own).err().unwrap_or_default();
        assert_eq!(usable_endpoint(&c, [203, 0, 113, 7].into(), &own), Ok(()));
        assert_eq!(usable_endpoint(&c, [192, 168, 2, 11].into(), &own), Ok(()), "a neighbour on the backup's link");
        let cases = [
            ("0.0.0.0", "is in 0.0.0.0/8 (this network)"),
            ("0.1.2.3", "is in 0.0.0.0/8 (this network)"),
            ("127.0.0.1", "is a loopback address"),
            ("127.8.9.1", "is a loopback address"),
            ("224.0.0.1", "is a multicast address"),
            ("239.255.255.250", "is a multicast address"),
            ("255.255.255.255", "is the broadcast address"),
            ("240.0.0.1", "is in 240.0.0.0/4 (reserved)"),
            ("169.254.1.1", "is a link-local address"),
            ("10.11.0.1", "is WG_PEER_IP, the peer inside the tunnel"),
            ("192.168.2.10", "is one of this router's own addresses"),
            ("100.64.0.1", "is one of this router's own addresses"),
            ("192.168.10.5", "is inside LAN_SUBNET 192.168.10.0/24"),
            ("192.168.10.0", "is inside LAN_SUBNET 192.168.10.0/24"),
        ];
        for (ip, expected) in cases {
            assert_eq!(why(ip), expected, "{ip}");
        }
    }

    #[test]
    fn an_unusable_answer_is_a_failed_lookup_and_an_unusable_entry_none() {
        let dir = std::env::temp_dir().join(format!("wgfs-endpoint-unusable-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        let text = MINIMAL.replace("WG_ENDPOINT=203.0.113.10", &format!("WG_ENDPOINT={NAME}"));
        let c = crate::config::parse(std::path::Path::new("/t.conf"), &text).expect("valid");
        let mut state = State::open(&dir).expect("state dir");
        let lan_host =
            |_: &Asking| Ok(Resolved { addr: [192, 168, 10, 5].into(), ttl_s: 300, server: [192, 0, 2, 53].into() });
        let looked = look_up(&c, &mut state, 1000, Need::Activation, &[], lan_host, false).ok();
        let why = "192.0.2.53 answered 192.168.10.5, which cannot be the VPS: it is inside LAN_SUBNET 192.168.10.0/24";
        assert_eq!(looked, Some(Looked::Failed { why: why.into(), through: Some("eth1".into()), first: true }));
        assert!(!c.wg_endpoint.known());
        let kept = Cached::parse(&state.endpoint().unwrap_or_default()).expect("entry");
        assert_eq!((kept.addr, kept.retry_s), (None, 1000 + RETRY_S));
        // An entry holding such an address (written by an older version, or by hand) is
        // read as holding none: neither recalled nor used.
        let bad = Cached { addr: Some([192, 168, 10, 5].into()), expires_s: 5000, ..kept };
        state.write_endpoint(&bad.to_text()).expect("written");
        recall(&c, &state, &[]);
        assert!(!c.wg_endpoint.known());
        assert!(asks(&c, &state, 1100, Need::Activation, &[]));
        // One of the router's own addresses, likewise.
        let own_entry = Cached { addr: Some([192, 168, 2, 10].into()), ..bad };
        state.write_endpoint(&own_entry.to_text()).expect("written");
        recall(&c, &state, &[[192, 168, 2, 10].into()]);
        assert!(!c.wg_endpoint.known());
        recall(&c, &state, &[]);
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(192, 168, 2, 10));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_found_address_is_kept_for_its_ttl_within_bounds() {
        let found = |ttl_s| Resolved { addr: [203, 0, 113, 7].into(), ttl_s, server: [192, 0, 2, 53].into() };
        assert_eq!(after(None, NAME, BOOT, 100, Some(&found(300))), entry(Some([203, 0, 113, 7]), 400, 0));
        assert_eq!(after(None, NAME, BOOT, 100, Some(&found(0))).expires_s, 100 + TTL_MIN_S);
        assert_eq!(after(None, NAME, BOOT, 100, Some(&found(u32::MAX))).expires_s, 100 + TTL_MAX_S);
        // A failure with no entry of this boot keeps no address.
        let other_boot = Cached { boot: "b0".into(), ..entry(Some([1, 2, 3, 4]), 9999, 0) };
        assert_eq!(after(Some(&other_boot), NAME, BOOT, 100, None), entry(None, 0, 100 + RETRY_S));
    }

    #[test]
    fn through_the_backup_the_loopback_resolvers_are_skipped() {
        let c = crate::config::parse(std::path::Path::new("/t.conf"), MINIMAL).expect("valid");
        let system: Vec<Ipv4Addr> = vec![[127, 0, 0, 1].into(), [192, 0, 2, 53].into()];
        assert_eq!(resolvers(&c, &system, false), system);
        assert_eq!(resolvers(&c, &system, true), [Ipv4Addr::new(192, 0, 2, 53)]);
        let text = format!("{MINIMAL}WG_ENDPOINT_DNS=203.0.113.53\n");
        let c = crate::config::parse(std::path::Path::new("/t.conf"), &text).expect("valid");
        assert_eq!(resolvers(&c, &system, true), [Ipv4Addr::new(203, 0, 113, 53)]);
        assert_eq!(resolvers(&c, &system, false), [Ipv4Addr::new(203, 0, 113, 53)]);
    }

    #[test]
    fn with_the_entry_lost_while_on_the_journaled_endpoint_route_gives_the_address_activation_used() {
        let parse = |t: &str| crate::config::parse(std::path::Path::new("/t.conf"), t).expect("valid");
        let named = parse(&MINIMAL.replace("WG_ENDPOINT=203.0.113.10", "WG_ENDPOINT=vps.example.net"));
        let by_address = parse(MINIMAL);
        let ours = crate::decide::Ours {
            cfg: &by_address,
            backup_gw: [192, 168, 2, 1].into(),
            primary_gw: None,
            over_budget: false,
        };
        let tunnel_default = Owned::Route(crate::netlink::route::Route::via(
            RT_TABLE_MAIN,
            crate::net::Ipv4Net { addr: Ipv4Addr::UNSPECIFIED, len: 0 }.into(),
            Ipv4Addr::new(10, 11, 0, 1),
            "wg0",
            40,
        ));
        recall_from_journal(&named, std::slice::from_ref(&tunnel_default));
        assert!(!named.wg_endpoint.known(), "a default is no endpoint route");
        recall_from_journal(&named, &[tunnel_default, Owned::Route(ours.endpoint_route())]);
        assert_eq!(named.wg_endpoint.addr(), Ipv4Addr::new(203, 0, 113, 10));
        // An address kept in STATE_DIR wins: the journal is read only when none is known.
        named.wg_endpoint.resolved_to([198, 51, 100, 10].into());
        recall_from_journal(&named, &[Owned::Route(ours.endpoint_route())]);
        assert_eq!(named.wg_endpoint.addr(), Ipv4Addr::new(198, 51, 100, 10));
    }

    #[test]
    fn an_entry_within_its_ttl_gives_the_address_without_asking_anyone() {
        let dir = std::env::temp_dir().join(format!("wgfs-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let text = MINIMAL.replace("WG_ENDPOINT=203.0.113.10", &format!("WG_ENDPOINT={NAME}"));
        let c = crate::config::parse(std::path::Path::new("/t.conf"), &text).expect("valid");
        let mut state = State::open_as_owner(&dir).expect("state dir");
        let kept = Cached { boot: boot(), ..entry(Some([198, 51, 100, 10]), 1300, 0) };
        state.write_endpoint(&kept.to_text()).expect("write");
        // Nobody may be asked here: an answer can only be the entry's.
        let nobody = |a: &Asking| -> Result<Resolved, String> { panic!("asked {a:?}") };
        assert_eq!(look_up(&c, &mut state, 1000, Need::Refresh, &[], nobody, false).ok(), Some(Looked::Nothing));
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(198, 51, 100, 10));
        c.wg_endpoint.resolved_to(Ipv4Addr::UNSPECIFIED);
        assert!(!asks(&c, &state, 1000, Need::Activation, &[]));
        assert_eq!(look_up(&c, &mut state, 1000, Need::Activation, &[], nobody, false).ok(), Some(Looked::Same));
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(198, 51, 100, 10));
        // Expired, at activation: asked through the backup; it fails, and the expired
        // address stays in use, the failure told once.
        assert!(asks(&c, &state, 1300, Need::Activation, &[]));
        let silent = |a: &Asking| -> Result<Resolved, String> {
            assert!(a.via_backup && a.timeout == Duration::from_millis(ACTIVATION_TIMEOUT_MS), "{a:?}");
            Err("192.0.2.53: no answer within 3000 ms".into())
        };
        let looked = look_up(&c, &mut state, 1300, Need::Activation, &[], silent, false);
        let why = "192.0.2.53: no answer within 3000 ms";
        assert_eq!(looked.ok(), Some(Looked::Failed { why: why.into(), through: Some("eth1".into()), first: true }));
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(198, 51, 100, 10));
        // Begun, then the configuration reloaded with another name: the answer is dropped.
        let Begun::Ask(asking) = begin(&c, &state, 1400 + RETRY_S, Need::Refresh, &[]) else {
            panic!("no lookup begun")
        };
        assert!(!asking.via_backup && asking.timeout == Duration::from_millis(REFRESH_TIMEOUT_MS));
        let other = text.replace(NAME, "other.example.net");
        let other = crate::config::parse(std::path::Path::new("/t.conf"), &other).expect("valid");
        let found = Resolved { addr: [203, 0, 113, 7].into(), ttl_s: 300, server: [192, 0, 2, 53].into() };
        assert_eq!(finish(&other, &mut state, &asking, Ok(found), false).ok(), Some(Looked::Nothing));
        assert!(!other.wg_endpoint.known());
        let found = Resolved { addr: [203, 0, 113, 7].into(), ttl_s: 300, server: [192, 0, 2, 53].into() };
        let looked = finish(&c, &mut state, &asking, Ok(found), false).ok();
        assert!(matches!(looked, Some(Looked::Changed { now, .. }) if now == Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(
            Cached::parse(&state.endpoint().unwrap_or_default()).map(|e| e.expires_s),
            Some(1400 + RETRY_S + 300)
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
