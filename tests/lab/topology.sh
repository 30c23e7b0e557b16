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
# IPv6 (TOPO_IPV6=yes or notunnel), in 2001:db8::/32 on every link: inet 2001:db8:0:N::1,
# the ISPs' and the VPS's wan 2001:db8:0:N::2 (N = 1, 2, 3), the echo on 2001:db8:80::80;
# ISP1's lan 2001:db8:1::1 (it sends router advertisements when TOPO_RA=radvd), ISP2's
# 2001:db8:2::1, the router 2001:db8:1::2, 2001:db8:2::2, switch0 2001:db8:10::1/64
# (LAN_SUBNET6), lan2 2001:db8:20::1/64, the clients ::50. With `yes` the tunnel carries
# IPv6 too: the VPS 2001:db8:ff::1 (WG_PEER_IP6), the router 2001:db8:ff::102. Everything
# that leaves a WAN or the VPS is NAT66ed, as IPv4 is NATed, so the echo's peer address
# says the path.
#   main: the router advertisement's default via eth0 (proto ra, metric 1024, a lifetime;
#         with TOPO_RA=static a route of that shape), via 2001:db8:2::1 dev eth1 metric 2048
#   201: via 2001:db8:1::1 dev eth0 proto zebra metric 1 (wins over the tunnel's: moved)
#   202: via 2001:db8:2::1 dev eth1 (metric 1024)   rules 101/102 as IPv4's, marks by port
#   as IPv4's and by destination (2001:db8:80::81 0x65, ::82 0x66; ::80 unmarked)
#
# The router's routing is the EdgeOS load balancer's (its WANs, tables, gateways and marks
# are TOPO_LB_WANS below, which tests/lab/lb-emu.sh reads too):
#   main: default via 192.168.1.1 dev eth0 metric 100, via 192.168.2.1 dev eth1 metric 200
#         (proto static; with TOPO_MAIN=frr FRR's zebra installs main's defaults instead,
#         with TOPO_DHCP=ethN the DHCP client that WAN's address and default, proto dhcp)
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
#   TOPO_LAB       the directory of this file (with TOPO_DHCP: udhcpc.sh is found there)
#   TOPO_WG        go (wireguard-go, driven over its UAPI socket) or kernel
#   TOPO_WG_RTR, TOPO_WG_VPS  the two WireGuard interfaces (wireguard-go's sockets are
#                  global, in /var/run/wireguard, so the lab puts its ID in these names)
#   TOPO_ENDPOINT  yes (default) or no: the router's peer has the VPS endpoint, or none
#   TOPO_WG_LINK   up (default, as on EdgeOS) or down: the router's WireGuard interface
#   TOPO_KEEPALIVE the router peer's persistent keepalive in seconds (default none: idle,
#                  no handshake until traffic needs one)
#   TOPO_IPV6      no (default), yes (dual-stack, the tunnel too) or notunnel (dual-stack,
#                  the tunnel IPv4 only: no WG_PEER_IP6)
#   TOPO_RA        radvd (ISP1 advertises; needs radvd) or static (default: main gets a
#                  route of the advertisement's shape)
#   TOPO_MAIN      static (default): main's two defaults are added by hand; frr: none are
#                  (the caller runs FRR, which installs them)
#   TOPO_VPS2      no (default) or yes: a second VPS (namespace vps2, see topo_vps2) and a
#                  second tunnel to it, the tool's configuration listing both, in order
#   TOPO_DHCP      empty (default), eth0 or eth1: that WAN is addressed by DHCP. ISP1 or
#                  ISP2 serves it (dnsmasq on its lan: the router's usual address, the ISP's
#                  lan address as the router option, read from $TOPO_DIR/ispN-dhcp.opts so that
#                  a SIGHUP changes it), and busybox udhcpc on the router installs the lease
#                  with tests/lab/udhcpc.sh: the address, and main's default `proto dhcp` at
#                  the WAN's usual metric. The load balancer's tables keep their static routes.
# topo_up builds everything and writes $TOPO_DIR/wg-failsafe.conf (root's, 0600) with the
# keys every user of the topology shares; callers append their own.

TOPO_NAMESPACES="inet isp1 isp2 vps rtr c1 c2"
# The load balancer's WANs, TABLE:DEVICE:GATEWAY:MARK each (rule priority TABLE - 100).
TOPO_LB_WANS="201:eth0:192.168.1.1:0x65 202:eth1:192.168.2.1:0x66"
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

# addr NS IFACE PREFIX (IPv6 ones without duplicate address detection: usable at once)
addr() {
	case $3 in
	*:*) ip -n "$TOPO_NS$1" addr add "$3" dev "$2" nodad ;;
	*) ip -n "$TOPO_NS$1" addr add "$3" dev "$2" ;;
	esac
}

# nat NS TABLE RULE [FAMILY]: an nftables table (ip, or ip6) that masquerades what RULE
# matches on its way out.
nat() {
	nsrun "$1" nft -f - << EOF
table ${4:-ip} $2 {
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
	# Sysctls before any link exists, so that every interface inherits them. Without
	# IPv6 none at all, so that `ip route show table all` holds nothing the kernel adds
	# on its own; with it, no duplicate address detection and no address autoconfiguration
	# (the addresses are static, and stay on a link that goes down, as an ISP's would), and the
# router takes advertisements while forwarding.
	_v6=${TOPO_IPV6:-no}
	_vps6=
	case $_v6 in
	no) _off=1 ;;
	yes | notunnel) _off=0 ;;
	*) echo "topology: TOPO_IPV6 must be no, yes or notunnel, not '$_v6'" >&2; return 2 ;;
	esac
	for _n in $TOPO_NAMESPACES; do
		ip netns add "$TOPO_NS$_n"
		nsrun "$_n" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv6.conf.all.disable_ipv6=$_off net.ipv6.conf.default.disable_ipv6=$_off > /dev/null
		[ "$_off" = 1 ] || nsrun "$_n" sysctl -q -w net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.autoconf=0 \
			net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.default.keep_addr_on_down=1 > /dev/null
		ip -n "$TOPO_NS$_n" link set lo up
	done
	for _n in inet isp1 isp2 vps rtr; do
		nsrun "$_n" sysctl -q -w net.ipv4.ip_forward=1 > /dev/null
		[ "$_off" = 1 ] || nsrun "$_n" sysctl -q -w net.ipv6.conf.all.forwarding=1 > /dev/null
	done
	[ "$_off" = 1 ] || nsrun rtr sysctl -q -w net.ipv6.conf.default.accept_ra=2 > /dev/null

	veth inet isp1 isp1 wan;  addr inet isp1 198.51.100.1/30;  addr isp1 wan 198.51.100.2/30
	veth inet isp2 isp2 wan;  addr inet isp2 198.51.100.5/30;  addr isp2 wan 198.51.100.6/30
	veth inet vps vps wan;    addr inet vps 198.51.100.9/30;   addr vps wan 198.51.100.10/30
	veth isp1 lan rtr eth0;   addr isp1 lan 192.168.1.1/24
	veth isp2 lan rtr eth1;   addr isp2 lan 192.168.2.1/24
	[ "${TOPO_DHCP:-}" = eth0 ] || addr rtr eth0 192.168.1.2/24
	[ "${TOPO_DHCP:-}" = eth1 ] || addr rtr eth1 192.168.2.2/24
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
	[ "$_off" = 1 ] || topo_ipv6_outside

	# The router: main's defaults (unless FRR or a DHCP client owns them), the load
	# balancer's tables, rules and marks. A DHCP WAN has its lease first: the tables' routes
	# need its address.
	_r="${TOPO_NS}rtr"
	case ${TOPO_DHCP:-} in
	'') ;;
	eth0 | eth1) topo_dhcp "$TOPO_DHCP" ;;
	*) echo "topology: TOPO_DHCP must be empty, eth0 or eth1, not '$TOPO_DHCP'" >&2; return 2 ;;
	esac
	case ${TOPO_MAIN:-static} in
	static)
		[ "${TOPO_DHCP:-}" = eth0 ] || ip -n "$_r" route add default via 192.168.1.1 dev eth0 proto static metric 100
		[ "${TOPO_DHCP:-}" = eth1 ] || ip -n "$_r" route add default via 192.168.2.1 dev eth1 proto static metric 200
		;;
	frr) ;;
	*) echo "topology: TOPO_MAIN must be static or frr, not '$TOPO_MAIN'" >&2; return 2 ;;
	esac
	for _w in $TOPO_LB_WANS; do
		_t=${_w%%:*} _rest=${_w#*:}
		_dev=${_rest%%:*} _rest=${_rest#*:}
		ip -n "$_r" route add default via "${_rest%%:*}" dev "$_dev" proto static table "$_t"
		ip -n "$_r" rule add priority $((_t - 100)) fwmark "${_rest#*:}" lookup "$_t"
	done
	ip -n "$_r" route add default via 192.168.2.1 dev eth1 proto static table 10
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

	[ "$_off" = 1 ] || topo_ipv6_router

	# WireGuard: keys, the VPS (up, listening) and the router.
	(umask 077
	 wg genkey > "$TOPO_DIR/rtr-private.key"; wg pubkey < "$TOPO_DIR/rtr-private.key" > "$TOPO_DIR/rtr-public.key"
	 wg genkey > "$TOPO_DIR/vps-private.key"; wg pubkey < "$TOPO_DIR/vps-private.key" > "$TOPO_DIR/vps-peer-public.key")
	chmod 0644 "$TOPO_DIR/rtr-public.key" "$TOPO_DIR/vps-peer-public.key"
	wg_create vps "$TOPO_WG_VPS"
	nsrun vps wg set "$TOPO_WG_VPS" private-key "$TOPO_DIR/vps-private.key" listen-port 51820 \
		peer "$(cat "$TOPO_DIR/rtr-public.key")" allowed-ips 10.11.0.102/32,192.168.10.0/24,192.168.20.0/24$_vps6
	addr vps "$TOPO_WG_VPS" 10.11.0.1/24
	ip -n "${TOPO_NS}vps" link set "$TOPO_WG_VPS" up
	ip -n "${TOPO_NS}vps" route add 192.168.10.0/24 dev "$TOPO_WG_VPS"
	ip -n "${TOPO_NS}vps" route add 192.168.20.0/24 dev "$TOPO_WG_VPS"
	nat vps wfslab_vps "iifname \"$TOPO_WG_VPS\" oifname \"wan\""
	if [ "$_v6" = yes ]; then
		addr vps "$TOPO_WG_VPS" 2001:db8:ff::1/64
		ip -n "${TOPO_NS}vps" -6 route add 2001:db8:10::/64 dev "$TOPO_WG_VPS"
		ip -n "${TOPO_NS}vps" -6 route add 2001:db8:20::/64 dev "$TOPO_WG_VPS"
		nat vps wfslab_vps6 "iifname \"$TOPO_WG_VPS\" oifname \"wan\"" ip6
	fi

	_endpoint="endpoint 198.51.100.10:51820" _keepalive=
	[ "${TOPO_ENDPOINT:-yes}" = yes ] || _endpoint=
	[ -z "${TOPO_KEEPALIVE:-}" ] || _keepalive="persistent-keepalive $TOPO_KEEPALIVE"
	wg_create rtr "$TOPO_WG_RTR"
	# shellcheck disable=SC2086  # $_endpoint and $_keepalive are two words or none
	nsrun rtr wg set "$TOPO_WG_RTR" private-key "$TOPO_DIR/rtr-private.key" \
		peer "$(cat "$TOPO_DIR/vps-peer-public.key")" $_endpoint $_keepalive allowed-ips 0.0.0.0/0,::/0
	addr rtr "$TOPO_WG_RTR" 10.11.0.102/24
	[ "$_v6" != yes ] || addr rtr "$TOPO_WG_RTR" 2001:db8:ff::102/64
	# Down means set down after being up, as on a router that has run for a while: IPv6
	# keeps the local routes of an address added to a link that was never up until the
	# link's first down.
	ip -n "$_r" link set "$TOPO_WG_RTR" up
	[ "${TOPO_WG_LINK:-up}" = up ] || ip -n "$_r" link set "$TOPO_WG_RTR" down

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
BOOT_WAIT_S=0
EOF
	 [ "$_off" = 1 ] || echo "LAN_SUBNET6=2001:db8:10::/64" >> "$TOPO_DIR/wg-failsafe.conf"
	 [ "$_v6" != yes ] || echo "WG_PEER_IP6=2001:db8:ff::1" >> "$TOPO_DIR/wg-failsafe.conf"
	)
	[ "${TOPO_VPS2:-no}" = no ] || topo_vps2
}

# A second VPS in reserve (TOPO_VPS2=yes; IPv4 only), on inet like the first:
#        inet vps2 198.51.100.13/30 -- vps2 wan 198.51.100.14/30 (NAT from its WireGuard)
#        vps2's ${TOPO_WG_VPS}2 10.12.0.1/24 :51820  ...  the router's ${TOPO_WG_RTR}2 10.12.0.102/24
# The router's second interface has the same private key and the peer's endpoint; the tool's
# configuration lists both tunnels, the first VPS first.
topo_vps2() {
	ip netns add "${TOPO_NS}vps2"
	nsrun vps2 sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=1 > /dev/null
	ip -n "${TOPO_NS}vps2" link set lo up
	veth inet vps2 vps2 wan;  addr inet vps2 198.51.100.13/30; addr vps2 wan 198.51.100.14/30
	ip -n "${TOPO_NS}vps2" route add default via 198.51.100.13
	(umask 077
	 wg genkey > "$TOPO_DIR/vps2-private.key"; wg pubkey < "$TOPO_DIR/vps2-private.key" > "$TOPO_DIR/vps2-peer-public.key")
	chmod 0644 "$TOPO_DIR/vps2-peer-public.key"
	wg_create vps2 "${TOPO_WG_VPS}2"
	nsrun vps2 wg set "${TOPO_WG_VPS}2" private-key "$TOPO_DIR/vps2-private.key" listen-port 51820 \
		peer "$(cat "$TOPO_DIR/rtr-public.key")" allowed-ips 10.12.0.102/32,192.168.10.0/24,192.168.20.0/24
	addr vps2 "${TOPO_WG_VPS}2" 10.12.0.1/24
	ip -n "${TOPO_NS}vps2" link set "${TOPO_WG_VPS}2" up
	ip -n "${TOPO_NS}vps2" route add 192.168.10.0/24 dev "${TOPO_WG_VPS}2"
	ip -n "${TOPO_NS}vps2" route add 192.168.20.0/24 dev "${TOPO_WG_VPS}2"
	nat vps2 wfslab_vps "iifname \"${TOPO_WG_VPS}2\" oifname \"wan\""
	wg_create rtr "${TOPO_WG_RTR}2"
	nsrun rtr wg set "${TOPO_WG_RTR}2" private-key "$TOPO_DIR/rtr-private.key" \
		peer "$(cat "$TOPO_DIR/vps2-peer-public.key")" endpoint 198.51.100.14:51820 allowed-ips 0.0.0.0/0
	addr rtr "${TOPO_WG_RTR}2" 10.12.0.102/24
	ip -n "${TOPO_NS}rtr" link set "${TOPO_WG_RTR}2" up
	sed -i -e "s|^WG_IFACE=.*|WG_IFACE=$TOPO_WG_RTR ${TOPO_WG_RTR}2|" \
		-e "s|^WG_PEER_IP=.*|WG_PEER_IP=10.11.0.1 10.12.0.1|" \
		-e "s|^WG_ENDPOINT=.*|WG_ENDPOINT=198.51.100.10 198.51.100.14|" \
		-e "s|^WG_PEER_KEY_FILE=.*|WG_PEER_KEY_FILE=$TOPO_DIR/vps-peer-public.key $TOPO_DIR/vps2-peer-public.key|" \
		"$TOPO_DIR/wg-failsafe.conf"
}

# topo_dhcp eth0|eth1: the ISP behind that WAN serves DHCP on its lan, the router's
# udhcpc takes the lease (its address, main's default); returns once both are in place.
topo_dhcp() {
	case $1 in eth0) _isp=isp1 _n=1 _metric=100 ;; *) _isp=isp2 _n=2 _metric=200 ;; esac
	echo "option:router,192.168.$_n.1" > "$TOPO_DIR/$_isp-dhcp.opts"
	# One address to give, the router's usual one; no DNS (port 0, no DNS option).
	nsrun "$_isp" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --port=0 \
		--bind-interfaces --interface=lan --except-interface=lo --dhcp-authoritative --no-ping \
		--dhcp-range="192.168.$_n.2,192.168.$_n.2,255.255.255.0,1h" --dhcp-option=option:dns-server \
		--dhcp-optsfile="$TOPO_DIR/$_isp-dhcp.opts" --dhcp-leasefile="$TOPO_DIR/$_isp-dhcp.leases" \
		--pid-file="$TOPO_DIR/$_isp-dhcp.pid" --log-facility="$TOPO_DIR/$_isp-dhcp.log" --log-dhcp
	# udhcpc in the foreground (its pid is ours to signal: SIGUSR1 renews), retrying
	# every second until the lease comes.
	spawn rtr "udhcpc-$1" env METRIC=$_metric busybox udhcpc -f -i "$1" -t 3 -T 1 -A 1 \
		-s "$TOPO_LAB/udhcpc.sh"
	wait_until 10 "a DHCP lease on $1" sh -c \
		"ip -n '${TOPO_NS}rtr' route show default dev '$1' | grep -q 'proto dhcp'"
}

# IPv6 outside the router: every link addressed, the ISPs and the VPS routed to inet and
# NAT66ing what leaves, ISP1's advertisements.
topo_ipv6_outside() {
	addr inet isp1 2001:db8:0:1::1/64; addr isp1 wan 2001:db8:0:1::2/64
	addr inet isp2 2001:db8:0:2::1/64; addr isp2 wan 2001:db8:0:2::2/64
	addr inet vps 2001:db8:0:3::1/64;  addr vps wan 2001:db8:0:3::2/64
	addr isp1 lan 2001:db8:1::1/64;    addr rtr eth0 2001:db8:1::2/64
	addr isp2 lan 2001:db8:2::1/64;    addr rtr eth1 2001:db8:2::2/64
	addr rtr switch0 2001:db8:10::1/64; addr c1 eth0 2001:db8:10::50/64
	addr rtr lan2 2001:db8:20::1/64;   addr c2 eth0 2001:db8:20::50/64
	for _a in 80 81 82; do addr inet lo "2001:db8:80::$_a/128"; done
	ip -n "${TOPO_NS}isp1" -6 route add default via 2001:db8:0:1::1
	ip -n "${TOPO_NS}isp2" -6 route add default via 2001:db8:0:2::1
	ip -n "${TOPO_NS}vps" -6 route add default via 2001:db8:0:3::1
	ip -n "${TOPO_NS}c1" -6 route add default via 2001:db8:10::1
	ip -n "${TOPO_NS}c2" -6 route add default via 2001:db8:20::1
	nat isp1 wfslab_isp6 'oifname "wan"' ip6
	nat isp2 wfslab_isp6 'oifname "wan"' ip6
	_vps6=
	[ "$_v6" != yes ] || _vps6=,2001:db8:ff::102/128,2001:db8:10::/64,2001:db8:20::/64
}

# The router's IPv6: the defaults of main (the advertisement's, and the backup's), of the
# load balancer's tables, its rules, marks and NAT66.
topo_ipv6_router() {
	_ll=$(ip -n "${TOPO_NS}isp1" -6 -o addr show dev lan scope link | sed -n 's/.* inet6 \([^/]*\).*/\1/p')
	case ${TOPO_RA:-static} in
	radvd)
		cat > "$TOPO_DIR/isp1-radvd.conf" << 'EOF'
interface lan {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 10;
	AdvDefaultLifetime 1800;
	prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous off; };
};
EOF
		spawn isp1 radvd radvd -n -C "$TOPO_DIR/isp1-radvd.conf" -p "$TOPO_DIR/isp1-radvd.run" -m stderr
		wait_until 10 "ISP1's router advertisement" sh -c \
			"ip -n '${TOPO_NS}rtr' -6 route show default | grep -q 'proto ra'"
		;;
	static) ip -n "$_r" -6 route add default via "$_ll" dev eth0 proto ra metric 1024 expires 1800 ;;
	*) echo "topology: TOPO_RA must be radvd or static" >&2; return 2 ;;
	esac
	ip -n "$_r" -6 route add default via 2001:db8:2::1 dev eth1 proto static metric 2048
	ip -n "$_r" -6 route add default via 2001:db8:1::1 dev eth0 proto zebra metric 1 table 201
	ip -n "$_r" -6 route add default via 2001:db8:2::1 dev eth1 proto static table 202
	ip -n "$_r" -6 rule add priority 101 fwmark 0x65 lookup 201
	ip -n "$_r" -6 rule add priority 102 fwmark 0x66 lookup 202
	nsrun rtr nft -f - << 'EOF'
table ip6 wfslab_rtr6 {
	chain lb_mark {
		type filter hook prerouting priority mangle; policy accept;
		iifname { "switch0", "lan2" } tcp dport 8080 meta mark set 0x65
		iifname { "switch0", "lan2" } tcp dport 8081 meta mark set 0x66
		iifname { "switch0", "lan2" } ip6 daddr 2001:db8:80::81 meta mark set 0x65
		iifname { "switch0", "lan2" } ip6 daddr 2001:db8:80::82 meta mark set 0x66
	}
	chain nat_out {
		type nat hook postrouting priority srcnat; policy accept;
		oifname { "eth0", "eth1" } masquerade
	}
}
EOF
}
