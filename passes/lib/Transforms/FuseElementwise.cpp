//===- FuseElementwise.cpp - Elementwise fusion without repeated RMW -----===//
//
// gecko-fuse-elementwise (see Passes.td): the upstream elementwise fusion
// patterns with a control function that refuses to fuse a producer reading
// its `outs` into a consumer that would run its read-modify-write more than
// once per element (docs/lowering.md, "Bufferization hazards").
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOFUSEELEMENTWISE
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// True when `producer`'s payload reads the value of one of its `outs`.
bool readsOwnInits(linalg::GenericOp producer) {
  for (OpOperand &init : producer.getDpsInitsMutable())
    if (producer.payloadUsesValueFromOperand(&init))
      return true;
  return false;
}

/// Upstream's default (the producer has a single user), and, for fusing a
/// generic into a generic, no producer that reads its `outs` unless the
/// consumer visits each of the producer's elements exactly once (its
/// indexing map for the fused operand is a permutation). Upstream keeps
/// such a producer's `outs` as an `outs` of the fused op and would repeat
/// the read-modify-write once per extra consumer iteration.
bool shouldFuse(OpOperand *fusedOperand) {
  Operation *producerOp = fusedOperand->get().getDefiningOp();
  if (!producerOp || !producerOp->hasOneUse())
    return false;
  auto producer = dyn_cast<linalg::GenericOp>(producerOp);
  auto consumer = dyn_cast<linalg::GenericOp>(fusedOperand->getOwner());
  if (!producer || !consumer || !readsOwnInits(producer))
    return true;
  return consumer.getMatchingIndexingMap(fusedOperand).isPermutation();
}

struct GeckoFuseElementwisePass
    : impl::GeckoFuseElementwiseBase<GeckoFuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, shouldFuse);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, shouldFuse);
    // Top-down, as upstream's pass (compile time).
    (void)applyPatternsGreedily(getOperation(), std::move(patterns),
                                GreedyRewriteConfig().setUseTopDownTraversal());
  }
};

} // namespace
} // namespace mlir::gecko
