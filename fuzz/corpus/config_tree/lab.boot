/* The lab router (tests/lab/lab.sh) as EdgeOS would describe it: the fixture of the
   `init` lab test. WG_IFACE is replaced by the lab's interface name. */
firewall {
    all-ping enable
    modify balance {
        rule 10 {
            action modify
            modify {
                lb-group G
            }
        }
    }
}
interfaces {
    ethernet eth0 {
        address 192.168.1.2/24
        description "Primary: fiber"
    }
    ethernet eth1 {
        address 192.168.2.2/24
        description "Backup: 4G modem"
    }
    ethernet lan2 {
        address 192.168.20.1/24
        description "Guests (not load-balanced)"
    }
    switch switch0 {
        address 192.168.10.1/24
        firewall {
            in {
                modify balance
            }
        }
    }
    wireguard WG_IFACE {
        address 10.11.0.102/24
        listen-port 51820
        peer "VPS_KEY" {
            allowed-ips 0.0.0.0/0
            endpoint 198.51.100.10:51820
        }
        route-allowed-ips false
    }
}
load-balance {
    group G {
        interface eth0 {
            route-test {
                type {
                    ping {
                        target 203.0.113.80
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
            next-hop 192.168.1.1 {
                distance 1
            }
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
        }
    }
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "config-management@1:system@4" === */
