//! Test helpers for the golden-byte tests of the netlink messages (netlink-packet-route's
//! habit: the `ip` command, the bytes it sent, the value; parse and emit both checked).
//!
//! Golden bytes are written in hex, one 4-byte word per group, as the kernel lays them
//! out (netlink aligns every attribute to 4 bytes): the fixed header, then each
//! attribute's length and type, then its value.

use netlink_packet_core::{Emitable, NetlinkSerializable};

/// The bytes of `text`: pairs of hex digits, white space ignored.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {text:?}");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or_default();
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("`{pair}` is not a hex byte"))
        })
        .collect()
}

/// What `m` emits: a message body without its netlink header.
pub fn emitted(m: &impl Emitable) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    m.emit(&mut b);
    b
}

/// What `m` serializes to as the payload of a netlink message.
pub fn serialized(m: &impl NetlinkSerializable) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    m.serialize(&mut b);
    b
}

#[test]
fn hex_reads_words_and_lines() {
    assert_eq!(hex("0800 0600\n 28000000"), [8, 0, 6, 0, 0x28, 0, 0, 0]);
}
