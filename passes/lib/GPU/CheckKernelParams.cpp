//===- CheckKernelParams.cpp - Kernel parameter space against the limit ---===//
//
// A kernel's parameters live in a fixed-size space (4 KiB; 32764 bytes from
// PTX ISA 8.1 on sm_70 and newer). ptxas rejects a kernel over the limit
// with a message that names only the generated kernel. This pass computes
// each kernel's parameter bytes as convert-gpu-to-nvvm will lay them out
// and reports an oversized kernel at its source, before code generation.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUCHECKKERNELPARAMS
#include "gecko/GPU/Passes.h.inc"

namespace {

/// The number after `prefix` in `text` (e.g. 81 for "+ptx" in "+ptx81"),
/// or 0.
int64_t numberAfter(StringRef text, StringRef prefix) {
  size_t at = text.find(prefix);
  if (at == StringRef::npos)
    return 0;
  StringRef digits =
      text.drop_front(at + prefix.size()).take_while(llvm::isDigit);
  int64_t value = 0;
  return digits.getAsInteger(10, value) ? 0 : value;
}

/// Bytes and alignment of one kernel parameter after convert-gpu-to-nvvm:
/// a memref is its descriptor (allocated and aligned pointers, offset,
/// sizes, strides), an index an i64.
std::pair<int64_t, int64_t> paramLayout(Type type) {
  if (auto memref = dyn_cast<MemRefType>(type))
    return {8 * (3 + 2 * memref.getRank()), 8};
  if (type.isIntOrFloat()) {
    int64_t bytes = llvm::divideCeil(type.getIntOrFloatBitWidth(), 8);
    return {bytes, bytes};
  }
  return {8, 8}; // index, pointers
}

struct CheckKernelParamsPass
    : impl::GeckoGpuCheckKernelParamsBase<CheckKernelParamsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool failedAny = false;
    for (auto kernels : module.getOps<gpu::GPUModuleOp>()) {
      int64_t limit = maxBytes;
      std::string source = "max-bytes";
      if (limit <= 0) {
        NVVM::NVVMTargetAttr nvvm;
        if (ArrayAttr targets = kernels.getTargetsAttr())
          for (Attribute attr : targets)
            if ((nvvm = dyn_cast<NVVM::NVVMTargetAttr>(attr)))
              break;
        if (!nvvm)
          continue; // Not an NVVM module: nothing to check against.
        limit = kernelParamLimit(nvvm.getChip(), nvvm.getFeatures());
        source =
            (nvvm.getChip() + ", features '" + nvvm.getFeatures() + "'").str();
      }
      for (auto fn : kernels.getOps<gpu::GPUFuncOp>()) {
        if (!fn.isKernel())
          continue;
        int64_t bytes = 0, buffers = 0, scalars = 0;
        for (Type type : fn.getArgumentTypes()) {
          auto [size, align] = paramLayout(type);
          bytes = llvm::alignTo(bytes, align) + size;
          isa<MemRefType>(type) ? ++buffers : ++scalars;
        }
        if (bytes <= limit)
          continue;
        failedAny = true;
        // Not fn.emitError(): the op, with thousands of arguments, would be
        // printed with the message.
        InFlightDiagnostic diag =
            emitError(fn.getLoc())
            << "kernel @" << fn.getName() << " takes " << bytes
            << " bytes of parameters (" << buffers
            << " buffers, passed as memref descriptors, and " << scalars
            << " scalars), over the limit of " << limit << " bytes (" << source
            << "); the sequential code it runs touches too many buffers "
               "(docs/cuda.md, 'Kernel parameters')";
        module.walk([&](gpu::LaunchFuncOp launch) {
          if (launch.getKernelModuleName() == kernels.getNameAttr() &&
              launch.getKernelName() == fn.getNameAttr())
            diag.attachNote(launch.getLoc()) << "launched here";
        });
      }
    }
    if (failedAny)
      signalPassFailure();
  }
};

} // namespace

int64_t kernelParamLimit(StringRef chip, StringRef features) {
  if (numberAfter(features, "+ptx") >= 81 && numberAfter(chip, "sm_") >= 70)
    return 32764;
  return 4096;
}

} // namespace mlir::gecko
