/* A static business line outside the failover group, set up by the wizard (its gateway
 * is `system gateway-address`, no static route), and a second cable modem taking a
 * DHCP lease beside its management alias: both WANs, neither a LAN. */
interfaces {
    ethernet eth0 {
        address dhcp
        description "Fiber WAN"
    }
    ethernet eth1 {
        address 192.168.2.2/24
        description "4G modem"
    }
    ethernet eth2 {
        address 198.51.100.10/29
        description "static business line (mail server NAT)"
    }
    ethernet eth3 {
        address dhcp
        address 192.168.100.2/24
        description "second cable modem, its web page at 192.168.100.1"
    }
    switch switch0 {
        address 192.168.1.1/24
    }
    wireguard wg0 {
        address 10.11.0.2/30
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
        }
        route-allowed-ips false
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
protocols {
    static {
        route 0.0.0.0/0 {
            next-hop 192.168.2.1 {
                distance 10
            }
        }
    }
}
service {
    dhcp-server {
        shared-network-name LAN {
            subnet 192.168.1.0/24 {
                default-router 192.168.1.1
            }
        }
    }
}
system {
    gateway-address 198.51.100.9
    host-name office
}
