//===- Pipelines.h - gecko compilation pipelines ----------------*- C++ -*-===//
//
// Named pass pipelines from gecko IR to target code, shared by gecko-opt
// (as registered pipelines) and gecko-compile.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_PIPELINES_PIPELINES_H
#define GECKO_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <optional>
#include <string>

namespace mlir::gecko {

/// The arithmetic of matrix products (`--precision`, docs/lowering.md,
/// "Precision"). Fp32: everything in f32, as the reference with TF32 off.
/// Bf16: matrix products (linears, attention QK^T and PV, working-memory
/// products, forward and backward) read bf16-rounded operands and
/// accumulate in f32 (gecko-truncate-contraction-operands); parameters,
/// activations, states and every other op stay f32.
enum class Precision { Fp32, Bf16 };

/// "fp32" or "bf16".
StringRef stringifyPrecision(Precision precision);
/// The inverse of stringifyPrecision; nullopt for any other spelling.
std::optional<Precision> symbolizePrecision(StringRef text);

/// Options of the CPU pipeline.
struct CpuPipelineOptions {
  Precision precision = Precision::Fp32;
};

/// gecko IR (tensors) -> LLVM dialect for the host CPU:
///   convert-gecko-to-linalg, elementwise fusion, one-shot bufferization with
///   identity layouts at function boundaries, results as out parameters,
///   deallocation, loops, LLVM with the bare-pointer calling convention and
///   the kernel-ABI entry wrappers (gecko-emit-entry-points).
/// Fails (with diagnostics) if the textual pipeline does not parse, which
/// only happens if upstream renamed a pass.
LogicalResult buildCpuLoweringPipeline(OpPassManager &pm,
                                       const CpuPipelineOptions &options = {});

/// The stage of buildCpuLoweringPipeline that stops at bufferized loops
/// (memrefs, scf), before LLVM: what `--emit=loops` shows.
LogicalResult buildCpuLoopsPipeline(OpPassManager &pm,
                                    const CpuPipelineOptions &options = {});

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
  /// Matrix products in f32 or with bf16 operands (docs/cuda.md,
  /// "Precision"): cuBLASLt then reads bf16 A and B and writes f32 C.
  Precision precision = Precision::Fp32;
};

/// gecko IR -> host loops over memrefs whose parallel work is launched from
/// one compiled gpu.binary @gecko_kernels.
LogicalResult buildCudaKernelsPipeline(OpPassManager &pm,
                                       const CudaPipelineOptions &options);

/// buildCudaKernelsPipeline, then the host code to LLVM with the launches
/// going through the runtime's import table (kernel_abi.h).
LogicalResult buildCudaLoweringPipeline(OpPassManager &pm,
                                        const CudaPipelineOptions &options);

/// Registers `gecko-cpu-lowering`, `gecko-cpu-loops`, `gecko-cuda-kernels`
/// and `gecko-cuda-lowering` with the pass registry (for gecko-opt
/// --pass-pipeline), each with a `precision` option (fp32 or bf16).
void registerGeckoPipelines();

} // namespace mlir::gecko

#endif // GECKO_PIPELINES_PIPELINES_H
