#!/bin/sh
# Wraps one static wg-failsafe binary in a .deb (`make dist` runs this).
#
#   scripts/mkdeb.sh BINARY DEB_ARCH OUTDIR
#
# dpkg-deb from a staging directory rather than cargo-deb: cargo-deb (3.8) derives
# Architecture from the Rust target triple and has no option to override it, so the
# Octeon binary (mips64-unknown-linux-muslabi64) would be labelled `mips64`, while
# the EdgeRouter's 32-bit userland only accepts `mips`. One path for all five.
#
# Contents: the binary, the load-balance transition wrapper, the cron entry and the
# daemon's init script (conffiles), its systemd unit (neither enabled), the example
# configuration, README, copyright, changelog, and lintian overrides for what is on
# purpose: a static binary, a daemon not enabled, and on mips a 64-bit binary.
set -eu
# Directories that install -D creates get 0755 whatever the caller's umask.
umask 022

bin=$1 arch=$2 out=$3
here=$(cd "$(dirname "$0")/.." && pwd)
pkg=$here/packaging

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)
changelog_version=$(sed -n '1s/^wg-failsafe (\([^)]*\)).*/\1/p' "$pkg/debian/changelog")
if [ "$version" != "$changelog_version" ]; then
    echo "mkdeb: Cargo.toml says $version, packaging/debian/changelog says $changelog_version" >&2
    exit 1
fi
# File dates in the package come from the changelog, so a rebuild is identical.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$pkg/debian/changelog" | head -n 1)" +%s)
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# mktemp makes 0700, which would become the mode of ./ in the package.
chmod 0755 "$stage"
doc=$stage/usr/share/doc/wg-failsafe
install -D -m 0755 "$bin" "$stage/usr/sbin/wg-failsafe"
install -D -m 0755 "$pkg/transition" "$stage/usr/lib/wg-failsafe/transition"
install -D -m 0644 "$pkg/wg-failsafe.cron" "$stage/etc/cron.d/wg-failsafe"
install -D -m 0755 "$pkg/wg-failsafe.init" "$stage/etc/init.d/wg-failsafe"
install -D -m 0644 "$pkg/wg-failsafe.service" "$stage/lib/systemd/system/wg-failsafe.service"
install -D -m 0644 "$pkg/wg-failsafe.conf.example" "$doc/wg-failsafe.conf.example"
install -D -m 0644 "$here/README.md" "$doc/README.md"
install -D -m 0644 "$pkg/debian/copyright" "$doc/copyright"
gzip -9n <"$pkg/debian/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# Overrides for every package, plus those of this architecture (mips: a 64-bit binary).
overrides=$stage/usr/share/lintian/overrides/wg-failsafe
install -D -m 0644 "$pkg/debian/lintian-overrides" "$overrides"
if [ -f "$pkg/debian/lintian-overrides.$arch" ]; then
    cat "$pkg/debian/lintian-overrides.$arch" >>"$overrides"
fi

install -d -m 0755 "$stage/DEBIAN"
installed_kib=$(du -s -k --apparent-size "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kib/" \
    "$pkg/debian/control" >"$stage/DEBIAN/control"
install -m 0644 "$pkg/debian/conffiles" "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$pkg/debian/$script" "$stage/DEBIAN/$script"
done
# Sums of every file but the conffiles (all of /etc), whose sums dpkg keeps itself.
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
    | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/wg-failsafe_${version}_$arch.deb
# --root-owner-group: every file root:root, whoever builds. --no-uniform-compression:
# xz for data.tar only and gzip for control.tar, which dpkg before 1.17.6 (EdgeOS 1.x,
# Debian wheezy) cannot read otherwise.
dpkg-deb --root-owner-group --no-uniform-compression -Zxz -z9 --build "$stage" "$deb" >/dev/null
echo "$deb: $(stat -c %s "$deb") bytes"
