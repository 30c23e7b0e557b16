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
        address 10.0.100.1/24
        description "phones and laptop"
        listen-port 51820
        peer 9d2Si7DhxuxaTdgo3+9ZlrQ0Fw4SgeUxGPD87wEQ0bw= {
            allowed-ips 10.0.100.2/32
            description phone
        }
        peer Hav4WchHGXim2CKDlwPJd9efqjpNqbD+FH30MPANzAU= {
            allowed-ips 10.0.100.3/32
            description laptop
        }
        peer 7SvOtipJKGzUDzifcuzuwFiQnU5q0wCDq7wFcugz65U= {
            allowed-ips 10.0.100.4/32,192.168.77.0/24
            description "parents' router"
            endpoint 192.0.2.44:51820
        }
        private-key /config/auth/wg.key
        route-allowed-ips true
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
    dns {
        forwarding {
            listen-on switch0
            listen-on wg0
        }
    }
}
