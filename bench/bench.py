#!/usr/bin/env python3
"""Benchmarks of one wg-failsafe binary in the namespace lab (`make bench`).

Prints, for the binary given:
  - its size and kind (`file`),
  - CPU time (user + system) of a healthy `run`, from wait4(2)'s rusage of the process
    itself, and its exact peak RSS (VmHWM at its exit, see bench/measure.c): the
    benchmark enters the router namespace with setns(2) and starts the binary through
    `measure`, a small static launcher, since Linux counts what a process held before
    exec in its peak RSS (a child forked from this Python process would start at 11 MiB)
    — plain, with TRACK_IPS, and with every option of issues 18 and 19 on,
  - wall time of activation (tunnel already up) and of deactivation, as a tick sees
    them: the whole process, from fork to exit, and the time the tool logs.
Usage: bench.py MEASURE BINARY [HEALTHY_RUNS] [CYCLES]
"""
import ctypes
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "tests", "lab", "lab.sh")
CLONE_NEWNET = 0x40000000


def lab(*args, check=True):
    return subprocess.run([LAB, *args], check=check, capture_output=True, text=True)


def enter_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


def run(argv, env=None):
    """Fork/exec argv (with ENV if given); returns (exit code, stdout, wall seconds, rusage)."""
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        os.dup2(w, 2)
        try:
            os.execve(argv[0], argv, env if env is not None else os.environ)
        finally:
            os._exit(127)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace"), wall, usage


def healthy_tick(measure, binary, config, smaps=None):
    """One healthy `run` through MEASURE, from inside the router's namespace (see
    enter_netns): its CPU time, user + system, in seconds, and its exact peak RSS, its
    file and its anonymous RSS at exit, in KiB (measure's hwm_kib, file_kib, anon_kib).
    SMAPS: a path where measure copies /proc/PID/smaps at exit."""
    env = dict(os.environ, MEASURE_SMAPS=smaps) if smaps else None
    code, out, _, _ = run([measure, binary, "-c", config, "run"], env)
    m = re.fullmatch(r"measure: exit=0 wall_us=\d+ user_us=(\d+) sys_us=(\d+) hwm_kib=(\d+) file_kib=(\d+) "
                     r"anon_kib=(\d+) maxrss_kib=\d+\n", out)
    assert code == 0 and m, f"healthy run failed: {code} {out}"
    return (int(m.group(1)) + int(m.group(2))) / 1e6, int(m.group(3)), int(m.group(4)), int(m.group(5))


def forks(argv):
    """How many processes (fork, vfork, clone, clone3, or a second execve) the command
    starts, from strace -f; threads count too."""
    log = f"/tmp/wfs-bench-forks-{os.getpid()}"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=fork,vfork,clone,clone3,execve", "-o", log, *argv],
                   check=True, capture_output=True)
    with open(log) as f:
        calls = [line for line in f if re.search(r"\b(fork|vfork|clone3?|execve)\(", line)]
    os.unlink(log)
    return len(calls) - 1  # the traced command's own execve


def summary(values, unit, scale=1.0):
    v = sorted(x * scale for x in values)
    return f"median {statistics.median(v):.2f} {unit} (min {v[0]:.2f}, max {v[-1]:.2f}, n={len(v)})"


def main():
    measure = os.path.abspath(sys.argv[1])
    binary = os.path.abspath(sys.argv[2])
    healthy_runs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    cycles = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    lab_id = f"bn{os.getpid() % 10000}"
    conf = f"/tmp/wfs-lab-{lab_id}/wg-failsafe.conf"
    kind = subprocess.run(["file", "-b", binary], capture_output=True, text=True).stdout.strip()
    print(f"binary: {binary}")
    print(f"  {os.path.getsize(binary)} bytes; {kind}")
    lab("up", lab_id)
    try:
        enter_netns(f"{lab_id}-rtr")
        tool = [binary, "-c", conf]

        # The same lab with TRACK_IPS: the echoes go through the gateway on a packet socket.
        track_conf = conf.replace("wg-failsafe.conf", "track.conf")
        with open(conf) as f:
            text = f.read()
        fd = os.open(track_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (text + "TRACK_IPS=203.0.113.80 203.0.113.53\nTRACK_RELIABILITY=1\n").encode())
        os.close(fd)
        # Every option of issues 18 and 19 on (quality limits, the backup's internet, the
        # outage's accounting): a healthy tick must stay what it was (no write, <= 1 ms, <= 1 MiB).
        all_conf = conf.replace("wg-failsafe.conf", "all.conf")
        history = f"/tmp/wfs-lab-{lab_id}/history"
        fd = os.open(all_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (text + "LOSS_DOWN_PCT=20\nLOSS_UP_PCT=5\nLATENCY_DOWN_MS=250\nLATENCY_UP_MS=100\n"
                      "BACKUP_CHECK=on\nBACKUP_TRACK_IPS=203.0.113.80\n"
                      f"HISTORY_FILE={history}\nBACKUP_BUDGET_MB=1000\nBACKUP_BUDGET_ACTION=exclude\n"
                      "BACKUP_EXCLUDE=192.168.10.50\nLAN_KEEP=192.168.10.60\n").encode())
        os.close(fd)
        for label, config in [
            ("healthy tick (primary up, failsafe off: link, gateway echo, route dump):", conf),
            ("healthy tick with TRACK_IPS (2 upstream targets through the gateway, packet socket):", track_conf),
            ("healthy tick with the quality limits, BACKUP_CHECK + BACKUP_TRACK_IPS, HISTORY_FILE, the budget "
             "and BACKUP_EXCLUDE on (issues 18, 19):", all_conf),
        ]:
            cpu, rss = [], []
            for _ in range(healthy_runs):
                c, r, _, _ = healthy_tick(measure, binary, config)
                cpu.append(c)
                rss.append(r)
            print(label)
            print(f"  CPU user+sys: {summary(cpu, 'ms', 1000)}")
            print(f"  peak RSS (exact, VmHWM): {summary(rss, 'KiB')}")
            print(f"  processes started: {forks([binary, '-c', config, 'run'])}")

        act_wall, act_log, deact_wall, deact_log, late = [], [], [], [], []
        wg = f"{lab_id}w"
        for i in range(cycles + 1):
            # The tunnel is up: a fresh handshake, as when it carries keepalives.
            subprocess.run(["ping", "-c", "1", "-W", "2", "-I", wg, "10.11.0.1"], check=True, capture_output=True)
            lab("primary", lab_id, "down")
            code, out, wall, _ = run(tool + ["-v", "run"])
            assert code == 0 and "ACTIVATED" in out, out
            if i > 0:  # the first cycle also sets up the router's neighbour caches
                act_wall.append(wall)
                act_log.append(int(re.search(r"ACTIVATED in (\d+) ms", out).group(1)))
            lab("primary", lab_id, "up")
            # A tick right after the carrier returns may still judge the primary down
            # (seen in about 1 cycle of 30): counted and told, the next tick measured.
            for tick in range(3):
                code, out, wall, _ = run(tool + ["-v", "run"])
                assert code == 0, out
                if "DEACTIVATED" in out:
                    break
                late.append(out.strip())
            assert "DEACTIVATED" in out, out
            if i > 0:
                deact_wall.append(wall)
                deact_log.append(int(re.search(r"DEACTIVATED in (\d+) ms", out).group(1)))
        print("activation (tunnel already up), one `run` from fork to exit:")
        print(f"  wall:   {summary(act_wall, 'ms', 1000)}")
        print(f"  logged: {summary(act_log, 'ms')} (the sequence alone, steps 1-8)")
        print("deactivation, one `run` from fork to exit (includes the primary health check):")
        print(f"  wall:   {summary(deact_wall, 'ms', 1000)}")
        print(f"  logged: {summary(deact_log, 'ms')} (the sequence alone, steps 2-4)")
        if late:
            print(f"  {len(late)} tick(s) right after the carrier's return did not deactivate yet: {late[0]}")
    finally:
        lab("down", lab_id, check=False)


if __name__ == "__main__":
    main()
