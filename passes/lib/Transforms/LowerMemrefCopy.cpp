//===- LowerMemrefCopy.cpp - memref.copy -> linalg.copy -------------------===//
//
// See Passes.td (gecko-lower-memref-copy): compiled code must not call the
// MLIR runtime's memrefCopy.
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOLOWERMEMREFCOPY
#include "gecko/Transforms/Passes.h.inc"

namespace {

struct CopyToLinalg : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::CopyOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<MemRefType>(op.getSource().getType()) ||
        !isa<MemRefType>(op.getTarget().getType()))
      return rewriter.notifyMatchFailure(op, "unranked memrefs");
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(),
                                                op.getTarget());
    return success();
  }
};

struct GeckoLowerMemrefCopyPass
    : impl::GeckoLowerMemrefCopyBase<GeckoLowerMemrefCopyPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<CopyToLinalg>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::gecko
