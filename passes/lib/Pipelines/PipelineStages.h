//===- PipelineStages.h - Pipeline stages shared by the targets -*- C++ -*-===//
//
// Textual pass lists that the CPU and CUDA pipelines have in common, kept as
// macros of string literals so each pipeline is one readable string that
// `--dump-pass-pipeline` shows as it runs.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_PIPELINES_PIPELINESTAGES_H
#define GECKO_PIPELINES_PIPELINESTAGES_H

// gecko -> linalg on tensors, fused, bufferized, every static temporary in
// the planned workspace (docs/memory-planning.md). Ends with a comma. The
// canonicalize after buffer-results-to-out-params folds sizes that
// bufferization left dynamic (memref.dim of a cast of a static buffer), so
// that gecko-plan-memory sees static allocs.
// GECKO_FUSED_LINALG_PASSES is the first half (gecko -> fused linalg on
// tensors), GECKO_BUFFERIZE_TENSORS_PASSES the second.
// clang-format off
#define GECKO_LINALG_PASSES                                                    \
  "convert-gecko-to-linalg,"                                                   \
  "convert-elementwise-to-linalg,"                                             \
  "canonicalize,cse,"
#define GECKO_FUSED_LINALG_PASSES                                              \
  GECKO_LINALG_PASSES                                                          \
  "gecko-fuse-elementwise,"
#define GECKO_BUFFERIZE_PASSES                                                 \
  GECKO_FUSED_LINALG_PASSES                                                    \
  GECKO_BUFFERIZE_TENSORS_PASSES
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
  "gecko-lower-memref-copy,"
// clang-format on

// Host loops over memrefs -> LLVM dialect with bare-pointer buffers and the
// kernel-ABI entry points.
#define GECKO_HOST_LLVM_PASSES                                                 \
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

#endif // GECKO_PIPELINES_PIPELINESTAGES_H
