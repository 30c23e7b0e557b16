//! The classic BPF program both probe sockets run in the kernel: only our replies (an
//! unfragmented ICMP echo reply with our identifier and nonce, from a target, to us) are
//! queued, so a flood of forged packets costs the socket no room.

use std::net::Ipv4Addr;

use super::{Match, ICMP_ECHO_REPLY};

/// More sources than this are checked in user space only (a BPF jump spans 255).
const FILTER_SOURCES_MAX: usize = 64;

/// One classic BPF instruction: (code, jump if true, jump if false, k).
pub type Insn = (u16, u8, u8, u32);

const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_IND: u16 = 0x40;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// The classic BPF program of both probe sockets, run on the IPv4 datagram (a raw socket
/// and a `SOCK_DGRAM` packet socket both filter from the network header on): accept only
/// an unfragmented ICMP echo reply with `m`'s identifier and nonce, from one of `sources`
/// (any when empty or too many to list) and, when `m.dst` is set, addressed to it.
pub fn reply_filter(m: &Match, sources: &[Ipv4Addr]) -> Vec<Insn> {
    let sources = if sources.len() > FILTER_SOURCES_MAX { &[][..] } else { sources };
    let nonce = m.nonce.to_be_bytes();
    let mut steps = vec![Step::Load(LD_B_ABS, 9), Step::Require(1)];
    steps.extend([Step::Load(LD_H_ABS, 6), Step::Refuse(0x3fff)]); // MF or an offset
    if !sources.is_empty() {
        steps.push(Step::Load(LD_W_ABS, 12));
        steps.extend(sources.iter().enumerate().map(|(i, s)| Step::AnyOf(u32::from(*s), sources.len() - 1 - i)));
    }
    if let Some(dst) = m.dst {
        steps.extend([Step::Load(LD_W_ABS, 16), Step::Require(u32::from(dst))]);
    }
    steps.extend([
        Step::Load(LDX_B_MSH, 0),
        Step::Load(LD_B_IND, 0),
        Step::Require(u32::from(ICMP_ECHO_REPLY)),
        Step::Load(LD_H_IND, 4),
        Step::Require(u32::from(m.ident)),
        Step::Load(LD_W_IND, 8),
        Step::Require(u32::from_be_bytes([nonce[0], nonce[1], nonce[2], nonce[3]])),
        Step::Load(LD_W_IND, 12),
        Step::Require(u32::from_be_bytes([nonce[4], nonce[5], nonce[6], nonce[7]])),
    ]);
    assemble(&steps)
}

/// The program of the packet socket that waits for a UDP reply (`udp::exchange`): an
/// unfragmented UDP datagram from `server`'s port `server_port` to `us`, port `our_port`.
pub fn udp_reply_filter(server: Ipv4Addr, server_port: u16, us: Ipv4Addr, our_port: u16) -> Vec<Insn> {
    assemble(&[
        Step::Load(LD_B_ABS, 9),
        Step::Require(17),
        Step::Load(LD_H_ABS, 6),
        Step::Refuse(0x3fff), // MF or an offset
        Step::Load(LD_W_ABS, 12),
        Step::Require(u32::from(server)),
        Step::Load(LD_W_ABS, 16),
        Step::Require(u32::from(us)),
        Step::Load(LDX_B_MSH, 0),
        Step::Load(LD_H_IND, 0),
        Step::Require(u32::from(server_port)),
        Step::Load(LD_H_IND, 2),
        Step::Require(u32::from(our_port)),
    ])
}

/// One check of a filter: an instruction, and whether the packet goes on.
enum Step {
    /// Load (no jump).
    Load(u16, u32),
    /// Go on when A == k, else drop.
    Require(u32),
    /// Drop when A & k, else go on.
    Refuse(u32),
    /// Go on (skipping `rest` more of the same) when A == k, else the next; the last drops.
    AnyOf(u32, usize),
}

/// The program of `steps`, every failing branch jumping to the final `ret #0`.
fn assemble(steps: &[Step]) -> Vec<Insn> {
    let drop_at = steps.len() + 1;
    let to_drop = |pc: usize| (drop_at - pc - 1) as u8;
    let mut program: Vec<Insn> = steps
        .iter()
        .enumerate()
        .map(|(pc, step)| match *step {
            Step::Load(code, k) => (code, 0, 0, k),
            Step::Require(k) => (JEQ_K, 0, to_drop(pc), k),
            Step::Refuse(k) => (JSET_K, to_drop(pc), 0, k),
            Step::AnyOf(k, 0) => (JEQ_K, 0, to_drop(pc), k),
            Step::AnyOf(k, rest) => (JEQ_K, rest as u8, 0, k),
        })
        .collect();
    program.push((RET_K, 0, 0, 0xffff));
    program.push((RET_K, 0, 0, 0));
    program
}

pub(super) fn sock_filters(program: &[Insn]) -> Vec<libc::sock_filter> {
    program.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::{reply_packet, reply_with_payload, KEY, US};
    use crate::probe::{echo_request, ipv4_packet};

    /// Runs a classic BPF program on a packet, as the kernel would (a tiny interpreter of
    /// the opcodes [`reply_filter`] uses); a load past the end drops the packet.
    fn run_filter(program: &[Insn], p: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |at: u32, n: usize| -> Option<u32> {
            let at = at as usize;
            let b = p.get(at..at + n)?;
            Some(b.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b)))
        };
        loop {
            let (code, jt, jf, k) = program[pc];
            let loaded = match code {
                LD_W_ABS => load(k, 4),
                LD_H_ABS => load(k, 2),
                LD_B_ABS => load(k, 1),
                LD_W_IND => load(x + k, 4),
                LD_H_IND => load(x + k, 2),
                LD_B_IND => load(x + k, 1),
                LDX_B_MSH => {
                    x = 4 * (load(k, 1).unwrap_or(0) & 0xf);
                    Some(a)
                }
                JEQ_K => {
                    pc += usize::from(if a == k { jt } else { jf });
                    Some(a)
                }
                JSET_K => {
                    pc += usize::from(if a & k != 0 { jt } else { jf });
                    Some(a)
                }
                RET_K => return k,
                _ => panic!("opcode {code:#x}"),
            };
            match loaded {
                Some(v) => a = v,
                None => return 0,
            }
            pc += 1;
        }
    }

    #[test]
    fn the_udp_filter_accepts_the_servers_reply_to_our_port_only() {
        let (server, us) = (Ipv4Addr::new(203, 0, 113, 53), Ipv4Addr::new(192, 168, 2, 2));
        let program = udp_reply_filter(server, 53, us, 40000);
        let reply = |from: Ipv4Addr, to: Ipv4Addr, sport: u16, dport: u16| {
            crate::probe::udp_datagram(from, to, 9, sport, dport, b"answer")
        };
        assert_eq!(run_filter(&program, &reply(server, us, 53, 40000)), 0xffff);
        assert_eq!(run_filter(&program, &reply(us, server, 40000, 53)), 0, "our own query");
        assert_eq!(run_filter(&program, &reply(Ipv4Addr::new(203, 0, 113, 54), us, 53, 40000)), 0, "another server");
        assert_eq!(run_filter(&program, &reply(server, us, 5353, 40000)), 0, "another source port");
        assert_eq!(run_filter(&program, &reply(server, us, 53, 40001)), 0, "another of our ports");
        assert_eq!(run_filter(&program, &reply(server, Ipv4Addr::new(192, 168, 2, 3), 53, 40000)), 0, "to another");
        let mut fragment = reply(server, us, 53, 40000);
        fragment[7] = 0x08; // an offset
        assert_eq!(run_filter(&program, &fragment), 0, "a fragment");
        let mut tcp = reply(server, us, 53, 40000);
        tcp[9] = 6;
        assert_eq!(run_filter(&program, &tcp), 0, "not UDP");
    }

    #[test]
    fn the_filter_accepts_our_replies_only() {
        let gw = Ipv4Addr::new(192, 168, 1, 1);
        let other = Ipv4Addr::new(192, 168, 1, 7);
        for (m, sources) in [
            (KEY, vec![]),
            (KEY, vec![gw]),
            (Match { dst: Some(US), ..KEY }, vec![other, gw, Ipv4Addr::new(10, 0, 0, 1)]),
        ] {
            let program = reply_filter(&m, &sources);
            assert_eq!(run_filter(&program, &reply_packet(gw, &m, 1)), 0xffff, "{m:?} {sources:?}");
            assert_eq!(run_filter(&program, &reply_packet(gw, &m, 0xfffe)), 0xffff, "any sequence");
            let request = ipv4_packet(gw, US, 1, &echo_request(m.ident, 1, m.nonce));
            assert_eq!(run_filter(&program, &request), 0, "a request");
            let mut tcp = reply_packet(gw, &m, 1);
            tcp[9] = 6;
            assert_eq!(run_filter(&program, &tcp), 0, "not ICMP");
            assert_eq!(run_filter(&program, &reply_with_payload(gw, m.ident, 1, &[])), 0, "no nonce");
            let wrong = echo_request(m.ident, 1, m.nonce ^ (1 << 40));
            assert_eq!(run_filter(&program, &reply_with_payload(gw, m.ident, 1, &wrong[8..])), 0, "another nonce");
            let wrong = echo_request(m.ident, 1, m.nonce ^ 1);
            assert_eq!(run_filter(&program, &reply_with_payload(gw, m.ident, 1, &wrong[8..])), 0, "another nonce");
            assert_eq!(run_filter(&program, &reply_packet(gw, &Match { ident: 7, ..m }, 1)), 0, "another identifier");
            let mut fragment = reply_packet(gw, &m, 1);
            fragment[6] = 0x20; // more fragments
            assert_eq!(run_filter(&program, &fragment), 0, "a fragment");
            let mut stranger = reply_packet(Ipv4Addr::new(198, 51, 100, 1), &m, 1);
            let expect = if sources.is_empty() { 0xffff } else { 0 };
            assert_eq!(run_filter(&program, &stranger), expect, "another source with {sources:?}");
            stranger[16..20].copy_from_slice(&[192, 168, 1, 99]);
            stranger[12..16].copy_from_slice(&gw.octets());
            let expect = if m.dst.is_some() { 0 } else { 0xffff };
            assert_eq!(run_filter(&program, &stranger), expect, "to another host");
        }
        // Too many sources to list: the filter leaves them to user space.
        let many: Vec<Ipv4Addr> = (0..=FILTER_SOURCES_MAX as u32).map(|i| Ipv4Addr::from(0x0a00_0000 + i)).collect();
        let program = reply_filter(&KEY, &many);
        assert_eq!(run_filter(&program, &reply_packet(Ipv4Addr::new(1, 1, 1, 1), &KEY, 1)), 0xffff);
        let most: Vec<Ipv4Addr> = many[..FILTER_SOURCES_MAX].to_vec();
        let program = reply_filter(&Match { dst: Some(US), ..KEY }, &most);
        assert!(program.iter().all(|i| i.1 < 255 && i.2 < 255));
        assert_eq!(run_filter(&program, &reply_packet(most[FILTER_SOURCES_MAX - 1], &KEY, 1)), 0xffff);
        assert_eq!(run_filter(&program, &reply_packet(most[0], &KEY, 1)), 0xffff);
    }
}
