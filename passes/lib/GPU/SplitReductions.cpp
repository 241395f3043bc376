//===- SplitReductions.cpp - Two-stage reductions for the GPU -------------===//
//
// The CUDA target maps the parallel loops of a linalg op to threads and runs
// its reduction loops inside each thread. A reduction to a 0-d tensor (the
// sum of squares of a gradient for the global norm, the loss mean) has no
// parallel loop and becomes a kernel of one thread that walks the whole
// tensor; a reduction with few outputs and long rows gets few threads. This
// pass splits the reduction of such ops on tensors, before bufferization:
//
//   R terms -> P = floor(R / chunk) partial results, each the sum of `chunk`
//              terms strided by P (a parallel loop over P, coalesced), then
//              one reduction of the P partials into the original init;
//              the R - P * chunk remaining terms are reduced by a copy of the
//              op on that slice, accumulating into the combined result.
//
// The combining reduction is split again while it is long enough: with the
// defaults, the 1572864 squares of a 768 x 2048 gradient become 24576
// partials, then 384, then 6, and only those 6 are summed in one thread.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"

#include <deque>

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUSPLITREDUCTIONS
#include "gecko/GPU/Passes.h.inc"

namespace {

/// A matrix product that gecko-gpu-contractions-to-gemm may turn into a
/// library GEMM (non-empty m, n and k groups); its summation order is the
/// library's, and splitting it would make it a generated kernel.
bool isMatrixProduct(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op))
    return false;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  return succeeded(dims) && !dims->m.empty() && !dims->n.empty() &&
         !dims->k.empty();
}

/// The extents of an op the pass can split: the product of its reduction
/// loops' extents (`reduction`) and of its parallel loops' (`parallel`, the
/// threads it gets unsplit), and its reduction dimensions, which are
/// consecutive loops.
struct Extents {
  int64_t reduction = 1;
  int64_t parallel = 1;
  ReassociationIndices reductionDims;
};

/// The extents of `op` if it is a reduction the split preserves: tensor
/// semantics, one result, static loop ranges, projected-permutation
/// indexing maps (the split reshapes operands along loop dimensions), no
/// `linalg.index` (the split renumbers the reduction loop), one combiner
/// with a neutral element for the partial results (addf, mulf, max/min,
/// integer ops), reduction loops that are consecutive and contiguous in
/// every operand (so they collapse into one), and not a matrix product.
std::optional<Extents> splittableExtents(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1 || op.hasIndexSemantics() ||
      !op.hasOnlyProjectedPermutations() || op.getNumReductionLoops() == 0 ||
      isMatrixProduct(op))
    return std::nullopt;
  SmallVector<Operation *, 4> combiners;
  if (!matchReduction(op.getRegionOutputArgs(), 0, combiners) ||
      combiners.size() != 1 || !arith::getNeutralElement(combiners.front()))
    return std::nullopt;
  Extents extents;
  for (auto [dim, it, size] :
       llvm::enumerate(op.getIteratorTypesArray(), op.getStaticLoopRanges())) {
    if (ShapedType::isDynamic(size))
      return std::nullopt;
    if (linalg::isReductionIterator(it)) {
      if (!extents.reductionDims.empty() &&
          extents.reductionDims.back() + 1 != static_cast<int64_t>(dim))
        return std::nullopt;
      extents.reductionDims.push_back(dim);
      extents.reduction *= size;
    } else {
      extents.parallel *= size;
    }
  }
  if (extents.reductionDims.size() > 1 &&
      !linalg::areDimSequencesPreserved(op.getIndexingMapsArray(),
                                        {extents.reductionDims}))
    return std::nullopt;
  return extents;
}

/// Replaces the full-size slices that linalg::splitOp leaves around the
/// inits and results of `parts` (a split along a reduction loop slices no
/// output) by their sources.
void foldFullSlices(RewriterBase &rewriter, ArrayRef<linalg::LinalgOp> parts) {
  SmallVector<Operation *> slices;
  for (linalg::LinalgOp part : parts) {
    if (Operation *init = part.getDpsInitOperand(0)->get().getDefiningOp())
      slices.push_back(init);
    llvm::append_range(slices, part->getResult(0).getUsers());
  }
  for (Operation *slice : slices) {
    if (!isa<tensor::ExtractSliceOp, tensor::InsertSliceOp>(slice))
      continue;
    SmallVector<OpFoldResult, 1> folded;
    if (failed(slice->fold(folded)) || folded.size() != 1)
      continue;
    if (auto source = dyn_cast<Value>(folded.front()))
      rewriter.replaceOp(slice, source);
  }
}

struct SplitReductionsPass
    : impl::GeckoGpuSplitReductionsBase<SplitReductionsPass> {
  using Base::Base;

  /// The extents of `op` if it is a splittable reduction with at least
  /// `min-size` terms per output and at most `max-parallel` outputs.
  std::optional<Extents> shouldSplit(linalg::LinalgOp op) const {
    std::optional<Extents> extents = splittableExtents(op);
    if (!extents || extents->reduction < minSize ||
        extents->parallel > maxParallel)
      return std::nullopt;
    return extents;
  }

  /// Splits `op` (a shouldSplit() op); returns the op that combines the
  /// partial results, which may qualify again. Fails only if an upstream
  /// transform rejects an op that shouldSplit() accepted.
  FailureOr<linalg::LinalgOp> split(RewriterBase &rewriter, linalg::LinalgOp op,
                                    const Extents &extents) const {
    rewriter.setInsertionPoint(op);
    // Named ops (linalg.reduce) become generics, and several reduction
    // loops become one (a full reduction of a 3-d gradient is one loop
    // over all of it).
    if (!isa<linalg::GenericOp>(op)) {
      FailureOr<linalg::GenericOp> generic =
          linalg::generalizeNamedOp(rewriter, op);
      if (failed(generic))
        return failure();
      op = *generic;
    }
    int64_t reductionDim = extents.reductionDims.front();
    if (extents.reductionDims.size() > 1) {
      FailureOr<linalg::CollapseResult> collapsed =
          linalg::collapseOpIterationDims(op, {extents.reductionDims},
                                          rewriter);
      if (failed(collapsed))
        return failure();
      rewriter.replaceOp(op, collapsed->results);
      op = collapsed->collapsedOp;
    }
    int64_t partials = extents.reduction / chunk;
    int64_t whole = partials * chunk;
    // The terms past the last whole chunk: the original op on that slice,
    // accumulating into what the split part computes (splitOp makes the
    // second part's init the first part's result).
    if (whole != extents.reduction) {
      auto [head, tail] =
          linalg::splitOp(rewriter, cast<TilingInterface>(op.getOperation()),
                          reductionDim, rewriter.getIndexAttr(whole));
      if (!head || !tail)
        return failure();
      op = cast<linalg::LinalgOp>(head.getOperation());
      foldFullSlices(rewriter,
                     {op, cast<linalg::LinalgOp>(tail.getOperation())});
    }
    int64_t outputRank = op.getRank(op.getDpsInitOperand(0));
    FailureOr<linalg::SplitReductionResult> result =
        linalg::splitReduction(rewriter, op, [&](linalg::LinalgOp) {
          // Thread p sums terms p, p + P, p + 2P, ...: neighbouring threads
          // read neighbouring elements. The partials are the innermost
          // dimension of the intermediate, so they are contiguous too.
          linalg::SplitReductionOptions options;
          options.ratio = partials;
          options.index = outputRank;
          options.innerParallel = true;
          return options;
        });
    if (failed(result))
      return failure();
    return result->resultCombiningLinalgOp;
  }

  LogicalResult initialize(MLIRContext *context) override {
    // A partial of `chunk` terms must not qualify again.
    if (chunk >= 2 && minSize >= 2 * chunk && maxParallel >= 1)
      return success();
    return emitError(UnknownLoc::get(context))
           << "gecko-gpu-split-reductions needs chunk >= 2, min-size >= 2 * "
              "chunk and max-parallel >= 1 (got chunk="
           << chunk.getValue() << ", min-size=" << minSize.getValue()
           << ", max-parallel=" << maxParallel.getValue() << ")";
  }

  void runOnOperation() override {
    std::deque<linalg::LinalgOp> worklist;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (shouldSplit(op))
        worklist.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    while (!worklist.empty()) {
      linalg::LinalgOp op = worklist.front();
      worklist.pop_front();
      std::optional<Extents> extents = shouldSplit(op);
      if (!extents)
        continue;
      FailureOr<linalg::LinalgOp> combining = split(rewriter, op, *extents);
      if (failed(combining)) {
        op.emitOpError() << "could not be split into a two-stage reduction";
        return signalPassFailure();
      }
      // The partials are `partials` long per output; split that again if it
      // is long enough.
      worklist.push_back(*combining);
    }
  }
};

} // namespace
} // namespace mlir::gecko
