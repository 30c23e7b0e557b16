firewall {
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
                lb-group G
            }
        }
    }
}
interfaces {
    ethernet eth0 {
        description "FTTH ONT"
        vif 7 {
            description "Internet VLAN"
            pppoe 0 {
                default-route auto
                mtu 1492
                name-server auto
                password secret
                user-id someone@isp
            }
        }
    }
    ethernet eth1 {
        address dhcp
        description "LTE router"
    }
    ethernet eth2 {
        description "to switch"
    }
    switch switch0 {
        address 192.168.1.1/24
        firewall {
            in {
                modify balance
            }
        }
        vif 10 {
            address 192.168.10.1/24
            description IoT
            firewall {
                in {
                    modify balance
                }
            }
        }
        vif 20 {
            address 192.168.20.1/24
            description Guests
        }
    }
    wireguard wg0 {
        address 10.0.100.1/24
        description "road warriors"
        listen-port 51820
        peer mbX6MOER1z9tb+9gWdLXEu8UZWt5bnN69gbXTxi8Yb8= {
            allowed-ips 10.0.100.2/32
            description phone
        }
        private-key /config/auth/rw.key
        route-allowed-ips true
    }
    wireguard wg1 {
        address 10.11.0.2/30
        description "VPS failsafe"
        peer QMqjfSDY/O3sueU5PUx1ZnEi312638kUYQq0sskA2R0= {
            allowed-ips 0.0.0.0/0,::/0
            endpoint 203.0.113.10:51820
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
load-balance {
    group G {
        interface pppoe0 {
            route-test {
                type {
                    ping {
                        target 8.8.8.8
                    }
                }
            }
        }
        interface eth1 {
            failover-only
        }
    }
}
service {
    dhcp-server {
        shared-network-name GUESTS {
            subnet 192.168.20.0/24 {
                default-router 192.168.20.1
            }
        }
    }
    dns {
        forwarding {
            listen-on switch0
            listen-on switch0.10
            listen-on switch0.20
            listen-on wg0
        }
    }
}
