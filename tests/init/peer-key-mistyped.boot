interfaces {
    ethernet eth0 {
        address dhcp
    }
    ethernet eth1 {
        address dhcp
    }
    switch switch0 {
        address 192.168.1.1/24
    }
    wireguard wg0 {
        address 10.11.0.2/30
        /* pasted from the VPS, one character short */
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
        }
        peer hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk= {
            allowed-ips 10.11.0.9/32
            description phone
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
service {
    dhcp-server {
        shared-network-name LAN {
            subnet 192.168.1.0/24 {
                default-router 192.168.1.1
            }
        }
    }
}
