//! `check` on an EdgeRouter in the namespace lab (issue 17, item 4): EdgeOS's
//! configuration and files given under WG_FAILSAFE_TEST_ROOT (the host's /config is not
//! touched), the rest live in the router namespace. A router set up to have every finding
//! gets each as its line — FAIL for the seed still wired in, WARN for the rest — and a
//! clean one gets none; `check` changes no table either way.
//!
//! Root and the lab's tools (scripts/deps.sh) are needed: `#[ignore]`d by default, run with
//! `cargo test --test lab_check -- --include-ignored`.

mod harness;

use std::fs;
use std::path::Path;
use std::process::Command;

use harness::*;

/// `check` in the router namespace with `root` standing for `/` where EdgeOS's files are.
fn check(lab: &Lab, conf: &Path, root: &Path) -> Run {
    let out = sh(Command::new("ip")
        .args(["netns", "exec", &format!("{}-rtr", lab.id), env!("CARGO_BIN_EXE_wg-failsafe"), "-c"])
        .arg(conf)
        .arg("check")
        .env("WG_FAILSAFE_TEST_ROOT", root));
    Run { code: out.status.code().unwrap_or(-1), stdout: text(&out.stdout), stderr: text(&out.stderr) }
}

/// Writes `text` at `path` (as EdgeOS names it) under `root`.
fn put(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

/// The lab router's EdgeOS configuration: the tunnel, the failover group with its
/// transition script, and what `system` holds.
fn config_boot(wg: &str, wg_extra: &str, groups: &str, system: &str) -> String {
    format!(
        "interfaces {{\n    ethernet eth0 {{\n        address 192.168.1.2/24\n    }}\n    ethernet eth1 {{\n        \
         address 192.168.2.2/24\n    }}\n    wireguard {wg} {{\n        address 10.11.0.2/24\n        listen-port \
         51820\n{wg_extra}    }}\n}}\nload-balance {{\n{groups}}}\nsystem {{\n    host-name rtr\n{system}}}\n"
    )
}

/// The dpkg architecture of the binary under test, as `check` names it (packaging/targets).
fn deb_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("the lab runs on amd64 or arm64, not {other}"),
    }
}

/// The lines of `stdout` that start with `level`.
fn lines<'a>(stdout: &'a str, level: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.starts_with(level)).collect()
}

#[test]
#[ignore = "needs root and the lab tools: run with --include-ignored (make test)"]
fn check_reports_each_edgeos_finding_and_none_on_a_clean_router() {
    let lab = Lab::up("ck", &[]);
    let wg = format!("{}w", lab.id);
    let root = lab.dir.join("root");
    let version = env!("CARGO_PKG_VERSION");

    // --- A clean router: the hook wired in, the .deb kept, an activation proven by echo.
    let group = "    group G {\n        interface eth0 {\n        }\n        interface eth1 {\n            \
                 failover-only\n        }\n        transition-script /usr/lib/wg-failsafe/transition\n    }\n";
    put(&root, "/config/config.boot", &config_boot(&wg, "        route-allowed-ips false\n", group, ""));
    // EdgeOS 2.x keeps the WireGuard package there too; the ER-X's .deb beside this one's.
    let (firstboot, arch) = ("/config/data/firstboot/install-packages", deb_arch());
    put(&root, "/opt/vyatta/etc/version", "Version:      v2.0.9-hotfix.7\n");
    put(&root, &format!("{firstboot}/wg-failsafe_{version}_mipsel.deb"), "");
    put(&root, &format!("{firstboot}/wg-failsafe_{version}_{arch}.deb"), "");
    put(&root, &format!("{firstboot}/e50-v2-v1.0.20220627-v1.0.20210914.deb"), "");
    assert_eq!(lab.tool(&["activate"]).code, 0);
    assert_eq!(lab.tool(&["deactivate"]).code, 0);
    let before = lab.tables();
    let r = check(&lab, &lab.conf(), &root);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(lines(&r.stdout, "WARN").is_empty() && lines(&r.stdout, "FAIL").is_empty(), "{}", r.stdout);
    for ok in [
        format!("ok   no default route through {wg} but the failsafe's"),
        format!("ok   {wg} MTU 1420 fits in eth1's 1500 less WireGuard's 60 bytes over IPv4 = 1440"),
        "the VPS peer answered an echo over eth1".to_string(),
        format!("ok   interfaces wireguard {wg} does not route its peers' allowed-ips"),
        format!("ok   {firstboot}/wg-failsafe_{version}_{arch}.deb is installed again"),
        format!("ok   {firstboot}/e50-v2-v1.0.20220627-v1.0.20210914.deb reinstalls WireGuard"),
        "ok   the seed script is not wired in".to_string(),
        "ok   load-balance group G calls /usr/lib/wg-failsafe/transition".to_string(),
    ] {
        assert!(r.stdout.contains(&ok), "no `{ok}` in:\n{}", r.stdout);
    }
    assert_eq!(lab.tables(), before, "check changed something");

    // --- Every finding: a configuration others can read, the WireGuard package's README
    // default, the seed's task and transition script, another group's own script, only the
    // ER-X's .deb and no WireGuard package's, a backup with a small MTU, a default into
    // the tunnel, and an activation that could not prove the tunnel.
    let groups = format!(
        "{}    group VOIP {{\n        interface eth0 {{\n        }}\n        transition-script \
         /config/scripts/voip-alert\n    }}\n",
        group.replace("/usr/lib/wg-failsafe/transition", "/config/scripts/main-wan-down")
    );
    let task = "    task-scheduler {\n        task wgfs {\n            executable {\n                path \
                /config/scripts/wireguard-failsafe.sh\n            }\n            interval 1m\n        }\n    }\n";
    put(&root, "/config/config.boot", &config_boot(&wg, "        route-allowed-ips true\n", &groups, task));
    put(&root, "/config/scripts/voip-alert", "#!/bin/sh\nlogger -t voip \"$@\"\n");
    fs::remove_dir_all(root.join("config/data")).expect("rm the .debs");
    put(&root, &format!("{firstboot}/wg-failsafe_{version}_mipsel.deb"), "");
    lab.rtr("ip link set eth1 mtu 1400");
    lab.rtr(&format!("ip route add default dev {wg} table 250"));
    lab.ctl("tunnel", "down");
    let fallback = lab.conf_variant("fallback.conf", &[("FALLBACK", "backup"), ("TUNNEL_WAIT", "2")]);
    let a = lab.tool_with(&fallback, &["activate"]);
    assert!(a.stdout.contains("on the backup WAN"), "{}{}", a.stdout, a.stderr);
    assert_eq!(lab.tool_with(&fallback, &["deactivate"]).code, 0);
    chmod(&fallback, 0o644);
    let before = lab.tables();
    let r = check(&lab, &fallback, &root);
    assert_eq!(r.code, 1, "the seed wired in breaks the failover:\n{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("2 check(s) failed"), "{}", r.stderr);
    let fails = lines(&r.stdout, "FAIL");
    assert_eq!(fails.len(), 2, "{}", r.stdout);
    assert!(fails[0].starts_with("FAIL system task-scheduler task wgfs runs the seed script"), "{}", r.stdout);
    assert!(
        fails[1].starts_with("FAIL load-balance group G transition-script /config/scripts/main-wan-down is the seed's")
    );
    let warns = lines(&r.stdout, "WARN");
    for (i, start) in [
        format!("WARN configuration {} is readable by others", fallback.display()),
        format!("WARN default route(s) through {wg} that are not the failsafe's (table 250: default dev {wg}"),
        format!("WARN {wg} MTU 1420 is more than eth1's 1400 less WireGuard's 60 bytes over IPv4 = 1340"),
        "WARN last activation ".to_string(),
        format!("WARN interfaces wireguard {wg} route-allowed-ips true"),
        format!("WARN {firstboot}/ holds wg-failsafe_{version}_mipsel.deb but not the {arch} .deb"),
        format!("WARN no WireGuard .deb in {firstboot}/ (on EdgeOS 2.x)"),
        "WARN load-balance group VOIP transition-script /config/scripts/voip-alert does not call wg-failsafe"
            .to_string(),
    ]
    .iter()
    .enumerate()
    {
        assert!(warns.get(i).is_some_and(|w| w.starts_with(start.as_str())), "WARN {i}: `{start}` in:\n{}", r.stdout);
    }
    assert_eq!(warns.len(), 8, "{}", r.stdout);
    assert!(warns[0].ends_with("chmod 600 it"), "{}", warns[0]);
    assert!(warns[3].contains("the tunnel could not be proven over eth1"), "{}", warns[3]);
    assert!(warns[4].contains(&format!("`set interfaces wireguard {wg} route-allowed-ips false`")), "{}", warns[4]);
    assert_eq!(lab.tables(), before, "check changed something");
}
