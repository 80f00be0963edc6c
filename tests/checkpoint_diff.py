#!/usr/bin/env python3
"""Compares two progan checkpoints (safetensors, float32) tensor by tensor, with
the standard library only: --bitwise demands identical bytes; --tol T demands
max|a - b| <= T * max|a| over each tensor set (G, D, Gs, opt.G.m, ...: a lone
bias whose gradient cancels to rounding noise is judged against its network). The progress counters in
the metadata must match exactly. Prints the worst tensor; exit 1 on a mismatch."""
import array, json, struct, sys

COUNTERS = ("cur_nimg", "iteration", "d_steps", "adam_t_g", "adam_t_d", "skipped_d", "skipped_g")


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = data[a:b]
    return meta, tensors


def main():
    args = sys.argv[1:]
    bitwise = "--bitwise" in args
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 0.0
    paths = [a for a in args if a.endswith(".safetensors")]
    (ma, ta), (mb, tb) = load(paths[0]), load(paths[1])
    bad = [k for k in COUNTERS if ma.get(k) != mb.get(k)]
    if bad:
        print("progress differs: " + ", ".join(f"{k} {ma.get(k)} vs {mb.get(k)}" for k in bad))
        return 1
    if sorted(ta) != sorted(tb):
        print("tensor names differ")
        return 1
    diff, scale, where = {}, {}, {}
    for name in sorted(ta):
        if bitwise:
            if ta[name] != tb[name]:
                print(f"{name}: bytes differ")
                return 1
            continue
        a, b = array.array("f", ta[name]), array.array("f", tb[name])
        group = name.rsplit(".", 3)[0] if name.startswith("opt.") else name.split(".")[0]
        d = max((abs(x - y) if x == x and y == y else float("inf") for x, y in zip(a, b)), default=0.0)
        scale[group] = max(scale.get(group, 1e-30), max((abs(x) for x in a), default=0.0))
        if d >= diff.get(group, 0.0):
            diff[group], where[group] = d, name
    worst, worst_name = 0.0, ""
    for group in diff:
        err = diff[group] / scale[group]
        if not err <= worst:
            worst, worst_name = err, where[group]
    if bitwise:
        print(f"{len(ta)} tensors bitwise identical")
        return 0
    print(f"{len(ta)} tensors, worst relative difference {worst:.3g} in {worst_name} (tol {tol:g})")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
