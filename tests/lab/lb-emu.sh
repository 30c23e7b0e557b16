#!/bin/sh
# lb-emu.sh — an EMULATION of the EdgeOS load balancer, for the namespace lab. It is not
# Ubiquiti's code (that is closed); it does what ../shared/DESIGN.md's platform facts say
# the real one (and its Vyatta ancestor, VyOS's wan_lb) does, and nothing more:
#   - every cycle (LB_EMU_INTERVAL_S, default 1 s) it health-checks each WAN with its
#     route-test target: one ping out of that interface (-I), the ISP's gateway unless
#     LB_EMU_TARGETS says otherwise ("eth0=203.0.113.80 eth1=..."); one failure is dead,
#     one success is alive (the real one counts; the lab wants it quick);
#   - it steers NEW flows by connmark away from a dead WAN and back: the lab's lb_mark chain
#     marks the LAN's packets (topology.sh); a chain of ours after it gives a new flow that
#     was marked for a dead WAN the mark of a live one, saves each new flow's mark in its
#     conntrack entry and restores it on the flow's later packets from the LAN, so
#     established flows keep the mark (and the WAN) they started with;
#   - it re-imposes each live WAN's table default when that table has drifted, as wan_lb
#     does: `ip route replace default via GW dev IF table T` (metric 0, proto static);
#   - on each change of a WAN's state it calls the transition script, synchronously, as
#     EdgeOS does: LB_EMU_SCRIPT GROUP IFACE STATE, if that file is executable at the time
#     (so a test can write it after `lab.sh up`) (LB_EMU_GROUP, default WAN_FAILOVER;
#     state active or inactive — `failover`, a failover-only interface on standby, does not
#     occur: both WANs carry traffic here);
#   - it never touches main. It never points a dead WAN's table elsewhere (the real one
#     does not: the seed's Problem 1) unless LB_EMU_FAILOVER_TABLES=1, the variant of other
#     load balancers, scripts and admins: at the change, `ip route replace default via
#     <a live WAN's gateway> dev <it> table <the dead WAN's>`; the WAN's own default comes
#     back with it (the re-imposing above).
# The WANs (table, device, gateway, mark) are the topology's TOPO_LB_WANS. It runs inside
# the router's namespace, in the foreground (lab.sh starts it with LAB_LB_EMU=1 at `up`),
# and writes one line per action on stdout, which the lab logs and the tests wait on.
# Every WAN is taken as active at start, as the tables are built. With LB_EMU_CYCLES set it
# writes the number of cycles done into that file after each one (tests wait on it).
# shellcheck shell=sh
set -u

# shellcheck source=tests/lab/topology.sh
. "$(cd "$(dirname "$0")" && pwd)/topology.sh"
interval_s=${LB_EMU_INTERVAL_S:-1}
group=${LB_EMU_GROUP:-WAN_FAILOVER}
lan='{ "switch0", "lan2" }'

say() { echo "lb-emu: $*"; }

# field WAN N: the Nth (1-4) field of a TOPO_LB_WANS entry
field() { echo "$1" | cut -d: -f"$2"; }

# var DEV: a shell variable name for DEV's state
var() { echo "st_$1" | tr -c 'a-zA-Z0-9_\n' _; }

state() { eval "echo \${$(var "$1"):-active}"; }

target() {
	for _t in ${LB_EMU_TARGETS:-}; do
		if [ "${_t%%=*}" = "$1" ]; then echo "${_t#*=}"; return; fi
	done
	echo "$2"
}

# The first live WAN other than $1, or nothing.
live_other() {
	for _o in $TOPO_LB_WANS; do
		if [ "$(field "$_o" 2)" != "$1" ] && [ "$(state "$(field "$_o" 2)")" = active ]; then
			echo "$_o"; return
		fi
	done
}

# The steering chain for the current states, replaced whole (one nft transaction).
steer() {
	_rules=
	for _w in $TOPO_LB_WANS; do
		[ "$(state "$(field "$_w" 2)")" = active ] && continue
		_l=$(live_other "$(field "$_w" 2)")
		[ -n "$_l" ] || continue
		_rules="$_rules
		iifname $lan ct state new meta mark $(field "$_w" 4) meta mark set $(field "$_l" 4)"
	done
	nft -f - << EOF
table ip wfslab_lbemu
flush table ip wfslab_lbemu
table ip wfslab_lbemu {
	chain lb_steer {
		type filter hook prerouting priority mangle + 1; policy accept;$_rules
		iifname $lan ct state new ct mark set meta mark
		iifname $lan ct state != new ct mark != 0 meta mark set ct mark
	}
}
EOF
}

# reimpose TABLE DEV GW: the table's own metric-0 default, if it has drifted
reimpose() {
	if ! ip -4 route show table "$1" exact 0.0.0.0/0 \
		| grep -Eq "^default via $3 dev $2 proto static( linkdown)? *$"; then
		ip -4 route replace default via "$3" dev "$2" proto static table "$1" && say "table $1 re-imposed via $3 dev $2"
	fi
}

trap 'exit 0' TERM INT HUP
cycles=0
steer
say "started: $TOPO_LB_WANS"
while :; do
	# Health checks, all WANs at once.
	_pids=
	for _w in $TOPO_LB_WANS; do
		_dev=$(field "$_w" 2)
		ping -n -q -c 1 -W 1 -I "$_dev" "$(target "$_dev" "$(field "$_w" 3)")" > /dev/null 2>&1 &
		_pids="$_pids $_dev:$!"
	done
	_changed=
	for _p in $_pids; do
		_dev=${_p%%:*}
		if wait "${_p#*:}"; then _now=active; else _now=inactive; fi
		if [ "$(state "$_dev")" != "$_now" ]; then
			eval "$(var "$_dev")=$_now"
			_changed="$_changed $_dev"
			say "$_dev $_now"
		fi
	done
	if [ -n "$_changed" ]; then
		steer
		if [ "${LB_EMU_FAILOVER_TABLES:-0}" = 1 ]; then
			for _w in $TOPO_LB_WANS; do
				_dev=$(field "$_w" 2)
				[ "$(state "$_dev")" = inactive ] || continue
				_l=$(live_other "$_dev")
				[ -n "$_l" ] || continue
				ip -4 route replace default via "$(field "$_l" 3)" dev "$(field "$_l" 2)" proto static \
					table "$(field "$_w" 1)" && say "table $(field "$_w" 1) failed over to $(field "$_l" 2)"
			done
		fi
	fi
	for _w in $TOPO_LB_WANS; do
		_dev=$(field "$_w" 2)
		[ "$(state "$_dev")" = active ] && reimpose "$(field "$_w" 1)" "$_dev" "$(field "$_w" 3)"
	done
	if [ -n "$_changed" ] && [ -x "${LB_EMU_SCRIPT:-}" ]; then
		for _dev in $_changed; do
			"$LB_EMU_SCRIPT" "$group" "$_dev" "$(state "$_dev")"
			say "transition script $group $_dev $(state "$_dev"): exit $?"
		done
	fi
	cycles=$((cycles + 1))
	[ -z "${LB_EMU_CYCLES:-}" ] || echo "$cycles" > "$LB_EMU_CYCLES"
	sleep "$interval_s"
done
