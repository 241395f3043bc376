//===- MergeKernelModules.cpp - All kernels in one gpu.module -------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUMERGEKERNELMODULES
#include "gecko/GPU/Passes.h.inc"

namespace {

/// The model step a kernel comes from: the first NameLoc in its location
/// (the frontend names each step's ops, e.g. "layers.0.mega.cema"), made a
/// C identifier ("layers_0_mega_cema"); empty when there is none.
std::string kernelScope(Location loc) {
  std::string scope;
  loc->walk([&](Location l) {
    if (auto name = dyn_cast<NameLoc>(l)) {
      scope = name.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  for (char &c : scope)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  return scope;
}

struct MergeKernelModulesPass
    : impl::GeckoGpuMergeKernelModulesBase<MergeKernelModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    SmallVector<gpu::GPUModuleOp> sources(module.getOps<gpu::GPUModuleOp>());
    if (sources.empty())
      return;
    if (module.lookupSymbol(kKernelModuleName)) {
      module.emitError() << "a symbol named @" << kKernelModuleName
                         << " already exists";
      return signalPassFailure();
    }
    OpBuilder b(sources.front());
    auto merged = gpu::GPUModuleOp::create(b, sources.front().getLoc(),
                                           kKernelModuleName);
    Block &dest = merged.getBodyRegion().front();
    // Symbols already moved, by name: kernels are unique (renamed after
    // their module); other symbols (constant globals cloned by outlining)
    // are shared when identical.
    llvm::StringMap<Operation *> moved;
    DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    SmallVector<Attribute> kernelNames;
    for (gpu::GPUModuleOp source : sources) {
      for (Operation &op :
           llvm::make_early_inc_range(source.getBodyRegion().front())) {
        auto symbol = dyn_cast<SymbolOpInterface>(&op);
        if (!symbol) {
          op.emitOpError() << "in a kernel module is not a symbol; cannot "
                              "merge kernel modules";
          return signalPassFailure();
        }
        auto fn = dyn_cast<gpu::GPUFuncOp>(&op);
        // Outlining names kernels after their function, so two modules may
        // hold kernels of the same name; the module names are unique.
        if (fn && fn.isKernel()) {
          StringAttr name = source.getSymNameAttr();
          std::string scope = kernelScope(fn.getLoc());
          if (!scope.empty())
            name = StringAttr::get(ctx, name.getValue() + "__" + scope);
          renamed[{source.getSymNameAttr(), fn.getNameAttr()}] = name;
          SymbolTable::setSymbolName(fn, name);
        }
        StringRef name = symbol.getName();
        if (Operation *previous = moved.lookup(name)) {
          if (!fn && OperationEquivalence::isEquivalentTo(
                         previous, &op, OperationEquivalence::IgnoreLocations))
            continue;
          op.emitOpError() << "defines @" << name
                           << ", which another kernel module defines "
                              "differently";
          return signalPassFailure();
        }
        moved[name] = &op;
        op.moveBefore(&dest, dest.end());
        if (fn && fn.isKernel())
          kernelNames.push_back(StringAttr::get(ctx, name));
      }
    }
    // Point every launch at the merged module.
    WalkResult r = module.walk([&](gpu::LaunchFuncOp launch) {
      StringAttr kernel = renamed.lookup(
          {launch.getKernelModuleName(), launch.getKernelName()});
      if (!kernel) {
        launch.emitOpError()
            << "launches unknown kernel " << launch.getKernelAttr();
        return WalkResult::interrupt();
      }
      launch.setKernelAttr(SymbolRefAttr::get(
          ctx, kKernelModuleName, {FlatSymbolRefAttr::get(kernel)}));
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();
    for (gpu::GPUModuleOp source : sources)
      source.erase();
    module->setAttr(kKernelListAttr, ArrayAttr::get(ctx, kernelNames));
  }
};

} // namespace
} // namespace mlir::gecko
