//! Several tunnels, in order of preference: WG_IFACE, WG_PEER_IP and WG_ENDPOINT (with
//! WG_ENDPOINT_PORT, WG_PEER_IP6 and WG_PEER_KEY_FILE) may each list several values, one per
//! tunnel, position by position. The first tunnel is the one the rest of the configuration
//! names (`Config::wg_iface` and its neighbours); each further one is a whole `Config` that
//! differs from it only in these keys, so that every sequence runs unchanged over the
//! tunnel it is given (`Config::tunnel`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::endpoint::{endpoint, Endpoint};
use super::keys::{absolute_path, iface, list, peer_ip, port, Fields};
use super::{Config, ConfigError};

/// One tunnel's own keys: position `i` of each list.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TunnelKeys {
    pub iface: String,
    pub peer_ip: Ipv4Addr,
    pub endpoint: Endpoint,
    pub port: u16,
    pub peer_ip6: Option<Ipv6Addr>,
    /// Empty for a further tunnel when WG_PEER_KEY_FILE names one file only: that tunnel's
    /// key is found on its running interface (or in config.boot).
    pub key_file: PathBuf,
}

/// The keys that list one value per tunnel, the count set by WG_PEER_IP (required).
const LISTED: [&str; 6] =
    ["WG_IFACE", "WG_PEER_IP", "WG_ENDPOINT", "WG_ENDPOINT_PORT", "WG_PEER_IP6", "WG_PEER_KEY_FILE"];

impl Fields<'_> {
    /// Every tunnel, in order; one unless WG_PEER_IP lists several. A key that lists
    /// another count than WG_PEER_IP is an error naming both (WG_IFACE must then be set:
    /// the default `wg0` is one interface; the optional keys may also be left out).
    pub(super) fn tunnels(&self) -> Result<Vec<TunnelKeys>, ConfigError> {
        let mut tunnels = Vec::new();
        let t = &mut tunnels;
        self.require("WG_PEER_IP");
        let n = self.fill(t, "WG_PEER_IP", "", |t, v| {
            t.peer_ip = peer_ip(v)?;
            Ok(())
        });
        if n == 0 && self.raw("WG_PEER_IP").is_some() {
            // Separators alone (`WG_PEER_IP=,`): no tunnel at all.
            self.fail("WG_PEER_IP", "lists no address".into());
        }
        self.require("WG_ENDPOINT");
        let endpoints = self.fill(t, "WG_ENDPOINT", "", |t, v| {
            t.endpoint = endpoint(v)?;
            Ok(())
        });
        let ifaces = self.fill(t, "WG_IFACE", "wg0", |t, v| {
            t.iface = iface(v)?;
            Ok(())
        });
        // Left out, these two are the default for every tunnel (`TunnelKeys::unset`).
        let ports = match self.raw("WG_ENDPOINT_PORT") {
            Some(_) => self.fill(t, "WG_ENDPOINT_PORT", "", |t, v| {
                t.port = port(v)?;
                Ok(())
            }),
            None => n,
        };
        let peers6 = match self.raw("WG_PEER_IP6") {
            Some(_) => self.fill(t, "WG_PEER_IP6", "", |t, v| {
                t.peer_ip6 = peer_ip6(v)?;
                Ok(())
            }),
            None => n,
        };
        let default_key = "/config/auth/vps-peer-public.key";
        let key_files = match self.fill(t, "WG_PEER_KEY_FILE", default_key, |t, v| {
            t.key_file = absolute_path(v)?;
            Ok(())
        }) {
            // One file: the first tunnel's alone.
            1 => n,
            count => count,
        };
        // The counts are not compared over a placeholder: a key's own error first.
        self.first_error()?;
        let counts = [ifaces, n, endpoints, ports, peers6, key_files];
        if let Some((key, count)) = LISTED.iter().zip(counts).find(|(_, count)| *count != n) {
            let what = match self.raw(key) {
                Some(_) => {
                    format!("lists {count} values but WG_PEER_IP lists {n}: one per tunnel, position by position")
                }
                None => {
                    format!("is not set but WG_PEER_IP lists {n} tunnels: one interface each, position by position")
                }
            };
            return Err(self.error(key, what));
        }
        for (i, t) in tunnels.iter().enumerate() {
            if tunnels[..i].iter().any(|u| u.iface == t.iface) {
                return Err(self.error("WG_IFACE", format!("`{}` is listed twice: each tunnel has its own", t.iface)));
            }
        }
        // One name's address is kept in STATE_DIR; the further tunnels name addresses.
        if let Some(named) = tunnels.iter().skip(1).find(|t| t.endpoint.name.is_some()) {
            let why = format!("`{}`: only the first tunnel's endpoint may be a name", named.endpoint);
            return Err(self.error("WG_ENDPOINT", why));
        }
        Ok(tunnels)
    }

    /// Sets position `i` of `key`'s list (of `default` when the key is absent) in
    /// `tunnels[i]` by `set`, adding a tunnel where the list is longer; a wrong item's
    /// error is kept (see [`Fields::fail`]). Returns the count of items. One function for
    /// the six keys: no list of each type is built.
    fn fill(
        &self,
        tunnels: &mut Vec<TunnelKeys>,
        key: &str,
        default: &str,
        set: fn(&mut TunnelKeys, &str) -> Result<(), String>,
    ) -> usize {
        let mut count = 0;
        for item in list(self.raw(key).unwrap_or(default)) {
            if count == tunnels.len() {
                tunnels.push(TunnelKeys::unset());
            }
            if let Err(message) = set(&mut tunnels[count], item) {
                self.fail(key, message);
                break;
            }
            count += 1;
        }
        count
    }
}

impl TunnelKeys {
    /// A tunnel before its keys are read: the defaults of WG_ENDPOINT_PORT and
    /// WG_PEER_IP6, and no key file (a further tunnel's when one file is named).
    fn unset() -> TunnelKeys {
        TunnelKeys {
            iface: String::new(),
            peer_ip: Ipv4Addr::UNSPECIFIED,
            endpoint: Endpoint::address(Ipv4Addr::UNSPECIFIED),
            port: 51820,
            peer_ip6: None,
            key_file: PathBuf::new(),
        }
    }
}

/// One WG_PEER_IP6 value.
fn peer_ip6(v: &str) -> Result<Option<Ipv6Addr>, String> {
    match v.parse::<Ipv6Addr>() {
        Ok(ip) if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() => {
            Err(format!("`{v}` cannot be a gateway (unspecified, loopback or multicast)"))
        }
        Ok(ip) => Ok(Some(ip)),
        Err(_) => Err(format!("`{v}` is not an IPv6 address")),
    }
}

impl Config {
    /// How many tunnels are configured (at least one).
    pub fn tunnel_count(&self) -> usize {
        1 + self.more_tunnels.len()
    }

    /// Tunnel `i` (0: the first) as a whole configuration: this one with that tunnel's
    /// keys. Past the last: the first.
    pub fn tunnel(&self, i: usize) -> &Config {
        match i {
            0 => self,
            i => self.more_tunnels.get(i - 1).unwrap_or(self),
        }
    }

    /// The position of the tunnel on interface `iface` (`None`, or one no longer
    /// configured: the first).
    pub fn tunnel_of(&self, iface: Option<&str>) -> usize {
        (0..self.tunnel_count()).find(|i| Some(self.tunnel(*i).wg_iface.as_str()) == iface).unwrap_or(0)
    }

    /// This configuration with `t`'s keys: a further tunnel. Called while `self` lists no
    /// further tunnel, so the copy lists none either.
    pub(super) fn with_tunnel(&self, t: &TunnelKeys) -> Config {
        let mut c = self.clone();
        c.set_tunnel(t);
        c
    }

    pub(super) fn set_tunnel(&mut self, t: &TunnelKeys) {
        self.wg_iface = t.iface.clone();
        self.wg_peer_ip = t.peer_ip;
        self.wg_endpoint = t.endpoint.clone();
        self.wg_endpoint_port = t.port;
        self.wg_peer_ip6 = t.peer_ip6;
        self.wg_peer_key_file = t.key_file.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::keys::ipv4;
    use super::super::keys::tests::MINIMAL;
    use super::*;

    const TWO: &str = "WG_IFACE=wg0 wg1\nWG_PEER_IP=10.11.0.1, 10.12.0.1\nWG_ENDPOINT=203.0.113.10 198.51.100.20\n";

    fn two(extra: &str) -> Result<Config, ConfigError> {
        let base = MINIMAL.replace("WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\n", "");
        super::super::parse(Path::new("/etc/test.conf"), &format!("{TWO}{extra}{base}"))
    }

    #[test]
    fn one_tunnel_lists_none_further() {
        let c = super::super::parse(Path::new("/etc/test.conf"), MINIMAL).expect("minimal");
        assert_eq!((c.tunnel_count(), c.tunnel(0) == &c, c.tunnel(1) == &c), (1, true, true));
    }

    #[test]
    fn tunnels_are_read_position_by_position() {
        let c = two("WG_ENDPOINT_PORT=51820 51821\nWG_PEER_IP6=fd00:11::1 fd00:12::1\n").expect("two tunnels");
        assert_eq!(c.tunnel_count(), 2);
        let (a, b) = (c.tunnel(0), c.tunnel(1));
        assert_eq!(
            (a.wg_iface.as_str(), a.wg_peer_ip, a.wg_endpoint.addr()),
            ("wg0", ipv4("10.11.0.1").unwrap(), ipv4("203.0.113.10").unwrap())
        );
        assert_eq!(
            (b.wg_iface.as_str(), b.wg_peer_ip, b.wg_endpoint.addr()),
            ("wg1", ipv4("10.12.0.1").unwrap(), ipv4("198.51.100.20").unwrap())
        );
        assert_eq!((a.wg_endpoint_port, b.wg_endpoint_port), (51820, 51821));
        assert_eq!(b.wg_peer_ip6, Some("fd00:12::1".parse().unwrap()));
        // Everything else is the first's; the key file is the first tunnel's alone.
        assert_eq!((b.backup_dev.as_str(), b.tunnel_wait_s, b.more_tunnels.len()), ("eth1", 20, 0));
        assert_eq!(
            (a.wg_peer_key_file.as_os_str().is_empty(), b.wg_peer_key_file.as_os_str().is_empty()),
            (false, true)
        );
        // Optional keys left out: the defaults for every tunnel.
        let c = two("").expect("two tunnels, defaults");
        assert_eq!((c.tunnel(1).wg_endpoint_port, c.tunnel(1).wg_peer_ip6), (51820, None));
        let c = two("WG_PEER_KEY_FILE=/a.key /b.key\n").expect("a key file each");
        assert_eq!(c.tunnel(1).wg_peer_key_file, PathBuf::from("/b.key"));
    }

    #[test]
    fn counts_that_differ_name_both_keys_and_the_line() {
        for (extra, key) in [
            ("WG_ENDPOINT_PORT=51820 51821 51822\n", "WG_ENDPOINT_PORT"),
            ("WG_PEER_IP6=fd00:11::1\n", "WG_PEER_IP6"),
            ("WG_PEER_KEY_FILE=/a /b /c\n", "WG_PEER_KEY_FILE"),
        ] {
            let e = two(extra).expect_err(extra).to_string();
            assert!(
                e.contains(&format!("{key}: lists")) && e.contains("WG_PEER_IP lists 2") && e.contains("test.conf:4:"),
                "{e}"
            );
        }
        let base = MINIMAL.replace("WG_PEER_IP=10.11.0.1\n", "WG_PEER_IP=10.11.0.1 10.12.0.1\n");
        let e = super::super::parse(Path::new("/etc/test.conf"), &base).expect_err("one endpoint").to_string();
        assert!(e.contains("WG_IFACE: is not set but WG_PEER_IP lists 2 tunnels"), "{e}");
        let e = super::super::parse(Path::new("/etc/t"), &format!("WG_IFACE=wg0 wg1\n{base}")).expect_err("endpoints");
        assert!(e.to_string().contains("WG_ENDPOINT: lists 1 values but WG_PEER_IP lists 2"), "{e}");
    }

    #[test]
    fn a_peer_list_of_separators_alone_is_refused() {
        let base = MINIMAL.replace("WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\n", "");
        let text = format!("WG_IFACE=,\nWG_ENDPOINT=, \nWG_PEER_IP=, ,\n{base}");
        let e = super::super::parse(Path::new("/etc/t"), &text).expect_err("no tunnel").to_string();
        assert_eq!(e, "/etc/t:3: WG_PEER_IP: lists no address");
    }

    #[test]
    fn a_further_tunnel_is_refused_on_a_wan_a_shared_interface_or_a_name() {
        let dup = TWO.replace("wg0 wg1", "wg0 wg0");
        let base = MINIMAL.replace("WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\n", "");
        let e = super::super::parse(Path::new("/etc/t"), &format!("{dup}{base}")).expect_err("dup").to_string();
        assert!(e.contains("WG_IFACE: `wg0` is listed twice"), "{e}");
        let wan = TWO.replace("wg0 wg1", "wg0 eth1");
        let e = super::super::parse(Path::new("/etc/t"), &format!("{wan}{base}")).expect_err("wan").to_string();
        assert!(e.contains("`eth1` is also a WAN interface"), "{e}");
        let named = TWO.replace("198.51.100.20", "vps2.example.net");
        let e = super::super::parse(Path::new("/etc/t"), &format!("{named}{base}")).expect_err("name").to_string();
        assert!(e.contains("only the first tunnel's endpoint may be a name"), "{e}");
    }
}
