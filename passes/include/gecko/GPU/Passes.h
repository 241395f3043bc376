//===- Passes.h - gecko GPU passes ------------------------------*- C++ -*-===//
#ifndef GECKO_GPU_PASSES_H
#define GECKO_GPU_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gecko {

/// Name of the single gpu.module that holds every kernel of a module.
inline constexpr const char *kKernelModuleName = "gecko_kernels";
/// Module attribute listing the kernel names in launch-index order.
inline constexpr const char *kKernelListAttr = "gecko.gpu_kernels";

#define GEN_PASS_DECL
#include "gecko/GPU/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gecko/GPU/Passes.h.inc"

} // namespace mlir::gecko

#endif // GECKO_GPU_PASSES_H
