interfaces {
    ethernet eth0 {
        address dhcp
        description "upstream router 1"
    }
    ethernet eth1 {
        address dhcp
        description "upstream router 2"
    }
    ethernet eth2 {
        address dhcp
        description "inside: the main router hands out addresses here"
    }
    wireguard wg0 {
        address 10.11.0.2/30
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
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
