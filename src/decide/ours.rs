//! [`Ours`]: the routes and rules the failsafe adds — the tunnel's and the fallback's
//! defaults, the endpoint route, the LAN's rules — built in one place from the
//! configuration and a round's gateways, for the plans in `decide` and the sequences.
#![forbid(unsafe_code)]

use super::*;

/// The routes and rules the failsafe adds, from the configuration and this round's
/// gateways.
pub struct Ours<'a> {
    pub cfg: &'a Config,
    pub backup_gw: Ipv4Addr,
    /// `None`: PRIMARY_GW=auto found nothing (only the state-lost restore needs it).
    pub primary_gw: Option<Ipv4Addr>,
    /// BACKUP_BUDGET_ACTION=exclude and the budget is used up this period: every LAN
    /// host but LAN_KEEP's is refused as BACKUP_EXCLUDE's are.
    pub over_budget: bool,
}

impl Ours<'_> {
    /// The backup's gateway and the primary's.
    pub fn gateways(&self) -> (Ipv4Addr, Option<Ipv4Addr>) {
        (self.backup_gw, self.primary_gw)
    }

    /// Step 1: `WG_ENDPOINT/32 via BACKUP_GW dev BACKUP_DEV metric METRIC_BACKUP-10`.
    pub fn endpoint_route(&self) -> Route {
        let c = self.cfg;
        let dst = Ipv4Net { addr: c.wg_endpoint.addr(), len: 32 }.into();
        Route::via(RT_TABLE_MAIN, dst, self.backup_gw, &c.backup_dev, c.metric_endpoint())
    }

    /// Step 1, with the route: `priority LAN_RULE_PRIORITY to WG_ENDPOINT/32 lookup main`,
    /// so that the tunnel's own packets take the endpoint route whatever mark they carry:
    /// with EdgeOS's `lb-local` the load balancer marks the router's traffic in OUTPUT, and
    /// a WireGuard flow marked for the dead primary's table would never reach the backup.
    pub fn endpoint_rule(&self) -> Rule {
        let c = self.cfg;
        Rule::to_dst(c.lan_rule_priority, Ipv4Net { addr: c.wg_endpoint.addr(), len: 32 }.into(), RT_TABLE_MAIN)
    }

    /// Step 5: `default via WG_PEER_IP dev WG_IFACE metric METRIC_WG table <table>`.
    pub fn tunnel_default(&self, table: u32) -> Route {
        let c = self.cfg;
        Route::via(table, DEFAULT, c.wg_peer_ip, &c.wg_iface, c.metric_wg)
    }

    /// Fallback: `default via BACKUP_GW dev BACKUP_DEV metric METRIC_WG table <table>`.
    pub fn backup_default(&self, table: u32) -> Route {
        let c = self.cfg;
        Route::via(table, DEFAULT, self.backup_gw, &c.backup_dev, c.metric_wg)
    }

    pub fn target_default(&self, target: Target, table: u32) -> Route {
        match target {
            Target::Tunnel => self.tunnel_default(table),
            Target::Backup => self.backup_default(table),
        }
    }

    /// IPv6's step 5: through the tunnel when it works and WG_PEER_IP6 is set,
    /// `default via WG_PEER_IP6 dev WG_IFACE`; otherwise `unreachable ::/0`, so that LAN
    /// hosts are refused at once and fall back to IPv4 (the backup's own IPv6 would not
    /// carry the primary's addresses).
    pub fn target_default6(&self, target: Target, table: u32) -> Route {
        let c = self.cfg;
        match (target, c.wg_peer_ip6) {
            (Target::Tunnel, Some(ip)) => Route::via(table, DEFAULT6, ip, &c.wg_iface, c.metric_wg6()),
            _ => Route::unreachable(table, DEFAULT6, c.metric_wg6()),
        }
    }

    /// Whether `r` is one of the defaults the failsafe points tables at, of either family
    /// and either [`Target`].
    pub fn is_target(&self, r: &Route) -> bool {
        [Target::Tunnel, Target::Backup].into_iter().any(|t| r.same_path(&self.target_of(r.is_v6(), t, r.table)))
    }

    /// The target of one family.
    pub fn target_of(&self, v6: bool, target: Target, table: u32) -> Route {
        if v6 {
            self.target_default6(target, table)
        } else {
            self.target_default(target, table)
        }
    }

    /// What deactivation puts back when the snapshot is lost.
    pub fn primary_default(&self, table: u32) -> Option<Route> {
        let c = self.cfg;
        Some(Route::via(table, DEFAULT, self.primary_gw?, &c.primary_dev, c.metric_primary))
    }

    /// A rule after LAN_RULE_PRIORITY that sends traffic of one family to a table the
    /// failsafe does not manage (not main, default or local), or refuses it.
    fn claims(&self, r: &Rule, v6: bool, managed: &BTreeSet<u32>) -> bool {
        let unmanaged = r.action == FR_ACT_TO_TBL && ![RT_TABLE_MAIN, 253, 255].contains(&r.table) // main, default, local
            && !managed.contains(&r.table);
        r.v6 == v6 && r.priority > self.cfg.lan_rule_priority && (unmanaged || FR_ACT_REFUSE.contains(&r.action))
    }

    /// The rules that claim LAN traffic but cannot be copied (selectors this tool does not
    /// model): during the outage the LAN's rule takes what they would have (told once, at
    /// activation).
    pub fn unmodelled_claims<'r>(&self, v6: bool, rules: &'r [Rule], managed: &BTreeSet<u32>) -> Vec<&'r Rule> {
        let lan = self.lan_of(v6);
        let mut claims = Vec::new();
        for r in rules {
            let of_lan = r.src.is_none_or(|src| lan.iter().any(|n| src.overlap(n).is_some()));
            if self.claims(r, v6, managed) && r.other && of_lan {
                claims.push(r);
            }
        }
        claims
    }

    /// LAN_SUBNET or LAN_SUBNET6.
    pub(super) fn lan_of(&self, v6: bool) -> Vec<Prefix> {
        let c = self.cfg;
        if v6 {
            c.lan_subnets6.clone()
        } else {
            c.lan_subnets.iter().map(|n| Prefix::from(*n)).collect()
        }
    }

    /// Step 6 for one family: the rules that send LAN and marked traffic to `main`, given
    /// the rules the kernel holds and that family's managed tables, in the order they must
    /// be added. IPv6 gets them only while it has managed tables.
    ///
    /// First come the copies: a rule after LAN_RULE_PRIORITY that sends LAN traffic to a
    /// table the failsafe does not manage, or refuses it (a kill switch, another VPN),
    /// keeps it — a copy at LAN_RULE_PRIORITY, its selectors narrowed to the LAN hosts it
    /// covers, comes before every other rule of ours (LAN_KEEP's and the LAN's own), and
    /// what the copy's table does not route falls through to ours as it would have fallen
    /// through to the rules after it. A rule with selectors this tool does not model (iif,
    /// oif, not, tos, …) is not copied (a wider copy could take traffic it never took):
    /// see [`Ours::unmodelled_claims`]. Then the refusals ([`Ours::refusal_rules`]).
    pub fn lan_rules(&self, v6: bool, rules: &[Rule], managed: &BTreeSet<u32>) -> Vec<Rule> {
        let c = self.cfg;
        // They send traffic to main: for IPv6 only when main is moved too (IPv4's always
        // is); an IPv6 main through another path, or a kill switch, is not ours to feed.
        if v6 && !managed.contains(&RT_TABLE_MAIN) {
            return Vec::new();
        }
        let subnets = self.lan_of(v6);
        let mut out: Vec<Rule> = Vec::new();
        for r in rules.iter().filter(|r| self.claims(r, v6, managed) && !r.other) {
            for net in &subnets {
                let Some(hosts) = r.src.map_or(Some(*net), |src| src.overlap(net)) else { continue };
                push_new(&mut out, Rule { priority: c.lan_rule_priority, src: Some(hosts), ..r.clone() });
            }
        }
        let refused = self.refused(v6);
        out.extend(self.refusal_rules(v6, &refused));
        // The LAN's own rule, for each subnet not refused as a whole (over the budget, none
        // is): after `from <it> unreachable` it would never be reached, and kernels 4.12 to
        // 5.7 take it and `from <it> lookup main suppress_prefixlength 0` for one rule (an
        // EEXIST for the second, the suppressor not compared).
        for net in subnets.into_iter().filter(|n| !refused.contains(n)) {
            // LAN_KEEP may name the subnet: once.
            push_new(&mut out, Rule::from_src(c.lan_rule_priority, net, RT_TABLE_MAIN));
        }
        for r in rules.iter().filter(|r| r.v6 == v6) {
            let Some((mark, mask)) = r.fwmark else { continue };
            let leads_to_policy_table =
                r.action == FR_ACT_TO_TBL && r.table != RT_TABLE_MAIN && managed.contains(&r.table);
            if leads_to_policy_table {
                push_new(&mut out, Rule::from_fwmark(v6, c.lan_rule_priority, mark, mask, RT_TABLE_MAIN));
            }
        }
        out
    }

    /// The hosts of one family refused the way out during the outage: BACKUP_EXCLUDE's and,
    /// over the budget, the whole LAN (LAN_SUBNET or LAN_SUBNET6) — but a prefix LAN_KEEP
    /// names itself (its rule comes first: nothing of it would be refused).
    fn refused(&self, v6: bool) -> Vec<Prefix> {
        let c = self.cfg;
        let over_budget = if self.over_budget { self.lan_of(v6) } else { Vec::new() };
        let mut refused = Vec::new();
        for x in c.backup_exclude.iter().copied().filter(|x| x.is_v6() == v6).chain(over_budget) {
            if !c.lan_keep.contains(&x) {
                refused.push(x);
            }
        }
        refused
    }

    /// The refusals of one family, after the copies: BACKUP_EXCLUDE's (and, over the
    /// budget, the whole LAN's) way out is refused at once, over the tunnel as over the
    /// backup — after the rules that keep the LAN reachable (to each LAN subnet, from
    /// anyone, main decides as it always does) and LAN_KEEP's (never refused). Only the
    /// way out: first `from <it> lookup main suppress_prefixlength 0`, main's routes but
    /// its default (the router's other LANs, a site-to-site route, the primary modem's
    /// page: none of them crosses the backup), then `from <it> unreachable`.
    fn refusal_rules(&self, v6: bool, refused: &[Prefix]) -> Vec<Rule> {
        let c = self.cfg;
        let p = c.lan_rule_priority;
        if refused.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for n in self.lan_of(v6) {
            out.push(Rule::to_dst(p, n, RT_TABLE_MAIN));
        }
        for k in c.lan_keep.iter().filter(|k| k.is_v6() == v6) {
            out.push(Rule::from_src(p, *k, RT_TABLE_MAIN));
        }
        for x in refused {
            out.push(Rule::main_but_default_from(p, *x));
            out.push(Rule::unreachable_from(p, *x));
        }
        out
    }
}

/// Adds `rule` to `out` unless it is there already. (One copy of the comparison: inlined
/// at each of `lan_rules`' three pushes it was ~0.6 KB of mipsel.)
#[inline(never)]
fn push_new(out: &mut Vec<Rule>, rule: Rule) {
    if !out.contains(&rule) {
        out.push(rule);
    }
}
