#!/usr/bin/env python3
"""Prints the median (and its 95 % interval) of every criterion benchmark under a filter.

criterion's console line shows the mean; BENCHMARKS.md quotes medians, which it also writes to
<target>/criterion/<id>/new/estimates.json. Usage:

    python3 bench/criterion_medians.py [FILTER]     # e.g. ingest, where_used

The target directory is $CARGO_TARGET_DIR, else ./target.
"""

import json
import os
import sys
from pathlib import Path


def human(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def main() -> None:
    want = sys.argv[1] if len(sys.argv) > 1 else ""
    root = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    rows = []
    for est in sorted(root.glob("**/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        name = bench["full_id"]
        if want not in name:
            continue
        m = json.loads(est.read_text())["median"]
        ci = m["confidence_interval"]
        rows.append((name, m["point_estimate"], ci["lower_bound"], ci["upper_bound"]))
    width = max((len(r[0]) for r in rows), default=10)
    for name, med, lo, hi in rows:
        print(f"{name:<{width}}  median {human(med):>10}   (95 % CI {human(lo)} – {human(hi)})")


if __name__ == "__main__":
    main()
