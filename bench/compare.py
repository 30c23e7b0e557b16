#!/usr/bin/env python3
"""The old build beside the new one, measured in the same run, in one table (`make bench`).

DIR holds what bench/builds.sh made: DIR/new/ and DIR/old/, each with `host` (the
release build), and when the cross toolchain is there `x86_64` (static musl), `mipsel`
(static, stripped) and `mipsel.deb`; `rev` names the revision. The lab figures are of
`x86_64` when both builds have one (the build routers run), else of `host`. Each figure
is taken as bench.py and daemon.py take it (their docstrings say how), old and new in
the same lab, one after the other or taking turns:
  - a healthy tick's CPU time (user + system) and peak RSS, through bench/measure.c
    from inside the router's namespace: median of HEALTHY_RUNS ticks each, old and new
    alternating; then with 100,000 and 300,000 more routes in main (median of 5, peak
    the largest);
  - the daemon's carrier event to switched tables, as it logs it: TRIALS carrier losses
    each (min, median, max, and how many under 100 ms);
  - the daemon idle: CPU per hour and peak RSS over the same IDLE_S seconds, both
    daemons running side by side, each in a lab of its own;
  - the mipsel binary's size and its .deb's.
Peak RSS counts the binary's own pages that the kernel maps around each page fault, as
many as the page cache holds and in the folios it holds them in: the same bytes peaked
at 564 KiB as the linker wrote them, 680 KiB as a fresh copy, 616 KiB once the copy was
dropped from the cache and read back. So both builds are dropped from the page cache
(POSIX_FADV_DONTNEED) before each figure, and start from the same state; written back
first, since the drop skips dirty pages (a binary copied seconds ago, as builds.sh does
just before, kept its fresh-copy 680 KiB instead of 616).
Peak RSS is counted exactly: a tick's is VmHWM of /proc/PID/status read by
bench/measure.c while the process is held at its exit (a ptrace PTRACE_EVENT_EXIT
stop, which comes before the kernel takes its memory down), an idle daemon's is VmHWM
read while it runs. wait4's ru_maxrss is not exact: since Linux 6.2 it is read from
the per-CPU RSS counters, and each CPU's count of file and of anonymous pages reaches
the total only in batches of 32 pages on a 2-CPU machine, so up to 31 pages of each per
CPU are missing from it, and it moved by tens of KiB for a few pages more or less
mapped (616 -> 692 KiB at wt-vps's 1942b4b, which maps one or two pages more; 9be3ade's
616 KiB and e4a5fe0's 704 KiB were 756 and 768 KiB counted exactly, kernel 6.18).

A quick look at the healthy tick's peak RSS alone, of any two or more binaries:
  compare.py rss MEASURE BINARY... [--runs N] [--smaps DIR]
prints for each the exact peak (min / median / max of N runs, default 20, the
binaries taking turns, all dropped from the page cache before the first), and its file and
anonymous RSS at exit; with --smaps, DIR/NAME.smaps is /proc/PID/smaps at the last
run's exit (NAME: the binary's position, 0, 1, ...).
Usage: compare.py MEASURE DIR [TRIALS] [IDLE_S] [HEALTHY_RUNS]
       compare.py rss MEASURE BINARY... [--runs N] [--smaps DIR]
"""
import ctypes
import os
import statistics
import subprocess
import sys
import time

import bench
import daemon

UNDER_MS = 100


def healthy(measure, binaries, runs, smaps=None):
    """{binary: (CPU ms list, peak RSS KiB list, (file, anon) KiB list)} of RUNS healthy
    ticks each, in turns; SMAPS: a directory for each binary's smaps at the last exit."""
    lb = daemon.Lab(f"bc{os.getpid() % 10000}")
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        bench.enter_netns(lb.netns)
        conf = f"{lb.dir}/wg-failsafe.conf"
        got = {b: ([], [], []) for b in binaries}
        for i in range(runs):
            for n, b in enumerate(binaries):
                keep = f"{smaps}/{n}.smaps" if smaps and i == runs - 1 else None
                cpu_s, rss, file, anon = bench.healthy_tick(measure, b, conf, keep)
                got[b][0].append(cpu_s * 1000)
                got[b][1].append(rss)
                got[b][2].append((file, anon))
        return got
    finally:
        # Back home before the lab goes: lab.sh runs from the host's namespace.
        setns(home)
        os.close(home)
        lb.down()


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, bench.CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def carrier(binary, trials):
    lb = daemon.Lab(f"bk{os.getpid() % 10000}")
    try:
        conf = lb.conf("gw.conf", PROBE_TIMEOUT_MS=1000, UP_AFTER_S=0, FLAP_WINDOW_S=0)
        return daemon.switch_trials(lb, binary, conf, ("primary", "down"), ("primary", "up"), trials, carrier=True)
    finally:
        lb.down()


def idle(binaries, idle_s):
    """{binary: (CPU s per hour, peak RSS KiB)} of a healthy daemon of each of BINARIES,
    each in a lab of its own, all running over the same IDLE_S seconds (after 2 s of
    start): one after the other, a load on the machine in one build's minute and not in
    the other's made a difference of ±10 % either way."""
    labs = [daemon.Lab(f"bj{i}{os.getpid() % 1000}") for i in range(len(binaries))]
    procs = []
    try:
        for lb, b in zip(labs, binaries):
            procs.append(daemon.daemon(lb, b, lb.conf("idle.conf", PROBE_INTERVAL_MS=500)))
        time.sleep(2)
        c0, t0 = [daemon.cpu_ns(p.pid) for p in procs], time.monotonic()
        time.sleep(idle_s)
        c1, t1 = [daemon.cpu_ns(p.pid) for p in procs], time.monotonic()
        hwm = [daemon.vmhwm_kib(p.pid) for p in procs]
        return {b: ((c1[i] - c0[i]) / 1e9 * 3600 / (t1 - t0), hwm[i]) for i, b in enumerate(binaries)}
    finally:
        for p in procs:
            daemon.stop(p)
        for lb in labs:
            lb.down()


def uncache(paths):
    """Drops the files' clean pages from the page cache (see the RSS note above)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # DONTNEED leaves dirty pages: a fresh copy would keep its folios
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else None


def rss_only(args):
    """compare.py rss MEASURE BINARY... [--runs N] [--smaps DIR]: the healthy tick's
    exact peak RSS of each binary."""
    runs, smaps = 20, None
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args.pop(i + 1))
        args.pop(i)
    if "--smaps" in args:
        i = args.index("--smaps")
        smaps = os.path.abspath(args.pop(i + 1))
        args.pop(i)
        os.makedirs(smaps, exist_ok=True)
    measure, binaries = os.path.abspath(args[0]), [os.path.abspath(b) for b in args[1:]]
    uncache(binaries)
    h = healthy(measure, binaries, runs, smaps)
    print(f"healthy tick, exact peak RSS (VmHWM at exit), {runs} runs each; file + anon RSS at exit (medians):")
    for n, b in enumerate(binaries):
        peaks, split = sorted(h[b][1]), h[b][2]
        file = statistics.median(f for f, _ in split)
        anon = statistics.median(a for _, a in split)
        print(f"  {n}: {peaks[0]} / {statistics.median(peaks):.0f} / {peaks[-1]} KiB  "
              f"(file {file:.0f} + anon {anon:.0f})  {b}")


def main():
    if sys.argv[1] == "rss":
        return rss_only(sys.argv[2:])
    measure = os.path.abspath(sys.argv[1])
    top = os.path.abspath(sys.argv[2])
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    idle_s = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    builds = ["old", "new"]
    rev = {b: open(f"{top}/{b}/rev").read().strip() for b in builds}
    kind = "x86_64" if all(os.path.exists(f"{top}/{b}/x86_64") for b in builds) else "host"
    binary = {b: f"{top}/{b}/{kind}" for b in builds}
    for b in builds:
        print(f"{b}: {rev[b]}  ({binary[b]})", flush=True)

    rows = []  # (figure, old, new)

    print(f"healthy ticks: {runs} each, taking turns ...", flush=True)
    uncache(binary.values())
    h = healthy(measure, [binary[b] for b in builds], runs)
    med = {b: statistics.median(h[binary[b]][0]) for b in builds}
    rss = {b: statistics.median(h[binary[b]][1]) for b in builds}
    rows.append((f"healthy tick CPU, lab's routes (median of {runs})",) + tuple(f"{med[b]:.2f} ms" for b in builds))
    rows.append((f"healthy tick peak RSS (exact), lab's routes (median of {runs})",) + tuple(f"{rss[b]:.0f} KiB" for b in builds))

    print("healthy ticks with 100,000 and 300,000 more routes ...", flush=True)
    uncache(binary.values())
    r = daemon.routes(measure, [binary[b] for b in builds])
    for total in [100_000, 300_000]:
        rows.append((f"healthy tick CPU, +{total:,} routes (median of 5)",)
                    + tuple(f"{r[binary[b]][total][0]:.1f} ms" for b in builds))
        rows.append((f"healthy tick peak RSS, +{total:,} routes",)
                    + tuple(f"{r[binary[b]][total][1]} KiB" for b in builds))

    sw = {}
    for b in builds:
        print(f"daemon carrier event -> switch, {b}: {trials} trials ...", flush=True)
        uncache([binary[b]])
        sw[b] = carrier(binary[b], trials)
    rows.append((f"daemon carrier event -> switch, {trials} trials",)
                + tuple(f"{min(sw[b]):.0f} / {statistics.median(sw[b]):.0f} / {max(sw[b]):.0f} ms" for b in builds))
    rows.append((f"  ... of which under {UNDER_MS} ms",)
                + tuple(f"{sum(v < UNDER_MS for v in sw[b])} of {len(sw[b])}" for b in builds))

    print(f"daemon idle, both side by side: {idle_s} s ...", flush=True)
    uncache(binary.values())
    both = idle([binary[b] for b in builds], idle_s)
    idl = {b: both[binary[b]] for b in builds}
    rows.append((f"daemon idle CPU per hour ({idle_s} s, PROBE_INTERVAL_MS=500)",)
                + tuple(f"{idl[b][0]:.2f} s" for b in builds))
    rows.append(("daemon idle peak RSS",) + tuple(f"{idl[b][1]} KiB" for b in builds))

    for label, name in [("mipsel binary, static, stripped", "mipsel"), ("mipsel .deb", "mipsel.deb")]:
        sizes = [size(f"{top}/{b}/{name}") for b in builds]
        if None not in sizes:
            rows.append((label,) + tuple(f"{s:,} B" for s in sizes))

    head = ("figure", f"old ({rev['old'].split()[0]})", f"new ({rev['new'].split()[0]})")
    width = [max(len(row[i]) for row in rows + [head]) for i in range(3)]
    print()
    print(f"old beside new, lab figures of the {kind} builds; min / median / max where three")
    for row in [head, tuple("-" * w for w in width)] + rows:
        print(f"{row[0]:<{width[0]}}  {row[1]:>{width[1]}}  {row[2]:>{width[2]}}")
    for b in builds:
        print(f"carrier -> switch, {b}, each trial (ms): {' '.join(f'{v:.0f}' for v in sw[b])}")


if __name__ == "__main__":
    main()
