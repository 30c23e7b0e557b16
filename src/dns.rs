//! The DNS check of activation step 7: one A query for DNS_TEST_NAME to the router's
//! own LAN address (dnsmasq), answered within 5 s or the resolver is restarted; and the
//! lookup of a name endpoint (`endpoint`), with the same query and `answer`'s reader,
//! routed or framed to the backup's gateway (`resolving`: the lookup polled beside a loop).
//!
//! The query is hand-built (a 12-byte header and one question); a reply counts only if
//! it comes from the server (the UDP socket is connected) and `answer` reads it as the
//! reply to this query (its random id, a response, the question asked); the name then
//! resolves when the reply holds an A record for it (through its aliases).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::os::{Child, Group, Spawn};
use crate::probe::Path as ProbePath;

mod answer;
mod resolving;
pub use answer::{lookup_of, Lookup};
pub use resolving::Resolving;

/// Builds a recursive query for the A record of `name`.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
    q
}

/// Whether `server` resolves `name` within `timeout` (the query is sent again halfway).
pub fn resolves(server: Ipv4Addr, name: &str, timeout: Duration) -> io::Result<bool> {
    let mut q = Query::start(server, name, timeout)?;
    loop {
        if let Some(answered) = q.poll()? {
            return Ok(answered);
        }
        q.wait()?;
    }
}

/// A name's address, as a resolver gave it.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub addr: Ipv4Addr,
    pub ttl_s: u32,
    pub server: Ipv4Addr,
}

/// Asks `servers` in turn for the address of `name`, each within its share of `timeout`:
/// routed by the kernel (`via` `None`: see [`Resolving`]), or framed to a gateway along
/// `via` (see `probe::exchange`). The first address found wins; `Err` says what each
/// server did.
pub fn lookup(
    servers: &[Ipv4Addr],
    name: &str,
    timeout: Duration,
    via: Option<&ProbePath>,
) -> Result<Resolved, String> {
    let mut r = Resolving::start_via(servers, name, timeout, via);
    loop {
        if let Some(done) = r.poll() {
            return done;
        }
        r.wait();
    }
}

/// Each resolver's share of a lookup's time.
fn share_of(servers: &[Ipv4Addr], timeout: Duration) -> Duration {
    timeout / u32::try_from(servers.len()).unwrap_or(1).max(1)
}

/// What `server`'s reply (`None`: none within `share`) says of the name.
fn said(server: Ipv4Addr, reply: Option<Lookup>, share: Duration) -> Result<Resolved, String> {
    match reply {
        Some(Lookup::Found { addrs, ttl_s }) if !addrs.is_empty() => Ok(Resolved { addr: addrs[0], ttl_s, server }),
        Some(Lookup::Failed(m)) => Err(format!("{server}: {m}")),
        _ => Err(format!("{server}: no answer within {} ms", share.as_millis() as u64)),
    }
}

/// A lookup's failure: what each resolver did.
fn gave_up(why: Vec<String>) -> String {
    if why.is_empty() {
        "no resolver to ask".into()
    } else {
        why.join("; ")
    }
}

/// The IPv4 name servers of resolv.conf's `text`, in order, at most three (as the C
/// library reads it).
pub fn nameservers(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()?.parse().ok())?
        })
        .take(3)
        .collect()
}

/// The system's name servers, from /etc/resolv.conf (read with a bound).
pub fn system_nameservers() -> Vec<Ipv4Addr> {
    read_proc(Path::new("/etc/resolv.conf"), 64 * 1024).map(|t| nameservers(&t)).unwrap_or_default()
}

/// One query in flight, read without blocking: [`resolves`] and [`lookup`] wait on its
/// socket, the daemon polls it beside its other descriptors, so that a resolver that does
/// not answer never holds its loop.
pub struct Query {
    sock: UdpSocket,
    id: u16,
    /// The name asked, as `answer` compares it.
    name: String,
    packet: Vec<u8>,
    pub server: Ipv4Addr,
    deadline: Instant,
    /// Halfway to the deadline: the query is sent again once then.
    half: Instant,
    /// When it is sent again: at `half`, or 100 ms after nothing listened (yet).
    resend_at: Option<Instant>,
}

impl Query {
    /// The A query for `name`, sent to `server` port 53.
    pub fn start(server: Ipv4Addr, name: &str, timeout: Duration) -> io::Result<Query> {
        Query::start_at(SocketAddr::from((server, 53)), name, timeout)
    }

    /// Sends the query to `to` over a connected, non-blocking socket.
    fn start_at(to: SocketAddr, name: &str, timeout: Duration) -> io::Result<Query> {
        let id = crate::probe::random_u16()?;
        let packet = query(id, name);
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        sock.connect(to)?;
        sock.set_nonblocking(true)?;
        sock.send(&packet)?;
        let now = Instant::now();
        let server = match to.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let (deadline, half) = (now + timeout, now + timeout / 2);
        Ok(Query { sock, id, name: name.to_string(), packet, server, deadline, half, resend_at: Some(half) })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    /// Milliseconds (rounded up) until [`Query::poll`] has more to do than read a reply.
    pub fn wait_ms(&self) -> i32 {
        let next = self.resend_at.map_or(self.deadline, |t| t.min(self.deadline));
        next.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
    }

    /// Waits until a reply may have come or [`Query::poll`] is due.
    fn wait(&self) -> io::Result<()> {
        let mut fds = [crate::os::pollin(self.fd())];
        match crate::os::poll(&mut fds, self.wait_ms()) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        }
    }

    /// The LAN check's reading of [`Query::poll_lookup`]: `Some(true)` the name resolves
    /// (an A record for it), `Some(false)` it does not (refused, no address, malformed) or
    /// no reply by the deadline, `None` still waiting.
    pub fn poll(&mut self) -> io::Result<Option<bool>> {
        Ok(self.poll_lookup()?.map(|r| matches!(r, Some(Lookup::Found { .. }))))
    }

    /// Reads what has come, never waiting: `Some(Some(lookup))` the reply to this query as
    /// [`lookup_of`] reads it, `Some(None)` none by the deadline, `None` still waiting.
    pub fn poll_lookup(&mut self) -> io::Result<Option<Option<Lookup>>> {
        let (id, name) = (self.id, self.name.clone());
        let reply = self.poll_with(&|p| lookup_of(id, &name, p) != Lookup::Foreign)?;
        Ok(reply.map(|r| r.map(|p| lookup_of(id, &name, &p))))
    }

    /// Reads what has come, never waiting: `Some(Some(reply))` the first reply `accept`
    /// takes, `Some(None)` none by the deadline, `None` still waiting. Sends the query
    /// again when due.
    fn poll_with(&mut self, accept: &dyn Fn(&[u8]) -> bool) -> io::Result<Option<Option<Vec<u8>>>> {
        let mut buf = [0u8; 1500];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) if accept(&buf[..n]) => return Ok(Some(Some(buf[..n].to_vec()))),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable: nothing listens (yet); asked again until the deadline.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.resend_at = Some(Instant::now() + Duration::from_millis(100));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Ok(Some(None));
        }
        if self.resend_at.is_some_and(|t| now >= t) {
            self.resend_at = (now < self.half).then_some(self.half);
            // A send refused is what the deadline then says.
            let _ = self.sock.send(&self.packet);
        }
        Ok(None)
    }
}

/// Whether root's dnsmasq runs in this network namespace (the router's resolver): a
/// process whose executable is a file named `dnsmasq` that only root can change, run by
/// root or holding a DNS socket (UDP port 53) that root opened — dnsmasq opens its
/// sockets as root and then drops to an unprivileged user. A name (`/proc/*/comm`) proves
/// nothing: any user can call a process dnsmasq, and a user's own copy of it cannot open
/// port 53.
pub fn dnsmasq_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    let our_netns = std::fs::read_link("/proc/self/ns/net").ok();
    dir.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .any(|e| is_roots_dnsmasq(&e.path(), our_netns.as_deref()))
}

/// Whether the process at `/proc/PID` is root's dnsmasq in the network namespace
/// `netns` (when known; see [`dnsmasq_running`]).
fn is_roots_dnsmasq(proc_dir: &Path, netns: Option<&Path>) -> bool {
    if netns.is_some_and(|ours| std::fs::read_link(proc_dir.join("ns/net")).ok().as_deref() != Some(ours)) {
        return false;
    }
    let Ok(exe) = std::fs::read_link(proc_dir.join("exe")) else { return false };
    if exe.file_name().is_none_or(|n| n != "dnsmasq") || crate::trust::program_problem(&exe).is_some() {
        return false;
    }
    if std::fs::metadata(proc_dir).is_ok_and(|m| m.uid() == 0) {
        return true;
    }
    let mut sockets = Vec::new();
    for table in ["net/udp", "net/udp6"] {
        if let Ok(text) = read_proc(&proc_dir.join(table), 1 << 20) {
            sockets.extend(root_dns_sockets(&text));
        }
    }
    if sockets.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else { return false };
    fds.flatten().take(4096).any(|fd| {
        std::fs::read_link(fd.path())
            .ok()
            .and_then(|l| socket_inode(&l.to_string_lossy()))
            .is_some_and(|i| sockets.contains(&i))
    })
}

/// The inode of a descriptor link `socket:[INODE]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The inodes of the UDP sockets bound to port 53 that root opened, from the text of
/// `/proc/net/udp` or `/proc/net/udp6`.
pub fn root_dns_sockets(text: &str) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(1)?.rsplit_once(':')?.1;
            (port == "0035" && *f.get(7)? == "0").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// A /proc file, read with a bound.
fn read_proc(path: &Path, max_bytes: u64) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.take(max_bytes).read_to_string(&mut text)?;
    Ok(text)
}

/// Runs the restart command without a shell and waits for it (up to 30 s).
pub fn restart(cmd: &[String]) -> io::Result<()> {
    let mut r = Restarting::start(cmd)?;
    loop {
        if let Some(done) = r.done() {
            return done;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The restart command, running: [`Restarting::done`] says how it ended once it has (the
/// daemon asks at each pass of its loop, `restart` every 50 ms), and kills it at 30 s.
pub struct Restarting {
    child: Child,
    program: String,
    deadline: Instant,
}

impl Restarting {
    pub fn start(cmd: &[String]) -> io::Result<Restarting> {
        let program = cmd.first().ok_or_else(|| io::Error::other("empty command"))?;
        // It runs as root: only while only root can change it (checked right before the run).
        if let Some(why) = crate::trust::program_problem(std::path::Path::new(program)) {
            return Err(io::Error::other(format!("not run: {why}")));
        }
        let argv: Vec<&OsStr> = cmd.iter().map(OsStr::new).collect();
        let child = Child::spawn(&argv, &[], Spawn { stdout_pipe: false, group: Group::Inherit })?;
        Ok(Restarting { child, program: program.clone(), deadline: Instant::now() + Duration::from_secs(30) })
    }

    /// `None` while it runs.
    pub fn done(&mut self) -> Option<io::Result<()>> {
        let program = &self.program;
        match self.child.try_wait() {
            Err(e) => Some(Err(e)),
            Ok(Some(status)) if status.success() => Some(Ok(())),
            Ok(Some(status)) => Some(Err(io::Error::other(format!("{program} {status}")))),
            Ok(None) if Instant::now() >= self.deadline => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Some(Err(io::Error::other(format!("{program} did not finish within 30 s"))))
            }
            Ok(None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        // Header with RD set and one question: google.com, type A, class IN.
        let q = query(0xabcd, "google.com");
        assert_eq!(
            q,
            [
                0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 6, b'g', b'o', b'o', b'g', b'l', b'e', 3, b'c', b'o',
                b'm', 0, 0, 1, 0, 1
            ]
        );
        assert_eq!(query(1, "example.com."), query(1, "example.com"));
    }

    /// The reply to `query` holding `records` (each an A record for the name asked,
    /// compressed, or for the name at offset `at` when given).
    fn reply_to(query: &[u8], records: &[(Option<&str>, [u8; 4])]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x80; // QR
        r[7] = records.len() as u8;
        for (owner, addr) in records {
            match owner {
                None => r.extend_from_slice(&[0xc0, 12]),
                Some(name) => {
                    for label in name.split('.') {
                        r.push(label.len() as u8);
                        r.extend_from_slice(label.as_bytes());
                    }
                    r.push(0);
                }
            }
            r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
            r.extend_from_slice(addr);
        }
        r
    }

    /// The LAN check counts a reply only when it holds an address for the name asked: an
    /// answer for another name (a resolver's stale or hijacked reply) is no answer.
    #[test]
    fn the_lan_check_counts_only_an_address_for_the_name_asked() {
        for (records, resolves) in [
            (&[(None, [192, 0, 2, 1])][..], true),
            (&[(Some("ads.example.com"), [192, 0, 2, 1])][..], false),
            (&[][..], false),
        ] {
            let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut q = Query::start_at(server.local_addr().expect("addr"), "example.org", Duration::from_millis(2000))
                .expect("start");
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).expect("the query");
            server.send_to(&reply_to(&buf[..n], records), from).expect("reply");
            let answered = loop {
                if let Some(a) = q.poll().expect("poll") {
                    break a;
                }
                q.wait().expect("wait");
            };
            assert_eq!(answered, resolves, "{records:?}");
        }
    }

    /// A routed lookup asks its resolvers in turn, never waiting in `poll`: the first, silent,
    /// is given up at its share of the time; the second's address is the answer.
    #[test]
    fn a_routed_lookup_passes_a_silent_resolver_over_without_waiting_in_poll() {
        // Two resolvers on one port of two loopback addresses.
        let answering = UdpSocket::bind("127.0.0.3:0").expect("bind");
        let port = answering.local_addr().expect("addr").port();
        let _silent = UdpSocket::bind(("127.0.0.2", port)).expect("bind the same port on 127.0.0.2");
        let servers = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
        let started = Instant::now();
        let mut r = Resolving::start_port(&servers, port, "vps.example.net", Duration::from_millis(400), None);
        answering.set_nonblocking(true).expect("non-blocking");
        let mut buf = [0u8; 512];
        let done = loop {
            let before = Instant::now();
            if let Some(done) = r.poll() {
                break done;
            }
            assert!(before.elapsed() < Duration::from_millis(20), "poll waited");
            if let Ok((n, from)) = answering.recv_from(&mut buf) {
                assert!(started.elapsed() >= Duration::from_millis(200), "the second asked before the first's share");
                answering.send_to(&reply_to(&buf[..n], &[(None, [198, 51, 100, 10])]), from).expect("reply");
            }
            assert!(started.elapsed() < Duration::from_secs(2), "no end");
            std::thread::sleep(Duration::from_millis(5));
        };
        let found = done.expect("found");
        assert_eq!((found.addr, found.ttl_s, found.server), (Ipv4Addr::new(198, 51, 100, 10), 300, servers[1]));
    }

    #[test]
    fn resolv_conf_gives_its_ipv4_name_servers_in_order() {
        let text = "# by dhcp\nsearch lan\nnameserver 127.0.0.1\nnameserver ::1\nnameserver\n nameserver 192.0.2.53 # isp\nnameserver 198.51.100.53\nnameserver 203.0.113.53\nnameserver 203.0.113.54\n";
        let want: Vec<Ipv4Addr> =
            ["127.0.0.1", "192.0.2.53", "198.51.100.53"].iter().map(|a| a.parse().expect("ip")).collect();
        assert_eq!(nameservers(text), want);
        assert!(nameservers("").is_empty());
    }

    #[test]
    fn only_roots_sockets_on_port_53_count() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   1: 010AA8C0:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
   2: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4343 2 0000000000000000 0\n\
   3: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4444 2 0000000000000000 0\n\
   4: short\n";
        assert_eq!(root_dns_sockets(text), [4242]);
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn restart_runs_without_a_shell_and_reports_failure() {
        assert!(restart(&["/bin/true".into()]).is_ok());
        assert!(restart(&["/bin/false".into()]).is_err());
        // A shell would expand this; run directly it is one literal argument.
        assert!(restart(&["/bin/test".into(), "$HOME".into(), "=".into(), "$HOME".into()]).is_ok());
        assert!(restart(&[]).is_err());
    }

    /// A resolver that loses the first query and answers the second: the query sent again
    /// halfway is answered, and `poll` never waits meanwhile (the daemon's loop calls it).
    #[test]
    fn a_query_is_sent_again_halfway_and_poll_never_waits() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut q = Query::start_at(server.local_addr().expect("addr"), "example.org", Duration::from_millis(1000))
            .expect("start");
        let mut buf = [0u8; 512];
        let (n, from) = server.recv_from(&mut buf).expect("the first query");
        let first = buf[..n].to_vec();
        let started = Instant::now();
        assert_eq!(q.poll().expect("poll"), None);
        assert!(started.elapsed() < Duration::from_millis(50), "poll waited");
        assert!(q.wait_ms() <= 500, "the resend is due halfway: {} ms", q.wait_ms());
        server.set_nonblocking(true).expect("non-blocking");
        let n = loop {
            assert_eq!(q.poll().expect("poll"), None, "nothing answered yet");
            if let Ok((n, _)) = server.recv_from(&mut buf) {
                break n;
            }
            assert!(started.elapsed() < Duration::from_millis(1000), "not sent again");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(started.elapsed() >= Duration::from_millis(400), "sent again before halfway");
        assert_eq!(buf[..n], first[..], "the same query");
        // NOERROR, the name's address.
        server.send_to(&reply_to(&first, &[(None, [192, 0, 2, 1])]), from).expect("reply");
        let mut answered = None;
        while answered.is_none() {
            answered = q.poll().expect("poll");
        }
        assert_eq!(answered, Some(true));
    }

    /// A resolver that never answers: `resolves` says no at the deadline, not before.
    #[test]
    fn a_silent_resolver_is_given_up_at_the_deadline() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let started = Instant::now();
        let mut q = Query::start_at(server.local_addr().expect("addr"), "example.org", Duration::from_millis(300))
            .expect("start");
        let answered = loop {
            if let Some(a) = q.poll().expect("poll") {
                break a;
            }
            std::thread::sleep(Duration::from_millis(q.wait_ms().max(1) as u64));
        };
        assert!(!answered);
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    }
}
