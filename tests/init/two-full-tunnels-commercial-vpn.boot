interfaces {
    ethernet eth0 {
        address dhcp
        description WAN1
    }
    ethernet eth1 {
        address dhcp
        description "WAN2 LTE"
    }
    switch switch0 {
        address 192.168.50.1/24
        firewall {
            in {
                modify LB
            }
        }
    }
    wireguard wg0 {
        address 10.68.21.5/32
        description "commercial VPN"
        peer COFoZVfYCERz+Hi2pnhSxF/kpe96rdZxlwzrsBHExOw= {
            allowed-ips 0.0.0.0/0
            endpoint 185.65.134.80:51820
        }
        private-key /config/auth/vpn.key
        route-allowed-ips false
    }
    wireguard wg1 {
        address 10.11.0.2/30
        description VPS
        peer 6rPq2YIL5itsAlbyyEkCq09G7rWT+z3oVWyp27zvNgY= {
            allowed-ips 0.0.0.0/0
            endpoint 198.51.100.20:51820
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
firewall {
    modify LB {
        rule 1 {
            action modify
            modify {
                lb-group WAN
            }
        }
    }
}
load-balance {
    group WAN {
        interface eth0 {
        }
        interface eth1 {
            failover-only
        }
    }
}
