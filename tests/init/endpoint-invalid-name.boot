interfaces {
	ethernet eth0 { /* primary: fiber */
		address dhcp
	}
	ethernet eth1 {
		address 192.168.8.100/24 /* the LTE router's LAN */
		description "LTE /* not a comment */"
	}
	switch switch0 {
		address 192.168.1.1/24 /* office */
		firewall {
			in {
				modify balance
			}
		}
	}
	/* the tunnel to the VPS,
	   used only while the fiber is down */
	wireguard wg0 {
		address 10.11.0.2/30 /* our end */
		peer Hav4WchHGXim2CKDlwPJd9efqjpNqbD+FH30MPANzAU= {
			allowed-ips 0.0.0.0/0 /* everything */
			endpoint vps_1.example.net:51820
		}
		route-allowed-ips false
	}
}
firewall {
	modify balance {
		rule 100 {
			action modify /* the catch-all */
			modify {
				lb-group G
			}
		}
	}
}
load-balance {
	group G {
		interface eth0 {
		}
		interface eth1 { /* backup */
			failover-only
		}
	}
}
protocols {
	static {
		route 0.0.0.0/0 {
			next-hop 192.168.8.1 { /* LTE router */
				distance 20
			}
		}
	}
}
