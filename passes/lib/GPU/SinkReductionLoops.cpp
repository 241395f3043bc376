//===- SinkReductionLoops.cpp - Parallel loops outside, reductions inside -===//
//
// convert-linalg-to-parallel-loops keeps a linalg op's loop order: parallel
// dimensions after a reduction dimension become an scf.parallel inside an
// scf.for. On the CUDA target that for loop stays on the host and launches
// one kernel per reduction step (a norm's weight gradient, summed over
// (b, t), is L launches), or the parallel dimensions before it are all the
// kernel gets. This pass moves every reduction dimension of a linalg op
// inside all parallel ones, so each thread computes its output elements
// with the whole reduction in the thread.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUSINKREDUCTIONLOOPS
#include "gecko/GPU/Passes.h.inc"

namespace {

/// The loop order with the parallel dimensions first and the reduction
/// dimensions last, each group in its original order; empty if the op's
/// order is already that.
SmallVector<unsigned> reductionsLast(linalg::LinalgOp op) {
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  SmallVector<unsigned> order;
  for (auto [d, it] : llvm::enumerate(iterators))
    if (it == utils::IteratorType::parallel)
      order.push_back(d);
  for (auto [d, it] : llvm::enumerate(iterators))
    if (it != utils::IteratorType::parallel)
      order.push_back(d);
  if (llvm::equal(order, llvm::seq<unsigned>(0, iterators.size())))
    return {};
  return order;
}

struct SinkReductionLoopsPass
    : impl::GeckoGpuSinkReductionLoopsBase<SinkReductionLoopsPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (!reductionsLast(op).empty())
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      rewriter.setInsertionPoint(op);
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        FailureOr<linalg::GenericOp> generalized =
            linalg::generalizeNamedOp(rewriter, op);
        if (failed(generalized))
          continue;
        generic = *generalized;
      }
      // The reduction dims keep their relative order: every output element
      // accumulates its terms in the same sequence as before.
      if (failed(linalg::interchangeGenericOp(rewriter, generic,
                                              reductionsLast(generic)))) {
        generic.emitOpError() << "could not move its reduction loops inside";
        return signalPassFailure();
      }
    }
  }
};

} // namespace
} // namespace mlir::gecko
