//===- RematerializeScalars.cpp - Recompute tensor-read scalars near use --===//
//
// On the CUDA target a scalar read from a tensor lives on the device: the
// host cannot keep it across kernel launches. When CSE merges two copies of
// such a computation (the forward and the backward of a timestep norm both
// read the prior count and form the same powers of beta), one value ends up
// used at both ends of the function, and everything in between has to run
// inside one single-thread kernel. This pass undoes that on tensors, where
// recomputing a read is always exact: it clones the scalar computation next
// to each use that lies past other tensor work.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUREMATERIALIZESCALARS
#include "gecko/GPU/Passes.h.inc"

namespace {

/// Upper bound on the ops cloned for one use (a slice is a handful of index
/// computations, a table read and a short power loop).
constexpr unsigned kMaxSliceOps = 64;

bool isShaped(Type type) { return isa<ShapedType>(type); }

/// True if `op` computes scalars without side effects (regions included):
/// tensor reads, index and float arithmetic, loops over scalars.
bool isScalarComputation(Operation *op) {
  if (op->getNumResults() == 0 || op->hasTrait<OpTrait::IsTerminator>())
    return false;
  if (llvm::any_of(op->getResultTypes(), isShaped))
    return false;
  return isMemoryEffectFree(op);
}

/// True if `op` is tensor work that becomes a kernel or a library call (or
/// contains some): what a scalar read from a tensor may not live across.
bool isTensorWork(Operation *op) {
  if (isa<tensor::EmptyOp, tensor::DimOp, tensor::ExpandShapeOp,
          tensor::CollapseShapeOp>(op) ||
      op->hasTrait<OpTrait::ConstantLike>())
    return false;
  if (isScalarComputation(op))
    return false;
  return llvm::any_of(op->getResultTypes(), isShaped) ||
         llvm::any_of(op->getOperandTypes(), isShaped) ||
         op->getNumRegions() > 0;
}

/// Values defined outside `op` that `op` (or an op nested in it) uses.
SmallVector<Value> usedFromOutside(Operation *op) {
  llvm::SetVector<Value> values;
  op->walk([&](Operation *nested) {
    for (Value v : nested->getOperands()) {
      Operation *def = v.getDefiningOp();
      Region *region = def ? def->getParentRegion() : v.getParentRegion();
      if (!op->isProperAncestor(region->getParentOp()) &&
          region->getParentOp() != op)
        values.insert(v);
    }
  });
  return values.takeVector();
}

/// Collects into `slice` (operands first) the ops of `block` that compute
/// `v`, stopping at values defined outside `block` and at shaped values.
/// Returns false if some op of the slice cannot be recomputed. Sets
/// `readsTensor` if the slice reads a tensor.
bool collectSlice(Value v, Block *block, llvm::SetVector<Operation *> &slice,
                  bool &readsTensor) {
  Operation *def = v.getDefiningOp();
  if (!def || def->getBlock() != block || slice.contains(def) ||
      isShaped(v.getType()) || def->hasTrait<OpTrait::ConstantLike>())
    return true;
  if (!isScalarComputation(def))
    return false;
  if (def->walk([](tensor::ExtractOp) { return WalkResult::interrupt(); })
          .wasInterrupted())
    readsTensor = true;
  for (Value operand : usedFromOutside(def))
    if (!collectSlice(operand, block, slice, readsTensor))
      return false;
  slice.insert(def);
  return slice.size() <= kMaxSliceOps;
}

/// Returns true if an op strictly between `from` and `to` (both in one
/// block) is tensor work.
bool tensorWorkBetween(Operation *from, Operation *to) {
  for (Operation *op = from->getNextNode(); op && op != to;
       op = op->getNextNode())
    if (isTensorWork(op))
      return true;
  return false;
}

/// True if `op` has regions that contain tensor work: a host loop or branch
/// over kernels rather than one kernel's body.
bool containsTensorWork(Operation *op) {
  if (op->getNumRegions() == 0)
    return false;
  return op
      ->walk([&](Operation *nested) {
        return nested != op && isTensorWork(nested) ? WalkResult::interrupt()
                                                    : WalkResult::advance();
      })
      .wasInterrupted();
}

/// Clones before `user` the computation of each scalar it uses that is
/// read from a tensor and computed before other tensor work (or outside the
/// host loop around `user`).
void rematerializeFor(Operation *user, ArrayRef<Value> used) {
  llvm::SetVector<Operation *> slice;
  for (Value v : used) {
    Operation *def = v.getDefiningOp();
    if (!def || isShaped(v.getType()) || def->hasTrait<OpTrait::ConstantLike>())
      continue;
    Operation *ancestor = def->getBlock()->findAncestorOpInBlock(*user);
    if (!ancestor || (ancestor == user && !tensorWorkBetween(def, user)))
      continue;
    llvm::SetVector<Operation *> one;
    bool reads = false;
    if (!collectSlice(v, def->getBlock(), one, reads) || !reads)
      continue;
    slice.insert(one.begin(), one.end());
  }
  if (slice.empty())
    return;
  // The slices were collected operands first: clone in that order.
  OpBuilder builder(user);
  IRMapping mapping;
  for (Operation *op : slice) {
    Operation *clone = builder.clone(*op, mapping);
    for (auto [from, to] : llvm::zip(op->getResults(), clone->getResults()))
      from.replaceUsesWithIf(
          to, [&](OpOperand &use) { return user->isAncestor(use.getOwner()); });
  }
}

/// Visits the ops of `block`: a host loop or branch over tensor work is
/// entered (its own operands handled at it), any other op handled whole.
void rematerialize(Block &block) {
  for (Operation &opRef : llvm::make_early_inc_range(block)) {
    Operation *op = &opRef;
    if (isScalarComputation(op))
      continue;
    if (!containsTensorWork(op)) {
      rematerializeFor(op, usedFromOutside(op));
      continue;
    }
    rematerializeFor(op, llvm::to_vector(op->getOperands()));
    for (Region &region : op->getRegions())
      for (Block &nested : region)
        rematerialize(nested);
  }
}

struct RematerializeScalarsPass
    : impl::GeckoGpuRematerializeScalarsBase<RematerializeScalarsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    for (Block &block : func.getBody())
      rematerialize(block);
  }
};

} // namespace
} // namespace mlir::gecko
