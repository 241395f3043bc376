//===- CpuPipeline.cpp - gecko IR to LLVM for the host CPU ----------------===//
//
// The CPU pipeline is a sequence of upstream passes around our own
// convert-gecko-to-linalg, gecko-plan-memory (every static temporary in one
// workspace, docs/memory-planning.md) and gecko-emit-entry-points. It is kept
// in textual form so that `--dump-pass-pipeline` shows exactly what runs.
//
//===----------------------------------------------------------------------===//

#include "gecko/Pipelines/Pipelines.h"

#include "gecko/Conversion/Passes.h"
#include "gecko/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace mlir::gecko {
namespace {

// gecko -> linalg/tensor, fused and bufferized into loops over memrefs.
constexpr const char *kLoopsPasses =
    "convert-gecko-to-linalg,"
    "convert-elementwise-to-linalg,"
    "canonicalize,cse,"
    "linalg-fuse-elementwise-ops,"
    "canonicalize,"
    "gecko-prepare-bufferization,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-results-to-out-params{hoist-static-allocs "
    "modify-public-functions},"
    // Folds sizes that bufferization left dynamic (memref.dim of a cast of
    // a static buffer), so that gecko-plan-memory sees static allocs.
    "canonicalize,"
    "gecko-plan-memory,"
    "buffer-deallocation-pipeline,"
    "gecko-lower-memref-copy,"
    // Contractions with a contiguous parallel loop innermost, which LLVM
    // vectorizes (docs/perf.md).
    "gecko-interchange-contractions,"
    "convert-linalg-to-loops,"
    "lower-affine,"
    "canonicalize,cse";

// Loops over memrefs -> LLVM dialect with bare-pointer buffers and entries.
constexpr const char *kLlvmPasses =
    "convert-scf-to-cf,"
    "expand-strided-metadata,"
    "lower-affine,"
    "finalize-memref-to-llvm,"
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "convert-arith-to-llvm,"
    "convert-index-to-llvm,"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
    "convert-cf-to-llvm,"
    "reconcile-unrealized-casts,"
    "gecko-emit-entry-points";

LogicalResult addPasses(OpPassManager &pm, const std::string &pipeline) {
  return parsePassPipeline(pipeline, pm, llvm::errs());
}

} // namespace

LogicalResult buildCpuLoopsPipeline(OpPassManager &pm) {
  return addPasses(pm, kLoopsPasses);
}

LogicalResult buildCpuLoweringPipeline(OpPassManager &pm) {
  return addPasses(pm, std::string(kLoopsPasses) + "," + kLlvmPasses);
}

void registerGeckoPipelines() {
  PassPipelineRegistration<>(
      "gecko-cpu-loops",
      "gecko IR -> bufferized loops over memrefs (the CPU pipeline's first "
      "half)",
      [](OpPassManager &pm) { (void)buildCpuLoopsPipeline(pm); });
  PassPipelineRegistration<>(
      "gecko-cpu-lowering",
      "gecko IR -> LLVM dialect with kernel-ABI entry points, for the host "
      "CPU",
      [](OpPassManager &pm) { (void)buildCpuLoweringPipeline(pm); });
}

} // namespace mlir::gecko
