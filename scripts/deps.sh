#!/bin/sh
# Installs what the lab, the tests and the benchmarks need on a Debian machine,
# and nothing that is already there. Needs root (apt-get). Safe to run often.
#
#   scripts/deps.sh          lab + tests + bench tools, and a Rust toolchain if none
#   scripts/deps.sh cross    the cross-build tools as well (see `make dist`)
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
need curl curl
need dig bind9-dnsutils
need ping iputils-ping
need strace strace
need flock util-linux
need python3 python3
need cc "gcc libc6-dev"
need file file
# A Rust toolchain: rustup's if present, else Debian's (1.96, bookworm-security).
need cargo "rustc-web cargo-web"
if [ "${1:-}" = cross ]; then
    need qemu-mipsel qemu-user-static
    need dpkg-deb dpkg
    need lintian lintian
    python3 -m pip --version >/dev/null 2>&1 || want="$want python3-pip"
    [ -d /usr/lib/rustlib/src/rust/library ] || want="$want rust-web-src"
    # rustc-web must be there even beside rustup: its std sources match it.
    [ -x /usr/bin/rustc ] || want="$want rustc-web cargo-web"
fi

if [ -n "$want" ]; then
    echo "installing:$want"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -qq --no-install-recommends $want >/dev/null
fi

if [ "${1:-}" = cross ]; then
    # cargo-zigbuild and the zig it drives come from PyPI.
    if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -c 'import ziglang' 2>/dev/null; then
        echo "installing: cargo-zigbuild ziglang (PyPI)"
        python3 -m pip install -q cargo-zigbuild ziglang 2>/dev/null \
            || python3 -m pip install -q --break-system-packages cargo-zigbuild ziglang
    fi
fi
