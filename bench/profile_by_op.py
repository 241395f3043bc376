#!/usr/bin/env python3
"""Sums a GECKO_CUDA_PROFILE=all table (the stderr of `gecko-run bench`) per
model op: kernel names end in "__<step>" (the frontend's step names made
identifiers, e.g. grad_kernel_87__layers_0_mega_cema, docs/cuda.md); the
layer index is dropped so every layer's CEMA adds up under "mega_cema".
cuBLASLt GEMMs are one group per shape ("gemm f32 M x N x K"); kernels
without a step (the loss, the optimizer, glue) are "unlabelled".

  profile_by_op.py PROFILE.txt        prints ms, share and launches per op
"""
import collections
import re
import sys


def main(path):
    rows = collections.OrderedDict()
    total = 0.0
    header = None
    for line in open(path):
        if line.startswith("gecko profile:"):
            header = line.strip()
            continue
        m = re.match(r"\s+([0-9.]+)\s+[0-9.]+%\s+(\d+)\s+\S+\s+\S+\s+(.*)$", line)
        if not m:
            continue
        ms, launches, name = float(m.group(1)), int(m.group(2)), m.group(3)
        if name.startswith("gemm"):
            key = "GEMM (cuBLASLt): " + name
        elif "__" in name:
            step = name.split("__", 1)[1]
            key = re.sub(r"^layers_\d+_", "", step)
        else:
            key = "unlabelled (loss, optimizer, glue)"
        ms0, n0 = rows.get(key, (0.0, 0))
        rows[key] = (ms0 + ms, n0 + launches)
        total += ms
    if not rows:
        sys.exit("%s: no profile table (run with GECKO_CUDA_PROFILE=all)" % path)
    if header:
        print(header)
    print("%12s %7s %9s  op" % ("ms", "share", "launches"))
    for key, (ms, n) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print("%12.3f %6.1f%% %9d  %s" % (ms, 100 * ms / total, n, key))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
