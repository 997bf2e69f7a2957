#!/usr/bin/env python3
"""The measuring half of bench/change_cost.sh: the daemon CPU one single-tap change costs
`vifd serve`, from utime + stime in /proc/PID/stat.

  change_cost_bench.py measure --port P --pid PID --netns NS --data DIR --n N --k K --out F.json
      one daemon on one fixture (python3 stdlib; the SSE client, tap holder and change loop
      are bench/watch_bench.py's):
        1. opens GET /v1/watch, takes the snapshot (it must hold N x K records);
        2. picks HELD fixture taps of running domains, spread over the fixture, brings them
           up and holds them open (as a guest's QEMU would) so they have carrier: an admin
           down/up then changes their operstate (unknown <-> down), one `changed` event each;
        3. WARMUP changes, not measured; then CHANGES changes one at a time, round robin over
           the held taps, `ip -n NS link set TAP down|up`, each waited on by its `changed`
           event (TIMEOUT s, else a harness error). The daemon's utime + stime is read right
           before the first `ip` and right after the last event;
        4. idle: the daemon's utime + stime over a window of the same wall time with nothing
           changing (the stream stays open), so that the per-change figure can exclude it;
        5. puts the taps back (up, released).
  change_cost_bench.py report --large A1.json [A2.json ...] --small B1.json [...] --out F.json
      prints both sizes (every round, and the medians when there are several), the ratio
      large / small and PASS/FAIL against the targets.

CPU per change: raw = (ticks over the changes) / HZ / CHANGES; idle-corrected = (ticks over
the changes - ticks over the idle window x loop wall / idle wall) / HZ / CHANGES. One tick
is 1/SC_CLK_TCK s (10 ms at 100 Hz): at 200 changes, 0.05 ms per change. As [info], the
same from the threads' sum_exec_runtime (/proc/PID/task/*/schedstat, ns), per thread name.
Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors (missing
events, the daemon died, the snapshot is not the fixture).
"""
import argparse
import json
import os
import sys
import tempfile
import time

from watch_bench import (HarnessError, Sse, Watch, cpu_ticks, hold_taps, idle, link_flip,
                         loadavg, machine, one_change, release_taps, run, running_taps, summary)

# targets of the issue
T_MS_PER_CHANGE = 1.0   # at 1000 x 4, idle-corrected
T_RATIO = 2.0           # 1000 x 4 over 10 x 4


def log(msg):
    print("change_cost_bench: %s" % msg, file=sys.stderr, flush=True)


def schedstat(pid):
    """{tid: (comm, ns on CPU)} of the daemon's live threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
            ns = int(open("/proc/%d/task/%s/schedstat" % (pid, tid)).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[tid] = (comm, ns)
    return out


def schedstat_delta(s0, s1):
    """ms on CPU between two schedstat() reads, in total and by thread name; threads that
    came or went in between are named (an exited thread's time is lost)."""
    by = {}
    for tid, (comm, ns) in s1.items():
        d = ns - s0.get(tid, (comm, 0))[1]
        if d:
            by[comm] = by.get(comm, 0.0) + d / 1e6
    return {"ms": sum(by.values()), "by_thread_ms": by,
            "threads_gone": sorted(s0[t][0] for t in set(s0) - set(s1)),
            "threads_new": sorted(s1[t][0] for t in set(s1) - set(s0))}


def measure(a):
    hz = os.sysconf("SC_CLK_TCK")
    sse = Sse(a.port, name="sse")
    w = Watch(sse)
    ev = w.until(lambda ev: True, 30)
    if ev is None or ev[1] != "snapshot":
        raise HarnessError("the first event is not a snapshot: %r" % (ev and ev[1]))
    if len(w.records) != a.n * a.k:
        raise HarnessError("the snapshot holds %d records, the fixture %d x %d"
                           % (len(w.records), a.n, a.k))
    log("%s: snapshot of %d records, generation %s" % (a.label, len(w.records), ev[2]))
    w.drain(0.5)

    taps = running_taps(w, os.path.join(a.data, "taps.txt"), a.held)
    # up (a killed run may have left them down), then held open: they get carrier
    with tempfile.NamedTemporaryFile("w", suffix=".ip") as f:
        f.write("".join("link set %s up\n" % t for t in taps))
        f.flush()
        run(["ip", "-n", a.netns, "-b", f.name], "ip -b (fixture taps up)")
    w.drain(0.5)
    holder = hold_taps(a.netns, w, taps)
    try:
        up = {t: True for t in taps}
        samples = []
        total = a.warmup + a.changes
        cpu0 = t0 = sched0 = events0 = None
        for i in range(total):
            if i == a.warmup:
                w.drain(0.5)
                events0 = sum(w.counts.values())
                sched0 = schedstat(a.pid)
                cpu0, t0 = cpu_ticks(a.pid), time.monotonic()
            dev = taps[i % len(taps)]
            updown = "down" if up[dev] else "up"
            argv, pred = link_flip(w, a.netns, dev, updown)
            s = one_change(w, argv, dev, pred, a.timeout)
            if "timeout" in s:
                raise HarnessError("%s: no event for ip link set %s %s within %g s (change %d)"
                                   % (a.label, dev, updown, a.timeout, i + 1))
            up[dev] = not up[dev]
            if i >= a.warmup:
                samples.append(s)
        cpu1, t1 = cpu_ticks(a.pid), time.monotonic()
        sched1 = schedstat(a.pid)
        events = sum(w.counts.values()) - events0
        loop_s = t1 - t0

        idle_res, idle_info = idle(loop_s, [w], [a.pid])
        idle_d = idle_res[a.pid]
    finally:
        # back as found: the taps up and released
        with tempfile.NamedTemporaryFile("w", suffix=".ip") as f:
            f.write("".join("link set %s up\n" % t for t in taps))
            f.flush()
            run(["ip", "-n", a.netns, "-b", f.name], "ip -b (fixture taps up)", check=False)
        still = release_taps(w, holder, taps)
    if still:
        log("%s: still shown with carrier after release: %s" % (a.label, still[:5]))
    sse.close()

    ticks = cpu1 - cpu0
    idle_ticks = idle_d["cpu_ticks"] * loop_s / idle_d["seconds"]   # scaled to the loop's wall
    res = {
        "label": a.label, "n": a.n, "k": a.k, "records": a.n * a.k, "netns": a.netns,
        "changes": a.changes, "warmup": a.warmup, "held_taps": taps, "hz": hz,
        "wall_s": loop_s, "cpu_ticks": ticks, "cpu_ms": ticks * 1e3 / hz,
        "ms_per_change_raw": ticks * 1e3 / hz / a.changes,
        "idle": {"seconds": idle_d["seconds"], "cpu_ticks": idle_d["cpu_ticks"],
                 "wakeups": idle_d["wakeups"], "events_during": idle_info["events_during"][0],
                 "machine_busy_pct": idle_info["machine_busy_pct"]},
        "idle_ms_same_wall": idle_ticks * 1e3 / hz,
        "ms_per_change_corrected": (ticks - idle_ticks) * 1e3 / hz / a.changes,
        "resolution_ms_per_change": 1e3 / hz / a.changes,
        "events_in_loop": events,
        "latency_from_done_ms": summary([s["from_done_ms"] for s in samples]),
        "latency_from_start_ms": summary([s["from_start_ms"] for s in samples]),
        "ip_ms": summary([s["ip_ms"] for s in samples]),
        "schedstat": schedstat_delta(sched0, sched1),
        "resyncs": w.resyncs,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    log("%s: %.1f ms of daemon CPU over %d changes in %.2f s" % (a.label, res["cpu_ms"], a.changes, loop_s))


def median(xs):
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2.0


def report(a):
    L = [json.load(open(f)) for f in a.large]
    S = [json.load(open(f)) for f in a.small]
    rounds = len(L)
    p = print
    m = machine(a.loadavg0 or loadavg())
    first = L[0]
    p()
    p("vifd per-change cost: %d single-tap changes per size, one at a time (ip -n NS link set TAP"
      % first["changes"])
    p("  down|up on %d held fixture taps, each waited on by its /v1/watch event), after %d warm-up;"
      % (len(first["held_taps"]), first["warmup"]))
    p("  %d round%s" % (rounds, "s (the checks use the medians)" if rounds > 1 else ""))
    p("binary: %s" % a.vifd)
    p("machine: nproc=%s, kernel %s, %s; loadavg at start %s, at end %s"
      % (m["nproc"], m["kernel"], m["cpu"], m["loadavg_at_start"], m["loadavg_at_end"]))
    p()
    row = "%-12s %7s %7s %7s %8s %6s %10s %8s %11s %7s %7s"
    p(row % ("size", "records", "changes", "wall s", "CPU ms", "ticks", "ms/chg raw", "idle ms",
             "ms/chg corr", "p50 ms", "p99 ms"))
    med = {}
    for rs in (L, S):
        size = "%dx%d" % (rs[0]["n"], rs[0]["k"])
        for i, r in enumerate(rs):
            lat = r["latency_from_done_ms"]
            p(row % (size + (" #%d" % (i + 1) if rounds > 1 else ""), r["records"], r["changes"],
                     "%.2f" % r["wall_s"], "%.0f" % r["cpu_ms"], r["cpu_ticks"],
                     "%.3f" % r["ms_per_change_raw"], "%.0f" % r["idle_ms_same_wall"],
                     "%.3f" % r["ms_per_change_corrected"], "%.2f" % lat["p50"], "%.2f" % lat["p99"]))
        med[size] = {k: median([r[k] for r in rs]) for k in ("ms_per_change_raw", "ms_per_change_corrected")}
        if rounds > 1:
            p(row % (size + " median", "", "", "", "", "", "%.3f" % med[size]["ms_per_change_raw"], "",
                     "%.3f" % med[size]["ms_per_change_corrected"], "", ""))
    p("  CPU = the daemon's utime+stime (/proc/PID/stat) from before the first change to after the")
    p("  last event; idle ms = its CPU over a window of the same wall time with no change (%d ticks"
      % sum(r["idle"]["cpu_ticks"] for r in L + S))
    p("  in all idle windows); 1 tick = %.0f ms = %.3f ms per change; latency = ip returning -> event"
      % (1e3 / first["hz"], first["resolution_ms_per_change"]))
    for r in L + S:
        sc = r["schedstat"]
        by = ", ".join("%s %.0f" % kv for kv in sorted(sc["by_thread_ms"].items(), key=lambda kv: -kv[1]))
        p("  [info] %s schedstat (ns clock): %.1f ms, %.3f ms per change; by thread (ms): %s%s"
          % (r["label"], sc["ms"], sc["ms"] / r["changes"], by,
             "; threads gone meanwhile (time lost): %s" % sc["threads_gone"] if sc["threads_gone"] else ""))
        notes = []
        if r["events_in_loop"] != r["changes"]:
            notes.append("%d events in the loop for %d changes" % (r["events_in_loop"], r["changes"]))
        if r["idle"]["events_during"]:
            notes.append("%d events during the idle window" % r["idle"]["events_during"])
        if r["resyncs"]:
            notes.append("resyncs %s" % json.dumps(r["resyncs"]))
        if notes:
            p("  NOTE %s: %s" % (r["label"], "; ".join(notes)))
    p()
    ls, ss = "%dx%d" % (first["n"], first["k"]), "%dx%d" % (S[0]["n"], S[0]["k"])
    lc, sc_ = med[ls]["ms_per_change_corrected"], med[ss]["ms_per_change_corrected"]
    lr, sr = med[ls]["ms_per_change_raw"], med[ss]["ms_per_change_raw"]
    ratio = lc / sc_ if sc_ > 0 else None
    ratio_raw = lr / sr if sr > 0 else None
    p("ratio %s / %s: %s idle-corrected, %s raw"
      % (ls, ss, "%.2f" % ratio if ratio is not None else "undefined (the small figure is <= 0)",
         "%.2f" % ratio_raw if ratio_raw is not None else "undefined"))
    checks = [
        ("CPU per change at %s (idle-corrected)" % ls, "%.3f ms" % lc,
         "<= %g ms" % T_MS_PER_CHANGE, lc <= T_MS_PER_CHANGE),
        ("ratio %s / %s (idle-corrected)" % (ls, ss), "%.2f" % ratio if ratio is not None else "undefined",
         "<= %g" % T_RATIO, ratio is not None and ratio <= T_RATIO),
    ]
    for name, val, tgt, ok in checks:
        p("%-44s %-10s target %-10s %s" % (name, val, tgt, "PASS" if ok else "FAIL"))
    overall = all(c[3] for c in checks)
    p("overall: %s" % ("PASS" if overall else "FAIL"))
    p("reproduce: %s" % a.repro)
    with open(a.out, "w") as f:
        json.dump({"large": L, "small": S, "medians": med, "ratio_corrected": ratio, "ratio_raw": ratio_raw,
                   "checks": [{"check": n, "value": v, "target": t, "pass": ok}
                              for n, v, t, ok in checks],
                   "pass": overall, "machine": m, "vifd": a.vifd, "reproduce": a.repro}, f, indent=1)
        f.write("\n")
    p("json: %s" % a.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--pid", type=int, required=True)
    m.add_argument("--netns", required=True)
    m.add_argument("--data", required=True, help="fixture directory (taps.txt)")
    m.add_argument("--n", type=int, required=True)
    m.add_argument("--k", type=int, required=True)
    m.add_argument("--label", default="")
    m.add_argument("--changes", type=int, default=200)
    m.add_argument("--warmup", type=int, default=10)
    m.add_argument("--held", type=int, default=8, help="fixture taps held open and changed")
    m.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one event")
    m.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--large", nargs="+", required=True, help="measure outputs, one a round")
    r.add_argument("--small", nargs="+", required=True)
    r.add_argument("--vifd", default="")
    r.add_argument("--loadavg0", default="")
    r.add_argument("--repro", default="")
    r.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "measure":
        measure(a)
    else:
        report(a)


if __name__ == "__main__":
    try:
        main()
    except HarnessError as e:
        print("change_cost_bench: ERROR: %s" % e, file=sys.stderr)
        sys.exit(2)
