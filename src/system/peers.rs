//! The tunnel's peer as the running device reports it: the VPS peer, its key (from
//! the key file, the device or EdgeOS's configuration), the counters the LAN's traffic
//! moves through during an outage, and what an operator is told when the tunnel stays
//! down.

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use super::{read_small, System};
use crate::decide::Target;
use crate::edgeos;
use crate::error::{Context, Error};
use crate::traffic::{Bytes, Reading};
use crate::wireguard::{self, Key, Peer, Peers, Wanted};

impl System<'_> {
    /// The running device's peers that can be the VPS, and the one with `key`.
    fn peers(&mut self, key: Option<Key>) -> Result<Peers, Error> {
        let want = Wanted { peer_ip: self.cfg.wg_peer_ip, endpoint: self.cfg.wg_endpoint.addr(), key };
        self.kernel.peers(want).context("WireGuard")
    }

    /// The VPS peer as the running device reports it.
    pub fn tunnel_peer(&mut self) -> Result<Option<Peer>, Error> {
        let c = self.cfg;
        let peers = self.peers(None)?;
        Ok(wireguard::select_peer(&peers, c.wg_peer_ip, c.wg_endpoint.addr()).cloned())
    }

    /// The counters that carry the LAN's traffic while the tables point at `target`: the
    /// VPS peer's, or BACKUP_DEV's link counters (`None`: none to read now — the interface
    /// or the peer is gone, or the read failed: the next reading counts from itself), with
    /// the interface index of their device (WG_IFACE for the peer's): a re-created device
    /// has another.
    pub fn counters(&mut self, target: Target) -> Option<Reading> {
        let (device, counters) = match target {
            Target::Tunnel => {
                let peer = self.tunnel_peer().ok().flatten();
                (self.links.index(&self.cfg.wg_iface), peer.map(|p| Bytes { rx: p.rx_bytes, tx: p.tx_bytes }))
            }
            Target::Backup => {
                let index = self.links.index(&self.cfg.backup_dev)?;
                (Some(index), self.kernel.link_bytes(index).ok().flatten())
            }
        };
        Some(Reading { of: target, device, counters: counters?, at_s: self.boottime_s() })
    }

    /// The device's peer with this public key (find_peer_key made sure there is one).
    pub fn peer_with_key(&mut self, key: &Key) -> Result<Peer, Error> {
        let peers = self.peers(Some(*key))?;
        peers.with_key(key).cloned().ok_or_else(|| {
            Error::Failed(format!("peer {} is not configured on {}", wireguard::key_to_base64(key), self.cfg.wg_iface))
        })
    }

    /// The VPS peer's public key, from (in order) WG_PEER_KEY_FILE, the running device,
    /// `cli-shell-api`, `/config/config.boot`; it must be a peer of the running device.
    pub fn find_peer_key(&mut self) -> Result<(Key, String), Error> {
        let c = self.cfg;
        let mut device = self.peers(None)?;
        let mut tried = Vec::new();
        let mut key_file_skipped = None;
        let found: Option<(Key, String)> = 'find: {
            let file = &c.wg_peer_key_file;
            // A further tunnel without a key file of its own: its running device's peer.
            let none = file.as_os_str().is_empty();
            match read_small(file) {
                Ok(text) => match wireguard::key_from_base64(&text) {
                    Some(k) => break 'find Some((k, file.display().to_string())),
                    None => {
                        return Err(Error::Failed(format!(
                            "{}: not a WireGuard public key (44 characters of base64)",
                            file.display()
                        )))
                    }
                },
                Err(_) if none => {}
                Err(e) => {
                    let failed = format!("{} ({e})", file.display());
                    if e.kind() != std::io::ErrorKind::NotFound {
                        key_file_skipped = Some(failed.clone());
                    }
                    tried.push(failed);
                }
            }
            if let Some(p) = wireguard::select_peer(&device, c.wg_peer_ip, c.wg_endpoint.addr()) {
                break 'find Some((p.public_key, format!("the running {}", c.wg_iface)));
            }
            tried.push(format!("the running {} ({} peers, none identifiable)", c.wg_iface, device.total));
            // Each source is asked only if the ones before it gave nothing.
            for source in [edgeos::CLI_SHELL_API, edgeos::CONFIG_BOOT] {
                match edgeos::configured_peers(source, &c.wg_iface)
                    .as_deref()
                    .and_then(|p| edgeos::pick_configured(p, c.wg_endpoint.addr(), c.wg_peer_ip))
                {
                    Some(p) => break 'find wireguard::key_from_base64(&p.key).map(|k| (k, source.to_string())),
                    None => {
                        let why = if Path::new(source).exists() { "no matching peer" } else { "absent" };
                        tried.push(format!("{source} ({why})"));
                    }
                }
            }
            None
        };
        let Some((key, mut source)) = found else {
            return Err(Error::Failed(format!(
                "no public key for the VPS peer of {}; tried {}",
                c.wg_iface,
                tried.join(", ")
            )));
        };
        if let Some(skipped) = key_file_skipped {
            // Said where the key came from, so the log tells why the key file was not used.
            source = format!("{source}; skipped {skipped}");
        }
        if device.with_key(&key).is_none() {
            device = self.peers(Some(key))?;
        }
        if device.with_key(&key).is_none() {
            return Err(Error::Failed(format!(
                "peer {} (from {source}) is not configured on {}",
                wireguard::key_to_base64(&key),
                c.wg_iface
            )));
        }
        Ok((key, source))
    }

    /// What an operator needs to see when the tunnel stays down.
    pub fn tunnel_diagnostics(&mut self, backup_gw: Ipv4Addr) -> String {
        let c = self.cfg;
        let peer = match self.tunnel_peer() {
            Ok(Some(p)) => {
                let age = crate::health::handshake_age(p.last_handshake, self.wall_now());
                let endpoint = p.endpoint.map_or("none".to_string(), |e| e.to_string());
                format!("latest handshake {age}, endpoint {endpoint}")
            }
            Ok(None) => "no peer for the VPS on the device".to_string(),
            Err(e) => e.to_string(),
        };
        let backup = match self.links.by_name(&c.backup_dev) {
            Some(l) if l.admin_up && l.lower_up => "up",
            Some(_) => "down",
            None => "missing",
        };
        format!(
            "{peer}; backup {} is {backup}; endpoint {}:{} via {backup_gw}",
            c.backup_dev,
            c.wg_endpoint.addr(),
            c.wg_endpoint_port
        )
    }

    /// The endpoint WG_ENDPOINT:WG_ENDPOINT_PORT.
    pub fn endpoint(&self) -> SocketAddr {
        SocketAddr::from((self.cfg.wg_endpoint.addr(), self.cfg.wg_endpoint_port))
    }
}
