"""Inputs and references of precision.mlir (y = x w^T), no dependency but
Python.

  precision_io.py write W.safetensors X.safetensors
      the weight `w` [8, 8] and the input `input.x` [4, 8], f32 values with
      bits below bf16's 8-bit significand, ties included
  precision_io.py check OUT.safetensors fp32|bf16
      compares `output.y` with x w^T of the f32 values (fp32) or of the
      values rounded to bf16, nearest even (bf16), summed in double: within
      1e-6 relative (the f32 sum of 8 exact products), and checks that the
      two references differ by far more than that (so a bf16 artifact that
      does not round fails)
"""

import struct
import sys

from safetensors_f32 import read, write

ROWS, K, COLS = 4, 8, 8


def x_values():
    # 1 + j 2^-9 (j = 0..31): every rounding case of the last bf16 bit,
    # ties (j odd multiples of 2) to even included; signs alternate by row.
    return [(1 if i % 2 == 0 else -1) * (1.0 + (i * K + k) * 2.0 ** -9)
            for i in range(ROWS) for k in range(K)]


def w_values():
    return [(((j * K + k) % 5) - 2) * (1.0 + ((j + 3 * k) % 7) * 2.0 ** -10)
            for j in range(COLS) for k in range(K)]


def to_f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def to_bf16(v):
    (bits,) = struct.unpack("<I", struct.pack("<f", v))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def linear(x, w):  # x [ROWS, K] @ w^T, w [COLS, K]
    return [sum(x[i * K + k] * w[j * K + k] for k in range(K))
            for i in range(ROWS) for j in range(COLS)]


def rel(a, b):
    num = sum((p - q) ** 2 for p, q in zip(a, b)) ** 0.5
    return num / sum(q * q for q in b) ** 0.5


def main():
    x = [to_f32(v) for v in x_values()]
    w = [to_f32(v) for v in w_values()]
    if sys.argv[1] == "write":
        write(sys.argv[2], "w", [COLS, K], w)
        write(sys.argv[3], "input.x", [ROWS, K], x)
        return 0
    fp32 = linear(x, w)
    bf16 = linear([to_bf16(v) for v in x], [to_bf16(v) for v in w])
    expected = fp32 if sys.argv[3] == "fp32" else bf16
    got = read(sys.argv[2], "output.y")
    err = rel(got, expected)
    gap = rel(bf16, fp32)
    ok = len(got) == len(expected) and err <= 1e-6 and gap > 1e-3
    print("output.y vs the %s reference: rel %.3g (bf16 vs fp32 references: "
          "rel %.3g): %s" % (sys.argv[3], err, gap, "OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
