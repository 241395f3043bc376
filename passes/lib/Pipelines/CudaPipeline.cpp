//===- CudaPipeline.cpp - gecko IR to kernels and host code for CUDA ------===//
//
// The CUDA pipeline shares the CPU pipeline's front half (gecko -> fused,
// bufferized linalg in a planned workspace). Linalg ops then become
// parallel loops; gecko-gpu-wrap-host-compute moves the sequential rest
// into single-thread loops so the host never touches device memory; every
// outermost parallel loop becomes a kernel (gecko-gpu-map-parallel-loops,
// upstream convert-parallel-loops-to-gpu and gpu-kernel-outlining); the
// kernels are merged into one module, lowered to NVVM and compiled by
// upstream gpu-module-to-binary (ptxas), and the host side launches them
// through the runtime's import table (docs/cuda.md).
//
//===----------------------------------------------------------------------===//

#include "PipelineStages.h"
#include "gecko/Pipelines/Pipelines.h"

#include "mlir/Pass/PassRegistry.h"

#include <string>

namespace mlir::gecko {

std::string cudaKernelsPipeline(const CudaPipelineOptions &options) {
  std::string nvvmTarget = "nvvm-attach-target{chip=" + options.chip +
                           " features=" + options.features +
                           " O=" + std::to_string(options.optLevel) + "},";
  std::string gemm =
      options.libraryGemm ? "gecko-gpu-contractions-to-gemm," : "";
  // With library GEMMs, elementwise producers are not fused into
  // contractions (a fused body is no longer a GEMM); the separate
  // elementwise kernels cost far less than a generated contraction.
  // Scalars read from tensors reach parallel ops through device memory
  // (0-d tensors), so that those ops stay parallel kernels; the other uses
  // (scalar recurrences) get their own copy of the read when they lie past
  // other tensor work (CSE merges the forward's and the backward's), so
  // that no device scalar lives across kernels. Long reductions with few
  // outputs (a gradient's sum of squares, the loss mean) are split into
  // parallel partial reductions and a short final one, so they do not run
  // in one thread.
  std::string front =
      linalgPasses(options.precision, /*fuse=*/!options.libraryGemm) +
      "func.func(gecko-gpu-materialize-device-scalars,"
      "gecko-gpu-rematerialize-scalars,gecko-gpu-split-reductions)," +
      GECKO_BUFFERIZE_TENSORS_PASSES;
  return front + gemm +
         "func.func(gecko-gpu-sink-reduction-loops,"
         "convert-linalg-to-parallel-loops),"
         "canonicalize,"
         "func.func(gecko-gpu-parallelize-loops,gecko-gpu-wrap-host-compute,"
         "gecko-gpu-map-parallel-loops{block-size=" +
         std::to_string(options.blockSize) +
         "},"
         "convert-parallel-loops-to-gpu),"
         "lower-affine,"
         "canonicalize,"
         "gpu-kernel-outlining,"
         "gecko-gpu-merge-kernel-modules," +
         nvvmTarget + "gecko-gpu-check-kernel-params," +
         "gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,"
         "convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),"
         "gpu-module-to-binary{format=" +
         options.imageFormat + "}";
}

LogicalResult buildCudaKernelsPipeline(OpPassManager &pm,
                                       const CudaPipelineOptions &options) {
  return parsePassPipeline(cudaKernelsPipeline(options), pm, llvm::errs());
}

LogicalResult buildCudaLoweringPipeline(OpPassManager &pm,
                                        const CudaPipelineOptions &options) {
  return parsePassPipeline(cudaKernelsPipeline(options) +
                               ",gecko-convert-gpu-launch-to-runtime-calls," +
                               GECKO_HOST_LLVM_PASSES,
                           pm, llvm::errs());
}

void registerGeckoCudaPipelines() {
  PassPipelineRegistration<PrecisionPipelineOptions>(
      "gecko-cuda-kernels",
      "gecko IR -> host loops launching kernels of a compiled gpu.binary "
      "(sm_90a fatbin; the CUDA pipeline's first half)",
      [](OpPassManager &pm, const PrecisionPipelineOptions &cl) {
        CudaPipelineOptions options;
        options.precision = cl.precision;
        (void)buildCudaKernelsPipeline(pm, options);
      });
  PassPipelineRegistration<PrecisionPipelineOptions>(
      "gecko-cuda-lowering",
      "gecko IR -> LLVM dialect host code with kernel-ABI entry points and "
      "an embedded sm_90a device image",
      [](OpPassManager &pm, const PrecisionPipelineOptions &cl) {
        CudaPipelineOptions options;
        options.precision = cl.precision;
        (void)buildCudaLoweringPipeline(pm, options);
      });
}

} // namespace mlir::gecko
