interfaces {
    ethernet eth0 {
        address dhcp
        description "fiber"
    }
    ethernet eth1 {
        pppoe 0 {
            default-route auto
            password secret
            user-id dsl@isp.example
        }
    }
    bridge br0 {
        address 192.168.1.1/24
        description "LAN: eth2, eth3 and the access point"
    }
    ethernet eth2 {
        bridge-group {
            bridge br0
        }
    }
    ethernet eth3 {
        bridge-group {
            bridge br0
        }
    }
}
load-balance {
    group FAILOVER {
        interface eth0 {
        }
        interface pppoe0 {
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
    dns {
        forwarding {
            listen-on br0
        }
    }
}
/* WireGuard is brought up by /config/scripts/post-config.d/wg.sh, not by this file */
