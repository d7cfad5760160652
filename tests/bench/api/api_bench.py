#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""greenhouse.h benchmark driver: runs api_bench (greenhouse), its Go twin
(chan_go.go, built here with the Debian golang-go) and its Boost.Fiber twin
(chan_fiber), interleaved, and writes a markdown body with the medians and
the ratios. Two settings: one core (GREENHOUSE_CARRIERS=1, GOMAXPROCS=1;
Boost.Fiber's default scheduler runs on one thread) and all cores (the
defaults; Boost.Fiber is left out there).

  api_bench.py --build build-bench --out FILE [--reps 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = [
    ("roundtrip_ns", "channel round trip (ns, lower is better)", False),
    ("pool_tasks_per_s", "pool throughput (tasks/s, higher is better)", True),
]


def run(argv, env):
    out = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        sys.exit(f"api_bench: {' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    return {k: float(v) for k, v in (line.split() for line in out.stdout.splitlines())}


def build_go(tmp):
    if not shutil.which("go"):
        sys.exit("api_bench: go not found (Debian golang-go)")
    exe = os.path.join(tmp, "chan_go")
    env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GOPATH=os.path.join(tmp, "gopath"),
               GO111MODULE="off", GOFLAGS="")
    r = subprocess.run(["go", "build", "-o", exe, os.path.join(HERE, "chan_go.go")], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"api_bench: go build failed: {r.stderr.strip()[-300:]}")
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    gh = os.path.abspath(os.path.join(a.build, "tests/bench/api/api_bench"))
    fiber = os.path.abspath(os.path.join(a.build, "tests/bench/api/chan_fiber"))
    if not os.path.exists(fiber):
        sys.exit("api_bench: chan_fiber not built (Debian libboost-fiber-dev)")
    with tempfile.TemporaryDirectory() as tmp:
        go = build_go(tmp)
        settings = [
            ("one core", [("greenhouse", [gh], {"GREENHOUSE_CARRIERS": "1"}),
                          ("Go", [go], {"GOMAXPROCS": "1"}),
                          ("Boost.Fiber", [fiber], {})]),
            ("all cores", [("greenhouse", [gh], {}), ("Go", [go], {})]),
        ]
        results = {}
        for setting, peers in settings:
            samples = {name: [] for name, _, _ in peers}
            for _ in range(a.reps):
                for name, argv, env in peers:
                    samples[name].append(run(argv, env))
            for name in samples:
                results[(setting, name)] = {
                    m: statistics.median(s[m] for s in samples[name]) for m, _, _ in METRICS}
                print(f"api_bench: {setting}, {name}: {results[(setting, name)]}", file=sys.stderr)
    lines = [
        "The same two jobs written with `greenhouse.h` (`tests/bench/api/api_bench.c`), Go "
        "goroutines and channels (`chan_go.go`) and Boost.Fiber (`chan_fiber.cc`): an int passed "
        "back and forth between two threads over two unbuffered channels, and 100,000 tiny tasks "
        "through a pool that runs at most 128 at once (greenhouse: `gh_pool_spawn`, whose worker "
        "green threads take one task after another; Go: a goroutine per task, a semaphore channel "
        "and a WaitGroup; Boost.Fiber: a fiber per task, 128 tokens in a channel). "
        f"Median of {a.reps} runs each, interleaved.",
        "",
        f"Command: `python3 tests/bench/api/api_bench.py --build {a.build} --reps {a.reps}`",
        "",
        "| setting | measure | greenhouse | Go | Boost.Fiber | greenhouse vs Go | greenhouse vs Boost.Fiber |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for setting, peers in settings:
        for m, what, higher in METRICS:
            g = results[(setting, "greenhouse")][m]
            go_v = results[(setting, "Go")][m]
            fb = results.get((setting, "Boost.Fiber"), {}).get(m)

            def ratio(other):
                if other is None:
                    return "—"
                r = g / other if higher else other / g
                return f"{r:.2f}×"

            def fmt(v):
                return "—" if v is None else (f"{v:,.0f}" if higher else f"{v:.1f}")

            lines.append(f"| {setting} | {what} | {fmt(g)} | {fmt(go_v)} | {fmt(fb)} | "
                         f"{ratio(go_v)} | {ratio(fb)} |")
    lines += ["", "Ratios above 1 mean greenhouse is faster."]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
