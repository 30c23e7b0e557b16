#!/usr/bin/env python3
"""A host that answers echo requests late: the lab's stand-in for a bufferbloated DSL
or LTE line (the host kernel has no netem).

Run inside a namespace with the kernel's own echo replies off
(net.ipv4.icmp_echo_ignore_all=1): it answers each echo request it receives, from the
address it was sent to, identifier, sequence and payload as received, DELAY_MS later;
with ONLY_TO, only those sent to that address. It stops by itself after LIFETIME_S.
Usage: late-echo.py DELAY_MS LIFETIME_S [ONLY_TO]
"""
import heapq
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    delay = int(sys.argv[1]) / 1000.0
    end = time.monotonic() + int(sys.argv[2])
    only_to = socket.inet_aton(sys.argv[3]) if len(sys.argv) > 3 else None
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    # The reply's IP header is written here, so that it comes from the address asked
    # (a namespace with several addresses would otherwise choose its own).
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    due = []  # (when, destination, reply)
    while time.monotonic() < end:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, dst, reply = heapq.heappop(due)
            try:
                tx.sendto(reply, (dst, 0))
            except OSError:
                pass
        wait = min(0.05, max(0.0, due[0][0] - now)) if due else 0.05
        ready, _, _ = select.select([rx], [], [], wait)
        if not ready:
            continue
        packet = rx.recv(65535)
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:]
        asked, sender = packet[16:20], packet[12:16]
        if len(icmp) < 8 or icmp[0] != 8 or (only_to and asked != only_to):  # echo requests only
            continue
        # Type 0 (echo reply), code 0, checksum; identifier, sequence and payload as sent.
        reply = b"\0\0" + struct.pack("!H", checksum(b"\0\0\0\0" + icmp[4:])) + icmp[4:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(reply), 0, 0, 64, 1, 0, asked, sender)
        heapq.heappush(due, (now + delay, socket.inet_ntoa(sender), ip + reply))


if __name__ == "__main__":
    main()
