#!/bin/bash
# wg-failsafe network-namespace lab: a dual-WAN EdgeRouter with load-balancer
# policy routing, two ISPs, a WireGuard VPS and an "internet" with an HTTP echo
# server and a DNS server. Needs root, iproute2, nftables, wireguard-go,
# wireguard-tools, dnsmasq, socat, curl, dig (bind9-dnsutils).
#
#                          ID-inet ("internet")
#        lo: 203.0.113.80 (HTTP echo :80 :8080-8082)  203.0.113.53 (DNS)
#        isp1 198.51.100.1/30   isp2 198.51.100.5/30   vps 198.51.100.9/30
#              |                       |                     |
#        wan 198.51.100.2/30     wan 198.51.100.6/30    wan 198.51.100.10/30
#        ID-isp1 (NAT)           ID-isp2 (NAT)          ID-vps (NAT from IDv)
#        lan 192.168.1.1/24      lan 192.168.2.1/24     IDv 10.11.0.1/24 :51820
#              |                       |                     .
#        eth0 192.168.1.2/24     eth1 192.168.2.2/24         . WireGuard, the
#        (primary WAN)           (backup WAN)                . router initiates
#                          ID-rtr (the router)  IDw 10.11.0.102/24 (up, idle)
#        switch0 192.168.10.1/24               lan2 192.168.20.1/24
#              |                                     |
#        ID-c1 eth0 192.168.10.50/24           ID-c2 eth0 192.168.20.50/24
#
# Router routing (EdgeOS load-balancer style):
#   main: default via 192.168.1.1 dev eth0 metric 100, via 192.168.2.1 dev eth1 metric 200
#   201: default via 192.168.1.1 dev eth0   202 and 10: default via 192.168.2.1 dev eth1
#   rules: 101 fwmark 0x65 -> 201, 102 fwmark 0x66 -> 202, 103 fwmark 0x100/0xf00 -> 10
#   LAN packets to tcp/8080 get mark 0x65, to tcp/8081 mark 0x66, the rest none.
#
# Usage: lab.sh up ID | down ID
#        lab.sh exec ID NS cmd...        run cmd in namespace ID-NS
#        lab.sh fetch ID c1|c2 PORT      source address the echo server saw (or FAIL)
#        lab.sh resolve ID c1|c2         google.com via the client's LAN dnsmasq (or FAIL)
#        lab.sh primary ID down|up       carrier loss on the router's eth0
#        lab.sh primary ID delete|create eth0 vanishes (its routes flushed) / comes back
#                                        as a new device (new ifindex), addressed, no routes
#        lab.sh silent ID on|off         ISP1 drops everything from the router, link up
#        lab.sh upstream ID down|up      ISP1 forwards nothing from the router but its
#                                        gateway still answers: an outage behind a live modem
#        lab.sh tunnel ID down|up        the VPS drops WireGuard (udp/51820)
#        lab.sh backup-vps ID down|up    ISP2 drops the router's WireGuard packets to the
#                                        VPS: the tunnel cannot work over the backup
#        lab.sh handshake ID             one echo through the tunnel from the router (a
#                                        handshake over whichever WAN the endpoint takes now)
#        lab.sh tables ID                router's `ip route show table all` + `ip rule show`
# Env: LAB_WG_NO_ENDPOINT=1 at `up` creates the router's peer without an endpoint;
#      LAB_WG_DOWN=1 leaves the router's WireGuard interface administratively down;
#      LAB_WG_KEEPALIVE=N gives the router's peer a persistent keepalive of N s (EdgeOS
#      configurations commonly have 25), so a session over the primary is always fresh.
# ID is [a-z0-9]{1,8}; everything lives in namespaces ID-*, in /tmp/wfs-lab-ID/,
# in /etc/netns/ID-c1|c2/ (client resolv.conf) and /var/run/wireguard/IDw|IDv.sock.
set -eu

NAMESPACES="inet isp1 isp2 vps rtr c1 c2"
WG_RUN=/var/run/wireguard

usage() { sed -n '/^# Usage:/,/^# Env:/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# nsrun NS cmd... : run a command inside ID-NS
nsrun() { local ns=$1; shift; ip netns exec "$LAB-$ns" "$@"; }

# wait_until SECONDS WHAT cmd... : poll cmd every 0.1 s until it succeeds
wait_until() {
    local tries=$(( $1 * 10 )) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        tries=$(( tries - 1 ))
        if [ "$tries" -le 0 ]; then echo "lab $LAB: timed out waiting for $what" >&2; return 1; fi
        sleep 0.1
    done
}

# spawn NS NAME cmd... : start a foreground daemon in ID-NS with stdio on
# $DIR/NS-NAME.log; the subshell execs into it, so $BASHPID is the daemon's pid.
spawn() {
    local ns=$1 name=$2
    shift 2
    ( echo "$BASHPID" >"$DIR/$ns-$name.pid"
      exec ip netns exec "$LAB-$ns" "$@" ) </dev/null >>"$DIR/$ns-$name.log" 2>&1 &
}

# veth NS1 IF1 NS2 IF2 : a veth pair created directly inside the namespaces
# (never in the root namespace, so names like eth0 cannot collide), both ends up
veth() {
    ip -n "$LAB-$1" link add "$2" type veth peer name "$4" netns "$LAB-$3"
    ip -n "$LAB-$1" link set "$2" up
    ip -n "$LAB-$3" link set "$4" up
}

addr() { ip -n "$LAB-$1" addr add "$3" dev "$2"; }

# nat NS TABLE RULE : an nftables table with one masquerading postrouting rule
nat() {
    nsrun "$1" nft -f - <<EOF
table ip $2 {
    chain nat_out {
        type nat hook postrouting priority srcnat; policy accept;
        $3 masquerade
    }
}
EOF
}

# wg_dev NS IFACE : start wireguard-go for IFACE in ID-NS and wait for its UAPI
# socket (wireguard-go creates the TUN first, the socket a moment later)
wg_dev() {
    rm -f "$WG_RUN/$2.sock"        # a stale socket would make the wait below lie
    spawn "$1" wg env LOG_LEVEL=verbose wireguard-go -f "$2"
    wait_until 10 "$WG_RUN/$2.sock" test -S "$WG_RUN/$2.sock"
    wait_until 5 "a reply on $WG_RUN/$2.sock" nsrun "$1" wg show "$2"
}

do_up() {
    local ns
    # --- namespaces and their sysctls (set before any link exists, so that
    #     every interface inherits them from "default")
    for ns in $NAMESPACES; do
        ip netns add "$LAB-$ns"
        nsrun "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
            net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$LAB-$ns" link set lo up
    done
    for ns in inet isp1 isp2 vps rtr; do
        nsrun "$ns" sysctl -qw net.ipv4.ip_forward=1
    done

    # --- links and addresses
    veth inet isp1 isp1 wan;   addr inet isp1 198.51.100.1/30;  addr isp1 wan 198.51.100.2/30
    veth inet isp2 isp2 wan;   addr inet isp2 198.51.100.5/30;  addr isp2 wan 198.51.100.6/30
    veth inet vps vps wan;     addr inet vps 198.51.100.9/30;   addr vps wan 198.51.100.10/30
    veth isp1 lan rtr eth0;    addr isp1 lan 192.168.1.1/24;    addr rtr eth0 192.168.1.2/24
    veth isp2 lan rtr eth1;    addr isp2 lan 192.168.2.1/24;    addr rtr eth1 192.168.2.2/24
    veth rtr switch0 c1 eth0;  addr rtr switch0 192.168.10.1/24; addr c1 eth0 192.168.10.50/24
    veth rtr lan2 c2 eth0;     addr rtr lan2 192.168.20.1/24;   addr c2 eth0 192.168.20.50/24
    addr inet lo 203.0.113.80/32
    addr inet lo 203.0.113.53/32

    # --- routes outside the router (everything reaching inet is NATed to a /30
    #     address, so inet needs no routes of its own)
    ip -n "$LAB-isp1" route add default via 198.51.100.1
    ip -n "$LAB-isp2" route add default via 198.51.100.5
    ip -n "$LAB-vps" route add default via 198.51.100.9
    ip -n "$LAB-c1" route add default via 192.168.10.1
    ip -n "$LAB-c2" route add default via 192.168.20.1
    nat isp1 wfslab_isp 'oifname "wan"'
    nat isp2 wfslab_isp 'oifname "wan"'

    # --- the router: load-balancer tables and rules
    local r="ip -n $LAB-rtr"
    $r route add default via 192.168.1.1 dev eth0 proto static metric 100
    $r route add default via 192.168.2.1 dev eth1 proto static metric 200
    $r route add default via 192.168.1.1 dev eth0 proto static table 201
    $r route add default via 192.168.2.1 dev eth1 proto static table 202
    $r route add default via 192.168.2.1 dev eth1 proto static table 10
    $r rule add priority 101 fwmark 0x65 lookup 201
    $r rule add priority 102 fwmark 0x66 lookup 202
    $r rule add priority 103 fwmark 0x100/0xf00 lookup 10
    # Marks are set per packet by destination port: every packet of a LAN flow
    # carries the same dport, so this equals a connmark restore on LAN ingress.
    # Replies (entering from the WANs) stay unmarked and follow main to the LAN.
    nsrun rtr nft -f - <<'EOF'
table ip wfslab_rtr {
    chain lb_mark {
        type filter hook prerouting priority mangle; policy accept;
        iifname { "switch0", "lan2" } tcp dport 8080 meta mark set 0x65
        iifname { "switch0", "lan2" } tcp dport 8081 meta mark set 0x66
    }
    chain nat_out {
        type nat hook postrouting priority srcnat; policy accept;
        oifname { "eth0", "eth1" } masquerade
    }
}
EOF

    # --- WireGuard: keys, the VPS (up, listening) and the router (up as on
    #     EdgeOS, idle: no keepalive, so no handshake until traffic needs one)
    ( umask 077
      wg genkey >"$DIR/rtr-private.key"; wg pubkey <"$DIR/rtr-private.key" >"$DIR/rtr-public.key"
      wg genkey >"$DIR/vps-private.key"; wg pubkey <"$DIR/vps-private.key" >"$DIR/vps-peer-public.key" )
    chmod 0644 "$DIR/rtr-public.key" "$DIR/vps-peer-public.key"

    wg_dev vps "${LAB}v"
    nsrun vps wg set "${LAB}v" private-key "$DIR/vps-private.key" listen-port 51820 \
        peer "$(cat "$DIR/rtr-public.key")" \
        allowed-ips 10.11.0.102/32,192.168.10.0/24,192.168.20.0/24
    addr vps "${LAB}v" 10.11.0.1/24
    ip -n "$LAB-vps" link set "${LAB}v" up
    ip -n "$LAB-vps" route add 192.168.10.0/24 dev "${LAB}v"
    ip -n "$LAB-vps" route add 192.168.20.0/24 dev "${LAB}v"
    nat vps wfslab_vps "iifname \"${LAB}v\" oifname \"wan\""

    local endpoint="endpoint 198.51.100.10:51820" keepalive=""
    if [ "${LAB_WG_NO_ENDPOINT:-0}" = 1 ]; then endpoint=""; fi
    if [ -n "${LAB_WG_KEEPALIVE:-}" ]; then keepalive="persistent-keepalive $LAB_WG_KEEPALIVE"; fi
    wg_dev rtr "${LAB}w"
    # shellcheck disable=SC2086  # $endpoint and $keepalive are two words or none
    nsrun rtr wg set "${LAB}w" private-key "$DIR/rtr-private.key" \
        peer "$(cat "$DIR/vps-peer-public.key")" $endpoint $keepalive allowed-ips 0.0.0.0/0
    addr rtr "${LAB}w" 10.11.0.102/24
    if [ "${LAB_WG_DOWN:-0}" != 1 ]; then ip -n "$LAB-rtr" link set "${LAB}w" up; fi

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
    local port
    for port in 80 8080 8081 8082; do
        spawn inet "http$port" socat "TCP-LISTEN:$port,bind=203.0.113.80,reuseaddr,fork" \
            "EXEC:$DIR/http-echo.sh"
    done

    # --- the router's LAN resolver and the clients' resolv.conf
    nsrun rtr dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=192.168.10.1 --listen-address=192.168.20.1 --server=203.0.113.53 \
        --pid-file="$DIR/rtr-dnsmasq.pid" --log-facility="$DIR/rtr-dnsmasq.log"
    mkdir -p "/etc/netns/$LAB-c1" "/etc/netns/$LAB-c2"
    echo "nameserver 192.168.10.1" >"/etc/netns/$LAB-c1/resolv.conf"
    echo "nameserver 192.168.20.1" >"/etc/netns/$LAB-c2/resolv.conf"

    # --- the tool's configuration for this lab (root-owned, 0600)
    ( umask 077
      cat >"$DIR/wg-failsafe.conf" <<EOF
WG_IFACE=${LAB}w
WG_PEER_IP=10.11.0.1
WG_ENDPOINT=198.51.100.10
WG_PEER_KEY_FILE=$DIR/vps-peer-public.key
PRIMARY_DEV=eth0
PRIMARY_GW=192.168.1.1
BACKUP_DEV=eth1
BACKUP_GW=192.168.2.1
LAN_SUBNET=192.168.10.0/24
LAN_DEV=switch0
PROBE_TIMEOUT_MS=300
TUNNEL_WAIT=10
STATE_DIR=$DIR/state
LOCK_FILE=$DIR/lock
LOG_FILE=$DIR/wg-failsafe.log
DNS_RESTART_CMD=/bin/true
UP_AFTER_S=0
EOF
    )

    # --- ready when the echo server listens on all four ports
    for port in 80 8080 8081 8082; do
        wait_until 5 "HTTP echo on port $port" \
            sh -c "ip netns exec '$LAB-inet' ss -Hltn 'sport = :$port' | grep -q ."
    done
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
    rm -f "$WG_RUN/${LAB}w.sock" "$WG_RUN/${LAB}v.sock"
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
# of drop rules in ID-NS; idempotent either way
blocker() {
    nsrun "$1" nft list tables >/dev/null    # the namespace must exist
    nsrun "$1" nft delete table ip "$2" 2>/dev/null || true
    if [ "$3" = on ]; then
        printf 'table ip %s {%s\n}\n' "$2" "$4" | nsrun "$1" nft -f -
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
fetch)
    [ $# -eq 2 ] || usage
    client_gw "$1" >/dev/null
    if out=$(nsrun "$1" curl -sS --connect-timeout 3 -m 5 "http://203.0.113.80:$2/") && [ -n "$out" ]; then
        echo "$out"
    else
        echo FAIL; exit 1
    fi
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
backup-vps) # ISP2 carries everything but the router's WireGuard packets to the VPS
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker isp2 wfslab_bvps "$state" '
    chain drop_wg { type filter hook forward priority filter; policy accept;
        iifname "lan" ip daddr 198.51.100.10 udp dport 51820 drop; }'
    ;;
handshake)
    nsrun rtr ping -c 1 -W 3 -I "${LAB}w" 10.11.0.1 >/dev/null
    ;;
tunnel)    # the VPS ignores WireGuard: no handshake can complete
    case ${1:-} in down) state=on ;; up) state=off ;; *) usage ;; esac
    blocker vps wfslab_tunnel "$state" '
    chain drop_wg { type filter hook input priority filter; policy accept; udp dport 51820 drop; }'
    ;;
tables)
    ip -n "$LAB-rtr" route show table all
    ip -n "$LAB-rtr" rule show
    ;;
*)
    usage
    ;;
esac
