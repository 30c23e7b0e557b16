#!/usr/bin/env python3
"""Reads `status --prometheus` (file 1) with prometheus_client's parser, the reference
reader of the text format, and checks each figure against `status --json` (file 2),
taken right after it. Prints `ok`, or every difference and exits 1.

The two are two runs of `status`, each probing afresh: RTTs are compared loosely (both
known or both unknown, within 50 ms), the running seconds and bytes of an outage within
what passes between the runs; everything else exactly."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

TYPES = {
    "wg_failsafe_active": "gauge",
    "wg_failsafe_target": "gauge",
    "wg_failsafe_primary_healthy": "gauge",
    "wg_failsafe_primary_rtt_seconds": "gauge",
    "wg_failsafe_primary_loss_ratio": "gauge",
    "wg_failsafe_tunnel_up": "gauge",
    "wg_failsafe_tunnel_rtt_seconds": "gauge",
    "wg_failsafe_tunnel_loss_ratio": "gauge",
    # The parser names a counter's family without its `_total`.
    "wg_failsafe_outages": "counter",
    "wg_failsafe_outage_seconds": "counter",
    "wg_failsafe_backup_bytes": "counter",
    "wg_failsafe_last_change_timestamp_seconds": "gauge",
    "wg_failsafe_backup_budget_used_ratio": "gauge",
}

prom = open(sys.argv[1]).read()
st = json.load(open(sys.argv[2]))
families = {f.name: f for f in text_string_to_metric_families(prom)}
problems = []

if set(families) != set(TYPES):
    problems.append(f"families {sorted(families)} != {sorted(TYPES)}")
for name, kind in TYPES.items():
    f = families.get(name)
    if f is not None and (f.type != kind or not f.documentation):
        problems.append(f"{name}: type {f.type}, help {f.documentation!r}")


def samples(name):
    return {
        tuple(sorted(s.labels.items())): s.value
        for f in families.values()
        for s in f.samples
        if s.name == name
    }


def check(what, got, want, tolerance=0.0):
    if got is None or want is None:
        if got is not want:
            problems.append(f"{what}: {got} != {want}")
    elif abs(got - want) > tolerance:
        problems.append(f"{what}: {got} != {want}")


def one(name):
    return samples(name).get(())


on = st["mode"] == "failsafe"
check("active", one("wg_failsafe_active"), float(on))
targets = samples("wg_failsafe_target")
for t in ("tunnel", "backup"):
    check(f"target {t}", targets.get((("target", t),)), float(on and st["target"] == t))
check("primary healthy", one("wg_failsafe_primary_healthy"), float(st["primary"]["healthy"]))
rtts = samples("wg_failsafe_primary_rtt_seconds")
losses = samples("wg_failsafe_primary_loss_ratio")
for t in st["primary"]["targets"]:
    key = (("ip", t["ip"]),)
    rtt = rtts.get(key)
    check(f"primary {t['ip']} rtt", None if rtt is None else rtt * 1000, t["rtt_ms"], 50)
    check(f"primary {t['ip']} loss", losses.get(key), t["loss_pct"] / 100)
if len(rtts) > len(st["primary"]["targets"]) or len(losses) != len(st["primary"]["targets"]):
    problems.append(f"primary targets: {rtts} {losses}")
tunnel = st["tunnel"]
check("tunnel up", one("wg_failsafe_tunnel_up"), float(tunnel["up"]))
rtt = one("wg_failsafe_tunnel_rtt_seconds")
check("tunnel rtt", None if rtt is None else rtt * 1000, tunnel["rtt_ms"], 50)
loss = one("wg_failsafe_tunnel_loss_ratio")
check("tunnel loss", loss, None if tunnel["loss_pct"] is None else tunnel["loss_pct"] / 100)
check("outages", one("wg_failsafe_outages_total"), st["activations"])
check("outage seconds", one("wg_failsafe_outage_seconds_total"), st["outage_s_total"], 3 if on else 0)
moved = samples("wg_failsafe_backup_bytes_total")
for direction, key in (("in", "rx"), ("out", "tx")):
    want = st["bytes_total"][key]
    # What the record's readings counted: the same in both runs.
    check(f"bytes {direction}", moved.get((("direction", direction),)), want)
budget = st["budget"]
used = one("wg_failsafe_backup_budget_used_ratio")
want = None if budget is None else budget["used_bytes"] / (budget["mb"] * 1e6)
check("budget used", used, want, 0.02 if on else 0)
check("last change", one("wg_failsafe_last_change_timestamp_seconds"), st["mode_since_unix_s"])

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("ok")
