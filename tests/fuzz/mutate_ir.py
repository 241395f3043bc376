#!/usr/bin/env python3
"""Feeds truncated and mutated IR to gecko-opt and fails on any crash.

Every .mlir file of the lit corpus is split at `// -----` markers; each case
is mutated (truncation, line deletion and duplication, token swaps, number and
type corruption, bracket damage, byte flips) and run through gecko-opt three
ways: parse/verify/print, the VJP test pass, and canonicalization. A run may
succeed or fail with diagnostics (exit code 0 or 1); anything else -- a
signal, an assertion, LLVM's crash banner, or a timeout -- is a failure, and
the offending input is written next to the report for reproduction.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

CRASH_MARKERS = ("PLEASE submit a bug report", "Stack dump", "Assertion",
                 "LLVM ERROR", "UNREACHABLE executed")
PIPELINES = ([], ["--test-gecko-vjp"], ["--canonicalize"])
NUMBERS = ["0", "-1", "1", "3", "65536", "9223372036854775807", "-100",
           "1.0e+300", "nan", "?"]
TYPES = ["f32", "bf16", "f64", "i64", "i1", "index", "complex<f32>", "f16"]


def load_corpus(root):
    cases = []
    for dirpath, _, files in os.walk(root):
        if os.sep + "lib" in dirpath or "Inputs" in dirpath:
            continue
        for name in sorted(files):
            if not name.endswith(".mlir"):
                continue
            text = open(os.path.join(dirpath, name), encoding="utf-8").read()
            for part in text.split("// -----"):
                lines = [l for l in part.splitlines()
                         if not l.lstrip().startswith("//")]
                body = "\n".join(lines).strip()
                if body:
                    cases.append((name, body))
    return cases


def mutate(text, rng):
    kind = rng.randrange(9)
    if kind == 0:  # truncate anywhere
        return text[: rng.randrange(len(text) + 1)]
    lines = text.splitlines()
    if kind == 1 and lines:  # delete a line
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines)
    if kind == 2 and lines:  # duplicate a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines)
    if kind == 3:  # corrupt a number
        nums = list(re.finditer(r"-?\d+(\.\d+)?(e[+-]?\d+)?", text))
        if nums:
            m = rng.choice(nums)
            return text[: m.start()] + rng.choice(NUMBERS) + text[m.end():]
    if kind == 4:  # corrupt an element type
        tys = list(re.finditer(r"\b(f32|bf16|f64|i64|i1|f16)\b", text))
        if tys:
            m = rng.choice(tys)
            return text[: m.start()] + rng.choice(TYPES) + text[m.end():]
    if kind == 5:  # swap two SSA values
        vals = list(set(re.findall(r"%[A-Za-z_][\w$.]*|%\d+", text)))
        if len(vals) >= 2:
            a, b = rng.sample(vals, 2)
            return text.replace(a, "\0").replace(b, a).replace("\0", b)
    if kind == 6:  # damage brackets / punctuation
        idx = [i for i, c in enumerate(text) if c in "()<>{}[],:x="]
        if idx:
            i = rng.choice(idx)
            return text[:i] + rng.choice(["", "(", ">", ",", "x", "?"]) + text[i + 1:]
    if kind == 7:  # delete a keyword group such as weight(%w) or groups(2)
        groups = list(re.finditer(r"\b[a-z_]+\([^()]*\)", text))
        if groups:
            m = rng.choice(groups)
            return text[: m.start()] + text[m.end():]
    # flip a random byte to a random printable character
    if not text:
        return text
    i = rng.randrange(len(text))
    return text[:i] + chr(rng.randrange(32, 127)) + text[i + 1:]


def run_one(args, idx, text, pipeline):
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        proc = subprocess.run([args.gecko_opt, path, *pipeline],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=args.timeout, text=True, errors="replace")
        crashed = proc.returncode not in (0, 1) or any(
            m in proc.stderr for m in CRASH_MARKERS)
        reason = f"exit code {proc.returncode}" if crashed else ""
        detail = proc.stderr[-2000:]
    except subprocess.TimeoutExpired:
        crashed, reason, detail = True, f"timeout after {args.timeout}s", ""
    if crashed:
        keep = os.path.join(args.out_dir, f"crash-{idx}.mlir")
        os.replace(path, keep)
        return f"{reason} with {' '.join(pipeline) or 'parse'}: {keep}\n{detail}"
    os.unlink(path)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gecko-opt", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--mutants", type=int, default=600)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--out-dir", default=tempfile.gettempdir())
    args = p.parse_args()

    rng = random.Random(args.seed)
    corpus = load_corpus(args.corpus)
    if not corpus:
        print("mutate_ir: empty corpus", file=sys.stderr)
        return 1
    jobs = []
    for i in range(args.mutants):
        _, text = rng.choice(corpus)
        for _ in range(rng.choice([1, 1, 2, 3])):
            text = mutate(text, rng)
        jobs.append((i, text, PIPELINES[i % len(PIPELINES)]))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda j: run_one(args, *j), jobs))
    failures = [r for r in results if r]
    for r in failures:
        print("CRASH:", r)
    print(f"mutate_ir: {len(jobs)} mutants of {len(corpus)} cases, "
          f"{len(failures)} crashes")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
