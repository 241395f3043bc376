//===- Passes.td - gecko GPU passes ------------------------*- tablegen -*-===//
//
// The passes that take bufferized loops to kernels and launches for the
// CUDA target (docs/cuda.md). One pass per file under passes/lib/GPU/.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_GPU_PASSES
#define GECKO_GPU_PASSES

include "mlir/Pass/PassBase.td"

def GeckoGpuRematerializeScalars
    : Pass<"gecko-gpu-rematerialize-scalars", "func::FuncOp"> {
  let summary = "Recompute scalars read from tensors next to distant uses";
  let description = [{
    Runs on linalg on tensors, before bufferization. On the CUDA target a
    scalar read from a tensor (`tensor.extract`, and what is computed from
    it) lives in device memory, so the host cannot keep it while it
    launches kernels: `gecko-gpu-wrap-host-compute` would have to move
    every kernel between its definition and its last use into one
    single-thread kernel, and `gecko-gpu-contractions-to-gemm` leaves every
    contraction in between as a generated kernel. CSE creates such values:
    the forward and the backward of a `timestep_decay_norm` read the same
    prior count and form the same powers of beta, and the merged value
    spans the whole train step.

    For every op that uses such a scalar with other tensor work (an op
    with tensor operands or results, other than reshapes) between the
    definition and the use, or inside a host loop over tensor work, the
    pass clones the scalar's computation right before the use. The slice
    may contain `tensor.extract`, side-effect-free scalar ops and loops
    over scalars; it stops at tensors and at values defined in an
    enclosing block. On tensors the recomputation reads the same values,
    so the program's results do not change; bufferization keeps the tensor
    read alive until the recomputation.
  }];
  let dependentDialects = ["mlir::tensor::TensorDialect"];
}

def GeckoGpuSplitReductions
    : Pass<"gecko-gpu-split-reductions", "func::FuncOp"> {
  let summary = "Split long reductions with few outputs into two parallel "
                "stages";
  let description = [{
    Runs on linalg on tensors, before bufferization. The CUDA target gives
    each output element of a linalg op one thread and runs the reduction
    loops inside it, so a reduction to a 0-d tensor (the per-gradient sum
    of squares of the global gradient norm, the loss mean) is a kernel of
    one thread that walks the whole tensor, and a reduction with few
    outputs and long rows gets few threads.

    An op is split when its reduction loops cover at least `min-size`
    terms per output and it has at most `max-parallel` output elements,
    and the split preserves it: tensor semantics, one result, static
    sizes, projected-permutation indexing maps, no `linalg.index`, a body
    whose accumulator feeds exactly one combiner with a neutral element
    (`matchReduction`, `arith::getNeutralElement`: addf, mulf, maximumf,
    minimumf, integer ops), reduction loops that are consecutive and
    contiguous in every operand, and not a matrix product that
    `gecko-gpu-contractions-to-gemm` could take. Named ops are generalized;
    several reduction loops are collapsed into one of R terms
    (`linalg::collapseOpIterationDims`). With P = floor(R / `chunk`):

    - the first P * `chunk` terms go through upstream
      `linalg::splitReduction` (inner-parallel form): a `linalg.fill` of
      the combiner's neutral element makes P partials per output, a
      generic with a new parallel loop over them in which partial p
      accumulates the `chunk` terms p, p + P, p + 2P, ... in order
      (neighbouring threads read neighbouring elements), and a generic
      that combines the P partials, in order, into the op's init;
    - the remaining R mod `chunk` terms (`linalg::splitOp` along the
      reduction loop) are reduced by a copy of the op on that slice that
      accumulates into the combined result.

    The combining op is split again while it still qualifies, so the
    last, sequential stage has fewer than `min-size` terms per output.
    The reduction tree is fixed by the shapes: no atomics, and the same
    result on every run. Sums are reassociated: the rounding error bound
    of a sequential f32 sum, (R - 1) u sum |x_i|, becomes
    (chunk - 1 + P - 1 + ...) u sum |x_i| per level, never larger.
    Ops outside these conditions are left unchanged.
  }];
  let options = [
    Option<"minSize", "min-size", "int64_t", /*default=*/"256",
           "Terms per output at or above which a reduction is split">,
    Option<"chunk", "chunk", "int64_t", /*default=*/"64",
           "Terms each partial result accumulates">,
    Option<"maxParallel", "max-parallel", "int64_t", /*default=*/"4096",
           "Output elements above which a reduction is left alone (it "
           "already has that many threads)">,
  ];
  let dependentDialects = ["mlir::affine::AffineDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def GeckoGpuContractionsToGemm
    : Pass<"gecko-gpu-contractions-to-gemm", "ModuleOp"> {
  let summary = "Turn matrix-product-shaped linalg ops into library GEMMs";
  let description = [{
    Runs on bufferized linalg before the loops are made. A linalg op with
    two inputs, one init and a multiply-accumulate body
    (`isaContractionOpInterface`) that is exactly `out + a * b` (f32 or
    f64 operands: dtype GECKO_GEMM_F32 or _F64) or, for
    `--precision=bf16`, `out + extf(a) * extf(b)` with bf16 inputs and an
    f32 init (GECKO_GEMM_BF16_F32; any other transform of an input is
    refused) and whose dimensions `inferContractionDims`
    splits into batch, m, n and k groups is a batched matrix product when,
    in every operand, each group it uses collapses row-major into one
    stride. If moreover A and B each have a unit stride in one of their two
    matrix dimensions and C in its n group (or in m, by computing the
    transposed product), the op becomes

        func.call @gecko_import_gemm(dtype, m, n, k, batch, alpha, beta,
                                     a, a strides (row, col, batch),
                                     b, ..., c, ...)
            {gecko.gpu_import = "gemm"}

    with alpha = beta = 1 (the op accumulates into its init) and each
    operand passed as the device address of its first element. The call
    is ordered with the kernels on the runtime's stream
    (`gecko-convert-gpu-launch-to-runtime-calls` lowers it to the import
    table's `gemm`, kernel_abi.h). Other contractions keep the generated
    kernels.
  }];
  let dependentDialects = ["mlir::func::FuncDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect"];
}

def GeckoGpuMaterializeDeviceScalars
    : Pass<"gecko-gpu-materialize-device-scalars", "func::FuncOp"> {
  let summary = "Pass scalars read from tensors to parallel linalg ops as "
                "0-d tensor operands";
  let description = [{
    Runs on linalg on tensors, before bufferization. On the CUDA target
    every tensor is device memory, so a scalar computed from tensor
    contents (`tensor.extract`, and everything computed from such a value
    through arith, math and scf) is only known on the device. A linalg op
    with loops that uses such a scalar, as an operand or captured in its
    body, would have to become part of the single-thread kernel that
    computes the scalar (`gecko-gpu-wrap-host-compute`): the AdamW update
    of every parameter, for instance, uses the learning rate, the bias
    corrections and the gradient-clipping factor, and would run whole in
    one thread, taking every parameter, gradient and moment buffer as
    kernel parameters.

    This pass rewrites each such op into a `linalg.generic` that reads the
    scalar from a 0-d tensor operand (indexing map `(d0, ...) -> ()`):
    the `tensor.extract`'s source when the scalar is the element of a 0-d
    tensor, else a `tensor.from_elements` placed right after the scalar's
    definition. Bufferization and `gecko-plan-memory` then give the scalar
    a slot in the workspace: the scalar code becomes a small single-thread
    kernel that stores it, and the op stays a parallel kernel that loads
    it. The side-effect-free scalar computation (`tensor.extract`,
    arith, math) of each materialized value is first hoisted, within its
    block, as early as its operands allow, so that scalar code interleaved
    with the ops that use it does not tie them into one kernel again.

    Named linalg ops that use device scalars are generalized first. The
    rewrite preserves the semantics on every target; it is in the CUDA
    pipeline only.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def GeckoGpuSinkReductionLoops
    : Pass<"gecko-gpu-sink-reduction-loops", "func::FuncOp"> {
  let summary = "Order each linalg op's loops parallel first, reductions last";
  let description = [{
    Runs on bufferized linalg before `convert-linalg-to-parallel-loops`,
    which keeps an op's loop order: parallel dimensions after a reduction
    become an `scf.parallel` inside an `scf.for`. On the CUDA target such a
    for loop is a host loop that launches one kernel per reduction step
    (a norm's weight gradient summed over (b, t): L launches), and the
    parallel dimensions before the first reduction are all the
    parallelism a kernel gets (the working memory's per-chunk maximum ran
    with one thread per chunk).

    The pass interchanges the loops of every such op (named ops are
    generalized first) so that all parallel dimensions come first and the
    reductions last, each group in its original order. Every output
    element then accumulates the same terms in the same order as before,
    now inside one thread.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def GeckoGpuParallelizeLoops
    : Pass<"gecko-gpu-parallelize-loops", "func::FuncOp"> {
  let summary = "Turn sequential loops with independent iterations into "
                "parallel loops";
  let description = [{
    Runs on bufferized loops after `convert-linalg-to-parallel-loops`,
    before `gecko-gpu-wrap-host-compute`. The lowering writes recurrences
    as `scf.for` nests on buffers: the timestep norms' statistics loop over
    groups, then over time, carrying the state in scalars. Only the time
    loop carries a dependence, but the nest would run in one thread.

    An outermost `scf.for` (not inside an `scf.parallel`) without results
    becomes a one-dimensional `scf.parallel` with the same body when its
    iterations provably touch disjoint memory: the body's only memory
    effects are `memref.load` and `memref.store` (no calls, no parallel
    loops), every memref it stores to has an identity layout, is defined
    outside the loop and is accessed only with the induction variable as
    the index at one fixed position, and no other memref the body accesses
    may alias it. Two memrefs may alias unless they are views of the same
    buffer at disjoint constant byte ranges (`memref.view` with a static
    shape), or of different buffers one of which is the workspace
    (`gecko.workspace`) or a global. A loop that does not qualify is left
    alone and its nested loops are tried.

    `gecko-gpu-map-parallel-loops` then makes one thread per iteration,
    with the inner (time) loops sequential in the thread.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect"];
}

def GeckoGpuWrapHostCompute
    : Pass<"gecko-gpu-wrap-host-compute", "func::FuncOp"> {
  let summary = "Move every buffer access of a function into parallel loops";
  let description = [{
    Runs on bufferized functions after `convert-linalg-to-parallel-loops`,
    whose buffers will be device memory. Every `scf.parallel` becomes a
    kernel; everything else stays on the host, which must therefore never
    read or write a buffer. The pass walks each function body (and the
    body of every host loop, an `scf.for` that contains an `scf.parallel`)
    and

    - wraps each maximal run of ops that access buffers, or use a value
      computed from a buffer, into a one-iteration `scf.parallel`: the
      sequential parts of the program (recurrences written as scalar
      loops, whole-tensor reductions) run as single-thread kernels;
    - hoists side-effect-free ops that only compute addresses or
      constants (views, casts, index arithmetic) out of the way, so the
      runs stay as long as possible and the host keeps its address
      arithmetic;
    - clones address computations (views, subviews, reshapes, constants,
      `memref.get_global`) into each parallel loop that uses them, so the
      kernel takes base buffers rather than one descriptor per view (kernel
      parameter space is 4 KiB), and constant globals are copied into the
      kernel module rather than passed as host addresses.

    Before that, a branch `scf.if %c { views; scf.parallel { body } }`
    whose condition (and what the branch uses) is computed only from loads
    of read-only function arguments (no op of the function writes them)
    becomes `scf.parallel { recompute %c; scf.if %c { views; body } }`:
    every thread repeats the read, and the loop keeps its parallelism
    instead of running sequentially in a single-thread kernel (the
    embedding gradient's per-token row update).

    Calls of runtime imports (`gecko.gpu_import`, the library GEMMs of
    `gecko-gpu-contractions-to-gemm`) stay on the host and end a run, like
    a kernel; one that host code around it would need to absorb into a
    kernel is an error (gecko-gpu-contractions-to-gemm avoids creating
    those).

    A host loop whose bounds or iteration arguments depend on buffer
    contents cannot run on the host and is wrapped whole. The pass fails,
    naming the op, if a value computed from a buffer would still be needed
    by host code.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect"];
}

def GeckoGpuMapParallelLoops
    : Pass<"gecko-gpu-map-parallel-loops", "func::FuncOp"> {
  let summary = "Collapse, tile and map outermost parallel loops to the GPU";
  let description = [{
    For every outermost `scf.parallel`: collapses its dimensions into one
    (row-major, so the last, contiguous dimension varies fastest between
    neighbouring threads), tiles it by `block-size`, and marks the tile loop
    with the block-x and the intra-tile loop with the thread-x processor
    (`mapping` attributes read by `convert-parallel-loops-to-gpu`). The
    out-of-range threads of the last tile are masked by a bound check. A
    one-iteration loop becomes a one-thread kernel. Parallel loops nested in
    an outermost one run sequentially inside its thread.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect"];
}

def GeckoGpuMergeKernelModules
    : Pass<"gecko-gpu-merge-kernel-modules", "ModuleOp"> {
  let summary = "Move every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` creates one `gpu.module` per kernel. This pass
    moves every kernel (and every symbol the kernels use, such as constant
    `memref.global`s, once) into a single module `@gecko_kernels`, points
    the launches at it and records the kernel names, in launch-index order,
    in the module attribute `gecko.gpu_kernels`. The artifact then carries
    one device image, loaded once. Kernel names must be unique across the
    merged modules; a clash is an error. A kernel whose location holds a
    `NameLoc` (the frontend names each model step's ops, e.g.
    "layers.0.mega.cema") gets the step appended as an identifier
    (`forward_kernel_12__layers_0_mega_cema`), so profiles can be summed per
    model op.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect"];
}

def GeckoGpuCheckKernelParams
    : Pass<"gecko-gpu-check-kernel-params", "ModuleOp"> {
  let summary = "Report kernels whose parameters exceed the parameter space";
  let description = [{
    Runs on outlined kernels (`gpu.module`s with an `#nvvm.target`), before
    `convert-gpu-to-nvvm`. Computes each kernel's parameter bytes as that
    conversion lays them out (a memref is its descriptor: two pointers,
    the offset, the sizes and the strides, 8 bytes each; an index is 8
    bytes; each parameter aligned to its size) and fails, naming the kernel
    and pointing at its launches, when the total is over the limit: 32764
    bytes for PTX ISA 8.1 or newer (`+ptx81` in the target's features) on
    sm_70 or newer, 4096 bytes otherwise. Without this check ptxas would
    reject the module ("uses too much parameter space"). `max-bytes`
    replaces the target's limit (tests). Modules without an NVVM target
    are not checked.
  }];
  let options = [
    Option<"maxBytes", "max-bytes", "int64_t", /*default=*/"0",
           "Parameter bytes allowed per kernel (0: the NVVM target's limit)">,
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect"];
}

def GeckoConvertGpuLaunchToRuntimeCalls
    : Pass<"gecko-convert-gpu-launch-to-runtime-calls", "ModuleOp"> {
  let summary = "Launch kernels through the runtime's host import table";
  let description = [{
    Runs after `gpu-module-to-binary`. Replaces the `gpu.binary` of the
    kernel module by the exported constants `gecko_device_image` and
    `gecko_device_image_size`, adds the exported, zero-initialized
    `gecko_host_imports` table of kernel_abi.h, and rewrites every
    `gpu.launch_func` into LLVM code that stores each kernel parameter in
    a stack slot (memref operands expanded into their descriptor fields, as
    `convert-gpu-to-nvvm` expands the kernel's parameters), and calls
    `launch(context, index, grid, block, shared bytes, params)` loaded from
    the table, where `index` is the kernel's position in
    `gecko.gpu_kernels`. The rest of the host code is left for the usual
    LLVM conversions; memref operands are bridged with
    `unrealized_conversion_cast`s that `reconcile-unrealized-casts` removes.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

#endif // GECKO_GPU_PASSES
