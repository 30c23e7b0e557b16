firewall {
	all-ping enable
	group {
		address-group ADDRv4_eth0 {
			address 100.64.12.34
		}
	}
	modify balance {
		rule 10 {
			action modify
			description "VoIP phone out of the cable line"
			modify {
				lb-group VOIP
			}
			source {
				address 192.168.1.50
			}
		}
		rule 20 {
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
				lb-group MAIN
			}
			source {
				address 192.168.1.0/25
			}
		}
	}
}
interfaces {
	ethernet eth0 {
		address dhcp
		description "Fiber"
	}
	ethernet eth1 {
		address 172.16.0.2/24
		description "Cable modem"
	}
	ethernet eth2 {
		description Local
	}
	switch switch0 {
		address 192.168.1.1/24
		firewall {
			in {
				modify balance
			}
		}
		switch-port {
			interface eth2
		}
	}
	wireguard wg0 {
		address 10.11.0.2/31
		peer J+2R0EOIMCmVnUrfirLaPrFPeKcoioa2rOEkktg5pn4= {
			allowed-ips 0.0.0.0/0
			endpoint 203.0.113.10:51820
		}
		private-key /config/auth/wg.key
		route-allowed-ips false
	}
}
load-balance {
	group VOIP {
		interface eth0 {
			failover-only
		}
		interface eth1 {
		}
	}
	group MAIN {
		interface eth0 {
			route-test {
				type {
					ping {
						target 9.9.9.9
						target 1.1.1.1
					}
				}
			}
		}
		interface eth1 {
			failover-only
		}
		lb-local enable
		lb-local-metric-change disable
	}
}
protocols {
	static {
		route 0.0.0.0/0 {
			next-hop 172.16.0.1 {
				distance 10
			}
		}
	}
}
service {
	dhcp-server {
		shared-network-name LAN {
			authoritative enable
			subnet 192.168.1.0/24 {
				default-router 192.168.1.1
				dns-server 192.168.1.1
				start 192.168.1.100 {
					stop 192.168.1.199
				}
			}
		}
	}
	dns {
		forwarding {
			cache-size 150
			listen-on switch0
		}
	}
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "config-management@1:conntrack@1:dhcp-server@4:firewall@5:system@4" === */
/* Release version: v2.0.9-hotfix.7.5622762.230615.1131 */
