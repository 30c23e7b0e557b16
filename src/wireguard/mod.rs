//! WireGuard: read an interface's peers (latest handshake, endpoint, allowed IPs), point
//! one peer at its endpoint with a persistent keepalive, and renew a peer — remove it and
//! add it back with every setting it had, which drops its session so that the next packet
//! starts a handshake — through either backend.
//!
//! The two backends expose the same free functions, chosen by a plain `match` on
//! [`Backend`]: the in-kernel module over generic netlink ([`kernel`], what EdgeOS runs)
//! and a userspace implementation's UAPI socket ([`uapi`], wireguard-go or boringtun).
//! Both turn their wire format into the same [`Peer`] at the boundary; a handshake time
//! of zero ("never") becomes `None` there. A [`Device`] is one run's handle on one
//! interface: the kernel backend resolves the generic-netlink family once, on first use.
//!
//! A device may have thousands of peers (a hub); both readers parse as the answer
//! arrives and keep, through a [`Collector`], only the peers that can be the VPS.

pub mod kernel;
pub mod uapi;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::BackendChoice;

/// A Curve25519 public key.
pub type Key = [u8; 32];

/// A preshared key: a secret, so its `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Psk(pub Key);

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(..)")
    }
}

/// A peer's settings and the one counter that matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub public_key: Key,
    /// `None`: no preshared key (WireGuard reports all zeros).
    pub preshared_key: Option<Psk>,
    pub endpoint: Option<SocketAddr>,
    pub keepalive_s: u16,
    pub allowed_ips: Vec<(IpAddr, u8)>,
    /// Wall-clock time of the latest handshake since the Unix epoch, as WireGuard reports
    /// it; `None` if never. Judged only by [`crate::health`].
    pub last_handshake: Option<Duration>,
    /// Bytes received from and sent to the peer (WireGuard's counters, which start at 0
    /// when the peer is added: a renewal starts them again).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The settings of one peer that the failsafe changes (and puts back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSet {
    pub key: Key,
    /// `None` leaves the endpoint as it is: WireGuard cannot unset one.
    pub endpoint: Option<SocketAddr>,
    pub keepalive_s: u16,
}

impl fmt::Display for PeerSet {
    /// In `wg set IFACE …` words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {}", key_to_base64(&self.key))?;
        if let Some(e) = self.endpoint {
            write!(f, " endpoint {e}")?;
        }
        write!(f, " persistent-keepalive {}", self.keepalive_s)
    }
}

impl std::str::FromStr for PeerSet {
    type Err = String;

    /// Parses what `Display` prints.
    fn from_str(s: &str) -> Result<PeerSet, String> {
        let mut w = s.split_whitespace();
        let (Some("peer"), Some(key)) = (w.next(), w.next()) else {
            return Err(format!("`{s}` does not start with `peer KEY`"));
        };
        let key = key_from_base64(key).ok_or_else(|| format!("invalid key `{key}`"))?;
        let mut p = PeerSet { key, endpoint: None, keepalive_s: 0 };
        while let Some(k) = w.next() {
            let v = w.next().ok_or_else(|| format!("missing value after `{k}`"))?;
            match k {
                "endpoint" => p.endpoint = Some(v.parse().map_err(|_| format!("invalid endpoint `{v}`"))?),
                "persistent-keepalive" => p.keepalive_s = v.parse().map_err(|_| format!("invalid keepalive `{v}`"))?,
                _ => return Err(format!("unknown word `{k}`")),
            }
        }
        Ok(p)
    }
}

/// Everything of a peer that removing it loses and adding it back must restore: its
/// settings, none of its counters (innernet keeps `PeerConfig` apart from `PeerStats`).
/// The protocol version is not kept: there is one, and a peer added without it gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub key: Key,
    pub preshared_key: Option<Psk>,
    pub endpoint: Option<SocketAddr>,
    pub keepalive_s: u16,
    /// In the order the device reported them.
    pub allowed_ips: Vec<(IpAddr, u8)>,
}

impl PeerConfig {
    /// The same settings whatever the order of the allowed IPs (a device may report them
    /// in another order than they were added in).
    pub fn same_as(&self, other: &PeerConfig) -> bool {
        // A device holds each allowed IP once: the same count, each in the other, is the
        // same set (no sort: its code would cost the binary more than this loop).
        let (a, b) = (&self.allowed_ips, &other.allowed_ips);
        (self.key, self.preshared_key, self.endpoint, self.keepalive_s)
            == (other.key, other.preshared_key, other.endpoint, other.keepalive_s)
            && a.len() == b.len()
            && a.iter().all(|ip| b.contains(ip))
    }
}

impl fmt::Display for PeerConfig {
    /// In `wg set IFACE …` words; a preshared key is said to be there, never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {}", key_to_base64(&self.key))?;
        if self.preshared_key.is_some() {
            f.write_str(" preshared-key (kept)")?;
        }
        if let Some(e) = self.endpoint {
            write!(f, " endpoint {e}")?;
        }
        write!(f, " persistent-keepalive {} allowed-ips ", self.keepalive_s)?;
        let mut separator = "";
        for (a, l) in &self.allowed_ips {
            write!(f, "{separator}{a}/{l}")?;
            separator = ",";
        }
        Ok(())
    }
}

/// The most allowed IPs a peer may have to be renewed: its settings go back in one
/// request (one netlink message, one UAPI exchange) of some 40 bytes each.
pub const RENEW_MAX_ALLOWED_IPS: usize = 1000;

impl Peer {
    /// This peer's settings as [`PeerSet`] (to put them back later).
    pub fn settings(&self) -> PeerSet {
        PeerSet { key: self.public_key, endpoint: self.endpoint, keepalive_s: self.keepalive_s }
    }

    /// Every setting of this peer (complete only when read as the [`Wanted`] key: a
    /// reader keeps of the other peers only the allowed IPs that cover WG_PEER_IP).
    pub fn config(&self) -> PeerConfig {
        PeerConfig {
            key: self.public_key,
            preshared_key: self.preshared_key,
            endpoint: self.endpoint,
            keepalive_s: self.keepalive_s,
            allowed_ips: self.allowed_ips.clone(),
        }
    }

    /// Whether this peer's allowed IPs cover `ip`.
    pub fn allows(&self, ip: Ipv4Addr) -> bool {
        self.allowed_ips.iter().any(|&(net, len)| covers(net, len, ip))
    }
}

/// Which implementation drives the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Kernel,
    Uapi,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Kernel => "kernel",
            Backend::Uapi => "uapi",
        })
    }
}

/// A WireGuard operation that failed, in words for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgError(pub String);

impl fmt::Display for WgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WgError {}

/// Where a userspace implementation listens for `iface`.
pub fn uapi_socket(iface: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{iface}.sock"))
}

/// `auto` picks the UAPI socket when it exists, else the kernel.
pub fn choose(choice: BackendChoice, iface: &str) -> Backend {
    match choice {
        BackendChoice::Kernel => Backend::Kernel,
        BackendChoice::Uapi => Backend::Uapi,
        BackendChoice::Auto if uapi_socket(iface).exists() => Backend::Uapi,
        BackendChoice::Auto => Backend::Kernel,
    }
}

/// One run's handle on one WireGuard interface. Owns a netlink socket once the kernel
/// backend has been used, so not `Clone`.
pub struct Device {
    pub backend: Backend,
    pub iface: String,
    genl: Option<kernel::Genl>,
}

impl Device {
    pub fn new(backend: Backend, iface: &str) -> Device {
        Device { backend, iface: iface.to_string(), genl: None }
    }

    fn genl(&mut self) -> Result<&mut kernel::Genl, WgError> {
        match &mut self.genl {
            Some(g) => Ok(g),
            slot => Ok(slot.insert(kernel::Genl::open()?)),
        }
    }

    /// The interface's peers that `want` asks for.
    pub fn peers(&mut self, want: Wanted) -> Result<Peers, WgError> {
        let mut c = Collector::new(Some(want));
        match self.backend {
            Backend::Kernel => {
                let iface = self.iface.clone();
                kernel::peers(self.genl()?, &iface, &mut c)?
            }
            Backend::Uapi => uapi::peers(&self.iface, &mut c)?,
        }
        Ok(c.finish())
    }

    /// Sets one peer's endpoint (when given) and persistent keepalive. Raising the
    /// keepalive from 0 sends a keepalive at once; any packet sent without a valid
    /// session starts a handshake.
    pub fn set_peer(&mut self, p: &PeerSet) -> Result<(), WgError> {
        match self.backend {
            Backend::Kernel => {
                let iface = self.iface.clone();
                kernel::set_peer(self.genl()?, &iface, p)
            }
            Backend::Uapi => uapi::set_peer(&self.iface, p),
        }
    }

    /// Renews the peer `p.key`: removes it and adds it back with the settings `p`, in
    /// one request, so that no other configuration sees it missing. Its session goes with
    /// it; the next packet sent to it starts a handshake (at once when it has a persistent
    /// keepalive: WireGuard sends one as the keepalive is set on the new peer). Read back
    /// after: a peer that did not come back as it was is an error, said at once.
    pub fn renew_peer(&mut self, p: &PeerConfig) -> Result<(), WgError> {
        self.renew(p)?;
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let want = Wanted { peer_ip: unspecified, endpoint: unspecified, key: Some(p.key) };
        let Some(now) = self.peers(want)?.with_key(&p.key).cloned() else {
            return Err(WgError(format!("{} did not come back after its renewal", key_to_base64(&p.key))));
        };
        // A handshake made already may have moved the endpoint to where the VPS answered
        // from (roaming): WireGuard's doing, not a setting lost.
        let got = now.config();
        let roamed = now.last_handshake.is_some() && got.same_as(&PeerConfig { endpoint: got.endpoint, ..p.clone() });
        match got.same_as(p) || roamed {
            true => Ok(()),
            false => Err(WgError(format!("the peer came back from its renewal as `{got}`"))),
        }
    }

    fn renew(&mut self, p: &PeerConfig) -> Result<(), WgError> {
        if p.allowed_ips.len() > RENEW_MAX_ALLOWED_IPS {
            return Err(WgError(format!(
                "{} has {} allowed IPs, more than the {RENEW_MAX_ALLOWED_IPS} a renewal puts back",
                key_to_base64(&p.key),
                p.allowed_ips.len()
            )));
        }
        match self.backend {
            Backend::Kernel => {
                let iface = self.iface.clone();
                kernel::renew_peer(self.genl()?, &iface, p)
            }
            Backend::Uapi => uapi::renew_peer(&self.iface, p),
        }
    }
}

/// The peers a reader keeps: those that can be the VPS (see [`select_peer`]), and the
/// one with `key`.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub peer_ip: Ipv4Addr,
    pub endpoint: Ipv4Addr,
    pub key: Option<Key>,
}

/// What a reader kept of a device, and how many peers it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers {
    pub kept: Vec<Peer>,
    pub total: usize,
}

impl Peers {
    pub fn with_key(&self, key: &Key) -> Option<&Peer> {
        self.kept.iter().find(|p| p.public_key == *key)
    }
}

/// Gathers peers as a reader meets them, keeping what [`Wanted`] asks for (everything
/// without it). A peer may come in parts that repeat its key (the kernel splits one with
/// many allowed IPs over messages): it is judged once whole. Of a kept peer's allowed
/// IPs only those covering WG_PEER_IP are kept, the only question asked of them — all of
/// them of the peer with the wanted key, whose settings a renewal puts back.
pub struct Collector {
    want: Option<Wanted>,
    peers: Peers,
    current: Option<Peer>,
}

impl Collector {
    pub fn new(want: Option<Wanted>) -> Collector {
        Collector { want, peers: Peers::default(), current: None }
    }

    pub fn part(&mut self, mut p: Peer) {
        if let Some(w) = self.want.filter(|w| w.key != Some(p.public_key)) {
            p.allowed_ips.retain(|&(net, len)| covers(net, len, w.peer_ip));
        }
        match &mut self.current {
            Some(c) if c.public_key == p.public_key => {
                c.allowed_ips.extend(p.allowed_ips);
                c.endpoint = c.endpoint.or(p.endpoint);
                c.preshared_key = c.preshared_key.or(p.preshared_key);
                c.last_handshake = c.last_handshake.or(p.last_handshake);
                c.keepalive_s = c.keepalive_s.max(p.keepalive_s);
                (c.rx_bytes, c.tx_bytes) = (c.rx_bytes.max(p.rx_bytes), c.tx_bytes.max(p.tx_bytes));
            }
            _ => {
                self.judge();
                self.current = Some(p);
            }
        }
    }

    fn judge(&mut self) {
        let Some(p) = self.current.take() else { return };
        let first = self.peers.total == 0;
        self.peers.total += 1;
        let keep = self.want.is_none_or(|w| {
            first
                || p.allows(w.peer_ip)
                || p.endpoint.map(|e| e.ip()) == Some(IpAddr::V4(w.endpoint))
                || w.key == Some(p.public_key)
        });
        if keep {
            self.peers.kept.push(p);
        }
    }

    pub fn finish(mut self) -> Peers {
        self.judge();
        self.peers
    }
}

fn covers(net: IpAddr, len: u8, ip: Ipv4Addr) -> bool {
    match net {
        IpAddr::V4(n) if len <= 32 => {
            let mask = crate::net::prefix_mask(len);
            u32::from(ip) & mask == u32::from(n) & mask
        }
        _ => false,
    }
}

/// The peer that is the VPS: the one whose allowed IPs cover the tunnel peer address,
/// else the one whose endpoint is the VPS, else the only one.
pub fn select_peer(peers: &Peers, peer_ip: Ipv4Addr, endpoint: Ipv4Addr) -> Option<&Peer> {
    let kept = &peers.kept;
    kept.iter()
        .find(|p| p.allows(peer_ip))
        .or_else(|| kept.iter().find(|p| p.endpoint.map(|e| e.ip()) == Some(IpAddr::V4(endpoint))))
        .or_else(|| if peers.total == 1 { kept.first() } else { None })
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes a key in WireGuard's text form: 44 characters of standard base64, one `=`.
pub fn key_from_base64(text: &str) -> Option<Key> {
    let t = text.trim().as_bytes();
    if t.len() != 44 || t[43] != b'=' {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(33);
    for &c in &t[..43] {
        let v = BASE64.iter().position(|&b| b == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // 43 characters carry 258 bits: 32 bytes and two bits that must be zero.
    if bits != 0 {
        return None;
    }
    out.try_into().ok()
}

/// Encodes a key in WireGuard's text form.
pub fn key_to_base64(key: &Key) -> String {
    let mut s = String::with_capacity(44);
    for chunk in key.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                s.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_config_lists_its_allowed_ips_after_the_words_even_none() {
        let mut p =
            PeerConfig { key: [0; 32], preshared_key: None, endpoint: None, keepalive_s: 0, allowed_ips: Vec::new() };
        let words = "peer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= persistent-keepalive 0 allowed-ips ";
        assert_eq!(p.to_string(), words);
        p.allowed_ips = vec![("10.0.0.0".parse().expect("ip"), 8), ("::".parse().expect("ip"), 0)];
        assert_eq!(p.to_string(), format!("{words}10.0.0.0/8,::/0"));
    }

    #[test]
    fn base64_keys_round_trip() {
        // A key printed by `wg pubkey`.
        let text = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        let key = key_from_base64(text).expect("valid key");
        assert_eq!(key[0], 0xc5);
        assert_eq!(key_to_base64(&key), text);
        let zero = [0u8; 32];
        assert_eq!(key_to_base64(&zero), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert!(key_from_base64("short=").is_none());
        assert!(key_from_base64("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=").is_none(), "non-zero padding bits");
        assert!(key_from_base64("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D!=").is_none());
    }

    fn peer(key: u8, allowed: &[(&str, u8)], endpoint: Option<&str>) -> Peer {
        Peer {
            public_key: [key; 32],
            preshared_key: None,
            endpoint: endpoint.map(|e| e.parse().expect("socket address")),
            keepalive_s: 0,
            allowed_ips: allowed.iter().map(|(a, l)| (a.parse().expect("ip"), *l)).collect(),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    #[test]
    fn peer_selection_prefers_allowed_ips_then_endpoint_then_the_only_one() {
        let vps = Ipv4Addr::new(203, 0, 113, 10);
        let tun = Ipv4Addr::new(10, 11, 0, 1);
        let a = peer(1, &[("10.99.0.0", 16)], None);
        let b = peer(2, &[("0.0.0.0", 0)], None);
        let c = peer(3, &[("10.98.0.0", 16)], Some("203.0.113.10:51820"));
        let all = |ps: &[&Peer]| {
            let mut c = Collector::new(None);
            ps.iter().for_each(|p| c.part((*p).clone()));
            c.finish()
        };
        assert_eq!(select_peer(&all(&[&a, &b]), tun, vps).map(|p| p.public_key[0]), Some(2));
        assert_eq!(select_peer(&all(&[&a, &c]), tun, vps).map(|p| p.public_key[0]), Some(3));
        assert_eq!(select_peer(&all(&[&a]), tun, vps).map(|p| p.public_key[0]), Some(1));
        let other = peer(4, &[("10.97.0.0", 16)], None);
        assert!(select_peer(&all(&[&a, &other]), tun, vps).is_none());
        assert!(select_peer(&all(&[]), tun, vps).is_none());
    }

    #[test]
    fn a_collector_keeps_only_what_can_be_the_vps_and_merges_a_split_peer() {
        let vps = Ipv4Addr::new(203, 0, 113, 10);
        let tun = Ipv4Addr::new(10, 11, 0, 1);
        let want = Wanted { peer_ip: tun, endpoint: vps, key: Some([7; 32]) };
        let mut c = Collector::new(Some(want));
        c.part(peer(1, &[("10.99.0.0", 16)], None)); // the first: "the only one" needs it
        for i in 0..10_000u32 {
            let mut p = peer(9, &[("10.96.0.0", 16)], None);
            p.public_key[..4].copy_from_slice(&i.to_be_bytes());
            c.part(p);
        }
        // The VPS in two parts: the covering allowed IP comes in the second.
        c.part(peer(2, &[("10.98.0.0", 16), ("192.168.0.0", 16)], None));
        c.part(peer(2, &[("10.11.0.0", 24)], Some("203.0.113.10:51820")));
        c.part(peer(7, &[], None));
        c.part(peer(8, &[], Some("203.0.113.10:51820")));
        let got = c.finish();
        assert_eq!(got.total, 10_004);
        let keys: Vec<u8> = got.kept.iter().map(|p| p.public_key[0]).collect();
        assert_eq!(keys, [1, 2, 7, 8]);
        let vps_peer = select_peer(&got, tun, vps).expect("the VPS");
        assert_eq!(vps_peer.public_key[0], 2);
        assert_eq!(vps_peer.allowed_ips, [("10.11.0.0".parse().expect("ip"), 24)], "only what covers WG_PEER_IP");
        assert_eq!(vps_peer.endpoint, Some("203.0.113.10:51820".parse().expect("addr")));
        assert!(got.with_key(&[7; 32]).is_some());
    }

    #[test]
    fn a_renewal_reads_in_wg_words_and_allowed_ips_in_another_order_are_the_same_settings() {
        let key = key_from_base64("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=").expect("valid key");
        let ip = |s: &str, l| (s.parse::<IpAddr>().expect("ip"), l);
        let p = PeerConfig {
            key,
            preshared_key: Some(Psk([5; 32])),
            endpoint: Some("198.51.100.10:51820".parse().expect("addr")),
            keepalive_s: 25,
            allowed_ips: vec![ip("0.0.0.0", 0), ip("::", 0)],
        };
        let change = crate::model::Change::RenewPeer { iface: "wg0".into(), peer: p.clone() };
        assert_eq!(
            change.to_string(),
            "wg set wg0 peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= remove; wg set wg0 peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= preshared-key (kept) endpoint 198.51.100.10:51820 persistent-keepalive 25 allowed-ips 0.0.0.0/0,::/0"
        );
        let reordered = PeerConfig { allowed_ips: vec![ip("::", 0), ip("0.0.0.0", 0)], ..p.clone() };
        assert!(p.same_as(&reordered));
        for other in [
            PeerConfig { preshared_key: None, ..p.clone() },
            PeerConfig { keepalive_s: 0, ..p.clone() },
            PeerConfig { endpoint: None, ..p.clone() },
            PeerConfig { allowed_ips: vec![ip("0.0.0.0", 0)], ..p.clone() },
        ] {
            assert!(!p.same_as(&other), "{other}");
        }
        // A peer read with its key wanted keeps every allowed IP; other peers only those
        // covering WG_PEER_IP.
        let want = Wanted {
            peer_ip: Ipv4Addr::new(10, 11, 0, 1),
            endpoint: Ipv4Addr::new(203, 0, 113, 10),
            key: Some([2; 32]),
        };
        let mut c = Collector::new(Some(want));
        c.part(peer(1, &[("0.0.0.0", 0), ("10.99.0.0", 16)], None));
        c.part(peer(2, &[("0.0.0.0", 0), ("10.99.0.0", 16)], None));
        let got = c.finish();
        assert_eq!(got.kept[0].allowed_ips.len(), 1);
        assert_eq!(got.with_key(&[2; 32]).map(|p| p.allowed_ips.len()), Some(2));
    }

    #[test]
    fn peer_settings_round_trip_in_wg_words() {
        let key = key_from_base64("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=").expect("valid key");
        for p in [
            PeerSet { key, endpoint: Some("203.0.113.10:51820".parse().expect("addr")), keepalive_s: 25 },
            PeerSet { key, endpoint: None, keepalive_s: 0 },
        ] {
            let text = p.to_string();
            assert_eq!(text.parse::<PeerSet>().as_ref(), Ok(&p), "{text}");
        }
        assert_eq!(
            PeerSet { key, endpoint: None, keepalive_s: 0 }.to_string(),
            "peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= persistent-keepalive 0"
        );
        assert!("peer nokey persistent-keepalive 0".parse::<PeerSet>().is_err());
        assert!("route x".parse::<PeerSet>().is_err());
    }
}
