#!/usr/bin/env python3
"""Compares the results of two `gecko-run forward --out` files.

Usage: compare_outputs.py REF.safetensors OTHER.safetensors [--rtol 1e-5]

For every float tensor both files hold: max |a - b| and the relative error
||a - b||_2 / ||a||_2; integer tensors must be equal. Exits 1 if a tensor is
missing from OTHER or exceeds the tolerance. Needs numpy only.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[base + lo:base + hi],
                                  dtype=DTYPES[info["dtype"]]).reshape(
                                      info["shape"])
    return out


def main():
    args = sys.argv[1:]
    rtol = 1e-5
    if "--rtol" in args:
        i = args.index("--rtol")
        rtol = float(args[i + 1])
        del args[i:i + 2]
    ref, other = read(args[0]), read(args[1])
    ok = True
    for name, a in sorted(ref.items()):
        if name not in other:
            print(f"MISSING {name}")
            ok = False
            continue
        b = other[name]
        if a.dtype.kind in "iub":
            same = np.array_equal(a, b)
            print(f"{'ok  ' if same else 'FAIL'} {name}: integer results "
                  f"{'equal' if same else 'differ'}")
            ok &= bool(same)
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        diff = np.abs(a64 - b64)
        norm = np.linalg.norm(a64)
        rel = np.linalg.norm(a64 - b64) / norm if norm > 0 else float(
            diff.max(initial=0))
        good = bool(np.isfinite(b64).all()) and rel <= rtol
        print(f"{'ok  ' if good else 'FAIL'} {name}: max abs "
              f"{diff.max(initial=0):.3g}, rel {rel:.3g} (rtol {rtol:g})")
        ok &= good
    print("all results match" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
