#!/bin/bash
# Acceptance checks of what `make dist` built (`make dist-test`; CI runs it).
# Needs root: unshare(1), dpkg --root, and the namespace lab (tests/lab/lab.sh).
#
#   binaries  static, stripped, non-PIE ELF for the right machine, byte order and
#             ABI; under qemu-user `--version`, `--help` and `check -c` on the
#             example configuration (in an empty network namespace, so the
#             answer is the same on every machine); sizes
#   packages  Architecture, exact file list and modes, size, lintian errors, and
#             in a scratch root: install, upgrade from an older version keeping
#             the user's configuration, remove, purge
#   amd64     in the lab: installing and upgrading change no route or rule; the
#             cron command is silent, idle without a configuration and activates
#             with one; removing the package while the failsafe is active restores
#             every table; peak RSS of a healthy `run` of the x86_64 musl binary
#
# Ends with "N passed, N failed"; exits 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

CROSS=${CARGO_TARGET_DIR:-target/cross}
DIST=${DIST_DIR:-target/dist}
LAB=tests/lab/lab.sh
MIPSEL_MAX_BYTES=$((1536 * 1024)) # 1.5 MiB
MIPSEL_AIM_BYTES=$((1024 * 1024))
DEB_MAX_BYTES=$((700 * 1024))
RSS_MAX_KIB=1024

if [ "$(id -u)" -ne 0 ]; then
    echo "dist-test: needs root (dpkg --root, unshare -n, the namespace lab)" >&2
    exit 2
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
passed=0
failed=0
ok() {
    echo "  ok   $*"
    passed=$((passed + 1))
}
bad() {
    echo "  FAIL $*"
    failed=$((failed + 1))
}
# expect WHAT COMMAND...: ok if the command succeeds
expect() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
not() { ! "$@"; }

work=$(mktemp -d)
lab_id=""
cleanup() {
    [ -n "$lab_id" ] && "$LAB" down "$lab_id" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# triple, dpkg architecture, how to run it, what `file` must say about machine and ABI
mapfile -t TARGETS < <(grep -v -e '^#' -e '^$' packaging/targets)

# The example configuration as a user would install it (root-owned, 0600).
conf=$work/example.conf
install -m 0600 packaging/wg-failsafe.conf.example "$conf"

indent() { sed 's/^/  | /' "$@"; }

# Conditions on the last command's $out and $rc.
help_ok() { [ "$rc" -eq 0 ] && grep -q '^Usage: wg-failsafe ' <<<"$out"; }
check_failed() { [ "$rc" -eq 1 ] && tail -n 1 <<<"$out" | grep -qE '^wg-failsafe: [0-9]+ check\(s\) failed$'; }

# ---------------------------------------------------------------- binaries
sizes=""
for entry in "${TARGETS[@]}"; do
    IFS='|' read -r triple arch runner machine <<<"$entry"
    read -ra run <<<"$runner"
    bin=$CROSS/$triple/release/wg-failsafe
    echo "== $triple"
    if [ ! -f "$bin" ]; then
        bad "$bin exists (run make dist)"
        continue
    fi
    kind=$(file -b "$bin")
    echo "  file: $kind"
    expect "file: $machine" grep -q "^$machine" <<<"$kind"
    expect "file: statically linked, stripped" grep -q "statically linked, stripped$" <<<"$kind"
    header=$(readelf -h "$bin")
    expect "readelf: type EXEC (not PIE)" grep -q "Type: *EXEC" <<<"$header"
    expect "readelf: no program interpreter, no dynamic section" \
        not grep -qE 'INTERP|DYNAMIC' <<<"$(readelf -l "$bin")"
    flags=$(sed -n 's/^ *Flags: *//p' <<<"$header")
    case $arch in
    mipsel) expect "ABI o32, mips32r2 ($flags)" grep -q "o32, mips32r2" <<<"$flags" ;;
    mips) expect "tuned for Octeon ($flags)" grep -q "octeon" <<<"$flags" ;;
    armhf) expect "hard-float EABI ($flags)" grep -q "hard-float ABI" <<<"$flags" ;;
    esac

    out=$("${run[@]}" "$bin" --version 2>&1)
    expect "--version says \"$out\"" test "$out" = "wg-failsafe $version"
    out=$("${run[@]}" "$bin" --help 2>&1)
    rc=$?
    expect "--help exits 0 and shows the usage" help_ok
    # An empty network namespace: no eth0, eth1, wg0 or switch0 there.
    out=$(unshare -n "${run[@]}" "$bin" check -c "$conf" 2>&1)
    rc=$?
    indent <<<"$out"
    expect "check exits 1 and ends with the count of failed checks" check_failed
    if [ "$arch" = mips ]; then
        # qemu-user does not byte-swap every nested attribute of a link dump for a
        # big-endian guest, so here `check` cannot list the links; a real kernel can.
        expect "check names what failed" grep -q "^FAIL " <<<"$out"
    else
        expect "check names the missing interface" grep -q "^FAIL BACKUP_DEV eth1 exists" <<<"$out"
    fi
    size=$(stat -c %s "$bin")
    sizes="$sizes$(printf '  %-32s %9d bytes %8.1f KiB' "$triple" "$size" "$(awk -v b="$size" 'BEGIN { print b / 1024 }')")"$'\n'
    if [ "$arch" = mipsel ]; then
        expect "mipsel binary $size bytes <= 1.5 MiB ($MIPSEL_MAX_BYTES)" test "$size" -le "$MIPSEL_MAX_BYTES"
        if [ "$size" -le "$MIPSEL_AIM_BYTES" ]; then
            echo "  note mipsel binary is within the 1 MiB aim"
        else
            echo "  note mipsel binary is $((size - MIPSEL_AIM_BYTES)) bytes over the 1 MiB aim"
        fi
    fi
done

# ---------------------------------------------------------------- packages
# The files every package installs, nothing more.
expected_files="./etc/cron.d/wg-failsafe -rw-r--r--
./etc/init.d/wg-failsafe -rwxr-xr-x
./lib/systemd/system/wg-failsafe.service -rw-r--r--
./usr/lib/wg-failsafe/transition -rwxr-xr-x
./usr/sbin/wg-failsafe -rwxr-xr-x
./usr/share/doc/wg-failsafe/README.md -rw-r--r--
./usr/share/doc/wg-failsafe/changelog.gz -rw-r--r--
./usr/share/doc/wg-failsafe/copyright -rw-r--r--
./usr/share/doc/wg-failsafe/wg-failsafe.conf.example -rw-r--r--
./usr/share/lintian/overrides/wg-failsafe -rw-r--r--"

# new_root DIR ARCH: an empty root with a dpkg database that accepts ARCH
new_root() {
    mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates"
    : >"$1/var/lib/dpkg/status"
    [ "$2" = "$(dpkg --print-architecture)" ] || dpkg --root="$1" --add-architecture "$2"
}

# older_deb DEB OUT: the same package labelled 0.0.0~older, to test upgrades
older_deb() {
    local tree=$work/older-tree
    rm -rf "$tree"
    dpkg-deb -R "$1" "$tree"
    sed -i 's/^Version: .*/Version: 0.0.0~older/' "$tree/DEBIAN/control"
    dpkg-deb --root-owner-group -Znone --build "$tree" "$2" >/dev/null
}

# in_root ARGS...: dpkg on the current scratch root ("${dpkg_root[@]}"), output in $work/log
in_root() { "${dpkg_root[@]}" "$@" >"$work/log" 2>&1; }

# all_installed ROOT: every path dpkg lists for the package exists
all_installed() {
    local p
    while read -r p; do
        [ -e "$1$p" ] || return 1
    done < <(dpkg --root="$1" -L wg-failsafe)
}

# Files left in a root besides dpkg's database and the user's configuration.
leftovers() {
    (cd "$1" && find . -mindepth 1 -not -path './var/lib/dpkg*' -not -path './config*' -type f | sort)
}

debs=()
deb_sizes=""
for entry in "${TARGETS[@]}"; do
    IFS='|' read -r triple arch _ <<<"$entry"
    deb=$DIST/wg-failsafe_${version}_$arch.deb
    echo "== $deb"
    if [ ! -f "$deb" ]; then
        bad "$deb exists (run make dist)"
        continue
    fi
    debs+=("$deb")
    expect "Architecture: $arch" test "$(dpkg-deb -f "$deb" Architecture)" = "$arch"
    expect "Version: $version" test "$(dpkg-deb -f "$deb" Version)" = "$version"
    expect "members debian-binary, control.tar.gz, data.tar.xz (old dpkg reads them)" \
        test "$(ar t "$deb" | tr '\n' ' ')" = "debian-binary control.tar.gz data.tar.xz "
    listing=$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $6, $1 }' | sort)
    if [ "$listing" = "$expected_files" ]; then
        ok "contents: exactly the expected files, modes and owners"
    else
        bad "contents differ from the expected list:"
        diff <(echo "$expected_files") <(echo "$listing") | indent
    fi
    expect "every file owned by root:root" \
        not grep -qv '^root/root$' <<<"$(dpkg-deb --contents "$deb" | awk '{ print $2 }')"
    expect "the cron entry is a conffile" grep -qx /etc/cron.d/wg-failsafe <<<"$(dpkg-deb -I "$deb" conffiles)"
    expect "the init script is a conffile" grep -qx /etc/init.d/wg-failsafe <<<"$(dpkg-deb -I "$deb" conffiles)"
    dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/sbin/wg-failsafe >"$work/payload"
    expect "the packaged binary is the one built" cmp -s "$work/payload" "$CROSS/$triple/release/wg-failsafe"
    size=$(stat -c %s "$deb")
    deb_sizes="$deb_sizes$(printf '  %-32s %9d bytes %8.1f KiB' "$(basename "$deb")" "$size" "$(awk -v b="$size" 'BEGIN { print b / 1024 }')")"$'\n'
    expect "$size bytes <= 700 KiB" test "$size" -le "$DEB_MAX_BYTES"

    # A scratch root. dpkg runs the maintainer scripts without chroot (the root has
    # no shell) and tells them the root in DPKG_ROOT. An empty network namespace
    # keeps whatever the scripts run away from this machine's routes.
    root=$work/root-$arch
    new_root "$root" "$arch"
    dpkg_root=(unshare -n dpkg --root="$root" --force-script-chrootless)
    older_deb "$deb" "$work/older_$arch.deb"
    expect "installs (the older version) into a scratch root" in_root -i "$work/older_$arch.deb"
    install -D -m 0600 "$conf" "$root/config/user-data/wg-failsafe.conf"
    expect "upgrades to $version over the older version" in_root -i "$deb"
    expect "the upgrade kept the user's configuration" cmp -s "$conf" "$root/config/user-data/wg-failsafe.conf"
    expect "every packaged file is installed" all_installed "$root"
    expect "removes" in_root -r wg-failsafe
    expect "after removal only the conffiles are left" \
        test "$(leftovers "$root" | tr '\n' ' ')" = "./etc/cron.d/wg-failsafe ./etc/init.d/wg-failsafe "
    expect "purges" in_root -P wg-failsafe
    expect "after purge nothing is left" test -z "$(leftovers "$root")"
    expect "the user's configuration is still there" cmp -s "$conf" "$root/config/user-data/wg-failsafe.conf"
done

echo "== lintian (errors fail; warnings and notes are shown)"
for deb in "${debs[@]}"; do
    lintian --fail-on error --display-info "$deb" >"$work/lintian" 2>&1
    rc=$?
    grep -v "running with root privileges" "$work/lintian" | indent
    expect "lintian: no error in $(basename "$deb")" test "$rc" -eq 0
done

# ---------------------------------------------------------------- the lab (amd64)
deb=$DIST/wg-failsafe_${version}_amd64.deb
x86=$CROSS/x86_64-unknown-linux-musl/release/wg-failsafe
echo "== $deb in the lab: install, upgrade and removal while the failsafe is active"
if [ -f "$deb" ]; then
    lab_id=dt$(($$ % 100000))
    if "$LAB" up "$lab_id" >"$work/lab.log" 2>&1; then
        rtr=(ip netns exec "$lab_id-rtr")
        root=$work/root-lab
        new_root "$root" amd64
        user_conf=$root/config/user-data/wg-failsafe.conf
        dpkg_root=("${rtr[@]}" dpkg --root="$root" --force-script-chrootless)
        tables() { "$LAB" tables "$lab_id"; }
        # The packaged cron command, its absolute paths moved into the scratch root
        # (and the binary told where the configuration now is).
        cron_tick() {
            local cmd
            cmd=$(sed -n 's/^\* \* \* \* \* root //p' "$root/etc/cron.d/wg-failsafe")
            cmd=${cmd//\/config\//$root/config/}
            cmd=${cmd//\/usr\/sbin\//$root/usr/sbin/}
            "${rtr[@]}" env WG_FAILSAFE_CONF="$user_conf" sh -c "$cmd" 2>&1
        }
        is_on() { "${rtr[@]}" "$root/usr/sbin/wg-failsafe" -c "$user_conf" status --json | grep '"mode":"failsafe"' > /dev/null; }
        before=$(tables)
        expect "installs (the older version)" in_root -i "$work/older_amd64.deb"
        expect "installing changed no route or rule" test "$(tables)" = "$before"
        "$LAB" primary "$lab_id" down >/dev/null
        down=$(tables)
        out=$(cron_tick)
        expect "without a configuration the cron command prints nothing" test -z "$out"
        expect "without a configuration it changes nothing (primary down)" test "$(tables)" = "$down"
        install -D -m 0600 "/tmp/wfs-lab-$lab_id/wg-failsafe.conf" "$user_conf"
        out=$(cron_tick)
        expect "with a configuration the cron command prints nothing" test -z "$out"
        expect "and activates the failsafe (primary down)" is_on
        active=$(tables)
        expect "upgrades while the failsafe is active" in_root -i "$deb"
        expect "upgrading changed no route or rule" test "$(tables)" = "$active"
        expect "the upgrade kept the configuration" cmp -s "/tmp/wfs-lab-$lab_id/wg-failsafe.conf" "$user_conf"
        in_root -r wg-failsafe
        rc=$?
        indent "$work/log"
        expect "removes while the failsafe is active" test "$rc" -eq 0
        expect "the prerm restored the routes first" grep -q "DEACTIVATED" "$work/log"
        "$LAB" primary "$lab_id" up >/dev/null
        after=$(tables)
        if [ "$after" = "$before" ]; then
            ok "every table and rule is as before the failsafe"
        else
            bad "tables after removal differ from before:"
            diff <(echo "$before") <(echo "$after") | indent
        fi
        expect "purges" in_root -P wg-failsafe
    else
        indent "$work/lab.log"
        bad "lab up $lab_id"
    fi
    "$LAB" down "$lab_id" >/dev/null 2>&1
    lab_id=""
else
    bad "$deb exists (run make dist)"
fi

echo "== peak RSS of a healthy run of the x86_64 musl binary (bench/bench.py, in the lab)"
if [ -x "$x86" ] && [ -x target/measure ]; then
    python3 bench/bench.py target/measure "$x86" 50 1 >"$work/bench" 2>&1
    rc=$?
    indent "$work/bench"
    # The largest of the healthy ticks' maxima (with and without TRACK_IPS).
    max_kib=$(sed -n 's/^ *peak RSS[^:]*: .*max \([0-9.]*\),.*/\1/p' "$work/bench" | sort -n | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$max_kib" ]; then
        expect "peak RSS at most $max_kib KiB <= $RSS_MAX_KIB KiB" \
            awk -v m="$max_kib" -v l="$RSS_MAX_KIB" 'BEGIN { exit !(m <= l) }'
    else
        bad "bench.py ran and reported a peak RSS"
    fi
else
    bad "$x86 and target/measure exist (make dist, make target/measure)"
fi

echo "== sizes"
echo "stripped binaries:"
printf '%s' "$sizes"
echo "packages:"
printf '%s' "$deb_sizes"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
