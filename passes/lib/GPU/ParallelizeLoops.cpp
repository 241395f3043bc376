//===- ParallelizeLoops.cpp - Sequential loops with independent iterations
//-===//
//
// The recurrences of the lowering (the timestep norms' statistics over
// time) are written as scf.for nests over (group, time) on buffers. Only
// the time loop carries a dependence; the group loop writes one group's
// slice per iteration. gecko-gpu-wrap-host-compute would run the whole nest
// in one thread. This pass proves such loops independent and turns them
// into scf.parallel, so they become kernels with one thread per group and
// the time loop inside the thread.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUPARALLELIZELOOPS
#include "gecko/GPU/Passes.h.inc"

namespace {

/// Where a memref lives: the function argument (or other value) it is a
/// view of, and the byte range within it when a memref.view at a constant
/// offset with a static shape was taken on the way.
struct Location {
  Value root;
  std::optional<std::pair<int64_t, int64_t>> bytes; // [begin, end)
};

Location locate(Value v) {
  std::optional<std::pair<int64_t, int64_t>> bytes;
  while (Operation *def = v.getDefiningOp()) {
    if (auto view = dyn_cast<memref::ViewOp>(def)) {
      std::optional<int64_t> shift = getConstantIntValue(view.getByteShift());
      MemRefType type = view.getType();
      if (shift && type.hasStaticShape() &&
          type.getElementType().isIntOrFloat())
        bytes = {{*shift, *shift + type.getNumElements() *
                                       type.getElementTypeBitWidth() / 8}};
      else
        bytes.reset();
    }
    auto viewLike = dyn_cast<ViewLikeOpInterface>(def);
    if (!viewLike)
      break;
    v = viewLike.getViewSource();
  }
  return {v, bytes};
}

/// True if the argument is the planned workspace, which the runtime
/// allocates for the call and no other argument aliases.
bool isWorkspace(Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg)
    return false;
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return func && func.getArgAttr(arg.getArgNumber(), "gecko.workspace");
}

/// Conservative: false only if `a` and `b` provably never overlap.
bool mayAlias(Value a, Value b) {
  Location la = locate(a), lb = locate(b);
  if (la.root != lb.root) {
    // Other arguments may be bound to one buffer (a parameter and its
    // update); the workspace and constant globals are never shared.
    auto distinct = [](Value root) {
      return isWorkspace(root) || root.getDefiningOp<memref::GetGlobalOp>();
    };
    return !distinct(la.root) && !distinct(lb.root);
  }
  if (la.bytes && lb.bytes)
    return la.bytes->first < lb.bytes->second &&
           lb.bytes->first < la.bytes->second;
  return true;
}

/// The position at which `iv` is an index of every access in `accesses`
/// (all to one memref), if there is one.
std::optional<unsigned> commonIvPosition(ArrayRef<Operation *> accesses,
                                         Value iv) {
  std::optional<unsigned> common;
  for (Operation *op : accesses) {
    ValueRange indices = isa<memref::LoadOp>(op)
                             ? cast<memref::LoadOp>(op).getIndices()
                             : cast<memref::StoreOp>(op).getIndices();
    std::optional<unsigned> pos;
    for (auto [i, index] : llvm::enumerate(indices))
      if (index == iv)
        pos = i;
    if (!pos || (common && *common != *pos))
      return std::nullopt;
    common = pos;
  }
  return common;
}

/// True if distinct iterations of `loop` touch no common memory location
/// that one of them writes: every buffer the body writes is accessed only
/// through one memref value indexed by the induction variable at one fixed
/// position, and no other buffer the body reads may alias it.
bool hasIndependentIterations(scf::ForOp loop) {
  if (loop.getNumResults() != 0)
    return false;
  Value iv = loop.getInductionVar();
  llvm::MapVector<Value, SmallVector<Operation *>> accesses;
  bool ok = true;
  loop.getBody()->walk([&](Operation *op) {
    if (auto load = dyn_cast<memref::LoadOp>(op)) {
      accesses[load.getMemRef()].push_back(op);
      return;
    }
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      accesses[store.getMemRef()].push_back(op);
      return;
    }
    if (isa<scf::ParallelOp>(op) ||
        (!isMemoryEffectFree(op) && op->getNumRegions() == 0 &&
         !op->hasTrait<OpTrait::IsTerminator>()))
      ok = false;
  });
  if (!ok)
    return false;
  SmallVector<Value> written;
  for (auto &[memref, ops] : accesses)
    if (llvm::any_of(ops,
                     [](Operation *op) { return isa<memref::StoreOp>(op); }))
      written.push_back(memref);
  if (written.empty())
    return false;
  for (Value w : written) {
    // The index must not be a view whose address depends on the iteration
    // in some other way: the memref itself is defined outside the loop.
    if (loop->isAncestor(w.getParentRegion()->getParentOp()))
      return false;
    auto type = dyn_cast<MemRefType>(w.getType());
    if (!type || !type.getLayout().isIdentity())
      return false;
    if (!commonIvPosition(accesses[w], iv))
      return false;
    for (auto &[other, ops] : accesses)
      if (other != w && mayAlias(other, w))
        return false;
  }
  return true;
}

/// Rewrites `loop` as a one-dimensional scf.parallel with the same body.
void convertToParallel(scf::ForOp loop) {
  OpBuilder b(loop);
  auto par = scf::ParallelOp::create(b, loop.getLoc(), loop.getLowerBound(),
                                     loop.getUpperBound(), loop.getStep());
  Block *body = par.getBody();
  b.setInsertionPoint(body->getTerminator());
  IRMapping mapping;
  mapping.map(loop.getInductionVar(), par.getInductionVars()[0]);
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, mapping);
  loop.erase();
}

struct ParallelizeLoopsPass
    : impl::GeckoGpuParallelizeLoopsBase<ParallelizeLoopsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // Outermost candidates first; loops inside a converted one run in its
    // thread.
    SmallVector<scf::ForOp> loops;
    func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<scf::ParallelOp>(op))
        return WalkResult::skip();
      auto loop = dyn_cast<scf::ForOp>(op);
      if (loop && hasIndependentIterations(loop)) {
        loops.push_back(loop);
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    for (scf::ForOp loop : loops)
      convertToParallel(loop);
  }
};

} // namespace
} // namespace mlir::gecko
