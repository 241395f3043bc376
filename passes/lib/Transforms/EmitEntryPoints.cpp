//===- EmitEntryPoints.cpp - Kernel-ABI entry wrappers --------------------===//
//
// Adds `gecko_entry_<name>(void **args)` for every public function of an
// LLVM-dialect module (see Passes.td for the contract).
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOEMITENTRYPOINTS
#include "gecko/Transforms/Passes.h.inc"

namespace {

struct GeckoEmitEntryPointsPass
    : impl::GeckoEmitEntryPointsBase<GeckoEmitEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    auto ptrType = LLVM::LLVMPointerType::get(context);
    auto voidType = LLVM::LLVMVoidType::get(context);

    SmallVector<LLVM::LLVMFuncOp> functions;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (func.isExternal() || func.isPrivate() ||
          func.getName().starts_with(kEntryPrefix))
        continue;
      functions.push_back(func);
    }

    OpBuilder builder(context);
    for (LLVM::LLVMFuncOp func : functions) {
      LLVM::LLVMFunctionType type = func.getFunctionType();
      if (!isa<LLVM::LLVMVoidType>(type.getReturnType())) {
        func.emitError() << "function '" << func.getName()
                         << "' returns a value; compiled functions must "
                            "return their results through out parameters";
        return signalPassFailure();
      }
      for (auto [index, param] : llvm::enumerate(type.getParams())) {
        if (param != ptrType) {
          func.emitError() << "parameter " << index << " of '" << func.getName()
                           << "' has type " << param
                           << "; the kernel ABI passes only buffers "
                              "(statically shaped memrefs as bare pointers)";
          return signalPassFailure();
        }
      }
      std::string entryName = (kEntryPrefix + func.getName()).str();
      if (module.lookupSymbol(entryName)) {
        func.emitError() << "symbol '" << entryName << "' already exists";
        return signalPassFailure();
      }

      builder.setInsertionPointAfter(func);
      Location loc = func.getLoc();
      auto entry = LLVM::LLVMFuncOp::create(
          builder, loc, entryName,
          LLVM::LLVMFunctionType::get(voidType, {ptrType}));
      Block *body = entry.addEntryBlock(builder);
      builder.setInsertionPointToStart(body);
      Value argv = body->getArgument(0);
      SmallVector<Value> operands;
      for (int64_t i = 0, e = type.getNumParams(); i < e; ++i) {
        Value slot = LLVM::GEPOp::create(builder, loc, ptrType, ptrType, argv,
                                         ArrayRef<LLVM::GEPArg>{i});
        operands.push_back(LLVM::LoadOp::create(builder, loc, ptrType, slot));
      }
      LLVM::CallOp::create(builder, loc, func, operands);
      LLVM::ReturnOp::create(builder, loc, ValueRange{});
    }
  }
};

} // namespace
} // namespace mlir::gecko
