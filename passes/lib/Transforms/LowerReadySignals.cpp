//===- LowerReadySignals.cpp - gecko.ready_signal -> imports.signal -------===//
//
// Lowers every gecko.ready_signal to a call of the host-imports table's
// signal hook (kernel ABI v2), creating the exported table in CPU modules
// (see Passes.td for the contract).
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/HostImports.h"
#include "gecko/Transforms/Passes.h"

#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOLOWERREADYSIGNALS
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// The module's gecko_host_imports, created (exported, writable,
/// zero-initialized) when absent; failure when it has another type.
FailureOr<LLVM::GlobalOp> getOrCreateImports(ModuleOp module, Location loc) {
  MLIRContext *ctx = module.getContext();
  LLVM::LLVMStructType type = hostImportsType(ctx);
  if (auto existing = module.lookupSymbol<LLVM::GlobalOp>(kHostImportsSymbol)) {
    if (existing.getGlobalType() != type)
      return existing.emitOpError()
             << "has type " << existing.getGlobalType() << "; the kernel ABI "
             << "v2 host-imports table is " << type;
    return existing;
  }
  if (Operation *other = module.lookupSymbol(kHostImportsSymbol))
    return other->emitOpError() << "uses the symbol " << kHostImportsSymbol
                                << ", which the host-imports table needs";
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto global = LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/false,
                                       LLVM::Linkage::External,
                                       kHostImportsSymbol, Attribute(),
                                       /*alignment=*/64);
  global.setVisibility_(LLVM::Visibility::Default);
  Block *init = b.createBlock(&global.getInitializerRegion());
  b.setInsertionPointToStart(init);
  Value zero = LLVM::ZeroOp::create(b, loc, type);
  LLVM::ReturnOp::create(b, loc, zero);
  return global;
}

struct GeckoLowerReadySignalsPass
    : impl::GeckoLowerReadySignalsBase<GeckoLowerReadySignalsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ReadySignalOp> signals;
    module.walk([&](ReadySignalOp op) { signals.push_back(op); });
    if (signals.empty())
      return;
    FailureOr<LLVM::GlobalOp> imports =
        getOrCreateImports(module, signals.front().getLoc());
    if (failed(imports))
      return signalPassFailure();
    MLIRContext *ctx = module.getContext();
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32);
    LLVM::LLVMStructType tableTy = hostImportsType(ctx);
    auto fnTy = LLVM::LLVMFunctionType::get(i32, {ptrTy, i32});
    for (ReadySignalOp op : signals) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value table = LLVM::AddressOfOp::create(b, loc, *imports);
      Value slot = LLVM::GEPOp::create(
          b, loc, ptrTy, tableTy, table,
          ArrayRef<LLVM::GEPArg>{0, int32_t(kImportSignal)});
      Value fn = LLVM::LoadOp::create(b, loc, ptrTy, slot);
      Value null = LLVM::ZeroOp::create(b, loc, ptrTy);
      Value set =
          LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, fn, null);
      auto ifOp = scf::IfOp::create(b, loc, set, /*withElseRegion=*/false);
      b.setInsertionPointToStart(ifOp.thenBlock());
      Value context = LLVM::LoadOp::create(b, loc, ptrTy, table);
      Value id = LLVM::ConstantOp::create(b, loc, i32, op.getId());
      // The hook's status is the runtime's to act on (kernel_abi.h).
      LLVM::CallOp::create(b, loc, fnTy, ValueRange{fn, context, id});
      op.erase();
    }
  }
};

} // namespace
} // namespace mlir::gecko
