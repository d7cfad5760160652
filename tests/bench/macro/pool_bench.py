#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Thread-pool benchmark driver: runs pool_notify (tests/bench/macro/
pool_notify.c) natively and under the shim, interleaved, and writes a
markdown body with the median of each and their ratio.

  pool_bench.py --build build-bench --out FILE [--reps 5] [--workers 4] [--tasks 200000]
"""
import argparse
import os

from interleaved import compare, table

CASES = [
    ("eventfd", "finished tasks reported through a blocking eventfd watched by epoll (nginx's aio threads)"),
    ("pipe", "finished tasks reported through a blocking pipe watched by poll"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tasks", type=int, default=200000)
    a = ap.parse_args()
    prog = os.path.abspath(os.path.join(a.build, "tests/bench/macro/pool_notify"))
    shim = os.path.abspath(os.path.join(a.build, "greenhouse"))
    cases = [([mode, str(a.workers), str(a.tasks)], what) for mode, what in CASES]
    rows = compare(prog, shim, cases, a.reps, "tasks_per_sec", who="pool_bench")
    lines = [
        f"The main thread of one process posts tasks to {a.workers} pool threads through a mutex "
        "and a condition variable (64 in flight) and waits for their notifications, natively "
        "(one OS thread each) and under the shim (green threads on the default carriers). Median "
        f"of {a.reps} runs each, interleaved; {a.tasks} tasks per run.",
        "",
        f"Command: `python3 tests/bench/macro/pool_bench.py --build {a.build} --reps {a.reps} "
        f"--workers {a.workers} --tasks {a.tasks}` (program: `tests/bench/macro/pool_notify.c`)",
        "",
    ] + table(rows, "tasks/s")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
