#!/usr/bin/env python3
"""Compares every tensor of two safetensors checkpoints.

compare_weights.py A B --rtol R [--prefix P ...] [--skip-prefix P ...]

For each tensor of B (optionally only names starting with a prefix) prints
nothing unless it fails; at the end prints the largest relative error
||a - b||_2 / ||b||_2 over the tensors and the largest elementwise relative
error |a - b| / max(|b|, 1e-3 * max|b|). Exit 0 when the largest relative
L2 error is <= R and both files hold the same tensors with the same dtypes
and shapes.
"""
import argparse
import array
import json
import math
import struct
import sys

# Plain Python (no numpy): the tensors of the tests are small.
CODES = {"F32": "f", "F64": "d", "I64": "q", "I32": "i"}


def load(path):
    """name -> (dtype, shape, list of floats)"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        values = array.array(CODES[info["dtype"]])
        values.frombytes(data[base + begin:base + end])
        if sys.byteorder != "little":
            values.byteswap()
        out[name] = (info["dtype"], info["shape"], [float(v) for v in values])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, required=True)
    ap.add_argument("--prefix", action="append", default=[])
    ap.add_argument("--skip-prefix", action="append", default=[])
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    if sorted(a) != sorted(b):
        print("tensor names differ: %s" % sorted(set(a) ^ set(b)))
        return 1
    worst, worst_name, worst_elem = 0.0, "", 0.0
    compared = 0
    for name in sorted(b):
        if args.prefix and not any(name.startswith(p) for p in args.prefix):
            continue
        if any(name.startswith(p) for p in args.skip_prefix):
            continue
        (da, sa, x), (db, sb, y) = a[name], b[name]
        if da != db or sa != sb:
            print("%s: %s %s vs %s %s" % (name, da, sa, db, sb))
            return 1
        compared += 1
        diff = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)))
        denom = math.sqrt(sum(q * q for q in y))
        rel = diff / denom if denom > 0 else diff
        scale = max([abs(q) for q in y] + [1e-30])
        for p, q in zip(x, y):
            worst_elem = max(worst_elem, abs(p - q) / max(abs(q), 1e-3 * scale))
        if rel > worst:
            worst, worst_name = rel, name
    ok = compared > 0 and worst <= args.rtol
    print("compared %d tensors: max relative L2 error %.3e (%s), max elementwise "
          "relative error %.3e; rtol %.1e: %s"
          % (compared, worst, worst_name or "-", worst_elem, args.rtol, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
