//===- InsertReadySignals.cpp - Signal results that collectives reduce ----===//
//
// After bufferization, inserts a gecko.ready_signal after the last top-level
// op that uses each out parameter marked with gecko.collective (or an alias
// of it), so that the runtime can start the collective while the rest of
// the function still runs (see Passes.td for the contract).
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOINSERTREADYSIGNALS
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// The function attribute listing the tensors of each signal, by id.
constexpr const char *kSignalsAttr = "gecko.signals";

/// True if `op` may use a buffer operand only as the analysis understands:
/// it declares its memory effects, is not a call or a terminator (which
/// could hand the buffer to code the analysis does not see), and does not
/// turn the buffer into a pointer or a tensor. Its memref results are then
/// aliases (views, casts, ...), followed like the buffer itself.
bool isTrackedUse(Operation *op) {
  if (!isa<MemoryEffectOpInterface>(op) || isa<CallOpInterface>(op) ||
      op->hasTrait<OpTrait::IsTerminator>())
    return false;
  if (isa<memref::ExtractAlignedPointerAsIndexOp>(op))
    return false;
  for (Type type : op->getResultTypes())
    if (isa<TensorType>(type))
      return false;
  return true;
}

/// The last top-level op of `body` that uses `buffer` or an alias of it, or
/// nullptr when the buffer escapes the analysis or has no use.
Operation *lastUse(Block &body, Value buffer) {
  Operation *last = nullptr;
  SmallVector<Value> worklist = {buffer};
  llvm::SmallPtrSet<Value, 8> seen = {buffer};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      Operation *top = body.findAncestorOpInBlock(*user);
      if (!top || !isTrackedUse(user))
        return nullptr;
      if (!last || last->isBeforeInBlock(top))
        last = top;
      for (Value result : user->getResults())
        if (isa<BaseMemRefType>(result.getType()) && seen.insert(result).second)
          worklist.push_back(result);
    }
  }
  return last;
}

struct GeckoInsertReadySignalsPass
    : impl::GeckoInsertReadySignalsBase<GeckoInsertReadySignalsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (failed(processFunction(func)))
        return signalPassFailure();
  }

  LogicalResult processFunction(func::FuncOp func) {
    if (func.isExternal())
      return success();
    MLIRContext *ctx = func.getContext();
    // The marked out parameters, in argument order.
    SmallVector<std::pair<BlockArgument, StringAttr>> marked;
    for (BlockArgument arg : func.getArguments()) {
      unsigned i = arg.getArgNumber();
      if (!func.getArgAttr(i, kCollectiveAttrName))
        continue;
      auto name = func.getArgAttrOfType<StringAttr>(i, kOutputAttrName);
      if (!name)
        continue; // An input the runtime reduces before the call.
      if (!isa<BaseMemRefType>(arg.getType()))
        return func.emitError()
               << "gecko-insert-ready-signals: out parameter " << i << " ('"
               << name.getValue() << "') of @" << func.getName() << " has type "
               << arg.getType() << "; run the pass after bufferization";
      marked.push_back({arg, name});
    }
    if (marked.empty())
      return success();
    if (!func.getBody().hasOneBlock())
      return func.emitError()
             << "gecko-insert-ready-signals: @" << func.getName() << " has "
             << func.getBody().getBlocks().size()
             << " blocks; expected the single block of a bufferized function";
    Block &body = func.getBody().front();
    Operation *terminator = body.getTerminator();

    // Signals go before the op after each last use (the terminator for a
    // buffer signalled at the end), so buffers whose last uses coincide
    // share one signal.
    llvm::MapVector<Operation *, SmallVector<Attribute>> groups;
    for (auto [arg, name] : marked) {
      Operation *last = lastUse(body, arg);
      Operation *before = last ? last->getNextNode() : terminator;
      groups[before].push_back(name);
    }
    SmallVector<Operation *> order;
    for (auto &group : groups)
      order.push_back(group.first);
    llvm::sort(order, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });

    OpBuilder builder(ctx);
    SmallVector<Attribute> signals;
    for (auto [id, before] : llvm::enumerate(order)) {
      ArrayAttr tensors = builder.getArrayAttr(groups[before]);
      builder.setInsertionPoint(before);
      ReadySignalOp::create(builder, before->getLoc(), int32_t(id), tensors);
      signals.push_back(tensors);
    }
    func->setAttr(kSignalsAttr, builder.getArrayAttr(signals));
    // The names now live in the signals; the markers are consumed.
    for (auto [arg, name] : marked) {
      func.removeArgAttr(arg.getArgNumber(), kCollectiveAttrName);
      func.removeArgAttr(arg.getArgNumber(), kOutputAttrName);
    }
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
