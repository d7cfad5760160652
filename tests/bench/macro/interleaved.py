# SPDX-License-Identifier: MIT
"""Shared by the small native-against-shim drivers (file_bench.py,
pool_bench.py): runs one program natively and under the shim, interleaved,
and renders the medians as a markdown table."""
import statistics
import subprocess
import sys


def rate(argv, key, cwd=None, who="bench"):
    """Runs argv; its stdout is "name k=v k=v ..."; returns float(v) of key."""
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"{who}: {' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    fields = dict(kv.split("=") for kv in out.stdout.split()[1:])
    return float(fields[key])


def compare(prog, shim, cases, reps, key, cwd=None, who="bench"):
    """cases: (args, label); returns rows (label, native median, shim median,
    native min, native max, shim min, shim max)."""
    rows = []
    for args, label in cases:
        native, green = [], []
        for _ in range(reps):
            native.append(rate([prog] + args, key, cwd, who))
            green.append(rate([shim, prog] + args, key, cwd, who))
        n, g = statistics.median(native), statistics.median(green)
        print(f"{who}: {args[0]}: native {n:.0f}/s, shim {g:.0f}/s", file=sys.stderr)
        rows.append((label, n, g, min(native), max(native), min(green), max(green)))
    return rows


def table(rows, unit):
    lines = [
        f"| workload | native {unit} | shim {unit} | shim / native | native range | shim range |",
        "|---|---:|---:|---:|---|---|",
    ]
    for what, n, g, nlo, nhi, glo, ghi in rows:
        lines.append(f"| {what} | {n:,.0f} | {g:,.0f} | {g / n:.2f} | {nlo:,.0f}–{nhi:,.0f} | "
                     f"{glo:,.0f}–{ghi:,.0f} |")
    return lines
