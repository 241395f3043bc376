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

constexpr const char *kWorkspaceArgAttr = "gecko.workspace";
constexpr const char *kWorkspaceBytesAttr = "gecko.workspace_bytes";
constexpr const char *kWorkspaceAlignmentAttr = "gecko.workspace_alignment";
constexpr const char *kBuffersAttr = "gecko.buffers";
constexpr const char *kSignalsAttr = "gecko.signals";

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
      // gecko-plan-memory appended the workspace as the last parameter: the
      // pointer after the arguments and results in the kernel ABI's array.
      int64_t workspaceBytes = 0;
      if (auto bytes = func->getAttrOfType<IntegerAttr>(kWorkspaceBytesAttr))
        workspaceBytes = bytes.getInt();
      if (workspaceBytes > 0 &&
          (type.getNumParams() == 0 ||
           !func.getArgAttr(type.getNumParams() - 1, kWorkspaceArgAttr))) {
        func.emitError() << "'" << func.getName() << "' has a workspace of "
                         << workspaceBytes
                         << " bytes but its last parameter is not the "
                            "workspace";
        return signalPassFailure();
      }
      // The marker has done its job; LLVM IR translation would warn on it.
      if (workspaceBytes > 0)
        func.removeArgAttr(type.getNumParams() - 1,
                           StringAttr::get(context, kWorkspaceArgAttr));
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
      // The memory plan travels with the entry, for the JIT and the artifact.
      // So do the ready signals of gecko-insert-ready-signals.
      for (StringRef name : {kWorkspaceBytesAttr, kWorkspaceAlignmentAttr,
                             kBuffersAttr, kSignalsAttr})
        if (Attribute attr = func->getAttr(name))
          entry->setAttr(name, attr);
      LLVM::ReturnOp::create(builder, loc, ValueRange{});
    }
  }
};

} // namespace
} // namespace mlir::gecko
