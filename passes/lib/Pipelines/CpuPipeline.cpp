//===- CpuPipeline.cpp - gecko IR to LLVM for the host CPU ----------------===//
//
// The CPU pipeline is a sequence of upstream passes around our own
// convert-gecko-to-linalg, gecko-plan-memory (every static temporary in one
// workspace, docs/memory-planning.md) and gecko-emit-entry-points. It is kept
// in textual form so that `--dump-pass-pipeline` shows exactly what runs.
//
//===----------------------------------------------------------------------===//

#include "PipelineStages.h"
#include "gecko/Pipelines/Pipelines.h"

#include "gecko/Conversion/Passes.h"
#include "gecko/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace mlir::gecko {
namespace {

// gecko -> linalg/tensor, fused and bufferized into loops over memrefs.
constexpr const char *kLoopsPasses = GECKO_BUFFERIZE_PASSES
    // Contractions with a contiguous parallel loop innermost, which LLVM
    // vectorizes (docs/perf.md).
    "gecko-interchange-contractions,"
    "convert-linalg-to-loops,"
    "lower-affine,"
    "canonicalize,cse";

// Loops over memrefs -> LLVM dialect with bare-pointer buffers and entries.
constexpr const char *kLlvmPasses = GECKO_HOST_LLVM_PASSES;

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

void registerGeckoCudaPipelines();

void registerGeckoPipelines() {
  registerGeckoCudaPipelines();
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
