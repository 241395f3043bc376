#!/usr/bin/env python3
"""Random inputs for an artifact's apply_gradients (the optimizer half of
a --data-parallel train step) and the check of its global gradient norm,
for scripts/device/cuda-artifacts.sh.

Usage: gecko-run inspect MODEL.gkm | optimizer_inputs.py W.safetensors T.safetensors [SEED]
       optimizer_inputs.py check T.safetensors OUT.safetensors [--rtol R]

Reads the argument list of apply_gradients from `gecko-run inspect` and
writes into W every param as N(0, 0.02) and every state (the AdamW moments
opt.m.* as N(0, 1e-3), opt.v.* as their squares plus 1e-8); into T every
gradient input grad.* as N(0, 0.05), input.lr = 1e-3 and input.step = 3.
With these gradients the global norm of any config is well above 1, so an
artifact compiled with --max-grad-norm 1 clips.

`check` compares OUT's output.grad_norm with the norm of T's gradients
computed in float64, relative tolerance R (default 1e-6). The split
reductions of the CUDA target (gecko-gpu-split-reductions: 64-term
partials, then the partials) hold it: on the tiny model (834048 gradient
elements) they are 2e-8 off, where one sequential f32 sum per gradient
(the CPU pipeline) is 4.3e-6 off. Exit 1 if it does not hold. Needs numpy
only.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from random_inputs import DTYPES, function_args, write_safetensors  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from compare_outputs import read  # noqa: E402


def check(inputs_path, out_path, rtol):
    grads = read(inputs_path)
    exact = np.sqrt(sum(float(np.square(v.astype(np.float64)).sum())
                        for k, v in grads.items() if k.startswith("grad.")))
    got = float(read(out_path)["output.grad_norm"])
    rel = abs(got - exact) / exact
    good = rel <= rtol
    print(f"{'ok  ' if good else 'FAIL'} output.grad_norm {got:.9g}, float64 "
          f"{exact:.9g}: rel {rel:.3g} (rtol {rtol:g})")
    return 0 if good else 1


def main():
    if sys.argv[1] == "check":
        rtol = float(sys.argv[sys.argv.index("--rtol") + 1]) \
            if "--rtol" in sys.argv else 1e-6
        return check(sys.argv[2], sys.argv[3], rtol)
    weights_path, inputs_path = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = np.random.default_rng(seed)
    weights, inputs = {}, {}
    for kind, name, dtype, shape, _ in function_args(sys.stdin,
                                                     "apply_gradients"):
        np_type = DTYPES[dtype][1]
        if kind == "param":
            weights[name] = (rng.standard_normal(shape) * 0.02).astype(np_type)
        elif kind == "state" and name.startswith("opt.m."):
            weights[name] = (rng.standard_normal(shape) * 1e-3).astype(np_type)
        elif kind == "state" and name.startswith("opt.v."):
            m_ = rng.standard_normal(shape) * 1e-3
            weights[name] = (m_ * m_ + 1e-8).astype(np_type)
        elif kind == "input" and name.startswith("grad."):
            inputs[name] = (rng.standard_normal(shape) * 0.05).astype(np_type)
        elif kind == "input" and name == "input.lr":
            inputs[name] = np.full(shape, 1e-3, np_type)
        elif kind == "input" and name == "input.step":
            inputs[name] = np.full(shape, 3, np_type)
    if not inputs:
        print("no apply_gradients inputs in the listing", file=sys.stderr)
        return 1
    write_safetensors(weights_path, weights)
    write_safetensors(inputs_path, inputs)
    print(f"{len(weights)} params and states -> {weights_path}, "
          f"{len(inputs)} inputs -> {inputs_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
