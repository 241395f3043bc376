//===- InterchangeContractions.cpp - Contiguous parallel loop innermost ---===//
//
// See Passes.td (gecko-interchange-contractions) and docs/perf.md: the loop
// nests of contractions become vectorizable by LLVM without changing the
// order in which any output element accumulates.
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SmallBitVector.h"

#include <optional>

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOINTERCHANGECONTRACTIONS
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// True if `type` is a tensor, or a memref whose last dimension has unit
/// stride (rank 0 counts as contiguous).
bool lastDimContiguous(Type type) {
  if (auto memref = dyn_cast<MemRefType>(type))
    return memref.getRank() == 0 || memref.isLastDimUnitStride();
  return isa<RankedTensorType>(type);
}

/// True if the last result of `map` is the loop dimension `d`.
bool endsIn(AffineMap map, unsigned d) {
  if (map.getNumResults() == 0)
    return false;
  auto dim = dyn_cast<AffineDimExpr>(map.getResults().back());
  return dim && dim.getPosition() == d;
}

/// True if every indexing map of `op` is a projected permutation.
bool onlyProjectedPermutations(linalg::GenericOp op) {
  return llvm::all_of(op.getIndexingMapsArray(), [](AffineMap map) {
    return map.isProjectedPermutation();
  });
}

/// The loop to move innermost in `op`, if any (see Passes.td).
std::optional<unsigned> chooseInnerLoop(linalg::GenericOp op,
                                        int64_t minExtent) {
  unsigned numLoops = op.getNumLoops();
  if (numLoops < 2 || !onlyProjectedPermutations(op))
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (!linalg::isReductionIterator(iterators.back()))
    return std::nullopt;
  unsigned numParallel = op.getNumParallelLoops();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();

  auto usable = [&](unsigned d) {
    if (!linalg::isParallelIterator(iterators[d]))
      return false;
    if (!ShapedType::isDynamic(ranges[d]) && ranges[d] < minExtent)
      return false;
    for (OpOperand &init : op.getDpsInitsMutable()) {
      AffineMap map = maps[init.getOperandNumber()];
      if (map.getNumResults() != numParallel || !endsIn(map, d) ||
          !lastDimContiguous(init.get().getType()))
        return false;
    }
    for (OpOperand *input : op.getDpsInputOperands()) {
      AffineMap map = maps[input->getOperandNumber()];
      if (!map.isFunctionOfDim(d))
        continue;
      if (!endsIn(map, d) || !lastDimContiguous(input->get().getType()))
        return false;
    }
    return true;
  };

  // Every output ends in the same loop, so there is at most one candidate.
  AffineMap outMap = maps[op.getDpsInitsMutable()[0].getOperandNumber()];
  if (outMap.getNumResults() == 0)
    return std::nullopt;
  auto last = dyn_cast<AffineDimExpr>(outMap.getResults().back());
  if (!last || !usable(last.getPosition()))
    return std::nullopt;
  return last.getPosition();
}

/// The body ops of `op` that do not depend on its innermost loop: pure ops
/// whose operands are invariant (inputs whose map does not use that loop,
/// values from above, other invariant results) and linalg.index of an
/// outer loop. Returns whether one of them is expensive (math or a
/// division), i.e. whether hoisting them pays.
bool findInvariantOps(linalg::GenericOp op, DenseSet<Operation *> &ops) {
  unsigned inner = op.getNumLoops() - 1;
  Block &body = op.getRegion().front();
  DenseSet<Value> invariant;
  for (OpOperand *input : op.getDpsInputOperands())
    if (!op.getMatchingIndexingMap(input).isFunctionOfDim(inner))
      invariant.insert(op.getMatchingBlockArgument(input));
  bool expensive = false;
  for (Operation &nested : body.without_terminator()) {
    bool isInvariant;
    if (auto index = dyn_cast<linalg::IndexOp>(nested))
      isInvariant = index.getDim() != inner;
    else
      isInvariant =
          nested.getNumRegions() == 0 && isMemoryEffectFree(&nested) &&
          llvm::all_of(nested.getOperands(), [&](Value v) {
            return invariant.contains(v) || v.getParentBlock() != &body;
          });
    if (!isInvariant)
      continue;
    ops.insert(&nested);
    for (Value result : nested.getResults())
      invariant.insert(result);
    if (isa<math::MathDialect>(nested.getDialect()) ||
        isa<arith::DivFOp, arith::RemFOp>(nested))
      expensive = true;
  }
  return expensive;
}

/// Lowers `op` (buffer semantics, projected-permutation maps) to scf.for
/// loops in its loop order, like convert-linalg-to-loops, but emits each
/// input load and each body op in `invariantOps` at the outermost loop
/// depth at which its operands are available (right inside the last loop
/// it depends on), instead of in the innermost loop. LLVM cannot hoist them
/// itself: it cannot prove that the loads do not alias the stores to the
/// output.
void lowerWithHoisting(RewriterBase &rewriter, linalg::GenericOp op,
                       const DenseSet<Operation *> &invariantOps) {
  Location loc = op.getLoc();
  unsigned numLoops = op.getNumLoops();
  Block &body = op.getRegion().front();

  // Depth k: emitted inside loops 0..k-1 (numLoops: innermost).
  DenseMap<Value, unsigned> depthOf;
  auto mapDepth = [&](AffineMap map) {
    unsigned depth = 0;
    for (AffineExpr expr : map.getResults())
      depth = std::max(depth, cast<AffineDimExpr>(expr).getPosition() + 1);
    return depth;
  };
  for (OpOperand &operand : op->getOpOperands())
    depthOf[op.getMatchingBlockArgument(&operand)] =
        op.isDpsInit(&operand) ? numLoops
                               : mapDepth(op.getMatchingIndexingMap(&operand));
  DenseMap<Operation *, unsigned> opDepth;
  for (Operation &nested : body.without_terminator()) {
    unsigned depth = numLoops;
    if (invariantOps.contains(&nested)) {
      if (auto index = dyn_cast<linalg::IndexOp>(nested)) {
        depth = index.getDim() + 1;
      } else {
        depth = 0;
        for (Value v : nested.getOperands())
          if (auto it = depthOf.find(v); it != depthOf.end())
            depth = std::max(depth, it->second);
      }
    }
    opDepth[&nested] = depth;
    for (Value result : nested.getResults())
      depthOf[result] = depth;
  }

  rewriter.setInsertionPoint(op);
  SmallVector<Range, 4> ranges =
      cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(rewriter, loc);
  SmallVector<Value> ivs(numLoops);
  auto indices = [&](AffineMap map) {
    SmallVector<Value> values;
    for (AffineExpr expr : map.getResults())
      values.push_back(ivs[cast<AffineDimExpr>(expr).getPosition()]);
    return values;
  };
  IRMapping mapping;
  for (unsigned depth = 0; depth <= numLoops; ++depth) {
    if (depth > 0) {
      const Range &range = ranges[depth - 1];
      auto loop = scf::ForOp::create(
          rewriter, loc,
          getValueOrCreateConstantIndexOp(rewriter, loc, range.offset),
          getValueOrCreateConstantIndexOp(rewriter, loc, range.size),
          getValueOrCreateConstantIndexOp(rewriter, loc, range.stride));
      ivs[depth - 1] = loop.getInductionVar();
      rewriter.setInsertionPoint(loop.getBody()->getTerminator());
    }
    for (OpOperand &operand : op->getOpOperands()) {
      BlockArgument arg = op.getMatchingBlockArgument(&operand);
      if (arg.use_empty() || depthOf[arg] != depth)
        continue;
      mapping.map(arg, memref::LoadOp::create(
                           rewriter, loc, operand.get(),
                           indices(op.getMatchingIndexingMap(&operand))));
    }
    for (Operation &nested : body.without_terminator()) {
      if (opDepth[&nested] != depth)
        continue;
      if (auto index = dyn_cast<linalg::IndexOp>(nested))
        mapping.map(index.getResult(), ivs[index.getDim()]);
      else
        rewriter.clone(nested, mapping);
    }
  }
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  for (OpOperand &init : op.getDpsInitsMutable())
    memref::StoreOp::create(
        rewriter, loc,
        mapping.lookupOrDefault(
            yield.getOperand(init.getOperandNumber() - op.getNumDpsInputs())),
        init.get(), indices(op.getMatchingIndexingMap(&init)));
  rewriter.eraseOp(op);
}

struct GeckoInterchangeContractionsPass
    : impl::GeckoInterchangeContractionsBase<GeckoInterchangeContractionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> ops;
    getOperation()->walk([&](linalg::GenericOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : ops) {
      if (!op.hasPureBufferSemantics() || op.getNumLoops() < 2 ||
          !onlyProjectedPermutations(op))
        continue;
      std::optional<unsigned> inner = chooseInnerLoop(op, minExtent);
      if (inner) {
        // The loops that the inputs invariant in *inner use come first, so
        // that their loads and the work on them sit as far out as possible;
        // then the other loops, then *inner. Reduction loops must keep their
        // relative order (each output's sum in the same order), else the
        // other loops just keep theirs.
        llvm::SmallBitVector used(op.getNumLoops());
        for (OpOperand *input : op.getDpsInputOperands()) {
          AffineMap map = op.getMatchingIndexingMap(input);
          if (map.isFunctionOfDim(*inner))
            continue;
          for (AffineExpr expr : map.getResults())
            used.set(cast<AffineDimExpr>(expr).getPosition());
        }
        SmallVector<unsigned> order;
        for (unsigned d = 0, e = op.getNumLoops(); d < e; ++d)
          if (d != *inner && used.test(d))
            order.push_back(d);
        for (unsigned d = 0, e = op.getNumLoops(); d < e; ++d)
          if (d != *inner && !used.test(d))
            order.push_back(d);
        order.push_back(*inner);
        SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
        SmallVector<unsigned> reductions;
        for (unsigned d : order)
          if (linalg::isReductionIterator(iterators[d]))
            reductions.push_back(d);
        if (!llvm::is_sorted(reductions)) {
          order.clear();
          for (unsigned d = 0, e = op.getNumLoops(); d < e; ++d)
            if (d != *inner)
              order.push_back(d);
          order.push_back(*inner);
        }
        rewriter.setInsertionPoint(op);
        FailureOr<linalg::GenericOp> interchanged =
            linalg::interchangeGenericOp(rewriter, op, order);
        if (failed(interchanged)) {
          op.emitError()
              << "gecko-interchange-contractions: interchange failed";
          return signalPassFailure();
        }
        op = *interchanged;
      }
      DenseSet<Operation *> invariantOps;
      if (findInvariantOps(op, invariantOps) ||
          (inner && !invariantOps.empty()))
        lowerWithHoisting(rewriter, op, invariantOps);
    }
  }
};

} // namespace
} // namespace mlir::gecko
