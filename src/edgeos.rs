//! What EdgeOS adds: the load balancer's view of each WAN interface (`show load-balance
//! status`), and the WireGuard peer key as its configuration holds it (`cli-shell-api`
//! and `/config/config.boot`, both in Vyatta's curly-brace syntax).
//!
//! Parsers are pure and unit-tested; the two commands run without a shell and with a
//! deadline, since the load balancer waits for its transition script.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::os::{Child, Group, Spawn};

pub const OP_WRAPPER: &str = "/opt/vyatta/bin/vyatta-op-cmd-wrapper";
pub const CLI_SHELL_API: &str = "/bin/cli-shell-api";
pub const CONFIG_BOOT: &str = "/config/config.boot";

/// One interface of one load-balance group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LbInterface {
    pub group: String,
    pub interface: String,
    /// `active`, `inactive` or `failover` (the standby of a failover-only group).
    pub status: String,
}

/// Parses `show load-balance status`:
///
/// ```text
/// Group G
///     interface   : eth0
///     carrier     : up
///     status      : active
///     gateway     : 192.168.1.1
///     ...
/// ```
///
/// Every `interface : X` line starts an entry of the current group; the `status` line
/// that follows it completes it. Other lines (flows, counters) are skipped.
pub fn parse_lb_status(text: &str) -> Vec<LbInterface> {
    let mut out: Vec<LbInterface> = Vec::new();
    let mut group = String::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(g) = t.strip_prefix("Group ") {
            group = g.trim().to_string();
            pending = None;
            continue;
        }
        let Some((key, value)) = t.split_once(':') else { continue };
        match key.trim() {
            "interface" => pending = Some(value.trim().to_string()),
            "status" => {
                if let Some(interface) = pending.take() {
                    out.push(LbInterface { group: group.clone(), interface, status: value.trim().to_string() });
                }
            }
            _ => {}
        }
    }
    out
}

/// The load balancer's verdict on `iface`: `Some("inactive")` when any group reports it
/// so, `None` when no group declares it down.
pub fn lb_down(status: &[LbInterface], iface: &str) -> Option<String> {
    status
        .iter()
        .find(|s| s.interface == iface && s.status == "inactive")
        .map(|s| format!("{} in group {}", s.status, s.group))
}

/// The most a command's output may be: `show load-balance status` of a router with many
/// groups is a few KiB, cli-shell-api's answer less.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// A command running without a shell, in a process group of its own (a timeout kills
/// what it started too: the op-mode wrapper runs Perl, which runs more — no orphan per hung
/// call on a 256 MB router), its stdout read as it comes without ever blocking, so that the
/// daemon can ask the load balancer without stopping its loop.
pub struct Capture {
    child: Child,
    stdout: Option<std::fs::File>,
    out: Vec<u8>,
    deadline: Instant,
    /// The most output taken ([`MAX_OUTPUT_BYTES`] unless started with another bound).
    max_bytes: usize,
    /// The output went past `max_bytes`.
    too_long: bool,
}

impl Capture {
    /// Starts `program args`; `None` when it cannot be started.
    pub fn start(program: &str, args: &[&str], timeout: Duration) -> Option<Capture> {
        Capture::start_up_to(program, args, timeout, MAX_OUTPUT_BYTES)
    }

    /// [`Capture::start`] taking up to `max_bytes` of output.
    pub fn start_up_to(program: &str, args: &[&str], timeout: Duration, max_bytes: usize) -> Option<Capture> {
        let argv: Vec<&OsStr> = std::iter::once(&program).chain(args).map(OsStr::new).collect();
        let mut child = Child::spawn(&argv, &[], Spawn { stdout_pipe: true, group: Group::New }).ok()?;
        let stdout = child.stdout.take();
        if let Some(pipe) = &stdout {
            crate::os::set_nonblocking(pipe);
        }
        Some(Capture { child, stdout, out: Vec::new(), deadline: Instant::now() + timeout, max_bytes, too_long: false })
    }

    /// The pipe to poll for more output (`None` once it is closed).
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.stdout.as_ref().map(|p| p.as_raw_fd())
    }

    /// Takes in what the pipe holds, never waiting. `None` while the command runs;
    /// `Some(output)` once it has ended: its stdout if it exited 0 within the timeout and
    /// printed at most its bound, else `Some(None)`. Past the deadline or the
    /// bound, the whole group is killed.
    pub fn poll(&mut self) -> Option<Option<String>> {
        let mut buf = [0u8; 4096];
        while let Some(pipe) = &mut self.stdout {
            match pipe.read(&mut buf) {
                Ok(0) => self.stdout = None,
                Ok(n) if self.out.len() + n <= self.max_bytes => self.out.extend_from_slice(&buf[..n]),
                Ok(_) => {
                    self.too_long = true;
                    self.stdout = None;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => self.stdout = None,
            }
        }
        let late = Instant::now() >= self.deadline;
        // Only looked at (WNOWAIT) until the end: its unreaped zombie keeps the group's id
        // ours, so that the kill at the deadline still reaches what it left holding the pipe.
        if !late && !self.too_long && self.stdout.is_none() && crate::os::has_exited(self.child.pid()) {
            let ok = self.child.wait().is_ok_and(|status| status.success());
            return Some(ok.then(|| String::from_utf8(std::mem::take(&mut self.out)).ok()).flatten());
        }
        if !late && !self.too_long {
            return None;
        }
        self.kill();
        Some(None)
    }

    /// Kills the command's whole group and reaps it.
    fn kill(&mut self) {
        if self.child.reaped().is_none() {
            // The group the child leads (it is not reaped yet, so the id cannot have been
            // reused).
            crate::os::kill_group(self.child.pid());
        }
        let _ = self.child.wait();
        self.stdout = None;
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `program args` to its end (see [`Capture`]): its stdout if it exits 0 within
/// `timeout` and prints at most [`MAX_OUTPUT_BYTES`].
pub fn run_capture(program: &str, args: &[&str], timeout: Duration) -> Option<String> {
    run_capture_up_to(program, args, timeout, MAX_OUTPUT_BYTES)
}

/// [`run_capture`] taking up to `max_bytes` of output (a whole configuration).
pub fn run_capture_up_to(program: &str, args: &[&str], timeout: Duration, max_bytes: usize) -> Option<String> {
    let mut capture = Capture::start_up_to(program, args, timeout, max_bytes)?;
    loop {
        if let Some(done) = capture.poll() {
            return done;
        }
        let left = capture.deadline.saturating_duration_since(Instant::now());
        match capture.fd() {
            Some(fd) => {
                // An interruption or a failure just loops.
                let _ = crate::os::poll(&mut [crate::os::pollin(fd)], left.as_millis().clamp(1, 100) as i32);
            }
            None => std::thread::sleep(Duration::from_millis(5).min(left)),
        }
    }
}

/// The load balancer's status command, program and arguments.
pub const LB_STATUS_CMD: &[&str] = &[OP_WRAPPER, "show", "load-balance", "status"];

/// The load balancer's status command `cmd` ([`LB_STATUS_CMD`]), started (the daemon
/// polls it: [`Capture::poll`], then [`parse_lb_status`]); `None` when it cannot be.
pub fn lb_status_start(cmd: &[&str]) -> Option<Capture> {
    let (program, args) = cmd.split_first()?;
    Capture::start(program, args, LB_STATUS_TIMEOUT)
}

/// How long the load balancer's status command may take.
const LB_STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// The load balancer's status, when EdgeOS provides it.
pub fn lb_status() -> Option<Vec<LbInterface>> {
    if !Path::new(OP_WRAPPER).exists() {
        return None;
    }
    run_capture(OP_WRAPPER, &LB_STATUS_CMD[1..], LB_STATUS_TIMEOUT).map(|t| parse_lb_status(&t))
}

/// A node of Vyatta's configuration syntax: `name {` … `}` around leaves `key value`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub leaves: Vec<String>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The value of leaf `key`, unquoted.
    pub fn leaf(&self, key: &str) -> Option<&str> {
        self.leaves.iter().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().trim_matches('"'))
        })
    }

    /// Every value of leaf `key` (`address` and `allowed-ips` repeat), unquoted.
    pub fn leaves_of<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.leaves.iter().filter_map(move |l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().trim_matches('"'))
        })
    }

    /// Whether the valueless leaf `key` is set (`failover-only`, `disable`).
    pub fn flag(&self, key: &str) -> bool {
        self.leaves.iter().any(|l| l.trim() == key)
    }

    /// The children named `KIND NAME`, as (NAME unquoted, node).
    pub fn named<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        self.children.iter().filter_map(move |c| {
            let (k, name) = c.name.split_once(' ')?;
            (k == kind).then(|| (name.trim().trim_matches('"'), c))
        })
    }
}

/// How deep `config.boot` may nest. EdgeOS's own trees go about 8 deep; the bound keeps
/// a hostile file from building a tree whose (recursive) drop overflows the stack.
pub const MAX_DEPTH: usize = 64;

/// The largest `config.boot` read (a real one is tens of KiB).
pub const MAX_CONFIG_BOOT_BYTES: u64 = 1 << 20;

/// Parses the curly-brace syntax of `config.boot` and `cli-shell-api showCfg`; a file
/// [`parse_config_tree_checked`] refuses is empty.
pub fn parse_config_tree(text: &str) -> Node {
    parse_config_tree_checked(text).unwrap_or_default()
}

/// Parses the curly-brace syntax; an error naming the line (never showing it) when the
/// nesting goes deeper than [`MAX_DEPTH`], a `}` closes nothing, or a `{` is never
/// closed: a file cut short is refused rather than read as a smaller configuration.
pub fn parse_config_tree_checked(text: &str) -> Result<Node, String> {
    // The open nodes, each with the line of its `{`.
    let mut stack = vec![(Node::default(), 0)];
    let mut in_comment = false;
    for (i, raw) in text.lines().enumerate() {
        let kept = strip_comments(raw, &mut in_comment);
        let line = kept.trim();
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            let (done, _) = match stack.len() {
                1 => return Err(format!("line {}: `}}` closes nothing", i + 1)),
                _ => stack.pop().unwrap_or_default(),
            };
            if let Some((parent, _)) = stack.last_mut() {
                parent.children.push(done);
            }
        } else if let Some(name) = line.strip_suffix('{') {
            if stack.len() > MAX_DEPTH {
                return Err(format!("line {}: nested more than {MAX_DEPTH} deep", i + 1));
            }
            stack.push((Node { name: name.trim().to_string(), ..Node::default() }, i + 1));
        } else if let Some((top, _)) = stack.last_mut() {
            top.leaves.push(line.to_string());
        }
    }
    match stack.pop() {
        Some((root, _)) if stack.is_empty() => Ok(root),
        Some((_, open)) => Err(format!("line {open}: this `{{` is never closed (the file may be cut short)")),
        None => Ok(Node::default()),
    }
}

/// `line` without its `/* … */` comments (the text before and after one is kept); a
/// comment that does not end on this line sets `in_comment`. A `/*` inside a quoted value
/// (`description "a /* b"`) is text.
fn strip_comments(line: &str, in_comment: &mut bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut quoted = false;
    loop {
        if *in_comment {
            match rest.find("*/") {
                Some(end) => {
                    *in_comment = false;
                    rest = &rest[end + 2..];
                    out.push(' ');
                }
                None => return out,
            }
        }
        let mut start = None;
        for (at, c) in rest.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if !quoted && rest[at..].starts_with("/*") {
                start = Some(at);
                break;
            }
        }
        match start {
            Some(at) => {
                out.push_str(&rest[..at]);
                rest = &rest[at + 2..];
                *in_comment = true;
            }
            None => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// A peer as the configuration declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfiguredPeer {
    pub key: String,
    pub endpoint: Option<String>,
    /// One prefix each: `allowed-ips 0.0.0.0/0,::/0` (the WireGuard package's form) is two.
    pub allowed_ips: Vec<String>,
    /// `disable`: the peer is in the configuration but not on the interface.
    pub disabled: bool,
}

/// The peers under `node`: children named `peer KEY` (config.boot, or showCfg of the
/// interface) or named just `KEY` (showCfg of the `peer` tag node itself).
pub fn peers_of(node: &Node) -> Vec<ConfiguredPeer> {
    node.children
        .iter()
        .filter_map(|c| {
            let key = c.name.strip_prefix("peer ").unwrap_or(&c.name).trim().trim_matches('"');
            crate::wireguard::key_from_base64(key)?;
            Some(ConfiguredPeer {
                key: key.to_string(),
                endpoint: c.leaf("endpoint").map(str::to_string),
                allowed_ips: c
                    .leaves_of("allowed-ips")
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect(),
                disabled: c.flag("disable"),
            })
        })
        .collect()
}

/// The peers of `interfaces { wireguard IFACE { … } }` in a `config.boot`.
pub fn config_boot_peers(text: &str, iface: &str) -> Vec<ConfiguredPeer> {
    let root = parse_config_tree(text);
    root.child("interfaces").and_then(|i| i.child(&format!("wireguard {iface}"))).map(peers_of).unwrap_or_default()
}

/// The peers of IFACE as `source` declares them: [`CLI_SHELL_API`] (the active
/// configuration, `showCfg interfaces wireguard IFACE peer`) or [`CONFIG_BOOT`] (the
/// saved one). `None` if the source is absent or cannot be read.
pub fn configured_peers(source: &str, iface: &str) -> Option<Vec<ConfiguredPeer>> {
    if !Path::new(source).exists() {
        return None;
    }
    if source == CLI_SHELL_API {
        let args = ["showCfg", "interfaces", "wireguard", iface, "peer"];
        let text = run_capture(CLI_SHELL_API, &args, Duration::from_secs(10))?;
        Some(peers_of(&parse_config_tree(&text)))
    } else {
        crate::trust::read_regular(Path::new(source), MAX_CONFIG_BOOT_BYTES).ok().map(|t| config_boot_peers(&t, iface))
    }
}

/// The VPS among configured peers (a disabled one is none): the one whose endpoint host
/// is `endpoint`, else the one whose allowed IPs name a prefix containing `peer_ip`, else
/// the only one.
pub fn pick_configured(
    peers: &[ConfiguredPeer],
    endpoint: std::net::Ipv4Addr,
    peer_ip: std::net::Ipv4Addr,
) -> Option<&ConfiguredPeer> {
    let peers: Vec<&ConfiguredPeer> = peers.iter().filter(|p| !p.disabled).collect();
    let host_is = |p: &&ConfiguredPeer| {
        p.endpoint
            .as_deref()
            .and_then(|e| e.rsplit_once(':'))
            .is_some_and(|(h, _)| h.trim_matches(['[', ']']) == endpoint.to_string())
    };
    let covers = |p: &&ConfiguredPeer| {
        p.allowed_ips.iter().any(|a| a.parse::<crate::net::Ipv4Net>().is_ok_and(|n| n.contains(peer_ip)))
    };
    peers.iter().copied().find(host_is).or_else(|| peers.iter().copied().find(covers)).or_else(|| {
        if peers.len() == 1 {
            peers.first().copied()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LB: &str = "Group WAN_FAILOVER\n    interface   : eth0\n    carrier     : up\n    status      : inactive\n    gateway     : 192.168.1.1\n    route table : 201\n    weight      : 0%\n    fo_priority : 100\n    flows\n        WAN Out   : 1200\n        WAN In    : 900\n      Local ICMP : 3400\n      Local DNS  : 0\n      Local Data : 0\n\n    interface   : eth1\n    carrier     : up\n    status      : active\n    gateway     : 192.168.2.1\n    route table : 202\n    weight      : 100%\n    fo_priority : 60\n    flows\n        WAN Out   : 500\n\nGroup GUESTS\n    interface   : eth0\n    carrier     : up\n    status      : failover\n    gateway     : 192.168.1.1\n    route table : 203\n    interface   : pppoe2\n    carrier     : down\n    status      : active\n";

    #[test]
    fn lb_status_with_several_groups_and_interfaces() {
        let s = parse_lb_status(LB);
        let got: Vec<(&str, &str, &str)> =
            s.iter().map(|i| (i.group.as_str(), i.interface.as_str(), i.status.as_str())).collect();
        assert_eq!(
            got,
            [
                ("WAN_FAILOVER", "eth0", "inactive"),
                ("WAN_FAILOVER", "eth1", "active"),
                ("GUESTS", "eth0", "failover"),
                ("GUESTS", "pppoe2", "active"),
            ]
        );
        assert_eq!(lb_down(&s, "eth0").as_deref(), Some("inactive in group WAN_FAILOVER"));
        assert_eq!(lb_down(&s, "eth1"), None);
        assert_eq!(lb_down(&s, "eth9"), None, "not load-balanced: no verdict");
        assert!(parse_lb_status("").is_empty());
        assert!(parse_lb_status("load-balance is not configured\n").is_empty());
    }

    const CONFIG_BOOT: &str = r#"firewall {
    all-ping enable
}
interfaces {
    ethernet eth0 {
        address dhcp
        description "Fiber WAN"
    }
    /* the tunnel to the VPS */
    wireguard wg0 {
        address 10.11.0.102/24
        listen-port 51820
        peer hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk= {
            allowed-ips 10.50.0.0/16
            description "office"
        }
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
    wireguard wg1 {
        peer TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0= {
            allowed-ips 10.60.0.0/16
        }
    }
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "config-management@1:system@4" === */
"#;

    #[test]
    fn a_tree_nested_too_deep_is_refused_without_a_crash() {
        let deep = "a {\n".repeat(200_000);
        let e = parse_config_tree_checked(&deep).expect_err("refused");
        assert_eq!(e, format!("line {}: nested more than {MAX_DEPTH} deep", MAX_DEPTH + 1));
        assert_eq!(parse_config_tree(&deep), Node::default());
        let ok = "a {\n".repeat(MAX_DEPTH) + &"}\n".repeat(MAX_DEPTH);
        assert!(parse_config_tree_checked(&ok).is_ok());
        // Closing braces open nothing: the first one is refused, whatever follows.
        assert_eq!(parse_config_tree_checked(&"}\n".repeat(200_000)), Err("line 1: `}` closes nothing".into()));
    }

    #[test]
    fn unbalanced_braces_are_refused_with_the_line() {
        let cut = "interfaces {\n    wireguard wg0 {\n        address 10.11.0.2/30\n    }\n";
        assert_eq!(
            parse_config_tree_checked(cut),
            Err("line 1: this `{` is never closed (the file may be cut short)".into())
        );
        assert_eq!(parse_config_tree(cut), Node::default(), "nothing of a cut file is read");
        let extra = "interfaces {\n}\n}\nservice {\n}\n";
        assert_eq!(parse_config_tree_checked(extra), Err("line 3: `}` closes nothing".into()));
        // Braces inside comments do not count.
        assert!(parse_config_tree_checked("/* { */\na {\n/* } */\n}\n").is_ok());
    }

    #[test]
    fn text_around_an_inline_comment_is_kept() {
        let text = "interfaces {\n\tethernet eth1 { /* 4G */\n\t\taddress 192.168.2.2/24 /* modem */\n\t\tdescription \"a /* b\"\n\t\t/* spans\n\t\t lines */ mtu 1400\n\t}\n}\n";
        let root = parse_config_tree_checked(text).expect("parses");
        let eth1 = root.child("interfaces").and_then(|i| i.child("ethernet eth1")).expect("eth1");
        assert_eq!(eth1.leaves, ["address 192.168.2.2/24", "description \"a /* b\"", "mtu 1400"]);
        assert_eq!(eth1.leaf("description"), Some("a /* b"));
        // CRLF and tabs.
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(parse_config_tree_checked(&crlf), Ok(root));
    }

    #[test]
    fn comma_lists_of_allowed_ips_and_disabled_peers() {
        let text = "wireguard wg0 {\n peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {\n  allowed-ips 0.0.0.0/0,::/0\n  allowed-ips \"10.0.0.0/8, 10.1.0.0/16\"\n  endpoint 203.0.113.10:51820\n }\n peer hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk= {\n  allowed-ips 10.11.0.0/24\n  disable\n }\n}\n";
        let root = parse_config_tree(text);
        let peers = peers_of(root.child("wireguard wg0").expect("node"));
        assert_eq!(peers[0].allowed_ips, ["0.0.0.0/0", "::/0", "10.0.0.0/8", "10.1.0.0/16"]);
        assert_eq!((peers[0].disabled, peers[1].disabled), (false, true));
        // The disabled peer's allowed-ips cover WG_PEER_IP, but it is not on the interface.
        let vps = pick_configured(&peers, Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(10, 11, 0, 1));
        assert_eq!(vps.map(|p| p.key.as_str()), Some("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="));
    }

    #[test]
    fn config_boot_peers_of_one_interface() {
        let peers = config_boot_peers(CONFIG_BOOT, "wg0");
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1].endpoint.as_deref(), Some("203.0.113.10:51820"));
        assert_eq!(peers[0].allowed_ips, ["10.50.0.0/16"]);
        let vps = pick_configured(&peers, Ipv4Addr::new(203, 0, 113, 10), Ipv4Addr::new(10, 11, 0, 1)).expect("found");
        assert_eq!(vps.key, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
        assert_eq!(config_boot_peers(CONFIG_BOOT, "wg1").len(), 1);
        assert!(config_boot_peers(CONFIG_BOOT, "wg7").is_empty());
        let root = parse_config_tree(CONFIG_BOOT);
        let eth0 = root.child("interfaces").and_then(|i| i.child("ethernet eth0")).expect("eth0");
        assert_eq!(eth0.leaf("description"), Some("Fiber WAN"));
    }

    #[test]
    fn cli_shell_api_output_of_the_tag_node() {
        // `showCfg interfaces wireguard wg0 peer` prints the tag values at top level.
        let text = " xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {\n     allowed-ips 10.11.0.0/24\n }\n";
        let peers = peers_of(&parse_config_tree(text));
        assert_eq!(peers.len(), 1);
        let picked = pick_configured(&peers, Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(10, 11, 0, 1))
            .expect("allowed-ips covers the peer");
        assert_eq!(picked.key, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
        // And the interface node's form.
        let text = "wireguard wg0 {\n peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {\n  endpoint 203.0.113.10:51820\n }\n}\n";
        let root = parse_config_tree(text);
        assert_eq!(peers_of(root.child("wireguard wg0").expect("node")).len(), 1);
    }

    #[test]
    fn ambiguous_configuration_picks_nothing() {
        let peer = |key: &str, allowed: &str| ConfiguredPeer {
            key: key.into(),
            endpoint: None,
            allowed_ips: vec![allowed.into()],
            disabled: false,
        };
        let peers = [
            peer("hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk=", "10.50.0.0/16"),
            peer("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "10.60.0.0/16"),
        ];
        assert!(pick_configured(&peers, Ipv4Addr::new(198, 51, 100, 99), Ipv4Addr::new(172, 16, 0, 1)).is_none());
    }

    #[test]
    fn commands_run_without_a_shell_and_time_out() {
        assert_eq!(run_capture("/bin/echo", &["a;", "$HOME"], Duration::from_secs(5)).as_deref(), Some("a; $HOME\n"));
        assert_eq!(run_capture("/bin/false", &[], Duration::from_secs(5)), None);
        let started = Instant::now();
        assert_eq!(run_capture("/bin/sleep", &["5"], Duration::from_millis(200)), None);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn endless_output_is_cut_off_not_buffered() {
        // `yes` never stops: the reader gives up at the bound, kills it, and returns.
        let started = Instant::now();
        assert_eq!(run_capture("/usr/bin/yes", &[], Duration::from_secs(10)), None);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        // Output larger than a pipe's buffer but within the bound is read whole.
        let big = run_capture("/usr/bin/head", &["-c", "60000", "/dev/zero"], Duration::from_secs(5)).expect("read");
        assert_eq!(big.len(), 60_000);
        // A whole configuration past the status command's bound: refused by that bound,
        // read whole by a larger one (init's, for cli-shell-api showConfig).
        let args = ["-c", "200000", "/dev/zero"];
        assert_eq!(run_capture("/usr/bin/head", &args, Duration::from_secs(5)), None);
        let whole = run_capture_up_to("/usr/bin/head", &args, Duration::from_secs(5), 1 << 20).expect("read");
        assert_eq!(whole.len(), 200_000);
    }

    #[test]
    fn a_capture_is_asked_without_waiting() {
        let started = Instant::now();
        let mut c = Capture::start("/bin/sh", &["-c", "sleep 0.3; echo done"], Duration::from_secs(5)).expect("start");
        assert_eq!(c.poll(), None, "still running: no answer, and no wait");
        assert!(started.elapsed() < Duration::from_millis(250));
        let answer = loop {
            if let Some(done) = c.poll() {
                break done;
            }
            assert!(started.elapsed() < Duration::from_secs(3));
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(answer.as_deref(), Some("done\n"));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    /// Runs `sh -c 'sleep 300 & echo $! > PIDFILE; END'` with a 300 ms timeout and checks
    /// that the `sleep` it started is gone (or a zombie waiting for init) within 3 s.
    fn the_grandchild_is_killed(name: &str, end: &str) {
        let pidfile = std::env::temp_dir().join(format!("wgf-capture-{name}-{}", std::process::id()));
        let script = format!("sleep 300 & echo $! > {}; {end}", pidfile.display());
        assert_eq!(run_capture("/bin/sh", &["-c", &script], Duration::from_millis(300)), None);
        let pid = std::fs::read_to_string(&pidfile).expect("the grandchild's pid");
        std::fs::remove_file(&pidfile).ok();
        let stat = format!("/proc/{}/stat", pid.trim());
        let deadline = Instant::now() + Duration::from_secs(3);
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(Instant::now() < deadline, "{name}: the grandchild {} outlived the timeout", pid.trim());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_timeout_kills_what_the_command_started_too() {
        the_grandchild_is_killed("waits", "wait");
    }

    /// The command exits at once; what it started keeps the pipe open past the timeout.
    #[test]
    fn a_timeout_kills_what_the_command_left_holding_its_stdout() {
        the_grandchild_is_killed("left", "exit 0");
    }
}
