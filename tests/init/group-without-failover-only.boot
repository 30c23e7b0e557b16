interfaces {
    ethernet eth0 {
        address 100.64.7.2/29
        description "static fiber"
    }
    ethernet eth1 {
        address dhcp
    }
    bridge br0 {
        address 10.10.0.1/24
        description "LAN bridge"
    }
    wireguard wg0 {
        address 10.11.0.2/30
        listen-port 51820
        mtu 1420
        peer J+2R0EOIMCmVnUrfirLaPrFPeKcoioa2rOEkktg5pn4= {
            allowed-ips 0.0.0.0/0,::/0
            endpoint 203.0.113.10:443
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
load-balance {
    group BAL {
        interface eth0 {
        }
        interface eth1 {
        }
    }
}
protocols {
    static {
        route 0.0.0.0/0 {
            next-hop 100.64.7.1 {
            }
        }
    }
}
service {
    dhcp-server {
        shared-network-name LAN {
            subnet 10.10.0.0/24 {
                default-router 10.10.0.1
            }
        }
    }
}
/* saved on Windows: CRLF line ends */
