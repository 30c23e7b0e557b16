#!/usr/bin/env python3
"""A hostile userspace WireGuard: answers every UAPI request on SOCKET the way MODE says.

usage: fake-uapi.py SOCKET MODE
  endless   key=value lines for ever
  longline  one line that never ends
  trickle   a valid answer, one byte every 0.2 s
  many      200,000 valid peers (none of them the VPS), errno=0
  future    the VPS peer with a handshake ten years from now
  overflow  the VPS peer with a handshake time no integer holds
  garbage   1 MiB of random bytes, then the connection closes
"""
import os
import socket
import sys
import threading
import time

path, mode = sys.argv[1], sys.argv[2]
VPS_KEY = "ab" * 32


def peer(key, handshake, endpoint=None, allowed="0.0.0.0/0"):
    lines = [f"public_key={key}", "preshared_key=" + "0" * 64, "protocol_version=1"]
    if endpoint:
        lines.append(f"endpoint={endpoint}")
    lines += [f"last_handshake_time_sec={handshake}", "last_handshake_time_nsec=0",
              "tx_bytes=0", "rx_bytes=0", "persistent_keepalive_interval=0", f"allowed_ip={allowed}"]
    return "\n".join(lines) + "\n"


DEVICE = "private_key=" + "0" * 63 + "1\nlisten_port=51820\n"
if mode == "many":
    body = "".join(peer(f"{i:064x}", 0, allowed=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32")
                   for i in range(1, 200_001))
    ANSWER = (DEVICE + body + "errno=0\n\n").encode()
elif mode == "future":
    ANSWER = (DEVICE + peer(VPS_KEY, int(time.time()) + 10 * 365 * 86400, "198.51.100.10:51820")
              + "errno=0\n\n").encode()
elif mode == "overflow":
    ANSWER = (DEVICE + peer(VPS_KEY, "9" * 30, "198.51.100.10:51820") + "errno=0\n\n").encode()
else:
    ANSWER = (DEVICE + peer(VPS_KEY, 0, "198.51.100.10:51820") + "errno=0\n\n").encode()


def serve(conn):
    try:
        conn.recv(4096)
        if mode == "endless":
            chunk = b"tx_bytes=1\n" * 4096
            while True:
                conn.sendall(chunk)
        elif mode == "longline":
            chunk = b"a" * 65536
            while True:
                conn.sendall(chunk)
        elif mode == "trickle":
            for b in ANSWER:
                conn.sendall(bytes([b]))
                time.sleep(0.2)
        elif mode == "garbage":
            conn.sendall(os.urandom(1 << 20))
        else:
            conn.sendall(ANSWER)
    except OSError:
        pass
    finally:
        conn.close()


s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
