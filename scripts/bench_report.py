#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes docs/benchmarks.md from benchmark runs (driven by scripts/bench).

The document is a title, a machine description and one "## ..." section per
kind of benchmark. Each section is written by its own subcommand and replaced
in place when it already exists, so parts can be added without touching the
others:

  bench_report.py header  --out DOC
      Starts DOC afresh: title, date, machine (nproc, /proc/cpuinfo, uname -r,
      ldd --version, dpkg-query liburing-dev).
  bench_report.py micro   --json RUN.json --command CMD --out DOC
      Replaces or appends "## Micro benchmarks": the medians of a Google
      Benchmark JSON run (--benchmark_repetitions with aggregates), pairs
      BM_<X>_Green / BM_<X>_Native side by side with their Green/Native ratio.
  bench_report.py section --title TITLE --body-file BODY.md --out DOC
      Replaces or appends "## TITLE" with the given markdown (for the macro
      benchmarks, or anything else that produces its own table).

Python standard library only. No number is typed in here: every value comes
from the run or from the machine.
"""

import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys

TITLE = "# Benchmarks"
MICRO_TITLE = "Micro benchmarks"

# Fields of a Google Benchmark run that are not user counters.
STANDARD_FIELDS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type",
    "repetitions", "repetition_index", "threads", "aggregate_name", "aggregate_unit",
    "iterations", "real_time", "cpu_time", "time_unit", "label", "error_occurred",
    "error_message", "big_o", "rms",
}

# What the counters of tests/bench/*.cc measure, printed under the table for
# the counters that appear in the run. A counter missing here is listed as is.
COUNTER_NOTES = {
    "ns_per_switch": "wall-clock time of the loop divided by the number of switches in it",
    "mem_KiB_per_thread": "drop of MemAvailable (`/proc/meminfo`) while the N threads are "
                          "parked, divided by N. System-wide, so it includes what the kernel "
                          "spends per thread (kernel stack, task, page tables), which RSS "
                          "omits; other activity on the machine and free pages held in "
                          "per-CPU lists make it noisy by some MiB in total",
    "rss_KiB_per_thread": "growth of the process's resident set (`/proc/self/statm`) "
                          "divided by N",
    "vmas_per_thread": "growth of the number of mappings (`/proc/self/maps` lines) divided "
                       "by N; the budget is `vm.max_map_count`",
    "ns_to_park_per_thread": "time from the first create until all N are parked, divided by N",
}

PAIR_RE = re.compile(r"^BM_(?P<base>\w+?)_(?P<side>Green|Native)(?P<rest>/.*)?$")


# ---- document sections ----

def read_doc(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def write_doc(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def upsert_section(path, title, body):
    """Replaces the "## title" section of the document at path (up to the
    next "## " heading or the end), or appends it. Other sections stay."""
    doc = read_doc(path)
    heading = "## " + title
    section = heading + "\n\n" + body.strip("\n") + "\n"
    lines = doc.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == heading), None)
    if start is None:
        if doc and not doc.endswith("\n"):
            doc += "\n"
        if doc:
            doc += "\n"
        write_doc(path, doc + section)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    after = "".join(lines[end:])
    text = "".join(lines[:start]) + section + ("\n" + after if after else "")
    write_doc(path, text)


# ---- machine ----

def run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return out.stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return "unknown"


def machine_table():
    glibc = run(["ldd", "--version"]).splitlines()
    uring = run(["dpkg-query", "-W", "-f=${Version}", "liburing-dev"])
    rows = [
        ("CPU model", cpu_model(), "`/proc/cpuinfo`"),
        ("Cores", run(["nproc"]) or "unknown", "`nproc`"),
        ("Kernel", run(["uname", "-r"]) or "unknown", "`uname -r`"),
        ("glibc", glibc[0] if glibc else "unknown", "`ldd --version`"),
        ("liburing", uring or "unknown", "`dpkg-query -W liburing-dev`"),
    ]
    out = ["| | | from |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % r for r in rows]
    return "\n".join(out)


def cmd_header(args):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        TITLE,
        "",
        "Generated by `scripts/bench` on %s. Do not edit by hand: every number here "
        "comes from that run; run `scripts/bench` again to refresh it." % now,
        "",
        "Ratios are Green/Native, measured on the same machine in the same run: below 1 "
        "means the green thread is cheaper (less time, less memory) than the OS thread.",
        "",
        "## Machine",
        "",
        machine_table(),
        "",
    ])
    write_doc(args.out, text)


# ---- micro (Google Benchmark JSON) ----

def fmt(v):
    """Three significant digits, no exponent, thousands separated."""
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "n/a"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    digits = max(0, 2 - int(math.floor(math.log10(a))))
    s = "{:.{d}f}".format(v, d=digits)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def load_runs(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    runs = {}  # run_name -> {"median": run, "cv": run, "label": ..., "error": ...}
    order = []
    for b in data.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        if name not in runs:
            runs[name] = {}
            order.append(name)
        r = runs[name]
        if b.get("error_occurred"):
            r["error"] = b.get("error_message", "error")
        if b.get("label"):
            r["label"] = b["label"]
        agg = b.get("aggregate_name")
        if b.get("run_type") == "aggregate" and agg:
            r[agg] = b
        elif b.get("run_type") == "iteration":
            r.setdefault("iterations", []).append(b)
    for r in runs.values():
        if "median" not in r and r.get("iterations"):
            # Run without repetitions: take the single run as the median.
            r["median"] = r["iterations"][-1]
    return data.get("context", {}), order, runs


def metrics(run):
    """[(metric name, median value, cv or None)] of one benchmark."""
    med = run.get("median")
    if not med:
        return []
    cv = run.get("cv", {})
    out = [("time per iteration (%s)" % med.get("time_unit", "ns"),
            med.get("real_time"), cv.get("real_time"))]
    for k, v in med.items():
        if k in STANDARD_FIELDS or not isinstance(v, (int, float)):
            continue
        out.append((k, v, cv.get(k)))
    return out


def with_cv(value, cv):
    s = fmt(value)
    if cv is not None and value is not None and not math.isnan(cv):
        s += " ±%s%%" % fmt(cv * 100)
    return s


def instance(rest):
    """'/20000/iterations:1/manual_time' -> '20000' (the benchmark's args)."""
    if not rest:
        return ""
    parts = [p for p in rest.strip("/").split("/")
             if p and ":" not in p and p not in ("real_time", "manual_time", "process_time")]
    return "/".join(parts)


def pair_runs(order, runs):
    """Returns ([(title, green_name, native_name, same_args)], [unpaired names])."""
    groups = {}
    for name in order:
        m = PAIR_RE.match(name)
        if not m:
            continue
        g = groups.setdefault(m["base"], {"Green": [], "Native": []})
        g[m["side"]].append((instance(m["rest"]), name))
    pairs, paired = [], set()
    for name in order:
        m = PAIR_RE.match(name)
        if not m or name in paired:
            continue
        g = groups[m["base"]]
        green = [x for x in g["Green"] if x[1] not in paired]
        native = [x for x in g["Native"] if x[1] not in paired]
        for ga, gn in green:
            match = next((x for x in native if x[0] == ga), None)
            if match:
                pairs.append((m["base"] + ("/" + ga if ga else ""), gn, match[1], True))
                paired.update((gn, match[1]))
                native.remove(match)
        green = [x for x in g["Green"] if x[1] not in paired]
        native = [x for x in g["Native"] if x[1] not in paired]
        if len(green) == 1 and len(native) == 1:
            (ga, gn), (na, nn) = green[0], native[0]
            title = "%s (Green N=%s, Native N=%s)" % (m["base"], ga or "-", na or "-")
            pairs.append((title, gn, nn, False))
            paired.update((gn, nn))
    unpaired = [n for n in order if n not in paired]
    return pairs, unpaired


def micro_body(context, order, runs, command):
    pairs, unpaired = pair_runs(order, runs)
    out = []
    out.append("Command (from the repository root, Release build in `build-bench/`):")
    out.append("")
    out.append("```")
    out.append(command)
    out.append("```")
    out.append("")
    reps = {r["median"].get("repetitions") for r in runs.values() if r.get("median")}
    reps.discard(None)
    out.append("Each value is the median of %s repetitions, followed by the coefficient of "
               "variation across them. Counters carry their unit in their name; "
               "`time per iteration` is wall-clock time." %
               ("/".join(str(r) for r in sorted(reps)) or "the"))
    out.append("")
    if pairs:
        out.append("| Benchmark | Metric | Green | Native | Green/Native |")
        out.append("|---|---|---:|---:|---:|")
        for title, gname, nname, same_args in pairs:
            g, n = runs[gname], runs[nname]
            if g.get("error") or n.get("error"):
                out.append("| %s | error | %s | %s | |" %
                           (title, g.get("error", ""), n.get("error", "")))
                continue
            gm = {k: (v, c) for k, v, c in metrics(g)}
            nm = {k: (v, c) for k, v, c in metrics(n)}
            first = True
            for k, _, _ in metrics(g):
                if k not in nm:
                    continue
                (gv, gc), (nv, nc) = gm[k], nm[k]
                comparable = same_args or not k.startswith("time per iteration")
                ratio = "%s×" % fmt(gv / nv) if comparable and nv and gv is not None else \
                    ("n/a (different N)" if not comparable else "n/a")
                out.append("| %s | %s | %s | %s | %s |" %
                           (title if first else "", k, with_cv(gv, gc), with_cv(nv, nc), ratio))
                first = False
        out.append("")
        out.append("What each benchmark does (its label):")
        out.append("")
        for title, gname, nname, _ in pairs:
            out.append("- **%s** — Green `%s`: %s; Native `%s`: %s." %
                       (title.split(" ")[0], gname, runs[gname].get("label", "-"),
                        nname, runs[nname].get("label", "-")))
        out.append("")
    if unpaired:
        out.append("Benchmarks without a Green/Native partner:")
        out.append("")
        out.append("| Benchmark | Metric | Median |")
        out.append("|---|---|---:|")
        for name in unpaired:
            r = runs[name]
            if r.get("error"):
                out.append("| `%s` | error | %s |" % (name, r["error"]))
                continue
            first = True
            for k, v, c in metrics(r):
                out.append("| %s | %s | %s |" % ("`%s`" % name if first else "", k, with_cv(v, c)))
                first = False
        out.append("")
    seen = []
    for name in order:
        for k, _, _ in metrics(runs[name]):
            if not k.startswith("time per iteration") and k not in seen:
                seen.append(k)
    if seen:
        out.append("Counters:")
        out.append("")
        for k in seen:
            out.append("- `%s`: %s." % (k, COUNTER_NOTES.get(k, "as reported by the benchmark")))
        out.append("")
    notes = []
    if context.get("library_build_type") == "debug":
        notes.append("The Google Benchmark library (Debian `libbenchmark-dev`) reports itself "
                     "as a debug build; greenhouse itself is built Release. This affects the "
                     "harness's own overhead, equally on both sides of a pair.")
    if context.get("cpu_scaling_enabled"):
        notes.append("CPU frequency scaling was enabled during the run; timings may be noisy.")
    load = context.get("load_avg")
    if load:
        notes.append("Load average when the run started: %s." %
                     ", ".join(fmt(x) for x in load))
    if context.get("date"):
        notes.append("Run started %s on %s CPUs at %s MHz (as Google Benchmark reports)." %
                     (context["date"], context.get("num_cpus", "?"),
                      context.get("mhz_per_cpu", "?")))
    if notes:
        out.append("Notes on this run:")
        out.append("")
        out += ["- " + n for n in notes]
        out.append("")
    return "\n".join(out)


def cmd_micro(args):
    context, order, runs = load_runs(args.json)
    if not order:
        sys.exit("bench_report.py: no benchmarks in %s" % args.json)
    upsert_section(args.out, MICRO_TITLE, micro_body(context, order, runs, args.command))


def cmd_section(args):
    with open(args.body_file, encoding="utf-8") as f:
        upsert_section(args.out, args.title, f.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("header", help="start the document: title and machine")
    h.add_argument("--out", required=True)
    h.set_defaults(func=cmd_header)
    m = sub.add_parser("micro", help="Google Benchmark JSON -> '## Micro benchmarks'")
    m.add_argument("--json", required=True)
    m.add_argument("--command", required=True, help="the exact command that produced the JSON")
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_micro)
    s = sub.add_parser("section", help="replace or append '## TITLE' with a markdown file")
    s.add_argument("--title", required=True)
    s.add_argument("--body-file", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_section)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
