interfaces {
    ethernet eth0 {
        description FTTH
        pppoe 0 {
            default-route auto
            mtu 1492
            password secret
            user-id someone
        }
    }
    ethernet eth1 {
        vif 30 {
            address dhcp
        }
    }
    ethernet eth2 {
        address 10.0.0.1/24
    }
    wireguard wg1 {
        address 10.50.0.1/24
        peer hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk= {
            allowed-ips 10.50.0.0/16
            endpoint 198.51.100.77:51820
        }
    }
    wireguard wg0 {
        address 10.11.0.2/24
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
        }
    }
}
load-balance {
    group WAN {
        interface pppoe0 {
        }
        interface eth1.30 {
            failover-only
        }
    }
}
service {
    dhcp-server {
        shared-network-name LAN {
            subnet 10.0.0.0/24 {
                default-router 10.0.0.1
            }
        }
    }
}
