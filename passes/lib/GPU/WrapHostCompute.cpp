//===- WrapHostCompute.cpp - Keep buffer accesses off the host ------------===//
//
// On the CUDA target every buffer is device memory, and only scf.parallel
// loops become kernels. This pass makes the rest of a function host-safe:
// runs of ops that touch buffers (or use what was read from them) are
// wrapped into one-iteration parallel loops, i.e. single-thread kernels.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUWRAPHOSTCOMPUTE
#include "gecko/GPU/Passes.h.inc"

namespace {

/// True if `op` or an op nested in it reads or writes memory (a buffer).
bool accessesMemory(Operation *op) {
  WalkResult r = op->walk([](Operation *nested) {
    auto iface = dyn_cast<MemoryEffectOpInterface>(nested);
    if (!iface) {
      // Unknown effects: only region holders and terminators are harmless.
      if (nested->getNumRegions() > 0 ||
          nested->hasTrait<OpTrait::IsTerminator>() || isPure(nested))
        return WalkResult::advance();
      return WalkResult::interrupt();
    }
    if (iface.hasEffect<MemoryEffects::Read>() ||
        iface.hasEffect<MemoryEffects::Write>())
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return r.wasInterrupted();
}

/// A call of a runtime import (a library GEMM): it runs on the device in
/// order with the kernels, but is issued by the host.
bool isImportCall(Operation *op) {
  return isa<func::CallOp>(op) && op->hasAttr(kGpuImportAttr);
}

/// True if `op` is or contains a kernel-to-be or an import call.
bool containsParallelLoop(Operation *op) {
  return op
      ->walk([](Operation *nested) {
        return isa<scf::ParallelOp>(nested) || isImportCall(nested)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      })
      .wasInterrupted();
}

struct BlockWrapper {
  llvm::DenseSet<Value> &tainted;

  /// True if `op` (or an op nested in it) uses a tainted value.
  bool usesTainted(Operation *op) const {
    WalkResult r = op->walk([&](Operation *nested) {
      for (Value v : nested->getOperands())
        if (tainted.contains(v))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    return r.wasInterrupted();
  }

  void taintResults(Operation *op) {
    op->walk([&](Operation *nested) {
      for (Value v : nested->getResults())
        tainted.insert(v);
      for (Region &region : nested->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            tainted.insert(arg);
    });
  }

  /// True if a value defined by `run` is used after it.
  static bool escapes(ArrayRef<Operation *> run) {
    llvm::SmallPtrSet<Operation *, 16> inRun(run.begin(), run.end());
    for (Operation *op : run)
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers()) {
          Operation *ancestor = op->getBlock()->findAncestorOpInBlock(*user);
          if (!ancestor || !inRun.contains(ancestor))
            return true;
        }
    return false;
  }

  /// Wraps `run` (consecutive device ops of one block, in order) into a
  /// one-iteration scf.parallel placed where the run starts.
  LogicalResult flush(SmallVectorImpl<Operation *> &run) {
    if (run.empty())
      return success();
    llvm::SmallPtrSet<Operation *, 16> inRun(run.begin(), run.end());
    for (Operation *op : run) {
      for (Value result : op->getResults()) {
        for (Operation *user : result.getUsers()) {
          Operation *ancestor = op->getBlock()->findAncestorOpInBlock(*user);
          if (!ancestor || !inRun.contains(ancestor))
            return user->emitOpError()
                   << "uses a value computed from device buffers on the host "
                      "(cuda target); it cannot be moved into a kernel";
        }
      }
    }
    OpBuilder b(run.front());
    Location loc = run.front()->getLoc();
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    auto par = scf::ParallelOp::create(b, loc, ValueRange{c0}, ValueRange{c1},
                                       ValueRange{c1});
    Operation *terminator = par.getBody()->getTerminator();
    for (Operation *op : run)
      op->moveBefore(terminator);
    run.clear();
    return success();
  }

  LogicalResult process(Block &block) {
    SmallVector<Operation *> run;
    for (Operation &opRef : llvm::make_early_inc_range(block)) {
      Operation *op = &opRef;
      if (op->hasTrait<OpTrait::IsTerminator>()) {
        if (usesTainted(op))
          return op->emitOpError()
                 << "yields a value computed from device buffers to host "
                    "code (cuda target)";
        break;
      }
      // A ready signal is host code: it must see every kernel before it
      // queued. It ends the run, unless host code after it needs a value
      // of the run: then it stays after the whole run (later is safe, the
      // signalled buffers are not touched again).
      if (isa<ReadySignalOp>(op)) {
        if (!escapes(run) && failed(flush(run)))
          return failure();
        continue;
      }
      // A kernel (or a host loop of kernels) ends the run, unless host code
      // after it needs a value of the run: then it joins the run and runs
      // sequentially inside the single-thread kernel.
      if (isImportCall(op)) {
        if (usesTainted(op) || escapes(run))
          return op->emitOpError()
                 << "is a library call on device buffers, which cannot "
                    "run inside a kernel, but host code around it needs "
                    "values computed from device buffers";
        if (failed(flush(run)))
          return failure();
        continue;
      }
      bool launches =
          isa<scf::ParallelOp>(op) ||
          (isa<scf::ForOp, scf::IfOp>(op) && containsParallelLoop(op));
      if (launches && escapes(run)) {
        run.push_back(op);
        taintResults(op);
        continue;
      }
      if (isa<scf::ParallelOp>(op)) {
        if (failed(flush(run)))
          return failure();
        continue;
      }
      if (isa<memref::AllocOp, memref::AllocaOp>(op))
        return op->emitOpError()
               << "is a buffer allocation left after gecko-plan-memory; the "
                  "cuda target needs every buffer in the planned workspace";
      bool tainted = usesTainted(op);
      // A host loop or branch that launches kernels: keep it on the host
      // when its control does not depend on buffer contents.
      if (!tainted && op->getNumRegions() > 0 && containsParallelLoop(op) &&
          isa<scf::ForOp, scf::IfOp>(op)) {
        if (failed(flush(run)))
          return failure();
        for (Region &region : op->getRegions())
          for (Block &nested : region)
            if (failed(process(nested)))
              return failure();
        continue;
      }
      if (tainted || accessesMemory(op)) {
        run.push_back(op);
        taintResults(op);
        continue;
      }
      // Address or constant arithmetic: stays on the host, ahead of the
      // run so that the run can continue past it.
      if (!run.empty())
        op->moveBefore(run.front());
    }
    return flush(run);
  }
};

/// Values defined outside `op` that `op` (or an op nested in it) uses.
SmallVector<Value> usedFromOutside(Operation *op) {
  llvm::SetVector<Value> values;
  op->walk([&](Operation *nested) {
    for (Value v : nested->getOperands())
      if (!op->isAncestor(v.getParentRegion()->getParentOp()))
        values.insert(v);
  });
  return values.takeVector();
}

/// The buffer a view is taken of: follows view-like ops to a block argument
/// or to the op that defines the buffer.
Value rootBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    v = view.getViewSource();
  }
  return v;
}

/// The function arguments that no op of `func` may write: every buffer an op
/// writes, or passes to a call or an op of unknown effects, is traced to its
/// root; arguments never reached are read-only.
llvm::DenseSet<Value> readOnlyArguments(func::FuncOp func) {
  llvm::DenseSet<Value> written;
  func.walk([&](Operation *op) {
    // A ready signal orders buffer accesses but touches no buffer.
    if (isa<ReadySignalOp>(op))
      return;
    auto iface = dyn_cast<MemoryEffectOpInterface>(op);
    if (iface) {
      SmallVector<MemoryEffects::EffectInstance> effects;
      iface.getEffects(effects);
      for (const MemoryEffects::EffectInstance &effect : effects) {
        if (!isa<MemoryEffects::Write, MemoryEffects::Free>(effect.getEffect()))
          continue;
        if (Value v = effect.getValue())
          written.insert(rootBuffer(v));
        else // A write to an unknown buffer: nothing is read-only.
          written.insert(func.getArguments().begin(),
                         func.getArguments().end());
      }
      return;
    }
    if (op->getNumRegions() > 0 || isPure(op) ||
        op->hasTrait<OpTrait::IsTerminator>())
      return;
    // A call (a library GEMM takes the addresses of its operands) or an op
    // of unknown effects: every buffer it sees may be written.
    for (Value operand : op->getOperands()) {
      if (auto ptr =
              operand.getDefiningOp<memref::ExtractAlignedPointerAsIndexOp>())
        operand = ptr.getSource();
      if (isa<BaseMemRefType>(operand.getType()))
        written.insert(rootBuffer(operand));
    }
  });
  llvm::DenseSet<Value> readOnly;
  for (BlockArgument arg : func.getArguments())
    if (isa<BaseMemRefType>(arg.getType()) && !written.contains(arg))
      readOnly.insert(arg);
  return readOnly;
}

/// Collects into `slice` (operands first) the ops of `block` that compute
/// `v` from loads of read-only buffers and side-effect-free ops. Returns
/// false if another op is needed.
bool collectReadOnlySlice(Value v, Block *block,
                          const llvm::DenseSet<Value> &readOnly,
                          llvm::SetVector<Operation *> &slice) {
  Operation *def = v.getDefiningOp();
  if (!def || def->getBlock() != block || slice.contains(def))
    return true;
  if (auto load = dyn_cast<memref::LoadOp>(def)) {
    if (!readOnly.contains(rootBuffer(load.getMemRef())))
      return false;
  } else if (def->getNumRegions() > 0 || !isPure(def)) {
    return false;
  }
  for (Value operand : def->getOperands())
    if (!collectReadOnlySlice(operand, block, readOnly, slice))
      return false;
  slice.insert(def);
  return true;
}

/// `scf.if %c { views; scf.parallel (ivs) { body } }`, where %c (and what
/// the branch uses) is computed from read-only buffers, would become a
/// single-thread kernel running the parallel loop sequentially (the
/// embedding gradient's per-token row update). Rewrites it into
/// `scf.parallel (ivs) { recompute %c; scf.if %c { views; body } }`: each
/// thread reads the same values, which nothing writes, and the loop keeps
/// its parallelism.
void distributeGuardedParallelLoops(func::FuncOp func) {
  llvm::DenseSet<Value> readOnly = readOnlyArguments(func);
  if (readOnly.empty())
    return;
  SmallVector<scf::IfOp> candidates;
  func.walk([&](scf::IfOp ifOp) {
    if (ifOp.getNumResults() != 0 || !ifOp.getElseRegion().empty() ||
        ifOp->getParentOfType<scf::ParallelOp>())
      return;
    Block *then = ifOp.thenBlock();
    auto par = dyn_cast<scf::ParallelOp>(then->getTerminator()->getPrevNode());
    if (!par || !par.getInitVals().empty())
      return;
    for (Operation &op : then->without_terminator())
      if (&op != par && !isPure(&op))
        return;
    candidates.push_back(ifOp);
  });
  for (scf::IfOp ifOp : candidates) {
    Block *block = ifOp->getBlock();
    auto par =
        cast<scf::ParallelOp>(ifOp.thenBlock()->getTerminator()->getPrevNode());
    llvm::SetVector<Operation *> slice;
    bool ok = true;
    for (Value v : usedFromOutside(ifOp))
      ok = ok && collectReadOnlySlice(v, block, readOnly, slice);
    // The loop bounds stay on the host: defined before the branch, and not
    // read from a buffer.
    for (Value v : par->getOperands()) {
      Operation *def = v.getDefiningOp();
      ok = ok && (!def || (!ifOp->isAncestor(def) && !slice.contains(def)));
    }
    if (!ok || llvm::none_of(slice, [](Operation *op) {
          return isa<memref::LoadOp>(op);
        }))
      continue;
    OpBuilder b(ifOp);
    auto newPar = scf::ParallelOp::create(b, par.getLoc(), par.getLowerBound(),
                                          par.getUpperBound(), par.getStep());
    b.setInsertionPoint(newPar.getBody()->getTerminator());
    IRMapping mapping;
    for (Operation *op : slice)
      b.clone(*op, mapping);
    auto newIf = scf::IfOp::create(b, ifOp.getLoc(),
                                   mapping.lookupOrDefault(ifOp.getCondition()),
                                   /*withElseRegion=*/false);
    b.setInsertionPoint(newIf.thenBlock()->getTerminator());
    for (auto [from, to] :
         llvm::zip(par.getInductionVars(), newPar.getInductionVars()))
      mapping.map(from, to);
    for (Operation &op : ifOp.thenBlock()->without_terminator())
      if (&op != par)
        b.clone(op, mapping);
    for (Operation &op : par.getBody()->without_terminator())
      b.clone(op, mapping);
    ifOp.erase();
    // The original slice is dead unless other ops use it.
    for (Operation *op : llvm::reverse(slice))
      if (op->use_empty())
        op->erase();
  }
}

/// Ops that only compute an address or a constant: cheaper to recompute in
/// a kernel than to pass as parameters (a memref parameter is a whole
/// descriptor, and kernels have 4 KiB of parameter space).
bool isAddressComputation(Operation *op) {
  return isa<memref::ViewOp, memref::SubViewOp, memref::ExpandShapeOp,
             memref::CollapseShapeOp, memref::ReinterpretCastOp, memref::CastOp,
             memref::GetGlobalOp, arith::ConstantOp>(op);
}

/// Clones into every outermost parallel loop the address computations it
/// uses (transitively), so the kernel takes the base buffers instead of one
/// descriptor per view, and a memref.get_global becomes a use of a global
/// that outlining copies into the kernel module instead of a host address.
void sinkAddressComputations(func::FuncOp func) {
  func.walk<WalkOrder::PreOrder>([&](scf::ParallelOp par) {
    llvm::SetVector<Operation *> toClone; // Post-order: operands first.
    std::function<void(Value)> visit = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!def || par->isAncestor(def) || toClone.contains(def) ||
          !isAddressComputation(def))
        return;
      for (Value operand : def->getOperands())
        visit(operand);
      toClone.insert(def);
    };
    par.getBody()->walk([&](Operation *op) {
      for (Value v : op->getOperands())
        visit(v);
    });
    OpBuilder b = OpBuilder::atBlockBegin(par.getBody());
    IRMapping mapping;
    for (Operation *op : toClone) {
      Operation *clone = b.clone(*op, mapping);
      for (auto [from, to] : llvm::zip(op->getResults(), clone->getResults()))
        from.replaceUsesWithIf(to, [&](OpOperand &use) {
          return use.getOwner() != par && par->isAncestor(use.getOwner());
        });
    }
    return WalkResult::skip();
  });
}

struct WrapHostComputePass
    : impl::GeckoGpuWrapHostComputeBase<WrapHostComputePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    distributeGuardedParallelLoops(func);
    llvm::DenseSet<Value> tainted;
    BlockWrapper wrapper{tainted};
    for (Block &block : func.getBody())
      if (failed(wrapper.process(block)))
        return signalPassFailure();
    sinkAddressComputations(func);
  }
};

} // namespace
} // namespace mlir::gecko
