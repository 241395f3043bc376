//===- Passes.td - gecko transformation passes -------------*- tablegen -*-===//
//
// Passes that transform gecko (or, late in the pipeline, lowered) IR. One
// pass per file under passes/lib/Transforms/.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TRANSFORMS_PASSES
#define GECKO_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def GeckoEmitEntryPoints : Pass<"gecko-emit-entry-points", "ModuleOp"> {
  let summary = "Add the kernel-ABI entry wrapper of every public function";
  let description = [{
    Runs on the LLVM dialect, after `convert-func-to-llvm` with the bare
    pointer calling convention, where every public function takes one
    `!llvm.ptr` per buffer (arguments, then results turned into out
    parameters). For each such function `@f` it adds

        llvm.func @gecko_entry_f(%args: !llvm.ptr)

    which loads the i-th pointer of the array `%args` and calls `@f` with
    them: the calling convention of `gecko/abi/kernel_abi.h`, shared by the
    artifact's runtime and the test JIT. A public function with a
    non-pointer parameter or a result cannot be called this way and is an
    error.

    When `gecko-plan-memory` gave `@f` a workspace (`gecko.workspace_bytes`
    > 0), its last parameter is the workspace (`{gecko.workspace}`), so the
    pointer at index num_args + num_results of `%args` (the ABI's workspace
    pointer) reaches it; the pass checks that, and copies the plan
    attributes (`gecko.workspace_bytes`, `gecko.workspace_alignment`,
    `gecko.buffers`) onto the entry so that its loader can size the
    workspace. Without a workspace the ABI's trailing NULL is not read.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def GeckoInsertReadySignals
    : Pass<"gecko-insert-ready-signals", "ModuleOp"> {
  let summary = "Signal the runtime as soon as a collective's result is final";
  let description = [{
    Runs after bufferization (and `buffer-results-to-out-params`, which
    turns results into out parameters and keeps their attributes) on every
    function with out parameters that carry both `gecko.collective` (the
    result is reduced across ranks by the runtime) and `gecko.output` (its
    plan name). Other functions are left untouched.

    For each such buffer it finds the last top-level op of the function body
    that uses the buffer or an alias of it: uses nested in regions count for
    the top-level op that holds them, and aliases are followed through
    view-like ops (`memref.subview`, `cast`, `collapse_shape`,
    `expand_shape`, `reinterpret_cast`, `view`, ...) and through every
    memref result of a known-effect op. It inserts
    `gecko.ready_signal <id> [names]` right after that op: after the last
    *use*, read or write, not the last write, because the runtime reduces
    the buffer in place (NCCL) and nothing may touch it after its signal.
    Buffers whose last uses are the same op share one signal. A buffer
    that escapes the analysis (a call, an op of unknown effects, a
    terminator or region operand that may alias it, an op that turns it
    into a pointer or a tensor) or is never used is signalled at the end
    of the body, just before the return. Ids count the signals in program
    order from 0.

    The pass records the signals on the function as
    `gecko.signals = [[names of id 0], [names of id 1], ...]`
    (`gecko-emit-entry-points` copies it onto the entry, and the artifact's
    plan lists it) and removes the `gecko.collective` and `gecko.output`
    markers it consumed, so running it again changes nothing. A marked
    function whose body is not a single block is an error (bufferized
    functions are; structured control flow lowers to blocks only later).
  }];
}

def GeckoLowerReadySignals : Pass<"gecko-lower-ready-signals", "ModuleOp"> {
  let summary = "Lower gecko.ready_signal to a call through the host imports";
  let description = [{
    Replaces every `gecko.ready_signal <id>` by a call of
    `imports.signal(imports.context, id)`, the fourth field of the exported
    `gecko_host_imports` table (kernel ABI v2, `gecko/abi/kernel_abi.h`;
    `{context, launch, gemm, signal}` at offsets 0, 8, 16 and 24). A CPU
    module gets the table here (zero-initialized, filled by the runtime);
    a CUDA module already has it from
    `gecko-convert-gpu-launch-to-runtime-calls`. The call is skipped while
    `signal` is NULL (a module run by a JIT that fills no table). Runs
    before `convert-scf-to-cf` and `convert-func-to-llvm`; a module without
    signals is left untouched.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::scf::SCFDialect"];
}

def GeckoVerifyFrontendContract
    : Pass<"gecko-verify-frontend-contract", "ModuleOp"> {
  let summary = "Check that a module follows the frontend contract";
  let description = [{
    Verifies what every producer of gecko modules (the IR builder of
    `gecko-compile --model`, or a hand-written module) must emit before
    the compiler binds tensors by name, differentiates and lowers it: the
    labelled rules F1-F8 of docs/frontend.md (module attributes, named
    statically shaped arguments and results, parameter types consistent
    across functions, integer input ranges, and only the ops that the
    lowering and autodiff handle). Each violation is reported with its
    label, e.g. `[F2] argument 3 of @forward has neither gecko.param nor
    gecko.input`; the pass fails if there is any. It changes nothing.
  }];
}

def GeckoLowerMemrefCopy : Pass<"gecko-lower-memref-copy"> {
  let summary = "Rewrite memref.copy into linalg.copy";
  let description = [{
    `memref.copy` between buffers that are not both contiguous lowers to a
    call of the MLIR runtime's `memrefCopy`, which compiled artifacts do not
    link (they depend on nothing but libc and libm). Rewriting every copy
    into `linalg.copy` before `convert-linalg-to-loops` turns it into plain
    loops, which LLVM vectorizes or recognizes as memcpy when contiguous.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def GeckoPrepareBufferization : Pass<"gecko-prepare-bufferization", "ModuleOp"> {
  let summary = "Make public functions safe to bufferize into the kernel ABI";
  let description = [{
    Runs right before one-shot bufferization on public functions with tensor
    arguments and results:
    - marks every tensor argument `bufferization.writable = false`: the
      arguments are the caller's parameters and inputs, which a kernel must
      never overwrite (an in-place update then bufferizes into a copy);
    - gives every returned value its own buffer: a result that is a function
      argument, or that repeats an earlier result (e.g. a debug output equal
      to another, or two zero gradients that CSE merged), is copied into a
      fresh tensor, since each result becomes a distinct out parameter.
  }];
  let dependentDialects = [
    "mlir::bufferization::BufferizationDialect",
    "mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"
  ];
}

def GeckoPlanMemory : Pass<"gecko-plan-memory", "ModuleOp"> {
  let summary = "Place the static temporaries of each function in one "
                "workspace arena";
  let description = [{
    Runs on bufferized IR, after `buffer-results-to-out-params` and before
    `buffer-deallocation-pipeline` (planned buffers are views of a function
    argument, which the deallocation pipeline never frees, so no dealloc has
    to be removed afterwards; deallocs already present on a planned buffer
    or its aliases are erased). For every public `func.func` with a single
    block that no other function calls:

    1. Candidates are the `memref.alloc` ops with a static shape, the
       identity layout, the default memory space and an int, float or index
       element type. An alloc nested in `scf.for`, `scf.while`, `scf.if`,
       `scf.execute_region` or `scf.index_switch` is a candidate too when no
       alias of it reaches a region terminator (it dies in the iteration or
       branch that allocates it).
    2. Aliases are followed through every op that takes the buffer and
       returns a memref (subview, expand/collapse_shape, cast,
       reinterpret_cast, view, calls...), and through region-carrying ops:
       a buffer passed as an init operand or yielded aliases every memref
       result and region argument of the op. Each use is mapped to its
       ancestor in the function body; the buffer lives over the closed
       interval [first use, last use] of those top-level positions (an
       unused buffer at its alloc), so a buffer used inside a loop lives
       across the whole loop. A nested alloc lives over its top-level
       ancestor.
    3. Buffers are packed first-fit in order of decreasing size (ties: alloc
       order) at offsets aligned to max(64, the alloc's alignment); two
       buffers whose intervals intersect never overlap in memory. The
       arena's size is the largest end offset.
    4. When the arena is not empty, the function gets a last argument
       `%workspace: memref<Nxi8> {gecko.workspace}` (the kernel ABI's
       trailing workspace pointer) and each planned alloc becomes
       `memref.view %workspace[offset][]`.

    Results are recorded on the function: `gecko.workspace_bytes` (i64),
    `gecko.workspace_alignment` (i64), `gecko.buffers` (one
    `array<i64: offset, bytes>` per planned buffer, in alloc order) and
    `gecko.unplanned_allocs` (i64: allocs left as heap allocations because
    of a dynamic size, a layout or element type a view cannot produce, an
    alias that escapes through a return, a region terminator of a nested
    alloc, a parallel region, or a cast to a non-memref value). Allocs the
    later passes create (clones of the deallocation pipeline) are not
    counted. `memref.alloca` is never planned: stack slots cost no heap
    allocation and LLVM promotes the small ones to registers.
    The plan is deterministic: it depends only on the op order.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect"];
}

def GeckoFuseElementwise : Pass<"gecko-fuse-elementwise"> {
  let summary = "Elementwise fusion of linalg.generic producers into their "
                "consumers, without repeated read-modify-writes";
  let description = [{
    The upstream `linalg-fuse-elementwise-ops` (the same patterns: producer
    into consumer fusion, reshape folding by expansion, constant folding and
    the linalg canonicalizations, applied top-down) with one more condition
    on producer/consumer fusion: a producer whose payload reads one of its
    `outs` (e.g. `out + x`, accumulating into a zero-filled tensor) fuses
    only into a consumer whose indexing map for it is a permutation.

    Upstream keeps such a producer's result as an extra `outs` of the fused
    op (with the producer's map composed into the consumer's loops) and
    repeats its read-modify-write in every iteration of the fused loop nest.
    When the consumer has more loops than the producer (a contraction that
    reads the producer's result once per output column), each element is
    then updated once per extra iteration: `y = out + x` becomes
    `y = k * x` in the k-th iteration, and the consumer reads those values.
    A permutation map visits each producer element exactly once, so that
    fusion stays exact. Like upstream, a producer fuses only into its
    single user.
  }];
  let dependentDialects = ["mlir::affine::AffineDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def GeckoTruncateContractionOperands
    : Pass<"gecko-truncate-contraction-operands"> {
  let summary = "Give matrix products bf16 operands with fp32 accumulation";
  let description = [{
    The mixed-precision step of `--precision=bf16` (docs/lowering.md,
    "Precision"). Runs on linalg on tensors, after
    `convert-gecko-to-linalg` and before elementwise fusion, so it sees
    every matrix product of the model, forward and (after `gecko-autodiff`)
    backward, before producers are fused into them. A linalg op is
    rewritten when

    - it has two inputs and one init, all ranked f32 tensors;
    - its body is exactly `out + a * b` (`isaContractionOpInterface`
      alone also accepts bodies that transform an input);
    - `inferContractionDims` finds non-empty m, n and k groups and every
      reduction loop is in k: a (batched) matrix product, what
      `gecko-gpu-contractions-to-gemm` turns into a library GEMM.

    Each input becomes a bf16 tensor made by an elementwise
    `linalg.generic` of `arith.truncf` (round to nearest even; a value that
    feeds several products is rounded once), and the op becomes a
    `linalg.generic` with the same maps and iterators whose body is

        out + arith.extf(a) * arith.extf(b)     (f32)

    so the products are exact in f32, the sum accumulates in f32 and the
    result stays f32. Without fusion the bf16 tensors are buffers of their
    own, which the library GEMM reads; with fusion the rounding moves into
    the product's body, with the same numbers. Matrix-vector products, dot
    products, reductions of one input, f64 and integer ops are left alone,
    and so is everything that is not a contraction (norms, scans, softmax,
    states stay f32).
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def GeckoInterchangeContractions
    : Pass<"gecko-interchange-contractions"> {
  let summary = "Put a contiguous parallel loop innermost in reductions";
  let description = [{
    Runs on bufferized `linalg.generic` ops, right before
    `convert-linalg-to-loops`. A contraction such as
    `y[m, o] += x[m, i] * Wt[i, o]` written with its reduction loop
    innermost becomes a scalar dependence chain that LLVM cannot vectorize
    without reassociating the floating-point sum. For a generic with a
    reduction loop innermost, the pass looks for a parallel loop `d` (with
    a static extent of at least `min-extent`, or a dynamic one) such that
    every output's indexing map ends in `d` and covers every parallel loop,
    and every input either does not use `d` or ends in it, with all those
    operands contiguous in their last dimension. It then moves `d`
    innermost; the loops used by the inputs that do not depend on `d` go
    first (so that work on them sits as far out as possible), then the
    rest, as long as the reduction loops keep their relative order. Each output element still
    accumulates its reduction iterations in the same order, so results are
    bit-identical; the inner loop is now independent across `d` and
    contiguous, which LLVM's loop vectorizer turns into SIMD code, and
    loop-invariant producer work fused into the body (an elementwise
    producer of `x[m, i]`) is hoisted out of it.

    LLVM's LICM cannot hoist such work itself (it cannot prove that the
    loads of the inputs do not alias the stores to the output), so a
    generic (of any kind) whose body has loop-invariant math or division
    with respect to its innermost loop (a silu fused into the next linear,
    a norm's rsqrt fused into its per-element scale), and every
    interchanged contraction with invariant body ops, is lowered to
    `scf.for` loops here, with the invariant loads and ops computed once
    per outer iteration. The arithmetic is the same, op for op.
  }];
  let options = [
    Option<"minExtent", "min-extent", "int64_t", /*default=*/"8",
           "Smallest static extent of the loop moved innermost">
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect"];
}

#endif // GECKO_TRANSFORMS_PASSES
