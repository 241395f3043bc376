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
std::string loopsPasses(const CpuPipelineOptions &options) {
  return linalgPasses(options.precision, /*fuse=*/true) +
         GECKO_BUFFERIZE_TENSORS_PASSES
         // Contractions with a contiguous parallel loop innermost, which
         // LLVM vectorizes (docs/perf.md).
         "gecko-interchange-contractions,"
         "convert-linalg-to-loops,"
         "lower-affine,"
         "canonicalize,cse";
}

// Loops over memrefs -> LLVM dialect with bare-pointer buffers and entries.
std::string llvmPasses(const CpuPipelineOptions &options) {
  std::string expand =
      options.precision == Precision::Bf16 ? GECKO_BF16_EXPAND_PASSES : "";
  return expand + GECKO_HOST_LLVM_PASSES;
}

LogicalResult addPasses(OpPassManager &pm, const std::string &pipeline) {
  return parsePassPipeline(pipeline, pm, llvm::errs());
}

} // namespace

StringRef stringifyPrecision(Precision precision) {
  return precision == Precision::Bf16 ? "bf16" : "fp32";
}

std::optional<Precision> symbolizePrecision(StringRef text) {
  if (text == "fp32")
    return Precision::Fp32;
  if (text == "bf16")
    return Precision::Bf16;
  return std::nullopt;
}

LogicalResult buildCpuLoopsPipeline(OpPassManager &pm,
                                    const CpuPipelineOptions &options) {
  return addPasses(pm, loopsPasses(options));
}

LogicalResult buildCpuLoweringPipeline(OpPassManager &pm,
                                       const CpuPipelineOptions &options) {
  return addPasses(pm, loopsPasses(options) + "," + llvmPasses(options));
}

void registerGeckoCudaPipelines();

void registerGeckoPipelines() {
  registerGeckoCudaPipelines();
  PassPipelineRegistration<PrecisionPipelineOptions>(
      "gecko-cpu-loops",
      "gecko IR -> bufferized loops over memrefs (the CPU pipeline's first "
      "half)",
      [](OpPassManager &pm, const PrecisionPipelineOptions &cl) {
        CpuPipelineOptions options;
        options.precision = cl.precision;
        (void)buildCpuLoopsPipeline(pm, options);
      });
  PassPipelineRegistration<PrecisionPipelineOptions>(
      "gecko-cpu-lowering",
      "gecko IR -> LLVM dialect with kernel-ABI entry points, for the host "
      "CPU",
      [](OpPassManager &pm, const PrecisionPipelineOptions &cl) {
        CpuPipelineOptions options;
        options.precision = cl.precision;
        (void)buildCpuLoweringPipeline(pm, options);
      });
}

} // namespace mlir::gecko
