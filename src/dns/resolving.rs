//! A lookup in progress, read without blocking: routed, or framed to a gateway.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{gave_up, lookup_of, query, said, share_of, Lookup, Query, Resolved};
use crate::probe::Path as ProbePath;

/// A lookup in progress, read without blocking: the resolvers asked in turn, each within
/// its share of the time, one query in flight — routed ([`Query`]), or framed to a gateway
/// (`probe::Exchange`). `dns::lookup` waits on it; the daemon polls its descriptor beside
/// the others, so that a resolver that does not answer never holds its loop.
pub struct Resolving {
    name: String,
    servers: Vec<Ipv4Addr>,
    /// `None`: routed by the kernel; else framed along this path.
    via: Option<ProbePath>,
    /// 53 (another in tests).
    port: u16,
    /// The next server to ask.
    next: usize,
    share: Duration,
    asking: Option<InFlight>,
    /// What each server asked so far did.
    why: Vec<String>,
}

/// The query a [`Resolving`] has in flight.
enum InFlight {
    Routed(Query),
    Framed { ex: crate::probe::Exchange, id: u16, server: Ipv4Addr },
}

impl InFlight {
    fn fd(&self) -> std::os::fd::RawFd {
        match self {
            InFlight::Routed(q) => q.fd(),
            InFlight::Framed { ex, .. } => ex.fd(),
        }
    }

    fn wait_ms(&self) -> i32 {
        match self {
            InFlight::Routed(q) => q.wait_ms(),
            InFlight::Framed { ex, .. } => ex.wait_ms(),
        }
    }

    fn server(&self) -> Ipv4Addr {
        match self {
            InFlight::Routed(q) => q.server,
            InFlight::Framed { server, .. } => *server,
        }
    }

    /// The reply as [`lookup_of`] reads it (`Some(None)`: none by the deadline), or
    /// `None` while waiting.
    fn poll(&mut self, name: &str) -> io::Result<Option<Option<Lookup>>> {
        match self {
            InFlight::Routed(q) => q.poll_lookup(),
            InFlight::Framed { ex, id, .. } => {
                let id = *id;
                let reply = ex.poll(&|p| lookup_of(id, name, p) != Lookup::Foreign)?;
                Ok(reply.map(|r| r.map(|p| lookup_of(id, name, &p))))
            }
        }
    }
}

impl Resolving {
    /// Asks the first of `servers` (a server that cannot be asked is passed over, told).
    pub fn start(servers: &[Ipv4Addr], name: &str, timeout: Duration) -> Resolving {
        Resolving::start_port(servers, 53, name, timeout, None)
    }

    /// As [`Resolving::start`], the queries framed along `via` when given (see
    /// `probe::exchange`).
    pub fn start_via(servers: &[Ipv4Addr], name: &str, timeout: Duration, via: Option<&ProbePath>) -> Resolving {
        Resolving::start_port(servers, 53, name, timeout, via)
    }

    pub(super) fn start_port(
        servers: &[Ipv4Addr],
        port: u16,
        name: &str,
        timeout: Duration,
        via: Option<&ProbePath>,
    ) -> Resolving {
        let share = share_of(servers, timeout);
        let (name, servers, via) = (name.to_string(), servers.to_vec(), via.cloned());
        let mut r = Resolving { name, servers, via, port, next: 0, share, asking: None, why: Vec::new() };
        r.ask_next();
        r
    }

    /// The query to `server`, along `via` if given.
    fn ask(&self, server: Ipv4Addr) -> io::Result<InFlight> {
        match &self.via {
            None => {
                Query::start_at(SocketAddr::from((server, self.port)), &self.name, self.share).map(InFlight::Routed)
            }
            Some(path) => {
                let id = crate::probe::random_u16()?;
                let ex = crate::probe::Exchange::start(path, server, self.port, &query(id, &self.name), self.share)?;
                Ok(InFlight::Framed { ex, id, server })
            }
        }
    }

    /// The next server asked; `asking` is `None` when none is left.
    fn ask_next(&mut self) {
        self.asking = None;
        while let Some(&server) = self.servers.get(self.next) {
            self.next += 1;
            match self.ask(server) {
                Ok(q) => {
                    self.asking = Some(q);
                    return;
                }
                Err(e) => self.why.push(format!("{server}: {e}")),
            }
        }
    }

    /// The query's socket (-1 once done: poll(2) skips it).
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.asking.as_ref().map_or(-1, InFlight::fd)
    }

    /// Milliseconds until [`Resolving::poll`] has more to do than read a reply.
    pub fn wait_ms(&self) -> i32 {
        self.asking.as_ref().map_or(0, InFlight::wait_ms)
    }

    pub(super) fn wait(&self) {
        if let Some(q) = &self.asking {
            // An error here is a poll that returned early: the deadline still holds.
            let _ = crate::os::poll(&mut [crate::os::pollin(q.fd())], q.wait_ms());
        }
    }

    /// Reads what has come, never waiting: `Some` once the lookup is over (an address
    /// found, or what each server did), `None` while a server is still being asked.
    pub fn poll(&mut self) -> Option<Result<Resolved, String>> {
        loop {
            let Some(q) = &mut self.asking else { return Some(Err(gave_up(std::mem::take(&mut self.why)))) };
            let server = q.server();
            let reply = match q.poll(&self.name) {
                Ok(None) => return None,
                Ok(Some(reply)) => said(server, reply, self.share),
                Err(e) => Err(format!("{server}: {e}")),
            };
            match reply {
                Ok(found) => return Some(Ok(found)),
                Err(m) => self.why.push(m),
            }
            self.ask_next();
        }
    }
}
