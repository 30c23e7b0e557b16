#!/bin/sh
# busybox udhcpc's script in the lab (tests/lab/topology.sh, TOPO_DHCP): installs a lease as
# busybox's examples/udhcp/simple.script does — the address, and main's default through the
# leased router, following a router that changed at a renewal — with two differences: the
# default is `proto dhcp` at the WAN's metric ($METRIC, from the environment udhcpc was
# started with), and resolv.conf is left alone (the lab's DNS is not the ISP's).
# One line per event on stdout (the lab's log of this client), which the tests wait on.
# udhcpc sets: $1 (deconfig|bound|renew|leasefail|nak), $interface, $ip, $mask, $router.
# shellcheck shell=sh disable=SC2154  # those come from udhcpc's environment
set -u

case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	ip -4 addr replace "$ip/$mask" dev "$interface"
	gw=${router%% *}
	# Already in place: nothing to do (a renewal with the same lease changes nothing).
	# Else every default of ours through this interface goes, and the lease's comes.
	if [ -z "$(ip -4 route show table main default via "$gw" dev "$interface" proto dhcp metric "$METRIC")" ]; then
		while ip -4 route del default dev "$interface" proto dhcp table main 2> /dev/null; do :; done
		ip -4 route add default via "$gw" dev "$interface" proto dhcp metric "$METRIC"
	fi
	;;
esac
echo "udhcpc $1 $interface ip=${ip:-} router=${router:-}"
