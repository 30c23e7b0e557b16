firewall {
    modify balance {
        rule 10 {
            action modify
            destination {
                group {
                    address-group ADDRv4_eth0
                }
            }
            modify {
                table main
            }
        }
        rule 100 {
            action modify
            modify {
                lb-group G
            }
        }
    }
}
interfaces {
    ethernet eth0 {
        address dhcp
        description "Fiber WAN"
    }
    ethernet eth1 {
        address 192.168.2.2/24
        description "4G modem"
    }
    switch switch0 {
        address 192.168.10.1/24
        firewall {
            in {
                modify balance
            }
        }
        vif 30 {
            address 192.168.30.1/24
            firewall {
                in {
                    modify balance
                }
            }
        }
    }
    wireguard wg0 {
        address 10.11.0.102/30
        listen-port 51820
        peer "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51821
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
load-balance {
    group G {
        interface eth0 {
            route-test {
                type {
                    ping {
                        target 1.1.1.1
                    }
                }
            }
        }
        interface eth1 {
            failover-only
        }
        lb-local enable
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
    dns {
        forwarding {
            listen-on switch0
            listen-on switch0.30
        }
    }
}
/* Warning: Do not remove the following line. */
