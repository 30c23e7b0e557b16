//! The link layer under a probe through a device: an echo to an on-link target waits in
//! its neighbour entry's queue until the target's link-layer address is resolved, and is
//! dropped with the queue when the resolution fails.
//!
//! Traffic during a carrier loss (a load balancer's ping, a LAN flow through a route that
//! is only `linkdown`) leaves the gateway's entry INCOMPLETE, its solicitations spent on a
//! link without carrier. When the carrier returns, the kernel sends none of them again: a
//! probe at once queues its echoes behind that entry, which fails a moment later (at most
//! one retransmission time) and drops them: a working gateway judged silent, and the
//! failsafe held on for one more tick. A request sent once the entry has failed starts a
//! new resolution, with a solicitation at once.

use std::net::Ipv4Addr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{echo, Path, Prober};
use crate::netlink::link::{self, Links, NUD_FAILED, NUD_INCOMPLETE};
use crate::netlink::{Netlink, NetlinkError};

/// How often the neighbour table is read while an entry settles.
const POLL: Duration = Duration::from_millis(20);
/// The kernel's default retransmission time (`retrans_time_ms`), when the device's cannot
/// be read.
const RETRANS_DEFAULT: Duration = Duration::from_millis(1000);

/// Whether any of `silent` (targets that did not answer on `dev`) has a neighbour entry on
/// `dev` that is unresolved, so that the requests to it may never have left; if so, waits
/// (at most one retransmission time of `dev`) for the INCOMPLETE ones to settle: resolved,
/// which sends what waited in the queue, or failed, which lets a new request start a new
/// resolution. Anything unreadable counts as resolved: the silence then stands, as it did
/// before this check.
pub(super) fn settle_unresolved(dev: &str, silent: &[Ipv4Addr]) -> bool {
    let Ok(mut nl) = Netlink::open(netlink_sys::protocols::NETLINK_ROUTE) else { return false };
    let Some(index) = Links::dump(&mut nl).ok().and_then(|l| l.by_name(dev).map(|l| l.index)) else { return false };
    let deadline = Instant::now() + retrans_time(dev) + POLL * 5;
    let mut unresolved = false;
    loop {
        let mut incomplete = false;
        for ip in silent {
            let Ok(state) = link::neighbour_state(&mut nl, index, *ip) else { return unresolved };
            let state = state.unwrap_or(0);
            unresolved |= state & (NUD_INCOMPLETE | NUD_FAILED) != 0;
            incomplete |= state & NUD_INCOMPLETE != 0;
        }
        if !incomplete || Instant::now() >= deadline {
            return unresolved;
        }
        sleep(POLL);
    }
}

/// The link-layer address of the gateway `gw` on `dev` (link `index`) — the packet path's
/// next hop, `run`'s and the daemon's alike — from the neighbour table. When the kernel
/// has none yet, one echo to the gateway through the device makes it resolve one: with
/// `wait` (`run`'s round) its answer is waited for, up to `wait`, and the table read
/// again; without (the daemon's loop, which nothing may block) it is only sent, and the
/// next call finds the address.
pub fn gateway_lladdr(
    nl: &mut Netlink,
    index: u32,
    dev: &str,
    gw: Ipv4Addr,
    wait: Option<Duration>,
) -> Result<Option<Vec<u8>>, NetlinkError> {
    if let Some(mac) = link::neighbour(nl, index, gw)? {
        return Ok(Some(mac));
    }
    let path = Path::Device(dev.to_string());
    match wait {
        Some(timeout) => {
            echo(&path, &[gw], 1, timeout, 1)?;
            link::neighbour(nl, index, gw)
        }
        None => {
            // Never waited for: a send the network refuses is tried again next time.
            if let Ok(p) = Prober::open(path) {
                let _ = p.send(gw, 1);
            }
            Ok(None)
        }
    }
}

/// How long the kernel waits between two solicitations on `dev`.
fn retrans_time(dev: &str) -> Duration {
    let path = format!("/proc/sys/net/ipv4/neigh/{dev}/retrans_time_ms");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map_or(RETRANS_DEFAULT, Duration::from_millis)
        .min(Duration::from_secs(10))
}
