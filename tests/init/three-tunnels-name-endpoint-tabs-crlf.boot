interfaces {
	ethernet eth0 {
		address dhcp
	}
	ethernet eth1 {
		address dhcp
	}
	switch switch0 {
		address 192.168.1.1/24
		firewall {
			in {
				modify LB
			}
		}
	}
	wireguard wg0 {
		address 10.68.21.5/32
		description "commercial VPN"
		peer 6rPq2YIL5itsAlbyyEkCq09G7rWT+z3oVWyp27zvNgY= {
			allowed-ips 0.0.0.0/0,::/0
			endpoint 185.65.134.80:51820
		}
	}
	wireguard wg1 {
		address 10.11.0.2/24
		description "the VPS"
		peer COFoZVfYCERz+Hi2pnhSxF/kpe96rdZxlwzrsBHExOw= {
			allowed-ips 0.0.0.0/0
			endpoint vps.example.net:51820
		}
	}
	wireguard wg2 {
		address 172.31.0.1/30
		description "site-to-site to the warehouse"
		peer J+2R0EOIMCmVnUrfirLaPrFPeKcoioa2rOEkktg5pn4= {
			allowed-ips 172.31.0.2/32,192.168.40.0/24
			endpoint 192.0.2.80:51820
		}
	}
}
firewall {
	modify LB {
		rule 10 {
			action modify
			modify {
				lb-group WAN
			}
		}
	}
}
load-balance {
	group WAN {
		interface eth0 {
		}
		interface eth1 {
			failover-only
		}
	}
}
