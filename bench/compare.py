#!/usr/bin/env python3
"""Compares wsbridge's server CPU per delivery in the fan-out workload (a) between two builds, on
a shared, noisy machine: runs `bench/run.py --rounds=1 --servers=wsbridge --only=a` against each
build in turn, PAIRS times (before, after, before, after, ...), so that both see the same noise,
and prints a Markdown table of every run and the medians. CPU per delivery (the server's own CPU
time from schedstat), not wall time, is the number to compare.

Usage: bench/compare.py --before=/path/to/build --after=build [--pairs=4] [--out=/tmp/compare]
       bench/compare.py --table_from=/tmp/compare   # only print the table of earlier runs

A build directory needs wsbridge and bench/wsbridge_bench_{loadgen,publisher,floor}.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = re.compile(r"\| (\S+(?: unary)?) \| server CPU us/delivery \(lower is better\) \| ([0-9.]+) ")


def table(out):
    rows = {}
    for side in ("before", "after"):
        for summary in sorted(glob.glob(os.path.join(out, f"{side}_*", "summary.md"))):
            with open(summary) as f:
                for line in f:
                    m = ROW.match(line)
                    if m:
                        rows.setdefault(m.group(1), {}).setdefault(side, []).append(float(m.group(2)))
    print("| subscribers | before: us/delivery per run | after: us/delivery per run "
          "| median before | median after | change |")
    print("|---|---|---|---:|---:|---:|")
    for point, runs in rows.items():
        before, after = runs.get("before", []), runs.get("after", [])
        if not before or not after:
            continue
        mb, ma = statistics.median(before), statistics.median(after)
        print(f"| {point} | {', '.join(map(str, before))} | {', '.join(map(str, after))} "
              f"| {mb:.3f} | {ma:.3f} | {100 * (ma - mb) / mb:+.1f}% |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before")
    parser.add_argument("--after")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--out", default="/tmp/wsbridge-compare")
    parser.add_argument("--table_from")
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
                subprocess.run([sys.executable, os.path.join(REPO, "bench", "run.py"), "--rounds=1",
                                "--servers=wsbridge", "--only=a", f"--build={build}", f"--out={out}"],
                               stdout=log, stderr=subprocess.STDOUT, check=True)
    table(args.out)


if __name__ == "__main__":
    main()
