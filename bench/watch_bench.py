#!/usr/bin/env python3
"""The measuring half of bench/watch.sh: how fast `vifd serve` turns a host change into an
event on `GET /v1/watch`, what it costs while nothing changes, and how it absorbs a burst.

watch.sh builds the fixture and starts the daemon(s); this script (python3 stdlib only):

  1. opens `GET /v1/watch` on a raw socket (HTTP/1.1 chunked decoding and SSE framing
     written out here); a thread timestamps every event with time.monotonic() when the
     bytes that complete it arrive, before any parsing, and queues (t, kind, id, data);
  2. link latency: CHANGES changes in the namespace, one at a time, alternating
       (a) `ip -n NS tuntap add dev tapwbNNNN mode tap`   -> `problem` raised orphan-device
       (b) `ip -n NS link set TAP down` / `up` on a fixture tap a domain claims
                                                           -> `changed`, operstate changed
     The fixture's persistent taps have no carrier (nobody holds them), so their operstate
     is `down` whether they are up or not and an admin down/up changes nothing a record
     shows. As on a real host, where the guest's QEMU holds its tap, a helper process
     (`ip netns exec NS python3 -c HOLDER`) attaches to the chosen taps first, giving them
     carrier: operstate then goes unknown -> down -> unknown. Latency is taken from `ip`
     returning (primary) and from before it was spawned (informative);
  3. real libvirtd (when --qemu-port is given): D paused q35 domains from
     tests/fixtures/qemu/domain.xml, then ATTACHES x `virsh attach-interface DOM bridge BR
     --mac MAC --model virtio --live`, latency from virsh returning to the `added` event;
  4. idle: the daemons' utime+stime over IDLE_S seconds with nothing changing, as % of one
     core, and their threads' context switches (wake-ups);
  5. burst: one `ip -n NS -b FILE` creating BURST taps, absorbed when the last one's
     `problem` event arrived (confirmed once with GET /v1/problems), then deleting them;
     the daemon's VmHWM against (a) + 60 MiB; GET /v1/interfaces against a fresh
     `vifd list --json`.

Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors.
"""
import argparse
import json
import os
import platform
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from benchio import dechunk, sse_frames

MIB = 1024.0

# targets of issue 4
T_P50_MS = 10.0
T_P99_MS = 100.0
T_IDLE_PCT = 0.5
T_BURST_S = 2.0
T_RSS_MIB = 60.0

# names the harness creates (watch.sh cleans up the same ones)
VWB_BRIDGE = "vwbbr0"
VWB_LOWER = "vwblo0"
VWB_NET = "vwbnet0"
VWB_NETBRIDGE = "vwbnbr0"
VWB_DOMAIN = "vwb-dom-%02d"
VWB_ETH = "vwbeth%02d"
QEMU_URI = "qemu:///system"
BURST_GROUP = 4242

# Attaches to persistent taps (in the namespace it runs in) so they get carrier, like a
# guest's QEMU; prints "ready", holds them until stdin closes.
HOLDER = r"""
import fcntl, os, struct, sys
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454ca, 0x0002, 0x1000
fds = []
for name in sys.argv[1:]:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    fds.append(fd)
print("ready", flush=True)
sys.stdin.read()
"""


class HarnessError(Exception):
    pass


def log(msg):
    print("watch_bench: %s" % msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# SSE client


class Sse:
    """`GET path` on a raw socket; a thread decodes chunked SSE and queues
    (t_arrival, kind, id, data) per event, data parsed as JSON; (t, None, None, reason)
    when the stream ends."""

    def __init__(self, port, path="/v1/watch", name="sse"):
        self.name = name
        self.q = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                           "\r\n" % path).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(65536)
            if not b:
                raise HarnessError("%s: connection closed before the response head" % name)
            head += b
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 200 " not in lines[0] + " ":
            raise HarnessError("%s: GET %s answered %s" % (name, path, lines[0]))
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if not hdrs.get("content-type", "").startswith("text/event-stream"):
            raise HarnessError("%s: content-type %r" % (name, hdrs.get("content-type")))
        self.chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        self.sock.settimeout(None)
        self.raw = bytearray(rest)
        self.body = bytearray()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _dechunk(self):
        return dechunk(self.raw, self.body, self.chunked)

    def _frames(self, t):
        for kind, ev_id, data in sse_frames(self.body):
            try:
                payload = json.loads("\n".join(data)) if data else None
            except ValueError:
                payload = {"unparsed": "\n".join(data)}
            self.q.put((t, kind, ev_id, payload))

    def _run(self):
        reason = "eof"
        try:
            more = self._dechunk()
            self._frames(time.monotonic())
            while more:
                b = self.sock.recv(1 << 20)
                t = time.monotonic()
                if not b:
                    break
                self.raw += b
                more = self._dechunk()
                self._frames(t)
            else:
                reason = "last chunk"
        except OSError as e:
            reason = str(e)
        self.closed = True
        self.q.put((time.monotonic(), None, None, reason))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Watch:
    """The events of one Sse, as a consumer: keeps the served records and orphan
    problems current from every event it takes, and counts what it saw."""

    def __init__(self, sse):
        self.sse = sse
        self.records = {}       # record id -> record
        self.by_device = {}     # device -> record id
        self.orphans = set()    # devices with a raised orphan-device problem
        self.counts = {}
        self.last_gen = None
        self.resyncs = []
        self.section = "start"

    def _apply(self, kind, data):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "snapshot":
            self.records = {r["id"]: r for r in data["interfaces"]}
            self.by_device = {r["device"]: r["id"] for r in data["interfaces"] if r.get("device")}
            self.orphans = {p["device"] for p in data["problems"] if p["kind"] == "orphan-device"}
        elif kind in ("added", "changed"):
            r = data["interface"]
            if data.get("previous_id"):
                self.records.pop(data["previous_id"], None)
            self.records[r["id"]] = r
            if r.get("device"):
                self.by_device[r["device"]] = r["id"]
        elif kind == "removed":
            self.records.pop(data.get("id") or data["interface"]["id"], None)
        elif kind == "problem":
            p = data["problem"]
            if p["kind"] == "orphan-device":
                (self.orphans.add if data["status"] == "raised" else self.orphans.discard)(p["device"])
        elif kind == "resync":
            self.resyncs.append({"section": self.section, "reason": data.get("reason"),
                                 "generation": data.get("generation")})

    def next(self, timeout):
        """The next event (t, kind, id, data), applied; None on timeout."""
        try:
            ev = self.sse.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        t, kind, ev_id, data = ev
        if kind is None:
            raise HarnessError("%s: the event stream ended (%s); a watcher that falls %s"
                               % (self.sse.name, data, "behind the log is dropped"))
        self._apply(kind, data)
        if ev_id is not None:
            self.last_gen = ev_id
        return ev

    def until(self, pred, timeout):
        """Takes events until pred(ev) holds: that event, or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(deadline - time.monotonic())
            if ev is None:
                return None
            if pred(ev):
                return ev

    def drain(self, quiet, limit=30.0):
        """Takes events until none came for `quiet` s (at most `limit` s); their number."""
        n, deadline = 0, time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.next(min(quiet, deadline - time.monotonic())) is None:
                return n
            n += 1
        return n

    def record_of(self, device):
        rid = self.by_device.get(device)
        return self.records.get(rid) if rid else None


# --------------------------------------------------------------------------
# helpers


def run(argv, what=None, check=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and p.returncode != 0:
        raise HarnessError("%s failed (exit %d): %s" % (what or " ".join(argv), p.returncode,
                                                       p.stderr.decode(errors="replace").strip()[:500]))
    return p


def http_get(port, path, timeout=30):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def pct(xs, p):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    if not s:
        return None
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs):
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99),
            "max": max(xs), "min": min(xs), "mean": sum(xs) / len(xs)}


def fmt_ms(s):
    if not s.get("n"):
        return "n=0"
    return "p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  min %.2f ms (n=%d)" % (
        s["p50"], s["p95"], s["p99"], s["max"], s["min"], s["n"])


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "(comm)": state is field 3, so utime (14) and stime (15) are at 11 and 12
    return int(fields[11]) + int(fields[12])


def start_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def thread_switches(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
            st = open("/proc/%d/task/%s/status" % (pid, tid)).read()
        except OSError:
            continue
        n = sum(int(l.split()[1]) for l in st.splitlines()
                if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        out[tid] = (comm, n)
    return out


def proc_status(pid):
    d = {}
    for l in open("/proc/%d/status" % pid):
        k, _, v = l.partition(":")
        if k in ("VmRSS", "VmHWM", "Threads"):
            d[k] = int(v.split()[0])
    return d


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def machine(loadavg0):
    """nproc, kernel, CPU model, and the load average at start (loadavg0) and now."""
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "loadavg_at_start": loadavg0, "loadavg_at_end": loadavg()}


def machine_busy():
    f = open("/proc/stat").readline().split()[1:]
    v = [int(x) for x in f]
    total = sum(v)
    return total - v[3] - v[4], total


# --------------------------------------------------------------------------
# 2. link latency


def running_taps(w, taps_file, n):
    """n fixture taps (from taps_file) that a running domain claims, spread over the fixture
    (and so over its bridges)."""
    fixture = [l.strip() for l in open(taps_file) if l.strip()]
    running = [t for t in fixture
               if (w.record_of(t) or {}).get("domain_state") == "running"]
    if len(running) < n:
        raise HarnessError("only %d fixture taps of running domains are served, need %d"
                           % (len(running), n))
    return [running[i * len(running) // n] for i in range(n)]


def hold_taps(ns, w, taps):
    """Attaches a helper to `taps` in namespace ns (as a guest's QEMU would) so they have
    carrier, and takes events until the watch shows them all with carrier; the helper
    process (release_taps lets go)."""
    log("attaching to %d fixture taps so they have carrier (as a guest's QEMU would)" % len(taps))
    holder = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", HOLDER] + taps,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = holder.stdout.readline().decode().strip()
    if line != "ready":
        holder.kill()
        raise HarnessError("tap holder failed: %s" % holder.stderr.read().decode(errors="replace")[:500])
    # the taps' carrier-on changes reach the stream; wait until they all show
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all((w.record_of(t) or {}).get("carrier") for t in taps):
            break
        w.next(deadline - time.monotonic())
    w.drain(0.5)
    not_on = [t for t in taps if not (w.record_of(t) or {}).get("carrier")]
    if not_on:
        holder.kill()
        raise HarnessError("taps held open but not shown with carrier: %s" % not_on[:5])
    log("operstate of held taps: %s" % sorted({w.record_of(t)["operstate"] for t in taps}))
    return holder


def release_taps(w, holder, taps, pending=lambda: False, timeout=15):
    """Lets go of the taps hold_taps held and takes events until none of them shows carrier
    and pending() is false (at most `timeout` s); the taps still shown with carrier."""
    holder.stdin.close()
    holder.wait(timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (pending()
                                           or any((w.record_of(t) or {}).get("carrier") for t in taps)):
        w.next(deadline - time.monotonic())
    return [t for t in taps if (w.record_of(t) or {}).get("carrier")]


def link_flip(w, ns, dev, updown):
    """`ip -n ns link set dev up|down` on a held tap: (argv, predicate of its event, a
    `changed` of dev whose operstate differs from the one served now)."""
    before = w.record_of(dev)["operstate"]
    argv = ["ip", "-n", ns, "link", "set", dev, updown]
    return argv, (lambda ev: ev[1] == "changed" and ev[3]["interface"].get("device") == dev
                  and ev[3]["interface"].get("operstate") != before)


def one_change(w, argv, dev, pred, timeout):
    """Runs argv (one host change about device dev) and takes events until pred holds: the
    sample {ip_ms, and from_done_ms, from_start_ms, first_event_from_done_ms, generation, or
    timeout: True}. Latency is from `ip` returning (and from its spawn); the first event
    naming dev counts too."""
    first = {}

    def watch_first(ev):
        d = ev[3] or {}
        named = (d.get("interface") or {}).get("device") or (d.get("problem") or {}).get("device")
        if named == dev and "t" not in first:
            first["t"] = ev[0]
        return pred(ev)

    t_start = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_done = time.monotonic()
    if p.returncode != 0:
        raise HarnessError("%s failed: %s" % (" ".join(argv), p.stderr.decode().strip()))
    ev = w.until(watch_first, timeout)
    s = {"ip_ms": (t_done - t_start) * 1e3}
    if ev is None:
        s["timeout"] = True
    else:
        s["from_done_ms"] = (ev[0] - t_done) * 1e3
        s["from_start_ms"] = (ev[0] - t_start) * 1e3
        s["first_event_from_done_ms"] = (first.get("t", ev[0]) - t_done) * 1e3
        s["generation"] = ev[2]
    return s


def link_latency(a, w, taps_file):
    ns, changes = a.netns, a.changes
    n_add, n_flip = (changes + 1) // 2, changes // 2
    chosen = running_taps(w, taps_file, max(1, (n_flip + 1) // 2))
    holder = hold_taps(ns, w, chosen)

    samples = []
    cpu0, t_loop = cpu_ticks(a.pid), time.monotonic()
    for i in range(changes):
        j = i // 2
        if i % 2 == 0:
            dev = "tapwb%04d" % j
            argv = ["ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tap"]
            kind = "tuntap-add"
            pred = (lambda dev: lambda ev: ev[1] == "problem" and ev[3]["status"] == "raised"
                    and ev[3]["problem"]["kind"] == "orphan-device"
                    and ev[3]["problem"]["device"] == dev)(dev)
        else:
            dev = chosen[j // 2]
            updown = "down" if j % 2 == 0 else "up"
            kind = "link-" + updown
            argv, pred = link_flip(w, ns, dev, updown)
        s = {"i": i, "kind": kind, "device": dev}
        s.update(one_change(w, argv, dev, pred, a.link_timeout))
        if "timeout" in s:
            log("no event for %s %s within %.0f s" % (kind, dev, a.link_timeout))
        samples.append(s)
    cpu_s, loop_s = (cpu_ticks(a.pid) - cpu0) / os.sysconf("SC_CLK_TCK"), time.monotonic() - t_loop

    # put everything back: tapwb gone, chosen taps up, holder released
    log("deleting the %d tapwb taps" % n_add)
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as f:
        for j in range(n_add):
            f.write("link del tapwb%04d\n" % j)
        f.write("".join("link set %s up\n" % t for t in chosen))
    run(["ip", "-n", ns, "-b", f.name], "ip -b (delete tapwb)")
    os.unlink(f.name)
    wanted = {"tapwb%04d" % j for j in range(n_add)}
    still = release_taps(w, holder, chosen, lambda: bool(wanted & w.orphans))
    left = sorted(wanted & w.orphans)
    w.drain(0.5)

    ok = [s for s in samples if "timeout" not in s]
    res = {
        "changes": changes, "held_taps": chosen, "timeouts": len(samples) - len(ok),
        "from_done_ms": summary([s["from_done_ms"] for s in ok]),
        "from_start_ms": summary([s["from_start_ms"] for s in ok]),
        "first_event_from_done_ms": summary([s["first_event_from_done_ms"] for s in ok]),
        "ip_ms": summary([s["ip_ms"] for s in samples]),
        "negative_from_done": sum(1 for s in ok if s["from_done_ms"] < 0),
        "daemon_cpu_s": cpu_s, "loop_s": loop_s, "daemon_cpu_ms_per_change": cpu_s * 1e3 / changes,
        "by_kind": {}, "cleanup_orphans_left": left, "cleanup_carrier_left": still,
        "samples": samples,
    }
    for k in sorted({s["kind"] for s in samples}):
        ks = [s for s in ok if s["kind"] == k]
        res["by_kind"][k] = {"from_done_ms": summary([s["from_done_ms"] for s in ks]),
                             "from_start_ms": summary([s["from_start_ms"] for s in ks]),
                             "timeouts": sum(1 for s in samples if s["kind"] == k and "timeout" in s)}
    return res


# --------------------------------------------------------------------------
# 3. real libvirtd


def free_prefix():
    used = run(["ip", "-4", "route", "show", "table", "all"]).stdout.decode()
    for x in range(150, 200):
        p = "192.168.%d." % x
        if p not in used:
            return "192.168.%d" % x
    raise HarnessError("no free 192.168.150-199.0/24 for the test network")


def libvirt_attaches(a, root, scratch):
    virsh = ["virsh", "-q", "-c", QEMU_URI]
    n = a.attaches
    d = max(1, (n + 3) // 4)   # four spare pcie-root-ports per domain
    t0 = time.monotonic()
    kvm = run(virsh + ["domcapabilities", "--virttype", "kvm"], check=False).returncode == 0
    emu = "kvm" if kvm else "qemu"
    log("libvirt: bridge %s, veth %s, network %s, %d paused %s domains"
        % (VWB_BRIDGE, VWB_LOWER, VWB_NET, d, emu))
    run(["ip", "link", "add", VWB_BRIDGE, "type", "bridge"])
    run(["ip", "link", "set", VWB_BRIDGE, "up"])
    run(["ip", "link", "add", VWB_LOWER, "type", "veth", "peer", "name", VWB_LOWER + "p"])
    run(["ip", "link", "set", VWB_LOWER + "p", "up"])
    run(["ip", "link", "set", VWB_LOWER, "up"])
    net = open(os.path.join(root, "tests/fixtures/qemu/network.xml")).read()
    net = net.replace("@NETNAME@", VWB_NET).replace("@NETBRIDGE@", VWB_NETBRIDGE) \
             .replace("@NETPREFIX@", free_prefix())
    path = os.path.join(scratch, "vwbnet.xml")
    open(path, "w").write(net)
    run(virsh + ["net-define", path])
    run(virsh + ["net-start", VWB_NET])
    tmpl = open(os.path.join(root, "tests/fixtures/qemu/domain.xml")).read()
    doms = []
    for k in range(1, d + 1):
        name = VWB_DOMAIN % k
        xml = (tmpl.replace("@NAME@", name)
               .replace("@UUID@", str(uuid.uuid5(uuid.NAMESPACE_DNS, "vifd-watch-bench-%d" % k)))
               .replace("@EMULATOR_TYPE@", emu).replace("@BRIDGE@", VWB_BRIDGE)
               .replace("@NETWORK@", VWB_NET).replace("@ETH_TAP@", VWB_ETH % k)
               .replace("@DIRECT_DEV@", VWB_LOWER).replace("@DISKS@", ""))
        for i in range(1, 5):
            xml = xml.replace("@MAC%d@" % i, "52:54:77:00:%02x:%02x" % (k, i))
        path = os.path.join(scratch, name + ".xml")
        open(path, "w").write(xml)
        run(virsh + ["create", path, "--paused"])
        doms.append(name)
    setup_s = time.monotonic() - t0

    sse = Sse(a.qemu_port, name="sse-qemu")
    w = Watch(sse)
    if w.until(lambda ev: ev[1] == "snapshot", 30) is None:
        raise HarnessError("no snapshot from the qemu:///system daemon")
    # every domain's four NICs served before measuring
    deadline = time.monotonic() + 30
    mine = lambda: sum(1 for r in w.records.values() if r["domain_name"] in doms)
    while mine() < 4 * d and time.monotonic() < deadline:
        w.next(deadline - time.monotonic())
    if mine() < 4 * d:
        raise HarnessError("the qemu daemon serves %d of the %d NICs of the vwb domains"
                           % (mine(), 4 * d))
    w.drain(0.5)

    samples = []
    for i in range(n):
        k, slot = i % d, i // d
        dom, mac = doms[k], "52:54:77:01:%02x:%02x" % (k + 1, slot + 1)
        t_start = time.monotonic()
        p = subprocess.run(virsh + ["attach-interface", dom, "bridge", VWB_BRIDGE, "--mac", mac,
                                    "--model", "virtio", "--live"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t_done = time.monotonic()
        if p.returncode != 0:
            raise HarnessError("virsh attach-interface %s %s failed: %s"
                               % (dom, mac, p.stderr.decode().strip()))
        ev = w.until(lambda ev: ev[1] == "added" and ev[3]["interface"].get("mac_address") == mac,
                     a.attach_timeout)
        s = {"i": i, "domain": dom, "mac": mac, "virsh_ms": (t_done - t_start) * 1e3}
        if ev is None:
            s["timeout"] = True
            log("no added event for %s on %s within %.0f s" % (mac, dom, a.attach_timeout))
        else:
            s["from_done_ms"] = (ev[0] - t_done) * 1e3
            s["from_start_ms"] = (ev[0] - t_start) * 1e3
            s["device"] = ev[3]["interface"].get("device")
        samples.append(s)
    w.drain(0.5)
    ok = [s for s in samples if "timeout" not in s]
    return {
        "uri": QEMU_URI, "emulator": emu, "domains": doms, "setup_s": setup_s,
        "attaches": n, "timeouts": n - len(ok),
        "from_done_ms": summary([s["from_done_ms"] for s in ok]),
        "from_start_ms": summary([s["from_start_ms"] for s in ok]),
        "virsh_ms": summary([s["virsh_ms"] for s in samples]),
        "negative_from_done": sum(1 for s in ok if s["from_done_ms"] < 0),
        "samples": samples,
    }, w


# --------------------------------------------------------------------------
# 4. idle


def idle(seconds, watches, pids):
    for w in watches:
        w.drain(1.0)
    hz = os.sysconf("SC_CLK_TCK")
    c0 = {p: cpu_ticks(p) for p in pids}
    s0 = {p: thread_switches(p) for p in pids}
    m0 = machine_busy()
    seen0 = [sum(w.counts.values()) for w in watches]
    t0 = time.monotonic()
    log("idle: %.1f s with nothing changing" % seconds)
    # keep consuming (the streams stay open, keepalives flow) without adding work
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        for w in watches:
            while w.next(0) is not None:
                pass
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    el = time.monotonic() - t0
    c1 = {p: cpu_ticks(p) for p in pids}
    s1 = {p: thread_switches(p) for p in pids}
    m1 = machine_busy()
    for w in watches:
        while w.next(0) is not None:
            pass
    events = [sum(w.counts.values()) - s for w, s in zip(watches, seen0)]
    out = {}
    for p in pids:
        ticks = c1[p] - c0[p]
        threads = {}
        for tid, (comm, n1) in s1[p].items():
            n0 = s0[p].get(tid, (comm, 0))[1]
            if n1 - n0:
                threads[comm] = threads.get(comm, 0) + (n1 - n0)
        out[p] = {"seconds": el, "cpu_ticks": ticks, "hz": hz,
                  "cpu_pct": 100.0 * ticks / hz / el,
                  "wakeups": sum(threads.values()), "wakeups_by_thread": threads}
    busy = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    return out, {"machine_busy_pct": busy, "events_during": events}


# --------------------------------------------------------------------------
# 5. burst


def burst(a, w, scratch):
    ns, n, pid = a.netns, a.burst, a.pid
    names = ["tapbb%05d" % i for i in range(n)]
    add = os.path.join(scratch, "burst-add.ip")
    open(add, "w").write("".join("tuntap add dev %s mode tap\n" % x for x in names))
    # One `link del` per tap costs the kernel an RCU grace period each (~16 ms here: 80 s for
    # 5,000); a group is deleted with one unregister: tag them, then delete the group.
    dele = os.path.join(scratch, "burst-del.ip")
    open(dele, "w").write("".join("link set dev %s group %d\n" % (x, BURST_GROUP) for x in names)
                          + "link del group %d\n" % BURST_GROUP)
    # control: the same two batches in an empty namespace no vifd watches, just before
    ctl = "vifd-wb-ctl"
    run(["ip", "netns", "add", ctl])
    try:
        t = time.monotonic()
        run(["ip", "-n", ctl, "-b", add], "ip -b (control add)")
        t_add = time.monotonic() - t
        t = time.monotonic()
        run(["ip", "-n", ctl, "-b", dele], "ip -b (control delete)")
        t_del = time.monotonic() - t
    finally:
        run(["ip", "netns", "del", ctl], check=False)
    w.drain(0.5)
    res = {"taps": n, "control_ip_s": {"add": t_add, "delete": t_del}}
    hwm0 = proc_status(pid)["VmHWM"]

    def phase(label, path, done, timeout):
        want = set(names)
        resyncs0 = len(w.resyncs)
        cpu0 = cpu_ticks(pid)
        t0 = time.monotonic()
        p = subprocess.run(["ip", "-n", ns, "-b", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        t_ip = time.monotonic()
        if p.returncode != 0:
            raise HarnessError("ip -b (%s) failed: %s" % (label, p.stderr.decode().strip()[:500]))
        t_last = None
        deadline = t_ip + timeout
        while not done(want) and time.monotonic() < deadline:
            ev = w.next(deadline - time.monotonic())
            if ev is not None:
                t_last = ev[0]
        ok = done(want)
        r = {"ip_s": t_ip - t0, "complete": ok,
             "absorbed_s": (t_last - t0) if ok and t_last is not None else None,
             "after_ip_s": (t_last - t_ip) if ok and t_last is not None else None,
             "resync_events": len(w.resyncs) - resyncs0,
             "daemon_cpu_s": (cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK")}
        if ok and t_last is None:   # everything was already there when ip returned
            r["absorbed_s"], r["after_ip_s"] = t_ip - t0, 0.0
        return r

    log("burst: %d taps in one ip -b" % n)
    res["add"] = phase("add", add, lambda want: want <= w.orphans, 30)
    # confirm once with the served state
    t = time.monotonic()
    st, body = http_get(a.port, "/v1/problems")
    listed = {p["device"] for p in json.loads(body)["problems"]
              if p["kind"] == "orphan-device"} if st == 200 else set()
    res["add"]["problems_confirm"] = {"status": st, "listed": len(set(names) & listed),
                                      "get_ms": (time.monotonic() - t) * 1e3}
    res["add"]["rss_kib"] = proc_status(pid)
    log("burst: deleting them in one ip -b")
    res["delete"] = phase("delete", dele, lambda want: not (want & w.orphans), 30)
    st, body = http_get(a.port, "/v1/problems")
    left = {p["device"] for p in json.loads(body)["problems"]
            if p["kind"] == "orphan-device"} & set(names) if st == 200 else None
    res["delete"]["problems_confirm"] = {"status": st, "left": None if left is None else len(left)}
    res["hwm_before_kib"] = hwm0
    return res


def compare_with_list(a):
    st, body = http_get(a.port, "/v1/interfaces")
    if st != 200:
        raise HarnessError("GET /v1/interfaces answered %d" % st)
    served = json.loads(body)["interfaces"]
    p = run([a.vifd, "list", "--json", "--libvirt-uri", a.uri, "--netns", a.netns], "vifd list --json")
    fresh = json.loads(p.stdout)["interfaces"]
    st, body = http_get(a.port, "/v1/problems")
    served_p = json.loads(body)["problems"]
    c = run([a.vifd, "check", "--json", "--libvirt-uri", a.uri, "--netns", a.netns], check=False)
    fresh_p = json.loads(c.stdout)["problems"] if c.returncode in (0, 1) else None
    diff = []
    if served != fresh:
        fi = {r["id"]: r for r in fresh}
        si = {r["id"]: r for r in served}
        for rid in sorted(set(fi) | set(si)):
            if fi.get(rid) != si.get(rid):
                keys = sorted(k for k in set(fi.get(rid) or {}) | set(si.get(rid) or {})
                              if (fi.get(rid) or {}).get(k) != (si.get(rid) or {}).get(k))
                diff.append({"id": rid, "keys": keys,
                             "served": {k: (si.get(rid) or {}).get(k) for k in keys},
                             "fresh": {k: (fi.get(rid) or {}).get(k) for k in keys}})
        if not diff:
            diff.append({"order": "same records, another order"})
    return {"interfaces_equal": served == fresh, "records": len(served), "fresh_records": len(fresh),
            "differences": diff[:10], "n_differences": len(diff),
            "problems_equal": served_p == fresh_p, "problems": len(served_p)}


# --------------------------------------------------------------------------


def main():
    scratch = tempfile.mkdtemp(prefix="vifd-watch-py.")
    try:
        bench(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench(scratch):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--uri", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--data", required=True, help="fixture directory (taps.txt)")
    ap.add_argument("--vifd", required=True)
    ap.add_argument("--root", required=True, help="the repository (tests/fixtures/qemu)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--a-rss", type=float, required=True, help="(a) in MiB")
    ap.add_argument("--a-source", default="")
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--link-timeout", type=float, default=5.0)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=5000)
    ap.add_argument("--qemu-port", type=int)
    ap.add_argument("--qemu-pid", type=int)
    ap.add_argument("--attaches", type=int, default=50)
    ap.add_argument("--attach-timeout", type=float, default=10.0)
    ap.add_argument("--title", default="")
    ap.add_argument("--repro", default="")
    ap.add_argument("--started", type=float, default=None, help="epoch seconds the bench began")
    a = ap.parse_args()

    loadavg0 = loadavg()
    res = {"title": a.title, "uri": a.uri, "netns": a.netns, "vifd": a.vifd}

    sse = Sse(a.port, name="sse")
    w = Watch(sse)
    ev = w.until(lambda ev: True, 30)
    if ev is None or ev[1] != "snapshot":
        raise HarnessError("the first event is not a snapshot: %r" % (ev and ev[1]))
    res["snapshot"] = {"records": len(w.records), "generation": ev[2],
                       "orphans": len(w.orphans)}
    log("snapshot: %d records, generation %s" % (len(w.records), ev[2]))
    w.drain(0.5)
    rss = []   # the daemon's VmRSS / VmHWM after each section, MiB

    def mark(section):
        st = proc_status(a.pid)
        rss.append({"after": section, "vmrss": st["VmRSS"] / MIB, "vmhwm": st["VmHWM"] / MIB})
    mark("snapshot")

    log("link latency: %d changes, one at a time" % a.changes)
    w.section = "link"
    res["link"] = link_latency(a, w, os.path.join(a.data, "taps.txt"))
    mark("link changes")

    qw = None
    if a.qemu_port:
        w.section = "libvirt"
        res["libvirt"], qw = libvirt_attaches(a, a.root, scratch)
        mark("libvirt section")
    pids = [a.pid] + ([a.qemu_pid] if a.qemu_pid else [])
    w.section = "idle"
    idle_res, idle_info = idle(a.idle, [w] + ([qw] if qw else []), pids)
    mark("idle")
    # the daemon's periodic full read (--refresh) falls in the window?
    hz = os.sysconf("SC_CLK_TCK")
    uptime = float(open("/proc/uptime").read().split()[0])
    age = uptime - start_ticks(a.pid) / hz
    res["idle"] = {"daemon": idle_res[a.pid], "machine_busy_pct": idle_info["machine_busy_pct"],
                   "events_during": idle_info["events_during"][0],
                   "daemon_age_at_end_s": age}
    if a.qemu_pid:
        res["idle"]["qemu_daemon"] = idle_res[a.qemu_pid]
        res["idle"]["qemu_events_during"] = idle_info["events_during"][1]
    if qw:
        qw.sse.close()

    w.section = "burst"
    res["burst"] = burst(a, w, scratch)
    mark("burst")
    st = proc_status(a.pid)
    res["rss_mib"] = {"vmhwm": st["VmHWM"] / MIB, "vmrss": st["VmRSS"] / MIB,
                      "vmhwm_before_burst": res["burst"]["hwm_before_kib"] / MIB,
                      "threads": st["Threads"], "a_virsh_list": a.a_rss, "a_source": a.a_source}
    w.drain(0.5)
    w.section = "compare"
    res["compare"] = compare_with_list(a)
    mark("compare")
    res["rss_timeline_mib"] = rss
    res["events_seen"] = w.counts
    res["resyncs"] = w.resyncs
    sse.close()

    # ---- report
    L = res["link"]
    ld = L["from_done_ms"]
    checks = []
    link_ok = L["timeouts"] == 0 and ld["n"] and ld["p50"] <= T_P50_MS and ld["p99"] <= T_P99_MS
    checks.append(("link->event", "p50 %.2f ms p99 %.2f ms (n=%d, %d timeouts)"
                   % (ld.get("p50") or 0, ld.get("p99") or 0, ld["n"], L["timeouts"]),
                   "p50<=%g p99<=%g" % (T_P50_MS, T_P99_MS), bool(link_ok)))
    if "libvirt" in res:
        V = res["libvirt"]
        vd = V["from_done_ms"]
        v_ok = V["timeouts"] == 0 and vd["n"] and vd["p50"] <= T_P50_MS and vd["p99"] <= T_P99_MS
        checks.append(("virsh attach-interface->added", "p50 %.2f ms p99 %.2f ms (n=%d, %d timeouts)"
                       % (vd.get("p50") or 0, vd.get("p99") or 0, vd["n"], V["timeouts"]),
                       "p50<=%g p99<=%g" % (T_P50_MS, T_P99_MS), bool(v_ok)))
    I = res["idle"]["daemon"]
    checks.append(("idle CPU", "%.3f %% of one core (%d ticks in %.0f s)"
                   % (I["cpu_pct"], I["cpu_ticks"], I["seconds"]),
                   "<=%g %%" % T_IDLE_PCT, I["cpu_pct"] <= T_IDLE_PCT))
    B = res["burst"]["add"]
    b_ok = B["complete"] and B["absorbed_s"] is not None and B["absorbed_s"] <= T_BURST_S \
        and B["problems_confirm"]["listed"] == a.burst
    checks.append(("burst of %d taps absorbed" % a.burst,
                   ("%.2f s" % B["absorbed_s"]) if B["absorbed_s"] is not None else "incomplete",
                   "<=%g s" % T_BURST_S, bool(b_ok)))
    R = res["rss_mib"]
    checks.append(("VmHWM - (a)", "%+.1f MiB (VmHWM %.1f, (a) %.1f)" % (R["vmhwm"] - a.a_rss, R["vmhwm"], a.a_rss),
                   "<=+%g MiB" % T_RSS_MIB, R["vmhwm"] - a.a_rss <= T_RSS_MIB))
    C = res["compare"]
    checks.append(("/v1/interfaces == vifd list --json", str(C["interfaces_equal"]).lower(), "true",
                   C["interfaces_equal"]))
    overall = all(c[3] for c in checks)
    res["checks"] = [{"check": n, "value": v, "target": t, "pass": ok} for n, v, t, ok in checks]
    res["pass"] = overall
    res["machine"] = machine(loadavg0)
    res["reproduce"] = a.repro
    if a.started:
        res["wall_s_report"] = time.time() - a.started

    p = print
    p()
    p("vifd live-state benchmark: %s" % a.title)
    m = res["machine"]
    p("machine: nproc=%s, kernel %s, %s; loadavg at start %s, at end %s"
      % (m["nproc"], m["kernel"], m["cpu"], m["loadavg_at_start"], m["loadavg_at_end"]))
    p("snapshot: %d records, %d orphan problems, generation %s"
      % (res["snapshot"]["records"], res["snapshot"]["orphans"], res["snapshot"]["generation"]))
    p()
    p("link changes in netns %s, one at a time, next after the event (latency in ms, negative ="
      % a.netns)
    p("  the event arrived before `ip` had exited and been reaped)")
    p("  %-22s %s" % ("from ip returning:", fmt_ms(L["from_done_ms"])))
    p("  %-22s %s" % ("from ip spawned:", fmt_ms(L["from_start_ms"])))
    p("  %-22s %s" % ("ip itself:", fmt_ms(L["ip_ms"])))
    for k, v in L["by_kind"].items():
        p("  %-22s %s%s" % (k + ":", fmt_ms(v["from_done_ms"]),
                            ", %d timeouts" % v["timeouts"] if v["timeouts"] else ""))
    p("  (b) changes on %d fixture taps held open (carrier on); events before ip returned: %d"
      % (len(L["held_taps"]), L["negative_from_done"]))
    p("  daemon CPU over the %d changes: %.2f s in %.1f s, %.1f ms per change"
      % (L["changes"], L["daemon_cpu_s"], L["loop_s"], L["daemon_cpu_ms_per_change"]))
    if L["cleanup_orphans_left"] or L["cleanup_carrier_left"]:
        p("  WARNING after clean-up: still orphans %s, still carrier %s"
          % (L["cleanup_orphans_left"][:5], L["cleanup_carrier_left"][:5]))
    if "libvirt" in res:
        V = res["libvirt"]
        p()
        p("real libvirtd (%s, %s): %d paused q35 domains (set up in %.1f s), %d attach-interface --live"
          % (V["uri"], V["emulator"], len(V["domains"]), V["setup_s"], V["attaches"]))
        p("  %-22s %s" % ("from virsh returning:", fmt_ms(V["from_done_ms"])))
        p("  %-22s %s" % ("from virsh spawned:", fmt_ms(V["from_start_ms"])))
        p("  %-22s %s" % ("virsh itself:", fmt_ms(V["virsh_ms"])))
    p()
    p("idle %.0f s: daemon %.3f %% of one core (%d ticks at %d Hz), %d wake-ups %s; machine %.0f %% busy"
      % (I["seconds"], I["cpu_pct"], I["cpu_ticks"], I["hz"], I["wakeups"],
         json.dumps(I["wakeups_by_thread"], sort_keys=True), res["idle"]["machine_busy_pct"]))
    if res["idle"]["events_during"]:
        p("  NOTE: %d events arrived during the idle window" % res["idle"]["events_during"])
    if "qemu_daemon" in res["idle"]:
        Q = res["idle"]["qemu_daemon"]
        p("  [info] qemu:///system daemon: %.3f %% of one core (%d ticks), %d wake-ups %s, %d events"
          % (Q["cpu_pct"], Q["cpu_ticks"], Q["wakeups"], json.dumps(Q["wakeups_by_thread"], sort_keys=True),
             res["idle"]["qemu_events_during"]))
    p()
    p("burst control: the same ip -b in an empty namespace no vifd watches: add %.2f s, delete %.2f s"
      % (res["burst"]["control_ip_s"]["add"], res["burst"]["control_ip_s"]["delete"]))
    for lbl in ("add", "delete"):
        b = res["burst"][lbl]
        p("burst %-6s %d taps: ip -b took %.2f s; last event %s after ip started, %s after it returned;"
          % (lbl, a.burst, b["ip_s"],
             "%.2f s" % b["absorbed_s"] if b["absorbed_s"] is not None else "never",
             "%.2f s" % b["after_ip_s"] if b["after_ip_s"] is not None else "-"))
        p("             resync events %d, daemon CPU %.2f s, served check %s"
          % (b["resync_events"], b["daemon_cpu_s"], json.dumps(b["problems_confirm"])))
    p("daemon RSS: VmHWM %.1f MiB (%.1f before the burst), VmRSS %.1f MiB; (a) %.1f MiB from %s"
      % (R["vmhwm"], R["vmhwm_before_burst"], R["vmrss"], a.a_rss, a.a_source))
    p("daemon VmRSS/VmHWM after each section (MiB): %s"
      % ", ".join("%s %.1f/%.1f" % (r["after"], r["vmrss"], r["vmhwm"]) for r in rss))
    p("events seen: %s; resync events: %s" % (json.dumps(w.counts, sort_keys=True),
                                             json.dumps(w.resyncs) if w.resyncs else "none"))
    p("served == fresh: interfaces %s (%d records), problems %s (%d)"
      % (str(C["interfaces_equal"]).lower(), C["records"], str(C["problems_equal"]).lower(), C["problems"]))
    for d in C["differences"][:3]:
        p("  difference: %s" % json.dumps(d)[:400])
    p()
    for name, val, tgt, ok in checks:
        p("%-36s %-46s target %-20s %s" % (name, val, tgt, "PASS" if ok else "FAIL"))
    p()
    p("overall: %s" % ("PASS" if overall else "FAIL"))
    p("reproduce: %s" % a.repro)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    p("json: %s" % a.out)


if __name__ == "__main__":
    try:
        main()
    except HarnessError as e:
        print("watch_bench: ERROR: %s" % e, file=sys.stderr)
        sys.exit(2)
