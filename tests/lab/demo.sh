#!/bin/bash
# The README's first command (`make lab`): builds a lab router, shows where LAN
# traffic leaves, pulls the primary WAN's cable, runs one wg-failsafe tick, shows
# the traffic path and every table again, plugs the cable back, runs one more tick,
# and checks that every table and rule is exactly what it was. Tears down on exit.
# Usage: demo.sh BINARY
set -eu
BIN=$(readlink -f "$1")
HERE=$(dirname "$(readlink -f "$0")")
LAB="$HERE/lab.sh"
ID=demo$(( $$ % 10000 ))
CONF=/tmp/wfs-lab-$ID/wg-failsafe.conf

trap '"$LAB" down "$ID"' EXIT
trap 'exit 130' INT TERM

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
paths() {
    printf '  %-22s %-16s %-16s %-16s\n' "" "port 80 (main)" "8080 (mark→201)" "8081 (mark→202)"
    for c in c1 c2; do
        local net=192.168.10.50; [ $c = c2 ] && net="192.168.20.50"
        printf '  %-22s' "$c $net"
        for p in 80 8080 8081; do
            src=$("$LAB" fetch "$ID" $c $p 2>/dev/null || true)
            case $src in 198.51.100.2) name="ISP1";; 198.51.100.6) name="ISP2";; 198.51.100.10) name="VPS (tunnel)";; *) name=$src;; esac
            printf ' %-16s' "$name"
        done
        printf "  dns: %s\n" "$("$LAB" resolve "$ID" $c 2>/dev/null || true)"
    done
}
defaults() { "$LAB" exec "$ID" rtr ip route show table all | grep '^default' | sed 's/^/  /'; "$LAB" exec "$ID" rtr ip rule show | grep '^69:' | sed 's/^/  rule /' || true; }
tick() { local t0 t1; t0=$(date +%s%N); "$LAB" exec "$ID" rtr "$BIN" -c "$CONF" -v run 2>&1 | sed 's/^/  | /'; t1=$(date +%s%N); echo "  (wall time of the tick: $(( (t1 - t0) / 1000000 )) ms)"; }

bold "Building the lab router $ID-rtr (eth0 primary WAN, eth1 backup WAN, WireGuard ${ID}w to a VPS)"
"$LAB" up "$ID"
before=$("$LAB" tables "$ID")
bold "Normal operation: where LAN traffic leaves (source address the internet sees)"
paths
bold "Default routes of every table"
defaults
bold "A healthy tick: nothing to do"
tick

bold "Pulling the primary WAN's cable (eth0 loses its carrier)"
"$LAB" primary "$ID" down
paths
bold "One wg-failsafe tick"
tick
bold "Failsafe active: every LAN host, marked or not, from both LAN subnets, leaves through the VPS"
paths
defaults

bold "Plugging the cable back in"
"$LAB" primary "$ID" up
bold "One wg-failsafe tick"
tick
paths
after=$("$LAB" tables "$ID")
if [ "$before" = "$after" ]; then
    bold "ip route show table all + ip rule show: identical to before the outage"
else
    bold "TABLES DIFFER from before the outage:"; diff <(echo "$before") <(echo "$after") || true; exit 1
fi
