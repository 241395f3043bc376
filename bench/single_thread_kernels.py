#!/usr/bin/env python3
"""Lists the single-thread kernels of a CUDA compile and the sequential work
in each, from the kernel module as the CUDA pipeline has it before the
gpu.module is lowered to NVVM (scf loops intact).

  gecko-compile --model models/small.json --mode train --data-parallel \\
      --batch 2 --seq-len 512 --emit=mlir -o small.mlir
  gecko-opt small.mlir --pass-pipeline='builtin.module(gecko-cuda-kernels)' \\
      --mlir-print-ir-before=expand-strided-metadata,gpu-module-to-binary \\
      -o /dev/null 2> k.mlir
  python3 bench/single_thread_kernels.py k.mlir [--top N]

A kernel is single-thread when gpu-kernel-outlining recorded a grid and a
block of 1 x 1 x 1 (known_grid_size, known_block_size). Its work is the
number of iterations of its innermost scf.for loops, each the product of
the trip counts of its enclosing loops. Bounds are constants in the kernel
or constants of the host function passed by its launch (the second dump);
a loop with another bound counts as one iteration and marks the estimate
with '+'.
Kernels are grouped by the host function in their name (apply_gradients,
train_step, ...). A kernel launched inside a host loop runs once per
iteration; the counts here are per launch site.
"""

import argparse
import re
import sys
from collections import defaultdict

FUNC = re.compile(r"^\s*gpu\.func @(\w+)\((.*?)\) kernel attributes \{(.*)\}")
GRID = re.compile(r"known_grid_size = array<i32: (\d+), (\d+), (\d+)>")
BLOCK = re.compile(r"known_block_size = array<i32: (\d+), (\d+), (\d+)>")
CONST = re.compile(r"^\s*(%[\w]+) = arith\.constant (-?\d+) : index")
LAUNCH = re.compile(r"gpu\.launch_func\s+@\w+::@(\w+) .*\bargs\((.*)\)")
HOST_FUNC = re.compile(r"^  func\.func (?:private )?@(\w+)\(")
ARG = re.compile(r"(%[\w#]+) : ")
FOR = re.compile(r"^\s*(?:%[\w:#]+ = )?scf\.for %\w+ = (%\w+) to (%\w+) step (%\w+)")


def kernels(lines):
    """Yields (name, single_thread, body lines) for every gpu.func."""
    i = 0
    while i < len(lines):
        m = FUNC.match(lines[i])
        if not m:
            i += 1
            continue
        attrs = m.group(3)
        grid, block = GRID.search(attrs), BLOCK.search(attrs)
        single = bool(grid and block and
                      all(v == "1" for v in grid.groups() + block.groups()))
        indent = len(lines[i]) - len(lines[i].lstrip())
        body = []
        i += 1
        while i < len(lines) and not (
                lines[i].startswith(" " * indent + "}") and
                len(lines[i]) - len(lines[i].lstrip()) == indent):
            body.append(lines[i])
            i += 1
        yield m.group(1), single, body


def launch_constants(lines):
    """Maps each kernel to {"%argN": value} for the index constants that
    its launch passes."""
    result = {}
    consts = {}
    for line in lines:
        if HOST_FUNC.match(line):
            consts = {}
            continue
        m = CONST.match(line)
        if m:
            consts[m.group(1)] = int(m.group(2))
            continue
        m = LAUNCH.search(line)
        if m:
            args = ARG.findall(m.group(2))
            result[m.group(1)] = {"%%arg%d" % i: consts[a]
                                  for i, a in enumerate(args) if a in consts}
    return result


def work(body, known):
    """Iterations of the innermost scf.for loops (see the module comment)."""
    consts = dict(known)
    for line in body:
        m = CONST.match(line)
        if m:
            consts[m.group(1)] = int(m.group(2))
    stack = []  # (indent, multiplier, has_inner_loop)
    total, exact = 0, True

    def close(entry):
        nonlocal total
        if not entry[2]:
            total += entry[1]

    for line in body:
        ind = len(line) - len(line.lstrip())
        while stack and ind <= stack[-1][0] and line.strip().startswith("}"):
            close(stack.pop())
            break
        m = FOR.match(line)
        if not m:
            continue
        lb, ub, step = (consts.get(v) for v in m.groups())
        if None in (lb, ub, step) or step <= 0:
            trips, exact = 1, False
        else:
            trips = max(0, (ub - lb + step - 1) // step)
        outer = stack[-1][1] if stack else 1
        if stack:
            stack[-1] = (stack[-1][0], stack[-1][1], True)
        stack.append((ind, outer * trips, False))
    while stack:
        close(stack.pop())
    return total, exact


def host_function(kernel):
    return re.sub(r"_kernel(_\w*)?$", "", kernel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    with open(args.dump) as f:
        lines = f.read().splitlines()
    launched = launch_constants(lines)
    per_func = defaultdict(lambda: {"kernels": 0, "single": []})
    for name, single, body in kernels(lines):
        entry = per_func[host_function(name)]
        entry["kernels"] += 1
        if single:
            iters, exact = work(body, launched.get(name, {}))
            entry["single"].append((iters, exact, name))
    if not per_func:
        print("no kernels found in %s" % args.dump, file=sys.stderr)
        return 1
    print("%-18s %8s %14s %16s" % ("function", "kernels", "single-thread",
                                   "their iterations"))
    for func, entry in sorted(per_func.items()):
        single = entry["single"]
        iters = sum(s[0] for s in single)
        exact = all(s[1] for s in single)
        print("%-18s %8d %14d %15d%s" % (func, entry["kernels"], len(single),
                                         iters, "" if exact else "+"))
    for func, entry in sorted(per_func.items()):
        single = sorted(entry["single"], reverse=True)[:args.top]
        if not single or single[0][0] == 0:
            continue
        print("largest single-thread kernels of %s:" % func)
        for iters, exact, name in single:
            print("  %12d%s  %s" % (iters, "" if exact else "+", name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
