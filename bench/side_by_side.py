#!/usr/bin/python3
"""bench/side_by_side: progan's bench_step and PyTorch's torch_step.py on the same
shapes, run alternately (progan, PyTorch, progan, PyTorch, ...) so that both see
the same machine load; the best time of each side per shape gives the ratio.
Prints one JSON line per shape, then a Markdown table.

usage: side_by_side.py [--build DIR] [--base DIR] [--rounds N] [--reps N]
                       [--rows small|all|NAME,...] [--threads T]
--base DIR adds a second progan build (e.g. one of an earlier commit) to the same
alternation, for before/after numbers taken at the same moment.
Needs python3-torch (bench/setup-torch.sh); run with /usr/bin/python3.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# name, res, fmap_base, fmap_max, channels (the rows of issue 10); batch 16, fading alpha 0.5
ROWS = [
    ("small-4", 4, 128, 32, 1),
    ("small-8", 8, 128, 32, 1),
    ("small-16", 16, 128, 32, 1),
    ("small-32", 32, 128, 32, 1),
    ("paper-4", 4, 8192, 512, 3),
    ("paper-8", 8, 8192, 512, 3),
    ("32-fmax128", 32, 8192, 128, 3),
    ("64-fmax64", 64, 8192, 64, 3),
]


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    # the step's summary line (bench_step may print per-op lines after it)
    return json.loads([line for line in out.splitlines() if '"d_step_ms"' in line][-1])


def shape_args(row, batch, reps):
    _, res, base, fmax, ch = row
    return ["--res", str(res), "--batch", str(batch), "--fmap-base", str(base), "--fmap-max",
            str(fmax), "--channels", str(ch), "--fading", "--reps", str(reps)]


def measure(row, a):
    """Alternating runs of both sides; best D+G milliseconds of each."""
    best = {"progan": None, "torch": None, "base": None}
    env = dict(os.environ)
    for _ in range(a.rounds):
        runs = []
        if a.base:
            runs.append(("base", run_json([os.path.join(a.base, "bench_step")] +
                                          shape_args(row, a.batch, a.reps), env)))
        runs.append(("progan", run_json([os.path.join(a.build, "bench_step")] +
                                        shape_args(row, a.batch, a.reps), env)))
        runs.append(("torch", run_json([sys.executable, os.path.join(HERE, "torch_step.py"),
                                        "time", "--threads", str(a.threads)] +
                                       shape_args(row, a.batch, a.reps))))
        for side, r in runs:
            if best[side] is None or r["d_step_ms"] + r["g_step_ms"] < best[side]["ms"]:
                best[side] = dict(ms=r["d_step_ms"] + r["g_step_ms"], d=r["d_step_ms"],
                                  g=r["g_step_ms"], raw=r)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--base", help="a second progan build directory timed in the same rounds")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default="all", help="small, all, or row names separated by commas")
    a = ap.parse_args()
    names = [r[0] for r in ROWS]
    pick = (names if a.rows == "all" else [n for n in names if n.startswith("small")]
            if a.rows == "small" else a.rows.split(","))
    bad = [n for n in pick if n not in names]
    if bad:
        ap.error(f"unknown rows {bad}; choose from {names}")
    table = []
    for row in (r for r in ROWS if r[0] in pick):
        b = measure(row, a)
        ratio = b["progan"]["ms"] / b["torch"]["ms"]
        line = {"bench": "side_by_side", "row": row[0], "res": row[1], "fmap_base": row[2],
                "fmap_max": row[3], "channels": row[4], "batch": a.batch, "fading": True,
                "progan_ms": round(b["progan"]["ms"], 2), "progan_d_ms": b["progan"]["d"],
                "progan_g_ms": b["progan"]["g"], "torch_ms": round(b["torch"]["ms"], 2),
                "torch_d_ms": b["torch"]["d"], "torch_g_ms": b["torch"]["g"],
                "ratio": round(ratio, 3), "d_kernels": b["progan"]["raw"].get("d_kernels"),
                "g_kernels": b["progan"]["raw"].get("g_kernels"),
                "device": b["progan"]["raw"].get("device"), "torch": b["torch"]["raw"]["torch"],
                "threads": a.threads, "rounds": a.rounds}
        if a.base:
            line.update(base_ms=round(b["base"]["ms"], 2), base_ratio=round(
                b["base"]["ms"] / b["torch"]["ms"], 3), base_d_kernels=b["base"]["raw"].get(
                "d_kernels"), base_g_kernels=b["base"]["raw"].get("g_kernels"))
        print(json.dumps(line), flush=True)
        table.append(line)
    base = "| base ms | base ratio | base D/G " if a.base else ""
    print(f"\n| shapes {base}| progan ms | PyTorch ms | ratio | D/G dispatches |")
    print("| --- " * (8 if a.base else 5) + "|")
    for t in table:
        b = (f"| {t['base_ms']:.0f} | {t['base_ratio']:.2f} | {t['base_d_kernels']}/"
             f"{t['base_g_kernels']} " if a.base else "")
        print(f"| {t['row']} {b}| {t['progan_ms']:.0f} | {t['torch_ms']:.0f} | {t['ratio']:.2f} | "
              f"{t['d_kernels']}/{t['g_kernels']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
