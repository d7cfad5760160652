#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""File-I/O benchmark driver: runs file_io (tests/bench/macro/file_io.c)
natively and under the shim, interleaved, and writes a markdown body with
the median of each and their ratio.

  file_bench.py --build build-bench --out FILE [--reps 5] [--threads 100]
"""
import argparse
import os
import subprocess
import tempfile

from interleaved import compare, table

CASES = [
    ("sync", 200, "pwrite 512 B + fdatasync"),
    ("cold", 200, "random 4 KiB pread, file not cached"),
    ("warm", 2000, "random 4 KiB pread, file cached"),
    ("log", 2000, "100-byte line written to an O_APPEND file"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=100)
    a = ap.parse_args()
    prog = os.path.abspath(os.path.join(a.build, "tests/bench/macro/file_io"))
    shim = os.path.abspath(os.path.join(a.build, "greenhouse"))
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as cwd:
        fs = subprocess.run(["stat", "-f", "-c", "%T", cwd], capture_output=True, text=True).stdout.strip()
        cases = [([mode, str(a.threads), str(ops)], what) for mode, ops, what in CASES]
        rows = compare(prog, shim, cases, a.reps, "ops_per_sec", cwd, "file_bench")
    lines = [
        f"{a.threads} threads of one process make blocking calls on one shared file "
        f"(filesystem: {fs}), natively (one OS thread each) and under the shim (green threads "
        f"on the default carriers; syncs and reads that miss the page cache go through the ring, "
        f"buffered writes are made directly). Median of {a.reps} runs each, "
        "interleaved; operations per second from the first thread's start to the last one's end.",
        "",
        f"Command: `python3 tests/bench/macro/file_bench.py --build {a.build} --reps {a.reps} "
        f"--threads {a.threads}` (program: `tests/bench/macro/file_io.c`)",
        "",
    ] + table(rows, "ops/s")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
