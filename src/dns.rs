//! The DNS check of activation step 7: one A query for DNS_TEST_NAME to the router's
//! own LAN address (dnsmasq), answered within 5 s or the resolver is restarted; and the
//! lookup of a name endpoint (`endpoint`), with the same query and `answer`'s reader,
//! routed or framed to the backup's gateway.
//!
//! The query is hand-built (a 12-byte header and one question); a reply counts only if
//! it comes from the server (the UDP socket is connected), carries the query's random id,
//! is a response, and says NOERROR with at least one answer.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::probe::Path as ProbePath;

mod answer;
pub use answer::{lookup_of, Lookup};

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

/// What a reply says.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Not a reply to our query.
    Foreign,
    /// The resolver answered with this RCODE and this many answers.
    Answer { rcode: u8, answers: u16 },
}

pub fn parse_reply(id: u16, packet: &[u8]) -> Reply {
    if packet.len() < 12 || u16::from_be_bytes([packet[0], packet[1]]) != id || packet[2] & 0x80 == 0 {
        return Reply::Foreign;
    }
    Reply::Answer { rcode: packet[3] & 0x0f, answers: u16::from_be_bytes([packet[6], packet[7]]) }
}

/// Whether `server` resolves `name` within `timeout` (the query is sent again halfway).
pub fn resolves(server: Ipv4Addr, name: &str, timeout: Duration) -> io::Result<bool> {
    let id = crate::probe::random_u16()?;
    let reply = routed(server, &query(id, name), timeout, &|p| parse_reply(id, p) != Reply::Foreign)?;
    Ok(matches!(reply.map(|p| parse_reply(id, &p)), Some(Reply::Answer { rcode: 0, answers }) if answers > 0))
}

/// A name's address, as a resolver gave it.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub addr: Ipv4Addr,
    pub ttl_s: u32,
    pub server: Ipv4Addr,
}

/// Asks `servers` in turn for the address of `name`, each within its share of `timeout`:
/// routed by the kernel (`via` `None`), or framed to a gateway along `via` (see
/// `probe::exchange`). The first address found wins; `Err` says what each server did.
pub fn lookup(
    servers: &[Ipv4Addr],
    name: &str,
    timeout: Duration,
    via: Option<&ProbePath>,
) -> Result<Resolved, String> {
    let share = timeout / u32::try_from(servers.len()).unwrap_or(1).max(1);
    let mut why = Vec::new();
    for &server in servers {
        let id = match crate::probe::random_u16() {
            Ok(id) => id,
            Err(e) => return Err(format!("no random query id: {e}")),
        };
        let q = query(id, name);
        let accept = |p: &[u8]| lookup_of(id, name, p) != Lookup::Foreign;
        let reply = match via {
            None => routed(server, &q, share, &accept),
            Some(path) => crate::probe::exchange(path, server, 53, &q, share, &accept),
        };
        match reply.map(|r| r.map(|p| lookup_of(id, name, &p))) {
            Ok(Some(Lookup::Found { addrs, ttl_s })) => return Ok(Resolved { addr: addrs[0], ttl_s, server }),
            Ok(Some(Lookup::Failed(m))) => why.push(format!("{server}: {m}")),
            Ok(_) => why.push(format!("{server}: no answer within {} ms", share.as_millis())),
            Err(e) => why.push(format!("{server}: {e}")),
        }
    }
    Err(if why.is_empty() { "no resolver to ask".into() } else { why.join("; ") })
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

/// One query to `server` port 53 through a connected UDP socket, routed by the kernel:
/// the first reply that `answers` accepts within `timeout` (the query is sent again
/// halfway). An ICMP port unreachable (nothing listens yet) is tried again until then.
fn routed(
    server: Ipv4Addr,
    q: &[u8],
    timeout: Duration,
    answers: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Option<Vec<u8>>> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.connect(SocketAddr::from((server, 53)))?;
    let deadline = Instant::now() + timeout;
    let resend_at = Instant::now() + timeout / 2;
    let mut resent = false;
    sock.send(q)?;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let until = if resent { deadline } else { resend_at.min(deadline) };
        sock.set_read_timeout(Some(until.saturating_duration_since(now).max(Duration::from_millis(1))))?;
        match sock.recv(&mut buf) {
            Ok(n) if answers(&buf[..n]) => return Ok(Some(buf[..n].to_vec())),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if !resent {
                    resent = true;
                    sock.send(q)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(100).min(deadline.saturating_duration_since(now)));
                sock.send(q)?;
            }
            Err(e) => return Err(e),
        }
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
    let (program, args) = cmd.split_first().ok_or_else(|| io::Error::other("empty command"))?;
    // It runs as root: only while only root can change it (checked right before the run).
    if let Some(why) = crate::trust::program_problem(std::path::Path::new(program)) {
        return Err(io::Error::other(format!("not run: {why}")));
    }
    let mut child =
        Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("{program} exited with {status}")))
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!("{program} did not finish within 30 s")));
        }
        std::thread::sleep(Duration::from_millis(50));
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

    #[test]
    fn replies() {
        let mut r = query(0x1234, "google.com");
        assert_eq!(parse_reply(0x1234, &r), Reply::Foreign, "a query is not a reply");
        r[2] |= 0x80; // QR
        r[7] = 1; // one answer
        assert_eq!(parse_reply(0x1234, &r), Reply::Answer { rcode: 0, answers: 1 });
        assert_eq!(parse_reply(0x1235, &r), Reply::Foreign, "other id");
        r[3] = 0x02; // SERVFAIL
        r[7] = 0;
        assert_eq!(parse_reply(0x1234, &r), Reply::Answer { rcode: 2, answers: 0 });
        assert_eq!(parse_reply(0x1234, &r[..5]), Reply::Foreign);
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
}
