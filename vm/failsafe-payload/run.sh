#!/bin/sh
# The failover scenario with in-kernel WireGuard on both ends, run inside a QEMU guest by
# vm/test.sh (dash, as root, in /payload). Beside this script vm/test.sh puts:
#   wg-failsafe  the static binary for the guest's architecture (the one under test),
#   measure      bench/measure.c built for the guest: wall time, CPU time and peak RSS,
#   smoke.sh     (optional) vm/example-payload/run.sh, run first as a smoke test,
#   arch         (optional) the dpkg architecture name, for the figures.
#
# The topology is the lab's, built by the same file (tests/lab/topology.sh, staged beside
# this script), with kernel WireGuard on both ends (router wg0, VPS wgv) instead of
# wireguard-go, namespaces without a prefix, and ICMP instead of HTTP (the guest has no
# curl, socat or dnsmasq): the router's nftables marks LAN packets by destination,
# 203.0.113.81 with 0x65, .82 with 0x66, .83 with 0x123, and .80 stays unmarked.
# Everything that reaches inet is NATed to a /30 address, so nftables counters per
# source address in inet tell which way an echo request went.
#
# Scenario 1 (WG_BACKEND=auto, which must pick the kernel; dual-stack, the tunnel carrying
# IPv6 too): a healthy tick changes and logs nothing (and is measured); carrier loss on
# eth0; `run` fails over; marked and unmarked traffic of both families from both LAN
# subnets leaves through the VPS; repeated runs change nothing; a load-balancer rewrite is
# repaired; carrier back; `run` restores every table and rule of both families exactly. Scenario 2 (WG_BACKEND=kernel): the router's peer has no endpoint and
# wg0 is down; `run` brings wg0 up and forces the handshake through generic netlink.
# Recovery puts wg0 down and the keepalive back. Scenario 3 (WG_BACKEND=kernel,
# FALLBACK=none): the VPS drops WireGuard; `run` exits 1 with the peer's state from the
# kernel in its diagnostics and no table changed; the next run, once the VPS answers
# again, activates. Scenario 4 (the tunnel proof and FALLBACK=backup): the router's peer
# has persistent keepalive 25, so its handshake over the primary is always fresh; ISP 2
# drops WireGuard to the VPS; carrier loss; `run` does not take that handshake for proof,
# routes every table straight out of eth1 (all traffic leaves via ISP 2) and exits 1, as
# does the next run, silently; once ISP 2 lets WireGuard through, the next run moves every
# table onto the tunnel; carrier back; every table and rule as before. Scenario 5 (the
# daemon): idle cost over 10 s, carrier loss switched at the kernel's event, `run` does
# nothing while it runs, failback after UP_AFTER_S, every table as before, SIGTERM. Scenario 6
# (the PPPoE primary, amd64 guests only: see scenario_pppoe): the real pppd and pppoe-server,
# the session ended by the ISP, failover, the session back with new addresses and no default
# from pppd, failback; main and table 201 must hold a default through ppp0 again. Scenario 8
# (see scenario_silent): a VPS that answers no echo keeps its tunnel through two outages.
# Scenario 9 (see scenario_tunnels): two VPSs in order, the first blocked on the backup path.
#
# Lines starting "figure:" are collected by vm/test.sh. Exit status 0 = pass.
set -eu

P=/payload
TOOL=$P/wg-failsafe
MEASURE=$P/measure
D=/tmp/wfs
CONF=$D/wg-failsafe.conf
HEALTHY_RUNS=${HEALTHY_RUNS:-20}
ARCH=$(cat "$P/arch" 2> /dev/null || uname -m)   # uname says "mips" for mipsel

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

# ---------------------------------------------------------------------------------------
# The topology

# shellcheck source=tests/lab/topology.sh
. "$P/topology.sh"
TOPO_NS= TOPO_DIR=$D TOPO_WG=kernel TOPO_WG_RTR=wg0 TOPO_WG_VPS=wgv
ns() { nsrun "$@"; }

# up ENDPOINT WG_LINK [KEEPALIVE]: builds everything; ENDPOINT yes|no (the router's peer
# has the VPS endpoint or none), WG_LINK up|down (the router's wg0), KEEPALIVE the
# router peer's persistent keepalive (none by default); BACKEND for the config, IPV6
# (yes or no, default no) for TOPO_IPV6.
up() {
	TOPO_ENDPOINT=$1 TOPO_WG_LINK=$2 TOPO_KEEPALIVE=${3:-} TOPO_IPV6=${IPV6:-no} TOPO_RA=static
	topo_up
	# What the guest watches: which source address each echo request reached inet from
	# (anonymous counters: named ones would need the nft_objref module).
	ns inet nft -f - <<'EOF'
table ip obs {
	chain seen {
		type filter hook input priority filter; policy accept;
		icmp type echo-request ip saddr 198.51.100.2 counter comment "isp1"
		icmp type echo-request ip saddr 198.51.100.6 counter comment "isp2"
		icmp type echo-request ip saddr 198.51.100.10 counter comment "vps"
	}
}
table ip6 obs {
	chain seen {
		type filter hook input priority filter; policy accept;
		icmpv6 type echo-request ip6 saddr 2001:db8:0:1::2 counter comment "isp1"
		icmpv6 type echo-request ip6 saddr 2001:db8:0:2::2 counter comment "isp2"
		icmpv6 type echo-request ip6 saddr 2001:db8:0:3::2 counter comment "vps"
	}
}
EOF
	cat >> "$CONF" <<EOF
WG_BACKEND=$BACKEND
TUNNEL_WAIT=20
DNS_CHECK=off
LB_STATUS=off
EOF
}

down() {
	for n in $TOPO_NAMESPACES vps2; do ip netns del "$n" 2> /dev/null || true; done
	rm -rf "$D"
}

# ---------------------------------------------------------------------------------------
# Observations and checks

# The router's `ip -4/-6 route show table all` and `ip -4/-6 rule show`, the seconds left
# of a route's lifetime taken out (they tick).
tables() {
	for f in -4 -6; do ip -n rtr $f route show table all; ip -n rtr $f rule show; done |
		sed 's/ expires [0-9]*sec//'
}

# same_tables WHAT EXPECTED_FILE [FILTER]: the router's tables equal the file's
# (lines matching the grep pattern FILTER left out of both).
same_tables() {
	tables > "$D/now"
	if [ -n "${3:-}" ]; then
		grep -v -e "$3" "$1" > "$D/want" || true
		grep -v -e "$3" "$D/now" > "$D/got" || true
	else
		cp "$1" "$D/want"; cp "$D/now" "$D/got"
	fi
	if ! cmp -s "$D/want" "$D/got"; then
		diff -u "$D/want" "$D/got" || true
		fail "$2: the router's tables and rules differ (diff above: - expected, + found)"
	fi
}

# carrier down|up: ISP 1's end of the primary link goes down or up, and eth0's LOWER_UP
# follows (the kernel's linkwatch reports it up to a second later).
carrier() {
	ip -n isp1 link set lan "$1"
	i=0
	while :; do
		case $(ip -n rtr link show eth0) in *LOWER_UP*) now=up ;; *) now=down ;; esac
		[ "$now" != "$1" ] || return 0
		i=$((i + 1))
		[ $i -lt 50 ] || fail "eth0's carrier did not go $1 within 5 s"
		sleep 0.1
	done
}

# counts: "NAME PACKETS" for each of inet's counters (anonymous ones: named counters
# would need the nft_objref module, which the guest does not load).
counts() {
	ns inet nft list chain "${FAMILY:-ip}" obs seen | awk '/comment/ {
		for (i = 1; i < NF; i++) if ($i == "packets") p = $(i + 1)
		c = $NF; gsub(/"/, "", c); print c, p }'
}
# path CLIENT DEST: where CLIENT's echo request to DEST reached the internet from
# (isp1, isp2 or vps), or "none" if it got no answer.
path() {
	case $2 in *:*) v=-6 FAMILY=ip6 ;; *) v=-4 FAMILY=ip ;; esac
	counts > "$D/c0"
	if ! ns "$1" ping $v -c 1 -W 5 "$2" > /dev/null 2>&1; then echo none; return 0; fi
	counts > "$D/c1"
	awk 'NR == FNR { n[$1] = $2; next } $2 > n[$1] { printf "%s%s", sep, $1; sep = "+" }' "$D/c0" "$D/c1"
}

# paths normal|tunnel|backup [6]: every client, marked and unmarked, leaves the expected
# way; with 6, over IPv6 (2001:db8:80::80 unmarked, ::81 0x65, ::82 0x66).
paths() {
	for c in c1 c2; do
		for d in 80 81 82 83; do
			dst=203.0.113.$d
			if [ "${2:-}" = 6 ]; then
				[ "$d" != 83 ] || continue
				dst=2001:db8:80::$d
			fi
			if [ "$1" = tunnel ]; then want=vps
			elif [ "$1" = tunnel2 ]; then want=vps2
			elif [ "$1" = backup ]; then want=isp2
			else case $d in 80 | 81) want=isp1 ;; *) want=isp2 ;; esac; fi
			got=$(path "$c" "$dst")
			echo "   $c -> $dst ($(mark_of "$d")): via $got"
			[ "$got" = "$want" ] || fail "$c to $dst went via $got, expected $want"
		done
	done
}
mark_of() { case $1 in 80) echo unmarked ;; 81) echo mark 0x65 ;; 82) echo mark 0x66 ;; 83) echo mark 0x123 ;; esac; }

# IPv6 while the failsafe is active: in main, 201 and 202 the tunnel's default through
# WG_PEER_IP6 wins; the advertisement-shaped default stays in main; the IPv6 rules.
failsafe_tables6() {
	for t in main 201 202; do
		got=$(ip -n rtr -6 route show default table "$t" | head -n 1)
		case $got in "default via 2001:db8:ff::1 dev wg0 proto static metric 40 "*) ;;
		*) fail "IPv6 table $t's first default is '$got', expected the tunnel's" ;; esac
	done
	ip -n rtr -6 route show default | grep -q 'dev eth0 proto ra metric 1024' ||
		fail "the advertisement's default left main"
	rules=$(ip -n rtr -6 rule show)
	for r in "from 2001:db8:10::/64 lookup main" "from all fwmark 0x65 lookup main" \
		"from all fwmark 0x66 lookup main"; do
		echo "$rules" | grep -qxF "69:	$r" || fail "missing IPv6 rule '69: $r'"
	done
	dups=$({ ip -n rtr -6 route show table all; ip -n rtr -6 rule show; } | sort | uniq -d)
	[ -z "$dups" ] || fail "duplicated IPv6 lines: $dups"
}

# The state every managed table must be in while the failsafe is active: the winning
# default of each goes via VIA (default: the tunnel's gateway and device).
failsafe_tables() {
	via=${1:-10.11.0.1 dev wg0}
	for t in 10 201 202; do
		got=$(ip -n rtr route show table "$t" | grep '^default' | sed 's/ *$//')
		[ "$got" = "default via $via proto static metric 40" ] ||
			fail "table $t holds '$got', expected only 'default via $via ... metric 40'"
	done
	got=$(ip -n rtr route show | grep '^default' | head -n 1 | sed 's/ *$//')
	[ "$got" = "default via $via proto static metric 40" ] ||
		fail "main's first default is '$got', expected 'default via $via ... metric 40'"
	rules=$(ip -n rtr rule show)
	for r in "from 192.168.10.0/24 lookup main" "from all fwmark 0x65 lookup main" \
		"from all fwmark 0x66 lookup main" "from all fwmark 0x100/0xf00 lookup main"; do
		echo "$rules" | grep -qxF "69:	$r" || fail "missing rule '69: $r'"
	done
	ip -n rtr route show | grep -q '^198.51.100.10 via 192.168.2.1 dev eth1 proto static metric 190' ||
		fail "no endpoint route via the backup WAN"
	dups=$({ ip -n rtr -4 route show table all; ip -n rtr -4 rule show; } | sort | uniq -d)
	[ -z "$dups" ] || fail "duplicated lines: $dups"
}

# tool ARGS...: wg-failsafe -c CONF ARGS (TOOL_CONF instead, if set) in the router
# namespace, under measure. Sets RC (its exit status), OUT (what it printed on stdout and
# stderr) and MEASURED (measure's line).
tool() {
	if ns rtr "$MEASURE" "$TOOL" -c "${TOOL_CONF:-$CONF}" "$@" > "$D/out" 2>&1; then RC=0; else RC=$?; fi
	MEASURED=$(grep '^measure: ' "$D/out" | tail -n 1 || true)
	OUT=$(grep -v '^measure: ' "$D/out" || true)
}
# field NAME: NAME's value in MEASURED.
field() { echo "$MEASURED" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
# run_ok WHAT: `run` must exit 0.
run_ok() {
	tool run
	[ "$RC" = 0 ] || { echo "$OUT"; retrace run; fail "$1: run exited $RC"; }
}
# retrace ARGS...: once more under strace, when the guest has it (VM_EXTRA_PKGS=strace).
retrace() {
	command -v strace > /dev/null || return 0
	ns rtr strace -f -o "$D/strace" "$TOOL" -c "${TOOL_CONF:-$CONF}" "$@" > /dev/null 2>&1 || true
	tail -n 40 "$D/strace"
}
log_has() { grep -q "$1" "$D/wg-failsafe.log" 2> /dev/null; }
# state_files: STATE_DIR's files with inode, size and checksum (a file replaced by rename,
# as the tool writes, has a new inode even when its content is the same); nothing if absent.
state_files() {
	[ -d "$D/state" ] || return 0
	(cd "$D/state" && for f in * .[!.]*; do
		[ -e "$f" ] || continue
		echo "$(ls -di "$f" | cut -d' ' -f1) $(cksum < "$f") $f"
	done)
}
handshake_age() {
	hs=$(ns rtr wg show wg0 latest-handshakes | awk '{ print $2 }')
	[ "${hs:-0}" -gt 0 ] || fail "wg0 never completed a handshake"
	echo $(($(date +%s) - hs))
}
# stats FILE: "min median max" of the numbers in FILE.
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)], v[NR] }'; }

# ---------------------------------------------------------------------------------------
# Scenario 6: a PPPoE primary, with the router's and the ISP's real daemons (issue 15).
# When the session drops, ppp0 vanishes and the kernel flushes every route through it, the
# defaults of main and table 201 included, before the failsafe's snapshot can see them; when
# the session comes back, pppd's `defaultroute` adds no default while main holds one (the
# tunnel's). Recovery must still leave main and 201 with a default through ppp0.

PPP_USER=wfs PPP_SECRET=wfs-secret
# pppoe_server LOCAL REMOTE: ISP 1's access concentrator on its lan side, one session slot,
# LOCAL its own address (the router's peer), REMOTE the router's. Debian's pppoe-server is
# built without kernel mode (no -k): its session pppd talks through a pty to pppoe, which
# needs ppp_async; the router's side is kernel-mode PPPoE (pppd's rp-pppoe plugin), as on
# EdgeOS.
pppoe_server() {
	spawn isp1 pppoe-server pppoe-server -F -I lan -C wfs-isp1 -N 1 -L "$1" -R "$2" -O "$D/isp1-pppd.options"
}
# ppp_up LOCAL PEER: waits until the router's pppd has finished IPCP with these addresses (it
# logs "remote IP address" after it has set the address and decided about the default).
ppp_up() {
	wait_until 40 "the PPPoE session ($1 peer $2)" sh -c \
		"ip -n rtr -4 addr show dev ppp0 | grep -q 'inet $1 peer $2/32' &&
		 grep -q 'remote IP address $2' '$D/rtr-pppd.log'" ||
		{ tail -n 30 "$D/rtr-pppd.log"; tail -n 30 "$D/isp1-pppd.log" 2> /dev/null; fail "no PPPoE session $1 peer $2"; }
}
# defaults_via DEV [TABLE]: the defaults of TABLE (default main) through DEV, one per line.
defaults_via() { ip -n rtr -4 route show default table "${2:-main}" | grep " dev $1\( \|\$\)" | sed 's/ *$//' || true; }
# as_before BEFORE NOW: "(as before)", or what BEFORE was.
as_before() { if [ "$1" = "$2" ]; then echo "(as before)"; else echo "(before: '$1')"; fi; }
# stop_pid FILE: SIGTERM to the daemon whose pid FILE holds (spawned by this shell), up to
# 5 s for it to exit (a zombie has: this shell reaps it only at `wait`), then SIGKILL.
stop_pid() {
	_pid=$(cat "$1")
	kill -TERM "$_pid" 2> /dev/null || return 0
	wait_until 5 "pid $_pid ($1) to exit" sh -c "case \$(cut -d' ' -f3 /proc/$_pid/stat 2> /dev/null) in '' | Z) ;; *) exit 1 ;; esac" ||
		kill -KILL "$_pid" 2> /dev/null || true
	wait "$_pid" 2> /dev/null || true
}

scenario_pppoe() {
	step "scenario 6: PPPoE primary (pppd + pppoe-server): the session dropped and back with a new peer"
	if ! command -v pppd > /dev/null || ! command -v pppoe-server > /dev/null; then
		echo "skip: scenario 6 (PPPoE): this guest has no pppd/pppoe-server (vm/arch.sh gives PPPoE to the amd64 guests only)"
		return 0
	fi
	for m in ppp_generic pppox pppoe ppp_async; do
		[ -d "/sys/module/$m" ] || { echo "skip: scenario 6 (PPPoE): the kernel module $m is not loaded"; return 0; }
	done
	# The plugin is pppoe.so since ppp 2.4.9 (rp-pppoe.so, its old name, a link to it).
	plugin=
	for f in /usr/lib/pppd/*/rp-pppoe.so /usr/lib/pppd/*/pppoe.so; do [ ! -e "$f" ] || plugin=$f; done
	[ -n "$plugin" ] || fail "pppd has no rp-pppoe plugin under /usr/lib/pppd"
	BACKEND=kernel
	up yes up
	# The primary is ppp0 now: main's and 201's routes through eth0 go (eth0 only carries the
	# PPPoE frames); the router masquerades on ppp0 as EdgeOS does on pppoe0. main's backup
	# default goes too, for a moment: pppd (defaultroute, no defaultroute-metric) adds its
	# default only when main holds none at all, so the backup's comes after the session, as
	# when the backup's lease is taken after the PPPoE session at boot.
	ip -n rtr route del default via 192.168.1.1 dev eth0 metric 100
	ip -n rtr route del default via 192.168.2.1 dev eth1 metric 200
	ip -n rtr route del default via 192.168.1.1 dev eth0 table 201
	ns rtr nft add rule ip wfslab_rtr nat_out oifname "ppp0" masquerade
	# pppd reads its secrets from /etc/ppp only: the guest's root is RAM, built fresh per boot.
	mkdir -p /etc/ppp
	(umask 077; printf '"%s" * "%s" *\n' "$PPP_USER" "$PPP_SECRET" > /etc/ppp/pap-secrets)
	cat > "$D/isp1-pppd.options" <<-EOF2
	require-pap
	lcp-echo-interval 1
	lcp-echo-failure 3
	noccp
	novj
	noipv6
	nodefaultroute
	debug
	logfile $D/isp1-pppd.log
	EOF2
	pppoe_server 10.64.0.1 10.64.0.10
	# The router's pppd as an EdgeOS PPPoE WAN runs it: persist (reconnect for ever, 1 s
	# apart), defaultroute, no usepeerdns, unit 0; IPv4 only (IPv6 is off in the topology's
	# namespaces: IPV6CP would fail and be torn down each session). LCP echoes every second
	# find a dead peer in 3 s; PADIs 1 s apart (the plugin's default, 5 s doubling, would
	# make a reconnect wait up to 15 s).
	spawn rtr pppd pppd plugin "$plugin" nic-eth0 unit 0 user "$PPP_USER" noauth persist holdoff 1 \
		maxfail 0 defaultroute noipdefault lcp-echo-interval 1 lcp-echo-failure 3 \
		pppoe-padi-timeout 1 pppoe-padi-attempts 2 noccp novj noipv6 nodetach debug
	ppp_up 10.64.0.10 10.64.0.1
	ppp_default=$(defaults_via ppp0)
	[ -n "$ppp_default" ] || { tail -n 20 "$D/rtr-pppd.log"; fail "pppd added no default to main"; }
	echo "   pppd ($(basename "$(dirname "$plugin")"), plugin $(basename "$plugin")): ppp0 10.64.0.10 peer 10.64.0.1," \
		"main '$ppp_default'"
	# Then the backup's default, and the load balancer's table 201 as EdgeOS's points it at
	# a PPPoE WAN (`default dev pppoe0`, no gateway).
	ip -n rtr route add default via 192.168.2.1 dev eth1 proto static metric 200
	ip -n rtr route add default dev ppp0 proto static table 201
	t201_default=$(defaults_via ppp0 201)
	(umask 077; sed -e 's/^PRIMARY_DEV=.*/PRIMARY_DEV=ppp0/' -e 's/^PRIMARY_GW=.*/PRIMARY_GW=auto/' \
		"$CONF" > "$D/pppoe.conf")
	TOOL_CONF=$D/pppoe.conf
	paths normal
	tables > "$D/before"

	step "PPPoE healthy: runs change nothing and print nothing"
	for i in 1 2 3; do
		run_ok "healthy PPPoE tick"
		[ -z "$OUT" ] || { echo "$OUT"; fail "a healthy PPPoE run printed something"; }
	done
	same_tables "$D/before" "after healthy PPPoE runs"

	step "the ISP ends the session (pppoe-server stops, a PADT to the router): ppp0 vanishes"
	stop_pid "$D/isp1-pppoe-server.pid"
	wait_until 20 "ppp0 to vanish" sh -c '! ip -n rtr link show ppp0' ||
		{ tail -n 20 "$D/rtr-pppd.log"; fail "ppp0 is still there 20 s after the server stopped"; }
	left=$(ip -n rtr -4 route show table all | grep 'ppp0' || true)
	[ -z "$left" ] || fail "routes through ppp0 outlived it: $left"
	# How it ended for the router: the server's pppoe is killed before its pppd's LCP
	# terminate can leave, so the router sees the PADT (the kernel closes the channel:
	# "Modem hangup"); LCP echoes would find a silent one within 3 s.
	why=$(grep -m 1 -E 'Modem hangup|rcvd \[LCP TermReq|No response to' "$D/rtr-pppd.log" || true)
	echo "   ppp0 gone (pppd: ${why:-?}); the kernel flushed main's '$ppp_default' and table 201's default with it"

	step "run: fail over (ppp0 is missing, PRIMARY_GW=auto)"
	tool run
	[ "$RC" = 0 ] || { echo "$OUT"; cat "$D/wg-failsafe.log" 2> /dev/null; fail "PPPoE failover run exited $RC"; }
	tail -n 1 "$D/wg-failsafe.log"
	log_has "failsafe ACTIVATED in" || fail "no 'failsafe ACTIVATED' in the log"
	got=$(ip -n rtr route show | grep '^default' | head -n 1 | sed 's/ *$//')
	[ "$got" = "default via 10.11.0.1 dev wg0 proto static metric 40" ] ||
		fail "main's first default is '$got', expected the tunnel's"
	paths tunnel
	tables > "$D/active"

	step "the ISP is back with other addresses: pppd reconnects (persist), ppp0 comes back"
	pppoe_server 10.64.1.1 10.64.1.10
	ppp_up 10.64.1.10 10.64.1.1
	# pppd finds a default in main (the tunnel's, and the backup's) and adds none: the real
	# behaviour the failsafe must cope with.
	now=$(defaults_via ppp0)
	[ -z "$now" ] || fail "pppd added '$now' to main during the outage (the scenario expects none)"
	same_tables "$D/active" "after pppd's reconnect (lines through ppp0 left out)" 'ppp0'
	refused=$(grep -m 1 'not replacing' "$D/rtr-pppd.log" || true)
	echo "   ppp0 10.64.1.10 peer 10.64.1.1, no default through it; pppd: ${refused:-(said nothing)}"
	[ -z "$(defaults_via ppp0 201)" ] || fail "table 201 has a default through ppp0 again during the outage"

	step "run: fail back (UP_AFTER_S=0)"
	tool run
	[ "$RC" = 0 ] || { echo "$OUT"; cat "$D/wg-failsafe.log"; fail "PPPoE recovery run exited $RC"; }
	tail -n 1 "$D/wg-failsafe.log"
	log_has "failsafe DEACTIVATED in" || fail "no 'failsafe DEACTIVATED' in the log"
	# Nothing of the failsafe's is left: every line that does not name ppp0 is as before.
	same_tables "$D/before" "after the PPPoE recovery (lines through ppp0 left out)" 'ppp0'
	echo "   every route and rule not through ppp0 is as before the outage"
	# main and 201 hold a default through ppp0 again, whatever its shape.
	main_after=$(defaults_via ppp0)
	t201_after=$(defaults_via ppp0 201)
	# Either shape will do (pppd's `default dev ppp0`, or one via the peer: the new session's,
	# 10.64.1.1, not the old 10.64.0.1); what differs from before is shown.
	echo "   main's default through ppp0: '${main_after:-none}' $(as_before "$ppp_default" "$main_after")"
	echo "   table 201's: '${t201_after:-none}' $(as_before "$t201_default" "$t201_after")"
	[ -n "$main_after" ] || fail "after recovery main has no default through ppp0: pppd installed" \
		"'$ppp_default' before the outage, the session came back (peer 10.64.1.1) without one, and" \
		"the failsafe did not put one back"
	[ -n "$t201_after" ] || fail "after recovery table 201 has no default through ppp0 (before the outage:" \
		"'$t201_default')"
	case $main_after$t201_after in *10.64.0.*) fail "a default through ppp0 names the old session's peer" ;; esac
	# The other routes through ppp0 are the new session's: the old ones with the new addresses.
	grep 'ppp0' "$D/before" | grep -v '^default' | sed 's/10\.64\.0\./10.64.1./g' > "$D/ppp-want"
	tables | grep 'ppp0' | grep -v '^default' > "$D/ppp-got" || true
	cmp -s "$D/ppp-want" "$D/ppp-got" || { diff -u "$D/ppp-want" "$D/ppp-got" || true
		fail "the routes through ppp0 are not the new session's (diff above: - expected, + found)"; }
	[ ! -e "$D/state/snapshot" ] || fail "snapshot left in STATE_DIR"
	paths normal

	stop_pid "$D/rtr-pppd.pid"
	stop_pid "$D/isp1-pppoe-server.pid"
	TOOL_CONF=
	rm -f /etc/ppp/pap-secrets
	down
}

# ---------------------------------------------------------------------------------------
# Scenario 7 (the amd64-systemd guest, where systemd is PID 1; issues 17 and 20): the
# daemon under packaging/wg-failsafe.service (staged beside this script) with its sandbox
# intact. A drop-in changes only what the guest must: ExecStart (the staged binary, the
# topology's configuration) and NetworkNamespacePath (the router is the rtr namespace).
# The topology's directory is under /run: the unit's PrivateTmp gives the daemon a /tmp
# of its own. A simulated EdgeOS configuration service (vyatta-router.service, a oneshot
# of 3 s) is started first; the daemon must start after it ends. Carrier loss → failover,
# carrier back → failback (tables identical); SIGKILL → systemd restarts the daemon
# (Restart=on-failure), which fails over and back again; `systemctl stop` → SIGTERM.

# wait_log COUNT SECONDS PATTERN WHAT: the log holds COUNT lines matching PATTERN.
wait_log() {
	i=0
	while :; do
		n=$(grep -c "$3" "$D/wg-failsafe.log" 2> /dev/null) || n=0   # none yet: no file
		[ "$n" -lt "$1" ] || return 0
		i=$((i + 1))
		[ $i -lt $(($2 * 10)) ] || { cat "$D/wg-failsafe.log" 2> /dev/null; systemctl status wg-failsafe || true
			fail "$4 within $2 s"; }
		sleep 0.1
	done
}
prop() { systemctl show --value -p "$1" "${2:-wg-failsafe.service}"; }

scenario_systemd() {
	step "scenario 7: the daemon under systemd (packaging/wg-failsafe.service, sandboxed), after a configuration service"
	[ -d /run/systemd/system ] || fail "systemd is not PID 1 here (boot the amd64-systemd guest)"
	[ -f "$P/wg-failsafe.service" ] || fail "no $P/wg-failsafe.service: run vm/test.sh amd64-systemd"
	echo "   $(systemctl --version | head -n 1)"
	BACKEND=kernel
	D=/run/wfs CONF=/run/wfs/wg-failsafe.conf
	TOPO_DIR=$D   # read by topo_up (sourced)
	export TOPO_DIR
	up yes up
	tables > "$D/before"
	(umask 077; sed 's/^UP_AFTER_S=.*/UP_AFTER_S=2/' "$CONF" > "$D/daemon.conf")
	mkdir -p /config/user-data
	ln -sf "$D/daemon.conf" /config/user-data/wg-failsafe.conf   # the unit's condition
	mkdir -p /lib/systemd/system
	cp "$P/wg-failsafe.service" /lib/systemd/system/wg-failsafe.service
	mkdir -p /etc/systemd/system/wg-failsafe.service.d
	cat > /etc/systemd/system/wg-failsafe.service.d/vm.conf <<-EOF
	[Service]
	ExecStart=
	ExecStart=$TOOL -c $D/daemon.conf daemon
	NetworkNamespacePath=/run/netns/rtr
	EOF
	# EdgeOS 2.x runs /config/scripts/post-config.d/ inside its configuration service: the
	# daemon is started there, through the packaged init script, which under systemd hands
	# it to the unit without waiting for it (the unit is ordered after this very service:
	# waiting would hang the router's boot).
	[ -f "$P/wg-failsafe.init" ] || fail "no $P/wg-failsafe.init: run vm/test.sh amd64-systemd"
	mkdir -p /usr/sbin && ln -sf "$TOOL" /usr/sbin/wg-failsafe   # the init script's DAEMON
	cat > /etc/systemd/system/vyatta-router.service <<-EOF
	[Unit]
	Description=EdgeOS configuration (simulated: 3 s, then post-config.d's line)
	[Service]
	Type=oneshot
	ExecStart=/bin/sleep 3
	ExecStart=/bin/sh $P/wg-failsafe.init start
	RemainAfterExit=yes
	TimeoutStartSec=30
	EOF
	systemctl daemon-reload
	systemctl start vyatta-router.service || fail "vyatta-router.service (the simulated configuration, running the init script) did not finish"
	journalctl -u vyatta-router.service -o cat 2> /dev/null | grep -i 'wg-failsafe' | sed 's/^/   init script: /' || true
	wait_log 1 15 "daemon started" "the daemon did not start"
	[ "$(prop ActiveState)" = active ] || fail "wg-failsafe.service is $(prop ActiveState)"
	v_end=$(prop ExecMainExitTimestampMonotonic vyatta-router.service)
	d_start=$(prop ExecMainStartTimestampMonotonic)
	if [ "${v_end:-0}" = 0 ] || [ "${d_start:-0}" -lt "$v_end" ]; then
		fail "the daemon started at ${d_start} us, before vyatta-router.service ended (${v_end} us)"
	fi
	echo "   started $(((d_start - v_end) / 1000)) ms after vyatta-router.service ended"
	pid=$(prop MainPID)
	# The sandbox is in place: its own mount namespace, /usr and /etc read-only, seccomp.
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/1/ns/mnt)" ] || fail "the daemon shares PID 1's mount namespace"
	[ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/1/ns/net)" ] || fail "the daemon is not in the rtr namespace"
	for m in /usr /etc; do
		awk -v m="$m" '$5 == m && $6 ~ /^ro/ { ok = 1 } END { exit !ok }' "/proc/$pid/mountinfo" ||
			fail "$m is not read-only for the daemon"
	done
	grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status" || fail "the daemon runs without a seccomp filter"
	echo "   sandboxed: own mount namespace, /usr and /etc read-only, seccomp filter; in the rtr namespace"

	for round in 1 2; do
		carrier down
		wait_log "$round" 10 "tables switched" "the daemon (round $round) did not switch at the carrier loss"
		echo "   round $round: $(grep 'tables switched' "$D/wg-failsafe.log" | tail -n 1)"
		failsafe_tables
		paths tunnel
		carrier up
		wait_log "$round" 15 "failsafe DEACTIVATED" "the daemon (round $round) did not fail back"
		same_tables "$D/before" "after the daemon's failback (round $round)"
		echo "   round $round: failback, every table and rule as before"
		[ "$round" = 1 ] || break
		kill -KILL "$pid"
		i=0
		while [ "$(prop NRestarts)" != 1 ] || [ "$(prop ActiveState)" != active ] || [ "$(prop MainPID)" = "$pid" ]; do
			i=$((i + 1)); [ $i -lt 150 ] || { systemctl status wg-failsafe || true; fail "systemd did not restart the daemon within 15 s of SIGKILL"; }
			sleep 0.1
		done
		wait_log 2 10 "daemon started" "the restarted daemon did not start"
		echo "   SIGKILL to $pid: restarted as $(prop MainPID) (NRestarts=$(prop NRestarts), RestartSec 5 s)"
		pid=$(prop MainPID)
	done
	sh "$P/wg-failsafe.init" status > /dev/null || fail "the init script's status says the daemon is not running"
	sh "$P/wg-failsafe.init" stop | sed 's/^/   init script: /'
	[ "$(prop ActiveState)" = inactive ] || fail "wg-failsafe.service is $(prop ActiveState) after the init script's stop, expected inactive"
	if sh "$P/wg-failsafe.init" status > /dev/null; then fail "the init script's status says running after stop"; fi
	grep -q "daemon stopped (SIGTERM)" "$D/wg-failsafe.log" || fail "no stop line in the log"
	same_tables "$D/before" "after systemctl stop"
	sed 's/^/   log: /' "$D/wg-failsafe.log"
	# The guest loads nf_conntrack_netlink: the flush at each switch works in the sandbox.
	if grep -q "CONNTRACK_FLUSH" "$D/wg-failsafe.log"; then fail "the daemon could not flush conntrack (log above)"; fi
	down
}

[ -x "$TOOL" ] || fail "no $TOOL: run vm/test.sh, which puts the binary beside this script"
[ -x "$MEASURE" ] || fail "no $MEASURE: run vm/test.sh"
step "$(uname -r) $(uname -m); wireguard module $(cat /sys/module/wireguard/version 2> /dev/null || echo '?');" \
	"$($TOOL --version); $(ip -V)"

if [ -f "$P/smoke.sh" ]; then
	step "smoke test (vm/example-payload)"
	sh "$P/smoke.sh" > /tmp/smoke.log 2>&1 || { cat /tmp/smoke.log; fail "the smoke test failed"; }
	for n in a b; do ip netns del "$n" 2> /dev/null || true; done
	echo "   passed"
fi

# Scenario 8: a VPS that answers no echo on its tunnel address (ICMP filtered) but
# handshakes. The router's peer has keepalive 25, so its session over the primary is always
# valid and WireGuard starts no handshake in it: activation renews the peer — removed and
# added back with every setting in one WG_CMD_SET_DEVICE — and the next echo handshakes
# over the backup. Two outages under `run`, each on the tunnel (a round while active keeps
# it), every table as before after each; the peer's settings the same at the end.
scenario_silent() {
	step "scenario 8: a VPS that answers no echo (ICMP filtered on its tunnel address), keepalive 25, two outages"
	BACKEND=kernel
	up yes up 25
	tables > "$D/before"
	peer_settings > "$D/peer-before"
	printf '%s\n' 'table ip wfs_noecho {' '	chain drop_echo {' \
		'		type filter hook input priority filter; policy accept;' \
		'		ip daddr 10.11.0.1 icmp type echo-request drop' '	}' '}' | ns vps nft -f -
	i=0
	until [ "$(ns rtr wg show wg0 latest-handshakes | awk '{ print $2 }')" -gt 0 ]; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "no handshake over the primary within 10 s"
		sleep 0.1
	done
	for outage in 1 2; do
		carrier down
		run_ok "outage $outage"
		failsafe_tables
		paths tunnel
		run_ok "outage $outage, a round while active"
		failsafe_tables
		carrier up
		run_ok "recovery $outage"
		same_tables "$D/before" "after recovery $outage (scenario 8)"
		echo "   outage $outage: on the tunnel, every table and rule as before after it"
	done
	[ "$(grep -c 'renewing the peer' "$D/wg-failsafe.log")" = 2 ] || { cat "$D/wg-failsafe.log"; fail "not one renewal per outage"; }
	peer_settings > "$D/peer-after"
	cmp -s "$D/peer-before" "$D/peer-after" || { diff -u "$D/peer-before" "$D/peer-after"; fail "the peer's settings changed"; }
	echo "   the peer was renewed once per outage, its settings as before"
	down
}
# Scenario 9: two VPSs in order (TOPO_VPS2: the second on wg02, 198.51.100.14), in-kernel
# WireGuard on every end. ISP 2 drops WireGuard to the first VPS: activation proves the first
# in vain, then the second, and the LAN leaves through the second; recovery leaves every table
# and rule as before. Then the first carries the LAN, is blocked while it does: the rounds
# hand the LAN to the second; unblocked: back to the first (UP_AFTER_S=0); recovery again.
scenario_tunnels() {
	step "scenario 9: two VPSs in order, the first blocked on the backup path"
	BACKEND=kernel
	TOPO_VPS2=yes up yes up
	ns inet nft add rule ip obs seen icmp type echo-request ip saddr 198.51.100.14 counter comment '"vps2"'
	tables > "$D/before"
	block_vps1() {
		printf '%s\n' 'table ip wfs_bvps {' '	chain drop_wg {' \
			'		type filter hook forward priority filter; policy accept;' \
			'		iifname "lan" ip daddr 198.51.100.10 udp dport 51820 drop' '	}' '}' | ns isp2 nft -f -
	}
	block_vps1
	carrier down
	run_ok "activation, the first VPS blocked"
	paths tunnel2
	carrier up
	run_ok "recovery from the second VPS"
	same_tables "$D/before" "after recovery (scenario 9, the second VPS)"
	echo "   the LAN on the second VPS, every table and rule as before after it"
	ns isp2 nft delete table ip wfs_bvps
	carrier down
	run_ok "activation, both VPSs open"
	paths tunnel
	block_vps1
	# The first dies while it carries the LAN: a round or two (a fallback while the second's
	# handshake is made, each round's probe of the others at most every 5 s) move the LAN.
	i=0
	until [ "$(path c1 203.0.113.80)" = vps2 ]; do
		i=$((i + 1)); [ $i -lt 15 ] || { cat "$D/wg-failsafe.log"; fail "the second VPS did not take the LAN"; }
		tool run
		sleep 1
	done
	paths tunnel2
	ns isp2 nft delete table ip wfs_bvps
	i=0
	until [ "$(path c1 203.0.113.80)" = vps ]; do
		i=$((i + 1)); [ $i -lt 15 ] || { cat "$D/wg-failsafe.log"; fail "the first VPS did not take the LAN back"; }
		tool run
		sleep 1
	done
	paths tunnel
	grep -q 'every table moved to it from wg02' "$D/wg-failsafe.log" || fail "no switch between tunnels logged"
	carrier up
	run_ok "recovery"
	same_tables "$D/before" "after recovery (scenario 9, switched and back)"
	echo "   the LAN moved to the second VPS and back, every table and rule as before after it"
	down
	TOPO_VPS2=no
}

# peer_settings: the router's peer as `wg show wg0 dump` gives its settings (key, preshared
# key, endpoint, allowed IPs, keepalive; not its handshake or counters).
peer_settings() { ns rtr wg show wg0 dump | awk -F'\t' 'NR > 1 { print $1, $2, $3, $4, $8 }'; }

# A file "only" beside this script (vm/test.sh writes VM_ONLY there) names the one scenario
# to run, for work on it: pppoe (scenario 6) is the only one that can run alone.
case $(cat "$P/only" 2> /dev/null) in
pppoe) scenario_pppoe; step "scenario 6 passed (the only one asked for)"; exit 0 ;;
systemd) scenario_systemd; step "scenario 7 passed (the only one asked for)"; exit 0 ;;
silent) scenario_silent; step "scenario 8 passed (the only one asked for)"; exit 0 ;;
tunnels) scenario_tunnels; step "scenario 9 passed (the only one asked for)"; exit 0 ;;
esac

step "scenario 1: dual-stack topology, router peer with endpoint, WG_BACKEND=auto"
BACKEND=auto
IPV6=yes up yes up
tool check
echo "$OUT" | sed 's/^/   /'
[ "$RC" = 0 ] || fail "check exited $RC"
echo "$OUT" | grep -q 'ok   kernel backend' || fail "auto did not choose the kernel backend"
step "healthy: marked and unmarked traffic leaves through its load-balancer table"
paths normal
paths normal 6
tables > "$D/before"

step "healthy run x$HEALTHY_RUNS: changes nothing, prints and logs nothing"
: > "$D/cpu"; : > "$D/rss"; : > "$D/wall"
i=0
while [ $i -lt "$HEALTHY_RUNS" ]; do
	run_ok "healthy tick"
	[ -z "$OUT" ] || { echo "$OUT"; fail "a healthy run printed something"; }
	echo $(($(field user_us) + $(field sys_us))) >> "$D/cpu"
	field maxrss_kib >> "$D/rss"
	field wall_us >> "$D/wall"
	i=$((i + 1))
	[ $i != 1 ] || state_files > "$D/state-after-1"
done
same_tables "$D/before" "after healthy runs"
[ ! -e "$D/wg-failsafe.log" ] || { cat "$D/wg-failsafe.log"; fail "a healthy run wrote the log"; }
# The tool may remember the tables as last seen healthy (DESIGN.md, "While active"), written
# only when they change: the first healthy run may write STATE_DIR, the others must not.
state_files > "$D/state-after-all"
cmp -s "$D/state-after-1" "$D/state-after-all" || { diff -u "$D/state-after-1" "$D/state-after-all" || true
	fail "healthy runs after the first wrote STATE_DIR (diff above: after the first run, after the last)"; }
if [ -e "$D/state/snapshot" ] || [ -e "$D/state/journal" ]; then fail "a healthy run wrote a snapshot or journal"; fi
# CPU time is user + sys as wait4 reports it: the sum is the scheduler's exact runtime,
# the split between the two is sampled at timer ticks (useless for runs this short).
echo "figure: $ARCH healthy run x$HEALTHY_RUNS, CPU user+sys us (min median max): $(stats "$D/cpu")"
echo "figure: $ARCH healthy run, peak RSS KiB (min median max): $(stats "$D/rss")"
echo "figure: $ARCH healthy run, wall us incl. one echo to the gateway (min median max): $(stats "$D/wall")"
# For scale: one dynamically linked iproute2 command, as the seed script ran dozens.
ns rtr "$MEASURE" ip route show table all > /dev/null 2> "$D/out"
MEASURED=$(cat "$D/out")
echo "figure: $ARCH reference, one 'ip route show table all' (glibc iproute2): CPU" \
	"$(($(field user_us) + $(field sys_us))) us, peak RSS $(field maxrss_kib) KiB"

step "carrier loss on eth0, then run: fail over"
carrier down
tool run
[ "$RC" = 0 ] || { echo "$OUT"; cat "$D/wg-failsafe.log" 2> /dev/null; fail "failover run exited $RC"; }
failover_wall_ms=$(($(field wall_us) / 1000))
cat "$D/wg-failsafe.log"
log_has "failsafe ACTIVATED in" || fail "no 'failsafe ACTIVATED' in the log"
logged_ms=$(sed -n 's/.*failsafe ACTIVATED in \([0-9]*\) ms.*/\1/p' "$D/wg-failsafe.log" | tail -n 1)
echo "figure: $ARCH failover run (carrier loss, tunnel idle, handshake needed): wall ${failover_wall_ms} ms" \
	"for the process, ${logged_ms} ms logged by the tool; CPU $(($(field user_us) + $(field sys_us))) us," \
	"peak RSS $(field maxrss_kib) KiB"
failsafe_tables
echo "   handshake $(handshake_age) s ago (kernel WireGuard)"
tool status
echo "$OUT" | sed 's/^/   /'
[ "$RC" = 0 ] || fail "status exited $RC"
for s in "mode:     FAILSAFE" "primary:  eth0 DOWN" "tunnel:   wg0 up (kernel backend, latest handshake"; do
	echo "$OUT" | grep -qF "$s" || fail "status lacks '$s'"
done
step "active: marked and unmarked traffic of both families from both LAN subnets leaves through the VPS"
paths tunnel
failsafe_tables6
paths tunnel 6

step "active: repeated runs change nothing"
tables > "$D/active"
for i in 1 2; do run_ok "repeated active tick"; done
same_tables "$D/active" "repeated runs while active"

step "active: the load balancer rewrites tables 201 and 202; the next run repairs them"
ip -n rtr route replace default via 192.168.1.1 dev eth0 table 201
ip -n rtr route replace default via 192.168.2.1 dev eth1 table 202
[ "$(path c2 203.0.113.82)" = vps ] || fail "the priority-69 rules did not keep mark 0x66 on the tunnel"
tool -v run
[ "$RC" = 0 ] || { echo "$OUT"; fail "repair run exited $RC"; }
echo "$OUT" | grep -q 'ip route del default via 192.168.2.1 dev eth1 table 202 proto boot' ||
	{ echo "$OUT"; fail "the repair did not delete the rewritten default of table 202"; }
failsafe_tables
paths tunnel

step "carrier back on eth0, then run: recovery"
carrier up
tool run
[ "$RC" = 0 ] || { echo "$OUT"; cat "$D/wg-failsafe.log"; fail "recovery run exited $RC"; }
tail -n 1 "$D/wg-failsafe.log"
log_has "failsafe DEACTIVATED in" || fail "no 'failsafe DEACTIVATED' in the log"
echo "figure: $ARCH recovery run: wall $(($(field wall_us) / 1000)) ms for the process"
same_tables "$D/before" "after recovery"
echo "   every table and rule is as before the outage"
if [ -e "$D/state/snapshot" ] || [ -e "$D/state/journal" ]; then fail "snapshot or journal left in STATE_DIR"; fi
paths normal
paths normal 6
size=$(wc -c < "$D/wg-failsafe.log")
run_ok "healthy tick after recovery"
[ "$(wc -c < "$D/wg-failsafe.log")" = "$size" ] || fail "the healthy tick after recovery wrote the log"

step "scenario 2: router peer without endpoint, wg0 down, WG_BACKEND=kernel"
down
BACKEND=kernel
up no down
tables > "$D/before"
carrier down
tool -v run
echo "$OUT" | sed 's/^/   /'
[ "$RC" = 0 ] || fail "run exited $RC"
for s in "ip link set wg0 up" "setting the peer's endpoint" "vps-peer-public.key" \
	"endpoint 198.51.100.10:51820 persistent-keepalive 25" "failsafe ACTIVATED in"; do
	echo "$OUT" | grep -qF "$s" || fail "the output lacks '$s'"
done
# What the kernel now holds: the 16-byte sockaddr_in was accepted (a wrong length is
# silently ignored), the keepalive is set, and the handshake completed.
ep=$(ns rtr wg show wg0 endpoints | awk '{ print $2 }')
[ "$ep" = 198.51.100.10:51820 ] || fail "the kernel holds endpoint '$ep'"
ka=$(ns rtr wg show wg0 persistent-keepalive | awk '{ print $2 }')
[ "$ka" = 25 ] || fail "the kernel holds persistent keepalive '$ka'"
echo "   kernel: endpoint $ep, keepalive $ka s, handshake $(handshake_age) s ago"
failsafe_tables
paths tunnel
carrier up
run_ok "recovery"
same_tables "$D/before" "after recovery (scenario 2)"
case $(ip -n rtr link show wg0) in *"<"*UP*">"*) fail "recovery left wg0 up" ;; esac
ka=$(ns rtr wg show wg0 persistent-keepalive | awk '{ print $2 }')
[ "$ka" = off ] || fail "recovery left the keepalive at '$ka'"
echo "   every table and rule is as before, wg0 is down again and the keepalive off"
down

step "scenario 3: the VPS ignores WireGuard; run exits 1 and changes no table"
BACKEND=kernel
up yes up
tables > "$D/before"
(umask 077; sed 's/^TUNNEL_WAIT=.*/TUNNEL_WAIT=2/' "$CONF" > "$D/short-wait.conf"
 echo FALLBACK=none >> "$D/short-wait.conf")
ns vps nft -f - <<'EOF'
table ip wfs_dead {
	chain wg_in { type filter hook input priority filter; policy accept; udp dport 51820 drop; }
}
EOF
carrier down
tables > "$D/down"
TOOL_CONF=$D/short-wait.conf
tool run
TOOL_CONF=
echo "$OUT" | sed 's/^/   /'
[ "$RC" = 1 ] || fail "run exited $RC, expected 1"
for s in "did not come up within 2 s" "latest handshake never, endpoint 198.51.100.10:51820"; do
	echo "$OUT" | grep -qF "$s" || fail "the output lacks '$s'"
done
same_tables "$D/down" "after a failed activation"
[ ! -e "$D/state/snapshot" ] || fail "a failed activation left a snapshot"
echo "   tables unchanged, no snapshot"
ns vps nft delete table ip wfs_dead
run_ok "activation once the VPS answers"
failsafe_tables
echo "   the next run activated: $(tail -n 1 "$D/wg-failsafe.log" | cut -d' ' -f3-)"
carrier up
run_ok "recovery"
same_tables "$D/before" "after recovery (scenario 3)"
echo "   every table and rule is as before"
down

step "scenario 4: keepalive 25 (the handshake over the primary is always fresh), ISP 2 drops WireGuard to the VPS"
BACKEND=kernel
up yes up 25
tables > "$D/before"
(umask 077; sed 's/^TUNNEL_WAIT=.*/TUNNEL_WAIT=3/' "$CONF" > "$D/fallback.conf")
ns rtr ping -c 1 -W 3 -I wg0 10.11.0.1 > /dev/null || fail "no handshake over the primary"
echo "   handshake over the primary $(handshake_age) s ago"
ns isp2 nft -f - <<'EOF'
table ip wfs_bvps {
	chain fwd_wg { type filter hook forward priority filter; policy accept;
		iifname "lan" ip daddr 198.51.100.10 udp dport 51820 drop; }
}
EOF
carrier down
TOOL_CONF=$D/fallback.conf
tool run
echo "$OUT" | sed 's/^/   /'
[ "$RC" = 1 ] || { cat "$D/wg-failsafe.log"; fail "run exited $RC, expected 1 (fallback)"; }
log_has "did not come up within 3 s" || { cat "$D/wg-failsafe.log"; fail "the fresh handshake was taken for proof"; }
failsafe_tables "192.168.2.1 dev eth1"
echo "   every table goes straight out of eth1"
paths backup
size=$(wc -c < "$D/wg-failsafe.log")
tool run
[ "$RC" = 1 ] || fail "the second fallback run exited $RC, expected 1"
[ "$(wc -c < "$D/wg-failsafe.log")" = "$size" ] || fail "the second fallback run wrote the log"
ns isp2 nft delete table ip wfs_bvps
# WireGuard starts a new handshake no sooner than REKEY_TIMEOUT (5 s) after its last
# attempt, which the runs above made through the block: the next cron tick comes a
# minute later; here the wait is those 5 s (and its jitter), and the run after it must
# find the tunnel.
sleep 6
tool run
[ "$RC" = 0 ] || { echo "$OUT"; cat "$D/wg-failsafe.log"; fail "run exited $RC once the tunnel can work"; }
failsafe_tables
echo "   the tunnel works over ISP 2 now: every table uses it"
paths tunnel
carrier up
tool run
TOOL_CONF=
[ "$RC" = 0 ] || fail "recovery run exited $RC"
same_tables "$D/before" "after recovery (scenario 4)"
echo "   every table and rule is as before"
down

step "scenario 5: the daemon (kernel WireGuard): carrier loss switched at the event, failback, SIGTERM"
BACKEND=kernel
up yes up
tables > "$D/before"
(umask 077; sed 's/^UP_AFTER_S=.*/UP_AFTER_S=2/' "$CONF" > "$D/daemon.conf")
# Not through `ns`: a backgrounded shell function is a subshell, and $! would be its pid.
ip netns exec rtr "$TOOL" -c "$D/daemon.conf" daemon > "$D/daemon.out" 2>&1 &
DPID=$!
i=0
until log_has "daemon started"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$D/daemon.out"; fail "the daemon did not start"; }
	sleep 0.1
done
# Idle: CPU time over 10 s of healthy rounds (one echo to the gateway every 500 ms), in
# nanoseconds from schedstat (the tick counts of stat are 10 ms coarse).
cpu_ns() { awk '{ print $1 }' "/proc/$DPID/schedstat"; }
cpu0=$(cpu_ns)
sleep 10
cpu1=$(cpu_ns)
echo "figure: $ARCH daemon idle, PROBE_INTERVAL_MS=500, one target: $(((cpu1 - cpu0) / 1000000)) ms of CPU in 10 s" \
	"(emulated), peak RSS $(awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status") KiB"
carrier down
i=0
until log_has "tables switched"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$D/wg-failsafe.log"; fail "the daemon did not switch within 10 s of the carrier loss"; }
	sleep 0.1
done
echo "figure: $ARCH daemon, carrier event to switched tables: $(sed -n 's/.*tables switched \([0-9]*\) ms.*/\1/p' "$D/wg-failsafe.log" | tail -n 1) ms (emulated)"
failsafe_tables
paths tunnel
echo "   run while the daemon runs:"
tool run
[ "$RC" = 0 ] && [ -z "$OUT" ] || fail "run printed '$OUT' or exited $RC while the daemon runs"
carrier up
i=0
until log_has "failsafe DEACTIVATED"; do
	i=$((i + 1)); [ $i -lt 150 ] || { cat "$D/wg-failsafe.log"; fail "the daemon did not fail back within 15 s"; }
	sleep 0.1
done
same_tables "$D/before" "after the daemon's failback"
echo "   failback done, every table and rule as before"
echo "figure: $ARCH daemon peak RSS after the cycle: $(awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status") KiB"
kill -TERM "$DPID"
wait "$DPID" || fail "the daemon exited $? on SIGTERM"
log_has "daemon stopped (SIGTERM)" || fail "no stop line in the log"
down

scenario_silent
scenario_tunnels
scenario_pppoe

step "all checks passed"
