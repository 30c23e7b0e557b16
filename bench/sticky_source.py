#!/usr/bin/env python3
"""Issue 16's trace, without the daemon: how long after the endpoint route moves to the
backup wireguard-go still sends the tunnel's packets from the primary's address (its
"sticky" source), and whether setting the peer's endpoint again ends that at once.

In the namespace lab (wireguard-go, tests/lab/lab.sh), each trial:
  1. the peer's source is made the primary's: its endpoint set (which forgets the cached
     source), then echoes through the tunnel, answered over eth0 (wireguard-go keeps the
     address and interface the answer came in on);
  2. eth0 loses its carrier; an echo every 1 ms through the tunnel starts (lost: they leave
     eth0);
  3. 20 ms later the endpoint route goes in (`ip route add VPS via ISP2 dev eth1`, as the failsafe's
     activation adds it), followed at once, in the second mode, by `wg set ... endpoint
     VPS` (the same endpoint: nothing changes but the cached source);
  4. the echoes sent after the route went in (the kernel's announcement, stamped by `ip
     -ts monitor`) up to the first one answered are counted, and those of them sent after
     the command that followed the route returned.
wireguard-go forgets the source only when its route listener (device/sticky_linux.go)
has received the route event, asked the kernel for the route to the peer and compared
the interface, in another goroutine: a packet sent meanwhile carries IP_PKTINFO with the
primary's address and interface, leaves eth0, which has no carrier, and is lost. The
kernel module checks at each send (drivers/net/wireguard/socket.c, send4: the route's
device against the cached source's), so it has no such window.

Usage: sticky_source.py [TRIALS [BUSY]]   (root; tcpdump, wireguard-go, the lab's tools;
       BUSY processes spin meanwhile, as a loaded router's CPU; KEEP=1 keeps the lab and
       its captures, wg-*.pcap in its directory)
Prints each trial, then per mode (the route alone / the route, then the endpoint set
again) how many trials lost an echo sent after the route went in, the longest such
window, and (second mode) how many were lost after the endpoint had been set.
Measured (2 shared cores, 26 trials each): the route alone, 7 trials lost echoes sent
0.06 to 35.6 ms after it went in (the daemon's proof sent its first echo 1.4 to 16 ms
after the route in the traces of issue 16); the route then the endpoint set again, none
lost after the set returned (one lost 0.3 ms after the route, before the set).
"""
import datetime
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Lab  # noqa: E402

VPS, VPS_TUNNEL, ISP2_GW = "198.51.100.10", "10.11.0.1", "192.168.2.1"
# 300 echo requests, one every 1 ms, out of the device argv[1] to argv[2]; 20 ms in, a
# thread runs the shell command argv[3] and prints the time it returned. Few echoes go to
# the dead primary before the route: a flood piling up there stalls wireguard-go itself.
SENDER = """
import socket, struct, subprocess, sys, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
def csum(b):
    n = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    n = (n >> 16) + (n & 0xffff)
    return ~(n + (n >> 16)) & 0xffff
def command():
    subprocess.run(["sh", "-c", sys.argv[3]], check=True)
    print(time.time(), flush=True)
start = time.monotonic()
for seq in range(1, 301):
    if seq == 20:
        threading.Thread(target=command).start()
    head = struct.pack("!BBHHH", 8, 0, 0, 0x5353, seq) + bytes(24)
    s.sendto(head[:2] + struct.pack("!H", csum(head)) + head[4:], (sys.argv[2], 0))
    while time.monotonic() < start + seq * 0.001:
        pass
"""


def rtr(lb, *cmd, check=True):
    return subprocess.run(["ip", "netns", "exec", lb.netns, *cmd], check=check, capture_output=True, text=True)


def echoes(pcap):
    """(send time, answered) of each echo request in PCAP, by ICMP sequence."""
    out = subprocess.run(["tcpdump", "-nn", "-tt", "-r", pcap, "icmp"], capture_output=True, text=True).stdout
    sent, answered = {}, set()
    for line in out.splitlines():
        m = re.search(r"echo (request|reply), id \d+, seq (\d+)", line)
        if m and m.group(1) == "request":
            sent.setdefault(int(m.group(2)), float(line.split()[0]))
        elif m:
            answered.add(int(m.group(2)))
    return [(t, s in answered) for s, t in sorted(sent.items())]


def trial(lb, wg, key, reset, scratch):
    rtr(lb, "wg", "set", wg, "peer", key, "endpoint", f"{VPS}:51820")
    assert rtr(lb, "ping", "-c3", "-i0.2", "-w2", "-I", wg, VPS_TUNNEL, check=False).returncode == 0, "no echo"
    lb.ctl("primary", "down")
    pcap = f"{scratch}/wg-{'reset' if reset else 'route'}-{time.time():.0f}.pcap"
    cap = subprocess.Popen(["ip", "netns", "exec", lb.netns, "tcpdump", "-ni", wg, "-U", "-w", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    mon = subprocess.Popen(["ip", "netns", "exec", lb.netns, "ip", "-ts", "monitor", "route"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.2)
    then = f"; wg set {wg} peer {key} endpoint {VPS}:51820" if reset else ""
    # ping paces itself at 10 ms while unanswered: echoes every 1 ms from a raw socket.
    ping = subprocess.Popen(["ip", "netns", "exec", lb.netns, "python3", "-c", SENDER, wg, VPS_TUNNEL,
                             f"ip route add {VPS}/32 via {ISP2_GW} dev eth1{then}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    t_done = float(ping.communicate(timeout=10)[0])
    time.sleep(0.3)
    for p in (cap, mon):
        p.terminate()
    cap.wait()
    # The kernel's announcement of the route, as `ip -ts monitor` stamps it (local time).
    line = next(l for l in mon.communicate()[0].splitlines() if f"{VPS} via {ISP2_GW}" in l)
    t_route = datetime.datetime.strptime(line[1:line.index("]")], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
    sent = echoes(pcap)[:-1]  # the stream's last echo may be cut off by its end
    # The echoes sent after the route went in up to the first one answered: those that
    # still left with the primary's source (a loss later is the lab's, not the source's).
    after = [(t, ok) for t, ok in sent if t > t_route]
    first = next((i for i, (_, ok) in enumerate(after) if ok), len(after))
    lost = [t - t_route for t, _ in after[:first]]
    late = [t for t, _ in after[:first] if t > t_done]
    rtr(lb, "ip", "route", "del", f"{VPS}/32", "via", ISP2_GW, "dev", "eth1")
    lb.ctl("primary", "up")
    time.sleep(0.3)
    return lost, late


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    busy = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    lb = Lab(f"ss{os.getpid() % 100000}")
    # BUSY processes spinning meanwhile: a loaded router's scheduler (wireguard-go's route
    # listener is one goroutine among the others).
    load = [subprocess.Popen(["python3", "-c", "while True: pass"]) for _ in range(busy)]
    try:
        wg = f"{lb.id}w"
        key = rtr(lb, "wg", "show", wg, "peers").stdout.split()[0]
        for reset in (False, True):
            windows, hit, after_reset = [], 0, 0
            for _ in range(trials):
                lost, late = trial(lb, wg, key, reset, lb.dir)
                hit += bool(lost)
                after_reset += len(late) if reset else 0
                windows.append(max(lost, default=0.0) * 1000)
                print(f"  {'reset' if reset else 'route'}: {len(lost)} echoes sent after the route went in "
                      f"were lost before the first answer (the last {windows[-1]:.2f} ms after it), "
                      f"{len(late)} of them after the command that followed it returned", flush=True)
            mode = "route, then the endpoint set again" if reset else "route only"
            print(f"{mode}: {hit} of {trials} trials lost an echo sent after the route went in; "
                  f"longest window {max(windows):.2f} ms" + (f"; {after_reset} lost after the reset" if reset else ""),
                  flush=True)
    finally:
        for p in load:
            p.kill()
            p.wait()
        if not os.environ.get("KEEP"):
            lb.down()
        print(lb.dir)


if __name__ == "__main__":
    main()
