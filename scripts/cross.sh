#!/bin/sh
# Static musl release builds for the router targets (`make dist` runs this).
#
#   scripts/cross.sh [TARGET...]      build the named targets (default: every one in
#                                     packaging/targets)
#   scripts/cross.sh --toolchain      only say which toolchain would be used
#
# The MIPS targets are tier 3: there is no prebuilt std, so std is built from
# source (-Zbuild-std), which needs a compiler together with its own library
# sources. Two toolchains qualify, tried in this order:
#   1. rustup's nightly with the rust-src component;
#   2. Debian's rustc-web + cargo-web + rust-web-src (1.96, bookworm-security),
#      with RUSTC_BOOTSTRAP=1 to allow the -Z flags on a stable compiler.
# cargo-zigbuild links with zig (PyPI's ziglang), which brings musl and a C
# runtime for every target. Per-target rustflags (static, non-PIE, Octeon) are in
# .cargo/config.toml. Binaries land in $CARGO_TARGET_DIR/<target>/release/.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALL_TARGETS=$(sed -n 's/^\([^#|][^|]*\)|.*/\1/p' "$ROOT/packaging/targets")

# The per-target sections of .cargo/config.toml and cross.toml name the same targets as
# packaging/targets, or a target would build without its flags (or a stale one linger).
check_sections() {
    for f in .cargo/config.toml cross.toml; do
        have=$(sed -n 's/^\[target\.\([^]]*\)\]$/\1/p' "$ROOT/$f" | sort)
        want=$(printf '%s\n' $ALL_TARGETS | sort)
        if [ "$have" != "$want" ]; then
            echo "cross.sh: the [target.*] sections of $f are not the targets of packaging/targets:" >&2
            echo "  $f: $(echo $have)" >&2
            echo "  packaging/targets: $(echo $want)" >&2
            exit 2
        fi
    done
}
check_sections
# A target dir of its own, so that host builds and tests are never rebuilt.
: "${CARGO_TARGET_DIR:=target/cross}"
export CARGO_TARGET_DIR

# Sets RUSTC and CARGO (and RUSTC_BOOTSTRAP for Debian's stable compiler); if a piece
# is missing, says exactly what to install and fails.
find_toolchain() {
    lacking=""
    if command -v rustup >/dev/null 2>&1 \
        && rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
        RUSTC=$(rustup which --toolchain nightly rustc)
        CARGO=$(rustup which --toolchain nightly cargo)
        toolchain="rustup nightly with rust-src"
    elif [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] \
        && [ "$(dpkg-query -W -f '${Version}' rustc-web 2>/dev/null)" = \
            "$(dpkg-query -W -f '${Version}' rust-web-src 2>/dev/null)" ]; then
        # rustup's proxies may come first on PATH: name Debian's binaries.
        RUSTC=/usr/bin/rustc
        CARGO=/usr/bin/cargo
        RUSTC_BOOTSTRAP=1
        export RUSTC_BOOTSTRAP
        toolchain="Debian rustc-web + rust-web-src $(dpkg-query -W -f '${Version}' rustc-web)"
    else
        lacking="a Rust compiler with its own std sources (for -Zbuild-std)"
        cat >&2 <<'EOF'
make dist: no Rust toolchain here can build std from source for the MIPS targets.
Install, as root, either a nightly with its sources:
  rustup toolchain install nightly --component rust-src
or Debian's Rust 1.96 with its sources (Debian 12):
  apt-get install -t bookworm-security rustc-web cargo-web rust-web-src
EOF
    fi
    # cargo-zigbuild runs `python3 -m ziglang` when no `zig` is on PATH.
    if ! command -v cargo-zigbuild >/dev/null 2>&1 \
        || ! { command -v zig >/dev/null 2>&1 || python3 -c 'import ziglang' 2>/dev/null; }; then
        lacking="$lacking${lacking:+, }cargo-zigbuild and zig"
        cat >&2 <<'EOF'
make dist: cargo-zigbuild and zig (the linker for every target) are missing. Install:
  python3 -m pip install cargo-zigbuild==0.24.1 ziglang==0.17.1
(Debian's own python3 wants --break-system-packages, or a venv whose bin/ is on PATH)
EOF
    fi
    if [ -n "$lacking" ]; then
        echo "make dist: missing $lacking; \`sudo scripts/deps.sh cross\` installs all of it on Debian 12" >&2
        exit 1
    fi
    export RUSTC CARGO
}

find_toolchain
echo "toolchain: $toolchain ($("$RUSTC" --version)), cargo-zigbuild $(cargo-zigbuild --version | cut -d' ' -f2)"
if [ "${1:-}" = --toolchain ]; then
    exit 0
fi

if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086  # a list of target names
    set -- $ALL_TARGETS
fi
for target in "$@"; do
    echo "== $target"
    started=$(date +%s)
    # optimize_for_size: std without its default features (backtrace
    # symbolisation), and its smaller algorithms. trim-paths: no build-machine
    # paths in panic messages (the binary does not depend on where it was built).
    cargo-zigbuild zigbuild --release --locked --target "$target" \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
        -Ztrim-paths --config 'profile.release.trim-paths="all"'
    bin=$CARGO_TARGET_DIR/$target/release/wg-failsafe
    # Sections that are never loaded and that `strip` keeps: MIPS procedure
    # descriptors (.pdr, 94 KB of a 680 KB mipsel binary) and the linkers' .comment.
    if ! objcopy -R .pdr -R .comment "$bin" 2>/dev/null; then
        echo "note: this objcopy cannot rewrite $target binaries (binutils-multiarch can); .pdr kept" >&2
    fi
    echo "$target: $(stat -c %s "$bin") bytes, built in $(($(date +%s) - started)) s"
done
