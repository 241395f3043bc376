//===- MaterializeDeviceScalars.cpp - Scalars from tensors as operands ----===//
//
// On the CUDA target a scalar read from a tensor (tensor.extract: the
// learning rate, the step, a clipping factor) is computed on the device.
// When a parallel linalg op captures such a scalar in its body, the kernel
// it becomes would need it as a host value, so gecko-gpu-wrap-host-compute
// has to pull the whole op into the single-thread kernel that computes the
// scalar. This pass instead hands the scalar to the op through device
// memory: as a 0-d tensor operand read by every iteration.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUMATERIALIZEDEVICESCALARS
#include "gecko/GPU/Passes.h.inc"

namespace {

bool isScalar(Value v) { return !isa<ShapedType>(v.getType()); }

/// The scalars of a function that are computed from tensor contents (and
/// so, on the GPU, from device memory): results of tensor.extract and
/// everything computed from them, through scf loops and branches. The
/// bodies of linalg ops are not entered: their block arguments are
/// elements, not captured scalars.
class DeviceScalars {
public:
  explicit DeviceScalars(func::FuncOp func) {
    // Loops carry values around: iterate to a fixed point.
    do {
      changed = false;
      func.walk<WalkOrder::PreOrder>([&](Operation *op) {
        visit(op);
        return isa<linalg::LinalgOp>(op) ? WalkResult::skip()
                                         : WalkResult::advance();
      });
    } while (changed);
  }

  bool contains(Value v) const { return values.contains(v); }

private:
  void add(Value v) {
    if (isScalar(v) && values.insert(v).second)
      changed = true;
  }

  bool anyOf(ValueRange range) const {
    return llvm::any_of(range, [&](Value v) { return contains(v); });
  }

  void visit(Operation *op) {
    if (isa<linalg::LinalgOp>(op))
      return;
    if (isa<tensor::ExtractOp>(op)) {
      add(op->getResult(0));
      return;
    }
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      if (anyOf({loop.getLowerBound(), loop.getUpperBound(), loop.getStep()}))
        add(loop.getInductionVar());
      auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
      for (auto [init, arg, next, result] :
           llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs(),
                     yield.getOperands(), loop.getResults())) {
        if (contains(init) || contains(next)) {
          add(arg);
          add(result);
        }
      }
      return;
    }
    if (auto branch = dyn_cast<scf::IfOp>(op)) {
      bool condition = contains(branch.getCondition());
      for (Region *region : {&branch.getThenRegion(), &branch.getElseRegion()})
        for (Block &block : *region)
          for (auto [i, v] :
               llvm::enumerate(block.getTerminator()->getOperands()))
            if (condition || contains(v))
              add(branch.getResult(i));
      return;
    }
    if (op->getNumRegions() > 0) {
      // Any other region op (scf.while, execute_region): all or nothing.
      bool tainted = anyOf(op->getOperands());
      op->walk([&](Operation *nested) {
        if (nested->hasTrait<OpTrait::IsTerminator>() &&
            nested->getParentOp() == op && anyOf(nested->getOperands()))
          tainted = true;
      });
      if (!tainted)
        return;
      for (Value result : op->getResults())
        add(result);
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            add(arg);
      return;
    }
    if (anyOf(op->getOperands()))
      for (Value result : op->getResults())
        add(result);
  }

  llvm::DenseSet<Value> values;
  bool changed = false;
};

/// The device scalars that the body of `op` captures from above.
llvm::SetVector<Value> capturedDeviceScalars(linalg::LinalgOp op,
                                             const DeviceScalars &scalars) {
  llvm::SetVector<Value> above;
  getUsedValuesDefinedAbove(op->getRegions(), above);
  return llvm::SetVector<Value>(llvm::from_range,
                                llvm::make_filter_range(above, [&](Value v) {
                                  return scalars.contains(v);
                                }));
}

/// True if `op` uses a device scalar: as an operand or from its body.
bool usesDeviceScalars(linalg::LinalgOp op, const DeviceScalars &scalars) {
  return llvm::any_of(op->getOperands(),
                      [&](Value v) { return scalars.contains(v); }) ||
         !capturedDeviceScalars(op, scalars).empty();
}

/// Moves the side-effect-free ops that compute `v` in its block as early as
/// their operands allow, so that the scalar work of one region of the
/// program stays together (one single-thread kernel) instead of being
/// interleaved with the kernels that use it.
void hoistComputation(Value v, const DeviceScalars &scalars) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return;
  Block *block = def->getBlock();
  // The in-block slice, operands first.
  llvm::SetVector<Operation *> slice;
  std::function<void(Operation *)> visit = [&](Operation *op) {
    if (!op || op->getBlock() != block || slice.contains(op) ||
        op->getNumRegions() > 0 || !isMemoryEffectFree(op) ||
        !llvm::any_of(op->getResults(),
                      [&](Value r) { return scalars.contains(r); }))
      return;
    for (Value operand : op->getOperands())
      visit(operand.getDefiningOp());
    slice.insert(op);
  };
  visit(def);
  for (Operation *op : slice) {
    Operation *after = nullptr;
    for (Value operand : op->getOperands()) {
      // Block arguments, and values from enclosing blocks, dominate the
      // whole block.
      Operation *producer = operand.getDefiningOp();
      Operation *ancestor =
          producer ? block->findAncestorOpInBlock(*producer) : nullptr;
      if (ancestor && (!after || after->isBeforeInBlock(ancestor)))
        after = ancestor;
    }
    if (after)
      op->moveAfter(after);
    else if (&block->front() != op)
      op->moveBefore(&block->front());
  }
}

struct MaterializeDeviceScalarsPass
    : impl::GeckoGpuMaterializeDeviceScalarsBase<MaterializeDeviceScalarsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    DeviceScalars scalars(func);
    SmallVector<linalg::LinalgOp> candidates;
    func.walk<WalkOrder::PreOrder>([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && op.getNumLoops() > 0 &&
          usesDeviceScalars(op, scalars))
        candidates.push_back(op);
      return WalkResult::skip();
    });
    IRRewriter rewriter(func.getContext());
    DenseMap<Value, Value> tensors; // scalar -> its 0-d tensor
    auto tensorFor = [&](Value v) -> Value {
      if (Value t = tensors.lookup(v))
        return t;
      Value t;
      auto extract = v.getDefiningOp<tensor::ExtractOp>();
      if (extract && extract.getTensor().getType().getRank() == 0) {
        // Already in a 0-d tensor: use it.
        t = extract.getTensor();
      } else {
        hoistComputation(v, scalars);
        OpBuilder::InsertionGuard guard(rewriter);
        if (Operation *def = v.getDefiningOp())
          rewriter.setInsertionPointAfter(def);
        else
          rewriter.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
        t = tensor::FromElementsOp::create(
            rewriter, v.getLoc(), RankedTensorType::get({}, v.getType()),
            ValueRange{v});
      }
      tensors[v] = t;
      return t;
    };
    for (linalg::LinalgOp op : candidates) {
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        rewriter.setInsertionPoint(op);
        FailureOr<linalg::GenericOp> converted =
            linalg::generalizeNamedOp(rewriter, op);
        if (failed(converted)) {
          op.emitOpError() << "uses a scalar computed from tensor contents "
                              "and cannot be generalized (cuda target)";
          return signalPassFailure();
        }
        generic = *converted;
      }
      if (failed(rewrite(rewriter, generic, scalars, tensorFor)))
        return signalPassFailure();
    }
  }

  /// Replaces `op` by a generic that reads each device scalar it uses from
  /// a 0-d tensor operand.
  LogicalResult rewrite(IRRewriter &rewriter, linalg::GenericOp op,
                        const DeviceScalars &scalars,
                        function_ref<Value(Value)> tensorFor) {
    llvm::SetVector<Value> captured = capturedDeviceScalars(op, scalars);
    MLIRContext *ctx = op.getContext();
    unsigned numLoops = op.getNumLoops();
    AffineMap scalarMap = AffineMap::get(numLoops, 0, ctx);
    SmallVector<Value> inputs;
    SmallVector<Attribute> maps;
    for (OpOperand *input : op.getDpsInputOperands()) {
      Value v = input->get();
      inputs.push_back(scalars.contains(v) ? tensorFor(v) : v);
      maps.push_back(AffineMapAttr::get(op.getMatchingIndexingMap(input)));
    }
    for (Value v : captured) {
      inputs.push_back(tensorFor(v));
      maps.push_back(AffineMapAttr::get(scalarMap));
    }
    for (OpOperand &init : op.getDpsInitsMutable())
      maps.push_back(AffineMapAttr::get(op.getMatchingIndexingMap(&init)));
    rewriter.setInsertionPoint(op);
    auto replacement = linalg::GenericOp::create(
        rewriter, op.getLoc(), op->getResultTypes(), inputs, op.getOutputs(),
        rewriter.getArrayAttr(maps), op.getIteratorTypes(), op.getDocAttr(),
        op.getLibraryCallAttr());
    replacement->setDiscardableAttrs(op->getDiscardableAttrDictionary());
    Region &body = replacement.getRegion();
    rewriter.inlineRegionBefore(op.getRegion(), body, body.end());
    Block &block = body.front();
    unsigned position = op.getNumDpsInputs();
    for (Value v : captured) {
      BlockArgument arg =
          block.insertArgument(position++, v.getType(), v.getLoc());
      rewriter.replaceUsesWithIf(v, arg, [&](OpOperand &use) {
        return replacement->isProperAncestor(use.getOwner());
      });
    }
    rewriter.replaceOp(op, replacement->getResults());
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
