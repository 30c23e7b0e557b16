//! A userspace WireGuard's UAPI socket (`/var/run/wireguard/<iface>.sock`, as
//! wireguard-go and boringtun create it): `get=1` returns `key=value` lines ending with
//! `errno=N` and a blank line; `set=1` takes the same keys. Keys are hex there.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{uapi_socket, Key, Peer, PeerSet, WgError};

/// How long a userspace implementation may take to answer.
const IO_TIMEOUT: Duration = Duration::from_secs(3);

fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
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

/// Parses the answer to `get=1`.
pub fn parse_get(text: &str) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    let (mut secs, mut nsecs) = (0u64, 0u32);
    let mut errno = None;
    let finish_handshake = |p: Option<&mut Peer>, secs: &mut u64, nsecs: &mut u32| {
        if let Some(p) = p {
            if *secs > 0 || *nsecs > 0 {
                p.last_handshake = Some(Duration::new(*secs, *nsecs));
            }
        }
        (*secs, *nsecs) = (0, 0);
    };
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| format!("malformed line `{line}`"))?;
        let bad = || format!("invalid {k} `{v}`");
        match (k, peers.last_mut()) {
            ("public_key", _) => {
                finish_handshake(peers.last_mut(), &mut secs, &mut nsecs);
                let key = unhex(v).ok_or_else(bad)?;
                peers.push(Peer {
                    public_key: key,
                    endpoint: None,
                    keepalive_s: 0,
                    allowed_ips: Vec::new(),
                    last_handshake: None,
                });
            }
            ("errno", _) => errno = Some(v.parse::<i32>().map_err(|_| bad())?),
            ("endpoint", Some(p)) => p.endpoint = Some(v.parse().map_err(|_| bad())?),
            ("persistent_keepalive_interval", Some(p)) => p.keepalive_s = v.parse().map_err(|_| bad())?,
            ("allowed_ip", Some(p)) => {
                let (a, l) = v.split_once('/').ok_or_else(bad)?;
                p.allowed_ips.push((a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?));
            }
            ("last_handshake_time_sec", Some(_)) => secs = v.parse().map_err(|_| bad())?,
            // Duration::new would carry a nanosecond count of a second or more into the
            // seconds (and overflow): such a value is not a time.
            ("last_handshake_time_nsec", Some(_)) => {
                nsecs = v.parse().ok().filter(|n| *n < 1_000_000_000).ok_or_else(bad)?
            }
            // Device keys (private_key, listen_port, fwmark) and counters.
            _ => {}
        }
    }
    finish_handshake(peers.last_mut(), &mut secs, &mut nsecs);
    match errno {
        Some(0) => Ok(peers),
        Some(e) => Err(format!("the implementation answered errno={e}")),
        None => Err("the answer has no errno line".into()),
    }
}

/// The most an answer may hold: a peer is a few hundred bytes plus some thirty per
/// allowed IP, so this is thousands of peers; beyond it the socket is not WireGuard.
const MAX_ANSWER: usize = 1 << 20;

/// Reads an answer up to its blank line, refusing more than `limit` bytes and, through
/// `before_read`, an answer that trickles in for longer than the caller allows.
fn read_answer<R: Read>(
    r: &mut R,
    limit: usize,
    mut before_read: impl FnMut(&mut R) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(b"\n\n") {
        before_read(r)?;
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if answer.len() + n > limit {
            return Err(std::io::Error::other(format!("answer longer than {limit} bytes")));
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(answer)
}

/// Sends one request and reads the answer up to its blank line, all within
/// `IO_TIMEOUT`.
fn exchange(iface: &str, request: &str) -> Result<String, WgError> {
    let path = uapi_socket(iface);
    let io = |e: std::io::Error| WgError(format!("{}: {e}", path.display()));
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    let mut s = UnixStream::connect(&path).map_err(io)?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    s.write_all(request.as_bytes()).map_err(io)?;
    let answer = read_answer(&mut s, MAX_ANSWER, |s| {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no complete answer in time"));
        }
        s.set_read_timeout(Some(left))
    })
    .map_err(io)?;
    String::from_utf8(answer).map_err(|_| WgError(format!("{}: answer is not text", path.display())))
}

pub fn peers(iface: &str) -> Result<Vec<Peer>, WgError> {
    let text = exchange(iface, "get=1\n\n")?;
    parse_get(&text).map_err(|e| WgError(format!("{}: {e}", uapi_socket(iface).display())))
}

/// Sets the peer, never creating it; an implementation that does not know
/// `update_only` refuses the request, and is asked again without it.
pub fn set_peer(iface: &str, p: &PeerSet) -> Result<(), WgError> {
    let mut text = exchange(iface, &set_text(p, true))?;
    if text.trim() != "errno=0" {
        text = exchange(iface, &set_text(p, false))?;
    }
    match text.trim() {
        "errno=0" => Ok(()),
        other => Err(WgError(format!("{}: set failed: {other}", uapi_socket(iface).display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_answer_is_refused_at_the_limit() {
        let mut endless = std::io::repeat(b'a');
        let e = read_answer(&mut endless, 10_000, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("longer than 10000 bytes"), "{e}");
    }

    #[test]
    fn an_answer_ends_at_its_blank_line_and_the_deadline_is_asked_before_each_read() {
        let mut r = std::io::Cursor::new(b"errno=0\n\n".to_vec());
        let mut asked = 0;
        let a = read_answer(&mut r, 100, |_| {
            asked += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(a, b"errno=0\n\n");
        assert_eq!(asked, 1);
        let mut r = std::io::Cursor::new(b"errno=0\n".to_vec());
        let e = read_answer(&mut r, 100, |_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "late")));
        assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    }

    /// A `get=1` answer in wireguard-go's format for a device with two peers, one of
    /// which never completed a handshake.
    const GET: &str = "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\nlisten_port=51820\npublic_key=b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33\npreshared_key=0000000000000000000000000000000000000000000000000000000000000000\nprotocol_version=1\nendpoint=198.51.100.10:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=250000000\ntx_bytes=1540\nrx_bytes=1212\npersistent_keepalive_interval=25\nallowed_ip=0.0.0.0/0\npublic_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nallowed_ip=10.200.0.0/16\nallowed_ip=fd00::/64\nerrno=0\n\n";

    #[test]
    fn parses_peers_handshakes_and_never() {
        let peers = parse_get(GET).expect("valid answer");
        assert_eq!(peers.len(), 2);
        let vps = &peers[0];
        assert_eq!(vps.public_key[..2], [0xb8, 0x59]);
        assert_eq!(vps.endpoint, Some("198.51.100.10:51820".parse().expect("addr")));
        assert_eq!(vps.keepalive_s, 25);
        assert_eq!(vps.allowed_ips, vec![("0.0.0.0".parse().expect("ip"), 0)]);
        assert_eq!(vps.last_handshake, Some(Duration::new(1_700_000_000, 250_000_000)));
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
