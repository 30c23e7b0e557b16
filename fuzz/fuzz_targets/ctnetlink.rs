//! ctnetlink datagrams as a conntrack dump brings them: every entry read is judged and
//! turned into the deletion that names it, and that deletion's tuple reads back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use wg_failsafe::conntrack::{breaks, Path, Scope};
use wg_failsafe::netlink::ctnetlink::{parse_flow, CtMsg};
use wg_failsafe::netlink::walk;

fuzz_target!(|data: &[u8]| {
    let _ = walk(data, |m: NetlinkMessage<CtMsg>| {
        if let NetlinkPayload::InnerMessage(CtMsg::Flow(f)) = m.payload {
            let _ = f.to_string();
            for (from, to) in [(Path::Tunnel, Path::Primary), (Path::Primary, Path::Tunnel)] {
                let _ = breaks(&f, from, to, &Scope::default());
            }
            // The deletion's CTA_TUPLE_ORIG, given the entry's reply tuple, is the entry.
            let mut del =
                NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(CtMsg::Delete(f.clone())));
            del.finalize();
            let mut b = vec![0u8; del.buffer_len()];
            del.serialize(&mut b);
            let _ = parse_flow(&b[16..]);
        }
        None::<()>
    });
});
