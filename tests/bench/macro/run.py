#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The macro benchmark (docs/requirements.md#performance): legacy thread-per-connection servers run
natively and under greenhouse, next to an epoll reference, under load.

  run.py bench --build DIR --out-dir DIR [options]
      The full benchmark for scripts/bench. Writes echo.md, http.md (bodies
      of the "## Macro benchmark: ..." sections of docs/benchmarks.md) and
      runs.json (every run's raw numbers) into --out-dir.
  run.py mn --build DIR --out-dir DIR [options]
      M:N on all cores, unpinned (server and load share every CPU): the echo
      server natively, under greenhouse, the epoll reference and a Go
      goroutine-per-connection server (if the Debian golang-go package is
      there), and a CPU-heavy thread-per-connection server (echo_server -w).
      Writes mn.md.
  run.py demo --build DIR [--connections N]
      The short side-by-side of scripts/demo: the echo server natively and
      under greenhouse, printed as a table on the terminal.

For every run the driver starts the server (in a memory cgroup of its own
when /sys/fs/cgroup allows), waits until it listens, starts the load
generator (tests/bench/macro/loadgen.c) or wrk, and samples the server from
/proc while the load runs: OS threads, CPU time, memory. System calls are
counted in a separate, shorter run with `perf stat` (tracepoint
raw_syscalls:sys_enter), enabled only for the load generator's measurement
window; without perf, `strace -c -f` over the whole run.

Python standard library only. Every number the markdown holds comes from the
runs made here; nothing is typed in.
"""

import argparse
import json
import os
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# System calls broken out in the syscall table (tracepoints syscalls:sys_enter_*).
SYSCALLS = ["read", "write", "recvfrom", "sendto", "io_uring_enter", "futex", "epoll_wait",
            "sched_yield"]


def log(msg):
    print("macro: " + msg, file=sys.stderr, flush=True)


def rel(path):
    """A path as the documentation shows it: relative to the repository root."""
    p = os.path.abspath(path)
    if p.startswith(ROOT + os.sep):
        return os.path.relpath(p, ROOT)
    return p


def show(argv):
    return " ".join(shlex.quote(rel(a)) if os.path.isabs(a) else shlex.quote(a) for a in argv)


# ---------------------------------------------------------------- /proc, limits

def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def meminfo(key="MemAvailable"):
    m = re.search(r"^%s:\s+(\d+) kB" % key, read("/proc/meminfo"), re.M)
    return int(m.group(1)) * 1024 if m else None


def proc_status(pid):
    out = {}
    for line in read("/proc/%d/status" % pid).splitlines():
        k, _, v = line.partition(":")
        if k in ("Threads", "VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * (1 if k == "Threads" else 1024)
    return out


def proc_cpu(pid):
    """utime + stime of the whole process (all threads, dead ones too), s."""
    s = read("/proc/%d/stat" % pid)
    if not s:
        return None
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


PF_KTHREAD = 0x00200000


def all_cpu():
    """A snapshot for others_cpu(): busy CPU time of the machine (all of
    /proc/stat but idle and iowait), and {pid: (utime + stime, kernel
    thread?)} of every process, in seconds."""
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    busy = (sum(f[:8]) - f[3] - f[4]) / CLK_TCK
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = read("/proc/%s/stat" % d)
        if not st:
            continue
        x = st[st.rindex(")") + 2:].split()
        procs[int(d)] = ((int(x[11]) + int(x[12])) / CLK_TCK, bool(int(x[6]) & PF_KTHREAD))
    return busy, procs


def others_cpu(before, after, exclude, ours=0.0, ignore=()):
    """(CPU seconds used between two all_cpu() snapshots by everything but
    the processes in `exclude` and kernel threads such as ksoftirqd, which on
    loopback mostly carry the benchmark's own traffic; [(seconds, name)] of
    the top three other processes still alive). Taken from the machine's busy
    time, so that processes which started and ended in between (compilers)
    count too. Processes in `ignore` are left out altogether: the caller
    accounts for their CPU time in `ours` (a load generator may exit before
    the second snapshot)."""
    (busy0, p0), (busy1, p1) = before, after
    exclude = set(exclude) | {os.getpid()}
    used = []
    for pid, (c, kthread) in p1.items():
        if pid in ignore:
            continue
        d = c - p0.get(pid, (0.0, kthread))[0]
        if pid in exclude or kthread:
            ours += d
        elif d > 0:
            used.append((d, pid))
    top = sorted(used, reverse=True)[:3]
    return max(0.0, busy1 - busy0 - ours), [
        (u, read("/proc/%d/comm" % pid).strip() or str(pid)) for u, pid in top]


def children_of(pid):
    return [int(x) for x in read("/proc/%d/task/%d/children" % (pid, pid)).split()]


def limits():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    stack = resource.getrlimit(resource.RLIMIT_STACK)

    def sysctl(name):
        return read("/proc/sys/" + name.replace(".", "/")).strip().replace("\t", " ")
    return {
        "nofile_soft": soft, "nofile_hard": hard,
        "nproc_soft": nproc[0], "stack_soft": stack[0],
        "threads-max": sysctl("kernel.threads-max"),
        "pid_max": sysctl("kernel.pid_max"),
        "max_map_count": sysctl("vm.max_map_count"),
        "ip_local_port_range": sysctl("net.ipv4.ip_local_port_range"),
        "somaxconn": sysctl("net.core.somaxconn"),
        "nr_open": sysctl("fs.nr_open"),
        "cap_sys_resource": has_cap(24),
    }


def source_version():
    """The commit the programs were built from, '+ local changes' when the
    work tree differs from it."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":(exclude)docs"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" + local changes" if dirty else "")


def has_cap(bit):
    m = re.search(r"^CapEff:\s+([0-9a-f]+)", read("/proc/self/status"), re.M)
    return bool(m and int(m.group(1), 16) >> bit & 1)


def fmt_limit(v):
    return "unlimited" if v == resource.RLIM_INFINITY else str(v)


# ---------------------------------------------------------------- memory cgroup

class Cgroup:
    """A memory cgroup of our own below the one this process is in (v1
    memory controller or v2), so that the server's memory can be read
    whole: user pages, kernel stacks and task structs of its threads, page
    tables, socket buffers charged to it. None when it cannot be made."""

    seq = 0

    def __init__(self, path, usage_file):
        self.path = path
        self.usage_file = usage_file

    @classmethod
    def create(cls):
        Cgroup.seq += 1
        name = "greenhouse-macro-%d-%d" % (os.getpid(), Cgroup.seq)
        cands = []
        mine = read("/proc/self/cgroup").splitlines()
        mounts = read("/proc/self/mountinfo").splitlines()
        for line in mine:
            hid, ctrls, path = line.split(":", 2)
            if "memory" in ctrls.split(","):
                for m in mounts:
                    parts = m.split()
                    sep = parts.index("-")
                    if parts[sep + 1] == "cgroup" and "memory" in parts[sep + 3].split(","):
                        cands.append((parts[4] + path, "memory.usage_in_bytes"))
            if hid == "0" and ctrls == "":
                for m in mounts:
                    parts = m.split()
                    sep = parts.index("-")
                    if parts[sep + 1] == "cgroup2":
                        cands.append((parts[4] + path, "memory.current"))
        for base, usage in cands:
            d = os.path.join(base, name)
            try:
                os.mkdir(d)
            except OSError:
                continue
            if os.path.exists(os.path.join(d, usage)) and os.access(
                    os.path.join(d, "cgroup.procs"), os.W_OK):
                return cls(d, usage)
            try:
                os.rmdir(d)
            except OSError:
                pass
        return None

    def usage(self):
        v = read(os.path.join(self.path, self.usage_file)).strip()
        return int(v) if v else None

    def wrap(self, argv):
        """argv run inside this cgroup (the shell joins it, then execs)."""
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path] + argv

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


# ---------------------------------------------------------------- processes

class Server:
    """A server process that prints "listening on ADDR:PORT" when ready."""

    def __init__(self, argv, tmp, name, cgroup=None, prefix=None):
        self.argv = argv
        self.errpath = os.path.join(tmp, name + ".server.err")
        full = list(argv)
        if cgroup:
            full = cgroup.wrap(full)
        if prefix:
            full = prefix + full
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.port = None

    def wait_listening(self, limit=15.0):
        deadline = time.monotonic() + limit
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"listening on [\d.]+:(\d+)\n", buf)
                if m:
                    self.port = int(m.group(1))
                    return self.port
            elif self.proc.poll() is not None:
                break
        raise RuntimeError("%s did not start listening within %.0f s: %s" %
                           (show(self.argv), limit, read(self.errpath)[-500:]))

    def stop(self, pid=None):
        pid = pid or self.pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if pid != self.pid:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.err.close()
        self.proc.stdout.close()

    def stderr_text(self):
        return read(self.errpath)


class Sampler(threading.Thread):
    """Samples a process (threads, memory) every `period` seconds, tagging
    each sample with the phase the load generator announced last."""

    def __init__(self, pid, cgroup, period=0.1):
        super().__init__(daemon=True)
        self.pid, self.cgroup, self.period = pid, cgroup, period
        self.phase = "connect"
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            st = proc_status(self.pid)
            self.samples.append({
                "phase": self.phase,
                "threads": st.get("Threads"),
                "rss": st.get("VmRSS"),
                "cg": self.cgroup.usage() if self.cgroup else None,
                "avail": meminfo(),
            })
            self.halt.wait(self.period)

    def stop(self):
        self.halt.set()
        self.join()

    def values(self, key, phases=None):
        return [s[key] for s in self.samples
                if s[key] is not None and (phases is None or s["phase"] in phases)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- the driver

class Bench:
    def __init__(self, args):
        self.args = args
        b = os.path.abspath(args.build)
        self.launcher = os.path.join(b, "greenhouse")
        m = os.path.join(b, "tests", "bench", "macro")
        self.echo = os.path.join(m, "echo_server")
        self.http = os.path.join(m, "http_server")
        self.epoll = os.path.join(m, "epoll_echo_server")
        self.epoll_http = os.path.join(m, "epoll_http_server")
        self.loadgen = os.path.join(m, "loadgen")
        need = (self.launcher, self.echo, self.loadgen) + \
            (() if args.cmd == "demo" else (self.epoll, self.http)) + \
            ((self.epoll_http,) if args.cmd == "mn" else ())
        for p in need:
            if not os.access(p, os.X_OK):
                sys.exit("run.py: %s is missing: build first (target macro_bench)" % p)
        self.tmp = tempfile.mkdtemp(prefix="greenhouse-macro.")
        self.runs = []
        self.cgroup_kind = None
        cg = Cgroup.create()
        if cg:
            self.cgroup_kind = cg.usage_file
            cg.remove()
        self.perf = shutil.which("perf")
        if self.perf and subprocess.run([self.perf, "stat", "-e", "raw_syscalls:sys_enter", "--",
                                         "true"], capture_output=True).returncode != 0:
            self.perf = None
        self.strace = shutil.which("strace")
        self.nice = os.getpriority(os.PRIO_PROCESS, 0)
        self.quiet = False
        self.quiet_budget = getattr(args, "quiet_wait", 0.0)
        self.quiet_waited = 0.0
        self.version = source_version()
        self.server_extra = []  # more server arguments (-w USEC)
        self.shim_env = []      # env VAR=VALUE ... before the launcher
        self.go = self.go_http = None
        if args.cmd == "mn" and shutil.which("go"):
            self.go = self.go_build("go_echo_server")
            self.go_http = self.go_build("go_http_server")
        cpus = sorted(os.sched_getaffinity(0))
        self.server_cpus = self.load_cpus = None
        if getattr(args, "pin", True) and len(cpus) >= 2 and shutil.which("taskset"):
            self.server_cpus = cpus[:len(cpus) // 2]
            self.load_cpus = cpus[len(cpus) // 2:]

    def go_build(self, name):
        """Builds tests/bench/macro/NAME.go; its path, or None."""
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".go")
        if not os.path.exists(src):
            return None
        out = os.path.join(self.tmp, name)
        env = dict(os.environ, GOCACHE=os.path.join(self.tmp, "gocache"),
                   GOPATH=os.path.join(self.tmp, "gopath"), GO111MODULE="off", GOFLAGS="")
        r = subprocess.run(["go", "build", "-o", out, src], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            log("go build of %s failed: %s" % (name, r.stderr.strip()[-300:]))
            return None
        return out

    def pin(self, side, pinned=True):
        """The taskset prefix that keeps the server or the load side on its CPUs."""
        cpus = self.server_cpus if side == "server" else self.load_cpus
        if not pinned or not cpus:
            return []
        return ["taskset", "-c", ",".join(str(c) for c in cpus)]

    def warmup_for(self, conns):
        """Warm-up: --warmup, or 1 s per 5,000 connections if longer. The first
        round trip of thousands of freshly woken native threads takes seconds."""
        return max(self.args.warmup, round(conns / 5000.0, 1))

    def load_threads(self, pinned=True):
        return len(self.load_cpus) if pinned and self.load_cpus else 1

    def server_argv(self, kind, program=None):
        extra = []
        if program == self.http:
            extra = ["-s", str(getattr(self.args, "http_body", 128))]
        extra = extra + self.server_extra
        if kind == "native":
            return [program or self.echo, "-p", "0"] + extra
        if kind in ("shim", "shim-epoll"):
            # shim-epoll: the same program on the epoll backend, as where a
            # container refuses io_uring.
            env = self.shim_env + (["GREENHOUSE_BACKEND=epoll"] if kind == "shim-epoll" else [])
            env = ["env"] + env if env else []
            return env + [self.launcher, program or self.echo, "-p", "0"] + extra
        if kind == "epoll":
            if program == self.http:
                return [self.epoll_http, "-p", "0"] + extra
            return [self.epoll, "-p", "0"]
        if kind == "go":
            if program == self.http:
                return [self.go_http, "-p", "0"] + extra
            return [self.go, "-p", "0"] + self.server_extra
        raise ValueError(kind)

    def loadgen_argv(self, port, conns, warm, dur, json_path, extra=(), pinned=True):
        a = self.args
        t = self.load_threads(pinned)
        return self.pin("load", pinned) + \
            [self.loadgen, "-p", str(port), "-c", str(conns), "-s", str(a.size),
             "-w", str(warm), "-d", str(dur), "-T", str(a.connect_limit)] + \
            (["-t", str(t)] if t > 1 else []) + list(extra) + \
            (["--json", json_path] if json_path else [])

    # ---- one echo run: server + loadgen, sampled ----

    def echo_run(self, kind, conns, rep, warm=None, dur=None, extra=(), pinned=True):
        a = self.args
        warm = self.warmup_for(conns) if warm is None else warm
        dur = a.duration if dur is None else dur
        name = "%s-%d-%d-%d" % (kind, conns, rep, pinned)
        cg = Cgroup.create()
        srv = Server(self.pin("server", pinned) + self.server_argv(kind), self.tmp, name,
                     cgroup=cg)
        rec = {"kind": kind, "connections": conns, "rep": rep, "server": show(srv.argv),
               "pinned": pinned}
        sampler = None
        try:
            port = srv.wait_listening()
            time.sleep(0.3)
            base_cg = cg.usage() if cg else None
            base_avail = meminfo()
            st0 = proc_status(srv.pid)
            base_rss = st0.get("VmRSS")
            rec["base_rss_anon"] = st0.get("RssAnon")
            rec["base_rss_file"] = st0.get("RssFile")
            jpath = os.path.join(self.tmp, name + ".json")
            lg = self.loadgen_argv(port, conns, warm, dur, jpath, extra, pinned)
            rec["loadgen"] = show(lg)
            sampler = Sampler(srv.pid, cg)
            sampler.start()
            marks = {}
            lines = []
            limit = a.connect_limit + warm + dur + 60
            p = subprocess.Popen(lg, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 text=True)
            timer = threading.Timer(limit, p.kill)
            timer.start()
            for line in p.stderr:
                lines.append(line.rstrip("\n"))
                now = time.monotonic()
                if line.startswith("loadgen: connected "):
                    sampler.phase = "warmup"
                elif line.startswith("loadgen: measuring"):
                    marks["start"] = (now, proc_cpu(srv.pid), all_cpu())
                    marks["load"] = {p.pid} | set(children_of(p.pid))
                    sampler.phase = "measure"
                elif line.startswith("loadgen: measured"):
                    marks["end"] = (now, proc_cpu(srv.pid), all_cpu())
                    sampler.phase = "drain"
            p.wait()
            timer.cancel()
            sampler.stop()
            st = proc_status(srv.pid)
            rec["loadgen_status"] = p.returncode
            rec["loadgen_log"] = lines[-6:]
            res = json.loads(read(jpath) or "{}")
            rec["result"] = res
            rec["ok"] = bool(res.get("ok")) and p.returncode == 0
            rec["peak_rss"] = st.get("VmHWM")
            rec["base_rss"] = base_rss
            thr = sampler.values("threads")
            rec["threads_max"] = max(thr) if thr else None
            rec["threads_measure"] = max(sampler.values("threads", ("measure",)) or [0]) or None
            cgs = sampler.values("cg", ("measure",))
            if cg and cgs and base_cg is not None:
                rec["mem_base"] = base_cg
                rec["mem_loaded"] = max(cgs)
                rec["mem_per_conn"] = (max(cgs) - base_cg) / conns
                rec["mem_source"] = cg.usage_file
            av = sampler.values("avail", ("measure",))
            if av and base_avail:
                rec["avail_drop_per_conn"] = (base_avail - min(av)) / conns
                if "mem_per_conn" not in rec:
                    rec["mem_per_conn"] = rec["avail_drop_per_conn"]
                    rec["mem_source"] = "MemAvailable"
            if "start" in marks and "end" in marks and marks["start"][1] is not None:
                (t0, c0, s0), (t1, c1, s1) = marks["start"], marks["end"]
                window = t1 - t0
                rec["server_cores"] = (c1 - c0) / window
                reqs = res.get("requests") or 0
                rec["server_cpu_us_per_req"] = (c1 - c0) / reqs * 1e6 if reqs else None
                lg_cpu = (res.get("loadgen_cpu_in_window") or 0) * window
                used, top = others_cpu(s0, s1, {srv.pid}, ours=lg_cpu, ignore=marks["load"])
                rec["other_cores"] = used / window
                rec["other_top"] = ["%s %.2f" % (name, u / window) for u, name in top]
        finally:
            if sampler and sampler.is_alive():
                sampler.stop()
            srv.stop()
            if cg:
                cg.remove()
        err = srv.stderr_text()
        rec["server_stderr"] = err[-400:]
        rec["server_stderr_first"] = err.split("\n", 1)[0]
        self.runs.append(rec)
        r = rec.get("result", {})
        if self.quiet:
            return rec
        log("%-6s %6d conns rep %d%s: %s req/s, p99 %s us, %s threads, mem/conn %s, %s" % (
            kind, conns, rep, "" if pinned else " (unpinned)", r.get("requests_per_second"), r.get("latency_us", {}).get("p99"),
            rec.get("threads_max"), human_bytes(rec.get("mem_per_conn")),
            "ok" if rec.get("ok") else "FAILED: " + " | ".join(rec.get("loadgen_log", [])[-2:])))
        return rec

    def checked(self, run, *args, **kw):
        """run(*args, **kw), repeated (at most twice) while other processes
        on the machine took more than --disturbed cores during its window.
        The least disturbed attempt counts; the others are kept in runs.json
        but left out of the tables."""
        limit = self.args.disturbed
        self.wait_quiet()
        attempts = [run(*args, **kw)]
        while limit > 0 and len(attempts) < 3 and \
                (attempts[-1].get("other_cores") or 0) > limit:
            log("other processes used %.2f cores (%s): repeating the run" % (
                attempts[-1]["other_cores"], ", ".join(attempts[-1].get("other_top", []))))
            self.wait_quiet()
            attempts.append(run(*args, **kw))
        best = min(attempts, key=lambda r: r.get("other_cores") or 0)
        for r in attempts:
            if r is not best:
                r["disturbed_phase"] = r.get("phase")
                r["phase"] = "disturbed"
        best["attempts"] = len(attempts)
        return best

    def wait_quiet(self):
        """Before a run: while other processes keep more than --disturbed
        cores busy (measured over 1 s), wait, for at most --quiet-wait
        seconds in the whole benchmark."""
        limit = self.args.disturbed
        while limit > 0 and self.quiet_budget > 0:
            a = all_cpu()
            time.sleep(1.0)
            used, top = others_cpu(a, all_cpu(), ())
            if used <= limit:
                return
            self.quiet_budget -= 1.0
            self.quiet_waited += 1.0
            if self.quiet_waited % 10 == 1:
                log("other processes use %.2f cores (%s): waiting for the machine to calm "
                    "down" % (used, ", ".join("%s %.2f" % (n, u) for u, n in top)))

    # ---- system calls per request: a separate, shorter run ----

    def syscall_events(self):
        avail = set()
        for d in ("/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls"):
            try:
                avail = set(os.listdir(d))
                break
            except OSError:
                continue
        return ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + s for s in SYSCALLS
                                             if not avail or "sys_enter_" + s in avail]

    def syscall_run(self, kind, conns, program=None, http=False):
        a = self.args
        name = "sys-%s-%d%s" % (kind, conns, "-http" if http else "")
        rec = {"kind": kind, "connections": conns, "http": http}
        argv = self.pin("server") + self.server_argv(kind, program)
        if self.perf:
            ctl = os.path.join(self.tmp, name + ".ctl")
            ack = os.path.join(self.tmp, name + ".ack")
            os.mkfifo(ctl)
            os.mkfifo(ack)
            out = os.path.join(self.tmp, name + ".perf")
            events = self.syscall_events()
            prefix = [self.perf, "stat", "-x,", "-o", out, "-e", ",".join(events)]
            if "syscalls:sys_enter_recvfrom" in events:
                # recvfrom calls that found nothing (the shim's fast path)
                prefix += ["-e", "syscalls:sys_exit_recvfrom", "--filter", "ret == -11"]
            if not http:
                prefix += ["-D", "-1", "--control", "fifo:%s,%s" % (ctl, ack)]
            prefix += ["--"]
            rec["tool"] = "perf"
            rec["command"] = "perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_… " + \
                ("" if http else "-D -1 --control fifo:CTL,ACK ") + "-- " + show(argv)
        elif self.strace:
            out = os.path.join(self.tmp, name + ".strace")
            prefix = [self.strace, "-c", "-f", "-o", out, "--"]
            rec["tool"] = "strace"
            rec["command"] = "strace -c -f -o OUT -- " + show(argv)
        else:
            return None
        srv = Server(argv, self.tmp, name, prefix=prefix)
        ctl_fd = ack_fd = None
        target = None
        try:
            srv.wait_listening()
            kids = children_of(srv.pid)
            target = kids[0] if kids else None
            if rec["tool"] == "perf" and not http:
                ack_fd = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)
                deadline = time.monotonic() + 5
                while True:
                    try:
                        ctl_fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)

            def control(cmd):
                if ctl_fd is None:
                    return
                os.write(ctl_fd, (cmd + "\n").encode())
                select.select([ack_fd], [], [], 2.0)
                try:
                    os.read(ack_fd, 64)
                except BlockingIOError:
                    pass

            if http:
                res = self.wrk(srv.port, conns, a.syscall_duration)
                rec["requests"] = res.get("requests")
            else:
                jpath = os.path.join(self.tmp, name + ".json")
                lg = self.loadgen_argv(srv.port, conns, 1, a.syscall_duration, jpath)
                p = subprocess.Popen(lg, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True)
                timer = threading.Timer(a.connect_limit + 60, p.kill)
                timer.start()
                for line in p.stderr:
                    if line.startswith("loadgen: measuring"):
                        control("enable")
                    elif line.startswith("loadgen: measured"):
                        control("disable")
                p.wait()
                timer.cancel()
                res = json.loads(read(jpath) or "{}")
                # strace counts the whole run: divide by every request made.
                rec["requests"] = res.get("requests") if rec["tool"] == "perf" else \
                    (res.get("requests_all_phases") or 0) + (res.get("established") or 0)
                rec["ok"] = bool(res.get("ok"))
        finally:
            for fd in (ctl_fd, ack_fd):
                if fd is not None:
                    os.close(fd)
            srv.stop(pid=target)
        counts = parse_perf(out) if rec["tool"] == "perf" else parse_strace(out)
        rec["counts"] = counts
        reqs = rec.get("requests") or 0
        if reqs and counts.get("total"):
            rec["per_request"] = {k: v / reqs for k, v in counts.items()}
        self.runs.append(dict(rec, phase="syscalls"))
        log("%-6s %6d conns%s: %s system calls per request" % (
            kind, conns, " (http)" if http else "",
            fmt_num(rec.get("per_request", {}).get("total"))))
        return rec

    # ---- wrk against the HTTP server ----

    def wrk(self, port, conns, dur, pinned=True):
        argv = self.pin("load", pinned) + ["wrk", "-t", str(self.load_threads(pinned)), "-c", str(conns), "-d", "%ds" % dur, "--latency",
                "--timeout", "10s", "http://127.0.0.1:%d/" % port]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.wrk_pid = p.pid
        try:
            stdout, _ = p.communicate(timeout=dur + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, _ = p.communicate()
        res = parse_wrk(stdout)
        res["command"] = " ".join(argv[:-1] + ["http://127.0.0.1:PORT/"])
        res["status"] = p.returncode
        return res

    def http_run(self, kind, conns, rep, pinned=True):
        a = self.args
        name = "http-%s-%d-%d-%d" % (kind, conns, rep, pinned)
        cg = Cgroup.create()
        argv = self.pin("server", pinned) + self.server_argv(kind, self.http)
        srv = Server(argv, self.tmp, name, cgroup=cg)
        rec = {"kind": kind, "connections": conns, "rep": rep, "server": show(argv),
               "phase": "http", "pinned": pinned}
        sampler = None
        try:
            port = srv.wait_listening()
            time.sleep(0.3)
            base_cg = cg.usage() if cg else None
            sampler = Sampler(srv.pid, cg)
            sampler.phase = "measure"
            sampler.start()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            c0, t0, o0 = proc_cpu(srv.pid), time.monotonic(), all_cpu()
            res = self.wrk(port, conns, a.http_duration, pinned)
            c1, t1, o1 = proc_cpu(srv.pid), time.monotonic(), all_cpu()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # wrk is the only child reaped meanwhile
            wrk_cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            rec["wrk_cores"] = wrk_cpu / (t1 - t0)
            used, top = others_cpu(o0, o1, {srv.pid, self.wrk_pid}, ours=wrk_cpu)
            rec["other_cores"] = used / (t1 - t0)
            rec["other_top"] = ["%s %.2f" % (name, u / (t1 - t0)) for u, name in top]
            sampler.stop()
            st = proc_status(srv.pid)
            rec["result"] = res
            rec["wrk"] = res.get("command")
            rec["ok"] = res.get("status") == 0 and bool(res.get("requests"))
            rec["peak_rss"] = st.get("VmHWM")
            thr = sampler.values("threads")
            rec["threads_max"] = max(thr) if thr else None
            cgs = sampler.values("cg")
            if cg and cgs and base_cg is not None:
                rec["mem_growth"] = max(cgs) - base_cg
                rec["mem_source"] = cg.usage_file
            if res.get("requests"):
                rec["server_cpu_us_per_req"] = (c1 - c0) / res["requests"] * 1e6
                rec["server_cores"] = (c1 - c0) / (t1 - t0)
        finally:
            if sampler and sampler.is_alive():
                sampler.stop()
            srv.stop()
            if cg:
                cg.remove()
        m = re.search(r"connections=(\d+)", srv.stderr_text())
        rec["accepted"] = int(m.group(1)) if m else None
        if "mem_growth" in rec:
            # per connection the server really had (wrk opens one more to start)
            rec["mem_per_conn"] = rec["mem_growth"] / min(conns, rec["accepted"] or conns)
        self.runs.append(rec)
        r = rec.get("result", {})
        log("http %-6s %6d conns rep %d: %s req/s, p99 %s us, errors %s, %s threads" % (
            kind, conns, rep, r.get("rps"), r.get("p99_us"), r.get("errors"),
            rec.get("threads_max")))
        return rec

    # ---- loadgen against itself ----

    def self_run(self, conns, procs=1):
        a = self.args
        port = free_port()
        pin = self.pin("server")
        argv = pin + [self.loadgen, "--serve", "-p", str(port)] + \
            (["-P", str(procs)] if procs > 1 else [])
        srv = Server(argv, self.tmp, "self-%d" % conns)
        shown = argv[:len(pin) + 3] + ["PORT"] + argv[len(pin) + 4:]
        rec = {"kind": "self", "connections": conns, "server": show(shown), "phase": "self"}
        try:
            srv.wait_listening()
            jpath = os.path.join(self.tmp, "self-%d.json" % conns)
            warm = max(a.warmup, round(conns / 25000.0, 1))
            lg = self.loadgen_argv(port, conns, warm, a.duration, None)
            i = lg.index("-p") + 1
            rec["loadgen"] = show(lg[:i] + ["PORT"] + lg[i + 1:])
            lg += ["--json", jpath]
            p = subprocess.Popen(lg, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 text=True)
            timer = threading.Timer(a.connect_limit + warm + a.duration + 120, p.kill)
            timer.start()
            lines, marks = [], {}
            for line in p.stderr:
                lines.append(line.rstrip("\n"))
                if line.startswith("loadgen: measuring"):
                    marks["start"] = (time.monotonic(), all_cpu())
                    marks["exclude"] = {srv.pid} | set(children_of(srv.pid))
                    marks["load"] = {p.pid} | set(children_of(p.pid))
                elif line.startswith("loadgen: measured"):
                    marks["end"] = (time.monotonic(), all_cpu())
            p.wait()
            timer.cancel()
            res = json.loads(read(jpath) or "{}")
            rec["result"] = res
            rec["ok"] = p.returncode == 0 and bool(res.get("ok"))
            rec["loadgen_log"] = lines[-3:]
            if "start" in marks and "end" in marks:
                (t0, o0), (t1, o1) = marks["start"], marks["end"]
                lg_cpu = (res.get("loadgen_cpu_in_window") or 0) * (t1 - t0)
                used, top = others_cpu(o0, o1, marks["exclude"], ours=lg_cpu,
                                       ignore=marks["load"])
                rec["other_cores"] = used / (t1 - t0)
                rec["other_top"] = ["%s %.2f" % (name, u / (t1 - t0)) for u, name in top]
        finally:
            srv.stop()
        self.runs.append(rec)
        r = rec["result"]
        log("loadgen vs itself %6d conns: %s req/s, connect %s s, %s" % (
            conns, r.get("requests_per_second"), r.get("connect_seconds"),
            "ok" if rec["ok"] else "FAILED"))
        return rec

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- parsers

def parse_perf(path):
    counts = {}
    for line in read(path).splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(",")
        if len(f) < 3:
            continue
        try:
            v = float(f[0])
        except ValueError:
            continue
        ev = f[2]
        if ev == "raw_syscalls:sys_enter":
            counts["total"] = v
        elif ev.startswith("syscalls:sys_enter_"):
            counts[ev[len("syscalls:sys_enter_"):]] = v
        elif ev == "syscalls:sys_exit_recvfrom":
            counts["recvfrom_eagain"] = v
    return counts


def parse_strace(path):
    counts = {}
    for line in read(path).splitlines():
        f = line.split()
        if len(f) >= 5 and f[0].replace(".", "").isdigit() and f[-1] != "total":
            try:
                counts[f[-1]] = float(f[3])
            except ValueError:
                pass
        elif f and f[-1] == "total" and len(f) >= 4:
            try:
                counts["total"] = float(f[2])
            except ValueError:
                pass
    return counts


UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
    res = {"raw": text[-600:]}
    for q in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % q, text, re.M)
        if m:
            res["p%s_us" % q] = float(m.group(1)) * UNITS[m.group(2)]
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", text, re.M)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["errors"] = sum(int(x) for x in m.groups()) if m else 0
    res["socket_errors"] = m.group(0) if m else ""
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non2xx"] = int(m.group(1)) if m else 0
    return res


# ---------------------------------------------------------------- formatting

def fmt_num(v, digits=3):
    """Three significant digits, thousands separated; '—' when missing."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    import math
    d = max(0, digits - 1 - int(math.floor(math.log10(a))))
    s = "{:.{d}f}".format(v, d=d)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def human_bytes(v):
    if v is None:
        return "—"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(v) >= div:
            return "%s %s" % (fmt_num(v / div), unit)
    return "%s B" % fmt_num(v)


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def spread(values):
    """Half the range relative to the median, in %; None for one value."""
    v = [x for x in values if x is not None]
    if len(v) < 2 or not statistics.median(v):
        return None
    return (max(v) - min(v)) / 2 / statistics.median(v) * 100


def ratio(value, base, higher_is_better):
    """'0.52× slower' style cell; the word says which way is worse."""
    if value is None or not base:
        return "—"
    r = value / base
    word = ""
    if higher_is_better and r < 0.95:
        word = " **slower**"
    elif not higher_is_better and r > 1.05:
        word = " **worse**"
    return "%s×%s" % (fmt_num(r), word)


# ---------------------------------------------------------------- echo report

LABEL = {"native": "native (threads)", "shim": "greenhouse", "shim-epoll": "greenhouse, epoll backend",
         "epoll": "epoll reference"}
SATURATED = 0.9  # load generator cores at or above which it, not the server, set the pace
DISTURBED = [0.5]  # other processes' cores above which a run counts as disturbed (--disturbed)


def other_cell(v):
    """Other processes' cores, with ‡ where they disturbed the run."""
    return fmt_num(v, 2) + (" ‡" if v is not None and DISTURBED[0] > 0 and v > DISTURBED[0]
                            else "")


def disturbed_note(values):
    if any(v is not None and DISTURBED[0] > 0 and v > DISTURBED[0] for v in values):
        return ["‡ Other processes on the machine took more than %s cores during this row's "
                "window in every attempt (the least disturbed one is shown): its numbers are "
                "less reliable than the others." % fmt_num(DISTURBED[0]), ""]
    return []


def echo_runs(runs, kind, conns, pinned=True):
    return [r for r in runs if r.get("kind") == kind and r.get("connections") == conns
            and r.get("phase") is None and r.get("pinned", True) == pinned]


def syscall_rec(bench, kind, n, http=False):
    return next((r for r in bench.runs if r.get("phase") == "syscalls"
                 and bool(r.get("http")) == http and r["kind"] == kind
                 and r["connections"] == n), None)


def echo_summary(bench, counts, kinds, pinned=True):
    """{(kind, n): medians over the repetitions that passed}."""
    out = {}
    for n in counts:
        for kind in kinds:
            rs = echo_runs(bench.runs, kind, n, pinned)
            good = [r for r in rs if r.get("ok")]
            m = {"n": len(good), "failed": len(rs) - len(good), "runs": rs}
            if good:
                def lat(q):
                    return med([r["result"]["latency_us"][q] for r in good])
                rps = [r["result"]["requests_per_second"] for r in good]
                sysrec = syscall_rec(bench, kind, n) if pinned else None
                per = (sysrec or {}).get("per_request", {})
                m.update({
                    "rps": med(rps), "spread": spread(rps),
                    "p50": lat("p50"), "p99": lat("p99"), "p999": lat("p999"),
                    "cpu": med([r.get("server_cpu_us_per_req") for r in good]),
                    "cores": med([r.get("server_cores") for r in good]),
                    "lgcores": med([r["result"].get("loadgen_cpu_in_window") for r in good]),
                    "lguser": med([r["result"].get("loadgen_user_in_window") for r in good]),
                    "other": med([r.get("other_cores") for r in good]),
                    "rss": med([r.get("peak_rss") for r in good]),
                    "base_anon": med([r.get("base_rss_anon") for r in good]),
                    "base_file": med([r.get("base_rss_file") for r in good]),
                    "mem": med([r.get("mem_per_conn") for r in good]),
                    "threads": med([r.get("threads_measure") or r.get("threads_max")
                                    for r in good]),
                    "sys": per.get("total"), "sysmain": per,
                    "checked": sum(r["result"].get("bytes_checked", 0) for r in good),
                })
            out[(kind, n)] = m
    return out


def good(m):
    return bool(m) and m.get("n", 0) > 0


def vs(kind, m, base, key, higher_is_better):
    if kind == "native":
        return "1×"
    if not good(base):
        return "—"
    return ratio(m.get(key), base.get(key), higher_is_better)


def failure_text(m):
    logs = [" / ".join(r.get("loadgen_log", [])[-2:]) or r.get("server_stderr", "")[-120:]
            for r in m["runs"] if not r.get("ok")]
    return ("FAILED %d of %d: %s" % (m["failed"], m["failed"] + m["n"], logs[0] if logs else "")
            ).replace("|", "/").replace("\n", " ")


def table_throughput(summary, counts, kinds):
    t = ["| Connections | Server | Requests/s | vs native | p50 µs | p99 µs | vs native | "
         "p99.9 µs | Server CPU µs/request | vs native | Server cores busy | "
         "Load generator cores | Other processes' cores |",
         "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in counts:
        base = summary.get(("native", n))
        for kind in kinds:
            m = summary.get((kind, n))
            if not good(m):
                t.append("| %s | %s | %s |||||||||||" % ("{:,}".format(n), LABEL[kind],
                                                         failure_text(m)))
                continue
            sat = m["lgcores"] is not None and m["lgcores"] >= SATURATED
            sp = " ±%s%%" % fmt_num(m["spread"], 2) if m["spread"] is not None else ""
            t.append("| %s | %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |" % (
                "{:,}".format(n), LABEL[kind], fmt_num(m["rps"]), sp, " †" if sat else "",
                vs(kind, m, base, "rps", True), fmt_num(m["p50"]), fmt_num(m["p99"]),
                vs(kind, m, base, "p99", False), fmt_num(m["p999"]), fmt_num(m["cpu"]),
                vs(kind, m, base, "cpu", False), fmt_num(m["cores"], 2),
                fmt_num(m["lgcores"], 2), " †" if sat else "", other_cell(m["other"])))
    return t


def table_memory(summary, counts, kinds):
    t = ["| Connections | Server | Peak RSS | vs native | Memory per connection | vs native | "
         "OS threads | System calls/request | vs native | Main system calls per request |",
         "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n in counts:
        base = summary.get(("native", n))
        for kind in kinds:
            m = summary.get((kind, n))
            if not good(m):
                t.append("| %s | %s | %s ||||||||" % ("{:,}".format(n), LABEL[kind],
                                                     failure_text(m)))
                continue
            main = sorted(((k, v) for k, v in m["sysmain"].items()
                           if k not in ("total", "recvfrom_eagain") and v >= 0.005),
                          key=lambda kv: -kv[1])[:4]
            eagain = m["sysmain"].get("recvfrom_eagain")
            t.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "{:,}".format(n), LABEL[kind], human_bytes(m["rss"]),
                vs(kind, m, base, "rss", False), human_bytes(m["mem"]),
                vs(kind, m, base, "mem", False), fmt_num(m["threads"]), fmt_num(m["sys"]),
                vs(kind, m, base, "sys", False),
                ", ".join("`%s` %s%s" % (k, fmt_num(v), " (EAGAIN %s)" % fmt_num(eagain)
                                         if k == "recvfrom" and eagain else "")
                          for k, v in main) or "—"))
    return t


def table_unpinned(summary, counts, kinds):
    t = ["| Connections | Server | Requests/s | vs native | p99 µs | vs native | "
         "Server CPU µs/request | Server cores busy | Load generator cores | OS threads |",
         "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in counts:
        base = summary.get(("native", n))
        for kind in kinds:
            m = summary.get((kind, n))
            if not good(m):
                t.append("| %s | %s | %s ||||||||" % ("{:,}".format(n), LABEL[kind],
                                                     failure_text(m)))
                continue
            sp = " ±%s%%" % fmt_num(m["spread"], 2) if m["spread"] is not None else ""
            t.append("| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
                "{:,}".format(n), LABEL[kind], fmt_num(m["rps"]), sp,
                vs(kind, m, base, "rps", True), fmt_num(m["p99"]),
                vs(kind, m, base, "p99", False), fmt_num(m["cpu"]), fmt_num(m["cores"], 2),
                fmt_num(m["lgcores"], 2), fmt_num(m["threads"])))
    return t


def echo_markdown(bench, counts, kinds, ucounts, lim, probe, selfruns, cmdline, elapsed):
    a = bench.args
    summary = echo_summary(bench, counts, kinds)
    usummary = echo_summary(bench, ucounts, kinds, pinned=False)
    out = []
    out.append("The legacy thread-per-connection echo server "
               "([tests/programs/echo_server.c](../tests/programs/echo_server.c): accept loop, "
               "`pthread_create` per client with default attributes, blocking `read`/`write`, a "
               "mutex-protected global counter) runs natively and, unmodified, under greenhouse. "
               "The epoll server "
               "([tests/bench/macro/epoll_echo_server.c](../tests/bench/macro/epoll_echo_server.c):"
               " one thread, non-blocking sockets, level-triggered epoll) is the event-driven "
               "program it would otherwise be rewritten into. The load generator "
               "([tests/bench/macro/loadgen.c](../tests/bench/macro/loadgen.c)) keeps one "
               "%d-byte message in flight on every connection (closed loop), checks every "
               "echoed byte, and puts each round trip in a histogram. A run counts only if all "
               "connections came up and not one byte was wrong, missing or extra." % a.size)
    out.append("")
    out.append("Measured at commit `%s`." % bench.version)
    out.append("")
    out.append("Commands (from the repository root; `PORT` is the port the server printed, "
               "`N` the connection count; the driver runs all of them):")
    out.append("")
    out.append("```")
    out.append("%s   # the driver (scripts/bench)" % cmdline)
    for kind, what in (("native", "natively"), ("shim", "under greenhouse"),
                       ("shim-epoll", "under greenhouse on its epoll backend"),
                       ("epoll", "the epoll reference")):
        if kind not in kinds:
            continue
        out.append("%s   # %s" % (show(bench.pin("server") + bench.server_argv(kind)), what))
    lg = bench.loadgen_argv("PORT", "N", "W", a.duration, None)
    out.append(show(lg) + "   # the load")
    if bench.perf:
        out.append("perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_read,... -e "
                   "syscalls:sys_exit_recvfrom --filter 'ret == -11' -D -1 --control "
                   "fifo:CTL,ACK -- SERVER   # system calls: a separate run, the same load "
                   "with -w 1 -d %s" % fmt_num(a.syscall_duration))
    elif bench.strace:
        out.append("strace -c -f -o OUT -- SERVER   # system calls: a separate run")
    out.append("```")
    out.append("")
    order = ", ".join(kinds)
    pin = ""
    if bench.server_cpus:
        pin = ("Servers run on CPU %s and the load generator on CPU %s (`taskset`), so that "
               "each side has its own core%s and the load generator's CPU use shows whether it "
               "kept up: every server gets the same CPUs, and greenhouse starts one carrier "
               "per CPU its affinity mask allows (see \"Unpinned\" below, and \"M:N on all "
               "cores\"). " % (",".join(map(str, bench.server_cpus)),
                             ",".join(map(str, bench.load_cpus)),
                             "s" if len(bench.server_cpus) > 1 else ""))
    out.append("Runs alternate (%s, %s, ... at one connection count, then the next count), "
               "%d repetitions each; a cell is the median of the repetitions that passed (of "
               "two, their mean) and `±` half the range of requests/s across them. "
               "`vs native` divides by the native server at the same count; **slower** or "
               "**worse** marks where it loses to native by more than 5%%. %sEvery process of "
               "the benchmark ran at nice %d, so that other work on this shared machine takes "
               "less CPU from it; \"other processes' cores\" shows how much it still took."
               % (order, order, a.reps, pin, bench.nice))
    out.append("")
    disturbed = [r for r in bench.runs if r.get("phase") == "disturbed"]
    if a.disturbed > 0:
        out.append("Before each run the driver waited while other processes kept more than "
                   "%s cores busy (%s s in all, of at most %s). " % (
                       fmt_num(a.disturbed), fmt_num(bench.quiet_waited), fmt_num(a.quiet_wait)) +
                   "A run during whose window other processes used more than %s cores was "
                   "repeated, at most twice, and the least disturbed attempt counted; %s." % (
                       fmt_num(a.disturbed),
                       "no run needed it" if not disturbed else "%d attempts were set aside: %s" % (
                           len(disturbed), "; ".join(
                               "%s%s at %s (%s)" % (
                                   LABEL.get(r["kind"], "load generator against itself"),
                                   " (HTTP)" if r.get("disturbed_phase") == "http" else "",
                                   "{:,}".format(r["connections"]),
                                   ", ".join(r.get("other_top", [])))
                               for r in disturbed))))
        out.append("")
    out.append("### Throughput and latency")
    out.append("")
    out += table_throughput(summary, counts, kinds)
    out.append("")
    out += disturbed_note([m.get("other") for m in summary.values() if good(m)])
    sat_rows = [(k, n) for (k, n), m in summary.items()
                if good(m) and m["lgcores"] is not None and m["lgcores"] >= SATURATED]
    if sat_rows:
        out.append("† The load generator kept %s or more of its core busy: it, not the server, "
                   "set the pace, so the server's requests/s there is a lower bound (%s)." % (
                       fmt_num(SATURATED), ", ".join("%s at %s" % (LABEL[k], "{:,}".format(n))
                                                     for k, n in sorted(sat_rows, key=lambda x: x[1]))))
        out.append("")
    out.append("### Memory, OS threads, system calls")
    out.append("")
    out += table_memory(summary, counts, kinds)
    out.append("")
    if ucounts:
        out.append("### Unpinned")
        out.append("")
        out.append("The same runs without `taskset`: server and load generator share all %d "
                   "cores, as a program is usually run. The native server's threads spread "
                   "over every core; greenhouse runs them on one carrier per core, and its "
                   "carriers take work from each other." %
                   len(os.sched_getaffinity(0)))
        out.append("")
        out += table_unpinned(usummary, ucounts, kinds)
        out.append("")
    out.append("How each column is measured:")
    out.append("")
    out.append("- Requests/s and latency: the load generator, over the %s s measurement window "
               "that follows W s of warm-up once all connections are up (W = %s, or 1 s per "
               "5,000 connections where that is longer: thousands of native threads woken at "
               "once need seconds for their first round). Latency is the round trip of one "
               "message; in a closed loop, p50 ≈ connections ÷ requests/s." %
               (fmt_num(a.duration), fmt_num(a.warmup)))
    out.append("- Server CPU per request and cores busy: the server's utime+stime "
               "(`/proc/PID/stat`, all its threads) over the window, ÷ requests and ÷ the "
               "window. Load generator cores: its threads' CPU time in the window "
               "(`CLOCK_THREAD_CPUTIME_ID`). Other processes' cores: the machine's busy time "
               "(`/proc/stat`) over the window less the server's, the load generator's and "
               "kernel threads' (`/proc/*/stat`), ÷ the window.")
    if bench.cgroup_kind:
        out.append("- Memory per connection: each server runs in a memory cgroup of its own; "
                   "(`%s` at its highest in the window − the idle server's) ÷ connections. "
                   "This is what the server costs the system, the kernel's part included: "
                   "thread stacks and task structures, page tables, socket memory charged to "
                   "it. RSS leaves out an OS thread's kernel stack and task. Peak RSS: `VmHWM` "
                   "of `/proc/PID/status` at the end of the run." % bench.cgroup_kind)
    else:
        out.append("- Memory per connection: drop of `MemAvailable` (`/proc/meminfo`) from the "
                   "idle server to the loaded one, ÷ connections; system-wide (no memory "
                   "cgroup could be made), so it includes the load generator's sockets and "
                   "whatever else ran. Peak RSS: `VmHWM` of `/proc/PID/status`.")
    out.append("- OS threads: `Threads:` of `/proc/PID/status` during the window.")
    if bench.perf:
        out.append("- System calls per request: a separate run of %s s after 1 s of warm-up, "
                   "the server under `perf stat` with its counters enabled only during the "
                   "load generator's window (`--control`), ÷ the requests of that window. "
                   "`raw_syscalls:sys_enter` counts all calls; the main ones are the "
                   "`syscalls:sys_enter_*` tracepoints; EAGAIN counts the `recvfrom` calls that "
                   "returned -EAGAIN (`syscalls:sys_exit_recvfrom` filtered on `ret == -11`)."
                   % fmt_num(a.syscall_duration))
    elif bench.strace:
        out.append("- System calls per request: a separate run under `strace -c -f` (no "
                   "`perf` here), all calls of the run ÷ all requests including set-up.")
    out.append("")

    # ---- limits ----
    out.append("### Limits reached")
    out.append("")
    out.append("| Limit | Value | What it bounds |")
    out.append("|---|---|---|")
    out.append("| `ulimit -n` (RLIMIT_NOFILE), soft / hard | %s / %s | descriptors per process: "
               "one per connection in the server and in each load generator process; the "
               "programs raise soft to hard. Raising the hard limit needs CAP_SYS_RESOURCE, "
               "which this account %s. |" % (
                   fmt_limit(lim["nofile_soft"]), fmt_limit(lim["nofile_hard"]),
                   "has" if lim["cap_sys_resource"] else "does not have"))
    out.append("| `fs.nr_open` | %s | the highest RLIMIT_NOFILE there can be |" % lim["nr_open"])
    out.append("| `ulimit -u` (RLIMIT_NPROC) | %s | tasks (OS threads) of the user: the native "
               "server |" % fmt_limit(lim["nproc_soft"]))
    out.append("| `kernel.threads-max` / `kernel.pid_max` | %s / %s | OS threads on the machine; "
               "every native thread takes a pid |" % (lim["threads-max"], lim["pid_max"]))
    out.append("| `vm.max_map_count` | %s | mappings per process; a native thread's stack takes "
               "two (stack, guard) |" % lim["max_map_count"])
    stack = lim["stack_soft"]
    out.append("| `ulimit -s` | %s | a native thread's default stack, reserved (touched pages "
               "count) |" % ("%d KiB" % (stack // 1024) if stack > 0 else fmt_limit(stack)))
    out.append("| `net.ipv4.ip_local_port_range` | %s | ephemeral ports per source/destination "
               "pair; the load generator binds one 127.0.0.x source address per 10,000 "
               "connections |" % lim["ip_local_port_range"])
    out.append("| `net.core.somaxconn` | %s | listen backlog; the load generator sets up at most "
               "64 connections at a time per thread |" % lim["somaxconn"])
    out.append("")
    top = max(counts)
    held = {k: summary.get((k, top)) for k in kinds}
    out.append("The largest count in the tables, %s, is the descriptor limit less 100 for "
               "headroom; %s." % ("{:,}".format(top), "; ".join(
                   "%s %s" % (LABEL[k], "held all of them with %s OS thread(s)" %
                              fmt_num(m["threads"]) if good(m) else "failed")
                   for k, m in held.items())))
    if probe:
        r = probe.get("result", {})
        err = [probe["server_stderr_first"]] if probe.get("server_stderr_first") else []
        out.append("")
        out.append("To see what stops greenhouse, one more run asks for %s connections (the "
                   "command above with `-c %d -w 0.5 -d 1 -T %s`): the server under greenhouse "
                   "held **%s** of them on %s OS thread(s), served them all (%s requests in "
                   "the window, %s bytes wrong), and the first error it printed was `%s`. The "
                   "limit reached is one process's descriptor limit, not the shim: every "
                   "connection is a descriptor, in the native and the epoll server alike." % (
                       "{:,}".format(probe["connections"]), probe["connections"],
                       fmt_num(bench.args.probe_connect_limit),
                       "{:,}".format(r.get("established", 0)),
                       fmt_num(probe.get("threads_max")), "{:,}".format(r.get("requests", 0)),
                       r.get("mismatched", "—"), err[0] if err else "none"))
    out.append("")

    # ---- load generator against itself ----
    if selfruns:
        out.append("### The load generator against itself")
        out.append("")
        out.append("`loadgen --serve` is the load generator's own echo responder, on the same "
                   "event loop; with the same CPU split, the client reaches the rates below "
                   "against it. The last row shows that it holds 100,000 connections (several "
                   "processes on each side, as one process has %s descriptors)." %
                   "{:,}".format(lim["nofile_hard"]))
        out.append("")
        out.append("```")
        for r in selfruns:
            out.append("%s &   %s" % (r["server"], r.get("loadgen", "")))
        out.append("```")
        out.append("")
        out.append("| Connections | Processes per side | Connect time s | Requests/s | p50 µs "
                   "| p99 µs | p99.9 µs | Load generator cores | Bytes checked | Result |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in selfruns:
            res = r.get("result", {})
            lat = res.get("latency_us") or {}
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "{:,}".format(r["connections"]), res.get("processes", "—"),
                fmt_num(res.get("connect_seconds")), fmt_num(res.get("requests_per_second")),
                fmt_num(lat.get("p50")), fmt_num(lat.get("p99")), fmt_num(lat.get("p999")),
                fmt_num(res.get("loadgen_cpu_in_window"), 2),
                "{:,}".format(res.get("bytes_checked", 0)),
                "ok" if r.get("ok") else "FAILED: %s" % (res.get("first_error") or
                                                         " / ".join(r.get("loadgen_log", [])))))
        out.append("")
        out += bottleneck_notes(summary, counts, kinds)
    out += diagnosis(bench, summary, usummary, counts, ucounts)
    out.append("The macro benchmark (all of the above, the HTTP runs below included) took %s s."
               % fmt_num(elapsed))
    return "\n".join(out)


def bottleneck_notes(summary, counts, kinds):
    rows = [(n, k, summary[(k, n)]) for n in counts for k in kinds if good(summary.get((k, n)))]
    if not rows:
        return []
    free = [(n, k) for n, k, m in rows if m["lgcores"] is not None and m["lgcores"] < SATURATED]
    busy = [(n, k, m) for n, k, m in rows if m["lgcores"] is not None and m["lgcores"] >= SATURATED]
    out = ["Was the load generator the bottleneck? It has a core of its own; where it used "
           "less than %s of it, it was waiting for the server. That holds for %d of the %d "
           "table rows%s." % (
               fmt_num(SATURATED), len(free), len(rows),
               "" if not busy else "; it does not hold for %s, marked † above" % ", ".join(
                   "%s at %s (%s)" % (LABEL[k], "{:,}".format(n), fmt_num(m["lgcores"], 2))
                   for n, k, m in busy)), ""]
    shares = [m["lguser"] / m["lgcores"] for n, k, m in rows if m.get("lguser") is not None
              and m["lgcores"]]
    if shares:
        out.append("What keeps that core busy is mostly not the load generator's own code: its "
                   "user time was %s%% to %s%% of its CPU time in these runs, the rest is the "
                   "kernel's loopback TCP work in its system calls. On loopback the sending CPU "
                   "also runs the receiving socket's TCP input and wakes the receiving thread, so "
                   "part of that work is done for the server, and a server whose threads are "
                   "dearer to wake (thousands of sleeping OS threads) costs the load generator's "
                   "core more per request. The load generator itself is not what limits these "
                   "runs; a machine with more cores for the load side would lift the † rows." % (
                       fmt_num(min(shares) * 100, 2), fmt_num(max(shares) * 100, 2)))
        out.append("")
    nat_shim = [(n, k) for n, k, m in busy if k in ("native", "shim")]
    out.append("For the comparison this benchmark is about, native against greenhouse, the "
               "load generator %s." % (
                   "was never the bottleneck" if not nat_shim else
                   "was saturated in %d run(s): %s" % (len(nat_shim), ", ".join(
                       "%s at %s" % (LABEL[k], "{:,}".format(n)) for n, k in nat_shim))))
    out.append("")
    return out


def diagnosis(bench, summary, usummary, counts, ucounts):
    """Where greenhouse loses to native in this run, with what the run says
    about why, and what would fix it."""
    out = ["### Where greenhouse is slower than native, and why", ""]
    losses = {"rps": [], "p99": [], "cpu": [], "rss": [], "mem": [], "sys": [], "urps": []}
    for n in counts:
        s, nat = summary.get(("shim", n)), summary.get(("native", n))
        if not good(s) or not good(nat):
            continue
        for key, higher in (("rps", True), ("p99", False), ("cpu", False), ("rss", False),
                            ("mem", False), ("sys", False)):
            if s.get(key) is None or not nat.get(key):
                continue
            r = s[key] / nat[key]
            # System calls: docs/requirements.md#runtime wants fewer than native, so "as many" is a loss too.
            if (higher and r < 0.95) or (not higher and r > (1.0 if key == "sys" else 1.05)):
                losses[key].append((n, s, nat, r))
    for n in ucounts:
        s, nat = usummary.get(("shim", n)), usummary.get(("native", n))
        if good(s) and good(nat) and nat["rps"] and s["rps"] < 0.95 * nat["rps"]:
            losses["urps"].append((n, s, nat, s["rps"] / nat["rps"]))
    if not any(losses.values()):
        out.append("Nowhere in this run: greenhouse was within 5% of native or better on "
                   "every measure at every count.")
        out.append("")
        return out

    def where(items, fmt_item):
        return "; ".join(fmt_item(n, s, nat, r) for n, s, nat, r in items)

    if losses["rps"] or losses["cpu"]:
        items = losses["rps"] or losses["cpu"]
        out.append("- **Requests/s or CPU per request, pinned** (%s). Server CPU per request "
                   "greenhouse/native: %s." % (
                       where(items, lambda n, s, nat, r: "%s connections: %s×" % (
                           "{:,}".format(n), fmt_num(r))),
                       ", ".join("%s at %s" % (fmt_num(s["cpu"] / nat["cpu"]) + "×",
                                               "{:,}".format(n))
                                 for n, s, nat, _ in items if s["cpu"] and nat["cpu"])))
        out.append("  Why (from the columns, not measured separately): where greenhouse spends "
                   "more CPU per request than native, its own machinery costs more than the "
                   "kernel's thread switch: per request a ring submission, a completion, a "
                   "green switch, and a share of an `io_uring_enter` that fewer requests share "
                   "when there are few connections (see the system calls table). Where it "
                   "spends less CPU per request but serves fewer, the server core was not "
                   "kept busy (cores busy column): the carrier waited in the ring while the "
                   "native threads ran. What would fix it: batch more per `io_uring_enter` "
                   "(submit sends through the ring as well), and more carriers on machines "
                   "with cores to spare.")
    if losses["p99"]:
        out.append("- **p99 latency, pinned** (%s)." % where(
            losses["p99"], lambda n, s, nat, r: "%s connections: %s vs %s µs, %s×" % (
                "{:,}".format(n), fmt_num(s["p99"]), fmt_num(nat["p99"]), fmt_num(r))))
        out.append("  Likely why (not measured separately): one carrier serves its green "
                   "threads in FIFO order and looks at the ring only when it runs out of "
                   "runnable threads or every 64 switches (docs/design.md, \"The scheduler\"), "
                   "so a connection whose data has arrived can wait for a whole round of "
                   "others, while the kernel runs a woken native thread almost at once. What "
                   "would fix it: look at the ring more often while completions are pending, "
                   "or spread connections over several carriers.")
    if losses["rss"]:
        out.append("- **Peak RSS** (%s). The idle server under greenhouse has %s of "
                   "anonymous and %s of file-backed resident memory, natively %s and %s." % (
                       where(losses["rss"], lambda n, s, nat, r: "%s connections: %s vs %s" % (
                           "{:,}".format(n), human_bytes(s["rss"]), human_bytes(nat["rss"]))),
                       human_bytes(losses["rss"][0][1]["base_anon"]),
                       human_bytes(losses["rss"][0][1]["base_file"]),
                       human_bytes(losses["rss"][0][2]["base_anon"]),
                       human_bytes(losses["rss"][0][2]["base_file"])))
        lost = {n for n, _, _, _ in losses["rss"]}
        won = [(n, summary[("shim", n)]["rss"] / summary[("native", n)]["rss"]) for n in counts
               if n not in lost and good(summary.get(("shim", n)))
               and good(summary.get(("native", n))) and summary[("native", n)]["rss"]]
        out.append("  Why: a fixed cost, most of it file-backed pages of `libgreenhouse.so` and "
                   "of the C++ runtime it pulls in (`libstdc++`, `libm`), which are shared with "
                   "every other process that maps them. A connection costs greenhouse less than "
                   "native, so the fixed cost is repaid as connections grow%s. What would fix "
                   "it: link the shim without the shared C++ runtime (`-static-libstdc++`, no "
                   "`libm`)." % (
                       ": at %s connections greenhouse's peak RSS is %s× native's" % (
                           "{:,}".format(won[0][0]), fmt_num(won[0][1])) if won else ""))
    if losses["mem"]:
        out.append("- **Memory per connection** (%s)." % where(
            losses["mem"], lambda n, s, nat, r: "%s connections: %s vs %s" % (
                "{:,}".format(n), human_bytes(s["mem"]), human_bytes(nat["mem"]))))
    if losses["sys"]:
        out.append("- **System calls per request** (%s): not fewer than native, which docs/requirements.md#runtime "
                   "expects at high concurrency." % where(
                       losses["sys"], lambda n, s, nat, r: "%s connections: %s vs %s" % (
                           "{:,}".format(n), fmt_num(s["sys"]), fmt_num(nat["sys"]))))
        fr = ["%s%% at %s connections" % (
                  fmt_num(s["sysmain"]["recvfrom_eagain"] / s["sysmain"]["recvfrom"] * 100, 4),
                  "{:,}".format(n))
              for n, s, nat, _ in losses["sys"]
              if s["sysmain"].get("recvfrom") and s["sysmain"].get("recvfrom_eagain") is not None]
        fast = [(n, s) for n, s, nat, _ in losses["sys"] if (s["sysmain"].get("recvfrom") or 0) >= 0.5]
        if fast:
            out.append("  Why: the main calls column shows it. Each `read` of the program first "
                       "tries a non-blocking `recvfrom` (the fast path)%s: in a request/response "
                       "protocol the socket is empty when the thread comes back to read (the "
                       "client has not sent the next request yet), and only then does the read "
                       "go to the ring. Each `write` is a `sendto`. What would fix it: remember "
                       "per descriptor that the last attempt found nothing and submit the "
                       "receive to the ring directly (io_uring tries the socket itself before "
                       "it waits), and let writes of many green threads go out through the "
                       "ring too." % (", which returned EAGAIN on " + ", ".join(fr) if fr else ""))
        else:
            out.append("  Why: the main calls column shows which calls remain: each `write` is "
                       "still a `sendto` of its own, and where few green threads park between "
                       "two looks at the ring, an `io_uring_enter` carries few requests. What "
                       "would fix it: submit sends through the ring as well when many green "
                       "threads write at once, so that one `io_uring_enter` carries the I/O of "
                       "many requests.")
    if losses["urps"]:
        out.append("- **Requests/s, unpinned** (%s). Server cores busy, native vs greenhouse: "
                   "%s." % (
                       where(losses["urps"], lambda n, s, nat, r: "%s connections: %s×" % (
                           "{:,}".format(n), fmt_num(r))),
                       ", ".join("%s vs %s at %s" % (fmt_num(nat["cores"], 2),
                                                     fmt_num(s["cores"], 2), "{:,}".format(n))
                                 for n, s, nat, _ in losses["urps"])))
        out.append("  Why: `pthread_create` under greenhouse makes a green thread on the "
                   "calling OS thread, so all connections of the accept loop run on one "
                   "carrier, one core at most, while the native server's threads use every "
                   "core. What would fix it: several carriers (a carriers setting is planned, "
                   "docs/requirements.md#configuration) with new green threads placed across them; each green thread "
                   "stays on its carrier (docs/design.md, \"Rejected designs\": work stealing).")
    out.append("")
    return out


# ---------------------------------------------------------------- http report

def http_markdown(bench, counts, kinds):
    a = bench.args
    runs = [r for r in bench.runs if r.get("phase") == "http"]
    label = {"native": "native (threads)", "shim": "greenhouse"}
    losses = []
    others = []
    out = []
    out.append("The thread-per-connection HTTP/1.1 keep-alive server "
               "([tests/programs/http_server.c](../tests/programs/http_server.c), same style as "
               "the echo server, a fixed %d-byte body, `-s`) natively and under greenhouse, loaded "
               "by [wrk](https://github.com/wg/wrk) (Debian package `wrk`) with the same CPU "
               "split, alternating, %d repetitions, medians." % (a.http_body, a.reps))
    out.append("")
    out.append("```")
    out.append(show(bench.pin("server") + bench.server_argv("native", bench.http)) +
               "   # natively")
    out.append(show(bench.pin("server") + bench.server_argv("shim", bench.http)) +
               "   # under greenhouse")
    sample = next((r.get("wrk") for r in runs if r.get("wrk")), None)
    if sample:
        out.append(sample.replace("-c %d" % runs[0]["connections"], "-c N"))
    if bench.perf:
        out.append("perf stat -x, -e raw_syscalls:sys_enter,... -- SERVER   # separate run, "
                   "wrk -d %ss, whole run" % fmt_num(a.syscall_duration))
    out.append("```")
    out.append("")
    out.append("| Connections | Server | Connections accepted | Requests/s | vs native | p50 µs | "
               "p99 µs | vs native | wrk socket errors | Server CPU µs/request | vs native | Server cores busy | "
               "wrk cores | Other processes' cores | Peak RSS | Memory per connection | "
               "vs native | OS threads | System calls/request |")
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
               "---:|---:|---:|")
    for n in counts:
        base = {}
        for kind in kinds:
            rs = [r for r in runs if r["kind"] == kind and r["connections"] == n]
            good_runs = [r for r in rs if r.get("ok")]
            if not good_runs:
                out.append("| %s | %s | FAILED: %s ||||||||||||||||" % (
                    "{:,}".format(n), label[kind], " / ".join(
                        r.get("result", {}).get("raw", "")[-100:].replace("\n", " ")
                        for r in rs).replace("|", "/")))
                continue
            sysrec = syscall_rec(bench, kind, n, http=True)
            rl = [r["result"]["rps"] for r in good_runs]
            m = {
                "rps": med(rl),
                "accepted": med([r.get("accepted") for r in good_runs]),
                "p50": med([r["result"].get("p50_us") for r in good_runs]),
                "p99": med([r["result"].get("p99_us") for r in good_runs]),
                "err": med([r["result"].get("errors") for r in good_runs]),
                "cpu": med([r.get("server_cpu_us_per_req") for r in good_runs]),
                "cores": med([r.get("server_cores") for r in good_runs]),
                "wrk": med([r.get("wrk_cores") for r in good_runs]),
                "other": med([r.get("other_cores") for r in good_runs]),
                "rss": med([r.get("peak_rss") for r in good_runs]),
                "mem": med([r.get("mem_per_conn") for r in good_runs]),
                "threads": med([r.get("threads_max") for r in good_runs]),
                "sys": (sysrec or {}).get("per_request", {}).get("total"),
            }
            others.append(m["other"])
            if kind == "native":
                base = m
            else:
                like = base.get("accepted") and m.get("accepted") and \
                    abs(m["accepted"] - base["accepted"]) <= 0.05 * n
                for key, higher in (("rps", True), ("p99", False), ("cpu", False),
                                    ("rss", False), ("mem", False), ("sys", False)):
                    if key in ("rss", "sys") and not like:
                        continue  # not the same number of connections: not comparable
                    if m.get(key) is not None and base.get(key):
                        r = m[key] / base[key]
                        if (higher and r < 0.95) or (not higher and r > 1.05):
                            losses.append((n, key, m[key], base[key], r))
            sp = spread(rl)
            sat = m["wrk"] is not None and m["wrk"] >= SATURATED
            out.append("| %s | %s | %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s%s | "
                       "%s | %s | %s | %s | %s | %s |" % (
                           "{:,}".format(n), label[kind], fmt_num(m["accepted"]), fmt_num(m["rps"]),
                           " ±%s%%" % fmt_num(sp, 2) if sp is not None else "",
                           " †" if sat else "",
                           "1×" if kind == "native" else ratio(m["rps"], base.get("rps"), True),
                           fmt_num(m["p50"]), fmt_num(m["p99"]),
                           "1×" if kind == "native" else ratio(m["p99"], base.get("p99"), False),
                           fmt_num(m["err"]), fmt_num(m["cpu"]),
                           "1×" if kind == "native" else ratio(m["cpu"], base.get("cpu"), False),
                           fmt_num(m["cores"], 2), fmt_num(m["wrk"], 2), " †" if sat else "",
                           other_cell(m["other"]), human_bytes(m["rss"]), human_bytes(m["mem"]),
                           "1×" if kind == "native" else ratio(m["mem"], base.get("mem"), False),
                           fmt_num(m["threads"]), fmt_num(m["sys"])))
    out.append("")
    out.append("† wrk kept %s or more of its core busy: the server may be faster than shown."
               % fmt_num(SATURATED))
    out.append("")
    out += disturbed_note(others)
    names = {"rps": "requests/s", "p99": "p99 µs", "cpu": "server CPU µs/request",
             "rss": "peak RSS", "mem": "memory per connection", "sys": "system calls/request"}
    if losses:
        out.append("Where greenhouse loses to native here: %s. The causes are those given for "
                   "the echo server above." % "; ".join(
                       "%s at %s connections (%s vs %s, %s×)" % (
                           names[k], "{:,}".format(n),
                           human_bytes(v) if k in ("rss", "mem") else fmt_num(v),
                           human_bytes(b) if k in ("rss", "mem") else fmt_num(b), fmt_num(r))
                       for n, k, v, b, r in losses))
    else:
        out.append("Greenhouse was within 5% of native or better on every measure here.")
    out.append("")
    out.append("wrk opens all its connections at once and measures from the start, so the "
               "first moments include connection set-up (the listen backlog is `somaxconn`); "
               "connections accepted is the server's own count (printed when it is stopped): "
               "where it is below the connection count, the rest were still waiting in the "
               "backlog when the run ended (memory per connection divides by the connections "
               "accepted; peak RSS and system calls are not compared where the counts "
               "differ). wrk's socket errors are shown as reported. It reports no p99.9. System calls per "
               "request count the whole run, set-up included, ÷ wrk's requests. Memory and "
               "CPU are measured as for the echo server, over the whole wrk run; wrk cores is "
               "wrk's CPU time (`getrusage` of the reaped child) ÷ its run.")
    return "\n".join(out)


# ---------------------------------------------------------------- commands

def set_nice(n):
    """Raises (or lowers) this process's priority; children inherit it.
    Returns the niceness in effect."""
    if n is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, n)
        except OSError as e:
            log("cannot set nice %d (%s); running at %d" % (n, e, os.getpriority(
                os.PRIO_PROCESS, 0)))
    return os.getpriority(os.PRIO_PROCESS, 0)


def cmd_bench(args):
    DISTURBED[0] = args.disturbed
    bench = Bench(args)
    lim = limits()
    counts = [int(x) for x in args.counts.split(",") if x]
    if args.max:
        mx = args.max if args.max > 0 else (lim["nofile_hard"] - 100) // 100 * 100
        if mx not in counts:
            counts.append(mx)
    kinds = args.servers.split(",")
    cmdline = "python3 " + " ".join([rel(os.path.abspath(sys.argv[0]))] +
                                    [shlex.quote(rel(x)) if os.path.exists(x) else shlex.quote(x)
                                     for x in sys.argv[1:]])
    t_start = time.monotonic()
    bench.nice = set_nice(args.nice)
    ucounts = [int(x) for x in args.unpinned_counts.split(",") if x] if bench.server_cpus else []
    try:
        for n in counts:
            for rep in range(args.reps):
                for kind in kinds:
                    bench.checked(bench.echo_run, kind, n, rep)
        for n in ucounts:
            for rep in range(args.reps):
                for kind in kinds:
                    bench.checked(bench.echo_run, kind, n, rep, pinned=False)
        for n in counts:
            for kind in kinds:
                if args.syscall_duration > 0:
                    bench.syscall_run(kind, n)
        probe = None
        if args.max and "shim" in kinds:
            pn = lim["nofile_hard"] + args.probe_extra
            probe = bench.echo_run("shim", pn, 0, warm=0.5, dur=1,
                                   extra=["-T", str(args.probe_connect_limit)])
            probe["phase"] = "probe"
        selfruns = []
        if args.selftest:
            for n in counts:
                if n <= lim["nofile_hard"] - 100:
                    selfruns.append(bench.checked(bench.self_run, n))
            if args.selftest_max:
                per = lim["nofile_hard"] - 200
                procs = -(-args.selftest_max // per) + 1
                selfruns.append(bench.checked(bench.self_run, args.selftest_max, procs=procs))
        http_counts = [int(x) for x in args.http_counts.split(",") if x]
        hkinds = [k for k in kinds if k in ("native", "shim")]
        if http_counts and shutil.which("wrk"):
            for n in http_counts:
                for rep in range(args.reps):
                    for kind in hkinds:
                        bench.checked(bench.http_run, kind, n, rep)
            if args.syscall_duration > 0 and bench.perf:
                for n in http_counts:
                    for kind in hkinds:
                        bench.syscall_run(kind, n, program=bench.http, http=True)
        os.makedirs(args.out_dir, exist_ok=True)
        elapsed = time.monotonic() - t_start
        echo_md = echo_markdown(bench, counts, kinds, ucounts, lim, probe, selfruns, cmdline,
                                elapsed)
        with open(os.path.join(args.out_dir, "echo.md"), "w") as f:
            f.write(echo_md)
        if http_counts and shutil.which("wrk"):
            with open(os.path.join(args.out_dir, "http.md"), "w") as f:
                f.write(http_markdown(bench, http_counts, hkinds))
        with open(os.path.join(args.out_dir, "runs.json"), "w") as f:
            json.dump({"limits": lim, "runs": bench.runs}, f, indent=1, default=str)
        failed = [r for r in bench.runs if r.get("phase") in (None, "http") and not r.get("ok")]
        if failed:
            log("%d run(s) failed; see the tables" % len(failed))
    finally:
        bench.cleanup()


def pool_stats(path):
    """The last "pool: ..." line of a shim log at debug level: (carriers,
    spares, hand-offs, steals, mode, switches kept, switches tried), or None.
    mode is "spread" or "packed" (GREENHOUSE_SPREAD)."""
    last = None
    for line in read(path).splitlines():
        m = re.search(r"pool: (\d+) carriers \((\d+) spare, \d+ idle\), (\d+) hand-offs, "
                      r"(\d+) steals, (spread|packed) \((\d+) of (\d+) switches kept\)", line)
        if m:
            g = m.groups()
            last = tuple(int(x) for x in g[:4]) + (g[4], int(g[5]), int(g[6]))
    return last


def cmd_mn(args):
    """M:N on all cores: unpinned echo runs of every kind, and the CPU-heavy
    server natively and under greenhouse. Writes mn.md."""
    args.pin = False
    bench = Bench(args)
    bench.nice = set_nice(args.nice)
    kinds = ["native", "shim", "epoll"] + (["go"] if bench.go else [])
    counts = [int(x) for x in args.counts.split(",") if x]
    t_start = time.monotonic()
    table = []  # (section, kind, conns, rec)

    def one(section, kind, n, rep):
        logf = os.path.join(bench.tmp, "shim-%s-%d-%d.log" % (section, n, rep))
        bench.shim_env = ["GREENHOUSE_LOG_LEVEL=debug", "GREENHOUSE_LOG_FILE=" + logf] \
            if kind == "shim" else []
        if section == "http":
            rec = bench.checked(bench.http_run, kind, n, rep, pinned=False)
            # In the echo runs' terms, for the tables.
            res = rec.setdefault("result", {})
            res["requests_per_second"] = res.get("rps")
            res["latency_us"] = {"p99": res.get("p99_us")}
        else:
            rec = bench.checked(bench.echo_run, kind, n, rep, pinned=False)
        bench.shim_env = []
        if kind == "shim":
            rec["pool"] = pool_stats(logf)
        rec["phase"] = "mn-" + section
        table.append((section, kind, n, rec))

    http_kinds = ["native", "shim", "epoll"] + (["go"] if bench.go_http else [])
    try:
        for n in counts:
            for rep in range(args.reps):
                for kind in kinds:
                    one("echo", kind, n, rep)
        if shutil.which("wrk"):
            for n in counts:
                for rep in range(args.reps):
                    for kind in http_kinds:
                        one("http", kind, n, rep)
        bench.server_extra = ["-w", str(args.work)]
        for rep in range(args.reps):
            for kind in ["native", "shim"] + (["go"] if bench.go else []):
                one("cpu", kind, args.cpu_connections, rep)
        bench.server_extra = []
        elapsed = time.monotonic() - t_start
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "mn.md"), "w") as f:
            f.write(mn_markdown(bench, table, kinds, counts, args, elapsed))
        with open(os.path.join(args.out_dir, "mn-runs.json"), "w") as f:
            json.dump(bench.runs, f, indent=1, default=str)
    finally:
        bench.cleanup()


def mn_markdown(bench, table, kinds, counts, args, elapsed):
    names = {"native": "native threads", "shim": "greenhouse", "epoll": "epoll reference",
             "go": "Go (goroutine per connection)"}
    cpus = len(os.sched_getaffinity(0))
    out = []
    out.append("Server and load generator unpinned: they share all %d CPUs, as a server "
               "deployed on a whole machine would. greenhouse runs with its defaults "
               "(`GREENHOUSE_CARRIERS` = %d usable CPUs, hand-off after 5 ms). Medians of %d "
               "runs of %s s after %s s of warm-up; ratios against native threads in the same "
               "run. Hand-offs and steals are the pool's totals over the server's whole life "
               "(warm-up included, from its debug log) per second of that life. The mode is "
               "where `GREENHOUSE_SPREAD=auto` left each run's pool: spread over the carriers "
               "or packed on one, with the switches it kept out of those it tried. The runs "
               "took %.0f s."
               % (cpus, cpus, args.reps, fmt_num(args.duration), fmt_num(args.warmup), elapsed))
    out.append("")
    if not bench.go:
        out.append("Go: not measured (no `go` command; scripts/setup installs golang-go).")
        out.append("")

    def rows(section, ks, ns, labels=names):
        lines = ["| connections | server | requests/s | vs native | p99 latency (us) | "
                 "OS threads | cores busy | hand-offs/s | steals/s | mode at the end "
                 "(switches kept/tried) |",
                 "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for n in ns:
            base = None
            for k in ks:
                recs = [r for (sec, kind, c, r) in table if sec == section and kind == k and c == n
                        and r.get("ok")]
                if not recs:
                    lines.append("| %s | %s | failed | | | | | | | |" % ("{:,}".format(n), labels[k]))
                    continue
                rate = med([r["result"].get("requests_per_second") or 0 for r in recs])
                p99 = med([r["result"].get("latency_us", {}).get("p99") or 0 for r in recs])
                thr = med([r.get("threads_measure") or r.get("threads_max") or 0 for r in recs])
                cores = med([r.get("server_cores") or 0 for r in recs])
                if k == "native":
                    base = rate
                ho = st = mode = ""
                life = args.warmup + args.duration
                pools = [r.get("pool") for r in recs if r.get("pool")]
                if pools:
                    ho = fmt_num(med([p[2] for p in pools]) / life)
                    st = fmt_num(med([p[3] for p in pools]) / life)
                    # Each run's final mode and its kept/tried switches.
                    mode = ", ".join("%s (%d/%d)" % (p[4], p[5], p[6]) for p in pools)
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    "{:,}".format(n), labels[k], "{:,.0f}".format(rate),
                    ("%.2fx" % (rate / base)) if base else "", "{:,.0f}".format(p99),
                    "{:.0f}".format(thr), "%.2f" % cores, ho, st, mode))
        return lines

    out.append("### Echo, thread per connection, all cores")
    out.append("")
    out += rows("echo", kinds, counts)
    out.append("")
    if any(sec == "http" for (sec, _, _, _) in table):
        names_http = dict(names, epoll="epoll reference (epoll_http_server.c)",
                          go="Go net/http (goroutine per connection)")
        out.append("### HTTP, thread per connection, all cores")
        out.append("")
        out.append("The HTTP/1.1 keep-alive server (`http_server`, %d-byte body) loaded by `wrk -t 1 "
                   "-c N -d %ds`, unpinned; the event-driven reference is "
                   "[tests/bench/macro/epoll_http_server.c](../tests/bench/macro/epoll_http_server.c) "
                   "(one thread, one epoll set, the same responses), the Go peer "
                   "[tests/bench/macro/go_http_server.go](../tests/bench/macro/go_http_server.go) "
                   "(the standard net/http server, which adds a Date header). p99 is wrk's."
                   % (getattr(args, "http_body", 128), args.http_duration))
        out.append("")
        out += rows("http", ["native", "shim", "epoll"] + (["go"] if bench.go_http else []), counts,
                    names_http)
        out.append("")
    out.append("### CPU-heavy thread-per-connection server")
    out.append("")
    out.append("`echo_server -w %d`: every request costs %d us of CPU before its echo, %d "
               "connections. Natively the kernel spreads the threads over the cores; under "
               "greenhouse idle carriers steal runnable green threads from busy ones (the pool "
               "stays spread: packed, it would run half as many requests)."
               % (args.work, args.work, args.cpu_connections))
    out.append("")
    out += rows("cpu", ["native", "shim"] + (["go"] if bench.go else []), [args.cpu_connections])
    out.append("")
    return "\n".join(out) + "\n"


def cmd_demo(args):
    bench = Bench(args)
    n = args.connections
    print("greenhouse demo: the same legacy echo server (one OS thread per connection),")
    print("natively and under greenhouse, each with %s clients sending %d-byte messages"
          % ("{:,}".format(n), args.size))
    print("in a closed loop for %s s (after %s s of warm-up), %s each, alternating."
          % (fmt_num(args.duration), fmt_num(bench.warmup_for(n)),
             "once" if args.reps == 1 else "%d times" % args.reps))
    print()
    print("  natively:         %s" % show(bench.pin("server") + bench.server_argv("native")))
    print("  under greenhouse: %s" % show(bench.pin("server") + bench.server_argv("shim")))
    print("  load:             %s" % show(bench.loadgen_argv("PORT", n, bench.warmup_for(n),
                                                              args.duration, None)))
    if bench.server_cpus:
        print("(taskset gives the server CPU %s and the load generator CPU %s, so they do not"
              % (",".join(map(str, bench.server_cpus)), ",".join(map(str, bench.load_cpus))))
        print("compete; --no-pin lets both use every CPU.)")
    print(flush=True)
    bench.quiet = True
    name = {"native": "natively", "shim": "under greenhouse"}
    try:
        for rep in range(args.reps):
            for kind in ("native", "shim"):
                print("  %-17s run %d of %d: " % (name[kind], rep + 1, args.reps), end="",
                      flush=True)
                r = bench.echo_run(kind, n, rep)
                res = r.get("result", {})
                if r.get("ok"):
                    print("%s requests/s, %s OS thread(s), every byte checked" % (
                        fmt_num(res.get("requests_per_second")), fmt_num(r.get("threads_max"))),
                        flush=True)
                else:
                    print("FAILED: %s" % " | ".join(r.get("loadgen_log", [])[-2:] or
                                                   [r.get("server_stderr", "")]), flush=True)
    finally:
        bench.cleanup()
    res = {}
    for kind in ("native", "shim"):
        good = [r for r in bench.runs if r["kind"] == kind and r.get("ok")]
        res[kind] = {
            "rps": med([r["result"]["requests_per_second"] for r in good]),
            "p99": med([r["result"]["latency_us"]["p99"] for r in good]),
            "rss": med([r.get("peak_rss") for r in good]),
            "mem": med([r.get("mem_per_conn") for r in good]),
            "threads": med([r.get("threads_measure") or r.get("threads_max") for r in good]),
            "cpu": med([r.get("server_cpu_us_per_req") for r in good]),
            "checked": sum(r["result"].get("bytes_checked", 0) for r in good),
            "ok": len(good), "all": len([r for r in bench.runs if r["kind"] == kind]),
        }
    nat, sh = res["native"], res["shim"]

    def row(name, key, fmt, better_high):
        a, b = nat[key], sh[key]
        r = "—"
        if key == "threads" and a and b:
            r = "1/%s" % fmt_num(a / b) if a > b else fmt_num(b / a) + "×"
        elif key == "checked":
            r = ""
        elif a and b is not None:
            q = b / a
            r = fmt_num(q) + "×"
            if better_high is not None:
                worse = q < 0.95 if better_high else q > 1.05
                better = q > 1.05 if better_high else q < 0.95
                r += " (worse)" if worse else (" (better)" if better else "")
        return "| %-34s | %16s | %16s | %18s |" % (name, fmt(a), fmt(b), r)

    mem_name = "memory per connection (%s)" % ("cgroup" if bench.cgroup_kind else "MemAvailable")
    lines = [
        "| %-34s | %16s | %16s | %18s |" % ("", "native", "greenhouse", "greenhouse/native"),
        "|%s|%s|%s|%s|" % ("-" * 36, "-" * 18, "-" * 18, "-" * 20),
        row("requests/s", "rps", fmt_num, True),
        row("p99 latency (µs)", "p99", fmt_num, False),
        row("peak RSS of the server", "rss", human_bytes, False),
        row(mem_name, "mem", human_bytes, False),
        row("OS threads of the server", "threads", fmt_num, None),
        row("server CPU per request (µs)", "cpu", fmt_num, False),
        row("echoed bytes checked", "checked", lambda v: "{:,}".format(v or 0), None),
    ]
    print()
    print("\n".join(lines))
    print()
    for kind in ("native", "shim"):
        if res[kind]["ok"] < res[kind]["all"]:
            print("note: %d of %d %s runs failed (see the lines above)" %
                  (res[kind]["all"] - res[kind]["ok"], res[kind]["all"], kind))
    print("Memory per connection is what the whole system spent per connection (kernel stacks")
    print("and task structures of OS threads included), from %s." % (
        "the server's own memory cgroup" if bench.cgroup_kind else
        "the drop of MemAvailable (system-wide, includes the load generator)"))
    if nat["rps"] and sh["rps"] and sh["rps"] < nat["rps"] * 0.95:
        print("greenhouse is slower here; see docs/benchmarks.md for the full benchmark")
        print("and where the time goes.")
    return 0 if all(res[k]["ok"] == res[k]["all"] and res[k]["ok"] for k in res) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s):
        s.add_argument("--build", required=True, help="build directory (greenhouse, tests/bench/macro)")
        s.add_argument("--size", type=int, default=64, help="message bytes")
        s.add_argument("--warmup", type=float, default=1.0)
        s.add_argument("--duration", type=float, default=5.0)
        s.add_argument("--reps", type=int, default=3)
        s.add_argument("--connect-limit", type=float, default=60.0)
        s.add_argument("--no-pin", dest="pin", action="store_false",
                       help="no taskset: server and load generator share all CPUs")

    b = sub.add_parser("bench", help="the full macro benchmark, markdown for docs/benchmarks.md")
    common(b)
    b.add_argument("--out-dir", required=True)
    b.add_argument("--counts", default="100,1000,10000")
    b.add_argument("--max", type=int, default=-1,
                   help="also this count; -1: the fd hard limit less 100; 0: none")
    b.add_argument("--servers", default="native,shim,shim-epoll,epoll")
    b.add_argument("--unpinned-counts", default="1000",
                   help="counts also run without taskset (server and load share all CPUs)")
    b.add_argument("--syscall-duration", type=float, default=3.0)
    b.add_argument("--http-counts", default="100,1000,10000")
    b.add_argument("--http-duration", type=int, default=5)
    b.add_argument("--http-body", type=int, default=128)
    b.add_argument("--disturbed", type=float, default=0.5,
                   help="repeat a run once when other processes took more cores than this "
                        "during its window (0: never)")
    b.add_argument("--quiet-wait", type=float, default=120.0,
                   help="seconds the whole benchmark may spend waiting for other processes "
                        "to calm down before runs")
    b.add_argument("--selftest", type=int, default=1)
    b.add_argument("--selftest-max", type=int, default=100000)
    b.add_argument("--probe-extra", type=int, default=2000,
                   help="the limit probe asks for the fd hard limit plus this many")
    b.add_argument("--probe-connect-limit", type=float, default=10.0)
    b.add_argument("--nice", type=int, default=-10,
                   help="niceness of the driver and so of every server and load generator "
                        "(the machine may be shared: other processes then disturb less)")
    b.set_defaults(func=cmd_bench)

    m = sub.add_parser("mn", help="M:N on all cores: echo vs native, epoll and Go; CPU-heavy server")
    common(m)
    m.add_argument("--out-dir", required=True)
    m.add_argument("--counts", default="1000,10000")
    m.add_argument("--work", type=int, default=40, help="us of CPU per request, CPU-heavy server")
    m.add_argument("--http-duration", type=int, default=5)
    m.add_argument("--cpu-connections", type=int, default=64)
    m.add_argument("--disturbed", type=float, default=0.5)
    m.add_argument("--quiet-wait", type=float, default=60.0)
    m.add_argument("--nice", type=int, default=-10)
    m.set_defaults(func=cmd_mn)

    d = sub.add_parser("demo", help="native vs greenhouse side by side on the terminal")
    common(d)
    d.add_argument("--connections", type=int, default=5000)
    d.set_defaults(func=cmd_demo)
    args = p.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
