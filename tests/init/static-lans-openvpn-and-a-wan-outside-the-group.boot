interfaces {
    ethernet eth0 {
        address dhcp
        description cable
    }
    ethernet eth1 {
        address 192.168.2.2/24
        description "4G router"
    }
    ethernet eth2 {
        address 198.51.100.10/30
        description "ISP management link, not load-balanced"
    }
    ethernet eth3 {
        address 192.168.50.1/24
        description "servers, static addresses"
    }
    ethernet eth4 {
        address 10.99.0.0/31
        description "point-to-point link to the lab router"
    }
    ethernet eth5 {
        address 192.168.60.1/24
        description "old lab, switched off"
        disable
    }
    switch switch0 {
        address 192.168.1.1/24
        switch-port {
            interface eth3
        }
    }
    openvpn vtun0 {
        local-address 10.8.0.1 {
            subnet-mask 255.255.255.0
        }
        mode server
        server {
            subnet 10.8.0.0/24
        }
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
protocols {
    static {
        route 0.0.0.0/0 {
            next-hop 192.168.2.1 {
                distance 10
            }
            next-hop 198.51.100.9 {
                distance 250
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
