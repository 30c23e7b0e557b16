#!/bin/sh
# Smoke test for vm/run.sh, run by the guest's /init (busybox sh, as root):
#   two network namespaces joined by a veth pair, in-kernel WireGuard on both ends
#   (ip link … type wireguard + wg set, keys from wg genkey), a ping through the tunnel,
#   a non-zero latest handshake, fwmark policy routing (rule → table 201) and, when nft
#   is present, an nftables rule that counts marked packets.
# Addresses are documentation ranges; the guest has no network card anyway.
# Exit status 0 = pass; each failed check says what it expected.
set -eu

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }
A="ip netns exec a" B="ip netns exec b"

step "versions: $(uname -r) $(uname -m); $(ip -V); $(wg --version)"
case $(ip -V) in *iproute2*) ;; *) fail "ip is not iproute2's (busybox applet?)" ;; esac

step "namespaces a and b, veth va (192.0.2.1) <-> vb (192.0.2.2)"
ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 192.0.2.1/24 dev va
ip -n b addr add 192.0.2.2/24 dev vb
for n in a b; do ip -n $n link set lo up; done
ip -n a link set va up
ip -n b link set vb up
$A ping -c 1 -w 5 192.0.2.2 > /dev/null || fail "no ping over the veth"

step "WireGuard wg0: a 198.51.100.1 <-> b 198.51.100.2"
umask 077
wg genkey > /tmp/a.key
wg genkey > /tmp/b.key
pub_a=$(wg pubkey < /tmp/a.key)
pub_b=$(wg pubkey < /tmp/b.key)
ip -n a link add wg0 type wireguard
ip -n b link add wg0 type wireguard
$A wg set wg0 listen-port 51820 private-key /tmp/a.key \
	peer "$pub_b" endpoint 192.0.2.2:51820 allowed-ips 198.51.100.2/32,203.0.113.0/24
$B wg set wg0 listen-port 51820 private-key /tmp/b.key \
	peer "$pub_a" endpoint 192.0.2.1:51820 allowed-ips 198.51.100.1/32
ip -n a addr add 198.51.100.1/24 dev wg0
ip -n b addr add 198.51.100.2/24 dev wg0
ip -n a link set wg0 up
ip -n b link set wg0 up
$A ping -c 3 -w 15 198.51.100.2 || fail "no ping through the tunnel"

hs=$($A wg show wg0 latest-handshakes | awk '{ print $2 }')
echo "latest handshake (a): $hs"
[ "${hs:-0}" -gt 0 ] || fail "latest-handshakes is '$hs', expected > 0"
$A wg show wg0

step "policy routing: fwmark 0x65 -> table 201 -> wg0"
ip -n a route add default via 192.0.2.2 dev va
ip -n a rule add fwmark 0x65 lookup 201
ip -n a route add default via 198.51.100.2 dev wg0 table 201
ip -n a rule show
ip -n a route show table 201
plain=$(ip -n a route get 203.0.113.7)
marked=$(ip -n a route get 203.0.113.7 mark 0x65)
echo "unmarked: $plain"
echo "marked:   $marked"
case $plain in *"dev va"*) ;; *) fail "unmarked traffic should use main (dev va)" ;; esac
case $marked in *"via 198.51.100.2 dev wg0 table 201"*) ;; *) fail "marked traffic should use table 201 (wg0)" ;; esac

if command -v nft > /dev/null; then
	step "nftables: mark output packets to 203.0.113.0/24, count them"
	# A marked ping is rerouted (output hook, type route) into table 201, over the tunnel.
	ip -n b addr add 203.0.113.7/32 dev lo
	$A nft add table inet t
	$A nft add chain inet t mark_out '{ type route hook output priority mangle; }'
	$A nft add rule inet t mark_out ip daddr 203.0.113.0/24 meta mark set 0x65 counter
	$A ping -c 2 -w 10 -I 198.51.100.1 203.0.113.7 > /dev/null || fail "marked ping did not cross the tunnel"
	$A nft list chain inet t mark_out
	$A nft list chain inet t mark_out | grep -q 'counter packets [1-9]' || fail "nft counter stayed 0"
fi

step "all checks passed"
