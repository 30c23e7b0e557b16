interfaces {
    ethernet eth0 {
        address 192.168.100.2/24
        description "DSL modem"
    }
    ethernet eth1 {
        address 192.168.8.2/24
        description "LTE stick"
    }
    ethernet eth3 {
        address dhcp
        description "old cable, cancelled"
        disable
    }
    switch switch0 {
        address 192.168.1.1/24
        firewall {
            in {
                modify balance
            }
        }
    }
    wireguard wg0 {
        address 10.11.0.2/30
        peer COFoZVfYCERz+Hi2pnhSxF/kpe96rdZxlwzrsBHExOw= {
            allowed-ips 0.0.0.0/0
            description "old VPS"
            disable
            endpoint 198.51.100.99:51820
        }
        peer 6rPq2YIL5itsAlbyyEkCq09G7rWT+z3oVWyp27zvNgY= {
            allowed-ips 0.0.0.0/0
            description "new VPS"
            endpoint 203.0.113.10:51820
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
firewall {
    modify balance {
        rule 100 {
            action modify
            modify {
                lb-group G
            }
        }
    }
}
load-balance {
    group G {
        interface eth3 {
        }
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
            next-hop 192.168.100.1 {
                distance 1
            }
            next-hop 192.168.8.254 {
                disable
                distance 5
            }
            next-hop 192.168.8.1 {
                distance 10
            }
        }
    }
}
