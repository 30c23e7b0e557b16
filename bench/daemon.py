#!/usr/bin/env python3
"""Benchmarks of the daemon and of large routing tables, in the namespace lab (`make bench`).

Prints, for the binary given:
  - detection-to-switch latency, daemon and cron, for carrier loss (from the kernel's
    announcement: the daemon logs it), a silent gateway and a dead upstream behind a live
    gateway (from the moment the failure is injected), min/median/max over TRIALS each,
    beside the figures of the tools it is compared with;
  - the daemon's detection of a primary at 50 % loss with LOSS_DOWN_PCT=20 and the
    default window (issue 18), and its idle cost with those limits on;
  - the daemon's idle cost: CPU time per hour at PROBE_INTERVAL_MS=500 with one target
    (from /proc/PID/schedstat over IDLE_S seconds, scaled) and its peak RSS (VmHWM);
  - a soak: peak RSS after a few rounds and after at least 100,000 (PROBE_INTERVAL_MS=1);
  - a healthy `run`'s CPU time and peak RSS with the lab's routes and with 100,000 and
    300,000 more in main (`ip -batch`), through bench/measure.c.
Usage: daemon.py MEASURE BINARY [TRIALS] [IDLE_S] [SOAK_S]
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "tests", "lab", "lab.sh")


def lab(*args, check=True):
    return subprocess.run([LAB, *args], check=check, capture_output=True, text=True)


def spread(values, unit="ms"):
    v = sorted(values)
    return f"min {v[0]:.0f}, median {statistics.median(v):.0f}, max {v[-1]:.0f} {unit} (n={len(v)})"


class Lab:
    def __init__(self, lab_id):
        self.id = lab_id
        self.dir = f"/tmp/wfs-lab-{lab_id}"
        self.netns = f"{lab_id}-rtr"
        lab("up", lab_id)

    def ctl(self, *args):
        lab(args[0], self.id, *args[1:])

    def conf(self, name, **keys):
        """The lab's configuration with KEY=VALUE changes, root's and 0600."""
        with open(f"{self.dir}/wg-failsafe.conf") as f:
            lines = [l for l in f.read().splitlines() if l.split("=", 1)[0] not in keys]
        lines += [f"{k}={v}" for k, v in keys.items()]
        path = f"{self.dir}/{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.close(fd)
        return path

    def log(self):
        try:
            with open(f"{self.dir}/wg-failsafe.log") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait(self, what, n, timeout=30.0):
        start = time.monotonic()
        while self.log().count(what) < n:
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"no `{what}` x{n} within {timeout} s:\n{self.log()}")
            time.sleep(0.005)
        return time.monotonic() - start

    def down(self):
        lab("down", self.id, check=False)


def daemon(lab_, binary, conf):
    p = subprocess.Popen(["ip", "netns", "exec", lab_.netns, binary, "-c", conf, "daemon"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab_.wait("daemon started", lab_.log().count("daemon started") + 1)
    return p


def stop(p):
    p.terminate()
    p.wait(timeout=10)


def proc(pid, name):
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


def vmhwm_kib(pid):
    return int(re.search(r"VmHWM:\s+(\d+) kB", proc(pid, "status")).group(1))


def cpu_ns(pid):
    return int(proc(pid, "schedstat").split()[0])


def switch_trials(lb, binary, conf, fail, mend, trials, carrier):
    """A daemon started in lab LB with CONF, then TRIALS failures (lab.sh's FAIL, mended by
    MEND) each until the daemon activates and, once mended, deactivates; stopped after.
    Returns the milliseconds to each switch: from the kernel's carrier event as the daemon
    logs it (CARRIER), or from the failure's injection."""
    p = daemon(lb, binary, conf)
    time.sleep(1.5)
    got = []
    try:
        # The carrier's line comes after the activation's: waited for itself, or it may
        # not be written yet.
        what = "ms after the kernel's event" if carrier else "failsafe ACTIVATED"
        for _ in range(trials):
            n = lb.log().count(what)
            lb.ctl(*fail)
            took = lb.wait(what, n + 1)
            if carrier:
                m = re.findall(r"tables switched (\d+) ms after the kernel's event", lb.log())
                got.append(float(m[-1]))
            else:
                got.append(took * 1000)
            lb.ctl(*mend)
            lb.wait("failsafe DEACTIVATED", lb.log().count("failsafe DEACTIVATED") + 1)
            time.sleep(1.0)
    finally:
        stop(p)
    return got


def latencies(binary, trials):
    print("detection to switched tables (lab, wireguard-go; defaults PROBE_INTERVAL_MS=500, "
          "DOWN_AFTER_MS=2000 for the daemon, PROBE_COUNT=3 x PROBE_TIMEOUT_MS=1000 for a tick):")
    lb = Lab(f"bd{os.getpid() % 10000}")
    try:
        common = dict(PROBE_TIMEOUT_MS=1000, UP_AFTER_S=0, FLAP_WINDOW_S=0)
        gw = lb.conf("gw.conf", **common)
        track = lb.conf("track.conf", TRACK_IPS="203.0.113.80", **common)
        results = {}
        for kind, conf, fail, mend in [
            ("carrier loss", gw, ("primary", "down"), ("primary", "up")),
            ("silent gateway", gw, ("silent", "on"), ("silent", "off")),
            ("dead upstream (TRACK_IPS)", track, ("upstream", "down"), ("upstream", "up")),
        ]:
            got = switch_trials(lb, binary, conf, fail, mend, trials, carrier=kind == "carrier loss")
            results[kind] = got
            since = "from the kernel's carrier event" if kind == "carrier loss" else "from the failure"
            print(f"  daemon, {kind} ({since}): {spread(got)}")
        for kind, conf, fail, mend in [
            ("carrier loss", gw, ("primary", "down"), ("primary", "up")),
            ("silent gateway", gw, ("silent", "on"), ("silent", "off")),
            ("dead upstream (TRACK_IPS)", track, ("upstream", "down"), ("upstream", "up")),
        ]:
            got = []
            for _ in range(trials):
                lb.ctl(*fail)
                start = time.monotonic()
                r = subprocess.run(["ip", "netns", "exec", lb.netns, binary, "-c", conf, "run"], capture_output=True)
                got.append((time.monotonic() - start) * 1000)
                assert r.returncode == 0, r.stderr
                lb.ctl(*mend)
                subprocess.run(["ip", "netns", "exec", lb.netns, binary, "-c", conf, "run"], check=True)
            print(f"  cron, {kind}: the tick itself {spread(got)}, once it comes: 0-60 s after the failure (30 s on average)")
        print("  for comparison (published defaults): pfSense/dpinger about 15 s for a dead upstream, mwan3 60-75 s "
              "(one target), VyOS up to 10 s; none of them switches policy tables on a carrier event")
        return results
    finally:
        lb.down()


def primary_loss(lb, cond):
    """ISP 1 drops the router's echo requests to its gateway on nftables' numgen COND
    (`random mod 100 < 50`), or none (None)."""
    rules = "table ip wfsb_loss\ndelete table ip wfsb_loss\n"
    if cond:
        rules += ("table ip wfsb_loss {\n chain in {\n type filter hook input priority filter; policy accept;\n"
                  f" iifname \"lan\" icmp type echo-request numgen {cond} drop\n }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", f"{lb.id}-isp1", "nft", "-f", "-"], input=rules, text=True, check=True)


def quality(binary, trials, idle_s):
    """Issue 18: the daemon's detection of a primary at 50 % loss (nftables numgen random)
    with LOSS_DOWN_PCT=20 / LOSS_UP_PCT=5 and the default window (QUALITY_WINDOW_S=10,
    PROBE_INTERVAL_MS=500, PROBE_TIMEOUT_MS=1000), from the loss's start to the switched
    tables; and the healthy daemon's CPU and peak RSS with the limits on."""
    lb = Lab(f"bq{os.getpid() % 10000}")
    try:
        conf = lb.conf("q.conf", LOSS_DOWN_PCT=20, LOSS_UP_PCT=5, UP_AFTER_S=0, FLAP_WINDOW_S=0)
        p = daemon(lb, binary, conf)
        got = []
        try:
            time.sleep(11)  # the window spans QUALITY_WINDOW_S
            for _ in range(trials):
                n = lb.log().count("failsafe ACTIVATED")
                primary_loss(lb, "random mod 100 < 50")
                got.append(lb.wait("failsafe ACTIVATED", n + 1, timeout=60) * 1000)
                primary_loss(lb, None)
                lb.wait("failsafe DEACTIVATED", lb.log().count("failsafe DEACTIVATED") + 1, timeout=60)
                time.sleep(11)  # the window clean again
        finally:
            stop(p)
        print("daemon, primary at 50 % loss, LOSS_DOWN_PCT=20, default window (10 s, an echo every 500 ms):")
        print(f"  from the loss's start to switched tables: {spread(got)}")
        print("  for comparison: pfSense's dpinger defaults (an echo every 500 ms, lost after 2 s, averaged over 60 s,"
              " down above 20 %) cross 20 % after about 24 s + 2 s = 26 s (computed)")
        per_hour_s, hwm, took = idle(lb, binary, idle_s, LOSS_DOWN_PCT=20, LOSS_UP_PCT=5)
        print(f"daemon idle with the limits on (over {took:.0f} s): CPU {per_hour_s:.2f} s per hour; peak RSS {hwm} KiB")
        return got
    finally:
        lb.down()


def idle(lb, binary, idle_s, **keys):
    """A healthy daemon in lab LB (PROBE_INTERVAL_MS=500, one target) for IDLE_S seconds,
    after 2 s of start: its CPU time scaled to seconds per hour, its peak RSS (KiB) at
    the end, and the seconds actually measured."""
    conf = lb.conf("idle.conf", PROBE_INTERVAL_MS=500, **keys)
    p = daemon(lb, binary, conf)
    try:
        time.sleep(2)
        c0, t0 = cpu_ns(p.pid), time.monotonic()
        time.sleep(idle_s)
        c1, t1 = cpu_ns(p.pid), time.monotonic()
        hwm = vmhwm_kib(p.pid)
    finally:
        stop(p)
    return (c1 - c0) / 1e9 * 3600 / (t1 - t0), hwm, t1 - t0


def idle_and_soak(binary, idle_s, soak_s):
    lb = Lab(f"bi{os.getpid() % 10000}")
    try:
        per_hour_s, hwm, idle_s = idle(lb, binary, idle_s)
        print(f"daemon idle, healthy, PROBE_INTERVAL_MS=500, one target (over {idle_s:.0f} s):")
        print(f"  CPU {per_hour_s:.2f} s per hour ({per_hour_s / 36:.4f} % of a core); peak RSS {hwm} KiB")

        soak = lb.conf("soak.conf", PROBE_INTERVAL_MS=1, DOWN_AFTER_MS=1000)
        p = daemon(lb, binary, soak)
        time.sleep(1)
        start_hwm = vmhwm_kib(p.pid)
        time.sleep(soak_s)
        end_hwm = vmhwm_kib(p.pid)
        stop(p)
        rounds = int(re.findall(r"after (\d+) rounds", lb.log())[-1])
        print(f"daemon soak, PROBE_INTERVAL_MS=1 for {soak_s} s: {rounds} rounds; peak RSS {start_hwm} KiB after a "
              f"second, {end_hwm} KiB at the end")
        return per_hour_s, hwm, start_hwm, end_hwm, rounds
    finally:
        lb.down()


def routes(measure, binaries):
    """A healthy `run` of each of BINARIES with the lab's routes and with 100,000 and
    300,000 more in main, the binaries taking turns: {binary: {added: (CPU ms, median of
    5; peak RSS KiB, the largest of 5)}}."""
    lb = Lab(f"br{os.getpid() % 10000}")
    try:
        def tick(binary):
            out = subprocess.run(["ip", "netns", "exec", lb.netns, measure, binary, "-c",
                                  f"{lb.dir}/wg-failsafe.conf", "run"], capture_output=True, text=True)
            m = re.search(r"exit=0 wall_us=\d+ user_us=(\d+) sys_us=(\d+) hwm_kib=(\d+)", out.stdout + out.stderr)
            assert m, out
            return (int(m.group(1)) + int(m.group(2))) / 1000, int(m.group(3))

        figures = {b: {} for b in binaries}
        added = 0
        for total in [0, 100_000, 300_000]:
            if total > added:
                batch = f"{lb.dir}/batch"
                with open(batch, "w") as f:
                    for i in range(added, total):
                        f.write(f"route add blackhole 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32\n")
                subprocess.run(["ip", "-n", lb.netns, "-batch", batch], check=True)
                added = total
            samples = {b: [] for b in binaries}
            for _ in range(5):
                for b in binaries:
                    samples[b].append(tick(b))
            for b in binaries:
                figures[b][total] = (statistics.median(s[0] for s in samples[b]), max(s[1] for s in samples[b]))
        return figures
    finally:
        lb.down()


def main():
    measure = os.path.abspath(sys.argv[1])
    binary = os.path.abspath(sys.argv[2])
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    idle_s = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    soak_s = int(sys.argv[5]) if len(sys.argv) > 5 else 120
    print(f"daemon benchmarks of {binary}")
    latencies(binary, trials)
    quality(binary, min(trials, 5), idle_s)
    idle_and_soak(binary, idle_s, soak_s)
    print("healthy run with many routes in main (through measure; `ip -batch` blackhole /32s):")
    for total, (cpu, rss) in routes(measure, [binary])[binary].items():
        print(f"  lab's routes + {total:>7}: CPU {cpu:7.1f} ms (median of 5), peak RSS {rss} KiB")


if __name__ == "__main__":
    main()
