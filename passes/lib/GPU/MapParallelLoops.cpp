//===- MapParallelLoops.cpp - One-dimensional blocks for parallel loops ---===//
//
// Upstream's gpu-map-parallel-loops maps loop dimension d to block and
// thread dimension d, which puts the contiguous dimension on z and limits
// the grid's y and z extents to 65535. This pass instead collapses each
// outermost loop to one dimension and tiles it into blocks of threads, so
// consecutive threads touch consecutive elements of the innermost dimension.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUMAPPARALLELLOOPS
#include "gecko/GPU/Passes.h.inc"

namespace {

SmallVector<scf::ParallelOp> outermostParallelLoops(func::FuncOp func) {
  SmallVector<scf::ParallelOp> loops;
  func.walk<WalkOrder::PreOrder>([&](scf::ParallelOp par) {
    loops.push_back(par);
    return WalkResult::skip();
  });
  return loops;
}

LogicalResult mapLoop(scf::ParallelOp par, gpu::Processor processor) {
  MLIRContext *ctx = par.getContext();
  SmallVector<gpu::ParallelLoopDimMappingAttr> mapping;
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  for (unsigned i = 0, e = par.getNumLoops(); i < e; ++i)
    mapping.push_back(gpu::ParallelLoopDimMappingAttr::get(
        ctx, i == 0 ? processor : gpu::Processor::Sequential, id, id));
  return gpu::setMappingAttr(par, mapping);
}

std::optional<int64_t> constantTripCount(scf::ParallelOp par) {
  std::optional<int64_t> lb = getConstantIntValue(par.getLowerBound()[0]);
  std::optional<int64_t> ub = getConstantIntValue(par.getUpperBound()[0]);
  std::optional<int64_t> step = getConstantIntValue(par.getStep()[0]);
  if (!lb || !ub || !step || *step <= 0)
    return std::nullopt;
  return (*ub - *lb + *step - 1) / *step;
}

/// Rewrites `par` (without reductions) as a nest of scf.for loops.
LogicalResult sequentialize(RewriterBase &rewriter, scf::ParallelOp par) {
  if (!par.getInitVals().empty())
    return par.emitOpError() << "has reductions inside a kernel";
  rewriter.setInsertionPoint(par);
  SmallVector<Value> ivs;
  Block *innermost = nullptr;
  for (unsigned i = 0, e = par.getNumLoops(); i < e; ++i) {
    auto loop =
        scf::ForOp::create(rewriter, par.getLoc(), par.getLowerBound()[i],
                           par.getUpperBound()[i], par.getStep()[i]);
    ivs.push_back(loop.getInductionVar());
    innermost = loop.getBody();
    rewriter.setInsertionPoint(innermost->getTerminator());
  }
  Block *body = par.getBody();
  rewriter.eraseOp(body->getTerminator());
  rewriter.inlineBlockBefore(body, innermost->getTerminator(), ivs);
  rewriter.eraseOp(par);
  return success();
}

struct MapParallelLoopsPass
    : impl::GeckoGpuMapParallelLoopsBase<MapParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (blockSize <= 0 || blockSize > 1024) {
      func.emitError() << "block-size must be in [1, 1024], got " << blockSize;
      return signalPassFailure();
    }
    IRRewriter rewriter(func.getContext());
    for (scf::ParallelOp par : outermostParallelLoops(func)) {
      if (!par.getInitVals().empty()) {
        par.emitOpError() << "has reductions; the cuda target expects "
                             "reductions as sequential loops in a thread";
        return signalPassFailure();
      }
      if (par.getNumLoops() > 1) {
        std::vector<unsigned> all;
        for (unsigned i = 0; i < par.getNumLoops(); ++i)
          all.push_back(i);
        rewriter.setInsertionPoint(par);
        collapseParallelLoops(rewriter, par, {all});
      }
    }
    for (scf::ParallelOp par : outermostParallelLoops(func)) {
      std::optional<int64_t> trips = constantTripCount(par);
      scf::ParallelOp blocks = par, threads;
      if (!trips || *trips > 1) {
        auto [outer, inner] =
            scf::tileParallelLoop(par, {blockSize}, /*noMinMaxBounds=*/true);
        blocks = outer;
        threads = inner;
      }
      if (failed(mapLoop(blocks, gpu::Processor::BlockX)) ||
          (threads && failed(mapLoop(threads, gpu::Processor::ThreadX))))
        return signalPassFailure();
      // Deeper parallel loops run sequentially in their thread.
      scf::ParallelOp body = threads ? threads : blocks;
      SmallVector<scf::ParallelOp> nested;
      body.getBody()->walk(
          [&](scf::ParallelOp inner) { nested.push_back(inner); });
      for (scf::ParallelOp inner : llvm::reverse(nested))
        if (failed(sequentialize(rewriter, inner)))
          return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::gecko
