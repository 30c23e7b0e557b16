#!/bin/bash
# wg-failsafe network-namespace lab: a dual-WAN EdgeRouter with load-balancer
# policy routing, two ISPs, a WireGuard VPS and an "internet" with an HTTP echo
# server and a DNS server. Needs root, iproute2, nftables, wireguard-go,
# wireguard-tools, dnsmasq, socat, curl, dig (bind9-dnsutils); the opt-in actors below
# need frr (LAB_FRR) and busybox (LAB_DHCP). scripts/deps.sh installs them all.
#
# The topology (drawn and described in tests/lab/topology.sh, which the QEMU guests'
# payload shares) is built in namespaces ID-*, with wireguard-go on both ends; on top of
# it the lab runs an HTTP echo server (203.0.113.80, ports 80 and 8080-8082: it answers
# with the address it saw), a DNS server (203.0.113.53) and the router's LAN resolver.
#
# Usage: lab.sh up ID | down ID
#        lab.sh exec ID NS cmd...        run cmd in namespace ID-NS
#        lab.sh fetch ID c1|c2 PORT      source address the echo server saw (or FAIL)
#        lab.sh fetch6 ID c1|c2 PORT     the same over IPv6 (a dual-stack lab)
#        lab.sh connect6 ID c1|c2 PORT   how long an IPv6 HTTP request took, in seconds,
#                                        and how it ended (curl's exit code)
#        lab.sh resolve ID c1|c2         google.com via the client's LAN dnsmasq (or FAIL)
#        lab.sh primary ID down|up       carrier loss on the router's eth0
#        lab.sh primary ID delete|create eth0 vanishes (its routes flushed) / comes back
#                                        as a new device (new ifindex), addressed, no routes
#        lab.sh silent ID on|off         ISP1 drops everything from the router, link up
#        lab.sh upstream ID down|up      ISP1 forwards nothing from the router but its
#                                        gateway still answers: an outage behind a live modem
#        lab.sh backup ID down|up        ISP2 swallows everything from the router (its
#                                        gateway silent, nothing forwarded), link up
#        lab.sh tunnel ID down|up        the VPS drops WireGuard (udp/51820)
#        lab.sh backup-vps ID down|up    ISP2 drops the router's WireGuard packets to the
#                                        VPS: the tunnel cannot work over the backup
#        lab.sh backup-vps2 ID down|up   (LAB_VPS2) the same for the second VPS
#        lab.sh vps-echo ID off|on       the VPS answers no echo on its tunnel addresses
#                                        (ICMP filtered), WireGuard works as ever
#        lab.sh handshake ID             one echo through the tunnel from the router (a
#                                        handshake over whichever WAN the endpoint takes now)
#        lab.sh tables ID                router's `ip -4/-6 route show table all` + `ip -4/-6 rule show`
#        lab.sh dhcp-gw ID eth0|eth1     (LAB_DHCP) the ISP behind that WAN gets a second lan
#                                        address, 192.168.N.254, hands it out as the router
#                                        from now on, and the router's DHCP client renews at
#                                        once: main's default of the lease moves to it
#        lab.sh vtysh ID CMD             (LAB_FRR) a vtysh command to the router's FRR
# Env: LAB_WG_NO_ENDPOINT=1 at `up` creates the router's peer without an endpoint;
#      LAB_WG_DOWN=1 leaves the router's WireGuard interface administratively down;
#      LAB_WG_KEEPALIVE=N gives the router's peer a persistent keepalive of N s (EdgeOS
#      configurations commonly have 25), so a session over the primary is always fresh;
#      LAB_IPV6=yes makes the lab dual-stack with IPv6 through the tunnel (WG_PEER_IP6),
#      LAB_IPV6=notunnel dual-stack with an IPv4-only tunnel; ISP1 then sends router
#      advertisements (radvd), and the echo server listens on 2001:db8:80::80 too.
#   The router's other actors, each opt-in (without them the lab is as it always was):
#      LAB_LB_EMU=1 runs tests/lab/lb-emu.sh, an emulation of EdgeOS's load balancer, in the
#      router (it reads LB_EMU_INTERVAL_S, LB_EMU_SCRIPT, LB_EMU_GROUP, LB_EMU_TARGETS and
#      LB_EMU_FAILOVER_TABLES=1 from this environment: see its top; its transition script
#      is ID's directory's lb-transition.sh unless LB_EMU_SCRIPT says otherwise, called when
#      it exists); it logs to rtr-lbemu.log and counts its cycles in rtr-lbemu.cycles;
#      LAB_FRR=1 runs FRR's zebra and staticd in the router (config, pid, vty and zserv
#      sockets in ID's directory, never the system's) owning main's defaults: static routes
#      0.0.0.0/0 via 192.168.1.1 distance 1 and via 192.168.2.1 distance 10 — zebra installs
#      the best as `proto static metric 20` and fails over by distance on carrier loss; the
#      topology adds neither default by hand;
#      LAB_VPS2=1 adds a second VPS (namespace ID-vps2, 198.51.100.14, tunnel 10.12.0.0/24 on
#      the router's IDw2) and lists both tunnels in the tool's configuration, in order;
#      LAB_DHCP=eth0|eth1 addresses that WAN by DHCP (dnsmasq in the ISP, busybox udhcpc in
#      the router, tests/lab/udhcpc.sh): the lease's address and main's default `proto
#      dhcp`, metric 100 (eth0) or 200 (eth1); see `dhcp-gw`.
# ID is [a-z0-9]{1,8}; everything lives in namespaces ID-*, in /tmp/wfs-lab-ID/,
# in /etc/netns/ID-c1|c2/ (client resolv.conf) and /var/run/wireguard/IDw|IDv.sock.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lab/topology.sh
. "$HERE/topology.sh"
# vps2 exists only with LAB_VPS2=1; taken down whenever it exists.
NAMESPACES="$TOPO_NAMESPACES vps2"

usage() { sed -n '/^# Usage:/,/^# Env:/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

do_up() {
    local port
    TOPO_WG=go TOPO_WG_RTR=${LAB}w TOPO_WG_VPS=${LAB}v
    TOPO_ENDPOINT=yes TOPO_WG_LINK=up TOPO_KEEPALIVE=${LAB_WG_KEEPALIVE:-}
    TOPO_IPV6=${LAB_IPV6:-no} TOPO_RA=radvd
    if [ "${LAB_WG_NO_ENDPOINT:-0}" = 1 ]; then TOPO_ENDPOINT=no; fi
    if [ "${LAB_WG_DOWN:-0}" = 1 ]; then TOPO_WG_LINK=down; fi
    TOPO_LAB=$HERE TOPO_DHCP=${LAB_DHCP:-} TOPO_MAIN=static TOPO_VPS2=no
    if [ "${LAB_VPS2:-0}" = 1 ]; then TOPO_VPS2=yes; fi
    if [ "${LAB_FRR:-0}" = 1 ]; then TOPO_MAIN=frr; fi
    topo_up
    if [ "${LAB_FRR:-0}" = 1 ]; then start_frr; fi
    if [ "${LAB_LB_EMU:-0}" = 1 ]; then
        LB_EMU_CYCLES=$DIR/rtr-lbemu.cycles LB_EMU_SCRIPT=${LB_EMU_SCRIPT:-$DIR/lb-transition.sh} \
            spawn rtr lbemu sh "$HERE/lb-emu.sh"
        wait_until 5 "the load balancer emulation" grep -q 'lb-emu: started' "$DIR/rtr-lbemu.log"
    fi

    # --- internet services: DNS (dnsmasq daemonizes and writes its pid file
    #     only once it listens) and the HTTP echo (socat, one handler per request)
    nsrun inet dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=203.0.113.53 --address=/google.com/203.0.113.80 \
        --address=/example.com/203.0.113.80 --pid-file="$DIR/inet-dnsmasq.pid" \
        --log-facility="$DIR/inet-dnsmasq.log" --log-queries
    cat >"$DIR/http-echo.sh" <<'EOF'
#!/bin/bash
# one HTTP/1.0 exchange: read the request head, answer with the peer address
while IFS= read -r -t 5 line && [ -n "${line%$'\r'}" ]; do :; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#SOCAT_PEERADDR}" "$SOCAT_PEERADDR"
EOF
    chmod 0755 "$DIR/http-echo.sh"
    for port in 80 8080 8081 8082; do
        spawn inet "http$port" socat "TCP-LISTEN:$port,bind=203.0.113.80,reuseaddr,fork" \
            "EXEC:$DIR/http-echo.sh"
        if [ "$TOPO_IPV6" != no ]; then
            spawn inet "http6-$port" socat "TCP6-LISTEN:$port,bind=[2001:db8:80::80],reuseaddr,fork" \
                "EXEC:$DIR/http-echo.sh"
        fi
    done

    # --- the router's LAN resolver and the clients' resolv.conf
    nsrun rtr dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=192.168.10.1 --listen-address=192.168.20.1 --server=203.0.113.53 \
        --pid-file="$DIR/rtr-dnsmasq.pid" --log-facility="$DIR/rtr-dnsmasq.log"
    mkdir -p "/etc/netns/$LAB-c1" "/etc/netns/$LAB-c2"
    echo "nameserver 192.168.10.1" >"/etc/netns/$LAB-c1/resolv.conf"
    echo "nameserver 192.168.20.1" >"/etc/netns/$LAB-c2/resolv.conf"

    # --- on a wire, an answer to a client's first SYN (an ICMPv6 refusal) arrives after
    #     its connect() has returned. In one kernel it is delivered inline, while the
    #     socket is still locked, and dropped (TcpExtLockDroppedIcmps): the LAN's receive
    #     processing goes to CPU 1 (RPS) and `connect6` runs the client on CPU 0.
    if [ "$TOPO_IPV6" != no ] && [ "$(nproc)" -ge 2 ]; then
        for pair in c1:eth0 c2:eth0 rtr:switch0 rtr:lan2; do
            nsrun "${pair%%:*}" sh -c "echo 2 > /sys/class/net/${pair#*:}/queues/rx-0/rps_cpus"
        done
    fi

    # --- what the lab adds to the tool's configuration
    cat >>"$DIR/wg-failsafe.conf" <<EOF
PROBE_TIMEOUT_MS=300
TUNNEL_WAIT=10
DNS_RESTART_CMD=/bin/true
EOF

    # --- ready when the echo server listens on all four ports
    for port in 80 8080 8081 8082; do
        wait_until 5 "HTTP echo on port $port" \
            sh -c "ip netns exec '$LAB-inet' ss -Hltn 'sport = :$port' | grep -q 203.0.113.80"
        if [ "$TOPO_IPV6" != no ]; then
            wait_until 5 "HTTP echo on [2001:db8:80::80]:$port" \
                sh -c "ip netns exec '$LAB-inet' ss -Hltn 'sport = :$port' | grep -q 2001:db8:80::80"
        fi
    done
}

# FRR's zebra and staticd in the router, in the foreground, everything of theirs under
# $DIR/frr (FRR's defaults, /etc/frr and /var/run/frr, are the host's), as the user frr
# (FRR insists that the user be in its vty group, frrvty). zebra runs without
# -a (allow_delete), as FRR's packages start it: it re-installs a route of its own that
# someone else deletes.
start_frr() {
    local f=$DIR/frr
    mkdir -m 0755 "$f"
    chown frr:frr "$f"
    # No kernel nexthop objects (`nhid N` on every route): EdgeOS's kernels (4.9, 4.14)
    # predate them, and its zebra installs plain routes.
    printf 'hostname %s\nno zebra nexthop kernel enable\n' "$LAB-rtr" >"$f/zebra.conf"
    cat >"$f/staticd.conf" <<'EOF'
! main's defaults as a Vyatta/EdgeOS router has them: the primary's distance lower
ip route 0.0.0.0/0 192.168.1.1 1
ip route 0.0.0.0/0 192.168.2.1 10
EOF
    spawn rtr zebra /usr/lib/frr/zebra -f "$f/zebra.conf" -i "$f/zebra.pid" -z "$f/zserv.api" \
        --vty_socket "$f" -P 0 -u frr -g frr --log "file:$f/zebra.log"
    wait_until 10 "zebra's zserv socket" test -S "$f/zserv.api"
    spawn rtr staticd /usr/lib/frr/staticd -f "$f/staticd.conf" -i "$f/staticd.pid" -z "$f/zserv.api" \
        --vty_socket "$f" -P 0 -u frr -g frr --log "file:$f/staticd.log"
    wait_until 10 "zebra's default in main" sh -c \
        "ip -n '$LAB-rtr' -4 route show table main default | grep -q 'via 192.168.1.1 dev eth0 proto static'"
}

# ours PID : true if PID is a live process (not a zombie) inside one of this
# lab's namespaces (and not this script, should it run in one); guards every
# kill against a recycled pid
ours() {
    local ns n
    case $1 in ''|*[!0-9]*|"$$"|"$PPID") return 1 ;; esac
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 1
    ns=$(readlink "/proc/$1/ns/net" 2>/dev/null) || return 1
    for n in $NAMESPACES; do
        if [ -e "/run/netns/$LAB-$n" ] && [ "$ns" = "net:[$(stat -Lc %i "/run/netns/$LAB-$n")]" ]; then
            return 0
        fi
    done
    return 1
}

# Idempotent; works on any partial state. Zombies count as gone: our daemons
# are orphans and this init reaps them only after a while.
do_down() {
    local f ns pid="" pids="" tries=30
    # the daemons we started (pid files), then anything else still inside our
    # namespaces (e.g. a detached wg-failsafe tick): TERM, wait 3 s, KILL
    for f in "$DIR"/*.pid; do
        if [ -e "$f" ]; then pids="$pids $(cat "$f")"; fi
    done
    for ns in $NAMESPACES; do
        if [ -e "/run/netns/$LAB-$ns" ]; then pids="$pids $(ip netns pids "$LAB-$ns")"; fi
    done
    for pid in $pids; do
        if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    while [ $tries -gt 0 ]; do
        for pid in $pids; do
            if ours "$pid"; then break; fi
            pid=""
        done
        if [ -z "$pid" ]; then break; fi
        sleep 0.1; tries=$(( tries - 1 ))
    done
    for pid in $pids; do
        if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for ns in $NAMESPACES; do
        if [ -e "/run/netns/$LAB-$ns" ]; then ip netns del "$LAB-$ns"; fi
    done
    rm -f "$TOPO_WG_RUN/${LAB}w.sock" "$TOPO_WG_RUN/${LAB}v.sock" "$TOPO_WG_RUN/${LAB}w2.sock" "$TOPO_WG_RUN/${LAB}v2.sock"
    rm -rf "/etc/netns/$LAB-c1" "/etc/netns/$LAB-c2" "$DIR"
}

up_exit() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "lab $LAB: up failed, cleaning up" >&2
        do_down
    fi
    exit $rc
}

# blocker NS TABLE on|off CHAINS : put (on) or take away (off) an nftables table
# of drop rules (both families) in ID-NS; idempotent either way
blocker() {
    nsrun "$1" nft list tables >/dev/null    # the namespace must exist
    nsrun "$1" nft delete table inet "$2" 2>/dev/null || true
    if [ "$3" = on ]; then
        printf 'table inet %s {%s\n}\n' "$2" "$4" | nsrun "$1" nft -f -
    fi
}

# fetch/resolve helpers: the client namespace and its LAN gateway
client_gw() {
    case $1 in
        c1) echo 192.168.10.1 ;; c2) echo 192.168.20.1 ;;
        *) echo "lab: client must be c1 or c2" >&2; exit 2 ;;
    esac
}

# --- command line
[ $# -ge 2 ] || usage
cmd=$1 LAB=$2
shift 2
[[ $LAB =~ ^[a-z0-9]{1,8}$ ]] || { echo "lab: ID must match [a-z0-9]{1,8}" >&2; exit 2; }
DIR=/tmp/wfs-lab-$LAB
TOPO_NS=$LAB- TOPO_DIR=$DIR

case $cmd in
up)
    [ $# -eq 0 ] || usage
    for ns in $NAMESPACES; do
        if [ -e "$DIR" ] || [ -e "/run/netns/$LAB-$ns" ]; then
            echo "lab $LAB: already exists (run: $0 down $LAB)" >&2; exit 1
        fi
    done
    mkdir -m 0755 "$DIR"
    # on any failure or signal: tear down what was built, keep the exit status
    trap up_exit EXIT
    trap 'exit 130' INT TERM HUP
    do_up
    trap - EXIT INT TERM HUP
    echo "lab $LAB up (config: $DIR/wg-failsafe.conf)"
    ;;
down)
    do_down
    ;;
exec)
    [ $# -ge 2 ] || usage
    ns=$1; shift
    exec ip netns exec "$LAB-$ns" "$@"
    ;;
fetch | fetch6)
    [ $# -eq 2 ] || usage
    client_gw "$1" >/dev/null
    url=http://203.0.113.80:$2/
    [ "$cmd" = fetch ] || url=http://[2001:db8:80::80]:$2/
    if out=$(nsrun "$1" curl -sS --connect-timeout 3 -m 5 "$url") && [ -n "$out" ]; then
        echo "$out"
    else
        echo FAIL; exit 1
    fi
    ;;
connect6)
    [ $# -eq 2 ] || usage
    client_gw "$1" >/dev/null
    rc=0
    took=$(nsrun "$1" taskset -c 0 curl -6 -s -o /dev/null -w '%{time_total}' --connect-timeout 3 -m 5 \
        "http://[2001:db8:80::80]:$2/") || rc=$?
    echo "$took $rc"
    ;;
resolve)
    [ $# -eq 1 ] || usage
    gw=$(client_gw "$1")
    out=$(nsrun "$1" dig +short +time=3 +tries=1 "@$gw" google.com A 2>/dev/null | grep -m1 -E '^[0-9.]+$') \
        || { echo FAIL; exit 1; }
    echo "$out"
    ;;
primary)   # carrier loss: the ISP1 end goes down, the router's eth0 loses LOWER_UP
    case ${1:-} in
        down|up) ip -n "$LAB-isp1" link set lan "$1" ;;
        delete) ip -n "$LAB-rtr" link del eth0; exit 0 ;;   # both ends of the veth go
        create)
            veth isp1 lan rtr eth0; addr isp1 lan 192.168.1.1/24; addr rtr eth0 192.168.1.2/24
            if [ -n "$(ip -n "$LAB-isp1" -6 addr show dev wan)" ]; then
                addr isp1 lan 2001:db8:1::1/64; addr rtr eth0 2001:db8:1::2/64
            fi
            set -- up ;;
        *) usage ;;
    esac
    # the kernel's linkwatch reports a carrier change up to a second later: wait for it
    if [ "$1" = up ]; then
        wait_until 5 "carrier on eth0" sh -c "ip -n '$LAB-rtr' link show eth0 | grep -q LOWER_UP"
    else
        wait_until 5 "carrier loss on eth0" sh -c "! ip -n '$LAB-rtr' link show eth0 | grep -q LOWER_UP"
    fi
    ;;
silent)    # ISP1 swallows everything from the router (no echo, no forwarding)
    case ${1:-} in on|off) ;; *) usage ;; esac
    blocker isp1 wfslab_silent "$1" '
    chain drop_in { type filter hook input priority filter; policy accept; iifname "lan" drop; }
    chain drop_through { type filter hook forward priority filter; policy accept; iifname "lan" drop; }'
    ;;
upstream)  # ISP1 answers the router but forwards nothing for it
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker isp1 wfslab_upstream "$state" '
    chain drop_through { type filter hook forward priority filter; policy accept; iifname "lan" drop; }'
    ;;
backup)    # ISP2 swallows everything from the router: the backup is dead, its link up
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker isp2 wfslab_bdead "$state" '
    chain drop_in { type filter hook input priority filter; policy accept; iifname "lan" drop; }
    chain drop_through { type filter hook forward priority filter; policy accept; iifname "lan" drop; }'
    ;;
backup-vps) # ISP2 carries everything but the router's WireGuard packets to the VPS
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker isp2 wfslab_bvps "$state" '
    chain drop_wg { type filter hook forward priority filter; policy accept;
        iifname "lan" ip daddr 198.51.100.10 udp dport 51820 drop; }'
    ;;
backup-vps2) # (LAB_VPS2) the same for the second VPS
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker isp2 wfslab_bvps2 "$state" '
    chain drop_wg { type filter hook forward priority filter; policy accept;
        iifname "lan" ip daddr 198.51.100.14 udp dport 51820 drop; }'
    ;;
vps-echo)  # the VPS filters echo requests to its tunnel addresses, as many a VPS does
    case ${1:-} in off) state=on ;; on) state=off ;; *) usage ;; esac
    blocker vps wfslab_noecho "$state" '
    chain drop_echo { type filter hook input priority filter; policy accept;
        ip daddr 10.11.0.1 icmp type echo-request drop;
        ip6 daddr 2001:db8:ff::1 icmpv6 type echo-request drop; }'
    ;;
handshake)
    nsrun rtr ping -c 1 -W 3 -I "${LAB}w" 10.11.0.1 >/dev/null
    ;;
tunnel)    # the VPS ignores WireGuard: no handshake can complete
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker vps wfslab_tunnel "$state" '
    chain drop_wg { type filter hook input priority filter; policy accept; udp dport 51820 drop; }'
    ;;
dhcp-gw)   # the next lease of that WAN names a new router, and the client renews now
    case ${1:-} in eth0) isp=isp1 n=1 ;; eth1) isp=isp2 n=2 ;; *) usage ;; esac
    gw=192.168.$n.254
    [ -n "$(ip -n "$LAB-$isp" -4 addr show dev lan to "$gw/32")" ] || addr "$isp" lan "$gw/24"
    echo "option:router,$gw" >"$DIR/$isp-dhcp.opts"
    # dnsmasq re-reads its --dhcp-optsfile at SIGHUP, and logs it: the renewal must come
    # after that, or it may be answered with the old router
    opts="read $DIR/$isp-dhcp.opts"
    reads=$(grep -c "$opts" "$DIR/$isp-dhcp.log" || true)
    kill -HUP "$(cat "$DIR/$isp-dhcp.pid")"
    wait_until 5 "dnsmasq re-reading $DIR/$isp-dhcp.opts" \
        sh -c "[ \"\$(grep -c '$opts' '$DIR/$isp-dhcp.log')\" -gt $reads ]"
    log=$DIR/rtr-udhcpc-$1.log
    seen=$(grep -c "router=$gw\$" "$log" || true)
    kill -USR1 "$(cat "$DIR/rtr-udhcpc-$1.pid")"
    wait_until 10 "a renewal of $1 with router $gw" \
        sh -c "[ \"\$(grep -c 'router=$gw\$' '$log')\" -gt $seen ]"
    ;;
vtysh)
    [ $# -eq 1 ] || usage
    nsrun rtr vtysh --vty_socket "$DIR/frr" -c "$1"
    ;;
tables)
    for what in "-4 route show table all" "-6 route show table all" "-4 rule show" "-6 rule show"; do
        echo "== ip $what"
        # shellcheck disable=SC2086  # $what is the words of the command
        ip -n "$LAB-rtr" $what
    done
    ;;
*)
    usage
    ;;
esac
