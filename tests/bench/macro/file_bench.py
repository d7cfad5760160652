#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""File-I/O benchmark driver: runs file_io (tests/bench/macro/file_io.c)
natively and under the shim, interleaved, and writes a markdown body with
the median of each and their ratio.

  file_bench.py --build build-bench --out FILE [--reps 5] [--threads 100]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CASES = [
    ("sync", 200, "pwrite 512 B + fdatasync"),
    ("cold", 200, "random 4 KiB pread, file not cached"),
    ("warm", 2000, "random 4 KiB pread, file cached"),
]


def run(argv, cwd):
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"file_bench: {' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    fields = dict(kv.split("=") for kv in out.stdout.split()[1:])
    return float(fields["ops_per_sec"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=100)
    a = ap.parse_args()
    prog = os.path.abspath(os.path.join(a.build, "tests/bench/macro/file_io"))
    shim = os.path.abspath(os.path.join(a.build, "greenhouse"))
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as cwd:
        fs = subprocess.run(["stat", "-f", "-c", "%T", cwd], capture_output=True, text=True).stdout.strip()
        for mode, ops, what in CASES:
            native, green = [], []
            for _ in range(a.reps):
                args = [mode, str(a.threads), str(ops)]
                native.append(run([prog] + args, cwd))
                green.append(run([shim, prog] + args, cwd))
            n, g = statistics.median(native), statistics.median(green)
            print(f"file_bench: {mode}: native {n:.0f}/s, shim {g:.0f}/s", file=sys.stderr)
            rows.append((what, n, g, min(native), max(native), min(green), max(green)))
    lines = [
        f"{a.threads} threads of one process make blocking calls on one shared file "
        f"(filesystem: {fs}), natively (one OS thread each) and under the shim (green threads "
        f"on the default carriers; the calls go through the ring). Median of {a.reps} runs each, "
        "interleaved; operations per second from the first thread's start to the last one's end.",
        "",
        f"Command: `python3 tests/bench/macro/file_bench.py --build {a.build} --reps {a.reps} "
        f"--threads {a.threads}` (program: `tests/bench/macro/file_io.c`)",
        "",
        "| workload | native ops/s | shim ops/s | shim / native | native range | shim range |",
        "|---|---:|---:|---:|---|---|",
    ]
    for what, n, g, nlo, nhi, glo, ghi in rows:
        lines.append(f"| {what} | {n:,.0f} | {g:,.0f} | {g / n:.2f} | {nlo:,.0f}–{nhi:,.0f} | "
                     f"{glo:,.0f}–{ghi:,.0f} |")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
