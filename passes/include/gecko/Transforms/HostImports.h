//===- HostImports.h - The gecko_host_imports table in LLVM IR --*- C++ -*-===//
//
// The LLVM-dialect view of kernel_abi.h's gecko_host_imports_t, shared by
// the passes that call through it (GPU launches and GEMMs, ready signals).
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TRANSFORMS_HOSTIMPORTS_H
#define GECKO_TRANSFORMS_HOSTIMPORTS_H

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::gecko {

/// The exported table's symbol (GECKO_HOST_IMPORTS_SYMBOL).
inline constexpr const char *kHostImportsSymbol = "gecko_host_imports";

/// Field indices of gecko_host_imports_t (kernel ABI v2).
enum HostImportField : unsigned {
  kImportContext = 0,
  kImportLaunch = 1,
  kImportGemm = 2,
  kImportSignal = 3,
  kNumImportFields = 4,
};

/// {void *context; launch; gemm; signal}: four pointers, at offsets 0, 8,
/// 16 and 24 on LP64.
inline LLVM::LLVMStructType hostImportsType(MLIRContext *ctx) {
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  return LLVM::LLVMStructType::getLiteral(ctx, {ptr, ptr, ptr, ptr});
}

} // namespace mlir::gecko

#endif // GECKO_TRANSFORMS_HOSTIMPORTS_H
