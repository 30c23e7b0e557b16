interfaces {
    ethernet eth0 {
        address dhcp
    }
    ethernet eth1 {
        address 192.168.2.2/24
    }
    ethernet eth2 {
        address 192.168.3.1/24
        description "lab bench, no DHCP"
    }
    switch switch0 {
        address 192.168.1.1/24
    }
    wireguard wg0 {
        address 10.11.0.1/31
        peer J+2R0EOIMCmVnUrfirLaPrFPeKcoioa2rOEkktg5pn4= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
        }
        route-allowed-ips false
    }
}
load-balance {
    group WAN_FAILOVER {
        interface eth0 {
        }
        interface eth1 {
            failover-only
        }
        }
    }
}
service {
    dns {
        forwarding {
            cache-size 400
            listen-on eth0
            listen-on eth1
            listen-on wg0
            listen-on switch0
        }
    }
}
