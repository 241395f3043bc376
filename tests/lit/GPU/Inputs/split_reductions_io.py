"""Inputs and reference of split-reductions-cpu.mlir, with no dependency but
Python.

  split_reductions_io.py write W.safetensors T.safetensors
      the parameter `x` [3, 1001] and the input `input.init` [3], f32
  split_reductions_io.py check OUT.safetensors
      compares `output.sumsq` (sum of x^2), `output.rowmax` (max of each
      row) and `output.rowsum` (init + sum of each row) with the exact
      values, which f32 represents: every x is a multiple of 1/16 below 4
      in magnitude, so every partial sum of squares is a multiple of 1/256
      below 2^15 (23 significant bits) and every row sum a multiple of 1/16
      below 2^12; any order of summation is exact, and a term summed twice
      or left out changes the result.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "Pipelines", "Inputs"))
from safetensors_f32 import read, write  # noqa: E402

ROWS, COLS = 3, 1001
INIT = [0.5, -1.25, 100.0]


def x_values():
    return [((i * COLS + j) % 97 - 48) / 16.0
            for i in range(ROWS) for j in range(COLS)]


def main():
    if sys.argv[1] == "write":
        write(sys.argv[2], "x", [ROWS, COLS], x_values())
        write(sys.argv[3], "input.init", [ROWS], INIT)
        return 0
    x = x_values()
    rows = [x[i * COLS:(i + 1) * COLS] for i in range(ROWS)]
    expected = {
        "output.sumsq": [sum(v * v for v in x)],
        "output.rowmax": [max(r) for r in rows],
        "output.rowsum": [INIT[i] + sum(r) for i, r in enumerate(rows)],
    }
    ok = True
    for name, want in expected.items():
        got = read(sys.argv[2], name)
        good = got == want
        ok = ok and good
        print("%s %s: %s" % (name, "OK" if good else "MISMATCH",
                             " ".join(repr(v) for v in got)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
