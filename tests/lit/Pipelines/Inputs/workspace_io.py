"""Inputs and reference of cpu-workspace.mlir, with no dependency but Python.

  workspace_io.py write W.safetensors T.safetensors
      the weight `w` [8, 8] and the input `input.x` [4, 8], f32
  workspace_io.py check OUT.safetensors
      compares `output.y` with silu(x) @ w^T -> silu -> @ w^T, + silu(x)
"""

import math
import sys

from safetensors_f32 import read, write

ROWS, COLS = 4, 8


def x_values():
    return [((i * COLS + j) % 7 - 3) / 4.0 for i in range(ROWS) for j in range(COLS)]


def w_values():
    return [((k * COLS + j) % 5 - 2) / 8.0 for k in range(COLS) for j in range(COLS)]


def silu(v):
    return v / (1.0 + math.exp(-v))


def linear(a, w):  # a [ROWS, COLS] @ w^T, w [COLS, COLS]
    return [sum(a[i * COLS + k] * w[j * COLS + k] for k in range(COLS))
            for i in range(ROWS) for j in range(COLS)]


def main():
    if sys.argv[1] == "write":
        write(sys.argv[2], "w", [COLS, COLS], w_values())
        write(sys.argv[3], "input.x", [ROWS, COLS], x_values())
        return 0
    w = w_values()
    s = [silu(v) for v in x_values()]
    t = [silu(v) for v in linear(s, w)]
    expected = [a + b for a, b in zip(linear(t, w), s)]
    got = read(sys.argv[2], "output.y")
    err = max(abs(a - b) for a, b in zip(got, expected))
    scale = max(abs(b) for b in expected)
    ok = len(got) == len(expected) and err <= 1e-5 * scale + 1e-6
    print("output.y max abs error %.3g: %s" % (err, "OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
