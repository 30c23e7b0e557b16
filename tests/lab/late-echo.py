#!/usr/bin/env python3
"""A gateway that answers every echo request late: the lab's stand-in for a
bufferbloated DSL or LTE line (the host kernel has no netem).

Run inside the ISP's namespace with the kernel's own echo replies off
(net.ipv4.icmp_echo_ignore_all=1): it answers each request on a raw ICMP socket,
identifier, sequence and payload as received, DELAY_MS later. It stops by itself
after LIFETIME_S. Usage: late-echo.py DELAY_MS LIFETIME_S
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
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    due = []  # (when, destination, reply)
    while time.monotonic() < end:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, dst, reply = heapq.heappop(due)
            try:
                sock.sendto(reply, (dst, 0))
            except OSError:
                pass
        wait = min(0.05, max(0.0, due[0][0] - now)) if due else 0.05
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            continue
        packet, (src, _) = sock.recvfrom(65535)
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:]
        if len(icmp) < 8 or icmp[0] != 8:  # echo requests only
            continue
        # Type 0 (echo reply), code 0, checksum; identifier, sequence and payload as sent.
        reply = b"\0\0" + struct.pack("!H", checksum(b"\0\0\0\0" + icmp[4:])) + icmp[4:]
        heapq.heappush(due, (now + delay, src, reply))


if __name__ == "__main__":
    main()
