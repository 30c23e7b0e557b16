#!/bin/sh
# Builds the binaries `make bench` compares: this tree's and an older revision's, the
# same way each (`make bench` runs this).
#
#   bench/builds.sh BASE OUT
#
# BASE is a git revision (the Makefile's BASE, default the tag before-one-judge). It is
# checked out in a temporary worktree, target/base/src, removed afterwards; its builds
# keep their own target directory (target/base/cargo, target/base/cross), so a second
# `make bench` rebuilds the old crate only, never its dependencies or std.
#
# For each of new (this tree) and old (BASE), in OUT/new/ and OUT/old/:
#   host          `cargo build --release --locked`, always;
#   x86_64        the static musl build (scripts/cross.sh, as `make dist`), and
#   mipsel        the static mipsel build, stripped and without .pdr (scripts/cross.sh),
#   mipsel.deb    its package (scripts/mkdeb.sh),
# these three only when the cross toolchain is present (`scripts/cross.sh --toolchain`),
# and `rev`, the revision's short hash and subject (new: `+` when the tree has changes
# not committed). BASE's own scripts build BASE. Prints `cross: yes` or `cross: no (...)` last.
set -eu

base=$1
out=$2
root=$(pwd)
mipsel=mipsel-unknown-linux-musl
x86=x86_64-unknown-linux-musl
cargo=${CARGO:-cargo}

if scripts/cross.sh --toolchain >/dev/null 2>&1; then
    cross=yes
else
    cross="no ($(scripts/cross.sh --toolchain 2>&1 | grep -m1 'missing' || echo 'no cross toolchain'))"
fi
rm -rf "$out/new" "$out/old"
mkdir -p "$out/new" "$out/old"

# this tree
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo + || true)
git log -1 --format="%h$dirty %s" | cut -c1-100 >"$out/new/rev"
$cargo build --release --locked
cp target/release/wg-failsafe "$out/new/host"
if [ "$cross" = yes ]; then
    CARGO_TARGET_DIR=target/cross scripts/cross.sh $x86 $mipsel
    cp target/cross/$x86/release/wg-failsafe "$out/new/x86_64"
    cp target/cross/$mipsel/release/wg-failsafe "$out/new/mipsel"
    deb=$(mktemp -d)
    scripts/mkdeb.sh "$out/new/mipsel" mipsel "$deb" >/dev/null
    cp "$deb"/wg-failsafe_*.deb "$out/new/mipsel.deb"
    rm -rf "$deb"
fi

# BASE, in a worktree of its own (a stale registration from an interrupted run is pruned)
src=target/base/src
git worktree prune
if [ -e "$src" ]; then
    git worktree remove --force "$src"
fi
git worktree add --detach --quiet "$src" "$base"
trap 'git worktree remove --force "$root/$src"' EXIT
git -C "$src" log -1 --format='%h %s' | cut -c1-100 >"$out/old/rev"
(
    cd "$src"
    CARGO_TARGET_DIR="$root/target/base/cargo" $cargo build --release --locked
    cp "$root/target/base/cargo/release/wg-failsafe" "$root/$out/old/host"
    if [ "$cross" = yes ]; then
        CARGO_TARGET_DIR="$root/target/base/cross" scripts/cross.sh $x86 $mipsel
        cp "$root/target/base/cross/$x86/release/wg-failsafe" "$root/$out/old/x86_64"
        cp "$root/target/base/cross/$mipsel/release/wg-failsafe" "$root/$out/old/mipsel"
        deb=$(mktemp -d)
        scripts/mkdeb.sh "$root/$out/old/mipsel" mipsel "$deb" >/dev/null
        cp "$deb"/wg-failsafe_*.deb "$root/$out/old/mipsel.deb"
        rm -rf "$deb"
    fi
)
echo "cross: $cross"
