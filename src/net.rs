//! Network prefixes of either family, host bits clear: what routes, rules, the
//! configuration and the flows all select on. A vocabulary of its own, so that the netlink
//! code does not reach into the configuration for it.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 prefix such as `192.168.10.0/24`, host bits clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Ipv4Net {
    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.len);
        u32::from(ip) & mask == u32::from(self.addr)
    }
}

/// The netmask of a prefix length, as a host-order integer.
pub fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Ipv4Net {
    type Err = String;

    /// A [`Prefix`] that is IPv4's.
    fn from_str(s: &str) -> Result<Self, String> {
        let not_v4 = || format!("`{s}` is not an IPv4 address or prefix");
        if s.split('/').next().is_none_or(|a| a.parse::<Ipv4Addr>().is_err()) {
            return Err(not_v4());
        }
        match s.parse::<Prefix>()? {
            Prefix { addr: IpAddr::V4(addr), len } => Ok(Ipv4Net { addr, len }),
            Prefix { .. } => Err(not_v4()),
        }
    }
}

/// An IPv4 or IPv6 prefix, host bits clear: what routes and rules select on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub const DEFAULT4: Prefix = Prefix { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), len: 0 };
    pub const DEFAULT6: Prefix = Prefix { addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED), len: 0 };

    /// The host bits of `addr` cleared; `None` when `len` is longer than the address.
    pub fn masked(addr: IpAddr, len: u8) -> Option<Prefix> {
        let addr = match addr {
            IpAddr::V4(a) if len <= 32 => IpAddr::V4(Ipv4Addr::from(u32::from(a) & prefix_mask(len))),
            IpAddr::V6(a) if len <= 128 => {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Prefix { addr, len })
    }

    /// The whole address family's default, `0.0.0.0/0` or `::/0`.
    pub fn default_of(v6: bool) -> Prefix {
        if v6 {
            Prefix::DEFAULT6
        } else {
            Prefix::DEFAULT4
        }
    }

    pub fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Every address of `other` is one of this prefix's.
    pub fn contains(&self, other: &Prefix) -> bool {
        self.len <= other.len && Prefix::masked(other.addr, self.len) == Some(*self)
    }

    /// The addresses both select, when they overlap: the narrower of the two.
    pub fn overlap(&self, other: &Prefix) -> Option<Prefix> {
        if self.contains(other) {
            Some(*other)
        } else if other.contains(self) {
            Some(*self)
        } else {
            None
        }
    }
}

impl From<Ipv4Net> for Prefix {
    fn from(n: Ipv4Net) -> Prefix {
        Prefix { addr: IpAddr::V4(n.addr), len: n.len }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    /// `ADDR/LEN` or a bare address (a host prefix), of either family, host bits clear.
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("`{s}` is not an IP address or prefix"))?;
        let max = if addr.is_ipv6() { 128 } else { 32 };
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
        };
        let p = Prefix::masked(addr, len).ok_or_else(|| format!("`{s}` has an invalid prefix length"))?;
        if p.addr != addr {
            return Err(format!("`{s}` has host bits set (the network is {p})"));
        }
        Ok(p)
    }
}
