#!/usr/bin/env python3
"""Time commands: median wall time and peak RSS over R runs after W warm-ups.

Two modes:

  measure.py cmd [-r 5] [-w 1] [--stdin FILE] [--label L] -- CMD [ARGS...]
      time one command (stdout to /dev/null) and print one summary line.

  measure.py bench --uri URI --netns NS --vifd PATH --names FILE ...
      the vifd scale benchmark (driven by bench/scale.sh): times
        vifd  `VIFD list --json --libvirt-uri URI --netns NS`
        (a)   `virsh -c URI list --name`
        (b)   one `virsh -c URI` running `domiflist NAME` for every domain,
              then `ip -n NS -j -d link show` (wall = sum, RSS = max)
      and prints a table with the ratios and PASS/FAIL against the targets.

Each child is started through the small C helper bench/spawn.c (built by
scale.sh, path in --spawn or $VIFD_BENCH_SPAWN), which forks, execs, and
reports wall time (CLOCK_MONOTONIC, fork -> wait4) and ru_maxrss from wait4.
Without it we fall back to os.posix_spawn + os.wait4 here, but then every
child's ru_maxrss is floored at this interpreter's RSS (Linux folds the
pre-exec address space's high-water mark into the child's maxrss), so small
RSS figures are inflated; the report says so.

Runs are interleaved round-robin across candidates (warm-ups first) so slow
drift on the machine hits all candidates alike.

Exit status: 0 when the measurements completed (even if a target FAILs:
this is a report), 2 on harness errors (a command exits non-zero, an output
sanity check fails, a missing binary, ...).
"""
import argparse
import atexit
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1024.0  # ru_maxrss is in KiB on Linux
# One argv string may not exceed MAX_ARG_STRLEN (32 pages = 128 KiB) on Linux.
MAX_ARG_STRLEN = 32 * 4096

TARGET_RATIO_A = 1.25
TARGET_RATIO_B = 0.60
TARGET_RSS_DELTA_MIB = 30.0


class HarnessError(Exception):
    pass


# --------------------------------------------------------------------------
# running one command

class Runner:
    def __init__(self, spawn_helper=None):
        self.helper = spawn_helper
        self.tmpdir = tempfile.mkdtemp(prefix="vifd-measure-")
        atexit.register(shutil.rmtree, self.tmpdir, True)
        self.errfile = os.path.join(self.tmpdir, "stderr")

    def run(self, argv, stdin=None, stdout=None):
        """Run argv once. Returns (wall_seconds, maxrss_kib)."""
        out = stdout or "/dev/null"
        if self.helper:
            cmd = [self.helper, "-o", out, "-e", self.errfile]
            if stdin:
                cmd += ["-i", stdin]
            cmd += ["--"] + list(argv)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                raise HarnessError("spawn helper failed (%d): %s" % (p.returncode, p.stderr.strip()))
            try:
                ns, rss, status = (int(x) for x in p.stdout.split())
            except ValueError:
                raise HarnessError("spawn helper printed %r" % p.stdout)
            wall = ns / 1e9
            helper_err = p.stderr
        else:
            helper_err = ""
            fa = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                  (os.POSIX_SPAWN_OPEN, 2, self.errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
            if stdin:
                fa.insert(0, (os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0))
            t0 = time.perf_counter_ns()
            try:
                pid = os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=fa)
            except OSError as e:
                raise HarnessError("cannot run %s: %s" % (argv[0], e))
            _, status, ru = os.wait4(pid, 0)
            wall = (time.perf_counter_ns() - t0) / 1e9
            rss = ru.ru_maxrss
        if os.WIFSIGNALED(status) or os.waitstatus_to_exitcode(status) != 0:
            try:
                with open(self.errfile, errors="replace") as f:
                    err = f.read()[-2000:]
            except OSError:
                err = ""
            raise HarnessError("command failed (%s): %s%s\n--- stderr (tail) ---\n%s" % (
                describe_status(status), short_cmd(argv), " < " + stdin if stdin else "",
                (helper_err + err).rstrip()))
        return wall, rss


def describe_status(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    return "exit %d" % os.waitstatus_to_exitcode(status)


def short_cmd(argv, limit=300):
    s = " ".join(shlex.quote(a) for a in argv)
    return s if len(s) <= limit else s[:limit] + "... (%d chars)" % len(s)


# --------------------------------------------------------------------------
# candidates: a name plus a list of steps run back to back per sample

class Candidate:
    def __init__(self, key, label, steps):
        self.key = key
        self.label = label
        self.steps = steps  # list of dict(argv=[...], stdin=path|None)
        self.walls = []     # seconds per sample (sum over steps)
        self.rss = []       # KiB per sample (max over steps)
        self.step_walls = [[] for _ in steps]

    def sample(self, runner, record=True):
        total, peak, parts = 0.0, 0, []
        for st in self.steps:
            w, r = runner.run(st["argv"], st.get("stdin"))
            total += w
            peak = max(peak, r)
            parts.append(w)
        if record:
            self.walls.append(total)
            self.rss.append(peak)
            for i, w in enumerate(parts):
                self.step_walls[i].append(w)

    def summary(self):
        return {
            "label": self.label,
            "commands": [short_cmd(s["argv"]) + (" < " + s["stdin"] if s.get("stdin") else "")
                         for s in self.steps],
            "runs": len(self.walls),
            "wall_ms_median": statistics.median(self.walls) * 1e3,
            "wall_ms_min": min(self.walls) * 1e3,
            "wall_ms_max": max(self.walls) * 1e3,
            "step_wall_ms_median": [statistics.median(x) * 1e3 for x in self.step_walls],
            "rss_mib_median": statistics.median(self.rss) / MIB,
            "rss_mib_max": max(self.rss) / MIB,
            "wall_ms_all": [round(w * 1e3, 3) for w in self.walls],
            "rss_kib_all": list(self.rss),
        }


def measure(cands, runner, runs, warmup, progress=True):
    for i in range(warmup):
        for c in cands:
            if progress:
                log("warm-up %d/%d: %s" % (i + 1, warmup, c.key))
            c.sample(runner, record=False)
    for i in range(runs):
        if progress:
            log("run %d/%d" % (i + 1, runs))
        for c in cands:
            c.sample(runner)


def log(msg):
    print("measure: " + msg, file=sys.stderr, flush=True)


def find_spawn(arg):
    path = arg or os.environ.get("VIFD_BENCH_SPAWN")
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise HarnessError("spawn helper %s is not an executable file" % path)
        return path
    log("WARNING: no spawn helper (build bench/spawn.c, pass --spawn); peak RSS "
        "figures are floored at this Python process's RSS (~%.0f MiB)" % self_rss_mib())
    return None


def self_rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB


# --------------------------------------------------------------------------
# `cmd` mode

def cmd_main(args):
    runner = Runner(find_spawn(args.spawn))
    if not args.command:
        raise HarnessError("no command given")
    argv = args.command[1:] if args.command[0] == "--" else args.command
    c = Candidate("cmd", args.label or short_cmd(argv, 60), [{"argv": argv, "stdin": args.stdin}])
    measure([c], runner, args.runs, args.warmup, progress=False)
    s = c.summary()
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        print("%s: median %.1f ms (min %.1f, max %.1f, n=%d); peak RSS median %.1f MiB, max %.1f MiB" % (
            s["label"], s["wall_ms_median"], s["wall_ms_min"], s["wall_ms_max"], s["runs"],
            s["rss_mib_median"], s["rss_mib_max"]))
    return 0


# --------------------------------------------------------------------------
# `bench` mode

def machine_info(uri):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/loadavg") as f:
            info["loadavg"] = " ".join(f.read().split()[:3])
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem"] = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["virsh", "-c", uri, "version"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "library" in line:
                info["libvirt"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        info["iproute2"] = subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def sanity_checks(args, names, runner_tmp):
    """Run each baseline once with output captured and check it covers the
    whole inventory, so we never time a broken setup."""
    uri = args.uri
    problems = []

    p = subprocess.run(["virsh", "-c", uri, "list", "--name"], capture_output=True, text=True)
    listed = [l for l in p.stdout.splitlines() if l.strip()]
    if p.returncode != 0 or len(listed) != len(names):
        problems.append("(a) `virsh list --name` listed %d domains, expected %d (rc %d): %s" % (
            len(listed), len(names), p.returncode, p.stderr.strip()))

    if args.expect_ifaces is not None:
        p = subprocess.run(["ip", "-n", args.netns, "-j", "-d", "link", "show"],
                           capture_output=True, text=True)
        try:
            links = json.loads(p.stdout)
        except ValueError:
            links = []
        taps = [l for l in links if l.get("linkinfo", {}).get("info_kind") == "tun"]
        if len(taps) != args.expect_ifaces:
            problems.append("netns %s has %d tun links, expected %d" % (
                args.netns, len(taps), args.expect_ifaces))
    return problems


def check_domiflist_output(path, expect):
    if expect is None:
        return None
    rows = 0
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[1] == "bridge" and parts[0].startswith("tap"):
                rows += 1
    if rows != expect:
        return "(b) virsh domiflist printed %d interface rows, expected %d" % (rows, expect)
    return None


def vifd_output_note(path, tap_names):
    """Schema-agnostic look at vifd's JSON: is it JSON, how many of our taps
    does it mention.  Informational only."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return "no output captured"
    if not text.strip():
        return "vifd printed nothing (stand-in?)"
    try:
        json.loads(text)
        ok = "valid JSON"
    except ValueError as e:
        ok = "NOT valid JSON (%s)" % e
    seen = sum(1 for t in tap_names if t in text)
    return "%s, %d bytes, mentions %d/%d bench taps" % (ok, len(text), seen, len(tap_names))


def bench_main(args):
    runner = Runner(find_spawn(args.spawn))
    if not (os.path.isfile(args.vifd) and os.access(args.vifd, os.X_OK)):
        raise HarnessError("vifd binary %s not found or not executable "
                           "(build it: cargo build --release, or set VIFD=/path/to/vifd)" % args.vifd)
    with open(args.names) as f:
        names = [l.strip() for l in f if l.strip()]
    if not names:
        raise HarnessError("no domain names in %s" % args.names)
    tap_names = []
    if args.taps:
        with open(args.taps) as f:
            tap_names = [l.strip() for l in f if l.strip()]

    # (b): how to feed one virsh all the domiflist commands
    script = os.path.join(runner.tmpdir, "domiflist.virsh")
    with open(script, "w") as f:
        f.writelines("domiflist %s\n" % n for n in names)
    semi = "".join("domiflist %s;" % n for n in names)
    b_mode = args.b_mode
    if b_mode == "auto":
        # `;`-separated is measurably faster than reading commands from stdin
        # (no interactive-shell prompt per command) but must fit in one argv
        # string; fall back to stdin beyond that (~5900 domains).
        b_mode = "semicolon" if len(semi) < MAX_ARG_STRLEN else "stdin"
    elif b_mode == "semicolon" and len(semi) >= MAX_ARG_STRLEN:
        raise HarnessError("%d domains do not fit in one virsh argument (%d >= %d bytes); use --b-mode stdin"
                           % (len(names), len(semi), MAX_ARG_STRLEN))
    if b_mode == "semicolon":
        virsh_b = {"argv": ["virsh", "-c", args.uri, semi],
                   "label": "virsh -c URI 'domiflist NAME;' x%d" % len(names)}
    else:
        virsh_b = {"argv": ["virsh", "-c", args.uri], "stdin": script,
                   "label": "virsh -c URI < 'domiflist NAME' x%d" % len(names)}

    vifd_argv = [args.vifd, "list", "--json", "--libvirt-uri", args.uri, "--netns", args.netns]
    cands = [
        Candidate("vifd", "vifd list --json", [{"argv": vifd_argv}]),
        Candidate("a", "(a) virsh list --name", [{"argv": ["virsh", "-c", args.uri, "list", "--name"]}]),
        Candidate("b", "(b) virsh domiflist x%d (%s) + ip -j -d link" % (len(names), b_mode),
                  [virsh_b, {"argv": ["ip", "-n", args.netns, "-j", "-d", "link", "show"],
                            "label": "ip -n %s -j -d link show" % args.netns}]),
    ]
    if args.floor:
        if not (os.path.isfile(args.floor) and os.access(args.floor, os.X_OK)):
            raise HarnessError("--floor %s is not an executable file" % args.floor)
        cands.append(Candidate("floor", "[info] libvirt C client: open+list+XMLDesc",
                               [{"argv": [args.floor, args.uri]}]))

    info = machine_info(args.uri)
    try:
        if float(info.get("loadavg", "0").split()[0]) > 0.5:
            log("WARNING: load average is %s before starting; timings will be noisy" % info["loadavg"])
    except ValueError:
        pass

    # correctness first: never time a broken setup
    problems = sanity_checks(args, names, runner.tmpdir)
    bout = os.path.join(runner.tmpdir, "b.out")
    runner.run(virsh_b["argv"], virsh_b.get("stdin"), stdout=bout)
    pb = check_domiflist_output(bout, args.expect_ifaces)
    if pb:
        problems.append(pb)
    if problems:
        raise HarnessError("setup sanity check failed:\n  " + "\n  ".join(problems))
    vout = os.path.join(runner.tmpdir, "vifd.json")
    runner.run(vifd_argv, stdout=vout)
    vnote = vifd_output_note(vout, tap_names)
    log("vifd output: " + vnote)

    measure(cands, runner, args.runs, args.warmup)
    res = {c.key: c.summary() for c in cands}
    v, a, b = res["vifd"], res["a"], res["b"]
    ratio_a = v["wall_ms_median"] / a["wall_ms_median"]
    ratio_b = v["wall_ms_median"] / b["wall_ms_median"]
    rss_delta = v["rss_mib_max"] - a["rss_mib_max"]
    checks = [
        ("vifd / (a) wall", "%.2fx" % ratio_a, "<= %.2fx" % args.max_ratio_a, ratio_a <= args.max_ratio_a),
        ("vifd / (b) wall", "%.2fx" % ratio_b, "<= %.2fx" % args.max_ratio_b, ratio_b <= args.max_ratio_b),
        ("vifd RSS - (a) RSS", "%+.1f MiB" % rss_delta, "<= +%.0f MiB" % args.max_rss_delta,
         rss_delta <= args.max_rss_delta),
    ]

    # ------------------------------------------------------------ report
    p = print
    p()
    p("vifd scale benchmark: %s" % args.title)
    p("machine: nproc=%s, kernel %s, %s, %s" % (
        info.get("nproc"), info.get("kernel"), info.get("libvirt", "libvirt ?"), info.get("iproute2", "")))
    p("         cpu: %s; mem: %s; loadavg at start: %s" % (
        info.get("cpu", "?"), info.get("mem", "?"), info.get("loadavg", "?")))
    p("method:  median of %d runs after %d warm-up (round-robin), wall = fork..wait4, "
      "RSS = ru_maxrss%s" % (args.runs, args.warmup,
                             "" if runner.helper else " (NO spawn helper: floored at python's RSS)"))
    p("vifd:    %s" % args.vifd)
    p("output:  %s" % vnote)
    p()
    hdr = "%-52s %10s %10s %10s %10s %10s" % ("candidate", "median ms", "min ms", "max ms",
                                              "RSS med", "RSS max")
    p(hdr)
    p("-" * len(hdr))
    for c in cands:
        s = res[c.key]
        p("%-52s %10.1f %10.1f %10.1f %8.1f Mi %8.1f Mi" % (
            s["label"], s["wall_ms_median"], s["wall_ms_min"], s["wall_ms_max"],
            s["rss_mib_median"], s["rss_mib_max"]))
        if len(s["step_wall_ms_median"]) > 1:
            for st, ms in zip(c.steps, s["step_wall_ms_median"]):
                p("    %-48s %10.1f" % (st.get("label") or short_cmd(st["argv"], 48), ms))
    p()
    p("%-22s %12s %12s  %s" % ("check", "measured", "target", "result"))
    for name, val, tgt, ok in checks:
        p("%-22s %12s %12s  %s" % (name, val, tgt, "PASS" if ok else "FAIL"))
    p()
    overall = all(ok for *_, ok in checks)
    p("overall: %s" % ("PASS" if overall else "FAIL"))
    if "floor" in res:
        f = res["floor"]
        p("floor:   a bare libvirt C client (bench/libvirt_floor.c) takes %.2fx (a), %.2fx (b), RSS %+.1f MiB vs (a)"
          % (f["wall_ms_median"] / a["wall_ms_median"], f["wall_ms_median"] / b["wall_ms_median"],
             f["rss_mib_max"] - a["rss_mib_max"]))
        if f["wall_ms_median"] / b["wall_ms_median"] > args.max_ratio_b:
            p("         -> the (b) target is below what opening this URI through libvirt costs")
    if args.repro:
        p("reproduce: %s" % args.repro)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"title": args.title, "machine": info, "runs": args.runs, "warmup": args.warmup,
                       "spawn_helper": bool(runner.helper), "b_mode": b_mode,
                       "vifd_output": vnote, "results": res,
                       "checks": [{"check": n, "value": v_, "target": t, "pass": ok}
                                  for n, v_, t, ok in checks],
                       "pass": overall, "reproduce": args.repro}, f, indent=1)
            f.write("\n")
        p("json:      %s" % args.json)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)

    c = sub.add_parser("cmd", help="time one command")
    c.add_argument("-r", "--runs", type=int, default=5)
    c.add_argument("-w", "--warmup", type=int, default=1)
    c.add_argument("--stdin", help="file to feed on stdin")
    c.add_argument("--label")
    c.add_argument("--spawn", help="path to the compiled bench/spawn.c helper")
    c.add_argument("--json", action="store_true", help="print JSON instead of a line")
    c.add_argument("command", nargs=argparse.REMAINDER)

    b = sub.add_parser("bench", help="the vifd scale benchmark")
    b.add_argument("--uri", required=True, help="libvirt URI, e.g. test:///abs/node.xml")
    b.add_argument("--netns", required=True)
    b.add_argument("--vifd", required=True, help="vifd binary")
    b.add_argument("--names", required=True, help="file: one domain name per line")
    b.add_argument("--taps", help="file: one tap name per line (to check vifd's output)")
    b.add_argument("--expect-ifaces", type=int, help="N*K, for the sanity checks")
    b.add_argument("-r", "--runs", type=int, default=5)
    b.add_argument("-w", "--warmup", type=int, default=1)
    b.add_argument("--b-mode", choices=["auto", "stdin", "semicolon"], default="auto",
                   help="how (b) feeds domiflist commands to virsh [auto: semicolon if it fits]")
    b.add_argument("--spawn", help="path to the compiled bench/spawn.c helper")
    b.add_argument("--floor", help="path to the compiled bench/libvirt_floor.c (informational row)")
    b.add_argument("--max-ratio-a", type=float, default=TARGET_RATIO_A)
    b.add_argument("--max-ratio-b", type=float, default=TARGET_RATIO_B)
    b.add_argument("--max-rss-delta", type=float, default=TARGET_RSS_DELTA_MIB, help="MiB")
    b.add_argument("--title", default="")
    b.add_argument("--repro", help="command line to print as the way to reproduce")
    b.add_argument("--json", help="also write results as JSON to this file")

    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        ap.error("need --runs >= 1 and --warmup >= 0")
    try:
        return cmd_main(args) if args.mode == "cmd" else bench_main(args)
    except HarnessError as e:
        print("measure: ERROR: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
