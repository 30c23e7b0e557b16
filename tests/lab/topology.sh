# tests/lab/topology.sh — the lab's topology, written once. Sourced by tests/lab/lab.sh
# (bash, on the host, wireguard-go) and by vm/failsafe-payload/run.sh (the guest's
# busybox/dash sh, kernel WireGuard), so POSIX sh only.
# shellcheck shell=sh disable=SC2034
#
#                          inet ("internet")
#        lo: 203.0.113.80-83/32 (the lab's HTTP echo listens on .80), 203.0.113.53 (DNS)
#        isp1 198.51.100.1/30   isp2 198.51.100.5/30   vps 198.51.100.9/30
#              |                       |                     |
#        wan 198.51.100.2/30     wan 198.51.100.6/30    wan 198.51.100.10/30
#        isp1 (NAT)              isp2 (NAT)             vps (NAT from its WireGuard)
#        lan 192.168.1.1/24      lan 192.168.2.1/24     WG_VPS 10.11.0.1/24 :51820
#              |                       |                     .
#        eth0 192.168.1.2/24     eth1 192.168.2.2/24         . WireGuard, the
#        (primary WAN)           (backup WAN)                . router initiates
#                          rtr (the router)     WG_RTR 10.11.0.102/24
#        switch0 192.168.10.1/24 (LAN_SUBNET)   lan2 192.168.20.1/24 (not in it)
#              |                                     |
#        c1 eth0 192.168.10.50/24                c2 eth0 192.168.20.50/24
#
# The router's routing is the EdgeOS load balancer's:
#   main: default via 192.168.1.1 dev eth0 metric 100, via 192.168.2.1 dev eth1 metric 200
#   201: default via 192.168.1.1 dev eth0   202 and 10: default via 192.168.2.1 dev eth1
#   rules: 101 fwmark 0x65 -> 201, 102 fwmark 0x66 -> 202, 103 fwmark 0x100/0xf00 -> 10
# nftables marks the LAN's packets (table wfslab_rtr, chain lb_mark) both by destination
# port, for the lab's HTTP clients (tcp/8080 0x65, tcp/8081 0x66), and by destination
# address, for the guest's pings (203.0.113.81 0x65, .82 0x66, .83 0x123); the rest stays
# unmarked. Every packet of a flow carries the same mark, so this equals a connmark
# restore on LAN ingress; replies from the WANs stay unmarked and follow main.
#
# Set before topo_up:
#   TOPO_NS        prefix of every namespace's name: "ID-" in the lab, "" in a guest
#   TOPO_DIR       where keys, the tool's configuration and daemons' pid and log files go
#   TOPO_WG        go (wireguard-go, driven over its UAPI socket) or kernel
#   TOPO_WG_RTR, TOPO_WG_VPS  the two WireGuard interfaces (wireguard-go's sockets are
#                  global, in /var/run/wireguard, so the lab puts its ID in these names)
#   TOPO_ENDPOINT  yes (default) or no: the router's peer has the VPS endpoint, or none
#   TOPO_WG_LINK   up (default, as on EdgeOS) or down: the router's WireGuard interface
#   TOPO_KEEPALIVE the router peer's persistent keepalive in seconds (default none: idle,
#                  no handshake until traffic needs one)
# topo_up builds everything and writes $TOPO_DIR/wg-failsafe.conf (root's, 0600) with the
# keys every user of the topology shares; callers append their own.

TOPO_NAMESPACES="inet isp1 isp2 vps rtr c1 c2"
TOPO_WG_RUN=/var/run/wireguard

# nsrun NS cmd...: runs cmd inside the topology's namespace NS.
nsrun() { _nsrun=$1; shift; ip netns exec "$TOPO_NS$_nsrun" "$@"; }

# wait_until SECONDS WHAT cmd...: polls cmd every 0.1 s until it succeeds.
wait_until() {
	_tries=$(($1 * 10)) _what=$2
	shift 2
	until "$@" > /dev/null 2>&1; do
		_tries=$((_tries - 1))
		if [ "$_tries" -le 0 ]; then echo "topology: timed out waiting for $_what" >&2; return 1; fi
		sleep 0.1
	done
}

# spawn NS NAME cmd...: starts a foreground daemon in NS, stdio on $TOPO_DIR/NS-NAME.log
# and its pid in $TOPO_DIR/NS-NAME.pid (the subshell execs into it: $! is the daemon).
spawn() {
	_spawn=$1-$2
	shift 2
	(exec ip netns exec "$TOPO_NS${_spawn%%-*}" "$@") < /dev/null >> "$TOPO_DIR/$_spawn.log" 2>&1 &
	echo "$!" > "$TOPO_DIR/$_spawn.pid"
}

# veth NS1 IF1 NS2 IF2: a veth pair created directly inside the namespaces (never in the
# root namespace, so names like eth0 cannot collide), both ends up.
veth() {
	ip -n "$TOPO_NS$1" link add "$2" type veth peer name "$4" netns "$TOPO_NS$3"
	ip -n "$TOPO_NS$1" link set "$2" up
	ip -n "$TOPO_NS$3" link set "$4" up
}

# addr NS IFACE PREFIX
addr() { ip -n "$TOPO_NS$1" addr add "$3" dev "$2"; }

# nat NS TABLE RULE: an nftables table that masquerades what RULE matches on its way out.
nat() {
	nsrun "$1" nft -f - << EOF
table ip $2 {
	chain masq_out {
		type nat hook postrouting priority srcnat; policy accept;
		$3 masquerade
	}
}
EOF
}

# wg_create NS IFACE: a WireGuard interface inside NS, so its UDP socket lives there.
wg_create() {
	case $TOPO_WG in
	kernel) ip -n "$TOPO_NS$1" link add "$2" type wireguard ;;
	go)
		# wireguard-go creates the TUN first and the socket a moment later; a stale
		# socket would make the wait lie.
		rm -f "$TOPO_WG_RUN/$2.sock"
		spawn "$1" wg env LOG_LEVEL=verbose wireguard-go -f "$2"
		wait_until 10 "$TOPO_WG_RUN/$2.sock" test -S "$TOPO_WG_RUN/$2.sock"
		wait_until 5 "a reply on $TOPO_WG_RUN/$2.sock" nsrun "$1" wg show "$2"
		;;
	*) echo "topology: TOPO_WG must be go or kernel, not '$TOPO_WG'" >&2; return 2 ;;
	esac
}

topo_up() {
	mkdir -p "$TOPO_DIR"
	# Sysctls before any link exists, so that every interface inherits them; no IPv6,
	# so that `ip route show table all` holds nothing the kernel adds on its own.
	for _n in $TOPO_NAMESPACES; do
		ip netns add "$TOPO_NS$_n"
		nsrun "$_n" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 > /dev/null
		ip -n "$TOPO_NS$_n" link set lo up
	done
	for _n in inet isp1 isp2 vps rtr; do nsrun "$_n" sysctl -q -w net.ipv4.ip_forward=1 > /dev/null; done

	veth inet isp1 isp1 wan;  addr inet isp1 198.51.100.1/30;  addr isp1 wan 198.51.100.2/30
	veth inet isp2 isp2 wan;  addr inet isp2 198.51.100.5/30;  addr isp2 wan 198.51.100.6/30
	veth inet vps vps wan;    addr inet vps 198.51.100.9/30;   addr vps wan 198.51.100.10/30
	veth isp1 lan rtr eth0;   addr isp1 lan 192.168.1.1/24;    addr rtr eth0 192.168.1.2/24
	veth isp2 lan rtr eth1;   addr isp2 lan 192.168.2.1/24;    addr rtr eth1 192.168.2.2/24
	veth rtr switch0 c1 eth0; addr rtr switch0 192.168.10.1/24; addr c1 eth0 192.168.10.50/24
	veth rtr lan2 c2 eth0;    addr rtr lan2 192.168.20.1/24;   addr c2 eth0 192.168.20.50/24
	for _a in 80 81 82 83 53; do addr inet lo "203.0.113.$_a/32"; done

	# Outside the router: everything that reaches inet is NATed to a /30 address, so
	# inet needs no routes of its own, and the source address says which way it went.
	ip -n "${TOPO_NS}isp1" route add default via 198.51.100.1
	ip -n "${TOPO_NS}isp2" route add default via 198.51.100.5
	ip -n "${TOPO_NS}vps" route add default via 198.51.100.9
	ip -n "${TOPO_NS}c1" route add default via 192.168.10.1
	ip -n "${TOPO_NS}c2" route add default via 192.168.20.1
	nat isp1 wfslab_isp 'oifname "wan"'
	nat isp2 wfslab_isp 'oifname "wan"'

	# The router: load-balancer tables, rules and marks.
	_r="${TOPO_NS}rtr"
	ip -n "$_r" route add default via 192.168.1.1 dev eth0 proto static metric 100
	ip -n "$_r" route add default via 192.168.2.1 dev eth1 proto static metric 200
	ip -n "$_r" route add default via 192.168.1.1 dev eth0 proto static table 201
	ip -n "$_r" route add default via 192.168.2.1 dev eth1 proto static table 202
	ip -n "$_r" route add default via 192.168.2.1 dev eth1 proto static table 10
	ip -n "$_r" rule add priority 101 fwmark 0x65 lookup 201
	ip -n "$_r" rule add priority 102 fwmark 0x66 lookup 202
	ip -n "$_r" rule add priority 103 fwmark 0x100/0xf00 lookup 10
	nsrun rtr nft -f - << 'EOF'
table ip wfslab_rtr {
	chain lb_mark {
		type filter hook prerouting priority mangle; policy accept;
		iifname { "switch0", "lan2" } tcp dport 8080 meta mark set 0x65
		iifname { "switch0", "lan2" } tcp dport 8081 meta mark set 0x66
		iifname { "switch0", "lan2" } ip daddr 203.0.113.81 meta mark set 0x65
		iifname { "switch0", "lan2" } ip daddr 203.0.113.82 meta mark set 0x66
		iifname { "switch0", "lan2" } ip daddr 203.0.113.83 meta mark set 0x123
	}
	chain nat_out {
		type nat hook postrouting priority srcnat; policy accept;
		oifname { "eth0", "eth1" } masquerade
	}
}
EOF

	# WireGuard: keys, the VPS (up, listening) and the router.
	(umask 077
	 wg genkey > "$TOPO_DIR/rtr-private.key"; wg pubkey < "$TOPO_DIR/rtr-private.key" > "$TOPO_DIR/rtr-public.key"
	 wg genkey > "$TOPO_DIR/vps-private.key"; wg pubkey < "$TOPO_DIR/vps-private.key" > "$TOPO_DIR/vps-peer-public.key")
	chmod 0644 "$TOPO_DIR/rtr-public.key" "$TOPO_DIR/vps-peer-public.key"
	wg_create vps "$TOPO_WG_VPS"
	nsrun vps wg set "$TOPO_WG_VPS" private-key "$TOPO_DIR/vps-private.key" listen-port 51820 \
		peer "$(cat "$TOPO_DIR/rtr-public.key")" allowed-ips 10.11.0.102/32,192.168.10.0/24,192.168.20.0/24
	addr vps "$TOPO_WG_VPS" 10.11.0.1/24
	ip -n "${TOPO_NS}vps" link set "$TOPO_WG_VPS" up
	ip -n "${TOPO_NS}vps" route add 192.168.10.0/24 dev "$TOPO_WG_VPS"
	ip -n "${TOPO_NS}vps" route add 192.168.20.0/24 dev "$TOPO_WG_VPS"
	nat vps wfslab_vps "iifname \"$TOPO_WG_VPS\" oifname \"wan\""

	_endpoint="endpoint 198.51.100.10:51820" _keepalive=
	[ "${TOPO_ENDPOINT:-yes}" = yes ] || _endpoint=
	[ -z "${TOPO_KEEPALIVE:-}" ] || _keepalive="persistent-keepalive $TOPO_KEEPALIVE"
	wg_create rtr "$TOPO_WG_RTR"
	# shellcheck disable=SC2086  # $_endpoint and $_keepalive are two words or none
	nsrun rtr wg set "$TOPO_WG_RTR" private-key "$TOPO_DIR/rtr-private.key" \
		peer "$(cat "$TOPO_DIR/vps-peer-public.key")" $_endpoint $_keepalive allowed-ips 0.0.0.0/0
	addr rtr "$TOPO_WG_RTR" 10.11.0.102/24
	[ "${TOPO_WG_LINK:-up}" != up ] || ip -n "$_r" link set "$TOPO_WG_RTR" up

	# The tool's configuration: root's, mode 0600, as it demands.
	(umask 077
	 cat > "$TOPO_DIR/wg-failsafe.conf" << EOF
WG_IFACE=$TOPO_WG_RTR
WG_PEER_IP=10.11.0.1
WG_ENDPOINT=198.51.100.10
WG_PEER_KEY_FILE=$TOPO_DIR/vps-peer-public.key
PRIMARY_DEV=eth0
PRIMARY_GW=192.168.1.1
BACKUP_DEV=eth1
BACKUP_GW=192.168.2.1
LAN_SUBNET=192.168.10.0/24
LAN_DEV=switch0
STATE_DIR=$TOPO_DIR/state
LOCK_FILE=$TOPO_DIR/lock
LOG_FILE=$TOPO_DIR/wg-failsafe.log
UP_AFTER_S=0
EOF
	)
}
