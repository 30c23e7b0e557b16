//! Reading the answer to an A query (`super::query`) for a name endpoint: the addresses
//! of the name, through any chain of CNAME records, with the smallest TTL on the way.
//!
//! Everything read comes from the network: every offset is bounded by the packet,
//! compression pointers are followed a bounded number of times, a chain is followed a
//! bounded number of hops, and nothing here panics.

use std::net::Ipv4Addr;

/// Compression pointers followed in one name (a loop of pointers ends here).
const POINTERS_MAX: usize = 16;
/// CNAME records followed from the name asked to its addresses.
const CHAIN_MAX: usize = 8;
/// Answer records read (a resolver sends a few).
const RECORDS_MAX: usize = 64;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const CLASS_IN: u16 = 1;

/// What a packet says of the A query `id` for a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Not the reply to this query (another id, not a response, another question):
    /// keep waiting.
    Foreign,
    /// The name's addresses (at least one), and how long they may be kept.
    Found { addrs: Vec<Ipv4Addr>, ttl_s: u32 },
    /// The resolver's answer, which says why there is no address.
    Failed(String),
}

/// Reads `packet` as the reply to the A query `id` for `name` (compared without case).
pub fn lookup_of(id: u16, name: &str, packet: &[u8]) -> Lookup {
    let Some(header) = packet.get(..12) else { return Lookup::Foreign };
    let word = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    if word(0) != id || header[2] & 0x80 == 0 || word(4) != 1 {
        return Lookup::Foreign;
    }
    // The question must be ours, or a reply to another query that reused the id counts.
    let asked = name.trim_end_matches('.').to_ascii_lowercase();
    let Some((qname, at)) = read_name(packet, 12) else { return Lookup::Foreign };
    if qname != asked || packet.get(at..at + 4) != Some(&[0, 1, 0, 1][..]) {
        return Lookup::Foreign;
    }
    if header[2] & 0x02 != 0 {
        return Lookup::Failed("the reply was truncated".into());
    }
    match header[3] & 0x0f {
        0 => {}
        3 => return Lookup::Failed(format!("{asked} does not exist (NXDOMAIN)")),
        rcode => return Lookup::Failed(format!("the resolver answered with RCODE {rcode}")),
    }
    let Some(records) = answers(packet, at + 4, usize::from(word(6))) else {
        return Lookup::Failed("the reply is malformed".into());
    };
    follow(&asked, &records)
}

/// One answer record: its owner, and an address or the name it is an alias of.
enum Data {
    A(Ipv4Addr),
    Alias(String),
}

/// The first `count` answer records after offset `at`; `None` when the packet ends
/// inside one. Records of other types and classes are skipped.
fn answers(packet: &[u8], mut at: usize, count: usize) -> Option<Vec<(String, Data, u32)>> {
    let mut out = Vec::new();
    for _ in 0..count.min(RECORDS_MAX) {
        let (owner, next) = read_name(packet, at)?;
        let fixed = packet.get(next..next + 10)?;
        let (kind, class) = (u16::from_be_bytes([fixed[0], fixed[1]]), u16::from_be_bytes([fixed[2], fixed[3]]));
        let ttl_s = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data_at = next + 10;
        let data = packet.get(data_at..data_at + len)?;
        match (kind, class, data) {
            (TYPE_A, CLASS_IN, &[a, b, c, d]) => out.push((owner, Data::A(Ipv4Addr::new(a, b, c, d)), ttl_s)),
            (TYPE_CNAME, CLASS_IN, _) => {
                let (target, end) = read_name(packet, data_at)?;
                if end != data_at + len {
                    return None;
                }
                out.push((owner, Data::Alias(target), ttl_s));
            }
            _ => {}
        }
        at = data_at + len;
    }
    Some(out)
}

/// The addresses of `asked`, following its aliases; the TTL is the smallest on the way.
fn follow(asked: &str, records: &[(String, Data, u32)]) -> Lookup {
    let mut current = asked.to_string();
    let mut ttl_s = u32::MAX;
    for _ in 0..=CHAIN_MAX {
        let addrs: Vec<(Ipv4Addr, u32)> = records
            .iter()
            .filter(|(owner, _, _)| *owner == current)
            .filter_map(|(_, d, t)| match d {
                Data::A(ip) => Some((*ip, *t)),
                Data::Alias(_) => None,
            })
            .collect();
        if !addrs.is_empty() {
            let ttl_s = addrs.iter().map(|(_, t)| *t).fold(ttl_s, u32::min);
            return Lookup::Found { addrs: addrs.into_iter().map(|(ip, _)| ip).collect(), ttl_s };
        }
        let alias = records.iter().find_map(|(owner, d, t)| match d {
            Data::Alias(target) if *owner == current => Some((target, *t)),
            _ => None,
        });
        let Some((target, t)) = alias else {
            return Lookup::Failed(format!("no address (A record) for {current}"));
        };
        ttl_s = ttl_s.min(t);
        current = target.clone();
    }
    Lookup::Failed(format!("more than {CHAIN_MAX} aliases (CNAME) from {asked}"))
}

/// The name at `at`, lower-case and without the final dot, and the offset after it (after
/// the first pointer, when it is compressed). `None` when malformed: past the end, a
/// label over 63 bytes, a name over 255, too many pointers, or a reserved label type.
fn read_name(packet: &[u8], at: usize) -> Option<(String, usize)> {
    let (mut name, mut pos, mut after, mut pointers) = (String::new(), at, None, 0);
    loop {
        let len = *packet.get(pos)?;
        match len >> 6 {
            0 if len == 0 => return Some((name, after.unwrap_or(pos + 1))),
            0 => {
                let label = packet.get(pos + 1..pos + 1 + usize::from(len))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                if name.len() > 255 {
                    return None;
                }
                pos += 1 + usize::from(len);
            }
            3 => {
                pointers += 1;
                if pointers > POINTERS_MAX {
                    return None;
                }
                let low = *packet.get(pos + 1)?;
                after.get_or_insert(pos + 2);
                pos = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::query;
    use super::*;

    /// The reply to `query(id, name)`: the question echoed, then `records` (already
    /// encoded), with their count.
    fn reply(id: u16, name: &str, flags: [u8; 2], records: &[Vec<u8>]) -> Vec<u8> {
        let mut p = query(id, name);
        p[2..4].copy_from_slice(&flags);
        p[7] = records.len() as u8;
        for r in records {
            p.extend_from_slice(r);
        }
        p
    }

    /// A record owned by the name at offset 12 (the question's, compressed) when
    /// `owner` is empty, else by `owner` written out.
    fn record(owner: &str, kind: u16, ttl_s: u32, data: &[u8]) -> Vec<u8> {
        let mut r = if owner.is_empty() { vec![0xc0, 12] } else { wire(owner) };
        r.extend_from_slice(&kind.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&ttl_s.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(data);
        r
    }

    fn wire(name: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for l in name.split('.') {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    }

    const OK: [u8; 2] = [0x81, 0x80];

    #[test]
    fn an_address_with_its_ttl() {
        let p = reply(7, "vps.example.net", OK, &[record("", TYPE_A, 300, &[198, 51, 100, 10])]);
        assert_eq!(
            lookup_of(7, "VPS.example.net.", &p),
            Lookup::Found { addrs: vec![[198, 51, 100, 10].into()], ttl_s: 300 }
        );
        assert_eq!(lookup_of(8, "vps.example.net", &p), Lookup::Foreign, "another id");
        assert_eq!(lookup_of(7, "other.example.net", &p), Lookup::Foreign, "another question");
        assert_eq!(lookup_of(7, "vps.example.net", &query(7, "vps.example.net")), Lookup::Foreign, "a query");
    }

    #[test]
    fn a_cname_chain_is_followed_in_any_order_with_its_smallest_ttl() {
        let p = reply(
            1,
            "vps.example.net",
            OK,
            &[
                record("edge.cdn.example", TYPE_A, 600, &[203, 0, 113, 7]),
                record("", TYPE_CNAME, 60, &wire("home.dyn.example")),
                record("home.dyn.example", TYPE_CNAME, 900, &wire("edge.cdn.example")),
                record("unrelated.example", TYPE_A, 5, &[10, 0, 0, 1]),
            ],
        );
        assert_eq!(
            lookup_of(1, "vps.example.net", &p),
            Lookup::Found { addrs: vec![[203, 0, 113, 7].into()], ttl_s: 60 }
        );
        // A chain that ends nowhere, and one that loops.
        let dangling = reply(1, "vps.example.net", OK, &[record("", TYPE_CNAME, 60, &wire("gone.example"))]);
        assert_eq!(
            lookup_of(1, "vps.example.net", &dangling),
            Lookup::Failed("no address (A record) for gone.example".into())
        );
        let looping = reply(
            1,
            "vps.example.net",
            OK,
            &[
                record("", TYPE_CNAME, 60, &wire("a.example")),
                record("a.example", TYPE_CNAME, 60, &wire("vps.example.net")),
            ],
        );
        assert!(
            matches!(lookup_of(1, "vps.example.net", &looping), Lookup::Failed(m) if m.starts_with("more than 8 aliases"))
        );
    }

    #[test]
    fn refusals_truncation_and_malformed_replies_fail_without_panicking() {
        let nx = reply(2, "vps.example.net", [0x81, 0x83], &[]);
        assert_eq!(
            lookup_of(2, "vps.example.net", &nx),
            Lookup::Failed("vps.example.net does not exist (NXDOMAIN)".into())
        );
        let tc = reply(2, "vps.example.net", [0x83, 0x80], &[]);
        assert_eq!(lookup_of(2, "vps.example.net", &tc), Lookup::Failed("the reply was truncated".into()));
        let a = reply(2, "vps.example.net", OK, &[record("", TYPE_A, 300, &[198, 51, 100, 10])]);
        // Every cut of a good reply: foreign (header or question cut) or malformed, never a panic.
        for end in 0..a.len() {
            assert!(!matches!(lookup_of(2, "vps.example.net", &a[..end]), Lookup::Found { .. }), "cut at {end}");
        }
        // An A record of 5 bytes, a pointer to itself, a pointer past the end, a label type 01.
        let bad_len = reply(2, "vps.example.net", OK, &[record("", TYPE_A, 300, &[1, 2, 3, 4, 5])]);
        assert_eq!(
            lookup_of(2, "vps.example.net", &bad_len),
            Lookup::Failed("no address (A record) for vps.example.net".into())
        );
        let mut self_pointer = reply(2, "vps.example.net", OK, &[]);
        let at = self_pointer.len() as u8;
        self_pointer[7] = 1;
        self_pointer.extend_from_slice(&[0xc0, at, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert_eq!(lookup_of(2, "vps.example.net", &self_pointer), Lookup::Failed("the reply is malformed".into()));
        let mut far = reply(2, "vps.example.net", OK, &[]);
        far[7] = 1;
        far.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(lookup_of(2, "vps.example.net", &far), Lookup::Failed("the reply is malformed".into()));
        let mut reserved = reply(2, "vps.example.net", OK, &[]);
        reserved[7] = 1;
        reserved.extend_from_slice(&[0x40, 0]);
        assert_eq!(lookup_of(2, "vps.example.net", &reserved), Lookup::Failed("the reply is malformed".into()));
        // More answers announced than sent.
        let mut short = a.clone();
        short[7] = 2;
        assert_eq!(lookup_of(2, "vps.example.net", &short), Lookup::Failed("the reply is malformed".into()));
    }

    #[test]
    fn the_fuzz_seed_of_a_compressed_cname_chain_reads_as_its_address() {
        let seed = include_bytes!("../../fuzz/corpus/dns/cname-chain");
        assert_eq!(
            lookup_of(0x1234, "vps.example.net", seed),
            Lookup::Found { addrs: vec![[203, 0, 113, 7].into()], ttl_s: 60 }
        );
    }
}
