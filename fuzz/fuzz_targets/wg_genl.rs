//! The kernel WireGuard family's answer to WG_CMD_GET_DEVICE, datagram by datagram, as
//! the dump reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use wg_failsafe::netlink::walk;
use wg_failsafe::wireguard::kernel::{Reply, WgExchange};
use wg_failsafe::wireguard::Collector;

fuzz_target!(|data: &[u8]| {
    let mut c = Collector::new(None);
    let _ = walk(data, |m: NetlinkMessage<WgExchange>| {
        if let NetlinkPayload::InnerMessage(WgExchange::Reply(Reply::Device(peers))) = m.payload {
            peers.into_iter().for_each(|p| c.part(p));
        }
        None::<()>
    });
    let _ = c.finish();
});
