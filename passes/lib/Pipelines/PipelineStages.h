//===- PipelineStages.h - Pipeline stages shared by the targets -*- C++ -*-===//
//
// Textual pass lists that the CPU and CUDA pipelines have in common, kept as
// macros of string literals so each pipeline is one readable string that
// `--dump-pass-pipeline` shows as it runs.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_PIPELINES_PIPELINESTAGES_H
#define GECKO_PIPELINES_PIPELINESTAGES_H

#include "gecko/Pipelines/Pipelines.h"

#include "mlir/Pass/PassOptions.h"

#include <string>

// gecko -> linalg on tensors, fused, bufferized, every static temporary in
// the planned workspace (docs/memory-planning.md), with the ready signals of
// results that collectives reduce (gecko-insert-ready-signals, right after
// bufferization, where every use of a result buffer is still an op on it).
// Ends with a comma. The
// canonicalize after buffer-results-to-out-params folds sizes that
// bufferization left dynamic (memref.dim of a cast of a static buffer), so
// that gecko-plan-memory sees static allocs.
// GECKO_LINALG_PASSES is the first half (gecko -> linalg on tensors),
// GECKO_FUSE_PASSES the elementwise fusion (linalgPasses() puts them
// together with the bf16 rewrite), GECKO_BUFFERIZE_TENSORS_PASSES the
// second half.
// clang-format off
#define GECKO_LINALG_PASSES                                                    \
  "convert-gecko-to-linalg,"                                                   \
  "convert-elementwise-to-linalg,"                                             \
  "canonicalize,cse,"
#define GECKO_FUSE_PASSES                                                      \
  "gecko-fuse-elementwise,"
// --precision=bf16: matrix products read bf16 operands and accumulate in
// f32. Between the lowering and fusion: every product, forward and
// backward, is a plain `out + a * b` generic there (after fusion some are
// not), so the CPU and both GPU GEMM paths round the same operands.
#define GECKO_BF16_PASSES                                                      \
  "gecko-truncate-contraction-operands,"
// --precision=bf16 on the CPU, before the host LLVM passes: LLVM's x86
// backend lowers an f32 -> bf16 truncation to a call of __truncsfbf2
// (libgcc), which artifacts do not link; arith-expand writes it (and the
// extension) in integer arithmetic, rounding to nearest even.
#define GECKO_BF16_EXPAND_PASSES                                               \
  "arith-expand{include-bf16=true},"
#define GECKO_BUFFERIZE_TENSORS_PASSES                                         \
  "canonicalize,"                                                              \
  "gecko-prepare-bufferization,"                                               \
  "one-shot-bufferize{bufferize-function-boundaries "                          \
  "function-boundary-type-conversion=identity-layout-map},"                    \
  "buffer-results-to-out-params{hoist-static-allocs "                          \
  "modify-public-functions},"                                                  \
  "canonicalize,"                                                              \
  "gecko-plan-memory,"                                                         \
  "buffer-deallocation-pipeline,"                                              \
  "gecko-lower-memref-copy,"                                                   \
  "gecko-insert-ready-signals,"
// clang-format on

// Host loops over memrefs -> LLVM dialect with bare-pointer buffers and the
// kernel-ABI entry points; ready signals become calls of imports.signal.
#define GECKO_HOST_LLVM_PASSES                                                 \
  "gecko-lower-ready-signals,"                                                 \
  "convert-scf-to-cf,"                                                         \
  "expand-strided-metadata,"                                                   \
  "lower-affine,"                                                              \
  "finalize-memref-to-llvm,"                                                   \
  "convert-math-to-llvm,"                                                      \
  "convert-math-to-libm,"                                                      \
  "convert-arith-to-llvm,"                                                     \
  "convert-index-to-llvm,"                                                     \
  "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"                       \
  "convert-cf-to-llvm,"                                                        \
  "reconcile-unrealized-casts,"                                                \
  "gecko-emit-entry-points"

namespace mlir::gecko {

/// The first half of the front end shared by the targets: gecko -> linalg
/// on tensors, the bf16 rewrite when asked for, elementwise fusion when
/// `fuse`. Ends with a comma; GECKO_BUFFERIZE_TENSORS_PASSES (after any
/// target-specific tensor passes) completes the front end.
inline std::string linalgPasses(Precision precision, bool fuse) {
  std::string passes = GECKO_LINALG_PASSES;
  if (precision == Precision::Bf16)
    passes += GECKO_BF16_PASSES;
  if (fuse)
    passes += GECKO_FUSE_PASSES;
  return passes;
}

/// The `precision` option of the registered pipelines.
struct PrecisionPipelineOptions
    : PassPipelineOptions<PrecisionPipelineOptions> {
  Option<Precision> precision{
      *this, "precision",
      llvm::cl::desc("Matrix products in f32, or with bf16 operands and f32 "
                     "accumulation (docs/lowering.md, \"Precision\")"),
      llvm::cl::init(Precision::Fp32),
      llvm::cl::values(clEnumValN(Precision::Fp32, "fp32", "all f32"),
                       clEnumValN(Precision::Bf16, "bf16",
                                  "bf16 operands of matrix products"))};
};

} // namespace mlir::gecko

#endif // GECKO_PIPELINES_PIPELINESTAGES_H
