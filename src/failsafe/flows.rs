//! CONNTRACK_FLUSH after a switch of the tables: the router's addresses read, the flows
//! the switch breaks (`conntrack::breaks`, pure) deleted through the door, what failed told.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::conntrack::{breaks, Local, Path, Scope};
use crate::net::Prefix;
use crate::netlink::ctnetlink::{ConntrackError, Flow};
use crate::system::System;

use super::say::{tell, News};

/// A kernel without ctnetlink is told once per process (the daemon switches many times).
static UNSUPPORTED_TOLD: AtomicBool = AtomicBool::new(false);

/// Right after the tables switched from `from` to `to` (activation after step 6,
/// deactivation after step 3, the target's change while active): with
/// CONNTRACK_FLUSH=auto, deletes the flows the switch breaks and returns how many (also
/// kept in `sys.flows_reset` for the switch's events). Never fails the switch: a failure
/// is told and `None` returned. `--dry-run` lists each flow in `conntrack -D` words and
/// deletes none.
pub fn after_switch(sys: &mut System, from: Path, to: Path) -> Option<usize> {
    sys.flows_reset = None;
    let c = sys.cfg;
    if !c.conntrack_flush || from == to {
        return None;
    }
    let addrs = match sys.addrs() {
        Ok(a) => a,
        Err(e) => {
            tell(sys, News::FlowsNotReset(&e.to_string()));
            return None;
        }
    };
    let left_dev = match from {
        Path::Primary => Some(&c.primary_dev),
        Path::Backup => Some(&c.backup_dev),
        Path::Tunnel => None,
    };
    let left_index = left_dev.and_then(|d| sys.links.by_name(d)).map(|l| l.index);
    // IPv6 is judged only when the router's own IPv6 addresses are known (else a flow from
    // its LAN address could not be told from a LAN host's) and, leaving the tunnel, when
    // the tunnel carried IPv6 (WG_PEER_IP6; otherwise IPv6 was refused during the outage
    // and no IPv6 flow went through it).
    let addrs6 = sys.kernel.addrs6().ok().filter(|_| from != Path::Tunnel || c.wg_peer_ip6.is_some());
    let v6 = addrs6.is_some();
    let addrs6 = addrs6.unwrap_or_default();
    let router4 = addrs.iter().map(|a| (a.index, IpAddr::V4(a.local), a.prefix_len));
    let router6 = addrs6.iter().map(|a| (a.index, IpAddr::V6(a.local), a.prefix_len));
    let mut scope = Scope { lan: Vec::new(), router: Vec::new(), left: Vec::new() };
    scope.lan.extend(c.lan_subnets.iter().map(|n| Prefix::from(*n)));
    scope.lan.extend_from_slice(&c.lan_subnets6);
    for (index, addr, prefix_len) in router4.chain(router6) {
        scope.router.push(Local { addr, prefix_len });
        if Some(index) == left_index {
            scope.left.push(addr);
        }
    }
    let chosen = |f: &Flow| (v6 || f.orig.src.is_ipv4()) && breaks(f, from, to, &scope);
    let dry_run = sys.dry_run;
    let mut listed = Vec::new();
    let result = sys.kernel.flush_flows(dry_run, chosen, |f| {
        if dry_run {
            listed.push(f.to_string());
        }
    });
    sys.changes.extend(listed);
    match result {
        Ok((done, first_error)) => {
            if let Some(e) = first_error {
                tell(sys, News::FlowsNotDeleted { failed: done.failed, error: &e.to_string() });
            }
            sys.flows_reset = Some(done.deleted);
            Some(done.deleted)
        }
        Err(e @ ConntrackError::Unsupported(_)) => {
            if !UNSUPPORTED_TOLD.swap(true, Ordering::Relaxed) {
                tell(sys, News::ConntrackUnsupported(&e.to_string()));
            }
            None
        }
        Err(e) => {
            tell(sys, News::FlowsNotReset(&e.to_string()));
            None
        }
    }
}
