firewall {
    all-ping enable
    broadcast-ping disable
    modify balance {
        rule 10 {
            action modify
            destination {
                group {
                    network-group PRIVATE_NETS
                }
            }
            modify {
                table main
            }
        }
        rule 100 {
            action modify
            description "everything else"
            modify {
                lb-group WAN
            }
        }
    }
    name BLOCKLIST {
        default-action accept
        description "a blocklist imported rule by rule: what makes an ER-8's file large"
        /* init-corpus: generated rules */
    }
    group {
        network-group PRIVATE_NETS {
            network 10.0.0.0/8
            network 172.16.0.0/12
            network 192.168.0.0/16
        }
    }
}
interfaces {
    ethernet eth0 {
        address 203.0.113.2/29
        description "fiber, static /29"
        firewall {
            in {
                name BLOCKLIST
            }
        }
    }
    ethernet eth1 {
        address 10.1.0.1/24
        description office
        firewall {
            in {
                modify balance
            }
        }
    }
    ethernet eth2 {
        description trunk
        vif 10 {
            address 10.10.0.1/24
            description voice
            firewall {
                in {
                    modify balance
                }
            }
        }
        vif 20 {
            address 10.20.0.1/24
            description guests
            firewall {
                in {
                    modify balance
                }
            }
        }
    }
    ethernet eth3 {
        address 10.30.0.1/24
        description "printers and cameras, static addresses"
    }
    ethernet eth7 {
        address dhcp
        description "LTE router"
    }
    loopback lo {
        address 10.255.255.1/32
    }
    wireguard wg0 {
        address 10.11.0.6/31
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.200:51820
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
load-balance {
    group WAN {
        interface eth0 {
        }
        interface eth7 {
            failover-only
        }
        lb-local enable
    }
}
protocols {
    static {
        route 0.0.0.0/0 {
            next-hop 203.0.113.1 {
            }
        }
    }
}
service {
    dhcp-server {
        shared-network-name OFFICE {
            subnet 10.1.0.0/24 {
                default-router 10.1.0.1
                start 10.1.0.100 {
                    stop 10.1.0.199
                }
            }
        }
    }
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "config-management@1:system@5" === */
