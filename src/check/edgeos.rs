//! `check`'s findings from EdgeOS's own configuration and files: the WireGuard interface
//! routing its peers' allowed IPs itself, the firstboot packages (ours and WireGuard's),
//! the seed script still wired in, and the load-balance group's transition script. Pure
//! over the parsed tree and the files under `root` (`init::test_root`), so unit tests
//! give both.

#![forbid(unsafe_code)]

use std::path::Path;

use super::{Finding, Level};
use crate::config::Config;
use crate::edgeos::Node;
use crate::init::under;

/// Where the package installs the load-balance transition hook.
pub const TRANSITION_HOOK: &str = "/usr/lib/wg-failsafe/transition";
/// Where EdgeOS installs packages again after a firmware upgrade.
pub const FIRSTBOOT_DIR: &str = "/config/data/firstboot/install-packages";
/// The seed script's file names (its task-scheduler task runs the first; its
/// load-balance transition script is the second).
const SEED_SCRIPT: &str = "wireguard-failsafe.sh";
const SEED_TRANSITION: &str = "main-wan-down";
/// Where a cron line for the seed may be (a directory's files are read).
const CRONTABS: [&str; 3] = ["/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs/root"];
/// The most read of a transition script or a crontab.
const MAX_SCRIPT_BYTES: u64 = 64 * 1024;

/// `route-allowed-ips true` on WG_IFACE: EdgeOS routes the VPS peer's 0.0.0.0/0 via the
/// tunnel itself, beside the failsafe.
pub(super) fn route_allowed_ips(cfg: &Config, tree: &Node) -> Finding {
    let wg = &cfg.wg_iface;
    let iface = tree.child("interfaces").and_then(|i| i.child(&format!("wireguard {wg}")));
    match iface.and_then(|i| i.leaf("route-allowed-ips")) {
        _ if iface.is_none() => {
            Finding::new(Level::Note, format!("interfaces wireguard {wg} is not in EdgeOS's configuration"))
        }
        Some("true") => Finding::new(
            Level::Warn,
            format!(
                "interfaces wireguard {wg} route-allowed-ips true: EdgeOS routes the peers' allowed-ips \
                 (0.0.0.0/0) via {wg} itself, outside the failsafe; `set interfaces wireguard {wg} \
                 route-allowed-ips false` (the failsafe adds the tunnel's default when it is needed)"
            ),
        ),
        _ => Finding::new(Level::Ok, format!("interfaces wireguard {wg} does not route its peers' allowed-ips")),
    }
}

/// The dpkg architecture this binary's .deb carries (packaging/targets): the Octeon
/// routers' n64 binary ships as `mips`, their userland's.
pub(super) fn deb_arch() -> Option<&'static str> {
    match (std::env::consts::ARCH, cfg!(target_endian = "little")) {
        ("mips", true) => Some("mipsel"),
        ("mips" | "mips64", false) => Some("mips"),
        ("arm", _) => Some("armhf"),
        ("aarch64", _) => Some("arm64"),
        ("x86_64", _) => Some("amd64"),
        _ => None,
    }
}

/// The names (those in UTF-8) in directory `dir`; `None` when it cannot be read.
fn names_in(dir: &Path) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        if let Some(name) = entry.ok().and_then(|e| e.file_name().into_string().ok()) {
            names.push(name);
        }
    }
    Some(names)
}

/// The load-balance groups in `tree`, with their names.
fn groups(tree: &Node) -> Vec<(&str, &Node)> {
    let mut groups = Vec::new();
    if let Some(lb) = tree.child("load-balance") {
        groups.extend(lb.named("group"));
    }
    groups
}

/// The `.deb` files in the firstboot directory under `root`.
fn firstboot_debs(root: &Path) -> Vec<String> {
    let mut names = names_in(&under(root, FIRSTBOOT_DIR)).unwrap_or_default();
    names.retain(|n| n.ends_with(".deb"));
    names.sort();
    names
}

/// The package in the firstboot directory, so that it is installed again after a
/// firmware upgrade (which keeps /config and nothing else): this version for `arch` (the
/// router's; any when unknown). Other architectures' files beside it do no harm (dpkg
/// refuses them); another version of this architecture may be installed after this one.
pub(super) fn firstboot(root: &Path, arch: Option<&str>) -> Finding {
    let names = firstboot_debs(root);
    let version = env!("CARGO_PKG_VERSION");
    let here = arch.unwrap_or("this router");
    // The wg-failsafe_VERSION_ARCH.deb files: all of them, this version's for this
    // architecture (the first), and the other versions' for it.
    let (mut ours, mut ok, mut older) = (Vec::new(), None, Vec::new());
    for n in &names {
        let parts = n.strip_prefix("wg-failsafe_").and_then(|r| r.strip_suffix(".deb")).and_then(|r| r.split_once('_'));
        let Some((v, a)) = parts else { continue };
        ours.push(n.as_str());
        if arch.is_some_and(|want| a != want) {
            continue;
        }
        if v != version {
            older.push(n.as_str());
        } else if ok.is_none() {
            ok = Some(n.as_str());
        }
    }
    let list = |v: &[&str]| v.join(", ");
    match ok {
        Some(one) if older.is_empty() => {
            Finding::new(Level::Ok, format!("{FIRSTBOOT_DIR}/{one} is installed again after a firmware upgrade"))
        }
        Some(one) => Finding::new(
            Level::Warn,
            format!(
                "{FIRSTBOOT_DIR}/ holds {} beside {one}: a firmware upgrade may install that after this version; \
                 remove it",
                list(&older)
            ),
        ),
        None if ours.is_empty() => Finding::new(
            Level::Warn,
            format!(
                "no wg-failsafe .deb in {FIRSTBOOT_DIR}/: after the next firmware upgrade the package is gone \
                 and nothing runs; copy the .deb there (README, Installing on EdgeOS)"
            ),
        ),
        None if older.is_empty() => Finding::new(
            Level::Warn,
            format!(
                "{FIRSTBOOT_DIR}/ holds {} but not the {here} .deb (wg-failsafe_{version}_{here}.deb): a firmware \
                 upgrade installs nothing that runs here; copy that one there",
                list(&ours)
            ),
        ),
        None => Finding::new(
            Level::Warn,
            format!(
                "{FIRSTBOOT_DIR}/ holds {} but this is version {version}: a firmware upgrade installs that; \
                 leave only this version's .deb there",
                list(&older)
            ),
        ),
    }
}

/// Release file names of the community WireGuard package (wireguard-vyatta-ubnt): the
/// router family first (`e50-v2-v1.0.20220627-v1.0.20210914.deb`).
const WIREGUARD_DEB_PREFIXES: [&str; 8] = ["e50-", "e100-", "e200-", "e300-", "e1000-", "ugw3-", "ugw4-", "ugwxg-"];
/// EdgeOS's release, `Version:      v2.0.9-hotfix.7`.
const EDGEOS_VERSION: &str = "/opt/vyatta/etc/version";

/// The WireGuard package's .deb in the firstboot directory: without it, the tunnel is
/// gone after a firmware upgrade on EdgeOS 1.x and 2.x (3.x has WireGuard built in).
pub(super) fn firstboot_wireguard(root: &Path) -> Finding {
    let release = read_small(root, EDGEOS_VERSION).and_then(|t| {
        let v = t.lines().find_map(|l| l.strip_prefix("Version:"))?.trim().trim_start_matches('v');
        v.split('.').next()?.parse::<u32>().ok()
    });
    if release.is_some_and(|major| major >= 3) {
        return Finding::new(Level::Ok, "WireGuard is built into EdgeOS 3.x: no package to keep");
    }
    let wireguard = |n: &&String| {
        n.to_ascii_lowercase().contains("wireguard") || WIREGUARD_DEB_PREFIXES.iter().any(|p| n.starts_with(p))
    };
    match firstboot_debs(root).iter().find(wireguard) {
        Some(deb) => Finding::new(Level::Ok, format!("{FIRSTBOOT_DIR}/{deb} reinstalls WireGuard after an upgrade")),
        None => {
            let on = release.map_or("if this is EdgeOS 1.x or 2.x".to_string(), |m| format!("on EdgeOS {m}.x"));
            Finding::new(
                Level::Warn,
                format!(
                    "no WireGuard .deb in {FIRSTBOOT_DIR}/ ({on}): after the next firmware upgrade the tunnel \
                     is gone; copy the WireGuard package's .deb there (README, Prerequisites)"
                ),
            )
        }
    }
}

/// A file's name without its directory.
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A small file under `root`, if it can be read.
fn read_small(root: &Path, path: &str) -> Option<String> {
    crate::trust::read_regular(&under(root, path), MAX_SCRIPT_BYTES).ok()
}

/// The seed script still wired in: its task-scheduler task, a cron line, or a transition
/// script that is or calls it. Two tools would move the same tables: FAIL.
pub(super) fn seed_leftovers(tree: &Node, root: &Path) -> Vec<Finding> {
    let fix = "two tools would move the same tables";
    let mut out = Vec::new();
    let tasks = tree.child("system").and_then(|s| s.child("task-scheduler"));
    for (name, task) in tasks.into_iter().flat_map(|t| t.named("task")) {
        let path = task.child("executable").and_then(|e| e.leaf("path")).unwrap_or("");
        if base(path) == SEED_SCRIPT {
            out.push(Finding::new(
                Level::Fail,
                format!(
                    "system task-scheduler task {name} runs the seed script {path}: {fix}; \
                     `delete system task-scheduler task {name}` (README, Migrating from the seed script)"
                ),
            ));
        }
    }
    for (group, g) in groups(tree) {
        let Some(script) = g.leaf("transition-script") else { continue };
        if seeds_transition(root, script) {
            out.push(Finding::new(
                Level::Fail,
                format!(
                    "load-balance group {group} transition-script {script} is the seed's: {fix}; \
                     `set load-balance group {group} transition-script {TRANSITION_HOOK}`"
                ),
            ));
        }
    }
    for tab in crontab_files(root) {
        let text = read_small(root, &tab).unwrap_or_default();
        if text.lines().any(|l| !l.trim_start().starts_with('#') && l.contains(SEED_SCRIPT)) {
            out.push(Finding::new(
                Level::Fail,
                format!("{tab} runs the seed script {SEED_SCRIPT}: {fix}; delete that line"),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::new(Level::Ok, "the seed script is not wired in (task-scheduler, cron, transition-script)"));
    }
    out
}

/// A shell script's text without its comments: from a `#` that begins a word to the end
/// of its line (a `#` inside a word, as in `$#`, stays).
fn without_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut prev = ' ';
        let cut = line.char_indices().find(|(_, c)| {
            let starts = *c == '#' && prev.is_whitespace();
            prev = *c;
            starts
        });
        out.push_str(cut.map_or(line, |(i, _)| &line[..i]));
        out.push('\n');
    }
    out
}

/// A small script under `root` without its comments, if it can be read.
fn read_script(root: &Path, path: &str) -> Option<String> {
    read_small(root, path).map(|t| without_comments(&t))
}

/// A transition script that is the seed's `main-wan-down`, or runs the seed script.
fn seeds_transition(root: &Path, script: &str) -> bool {
    base(script) == SEED_TRANSITION || read_script(root, script).is_some_and(|t| t.contains(SEED_SCRIPT))
}

/// The crontabs a seed cron line may be in.
fn crontab_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for tab in CRONTABS {
        match names_in(&under(root, tab)) {
            Some(names) => {
                for n in names {
                    files.push(format!("{tab}/{n}"));
                }
            }
            None => files.push(tab.to_string()),
        }
    }
    files
}

/// The transition script of each load-balance group PRIMARY_DEV is in: the packaged hook,
/// or a script that calls it (EdgeOS takes one per group). The seed's is a FAIL above.
pub(super) fn transition_scripts(cfg: &Config, tree: &Node, root: &Path, daemon_running: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut primary_in_a_group = false;
    for (group, g) in groups(tree) {
        if !g.named("interface").any(|(i, _)| i == cfg.primary_dev) {
            continue;
        }
        primary_in_a_group = true;
        let script = g.leaf("transition-script");
        let text = script.and_then(|s| read_script(root, s)).unwrap_or_default();
        let f = match script {
            Some(s) if seeds_transition(root, s) => continue,
            Some(TRANSITION_HOOK) => {
                Finding::new(Level::Ok, format!("load-balance group {group} calls {TRANSITION_HOOK}"))
            }
            Some(s) if text.contains(TRANSITION_HOOK) || text.contains("wg-failsafe transition") => {
                Finding::new(Level::Ok, format!("load-balance group {group} transition-script {s} calls wg-failsafe"))
            }
            None if daemon_running => Finding::new(
                Level::Ok,
                format!("load-balance group {group} has no transition-script: the daemon watches the WANs itself"),
            ),
            None => Finding::new(
                Level::Warn,
                format!(
                    "load-balance group {group} has no transition-script: a dead WAN is acted on at cron's next \
                     minute; `set load-balance group {group} transition-script {TRANSITION_HOOK}`"
                ),
            ),
            Some(s) => Finding::new(
                Level::Warn,
                format!(
                    "load-balance group {group} transition-script {s} does not call wg-failsafe: a dead WAN is \
                     acted on at cron's next minute; EdgeOS takes one script per group: call {TRANSITION_HOOK} \
                     \"$@\" from it (README, Chaining a transition script)"
                ),
            ),
        };
        out.push(f);
    }
    if !primary_in_a_group && tree.child("load-balance").is_some() {
        out.push(Finding::new(Level::Note, format!("no load-balance group has {} as an interface", cfg.primary_dev)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::cfg;
    use crate::edgeos::parse_config_tree;
    use std::path::PathBuf;

    /// A router's EdgeOS configuration with every finding's construct, as public ones have
    /// them: the WireGuard package's README (route-allowed-ips true), the seed's task and
    /// transition script, and a second group of its own.
    const SEEDED: &str = "interfaces {\n    wireguard wg0 {\n        address 10.11.0.2/24\n        route-allowed-ips true\n    }\n}\nload-balance {\n    group G {\n        interface eth0 {\n        }\n        interface eth1 {\n            failover-only\n        }\n        transition-script /config/scripts/main-wan-down\n    }\n    group VOIP {\n        interface eth1 {\n        }\n        transition-script /config/scripts/voip\n    }\n}\nsystem {\n    task-scheduler {\n        task wgfs {\n            executable {\n                path /config/scripts/wireguard-failsafe.sh\n            }\n            interval 1m\n        }\n    }\n}\n";

    /// A fresh directory standing for `/`.
    fn root(name: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("wgfs-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        std::fs::create_dir_all(&r).expect("root");
        r
    }

    fn put(root: &Path, path: &str, text: &str) {
        let p = under(root, path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(p, text).expect("write");
    }

    /// Each finding's level and its text up to the first colon.
    fn levels(f: &[Finding]) -> Vec<(Level, &str)> {
        f.iter().map(|f| (f.level, f.text.split(':').next().unwrap_or(""))).collect()
    }

    #[test]
    fn the_seed_wired_in_fails_and_route_allowed_ips_warns() {
        let (c, r) = (cfg(), root("seed"));
        let tree = parse_config_tree(SEEDED);
        let f = route_allowed_ips(&c, &tree);
        assert_eq!(f.level, Level::Warn);
        assert!(f.text.contains("`set interfaces wireguard wg0 route-allowed-ips false`"), "{f}");
        put(&r, "/etc/cron.d/seed", "# */1 * * * * root /config/scripts/wireguard-failsafe.sh\n");
        put(&r, "/var/spool/cron/crontabs/root", "* * * * * /config/scripts/wireguard-failsafe.sh\n");
        assert_eq!(
            levels(&seed_leftovers(&tree, &r)),
            [
                (
                    Level::Fail,
                    "system task-scheduler task wgfs runs the seed script /config/scripts/wireguard-failsafe.sh"
                ),
                (Level::Fail, "load-balance group G transition-script /config/scripts/main-wan-down is the seed's"),
                (Level::Fail, "/var/spool/cron/crontabs/root runs the seed script wireguard-failsafe.sh"),
            ],
            "a commented cron line is no leftover"
        );
        // The seed's transition script is told once, as the seed's; VOIP lacks eth0.
        assert!(transition_scripts(&c, &tree, &r, false).is_empty());
        // A script of another name that runs the seed is the seed's too.
        put(&r, "/config/scripts/wan-event", "#!/bin/sh\n/config/scripts/wireguard-failsafe.sh\n");
        let other = SEEDED.replace("/config/scripts/main-wan-down", "/config/scripts/wan-event");
        assert_eq!(seed_leftovers(&parse_config_tree(&other), &r)[1].level, Level::Fail);
        let clean = parse_config_tree("interfaces {\n wireguard wg0 {\n  route-allowed-ips false\n }\n}\n");
        assert_eq!(route_allowed_ips(&c, &clean).level, Level::Ok);
        assert_eq!(
            levels(&seed_leftovers(&clean, &root("clean"))),
            [(Level::Ok, "the seed script is not wired in (task-scheduler, cron, transition-script)")]
        );
        assert_eq!(route_allowed_ips(&c, &parse_config_tree("")).level, Level::Note);
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn a_transition_script_is_ours_or_calls_ours_or_is_warned_about() {
        let (c, r) = (cfg(), root("transition"));
        let group = |script: &str| {
            parse_config_tree(&format!(
                "load-balance {{\n group G {{\n  interface eth0 {{\n  }}\n  {script}\n }}\n}}\n"
            ))
        };
        let one = |tree: &Node, daemon: bool| {
            let f = transition_scripts(&c, tree, &r, daemon);
            assert_eq!(f.len(), 1, "{f:?}");
            f[0].clone()
        };
        assert_eq!(one(&group("transition-script /usr/lib/wg-failsafe/transition"), false).level, Level::Ok);
        put(
            &r,
            "/config/scripts/chain",
            "#!/bin/sh\n/usr/lib/wg-failsafe/transition \"$@\"\nexec /config/scripts/old \"$@\"\n",
        );
        assert_eq!(one(&group("transition-script /config/scripts/chain"), false).level, Level::Ok);
        put(&r, "/config/scripts/old", "#!/bin/sh\nlogger \"$@\"\n");
        let f = one(&group("transition-script /config/scripts/old"), false);
        assert_eq!(f.level, Level::Warn);
        assert!(f.text.contains("call /usr/lib/wg-failsafe/transition \"$@\" from it"), "{f}");
        let f = one(&group(""), false);
        assert!(f.level == Level::Warn && f.text.contains("`set load-balance group G transition-script "), "{f}");
        assert_eq!(one(&group(""), true).level, Level::Ok, "the daemon needs no hook");
        let elsewhere = parse_config_tree("load-balance {\n group G {\n  interface eth5 {\n  }\n }\n}\n");
        assert_eq!(
            levels(&transition_scripts(&c, &elsewhere, &r, false)),
            [(Level::Note, "no load-balance group has eth0 as an interface")]
        );
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn firstboot_wants_this_versions_deb_for_this_architecture() {
        let (r, v) = (root("firstboot"), env!("CARGO_PKG_VERSION"));
        let deb = |name: &str| put(&r, &format!("{FIRSTBOOT_DIR}/{name}"), "");
        let clear = || std::fs::remove_dir_all(under(&r, FIRSTBOOT_DIR)).expect("rm");
        assert_eq!(firstboot(&r, Some("mipsel")).level, Level::Warn);
        deb("wg-failsafe_0.0.1_mipsel.deb");
        let f = firstboot(&r, Some("mipsel"));
        assert!(f.level == Level::Warn && f.text.contains("wg-failsafe_0.0.1_mipsel.deb but this is version"), "{f}");
        clear();
        // The Octeon and the ER-X packages side by side: the one of this router is there.
        deb(&format!("wg-failsafe_{v}_mips.deb"));
        deb(&format!("wg-failsafe_{v}_mipsel.deb"));
        for arch in ["mips", "mipsel"] {
            let f = firstboot(&r, Some(arch));
            assert_eq!(f.level, Level::Ok, "{f}");
            assert!(f.text.contains(&format!("wg-failsafe_{v}_{arch}.deb is installed again")), "{f}");
        }
        assert_eq!(firstboot(&r, None).level, Level::Ok, "an unknown architecture takes this version's");
        // Only the other architecture's: says which one this router needs.
        let f = firstboot(&r, Some("arm64"));
        assert_eq!(f.level, Level::Warn);
        assert!(f.text.contains(&format!("but not the arm64 .deb (wg-failsafe_{v}_arm64.deb)")), "{f}");
        // An older one of this architecture beside this version's may be installed last.
        deb("wg-failsafe_0.0.1_mips.deb");
        let f = firstboot(&r, Some("mips"));
        assert!(f.level == Level::Warn && f.text.contains("holds wg-failsafe_0.0.1_mips.deb beside"), "{f}");
        assert_eq!(firstboot(&r, Some("mipsel")).level, Level::Ok, "the other architecture's old one is inert");
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn the_wireguard_package_is_kept_on_edgeos_1_and_2_only() {
        let r = root("firstboot-wg");
        let f = firstboot_wireguard(&r);
        assert!(f.level == Level::Warn && f.text.contains("(if this is EdgeOS 1.x or 2.x)"), "{f}");
        put(&r, EDGEOS_VERSION, "Version:      v2.0.9-hotfix.7\nBuild ID:     5622762\n");
        let f = firstboot_wireguard(&r);
        assert!(f.level == Level::Warn && f.text.contains("(on EdgeOS 2.x)"), "{f}");
        put(&r, &format!("{FIRSTBOOT_DIR}/wg-failsafe_{}_mipsel.deb", env!("CARGO_PKG_VERSION")), "");
        assert_eq!(firstboot_wireguard(&r).level, Level::Warn, "our own .deb is not WireGuard's");
        put(&r, &format!("{FIRSTBOOT_DIR}/e50-v2-v1.0.20220627-v1.0.20210914.deb"), "");
        assert_eq!(firstboot_wireguard(&r).level, Level::Ok);
        std::fs::remove_dir_all(under(&r, FIRSTBOOT_DIR)).expect("rm");
        put(&r, &format!("{FIRSTBOOT_DIR}/wireguard-v2.0-e300-1.0.20220627.deb"), "");
        assert_eq!(firstboot_wireguard(&r).level, Level::Ok);
        std::fs::remove_dir_all(under(&r, FIRSTBOOT_DIR)).expect("rm");
        put(&r, EDGEOS_VERSION, "Version:      v3.0.0\n");
        let f = firstboot_wireguard(&r);
        assert!(f.level == Level::Ok && f.text.contains("built into EdgeOS 3.x"), "{f}");
        std::fs::remove_dir_all(&r).ok();
    }

    #[test]
    fn a_call_in_a_comment_is_no_call() {
        let (c, r) = (cfg(), root("comment"));
        let tree = parse_config_tree(
            "load-balance {\n group G {\n  interface eth0 {\n  }\n  transition-script /config/scripts/t\n }\n}\n",
        );
        let script = |text: &str| {
            put(&r, "/config/scripts/t", text);
            transition_scripts(&c, &tree, &r, false)[0].level
        };
        assert_eq!(
            script("#!/bin/sh\n# TODO call /usr/lib/wg-failsafe/transition \"$@\"\nlogger \"$@\"\n"),
            Level::Warn
        );
        assert_eq!(script("#!/bin/sh\nlogger \"$@\" # then /usr/lib/wg-failsafe/transition\n"), Level::Warn);
        assert_eq!(script("#!/bin/sh\n[ $# -gt 0 ] && /usr/lib/wg-failsafe/transition \"$@\"\n"), Level::Ok);
        // A commented-out seed call is not the seed wired in either.
        put(&r, "/config/scripts/t", "#!/bin/sh\n#/config/scripts/wireguard-failsafe.sh\n");
        assert!(!seeds_transition(&r, "/config/scripts/t"));
        put(&r, "/config/scripts/t", "#!/bin/sh\n/config/scripts/wireguard-failsafe.sh # old\n");
        assert!(seeds_transition(&r, "/config/scripts/t"));
        std::fs::remove_dir_all(&r).ok();
    }
}
