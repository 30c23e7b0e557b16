#!/bin/bash
# vm/mkinitramfs.sh ARCH PAYLOAD_DIR OUT — write the guest initramfs to OUT: two
# concatenated gzip'd cpio (newc) archives, which the kernel unpacks one after the other:
#   base    (cached as $VM_CACHE/ARCH/base.cpio.gz, rebuilt when its inputs change):
#           /init (vm/init), busybox, dash as /bin/sh, the guest tools with their ELF
#           interpreter and the shared objects named by their NEEDED entries
#           (recursively), and the kernel modules $VM_MODULES + $VM_EXTRA_MODULES with
#           their dependencies (modules.dep, modules.softdep), to be insmod'ed in the
#           order written to /etc/vm-modules; the files $VM_EXTRA_FILES names (paths
#           or globs inside the packages, e.g. pppd's plugins) with their libraries too;
#   payload (built every run): PAYLOAD_DIR copied to /payload.
# Needs fetch.sh to have filled $VM_CACHE/ARCH/root.
set -euo pipefail
ARCH=${1:?usage: mkinitramfs.sh ARCH PAYLOAD_DIR OUT} PAYLOAD=${2:?} OUT=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${VM_CACHE:-$HERE/.cache}/$ARCH
R=$CACHE/root
kver=$(cat "$R/.kver")
# Modules: WireGuard, veth and dummy for lab links, tun for userspace WireGuard, and
# nftables with conntrack/NAT/mark support. Policy routing (IP_MULTIPLE_TABLES, fib
# rules) is built into both kernels. Names missing from a kernel are reported, not fatal.
MODULES=${VM_MODULES:-wireguard veth dummy tun nf_tables nft_ct nft_chain_nat nft_masq nft_nat nft_fib_inet nft_reject_inet}
MODULES="$MODULES ${VM_EXTRA_MODULES:-}"
TOOLS="dash ip ss bridge wg nft ${VM_EXTRA_TOOLS:-}"
FILES=${VM_EXTRA_FILES:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpio_gz() { # directory -> gzip'd newc cpio on stdout, every file owned by root
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -6
}

key=$( { cat "$CACHE/root.manifest" "$HERE/init" "$0"; echo "$MODULES|$TOOLS|$FILES"; } | sha256sum | cut -c1-16)
if [ "$(cat "$CACHE/base.key" 2>/dev/null)" != "$key" ] || [ ! -f "$CACHE/base.cpio.gz" ]; then
	S=$tmp/base
	mkdir -p "$S"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,var,payload}
	ln -s ../run "$S/var/run"

	# Paths below are relative to the root of the unpacked packages ($R) and of the
	# stage ($S). target LINK: where symlink LINK points, inside $R (never the host's).
	target() {
		local t
		t=$(readlink "$R/$1")
		case $t in /*) ;; *) t=/$(dirname "$1")/$t ;; esac
		t=$(realpath -ms "$t")
		echo "${t#/}"
	}
	# resolve PATH: PATH with every symlink followed.
	resolve() {
		local p=$1
		while [ -L "$R/$p" ]; do p=$(target "$p"); done
		echo "$p"
	}
	# copy PATH: copy PATH into the stage; a symlink is kept, and what it points to copied.
	copy() {
		local p=$1
		[ -e "$S/$p" ] || [ -L "$S/$p" ] && return 0
		[ -e "$R/$p" ] || [ -L "$R/$p" ] || { echo "vm: $p not in the packages" >&2; return 1; }
		mkdir -p "$S/$(dirname "$p")"
		if [ -L "$R/$p" ]; then
			cp -P "$R/$p" "$S/$p"
			copy "$(target "$p")"
		elif [ -d "$R/$p" ]; then
			cp -a "$R/$p/." "$S/$p/"
		else
			cp -p "$R/$p" "$S/$p"
		fi
	}
	# find_lib SONAME [RUNPATH]: its root-relative path, RUNPATH's directories (colon-
	# separated, e.g. systemd's private libraries) first, then the multiarch ones.
	find_lib() {
		local d rp
		IFS=: read -ra rp <<< "${2:-}"
		for d in "${rp[@]/#/$R}" "$R"/lib/*-linux-gnu* "$R"/usr/lib/*-linux-gnu* "$R"/lib "$R"/usr/lib "$R"/lib64; do
			if [ -e "$d/$1" ] || [ -L "$d/$1" ]; then echo "${d#"$R"/}/$1"; return 0; fi
		done
		return 1
	}
	declare -A seen=()
	# add_elf PATH [RUNPATH]: copy an executable or library with its interpreter and NEEDED
	# libs, found in its RUNPATH and the one of what needs it (systemd's RUNPATH directory
	# holds libsystemd-shared, which its libsystemd-core needs too), then the usual places.
	add_elf() {
		local f=$1 interp lib p runpath
		copy "$f"
		f=$(resolve "$f")
		readelf -h "$R/$f" > /dev/null 2>&1 || return 0   # not ELF: a script or data
		interp=$(readelf -lW "$R/$f" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
		if [ -n "$interp" ]; then copy "${interp#/}"; fi
		runpath=$(readelf -dW "$R/$f" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p')${2:+:$2}
		for lib in $(readelf -dW "$R/$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			[ -z "${seen[$lib]:-}" ] || continue
			seen[$lib]=1
			p=$(find_lib "$lib" "$runpath") || { echo "vm: $lib (needed by $f) not found" >&2; return 1; }
			add_elf "$p" "$runpath"
		done
	}

	copy bin/busybox
	for t in $TOOLS; do
		found=
		for d in bin sbin usr/bin usr/sbin; do
			[ -e "$R/$d/$t" ] || [ -L "$R/$d/$t" ] || continue
			add_elf "$d/$t"
			found=1
		done
		[ -n "$found" ] || echo "vm: warning: tool $t is not in the $ARCH packages" >&2
	done
	# Files that are no tool on PATH (pppd's plugins): globs, matched inside the packages.
	read -ra files <<< "$FILES"   # split, not globbed: the globs are matched in $R below
	for f in "${files[@]}"; do
		for p in "$R"/$f; do
			[ -e "$p" ] || [ -L "$p" ] || { echo "vm: warning: $f is not in the $ARCH packages" >&2; continue; }
			add_elf "${p#"$R"/}"
		done
	done
	# /bin/sh is dash, as on Debian: Debian's static busybox is a "standalone"
	# shell that runs its own applets (ip, …) before anything on PATH.
	ln -s dash "$S/bin/sh"
	for d in etc/iproute2 usr/share/iproute2 usr/lib/iproute2; do
		if [ -d "$R/$d" ]; then copy "$d"; fi
	done

	# Kernel modules in load order: a depth-first walk of modules.dep, dependencies first,
	# plus the soft dependencies of modules.softdep (e.g. libcrc32c needs crc32c), which
	# may be aliases (modules.alias); those are marked "-": optional, as some alias
	# providers only work on some CPUs.
	md=lib/modules/$kver
	awk -v want="$MODULES" '
		function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.(xz|gz|zst))?$/, "", p); gsub(/-/, "_", p); return p }
		function byname(n, opt,   m, k, i) {
			gsub(/-/, "_", n)
			if (n in path) { visit(path[n], opt); return 1 }
			if (!(n in alias)) return 0
			k = split(alias[n], m, " ")
			for (i = 1; i <= k; i++) if (m[i] in path) visit(path[m[i]], "-")
			return 1
		}
		function visit(p, opt,   d, k, i, n) {
			if (p in done) return
			done[p] = 1
			k = split(deps[p], d, " ")
			for (i = 1; i <= k; i++) visit(d[i], opt)
			n = base(p)
			k = split(pre[n], d, " ")
			for (i = 1; i <= k; i++) byname(d[i], "-")
			print opt p
			k = split(post[n], d, " ")
			for (i = 1; i <= k; i++) byname(d[i], "-")
		}
		FILENAME ~ /modules\.dep$/ { p = $1; sub(/:$/, "", p); $1 = ""; deps[p] = $0; path[base(p)] = p }
		FILENAME ~ /modules\.alias$/ && $1 == "alias" { a = $2; gsub(/-/, "_", a); alias[a] = alias[a] " " base($3) }
		FILENAME ~ /modules\.softdep$/ && $1 == "softdep" {
			n = base($2); mode = "pre"
			for (i = 3; i <= NF; i++) {
				if ($i == "pre:" || $i == "post:") { mode = substr($i, 1, length($i) - 1); continue }
				if (mode == "pre") pre[n] = pre[n] " " $i; else post[n] = post[n] " " $i
			}
		}
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) if (!byname(w[i], "")) print "?" w[i]
		}' "$R/$md/modules.dep" "$R/$md/modules.alias" "$R/$md/modules.softdep" > "$tmp/order"
	: > "$S/etc/vm-modules"
	while read -r m; do
		opt=
		case $m in
		-*) opt=-; m=${m#-} ;;
		\?*)
			m=${m#\?}
			if sed 's/-/_/g' "$R/$md/modules.builtin" | grep -q "/$m\.ko\$"; then echo "vm: module $m is built in" >&2
			else echo "vm: warning: module $m is not in kernel $kver" >&2; fi
			continue ;;
		esac
		mkdir -p "$S/$md/$(dirname "$m")"
		case $m in   # insmod wants plain .ko files
		*.ko.xz) xz -dc "$R/$md/$m" > "$S/$md/${m%.xz}"; m=${m%.xz} ;;
		*.ko.zst) zstd -qdc "$R/$md/$m" > "$S/$md/${m%.zst}"; m=${m%.zst} ;;
		*.ko.gz) gzip -dc "$R/$md/$m" > "$S/$md/${m%.gz}"; m=${m%.gz} ;;
		*) cp -p "$R/$md/$m" "$S/$md/$m" ;;
		esac
		echo "$opt$m" >> "$S/etc/vm-modules"
	done < "$tmp/order"

	install -m 755 "$HERE/init" "$S/init"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$S/etc/passwd"
	printf 'root:x:0:\n' > "$S/etc/group"
	mknod -m 600 "$S/dev/console" c 5 1 2> /dev/null || true   # else the kernel's own
	cpio_gz "$S" > "$CACHE/base.cpio.gz.new"
	mv "$CACHE/base.cpio.gz.new" "$CACHE/base.cpio.gz"
	echo "$key" > "$CACHE/base.key"
	echo "vm: built base initramfs ($(du -k "$CACHE/base.cpio.gz" | cut -f1) KiB," \
		"$(wc -l < "$S/etc/vm-modules") modules)" >&2
fi

# The payload, always fresh. cp -L: symlinks in PAYLOAD_DIR are followed.
mkdir -p "$tmp/p/payload"
cp -RL "$PAYLOAD/." "$tmp/p/payload/"
chmod -R u+rwX,go+rX "$tmp/p"
cpio_gz "$tmp/p" > "$tmp/payload.cpio.gz"
cat "$CACHE/base.cpio.gz" "$tmp/payload.cpio.gz" > "$OUT"
