/* The primary is a static WAN as the setup wizard writes it: its address on the
 * interface and its gateway as `system gateway-address`, no static route. The 4G
 * backup takes a lease. */
interfaces {
    ethernet eth0 {
        address 203.0.113.2/29
        description "static fiber"
    }
    ethernet eth1 {
        address dhcp
        description "4G modem"
    }
    switch switch0 {
        address 192.168.1.1/24
    }
    wireguard wg0 {
        address 10.11.0.2/30
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 198.51.100.20:51820
        }
    }
}
load-balance {
    group G {
        interface eth0 {
        }
        interface eth1 {
            failover-only
        }
    }
}
service {
    dns {
        forwarding {
            listen-on switch0
        }
    }
}
system {
    gateway-address 203.0.113.1
}
