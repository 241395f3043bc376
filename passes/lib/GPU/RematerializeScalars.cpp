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
#include "mlir/Interfaces/LoopLikeInterface.h"
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
/// Element reads and writes (`tensor.insert` in a scalar recurrence) stay in
/// the sequential code around them.
bool isTensorWork(Operation *op) {
  if (isa<tensor::EmptyOp, tensor::DimOp, tensor::ExpandShapeOp,
          tensor::CollapseShapeOp, tensor::InsertOp>(op) ||
      op->hasTrait<OpTrait::ConstantLike>() ||
      op->hasTrait<OpTrait::IsTerminator>())
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

/// True if tensor work may run between `def` and `user` (nested in a block
/// that `def`'s block encloses): before `user` in its block or an enclosing
/// one, or anywhere in an enclosing loop (its earlier iterations).
bool tensorWorkOnPath(Operation *def, Operation *user) {
  Operation *x = user;
  while (x->getBlock() != def->getBlock()) {
    for (Operation *p = &x->getBlock()->front(); p != x; p = p->getNextNode())
      if (isTensorWork(p))
        return true;
    Operation *parent = x->getParentOp();
    if (isa<LoopLikeOpInterface>(parent) && containsTensorWork(parent))
      return true;
    x = parent;
  }
  return tensorWorkBetween(def, x);
}

/// Clones before `user` the computation of each value of `used` that is a
/// scalar read from a tensor with tensor work between it and `user`, and
/// makes the uses that `replace` accepts use the copy.
void rematerializeBefore(Operation *user, ArrayRef<Value> used,
                         function_ref<bool(OpOperand &)> replace) {
  llvm::SetVector<Operation *> slice;
  for (Value v : used) {
    Operation *def = v.getDefiningOp();
    if (!def || isShaped(v.getType()) || def->hasTrait<OpTrait::ConstantLike>())
      continue;
    if (!def->getBlock()->findAncestorOpInBlock(*user) ||
        !tensorWorkOnPath(def, user))
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
      from.replaceUsesWithIf(to, replace);
  }
}

/// Visits the ops of `block`: a host loop or branch over tensor work is
/// entered (its own operands handled at it), any other op handled whole.
/// Scalars of enclosing blocks that the block's scalar code uses (a
/// recurrence's loop over time reading a count) are recomputed once, before
/// the first such use.
void rematerialize(Block &block) {
  Operation *first = nullptr;
  llvm::SetVector<Value> outer;
  for (Operation &op : block) {
    if (!isScalarComputation(&op))
      continue;
    for (Value v : usedFromOutside(&op)) {
      Operation *def = v.getDefiningOp();
      if (!def || def->getBlock() == &block)
        continue;
      first = first ? first : &op;
      outer.insert(v);
    }
  }
  if (first)
    rematerializeBefore(first, outer.getArrayRef(), [&](OpOperand &use) {
      Operation *ancestor = block.findAncestorOpInBlock(*use.getOwner());
      return ancestor && !ancestor->isBeforeInBlock(first);
    });
  for (Operation &opRef : llvm::make_early_inc_range(block)) {
    Operation *op = &opRef;
    if (isScalarComputation(op))
      continue;
    auto within = [&](OpOperand &use) {
      return op->isAncestor(use.getOwner());
    };
    if (!containsTensorWork(op)) {
      rematerializeBefore(op, usedFromOutside(op), within);
      continue;
    }
    rematerializeBefore(op, llvm::to_vector(op->getOperands()), within);
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
