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
