#!/usr/bin/env python3
"""Writes random params and tokens for a .gkm function, for benchmarks.

Usage: gecko-run inspect MODEL.gkm | random_inputs.py WEIGHTS.safetensors TOKENS.safetensors [FUNCTION [SEED]]

Reads the argument list of FUNCTION (default: forward) from `gecko-run
inspect` and writes every `param` as N(0, 0.02) (f32; integer params zero)
and `input.tokens` as uniform ids in its range. Needs numpy only.
"""
import json
import re
import struct
import sys

import numpy as np

DTYPES = {"f32": ("F32", np.float32), "f64": ("F64", np.float64),
          "i64": ("I64", np.int64), "i32": ("I32", np.int32)}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        tag = [k for k, (_, t) in DTYPES.items() if t == array.dtype][0]
        header[name] = {"dtype": DTYPES[tag][0], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def function_args(lines, function):
    """Yields (kind, name, dtype, shape, rest of the line) for every
    param, input and state argument of `function` in a `gecko-run inspect`
    listing."""
    current = None
    line_re = re.compile(
        r"^\s+(param|input|state)\s+(\S+)\s+(\w+)\s+\[([0-9, ]*)\](.*)$")
    for line in lines:
        m = re.match(r"^function '([^']+)'", line)
        if m:
            current = m.group(1)
            continue
        if current != function:
            continue
        m = line_re.match(line)
        if m:
            kind, name, dtype, shape, rest = m.groups()
            yield kind, name, dtype, [int(d) for d in shape.split(",")
                                      if d.strip()], rest


def main():
    weights_path, tokens_path = sys.argv[1], sys.argv[2]
    function = sys.argv[3] if len(sys.argv) > 3 else "forward"
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    rng = np.random.default_rng(seed)
    params, tokens = {}, {}
    for kind, name, dtype, shape, rest in function_args(sys.stdin, function):
        np_type = DTYPES[dtype][1]
        if kind == "param":
            if np_type in (np.float32, np.float64):
                params[name] = (rng.standard_normal(shape) * 0.02).astype(np_type)
            else:
                params[name] = np.zeros(shape, np_type)
        elif kind == "input" and name == "input.tokens":
            r = re.search(r"range \[(\d+), (\d+)\)", rest)
            lo, hi = (int(r.group(1)), int(r.group(2))) if r else (0, 2)
            tokens[name] = rng.integers(lo, hi, shape).astype(np_type)
    write_safetensors(weights_path, params)
    write_safetensors(tokens_path, tokens)
    print(f"{len(params)} params -> {weights_path}, "
          f"{len(tokens)} inputs -> {tokens_path}")


if __name__ == "__main__":
    main()
