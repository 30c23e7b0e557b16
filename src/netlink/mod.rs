//! Synchronous netlink: one socket type and one request loop for everything the tool asks
//! the kernel (links, addresses, routes, rules, and the WireGuard generic-netlink family).
//!
//! A request is sent with a fresh sequence number; replies are accepted only from the
//! kernel (port 0) and only with that sequence number. A datagram may carry several
//! messages, and a dump may span many datagrams until `NLMSG_DONE`. An error message with
//! no code is the ACK. `EEXIST` and `ENOENT` stay visible to callers as
//! [`NetlinkError::Kernel`] so that each can decide whether "already done" is fine.

pub mod codec;
pub mod ctnetlink;
pub mod events;
pub mod link;
pub mod route;
pub mod rule;

use std::fmt;
use std::io;

use codec::{RouteMessage, RuleMessage};
use netlink_packet_core::{
    DecodeError, Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkSerializable, Parseable,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_sys::{Socket, SocketAddr};

/// The rtnetlink messages this tool sends and reads, and no others: the crate's
/// all-families `RouteNetlinkMessage` would link in the parsers of links, neighbours,
/// traffic control and more, about 400 KiB of a 1 MiB mipsel binary. Links and
/// addresses need three fields each, read by hand in [`link`]; routes and rules are read
/// and written by hand in [`codec`].
#[derive(Clone, Debug)]
pub struct Rtnl {
    /// RTM_* message type.
    pub kind: u16,
    pub body: Body,
}

#[derive(Clone, Debug)]
pub enum Body {
    Link(link::LinkMsg),
    Addr(link::AddrMsg),
    Neigh(link::NeighMsg),
    Route(RouteMessage),
    Rule(RuleMessage),
    /// A message of a type not asked for (skipped).
    Other,
}

impl Rtnl {
    pub fn new(kind: u16, body: Body) -> Rtnl {
        Rtnl { kind, body }
    }
}

impl NetlinkSerializable for Rtnl {
    fn message_type(&self) -> u16 {
        self.kind
    }

    fn buffer_len(&self) -> usize {
        match &self.body {
            Body::Link(l) => l.buffer_len(),
            Body::Addr(a) => a.buffer_len(),
            Body::Neigh(n) => n.buffer_len(),
            Body::Route(r) => r.buffer_len(),
            Body::Rule(r) => r.buffer_len(),
            Body::Other => 0,
        }
    }

    fn serialize(&self, buffer: &mut [u8]) {
        match &self.body {
            Body::Link(l) => l.emit(buffer),
            Body::Addr(a) => a.emit(buffer),
            Body::Neigh(n) => n.emit(buffer),
            Body::Route(r) => r.emit(buffer),
            Body::Rule(r) => r.emit(buffer),
            Body::Other => {}
        }
    }
}

impl NetlinkDeserializable for Rtnl {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let body = match header.message_type {
            // Dump replies are RTM_NEW*; announcements are RTM_NEW* and RTM_DEL*.
            libc::RTM_NEWLINK | libc::RTM_DELLINK => Body::Link(link::LinkMsg::parse(payload)?),
            libc::RTM_NEWADDR | libc::RTM_DELADDR => Body::Addr(link::AddrMsg::parse(payload)?),
            libc::RTM_NEWNEIGH => Body::Neigh(link::NeighMsg::parse(payload)?),
            libc::RTM_NEWROUTE | libc::RTM_DELROUTE => Body::Route(RouteMessage::parse(payload)?),
            libc::RTM_NEWRULE | libc::RTM_DELRULE => Body::Rule(RuleMessage::parse(payload)?),
            _ => Body::Other,
        };
        Ok(Rtnl { kind: header.message_type, body })
    }
}

/// The address family of rtnetlink messages about IPv6 (`true`) or IPv4.
pub fn family(v6: bool) -> codec::AddressFamily {
    if v6 {
        codec::AddressFamily::Inet6
    } else {
        codec::AddressFamily::Inet
    }
}

/// What can go wrong talking to the kernel.
#[derive(Debug)]
pub enum NetlinkError {
    /// The socket itself failed.
    Io(io::Error),
    /// The kernel refused the request with this errno.
    Kernel(i32),
    /// A reply could not be decoded.
    Decode(String),
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetlinkError::Io(e) => write!(f, "netlink socket: {e}"),
            NetlinkError::Kernel(errno) => write!(f, "{}", io::Error::from_raw_os_error(*errno)),
            NetlinkError::Decode(m) => write!(f, "cannot decode netlink reply: {m}"),
        }
    }
}

impl std::error::Error for NetlinkError {}

impl From<io::Error> for NetlinkError {
    fn from(e: io::Error) -> Self {
        NetlinkError::Io(e)
    }
}

/// Receive buffer size: the kernel sizes dump datagrams by what the reader accepted
/// before, up to 32 KiB; a bigger message is reported as truncated rather than misread.
const RECV_BUF_LEN: usize = 32 * 1024;

/// A netlink socket connected to the kernel. Owns the file descriptor, so not `Clone`.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_GENERIC`).
    pub fn open(protocol: isize) -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Start from a value a stale reply of an earlier process cannot carry by accident.
        let seq = std::process::id().wrapping_mul(2_654_435_761);
        Ok(Netlink { socket, seq, buf: Vec::with_capacity(RECV_BUF_LEN) })
    }

    /// Sends `payload` and waits for the kernel's ACK.
    pub fn request<T: NetlinkSerializable>(&mut self, payload: T, flags: u16) -> Result<(), NetlinkError> {
        let mut request = encode(&payload, flags | NLM_F_ACK);
        self.exchange(&mut request, &mut |_, _| Ok(()))
    }

    /// Sends a request and returns the messages the kernel answers before its ACK.
    pub fn query<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable<Error = DecodeError>,
    {
        let mut out = Vec::new();
        let mut request = encode(&payload, NLM_F_ACK);
        self.exchange(&mut request, &mut |header, body| {
            out.push(T::deserialize(header, body)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Sends a dump request and folds each message of the reply into an accumulator as
    /// its datagram arrives, so that only what `each` keeps is ever held: a table of
    /// 300,000 routes costs one receive buffer, not 300,000 parsed routes.
    ///
    /// A dump the kernel marks as interrupted (the table changed while it was read) is
    /// started again from `init()`, up to three times: the same request bytes, sent again
    /// under a new sequence number.
    pub fn dump_fold<T, A>(
        &mut self,
        payload: T,
        init: impl Fn() -> A,
        mut each: impl FnMut(&mut A, T),
    ) -> Result<A, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable<Error = DecodeError>,
    {
        let mut request = encode(&payload, NLM_F_DUMP);
        let mut acc = init();
        self.dump_messages(&mut request, &mut |message| {
            match message {
                None => acc = init(),
                Some((header, body)) => each(&mut acc, T::deserialize(header, body)?),
            }
            Ok(())
        })?;
        Ok(acc)
    }

    /// [`Netlink::dump_fold`]'s exchange, one copy for every message type and caller:
    /// `each` is given every message of the dump, and `None` when the dump was
    /// interrupted and is asked again (what was read until then is to be forgotten).
    fn dump_messages(&mut self, request: &mut [u8], each: &mut ReadDump) -> Result<(), NetlinkError> {
        for attempt in 0..3 {
            if attempt > 0 {
                let _ = each(None); // forgetting what was read cannot fail
            }
            match self.exchange(request, &mut |header, body| each(Some((header, body)))) {
                Err(NetlinkError::Kernel(libc::EINTR)) => continue,
                read => return read,
            }
        }
        Err(NetlinkError::Kernel(libc::EINTR))
    }

    /// Sends `request` (a message made by [`encode`]) under the next sequence number and
    /// feeds the header and body of every reply message to `each` until the ACK (for a
    /// request) or `NLMSG_DONE` (for a dump). One copy for every message type: what reads
    /// a type is in `each`.
    fn exchange(&mut self, request: &mut [u8], each: &mut ReadBody) -> Result<(), NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        request[8..12].copy_from_slice(&seq.to_ne_bytes());
        let mut interrupted = false;
        self.replies(request, &mut |datagram| {
            let mut ending = None;
            frames(datagram, &mut |header, body| {
                if header.sequence_number != seq {
                    return Ok(false); // a reply to an earlier request
                }
                interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
                ending = match header.message_type {
                    NLMSG_ERROR => Some(match error_code(body)? {
                        0 => Ok(()),
                        code => Err(NetlinkError::Kernel(code.wrapping_neg())),
                    }),
                    NLMSG_DONE => {
                        control_body(NLMSG_DONE, body)?;
                        Some(if interrupted { Err(NetlinkError::Kernel(libc::EINTR)) } else { Ok(()) })
                    }
                    NLMSG_NOOP | NLMSG_OVERRUN => None,
                    kind => {
                        each(header, body).map_err(|e| format!("Failed to parse message with type {kind}: {e}"))?;
                        None
                    }
                };
                Ok(ending.is_some())
            })?;
            Ok(ending)
        })
    }

    /// Sends `request` and hands each datagram of the kernel's answer to `read` until it
    /// returns an end (the ACK, `NLMSG_DONE`, an error).
    fn replies(
        &mut self,
        request: &[u8],
        read: &mut dyn FnMut(&[u8]) -> Result<Ending, String>,
    ) -> Result<(), NetlinkError> {
        self.socket.send(request, 0)?;
        loop {
            self.buf.clear();
            let (len, from) = self.socket.recv_from(&mut self.buf, libc::MSG_TRUNC)?;
            if len > self.buf.len() {
                return Err(NetlinkError::Decode(format!(
                    "reply of {len} bytes exceeds the {RECV_BUF_LEN}-byte buffer"
                )));
            }
            if from.port_number() != 0 {
                continue; // not from the kernel
            }
            match read(&self.buf[..len]) {
                Err(e) => return Err(NetlinkError::Decode(e)),
                Ok(Some(r)) => return r,
                Ok(None) => {}
            }
        }
    }
}

/// [`Netlink::exchange`]'s reader of one reply message: its header and body.
type ReadBody<'a> = dyn FnMut(&NetlinkHeader, &[u8]) -> Result<(), DecodeError> + 'a;

/// [`Netlink::dump_messages`]' reader of a dump's messages (`None`: it starts again).
type ReadDump<'a> = dyn FnMut(Option<(&NetlinkHeader, &[u8])>) -> Result<(), DecodeError> + 'a;

/// [`frames`]' reader of one message: its header and body; `true` ends the walk.
pub type ReadFrame<'a> = dyn FnMut(&NetlinkHeader, &[u8]) -> Result<bool, String> + 'a;

/// What one datagram of an answer says of the request: `None` while it goes on, else
/// how it ended.
type Ending = Option<Result<(), NetlinkError>>;

/// The bytes of a request: a netlink header (its length, `payload`'s type, NLM_F_REQUEST
/// and `flags`; the sequence number is set as it is sent) and `payload`.
fn encode<T: NetlinkSerializable>(payload: &T, flags: u16) -> Vec<u8> {
    let mut out = vec![0u8; NETLINK_HEADER_LEN + payload.buffer_len()];
    payload.serialize(&mut out[NETLINK_HEADER_LEN..]);
    header(&mut out, payload.message_type(), flags);
    out
}

/// Writes the header of the request `out` (zeroed): [`encode`]'s part that does not
/// depend on the message type.
fn header(out: &mut [u8], kind: u16, flags: u16) {
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_ne_bytes());
    out[4..6].copy_from_slice(&kind.to_ne_bytes());
    out[6..8].copy_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
}

/// The (negative) errno of an `NLMSG_ERROR` message's body; 0 is the ACK.
fn error_code(body: &[u8]) -> Result<i32, String> {
    match body.first_chunk::<4>() {
        Some(code) => Ok(i32::from_ne_bytes(*code)),
        None => Err(format!("an NLMSG_ERROR of {} bytes has no error code", body.len())),
    }
}

/// A control message's body as the crate's reader checked it before (4e9625c): an
/// `NLMSG_ERROR` holds its code, an `NLMSG_DONE` nothing (the kernel's short form) or at
/// least its code; anything shorter breaks the datagram's framing.
pub(crate) fn control_body(kind: u16, body: &[u8]) -> Result<(), String> {
    match kind {
        NLMSG_ERROR => error_code(body).map(drop),
        NLMSG_DONE if matches!(body.len(), 1..=3) => Err(format!("an NLMSG_DONE of {} bytes has no code", body.len())),
        _ => Ok(()),
    }
}

/// Feeds the messages of one datagram, in order, to `each` until it returns `Some`,
/// which is returned; a message that cannot be read ends the walk with an error that
/// says where (the rest of that datagram cannot be trusted to be framed). For the fuzz
/// targets and tests, which read the crate's `NetlinkMessage`; the tool itself reads
/// through [`frames`].
pub fn walk<T, R>(datagram: &[u8], mut each: impl FnMut(NetlinkMessage<T>) -> Option<R>) -> Result<Option<R>, String>
where
    T: NetlinkDeserializable,
{
    let mut found = None;
    frames(datagram, &mut |header, body| {
        let message = &datagram_message(header, body);
        let m = NetlinkMessage::<T>::deserialize(message).map_err(|e| e.to_string())?;
        found = each(m);
        Ok(found.is_some())
    })?;
    Ok(found)
}

/// A message as its bytes again (header and body), for [`walk`].
fn datagram_message(header: &NetlinkHeader, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; NETLINK_HEADER_LEN];
    header.emit(&mut out);
    out.extend_from_slice(body);
    out
}

/// The messages of one datagram, in order: `read` is given each one's header and body
/// (the bytes its length covers after the header) and says whether the walk ends there.
/// A message whose header or length does not fit ends the walk with an error that says
/// where (the rest of that datagram cannot be trusted to be framed), as does an error of
/// `read`.
pub fn frames(datagram: &[u8], read: &mut ReadFrame) -> Result<(), String> {
    let mut offset = 0;
    while offset < datagram.len() {
        let at = |e| format!("message at byte {offset} of {}: {e}", datagram.len());
        let rest = &datagram[offset..];
        let header = parse_header(rest).map_err(at)?;
        let len = header.length as usize;
        if read(&header, &rest[NETLINK_HEADER_LEN..len]).map_err(at)? {
            return Ok(());
        }
        offset = offset.saturating_add((len + 3) & !3);
    }
    Ok(())
}

/// The header at the start of `bytes`, if its length is at least a header's and within
/// `bytes`.
fn parse_header(bytes: &[u8]) -> Result<NetlinkHeader, String> {
    let Some(h) = bytes.first_chunk::<NETLINK_HEADER_LEN>() else {
        return Err(format!("{} bytes are shorter than a header", bytes.len()));
    };
    let u16_at = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let len = u32_at(0) as usize;
    if len < NETLINK_HEADER_LEN || len > bytes.len() {
        return Err(format!("the header claims {len} bytes of {}", bytes.len()));
    }
    let mut header = NetlinkHeader::default();
    header.length = u32_at(0);
    header.message_type = u16_at(4);
    header.flags = u16_at(6);
    header.sequence_number = u32_at(8);
    header.port_number = u32_at(12);
    Ok(header)
}

/// struct nlmsghdr.
const NETLINK_HEADER_LEN: usize = 16;

/// Treats "already exists" as success, for requests that must be idempotent.
pub fn ok_if_exists(r: Result<(), NetlinkError>) -> Result<(), NetlinkError> {
    match r {
        Err(NetlinkError::Kernel(libc::EEXIST)) => Ok(()),
        other => other,
    }
}

/// Treats "no such object" as success, for deletions that must be idempotent.
pub fn ok_if_missing(r: Result<(), NetlinkError>) -> Result<(), NetlinkError> {
    match r {
        Err(NetlinkError::Kernel(libc::ENOENT | libc::ESRCH)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod golden;

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkPayload;

    fn datagram(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 0..n {
            let mut header = NetlinkHeader::default();
            header.sequence_number = seq as u32;
            let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(route::dump_request(false)));
            m.finalize();
            let mut b = vec![0u8; m.buffer_len()];
            m.serialize(&mut b);
            out.extend_from_slice(&b);
        }
        out
    }

    #[test]
    fn golden_dump_requests() {
        // `ip -4 route show table all`, `ip -4 rule show` and their `ip -6` forms ask with
        // an rtmsg or a fib_rule_hdr (both 12 bytes) of family AF_INET (2) or AF_INET6
        // (10), all else 0.
        for (v6, family) in [(false, 2u8), (true, 10)] {
            for (m, kind) in
                [(route::dump_request(v6), libc::RTM_GETROUTE), (rule::dump_request(v6), libc::RTM_GETRULE)]
            {
                assert_eq!(
                    (m.message_type(), golden::serialized(&m).as_slice()),
                    (kind, &[family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..])
                );
            }
        }
    }

    #[test]
    fn a_request_is_framed_as_the_crate_frames_it() {
        let mut request = encode(&rule::dump_request(true), NLM_F_DUMP);
        request[8..12].copy_from_slice(&7u32.to_ne_bytes());
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = 7;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(rule::dump_request(true)));
        m.finalize();
        let mut want = vec![0u8; m.buffer_len()];
        m.serialize(&mut want);
        assert_eq!(request, want);
    }

    /// What the crate's reader refused before 4e9625c: an NLMSG_DONE of 1 to 3 bytes (none
    /// is the kernel's short form), an NLMSG_ERROR without its code.
    #[test]
    fn a_control_message_short_of_its_code_is_refused() {
        for len in 0..8 {
            let body = vec![0u8; len];
            assert_eq!(control_body(NLMSG_DONE, &body).is_ok(), !(1..=3).contains(&len), "DONE of {len}");
            assert_eq!(control_body(NLMSG_ERROR, &body).is_ok(), len >= 4, "ERROR of {len}");
            assert_eq!(control_body(NLMSG_NOOP, &body), Ok(()));
            assert_eq!(control_body(NLMSG_OVERRUN, &body), Ok(()));
        }
    }

    #[test]
    fn an_error_message_without_its_code_is_refused() {
        assert_eq!(error_code(&(-17i32).to_ne_bytes()), Ok(-17));
        assert_eq!(error_code(&[0, 0, 0, 0, 9]), Ok(0));
        assert_eq!(error_code(&[0, 0]), Err("an NLMSG_ERROR of 2 bytes has no error code".to_string()));
    }

    #[test]
    fn a_datagram_is_walked_message_by_message_and_a_broken_one_ends_it() {
        let d = datagram(3);
        let mut seen = Vec::new();
        let stop = walk(&d, |m: NetlinkMessage<Rtnl>| {
            seen.push(m.header.sequence_number);
            (m.header.sequence_number == 1).then_some("second")
        });
        assert_eq!((stop, seen), (Ok(Some("second")), vec![0, 1]));

        let mut n = 0;
        let cut = walk(&d[..d.len() - 3], |_: NetlinkMessage<Rtnl>| {
            n += 1;
            None::<()>
        });
        assert_eq!(n, 2, "the two whole messages still count");
        assert!(cut.expect_err("cut short").contains(&format!("at byte {}", 2 * d.len() / 3)));

        // A header claiming fewer bytes than itself would walk in place for ever.
        let mut tiny = datagram(1);
        tiny[..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(walk(&tiny, |_: NetlinkMessage<Rtnl>| None::<()>).is_err());
        assert_eq!(walk(&[], |_: NetlinkMessage<Rtnl>| Some(())), Ok(None));
    }
}
