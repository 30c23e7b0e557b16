#!/bin/bash
# vm/fetch.sh ARCH — download the guest's Debian packages (arch.sh: its DEB_ARCH and
# SUITE, bookworm unless said otherwise) and unpack
# them into $VM_CACHE/ARCH/root (default vm/.cache/ARCH/root):
#   - the kernel that KERNEL_META (arch.sh) depends on,
#   - busybox-static, dash, iproute2, wireguard-tools, nftables (+ the guest's own
#     GUEST_PKGS from arch.sh, + $VM_EXTRA_PKGS),
#   - every package of section "libs" in their Depends closure; mkinitramfs.sh later
#     copies only the shared objects the binaries really need (ELF NEEDED).
# The host's apt/dpkg state is never touched: package lists, archives and an empty dpkg
# status live under $VM_CACHE/ARCH/apt, and APT::Architecture is set only for these calls
# (no foreign architecture is added to dpkg). The host's apt.conf.d (proxy, validity
# settings) still applies; its update hooks and DEP-11 downloads are switched off.
# Idempotent: the lists are re-read at most once a day (or with VM_REFRESH=1), a .deb
# already present is not downloaded again, and root/ is re-extracted only when the set
# of .debs changes.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
ARCH=${1:?usage: fetch.sh ARCH}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=arch.sh
. "$HERE/arch.sh"
CACHE=${VM_CACHE:-$HERE/.cache}/$ARCH
A=$CACHE/apt
mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/sources.list.d" "$A/preferences.d" "$CACHE/debs"
touch "$A/status"

# put FILE: write stdin to FILE only if that changes it (a rewritten sources file
# would invalidate apt's package cache).
put() { cat > "$1.new"; if cmp -s "$1.new" "$1"; then rm "$1.new"; else mv "$1.new" "$1"; fi; }

# Private apt configuration, given with -c: apt reads it after the host's apt.conf.d,
# so these settings win (an APT_CONFIG file would be read before it).
put "$A/apt.conf" <<EOF
Dir::State::Lists "$A/lists";
Dir::State::status "$A/status";
Dir::State::extended_states "$A/extended_states";
Dir::Cache "$A";
Dir::Cache::archives "$A/archives";
Dir::Cache::pkgcache "$A/pkgcache.bin";
Dir::Cache::srcpkgcache "$A/srcpkgcache.bin";
Dir::Etc::SourceList "$A/sources.list";
Dir::Etc::SourceParts "$A/sources.list.d";
Dir::Etc::Preferences "$A/preferences";
Dir::Etc::PreferencesParts "$A/preferences.d";
APT::Architecture "$DEB_ARCH";
APT::Architectures { "$DEB_ARCH"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
apt_() { "$1" -c "$A/apt.conf" "${@:2}"; }

# Sources: $VM_APT_SOURCES (a .list or .sources file), else the host's entries for a
# bookworm suite, without any Architectures restriction, renamed to SUITE (the same
# mirrors carry bullseye, bullseye-updates and bullseye-security).
if [ -n "${VM_APT_SOURCES:-}" ]; then
	case $VM_APT_SOURCES in
	*.sources) put "$A/sources.list.d/host.sources" < "$VM_APT_SOURCES"; put "$A/sources.list" < /dev/null ;;
	*) put "$A/sources.list" < "$VM_APT_SOURCES"; put "$A/sources.list.d/host.sources" < /dev/null ;;
	esac
else
	{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
		sed -n 's/arch=[^] ]*//; s/\[ *\]//; /^deb[[:space:]].*[[:space:]]bookworm/p' |
		sed "s/bookworm/$SUITE/g" | put "$A/sources.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; ORS = "\n\n" }
		     /Suites:[^\n]*bookworm/ && !/Enabled:[ \t]*[Nn]o/' "$f" | grep -v '^Architectures:' || true
	done | sed "s/bookworm/$SUITE/g" | put "$A/sources.list.d/host.sources"
	if ! grep -qs . "$A/sources.list" "$A/sources.list.d/host.sources"; then
		echo "vm: the host's apt sources name no bookworm suite; set VM_APT_SOURCES" >&2
		exit 1
	fi
fi

update() { echo "vm: reading the $ARCH package lists" >&2; apt_ apt-get update -qq >&2; }
if [ -n "${VM_REFRESH:-}" ] || ! find "$A/lists" -maxdepth 1 -name '*InRelease' -mmin -1440 | grep . > /dev/null; then
	update
fi

# Resolve the package set: the kernel image, the tools, and the libs of their closure.
kpkg=${VM_KERNEL_PKG:-$(apt_ apt-cache depends "$KERNEL_META" |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')}
[ -n "$kpkg" ] || { echo "vm: $KERNEL_META names no kernel image" >&2; exit 1; }
roots="busybox-static dash iproute2 wireguard-tools ${VM_NFT-nftables} ${GUEST_PKGS:-} ${VM_EXTRA_PKGS:-}"
# shellcheck disable=SC2086
closure=$(apt_ apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances $roots | grep -v '^[ <]' | sort -u)
# Fields of the candidate versions of $@: "package section filename".
describe() {
	apt_ apt-cache show --no-all-versions "$@" | awk -F': ' '
		$1 == "Package" { p = $2 } $1 == "Version" { v = $2 }
		$1 == "Architecture" { a = $2 } $1 == "Section" { s = $2 }
		/^$/ && p != "" { gsub(/:/, "%3a", v); print p, s, p "_" v "_" a ".deb"; p = "" }'
}
# shellcheck disable=SC2086
libs=$(describe $closure | awk '$2 == "libs" { print $1 }')
# shellcheck disable=SC2086
pkgs=$(echo $kpkg $roots $libs | tr ' ' '\n' | sort -u)
# shellcheck disable=SC2086
describe $pkgs | awk '{ print $3 }' | sort > "$CACHE/manifest.new"

# Download what is missing (apt-get download skips files already present and intact);
# stale lists (a 404 on a superseded version) get one update and a retry.
cd "$CACHE/debs"
# shellcheck disable=SC2086
apt_ apt-get download -qq $pkgs >&2 || { update; apt_ apt-get download -qq $pkgs >&2; }
for f in *.deb; do grep -qxF "$f" "$CACHE/manifest.new" || rm -f "$f"; done   # old versions
while read -r f; do [ -f "$f" ] || { echo "vm: $f was not downloaded" >&2; exit 1; }; done < "$CACHE/manifest.new"

# Unpack (dpkg-deb only reads the archives) and index the modules with depmod.
if ! cmp -s "$CACHE/manifest.new" "$CACHE/root.manifest" || [ ! -f "$CACHE/root/.kver" ]; then
	echo "vm: unpacking $(wc -l < "$CACHE/manifest.new") packages for $ARCH" >&2
	rm -rf "$CACHE/root" "$CACHE/root.manifest"
	mkdir -p "$CACHE/root"
	while read -r f; do dpkg-deb -x "$f" "$CACHE/root"; done < "$CACHE/manifest.new"
	kver=$(ls "$CACHE/root/lib/modules")
	depmod -b "$CACHE/root" "$kver"
	echo "$kver" > "$CACHE/root/.kver"
	cp "$CACHE/manifest.new" "$CACHE/root.manifest"
fi
rm -f "$CACHE/manifest.new"
echo "vm: $ARCH kernel $(cat "$CACHE/root/.kver") ($kpkg)" >&2
