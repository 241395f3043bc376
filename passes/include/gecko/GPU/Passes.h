//===- Passes.h - gecko GPU passes ------------------------------*- C++ -*-===//
#ifndef GECKO_GPU_PASSES_H
#define GECKO_GPU_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gecko {

/// Name of the single gpu.module that holds every kernel of a module.
inline constexpr const char *kKernelModuleName = "gecko_kernels";
/// Module attribute listing the kernel names in launch-index order.
inline constexpr const char *kKernelListAttr = "gecko.gpu_kernels";

/// The function a host call of the runtime's gemm import is made to (its
/// operands are listed in ContractionsToGemm.cpp), and the attribute that
/// marks such calls as ordered with the kernel launches.
inline constexpr const char *kGemmImportName = "gecko_import_gemm";
inline constexpr const char *kGpuImportAttr = "gecko.gpu_import";

/// The kernel parameter space in bytes of an NVVM target: 32764 with PTX
/// ISA 8.1 or newer ("+ptx81" in `features`) on sm_70 or newer, else 4096.
int64_t kernelParamLimit(StringRef chip, StringRef features);

#define GEN_PASS_DECL
#include "gecko/GPU/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gecko/GPU/Passes.h.inc"

} // namespace mlir::gecko

#endif // GECKO_GPU_PASSES_H
