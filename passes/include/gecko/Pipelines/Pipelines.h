//===- Pipelines.h - gecko compilation pipelines ----------------*- C++ -*-===//
//
// Named pass pipelines from gecko IR to target code, shared by gecko-opt
// (as registered pipelines) and gecko-compile.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_PIPELINES_PIPELINES_H
#define GECKO_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace mlir::gecko {

/// gecko IR (tensors) -> LLVM dialect for the host CPU:
///   convert-gecko-to-linalg, elementwise fusion, one-shot bufferization with
///   identity layouts at function boundaries, results as out parameters,
///   deallocation, loops, LLVM with the bare-pointer calling convention and
///   the kernel-ABI entry wrappers (gecko-emit-entry-points).
/// Fails (with diagnostics) if the textual pipeline does not parse, which
/// only happens if upstream renamed a pass.
LogicalResult buildCpuLoweringPipeline(OpPassManager &pm);

/// The stage of buildCpuLoweringPipeline that stops at bufferized loops
/// (memrefs, scf), before LLVM: what `--emit=loops` shows.
LogicalResult buildCpuLoopsPipeline(OpPassManager &pm);

/// Registers `gecko-cpu-lowering` and `gecko-cpu-loops` with the pass
/// registry (for gecko-opt --pass-pipeline).
/// Options of the CUDA pipeline (docs/cuda.md).
struct CudaPipelineOptions {
  /// GPU architecture (nvvm-attach-target chip); sm_90a is the H100.
  std::string chip = "sm_90a";
  /// PTX features. sm_90a needs PTX ISA 8.0; 8.1 lifts the kernel
  /// parameter limit from 4 KiB to 32 KiB (CUDA 12.1 drivers and later),
  /// which the single-thread kernels of long sequential regions need.
  std::string features = "+ptx81";
  /// LLVM optimization level of the kernels.
  unsigned optLevel = 3;
  /// gpu-module-to-binary format: fatbin (cubin + PTX), bin (cubin) or isa
  /// (PTX text).
  std::string imageFormat = "fatbin";
  /// Threads per block of the elementwise kernels.
  int64_t blockSize = 256;
  /// Matrix products through the runtime's cuBLASLt GEMM
  /// (gecko-gpu-contractions-to-gemm) rather than generated kernels.
  bool libraryGemm = true;
};

/// gecko IR -> host loops over memrefs whose parallel work is launched from
/// one compiled gpu.binary @gecko_kernels.
LogicalResult buildCudaKernelsPipeline(OpPassManager &pm,
                                       const CudaPipelineOptions &options);

/// buildCudaKernelsPipeline, then the host code to LLVM with the launches
/// going through the runtime's import table (kernel_abi.h).
LogicalResult buildCudaLoweringPipeline(OpPassManager &pm,
                                        const CudaPipelineOptions &options);

void registerGeckoPipelines();

} // namespace mlir::gecko

#endif // GECKO_PIPELINES_PIPELINES_H
