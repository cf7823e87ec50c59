#!/usr/bin/env python3
"""Compares two builds of wsbridge on a shared, noisy machine: runs `bench/run.py --rounds=1
--servers=wsbridge --only=a` (or --only=a,d) against each build in turn, PAIRS times (before,
after, before, after, ...), so that both see the same noise, and prints a Markdown table of every
run, the medians and the spread. Compared: server CPU per delivery of the fan-out workload (a)
(the server's own CPU time from schedstat, not wall time) and, with d, RSS per idle session.

Usage: bench/compare.py --before=/path/to/build --after=build [--pairs=4] [--only=a,d]
                        [--out=/tmp/compare]
       bench/compare.py --table_from /tmp/compare [/tmp/compare2 ...]   # only print the table
                                            # of earlier runs, pooled over the directories

--before/--after name a build directory (wsbridge and bench/wsbridge_bench_{loadgen,publisher,
floor}) or a wsbridge binary; for a binary the bench tools come from --tools_build (default
build), so both sides are driven by the same load generator and publisher.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Rows of run.py's summary.md that are compared: "| point | <metric> (lower is better) | value".
METRICS = ("server CPU us/delivery", "KiB RSS/idle session")
ROW = re.compile(r"\| (\S+(?: unary)?) \| (" + "|".join(map(re.escape, METRICS))
                 + r") \(lower is better\) \| ([0-9.]+) ")


def spread(values):
    """(max - min) / median, in percent."""
    return 100 * (max(values) - min(values)) / statistics.median(values)


def table(outs):
    """Prints the table of the runs in the directories `outs`, pooled."""
    rows = {}  # (metric, point) -> side -> values in run order
    run_number = lambda path: int(os.path.basename(os.path.dirname(path)).split("_")[-1])
    for side in ("before", "after"):
        runs = [summary for out in outs for summary in sorted(
            glob.glob(os.path.join(out, f"{side}_*", "summary.md")), key=run_number)]
        for summary in runs:
            with open(summary) as f:
                for line in f:
                    m = ROW.match(line)
                    if m:
                        rows.setdefault((m.group(2), m.group(1)), {}).setdefault(
                            side, []).append(float(m.group(3)))
    print("| metric | point | before, per run | after, per run | median before | median after "
          "| change | spread before / after |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for (metric, point), runs in rows.items():
        before, after = runs.get("before", []), runs.get("after", [])
        if not before or not after:
            continue
        mb, ma = statistics.median(before), statistics.median(after)
        print(f"| {metric} | {point} | {', '.join(map(str, before))} | "
              f"{', '.join(map(str, after))} | {mb:.3f} | {ma:.3f} | {100 * (ma - mb) / mb:+.1f}% "
              f"| {spread(before):.0f}% / {spread(after):.0f}% |")


def build_flags(side, tools_build):
    """run.py flags that select one side: a build dir, or a wsbridge binary with --tools_build."""
    if os.path.isfile(side):
        return [f"--build={tools_build}", f"--wsbridge={side}"]
    return [f"--build={side}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before")
    parser.add_argument("--after")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--only", default="a", help="workloads: a, or a,d (default a)")
    parser.add_argument("--tools_build", default="build",
                        help="bench tools for a side given as a wsbridge binary (default build)")
    parser.add_argument("--out", default="/tmp/wsbridge-compare")
    parser.add_argument("--table_from", nargs="+", metavar="DIR")
    args = parser.parse_args()
    if args.table_from:
        return table(args.table_from)
    if not args.before or not args.after:
        parser.error("--before and --after are required")
    os.makedirs(args.out, exist_ok=True)
    for i in range(1, args.pairs + 1):
        for side, build in (("before", args.before), ("after", args.after)):
            out = os.path.join(args.out, f"{side}_{i}")
            print(f"{side} {i}...", file=sys.stderr, flush=True)
            with open(out + ".log", "w") as log:
                result = subprocess.run(
                    [sys.executable, os.path.join(REPO, "bench", "run.py"), "--rounds=1",
                     "--servers=wsbridge", f"--only={args.only}", f"--out={out}"]
                    + build_flags(build, args.tools_build),
                    stdout=log, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                # An invalid point is left out of that run's summary; the other runs still count.
                print(f"{side} {i}: run.py exited {result.returncode}, see {out}.log",
                      file=sys.stderr, flush=True)
    table([args.out])


if __name__ == "__main__":
    main()
