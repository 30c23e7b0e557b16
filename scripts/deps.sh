#!/bin/sh
# Installs what the lab, the tests and the benchmarks need on a Debian machine,
# and nothing that is already there. Needs root (apt-get). Safe to run often.
#
#   scripts/deps.sh          lab + tests + bench tools, and a Rust toolchain if none
#   scripts/deps.sh cross    the cross-build tools as well (see `make dist`)
#   scripts/deps.sh fuzz     what `make fuzz` needs as well: a C++ compiler (libFuzzer)
#                            and cargo-fuzz (crates.io)
set -eu

want=""
# tool -> Debian package
need() { command -v "$1" >/dev/null 2>&1 || want="$want $2"; }
need ip iproute2
need nft nftables
need wireguard-go wireguard-go
need wg wireguard-tools
need dnsmasq dnsmasq-base
need socat socat
need radvd radvd
need curl curl
need dig bind9-dnsutils
need ping iputils-ping
need strace strace
# bench/sticky_source.py watches the backup link with it.
need tcpdump tcpdump
# The lab tests observe the connection-tracking table with it; the tool never runs it.
need conntrack conntrack
# The lab's other actors (lab.sh: LAB_FRR, LAB_DHCP): FRR's zebra and staticd (not on PATH),
# busybox's udhcpc.
[ -x /usr/lib/frr/zebra ] && [ -x /usr/lib/frr/staticd ] || want="$want frr"
need busybox busybox
need flock util-linux
need python3 python3
need cc "gcc libc6-dev"
need file file
# A Rust toolchain: rustup's if present, else Debian's (1.96, bookworm-security).
need cargo "rustc-web cargo-web"
if [ "${1:-}" = cross ]; then
    # bookworm's qemu-user-static names its binaries qemu-*-static.
    need qemu-mipsel-static qemu-user-static
    need dpkg-deb dpkg
    need lintian lintian
    need readelf binutils
    need unshare util-linux
    python3 -m pip --version >/dev/null 2>&1 || want="$want python3-pip"
    # Debian's Rust 1.96 with the std sources of exactly that compiler, even beside
    # rustup (scripts/cross.sh prefers a rustup nightly with rust-src if there is one).
    installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
    # binutils-multiarch: an objcopy that rewrites every target's ELF (scripts/cross.sh).
    for p in rustc-web cargo-web rust-web-src binutils-multiarch; do
        installed "$p" || want="$want $p"
    done
fi

if [ "${1:-}" = fuzz ]; then
    need g++ g++
fi

# The lab test of `status --prometheus` reads it with prometheus_client's parser (PyPI).
has_prometheus_client() { python3 -c 'import prometheus_client' 2>/dev/null; }
if ! has_prometheus_client; then
    python3 -m pip --version >/dev/null 2>&1 || want="$want python3-pip"
fi

if [ -n "$want" ]; then
    echo "installing:$want"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -qq --no-install-recommends $want >/dev/null
fi

if ! has_prometheus_client; then
    echo "installing: prometheus_client (PyPI)"
    # The version the test was written against; its parser is the reference reader.
    python3 -m pip install -q prometheus_client==0.26.0 2>/dev/null \
        || python3 -m pip install -q --break-system-packages prometheus_client==0.26.0
fi

if [ "${1:-}" = cross ]; then
    # cargo-zigbuild and the zig it drives come from PyPI.
    if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -c 'import ziglang' 2>/dev/null; then
        echo "installing: cargo-zigbuild ziglang (PyPI)"
        # The versions `make dist` was proven with; zig's releases change its CLI.
        zb="cargo-zigbuild==0.24.1 ziglang==0.17.1"
        # shellcheck disable=SC2086  # two requirement specifiers
        python3 -m pip install -q $zb 2>/dev/null \
            || python3 -m pip install -q --break-system-packages $zb
    fi
fi

if [ "${1:-}" = fuzz ] && ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing: cargo-fuzz (crates.io)"
    cargo install -q --locked cargo-fuzz@0.13.2
fi
