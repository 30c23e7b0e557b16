#!/bin/bash
# The README's first command (`make lab`): builds a lab router, shows where LAN
# traffic leaves, pulls the primary WAN's cable, runs one wg-failsafe tick, shows
# the traffic path and every table again, plugs the cable back, runs one more tick,
# and checks that every table and rule is exactly what it was. Dual-stack: IPv6 moves
# onto the tunnel too (the VPS has IPv6 on it). Tears down on exit.
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
name() {
    case $1 in
        198.51.100.2 | "[2001:0db8:0000:0001:0000:0000:0000:0002]") echo ISP1 ;;
        198.51.100.6 | "[2001:0db8:0000:0002:0000:0000:0000:0002]") echo ISP2 ;;
        198.51.100.10 | "[2001:0db8:0000:0003:0000:0000:0000:0002]") echo "VPS (tunnel)" ;;
        *) echo "$1" ;;
    esac
}
paths() {
    printf '  %-10s %-16s %-16s %-16s %-16s %-16s\n' "" "port 80 (main)" "8080 (mark→201)" "8081 (mark→202)" \
        "IPv6 80" "IPv6 8080 (→201)"
    for c in c1 c2; do
        printf '  %-10s' "$c"
        for p in 80 8080 8081; do
            printf ' %-16s' "$(name "$("$LAB" fetch "$ID" $c $p 2>/dev/null || true)")"
        done
        for p in 80 8080; do
            printf ' %-16s' "$(name "$("$LAB" fetch6 "$ID" $c $p 2>/dev/null || true)")"
        done
        printf "  dns: %s\n" "$("$LAB" resolve "$ID" $c 2>/dev/null || true)"
    done
}
defaults() {
    for f in -4 -6; do
        "$LAB" exec "$ID" rtr ip $f route show table all | grep '^default' | sed 's/^/  /'
        "$LAB" exec "$ID" rtr ip $f rule show | grep '^69:' | sed "s/^/  rule $f /" || true
    done
}
# Every table and rule of both families (an advertisement's remaining lifetime ticks).
tables() { "$LAB" tables "$ID" | sed 's/ expires [0-9]*sec//'; }
tick() { local t0 t1; t0=$(date +%s%N); "$LAB" exec "$ID" rtr "$BIN" -c "$CONF" -v run 2>&1 | sed 's/^/  | /'; t1=$(date +%s%N); echo "  (wall time of the tick: $(( (t1 - t0) / 1000000 )) ms)"; }

bold "Building the dual-stack lab router $ID-rtr (eth0 primary WAN, eth1 backup WAN, WireGuard ${ID}w to a VPS)"
LAB_IPV6=yes "$LAB" up "$ID"
before=$(tables)
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
after=$(tables)
if [ "$before" = "$after" ]; then
    bold "ip -4/-6 route show table all + ip -4/-6 rule show: identical to before the outage"
else
    bold "TABLES DIFFER from before the outage:"; diff <(echo "$before") <(echo "$after") || true; exit 1
fi
