//! A userspace WireGuard's UAPI socket (`/var/run/wireguard/<iface>.sock`, as
//! wireguard-go and boringtun create it): `get=1` returns `key=value` lines ending with
//! `errno=N` and a blank line; `set=1` takes the same keys. Keys are hex there.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::{uapi_socket, Collector, Key, Peer, PeerConfig, PeerSet, Peers, Psk, WgError};

/// How long a userspace implementation may take to answer.
const IO_TIMEOUT: Duration = Duration::from_secs(3);

fn hex(key: &Key) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in key {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(s: &str) -> Option<Key> {
    if s.len() != 64 {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, out) in k.iter_mut().enumerate() {
        *out = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

/// The text that sets one peer's endpoint (when given) and keepalive; `update_only`: a
/// peer removed meanwhile is not created again.
pub fn set_text(p: &PeerSet, update_only: bool) -> String {
    let endpoint = p.endpoint.map(|e| format!("endpoint={e}\n")).unwrap_or_default();
    let only = if update_only { "update_only=true\n" } else { "" };
    format!("set=1\npublic_key={}\n{only}{endpoint}persistent_keepalive_interval={}\n\n", hex(&p.key), p.keepalive_s)
}

/// The text that renews a peer: `remove=true`, then the same public key again with every
/// setting of `p` — what `wg set IFACE peer KEY remove` and `wg set IFACE peer KEY …` send,
/// in one `set=1` transaction, which a userspace implementation applies line by line under
/// its configuration lock, so no other request sees the peer missing.
pub fn renew_text(p: &PeerConfig) -> String {
    use std::fmt::Write;
    let key = hex(&p.key);
    let mut t = format!("set=1\npublic_key={key}\nremove=true\npublic_key={key}\n");
    // Writing into a String cannot fail.
    if let Some(Psk(k)) = &p.preshared_key {
        let _ = writeln!(t, "preshared_key={}", hex(k));
    }
    if let Some(e) = p.endpoint {
        let _ = writeln!(t, "endpoint={e}");
    }
    let _ = writeln!(t, "persistent_keepalive_interval={}\nreplace_allowed_ips=true", p.keepalive_s);
    for (ip, len) in &p.allowed_ips {
        let _ = writeln!(t, "allowed_ip={ip}/{len}");
    }
    t.push('\n');
    t
}

/// Reads the answer to `get=1` line by line, feeding each peer, once whole, to a
/// [`Collector`].
pub struct GetParser<'c> {
    peers: &'c mut Collector,
    current: Option<Peer>,
    secs: u64,
    nsecs: u32,
    errno: Option<i32>,
}

impl<'c> GetParser<'c> {
    pub fn new(peers: &'c mut Collector) -> GetParser<'c> {
        GetParser { peers, current: None, secs: 0, nsecs: 0, errno: None }
    }

    /// One line, without its newline.
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        let (k, v) = line.split_once('=').ok_or_else(|| format!("malformed line `{line}`"))?;
        let bad = || format!("invalid {k} `{v}`");
        match (k, self.current.as_mut()) {
            ("public_key", _) => {
                let key = unhex(v).ok_or_else(bad)?;
                self.flush();
                self.current = Some(Peer {
                    public_key: key,
                    preshared_key: None,
                    endpoint: None,
                    keepalive_s: 0,
                    allowed_ips: Vec::new(),
                    last_handshake: None,
                    rx_bytes: 0,
                    tx_bytes: 0,
                });
            }
            ("errno", _) => self.errno = Some(v.parse::<i32>().map_err(|_| bad())?),
            // All zeros is none.
            ("preshared_key", Some(p)) => {
                p.preshared_key = Some(unhex(v).ok_or_else(bad)?).filter(|k| *k != [0; 32]).map(Psk)
            }
            ("endpoint", Some(p)) => p.endpoint = Some(v.parse().map_err(|_| bad())?),
            ("persistent_keepalive_interval", Some(p)) => p.keepalive_s = v.parse().map_err(|_| bad())?,
            ("allowed_ip", Some(p)) => {
                let (a, l) = v.split_once('/').ok_or_else(bad)?;
                p.allowed_ips.push((a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?));
            }
            ("rx_bytes", Some(p)) => p.rx_bytes = v.parse().map_err(|_| bad())?,
            ("tx_bytes", Some(p)) => p.tx_bytes = v.parse().map_err(|_| bad())?,
            ("last_handshake_time_sec", Some(_)) => self.secs = v.parse().map_err(|_| bad())?,
            // Duration::new would carry a nanosecond count of a second or more into the
            // seconds (and overflow): such a value is not a time.
            ("last_handshake_time_nsec", Some(_)) => {
                self.nsecs = v.parse().ok().filter(|n| *n < 1_000_000_000).ok_or_else(bad)?
            }
            // Device keys (private_key, listen_port, fwmark) and counters.
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self) {
        if let Some(mut p) = self.current.take() {
            if self.secs > 0 || self.nsecs > 0 {
                p.last_handshake = Some(Duration::new(self.secs, self.nsecs));
            }
            self.peers.part(p);
        }
        (self.secs, self.nsecs) = (0, 0);
    }

    /// After the blank line: the implementation's verdict.
    pub fn finish(mut self) -> Result<(), String> {
        self.flush();
        match self.errno {
            Some(0) => Ok(()),
            Some(e) => Err(format!("the implementation answered errno={e}")),
            None => Err("the answer has no errno line".into()),
        }
    }
}

/// Parses a whole answer to `get=1` (up to its blank line), keeping every peer.
pub fn parse_get(text: &str) -> Result<Peers, String> {
    let mut c = Collector::new(None);
    let mut p = GetParser::new(&mut c);
    for line in text.lines().take_while(|l| !l.is_empty()) {
        p.line(line)?;
    }
    p.finish()?;
    Ok(c.finish())
}

/// The most an answer may hold: a peer is some 350 bytes, so this is 300,000 peers.
const MAX_ANSWER: usize = 128 << 20;
/// The longest line: a key is 64 hex digits, an endpoint or an allowed IP fewer.
const MAX_LINE: usize = 256;

/// Reads an answer line by line up to its blank line, feeding each line (without its
/// newline) to `each`; refuses more than `limit` bytes, a line longer than MAX_LINE, an
/// answer cut short, and, through `before_read`, one that trickles in for longer than
/// the caller allows. Only the line being read is held.
fn read_lines<R: Read>(
    r: &mut R,
    limit: usize,
    mut before_read: impl FnMut(&mut R) -> io::Result<()>,
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::with_capacity(MAX_LINE);
    let mut total = 0usize;
    loop {
        before_read(r)?;
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the answer ended before its blank line"));
        }
        total += n;
        if total > limit {
            return Err(io::Error::other(format!("answer longer than {limit} bytes")));
        }
        for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
            let whole = chunk.last() == Some(&b'\n');
            line.extend_from_slice(chunk.strip_suffix(b"\n").unwrap_or(chunk));
            if line.len() > MAX_LINE {
                return Err(io::Error::other(format!("a line longer than {MAX_LINE} bytes")));
            }
            if !whole {
                continue;
            }
            if line.is_empty() {
                return Ok(());
            }
            let text = std::str::from_utf8(&line).map_err(|_| io::Error::other("the answer is not text"))?;
            each(text).map_err(io::Error::other)?;
            line.clear();
        }
    }
}

/// Sends one request and feeds the answer's lines to `each`, all within `IO_TIMEOUT`.
/// `each` is `dyn`: one copy of this function for its two callers.
fn exchange(
    iface: &str,
    request: &str,
    limit: usize,
    each: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<(), WgError> {
    let path = uapi_socket(iface);
    let io = |e: io::Error| WgError(format!("{}: {e}", path.display()));
    let deadline = Instant::now() + IO_TIMEOUT;
    // The socket sets and reads the tunnel's peers: it must be root's, in a directory
    // only root can change, and served by a process of root's.
    if let Some(why) = crate::trust::socket_problem(&path) {
        return Err(WgError(format!("{}: not trusted: {why}", path.display())));
    }
    let mut s = UnixStream::connect(&path).map_err(io)?;
    match crate::trust::peer_uid(&s) {
        Ok(0) => {}
        Ok(uid) => return Err(WgError(format!("{}: served by uid {uid}, not root: not trusted", path.display()))),
        Err(e) => return Err(io(e)),
    }
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    s.write_all(request.as_bytes()).map_err(io)?;
    let before_read = |s: &mut UnixStream| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no complete answer in time"));
        }
        s.set_read_timeout(Some(left))
    };
    read_lines(&mut s, limit, before_read, each).map_err(io)
}

/// Feeds the device's peers to `c` as the answer streams in.
pub fn peers(iface: &str, c: &mut Collector) -> Result<(), WgError> {
    let mut p = GetParser::new(c);
    exchange(iface, "get=1\n\n", MAX_ANSWER, &mut |l| p.line(l))?;
    p.finish().map_err(|e| WgError(format!("{}: {e}", uapi_socket(iface).display())))
}

/// The `errno=N` of a set request's answer.
fn set(iface: &str, text: &str) -> Result<String, WgError> {
    let mut errno = String::new();
    exchange(iface, text, 4096, &mut |l| {
        if let Some(v) = l.strip_prefix("errno=") {
            errno = v.to_string();
        }
        Ok(())
    })?;
    Ok(errno)
}

/// Sets the peer, never creating it; an implementation that does not know
/// `update_only` refuses the request, and is asked again without it.
pub fn set_peer(iface: &str, p: &PeerSet) -> Result<(), WgError> {
    let mut errno = set(iface, &set_text(p, true))?;
    if errno != "0" {
        errno = set(iface, &set_text(p, false))?;
    }
    match errno.as_str() {
        "0" => Ok(()),
        other => Err(WgError(format!("{}: set failed: errno={other}", uapi_socket(iface).display()))),
    }
}

/// Renews the peer (see [`renew_text`]).
pub fn renew_peer(iface: &str, p: &PeerConfig) -> Result<(), WgError> {
    match set(iface, &renew_text(p))?.as_str() {
        "0" => Ok(()),
        other => Err(WgError(format!("{}: renewing the peer failed: errno={other}", uapi_socket(iface).display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(input: &[u8], limit: usize) -> io::Result<Vec<String>> {
        let mut got = Vec::new();
        read_lines(
            &mut io::Cursor::new(input.to_vec()),
            limit,
            |_| Ok(()),
            |l| {
                got.push(l.to_string());
                Ok(())
            },
        )
        .map(|()| got)
    }

    #[test]
    fn an_answer_is_read_line_by_line_up_to_its_blank_line_and_no_further() {
        assert_eq!(lines_of(b"a=1\nerrno=0\n\nnot=read\n", 100).expect("read"), ["a=1", "errno=0"]);
        assert_eq!(lines_of(b"errno=0\n", 100).expect_err("cut short").kind(), io::ErrorKind::UnexpectedEof);
        assert!(lines_of(b"\xff=1\n\n", 100).expect_err("binary").to_string().contains("not text"));
        let long = [b'a'; 300];
        assert!(lines_of(&long, 10_000).expect_err("long line").to_string().contains("longer than 256"));
        // The deadline is asked before each read; a parse error stops the reading.
        let e = read_lines(
            &mut io::Cursor::new(b"errno=0\n".to_vec()),
            100,
            |_| Err(io::ErrorKind::TimedOut.into()),
            |_| Ok(()),
        );
        assert_eq!(e.expect_err("late").kind(), io::ErrorKind::TimedOut);
        let e = read_lines(&mut io::Cursor::new(b"x\n\n".to_vec()), 100, |_| Ok(()), |l| Err(format!("bad {l}")));
        assert_eq!(e.expect_err("bad line").to_string(), "bad x");
    }

    #[test]
    fn an_endless_answer_is_refused_at_the_limit() {
        let many: Vec<u8> = b"k=v\n".repeat(100_000);
        let mut n = 0usize;
        let e = read_lines(
            &mut io::Cursor::new(many),
            100_000,
            |_| Ok(()),
            |_| {
                n += 1;
                Ok(())
            },
        );
        assert!(e.expect_err("endless").to_string().contains("longer than 100000 bytes"));
        assert!(n <= 25_000, "{n} lines read past the limit");
        let e = read_lines(&mut io::repeat(b'a'), 1 << 20, |_| Ok(()), |_| Ok(()));
        assert!(e.expect_err("one endless line").to_string().contains("a line longer than"));
    }

    /// A `get=1` answer in wireguard-go's format for a device with two peers, one of
    /// which never completed a handshake.
    const GET: &str = "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\nlisten_port=51820\npublic_key=b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33\npreshared_key=0000000000000000000000000000000000000000000000000000000000000000\nprotocol_version=1\nendpoint=198.51.100.10:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=250000000\ntx_bytes=1540\nrx_bytes=1212\npersistent_keepalive_interval=25\nallowed_ip=0.0.0.0/0\npublic_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nallowed_ip=10.200.0.0/16\nallowed_ip=fd00::/64\nerrno=0\n\n";

    #[test]
    fn parses_peers_handshakes_and_never() {
        let peers = parse_get(GET).expect("valid answer").kept;
        assert_eq!(peers.len(), 2);
        let vps = &peers[0];
        assert_eq!(vps.public_key[..2], [0xb8, 0x59]);
        assert_eq!(vps.endpoint, Some("198.51.100.10:51820".parse().expect("addr")));
        assert_eq!(vps.keepalive_s, 25);
        assert_eq!(vps.allowed_ips, vec![("0.0.0.0".parse().expect("ip"), 0)]);
        assert_eq!(vps.last_handshake, Some(Duration::new(1_700_000_000, 250_000_000)));
        assert_eq!((vps.rx_bytes, vps.tx_bytes), (1212, 1540));
        let other = &peers[1];
        assert_eq!(other.last_handshake, None, "time 0 means never");
        assert_eq!(other.endpoint, None);
        assert_eq!(other.allowed_ips.len(), 2);
    }

    #[test]
    fn errors_are_reported() {
        assert_eq!(parse_get("errno=19\n\n").err().as_deref(), Some("the implementation answered errno=19"));
        assert_eq!(parse_get("listen_port=1\n\n").err().as_deref(), Some("the answer has no errno line"));
        assert_eq!(parse_get("public_key=zz\nerrno=0\n\n").err().as_deref(), Some("invalid public_key `zz`"));
        assert_eq!(parse_get("garbage\n").err().as_deref(), Some("malformed line `garbage`"));
    }

    #[test]
    fn a_renewal_puts_back_every_setting_the_device_reported() {
        // The VPS peer with a preshared key and three allowed IPs, one of which does not
        // cover WG_PEER_IP, and a handshake and counters (which are not settings).
        let key = "c53201039adba14be71f886da1d8dbe9eebded08cb111b75340078999aa9f038";
        let psk = "18c7bd5c2b375a96758c665c021755fb76c6527fd63f906e45c996dfff9b291b";
        let get = format!(
            "private_key={}\nlisten_port=51820\npublic_key={key}\npreshared_key={psk}\nprotocol_version=1\nendpoint=198.51.100.10:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=0\ntx_bytes=92\nrx_bytes=92\npersistent_keepalive_interval=25\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\nallowed_ip=10.99.0.0/16\nerrno=0\n\n",
            "11".repeat(32)
        );
        let wanted = unhex(key).expect("hex key");
        let mut c = Collector::new(Some(crate::wireguard::Wanted {
            peer_ip: "10.11.0.1".parse().expect("ip"),
            endpoint: "198.51.100.10".parse().expect("ip"),
            key: Some(wanted),
        }));
        let mut p = GetParser::new(&mut c);
        get.lines().take_while(|l| !l.is_empty()).try_for_each(|l| p.line(l)).expect("parses");
        p.finish().expect("errno=0");
        let config = c.finish().with_key(&wanted).expect("the VPS peer").config();
        // What wireguard-tools v1.0.20210914 sends (captured at a UAPI socket) for
        //   wg set wg0 peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= remove
        //   wg set wg0 peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= preshared-key PSK \
        //     endpoint 198.51.100.10:51820 persistent-keepalive 25 allowed-ips 0.0.0.0/0,::/0,10.99.0.0/16
        // in one `set=1`.
        assert_eq!(
            renew_text(&config),
            format!(
                "set=1\npublic_key={key}\nremove=true\npublic_key={key}\npreshared_key={psk}\nendpoint=198.51.100.10:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\nallowed_ip=10.99.0.0/16\n\n"
            )
        );
        // No preshared key (all zeros), no endpoint, no keepalive: none is named.
        let bare = PeerConfig { preshared_key: None, endpoint: None, keepalive_s: 0, ..config.clone() };
        assert_eq!(
            renew_text(&bare),
            format!("set=1\npublic_key={key}\nremove=true\npublic_key={key}\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\nallowed_ip=10.99.0.0/16\n\n")
        );
        let zeros = parse_get(&format!("public_key={key}\npreshared_key={}\nerrno=0\n\n", "0".repeat(64)));
        assert_eq!(zeros.expect("parses").kept[0].preshared_key, None);
        // The secret is never printed.
        assert!(!format!("{config:?} {config}").contains("18c7bd5c") && format!("{config}").contains("preshared-key"));
        // Read as a device would report it (the removal, naming the key alone, reads as the
        // first part of a split peer), the peer added back is the one read.
        let back = renew_text(&config).replace("set=1\n", "").replace("\n\n", "\nerrno=0\n\n");
        let peers = parse_get(&back).expect("parses").kept;
        assert_eq!(peers.len(), 1);
        assert!(peers[0].config().same_as(&config), "{:?}", peers[0]);
    }

    #[test]
    fn set_text_is_what_wg_set_sends() {
        let key = unhex("b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33").expect("hex key");
        assert_eq!(
            set_text(&PeerSet { key, endpoint: Some("198.51.100.10:51820".parse().expect("addr")), keepalive_s: 25 }, false),
            "set=1\npublic_key=b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33\nendpoint=198.51.100.10:51820\npersistent_keepalive_interval=25\n\n"
        );
        assert_eq!(
            set_text(&PeerSet { key, endpoint: None, keepalive_s: 0 }, true),
            "set=1\npublic_key=b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33\nupdate_only=true\npersistent_keepalive_interval=0\n\n"
        );
        assert_eq!(hex(&key), "b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33");
    }
}
