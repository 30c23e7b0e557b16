//! IPv4 and IPv6 policy-routing rules: read them to find the load balancer's fwmark tables, and
//! add or delete the few rules activation adds (`to <vps> lookup main`, `from <lan> lookup
//! main`, `fwmark <m> lookup main`, and BACKUP_EXCLUDE's `from <host> lookup main
//! suppress_prefixlength 0` and `from <host> unreachable`). Printed and parsed in `ip rule` words for the journal
//! and `--dry-run`; an IPv6 rule that names no address is written `from ::/0`, so the text
//! says its family (as `ip rule add from ::/0 …` does).

use std::fmt;
use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};

use super::codec::{AddressFamily, RuleAttribute, RuleMessage};
use super::route::{parse_table, table_name, RT_TABLE_MAIN};
use super::{family, Body, Netlink, NetlinkError, Rtnl};
use crate::net::Prefix;

/// FR_ACT_TO_TBL: the rule's action is `lookup <table>`.
pub const FR_ACT_TO_TBL: u8 = 1;
/// FR_ACT_GOTO: `goto <priority>`, evaluation goes on at the first rule of that priority.
pub const FR_ACT_GOTO: u8 = 2;
/// FR_ACT_BLACKHOLE, FR_ACT_UNREACHABLE, FR_ACT_PROHIBIT: the packet is refused.
pub const FR_ACT_REFUSE: [u8; 3] = [6, 7, 8];
/// FIB_RULE_INVERT: `not`, the selectors inverted.
const FIB_RULE_INVERT: u32 = 2;

/// A rule as far as this tool cares. A `/0` source or destination selects nothing and
/// is held as none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub v6: bool,
    pub priority: u32,
    pub src: Option<Prefix>,
    pub dst: Option<Prefix>,
    /// Mark and mask (a mark without a mask has the mask 0xffffffff).
    pub fwmark: Option<(u32, u32)>,
    pub table: u32,
    /// FR_ACT_* (1 is lookup).
    pub action: u8,
    /// With FR_ACT_GOTO: the priority jumped to.
    pub goto: u32,
    /// FRA_SUPPRESS_PREFIXLEN (`suppress_prefixlength N`, kernel 3.12): a route the lookup
    /// finds with a prefix of N bits or fewer is not taken, evaluation goes on at the next
    /// rule. `Some(0)`: every route of the table but its default.
    pub suppress_prefixlen: Option<u32>,
    /// The rule has a selector or flag not modelled here (iif, oif, tos, not, ...);
    /// such a rule is never one of ours.
    pub other: bool,
}

impl Rule {
    /// `priority <p> from <src> lookup <table>`.
    pub fn from_src(priority: u32, src: Prefix, table: u32) -> Rule {
        Rule { src: Some(src), ..Rule::lookup(src.is_v6(), priority, table) }
    }

    /// `priority <p> to <dst> lookup <table>`.
    pub fn to_dst(priority: u32, dst: Prefix, table: u32) -> Rule {
        Rule { dst: Some(dst), ..Rule::lookup(dst.is_v6(), priority, table) }
    }

    /// `priority <p> fwmark <mark>/<mask> lookup <table>`, of one family.
    pub fn from_fwmark(v6: bool, priority: u32, mark: u32, mask: u32, table: u32) -> Rule {
        Rule { fwmark: Some((mark, mask)), ..Rule::lookup(v6, priority, table) }
    }

    /// `priority <p> from <src> unreachable`: refused at once (ICMP net unreachable).
    pub fn unreachable_from(priority: u32, src: Prefix) -> Rule {
        Rule { src: Some(src), action: FR_ACT_REFUSE[1], ..Rule::lookup(src.is_v6(), priority, 0) }
    }

    /// `priority <p> from <src> lookup main suppress_prefixlength 0`: every route of
    /// `main` but its default.
    pub fn main_but_default_from(priority: u32, src: Prefix) -> Rule {
        Rule { suppress_prefixlen: Some(0), ..Rule::from_src(priority, src, RT_TABLE_MAIN) }
    }

    /// `priority <p> lookup <table>`, selecting everything.
    fn lookup(v6: bool, priority: u32, table: u32) -> Rule {
        Rule {
            v6,
            priority,
            src: None,
            dst: None,
            fwmark: None,
            table,
            action: FR_ACT_TO_TBL,
            goto: 0,
            suppress_prefixlen: None,
            other: false,
        }
    }

    /// `priority <p> … goto <target>` with the selectors of `like`.
    pub fn goto(like: &Rule, priority: u32, target: u32) -> Rule {
        Rule {
            priority,
            table: 0,
            action: FR_ACT_GOTO,
            goto: target,
            suppress_prefixlen: None,
            other: false,
            ..like.clone()
        }
    }

    /// Reads a kernel rule message; `None` for anything that is not IPv4 or IPv6.
    pub fn from_message(m: &RuleMessage) -> Option<Rule> {
        let h = &m.header;
        let v6 = match h.family {
            AddressFamily::Inet => false,
            AddressFamily::Inet6 => true,
            AddressFamily::Other(_) => return None,
        };
        let mut r = Rule {
            table: u32::from(h.table),
            action: h.action,
            other: h.tos != 0 || h.flags & FIB_RULE_INVERT != 0,
            ..Rule::lookup(v6, 0, 0)
        };
        // A prefix of the rule's family, no longer than its addresses; anything else is a
        // selector this tool does not know.
        let prefix = |ip: &IpAddr, len: u8| Prefix::masked(*ip, len).filter(|p| p.addr == *ip && ip.is_ipv6() == v6);
        let (mut mark, mut mask) = (None, None);
        for a in &m.attributes {
            match a {
                RuleAttribute::Priority(p) => r.priority = *p,
                RuleAttribute::Table(t) => r.table = *t,
                RuleAttribute::Source(ip) => match prefix(ip, h.src_len) {
                    Some(p) => r.src = Some(p).filter(|p| p.len > 0),
                    None => r.other = true,
                },
                RuleAttribute::Destination(ip) => match prefix(ip, h.dst_len) {
                    Some(p) => r.dst = Some(p).filter(|p| p.len > 0),
                    None => r.other = true,
                },
                RuleAttribute::FwMark(v) => mark = Some(*v),
                RuleAttribute::FwMask(v) => mask = Some(*v),
                RuleAttribute::Goto(v) => r.goto = *v,
                // Attributes every dump carries that select nothing: who added the rule
                // (4.17+), and the suppressors, which every kernel since 3.12 sends,
                // as -1 when unset. A set prefix-length suppressor is held (ours refuse
                // only the way out with one); a set interface-group one is not modelled.
                RuleAttribute::Protocol(_) => {}
                RuleAttribute::SuppressPrefixLen(v) => r.suppress_prefixlen = Some(*v).filter(|v| *v != u32::MAX),
                RuleAttribute::SuppressIfGroup(v) => r.other |= *v != u32::MAX,
                _ => r.other = true,
            }
        }
        if mark.is_some() || mask.is_some() {
            r.fwmark = Some((mark.unwrap_or(0), mask.unwrap_or(u32::MAX)));
        }
        Some(r)
    }

    /// The message that adds this rule, in the order `ip rule add` sends it.
    pub fn to_message(&self) -> RuleMessage {
        self.message(false)
    }

    /// The message that deletes exactly this rule: as the one that adds it, but naming
    /// the fwmark mask even when it is all ones. Kernels before 4.16 compare a mask only
    /// when the deletion names one, so without it a user's `fwmark 0x65/0xff` rule at the
    /// same priority would match ours.
    pub fn to_delete_message(&self) -> RuleMessage {
        self.message(true)
    }

    fn message(&self, full_mask: bool) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = family(self.v6);
        m.header.table = u8::try_from(self.table).unwrap_or(0);
        m.header.action = self.action;
        let a = &mut m.attributes;
        if let Some(src) = self.src {
            m.header.src_len = src.len;
            a.push(RuleAttribute::Source(src.addr));
        }
        if let Some(dst) = self.dst {
            m.header.dst_len = dst.len;
            a.push(RuleAttribute::Destination(dst.addr));
        }
        if let Some((mark, mask)) = self.fwmark {
            a.push(RuleAttribute::FwMark(mark));
            if mask != u32::MAX || full_mask {
                a.push(RuleAttribute::FwMask(mask));
            }
        }
        a.push(RuleAttribute::Priority(self.priority));
        if self.action == FR_ACT_GOTO {
            a.push(RuleAttribute::Goto(self.goto));
        }
        if self.table > 255 {
            a.push(RuleAttribute::Table(self.table));
        }
        if let Some(len) = self.suppress_prefixlen {
            a.push(RuleAttribute::SuppressPrefixLen(len));
        }
        m
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "priority {}", self.priority)?;
        if let Some(src) = self.src {
            write!(f, " from {src}")?;
        }
        if let Some(dst) = self.dst {
            write!(f, " to {dst}")?;
        }
        if self.v6 && self.src.is_none() && self.dst.is_none() {
            f.write_str(" from ::/0")?;
        }
        if let Some((mark, mask)) = self.fwmark {
            write!(f, " fwmark {mark:#x}")?;
            if mask != u32::MAX {
                write!(f, "/{mask:#x}")?;
            }
        }
        if self.action == FR_ACT_TO_TBL {
            write!(f, " lookup {}", table_name(self.table))
        } else if self.action == FR_ACT_GOTO {
            write!(f, " goto {}", self.goto)
        } else if let Some(word) = refusal_word(self.action) {
            write!(f, " {word}")
        } else {
            write!(f, " action {}", self.action)
        }?;
        match self.suppress_prefixlen {
            Some(len) => write!(f, " suppress_prefixlength {len}"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = String;

    /// Parses what `Display` prints for the rules this tool adds.
    fn from_str(s: &str) -> Result<Rule, String> {
        let mut r = Rule::lookup(false, 0, 0);
        let mut words = s.split_whitespace();
        // The family is the addresses'; a `/0` selects nothing.
        let mut family: Option<bool> = None;
        let mut prefix = |v: &str| -> Result<Option<Prefix>, String> {
            let p: Prefix = v.parse()?;
            if family.replace(p.is_v6()).is_some_and(|f| f != p.is_v6()) {
                return Err(format!("`{v}` is not of the rule's address family"));
            }
            Ok(Some(p).filter(|p| p.len > 0))
        };
        let hex =
            |v: &str| u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| format!("invalid fwmark `{v}`"));
        while let Some(w) = words.next() {
            if let Some(action) = FR_ACT_REFUSE.into_iter().find(|a| refusal_word(*a) == Some(w)) {
                r.action = action;
                continue;
            }
            let v = words.next().ok_or_else(|| format!("missing value after `{w}`"))?;
            match w {
                "priority" => r.priority = v.parse().map_err(|_| format!("invalid priority `{v}`"))?,
                "from" => r.src = prefix(v)?,
                "to" => r.dst = prefix(v)?,
                "fwmark" => {
                    r.fwmark = Some(match v.split_once('/') {
                        Some((m, k)) => (hex(m)?, hex(k)?),
                        None => (hex(v)?, u32::MAX),
                    })
                }
                "lookup" => r.table = parse_table(v).ok_or_else(|| format!("invalid table `{v}`"))?,
                "goto" => {
                    r.goto = v.parse().map_err(|_| format!("invalid priority `{v}`"))?;
                    r.action = FR_ACT_GOTO;
                }
                "suppress_prefixlength" => {
                    let len = v.parse().ok().filter(|n| *n != u32::MAX);
                    r.suppress_prefixlen = Some(len.ok_or_else(|| format!("invalid prefix length `{v}`"))?);
                }
                _ => return Err(format!("unknown word `{w}`")),
            }
        }
        if r.table == 0 && r.action == FR_ACT_TO_TBL {
            return Err(format!("rule `{s}` has no table"));
        }
        r.v6 = family.unwrap_or(false);
        Ok(r)
    }
}

/// `ip rule`'s word for a refusing action (FR_ACT_BLACKHOLE, _UNREACHABLE, _PROHIBIT).
fn refusal_word(action: u8) -> Option<&'static str> {
    match action {
        6 => Some("blackhole"),
        7 => Some("unreachable"),
        8 => Some("prohibit"),
        _ => None,
    }
}

/// The request of a dump of every rule of one family.
pub fn dump_request(v6: bool) -> Rtnl {
    let mut req = RuleMessage::default();
    req.header.family = family(v6);
    Rtnl::new(libc::RTM_GETRULE, Body::Rule(req))
}

/// Every rule of one family (a kernel without IPv6 answers with every family's: only the
/// one asked for is kept).
pub fn dump(nl: &mut Netlink, v6: bool) -> Result<Vec<Rule>, NetlinkError> {
    nl.dump_fold(dump_request(v6), Vec::new, |out, m| match &m.body {
        Body::Rule(r) if r.header.family == family(v6) => out.extend(Rule::from_message(r)),
        _ => {}
    })
}

/// Adds the rule; EEXIST if an identical one exists (kernels since 4.12 check; callers
/// add only what the dump shows missing, so older ones are no different).
pub fn add(nl: &mut Netlink, rule: &Rule) -> Result<(), NetlinkError> {
    nl.request(Rtnl::new(libc::RTM_NEWRULE, Body::Rule(rule.to_message())), NLM_F_CREATE | NLM_F_EXCL)
}

/// Deletes the first rule that matches every selector of `rule`.
pub fn delete(nl: &mut Netlink, rule: &Rule) -> Result<(), NetlinkError> {
    nl.request(Rtnl::new(libc::RTM_DELRULE, Body::Rule(rule.to_delete_message())), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::golden::{emitted, hex};
    use netlink_packet_core::Parseable;

    fn round_trip(text: &str) {
        let r: Rule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.to_string(), text);
        let bytes = emitted(&r.to_message());
        let parsed = RuleMessage::parse(&bytes).expect("emitted rule parses");
        assert_eq!(Rule::from_message(&parsed), Some(r));
    }

    #[test]
    fn rules_round_trip() {
        round_trip("priority 69 from 192.168.10.0/24 lookup main");
        round_trip("priority 69 fwmark 0x65 lookup main");
        round_trip("priority 69 fwmark 0x100/0xf00 lookup main");
        round_trip("priority 101 fwmark 0x65 lookup 201");
        round_trip("priority 7 from 10.0.0.0/8 lookup 100000");
        round_trip("priority 69 to 198.51.100.10/32 lookup main");
        round_trip("priority 69 from 192.168.10.50/32 goto 100");
        round_trip("priority 69 from 192.168.10.50/32 prohibit");
        round_trip("priority 69 from 2001:db8:10::/64 fwmark 0x200 unreachable");
        round_trip("priority 69 from 2001:db8:10::/64 fwmark 0x200 goto 32000");
        round_trip("priority 69 from 192.168.10.50/32 lookup main suppress_prefixlength 0");
        round_trip("priority 69 from 2001:db8:10::/64 lookup main suppress_prefixlength 0");
    }

    /// Parses the golden bytes, checks they read back as `text`, and that `text` emits
    /// exactly those bytes.
    fn golden(text: &str, golden_hex: &str) {
        let bytes = hex(golden_hex);
        let rule: Rule = text.parse().expect("valid rule text");
        let parsed = RuleMessage::parse(&bytes).expect("golden bytes parse");
        assert_eq!(Rule::from_message(&parsed).as_ref(), Some(&rule), "parse of {text}");
        assert_eq!(emitted(&rule.to_message()), bytes, "emit of {text}");
    }

    // Golden bytes: the fib_rule_hdr and attributes (after the nlmsghdr) that `ip`
    // (iproute2 6.1) sent for the command in the comment, captured with strace.

    #[test]
    fn golden_lan_rule() {
        // ip rule add from 192.168.10.0/24 priority 70 lookup main
        golden(
            "priority 70 from 192.168.10.0/24 lookup main",
            "02001800 fe000001 00000000 \
             08000200 c0a80a00 \
             08000600 46000000",
        );
    }

    #[test]
    fn golden_suppress_rules() {
        // ip rule add from 192.168.10.50 priority 70 lookup main suppress_prefixlength 0
        golden(
            "priority 70 from 192.168.10.50/32 lookup main suppress_prefixlength 0",
            "02002000 fe000001 00000000 \
             08000200 c0a80a32 \
             08000600 46000000 \
             08000e00 00000000",
        );
        // ip -6 rule add from 2001:db8:10::50 priority 70 lookup main suppress_prefixlength 0
        golden(
            "priority 70 from 2001:db8:10::50/128 lookup main suppress_prefixlength 0",
            "0a008000 fe000001 00000000 \
             14000200 20010db8 00100000 00000000 00000050 \
             08000600 46000000 \
             08000e00 00000000",
        );
        let r: Rule = "priority 70 from 192.168.10.50/32 lookup main suppress_prefixlength 0".parse().expect("rule");
        assert_eq!(r, Rule::main_but_default_from(70, "192.168.10.50/32".parse().expect("prefix")));
        // Not the rule without the suppressor: they are two rules to the kernel and to us.
        assert_ne!(r, Rule::from_src(70, "192.168.10.50/32".parse().expect("prefix"), RT_TABLE_MAIN));
    }

    #[test]
    fn golden_goto_rule() {
        // ip rule add from 192.168.10.50 priority 70 goto 100
        golden(
            "priority 70 from 192.168.10.50/32 goto 100",
            "02002000 00000002 00000000 \
             08000200 c0a80a32 \
             08000600 46000000 \
             08000400 64000000",
        );
    }

    #[test]
    fn golden_fwmark_rules() {
        // ip rule add fwmark 0x100/0xf00 priority 70 lookup main
        // (`ip rule del` sends the same attributes with action 0; ours keeps action 1,
        // lookup, so that only a lookup rule can match the deletion.)
        golden(
            "priority 70 fwmark 0x100/0xf00 lookup main",
            "02000000 fe000001 00000000 \
             08000a00 00010000 \
             08001000 000f0000 \
             08000600 46000000",
        );
        // ip rule add fwmark 0x65 priority 70 lookup main
        golden(
            "priority 70 fwmark 0x65 lookup main",
            "02000000 fe000001 00000000 \
             08000a00 65000000 \
             08000600 46000000",
        );
    }

    #[test]
    fn a_deletion_names_the_full_mask() {
        // What `ip rule del fwmark 0x65/0xffffffff priority 70 lookup main` sends (with
        // action 1 kept): FRA_FWMARK, FRA_FWMASK 0xffffffff, FRA_PRIORITY.
        let r: Rule = "priority 70 fwmark 0x65 lookup main".parse().expect("rule");
        let m = r.to_delete_message();
        assert_eq!(
            emitted(&m),
            hex("02000000 fe000001 00000000 \
                 08000a00 65000000 \
                 08001000 ffffffff \
                 08000600 46000000")
        );
        // It still reads back as the same rule; a source rule is deleted as it was added.
        assert_eq!(Rule::from_message(&m), Some(r));
        let lan: Rule = "priority 70 from 192.168.10.0/24 lookup main".parse().expect("rule");
        assert_eq!(lan.to_delete_message(), lan.to_message());
    }

    #[test]
    fn golden_endpoint_rule() {
        // ip rule add to 198.51.100.10/32 priority 70 lookup main
        golden(
            "priority 70 to 198.51.100.10/32 lookup main",
            "02200000 fe000001 00000000 \
             08000100 c633640a \
             08000600 46000000",
        );
    }

    #[test]
    fn golden_big_table_rule() {
        // ip rule add from 10.0.0.0/8 priority 7 lookup 100000
        golden(
            "priority 7 from 10.0.0.0/8 lookup 100000",
            "02000800 00000001 00000000 \
             08000200 0a000000 \
             08000600 07000000 \
             08000f00 a0860100",
        );
    }

    #[test]
    fn golden_ipv6_rules() {
        // ip -6 rule add from 2001:db8:10::/64 priority 70 lookup main
        golden(
            "priority 70 from 2001:db8:10::/64 lookup main",
            "0a004000 fe000001 00000000 \
             14000200 20010db8 00100000 00000000 00000000 \
             08000600 46000000",
        );
        // ip -6 rule add fwmark 0x65 priority 70 lookup main (no address: written `from ::/0`)
        golden(
            "priority 70 from ::/0 fwmark 0x65 lookup main",
            "0a000000 fe000001 00000000 \
             08000a00 65000000 \
             08000600 46000000",
        );
        let r: Rule = "priority 70 from ::/0 fwmark 0x65 lookup main".parse().expect("rule");
        assert_eq!(r, Rule::from_fwmark(true, 70, 0x65, u32::MAX, 254));
    }

    #[test]
    fn a_rule_is_of_one_family() {
        let e = |s: &str| s.parse::<Rule>().expect_err("must fail");
        assert_eq!(
            e("priority 70 from 2001:db8::/32 to 10.0.0.0/8 lookup main"),
            "`10.0.0.0/8` is not of the rule's address family"
        );
        // The same selectors in the two families are two rules.
        let v4: Rule = "priority 70 fwmark 0x65 lookup main".parse().expect("rule");
        let v6: Rule = "priority 70 from ::/0 fwmark 0x65 lookup main".parse().expect("rule");
        assert!(!v4.v6 && v6.v6 && v4 != v6);
        round_trip("priority 69 from 2001:db8:10::/64 lookup main");
        round_trip("priority 69 from ::/0 fwmark 0x100/0xf00 lookup main");
    }

    #[test]
    fn parse_errors() {
        assert_eq!("priority x lookup main".parse::<Rule>().err().as_deref(), Some("invalid priority `x`"));
        assert_eq!("priority 1".parse::<Rule>().err().as_deref(), Some("rule `priority 1` has no table"));
        assert_eq!("priority 1 iif eth0".parse::<Rule>().err().as_deref(), Some("unknown word `iif`"));
    }

    #[test]
    fn other_selectors_are_flagged() {
        let mut m = Rule::from_fwmark(false, 101, 0x65, u32::MAX, 201).to_message();
        m.attributes.push(RuleAttribute::Iifname("eth0".into()));
        let r = Rule::from_message(&m).expect("ipv4");
        assert!(r.other);
        assert_eq!(r.fwmark, Some((0x65, u32::MAX)));
    }

    #[test]
    fn a_set_suppressor_is_held_and_an_unset_one_is_not() {
        // Every dump carries both suppressors; -1 means unset.
        let with = |a: RuleAttribute| {
            let mut m = Rule::from_fwmark(false, 101, 0x65, u32::MAX, 254).to_message();
            m.attributes.push(a);
            let r = Rule::from_message(&m).expect("ipv4");
            (r.suppress_prefixlen, r.other)
        };
        assert_eq!(with(RuleAttribute::SuppressPrefixLen(u32::MAX)), (None, false));
        assert_eq!(with(RuleAttribute::SuppressIfGroup(u32::MAX)), (None, false));
        // wg-quick's `suppress_prefixlength 0`: held, and the rule is no longer the same.
        assert_eq!(with(RuleAttribute::SuppressPrefixLen(0)), (Some(0), false));
        assert_eq!(with(RuleAttribute::SuppressIfGroup(3)), (None, true));
        assert_eq!(
            "priority 1 lookup main suppress_prefixlength 4294967295".parse::<Rule>().err().as_deref(),
            Some("invalid prefix length `4294967295`")
        );
    }
}
