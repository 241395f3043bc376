#!/usr/bin/env python3
"""Compares the per-step losses and gradient norms of two `gecko-run train
--metrics` files (standard library only), for the equivalence tests.

  compare_losses.py A.jsonl B.jsonl [--steps 3] [--loss-rtol 1e-6]
                    [--grad-norm-rtol 1e-5]

Prints one line per step and exits 1 when the step counts differ or a
relative difference exceeds its bound.
"""
import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--loss-rtol", type=float, default=1e-6)
    p.add_argument("--grad-norm-rtol", type=float, default=1e-5)
    args = p.parse_args()
    a = [json.loads(line) for line in open(args.a)]
    b = [json.loads(line) for line in open(args.b)]
    if not len(a) == len(b) == args.steps:
        print("FAIL: %d and %d steps, expected %d" % (len(a), len(b), args.steps))
        return 1
    ok = True
    for x, y in zip(a, b):
        rel = abs(x["loss"] - y["loss"]) / abs(y["loss"])
        gn = abs(x["grad_norm"] - y["grad_norm"]) / abs(y["grad_norm"])
        good = rel < args.loss_rtol and gn < args.grad_norm_rtol
        ok = ok and good
        print("  step %d loss %.7f vs %.7f (rel %.1e), grad_norm %.5f vs %.5f "
              "(rel %.1e)%s" % (x["step"], x["loss"], y["loss"], rel,
                               x["grad_norm"], y["grad_norm"], gn,
                               "" if good else "  FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
