//===- LowerNormOps.cpp - Lowering of the gecko norm family ---------------===//
//
// Patterns rewriting the norm family (docs/dialect.md#norm-family) into
// linalg, tensor, scf, arith and math. See LoweringUtils.h for the shared
// builders.
//
// Every norm works on a "group view" of its input: the last dimension F is
// expanded into K x F/K (tensor.expand_shape), so that group statistics are
// linalg.generic reductions over the innermost dimension and the
// normalisation is one elementwise linalg.generic with broadcast maps.
//
// The two timestep norms add a recurrence over time. It is split in three:
//  1. per-token statistics mu, var (B x L x G) for all tokens at once, as
//     parallel reductions (vectorisable, the bulk of the work);
//  2. the recurrence over t as scalar scf.for loops over (b, g, t) with the
//     state in loop-carried f64 scalars, writing the normalising mean and
//     reciprocal standard deviation of every token with tensor.insert (in
//     place after bufferization); O(B L G) next to the O(B L D) of 1 and 3;
//  3. the elementwise normalisation of all tokens.
// The carried state runs in f64 for every element type. The reference keeps
// it in fp32 with Kahan-compensated updates (spec section 5), i.e. about
// twice fp32 precision; f64 is at least as accurate and costs nothing next to
// the O(D) work per token. The per-token statistics, the bias correction and
// everything elementwise stay in the compute type (f32, or f64 for f64).
//
// The backward ops recompute the forward statistics with the same builders
// (so the f32 normalisers match the forward bit for bit), then:
//  - rms_norm_grad, layer_norm_grad: per-group sums of dy terms as
//    innermost reductions, dx as one elementwise generic, and the parameter
//    cotangents as reductions over every leading dimension into the
//    [groups, channels] view;
//  - the timestep norms: the per-token sums ds_t, dc_t as reductions, the
//    adjoint recurrence of the state as a reverse scalar scan over
//    (b, g, t = L-1 .. 0) with the adjoints in f64 (the mirror image of the
//    forward scan, and scalar for the same reason), dx elementwise and
//    dweight, dbias as reductions over (b, t).
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::gecko {
namespace {

using namespace lowering;

//===----------------------------------------------------------------------===//
// Shared builders
//===----------------------------------------------------------------------===//

/// The map of a tensor indexed by the leading rank-1 dims of a rank-`rank`
/// iteration space (group statistics in group view).
AffineMap leadingMap(MLIRContext *ctx, int64_t rank) {
  return dimsMap(ctx, rank, llvm::to_vector(llvm::seq<int64_t>(0, rank - 1)));
}

/// The map of a channel parameter in group view (K x F/K): the last two dims.
AffineMap channelMap(MLIRContext *ctx, int64_t rank) {
  return dimsMap(ctx, rank, {rank - 2, rank - 1});
}

/// [..., F] -> [..., K, F/K] (tensor.expand_shape). F/K is static when F is.
Value splitGroups(OpBuilder &b, Location loc, Value x, int64_t groups) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<int64_t> shape(type.getShape().drop_back());
  shape.push_back(groups);
  OpFoldResult perGroup;
  if (type.isDynamicDim(rank - 1)) {
    Value f = getValueOrCreateConstantIndexOp(b, loc, sizes.back());
    perGroup = arith::DivUIOp::create(b, loc, f, indexConstant(b, loc, groups))
                   .getResult();
    shape.push_back(ShapedType::kDynamic);
  } else {
    int64_t f = type.getDimSize(rank - 1) / groups;
    perGroup = b.getIndexAttr(f);
    shape.push_back(f);
  }
  sizes.back() = b.getIndexAttr(groups);
  sizes.push_back(perGroup);
  SmallVector<ReassociationIndices> reassociation;
  for (int64_t i = 0; i < rank - 1; ++i)
    reassociation.push_back({i});
  reassociation.push_back({rank - 1, rank});
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), x,
      reassociation, sizes);
}

/// The inverse of splitGroups: [..., K, F/K] -> [..., F].
Value mergeGroups(OpBuilder &b, Location loc, Value x) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<ReassociationIndices> reassociation;
  for (int64_t i = 0; i < rank - 2; ++i)
    reassociation.push_back({i});
  reassociation.push_back({rank - 2, rank - 1});
  return tensor::CollapseShapeOp::create(b, loc, x, reassociation);
}

/// Dimension `dim` of `tensor` as a float of type `type`.
Value dimAsFloat(OpBuilder &b, Location loc, Value tensor, int64_t dim,
                 Type type) {
  auto tensorType = cast<RankedTensorType>(tensor.getType());
  if (!tensorType.isDynamicDim(dim))
    return floatConstant(b, loc, type, double(tensorType.getDimSize(dim)));
  Value size = tensor::DimOp::create(b, loc, tensor, dim);
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  return arith::SIToFPOp::create(b, loc, type, asInt);
}

/// A tensor of the given sizes filled with the integer `value`.
Value filledIntTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                      Type elementType, int64_t value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value scalar = arith::ConstantOp::create(
      b, loc, elementType, b.getIntegerAttr(elementType, value));
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

using TermFn = llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// Σ over the innermost dimension of the iteration space of `space` (a
/// tensor of that shape) of term(inputs), accumulated in `accType` from 0.
/// The result has the leading rank-1 sizes of `space`.
Value reduceInnermost(OpBuilder &b, Location loc, Value space,
                      ValueRange inputs, ArrayRef<AffineMap> inputMaps,
                      Type accType, TermFn term) {
  int64_t rank = cast<RankedTensorType>(space.getType()).getRank();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, space);
  sizes.pop_back();
  Value init = filledTensor(b, loc, sizes, accType, 0.0);
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(leadingMap(b.getContext(), rank));
  SmallVector<utils::IteratorType> iterators = parallelIterators(rank - 1);
  iterators.push_back(utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value value = term(nb, nl, args.drop_back());
               Value sum = arith::AddFOp::create(nb, nl, args.back(), value);
               linalg::YieldOp::create(nb, nl, sum);
             })
      .getResult(0);
}

/// An all-parallel linalg.generic over the shape of `init` writing
/// body(inputs) into it.
Value mapInto(OpBuilder &b, Location loc, ValueRange inputs,
              ArrayRef<AffineMap> inputMaps, Value init, TermFn body) {
  int64_t rank = cast<RankedTensorType>(init.getType()).getRank();
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(b.getMultiDimIdentityMap(rank));
  return linalg::GenericOp::create(
             b, loc, init.getType(), inputs, ValueRange{init}, maps,
             parallelIterators(rank),
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, body(nb, nl, args.drop_back()));
             })
      .getResult(0);
}

/// The "+1" scale 1 + w in the compute type. For element types narrower
/// than the compute type the sum is rounded to the element type first, as the
/// reference forms it in the parameter dtype (spec section 5, "+1" weight
/// convention); for f32 and f64 this is exact ordinary arithmetic.
Value onePlus(OpBuilder &b, Location loc, Value w, Type elementType,
              Type computeType) {
  Value one = floatConstant(b, loc, computeType, 1.0);
  Value s =
      arith::AddFOp::create(b, loc, one, castFloat(b, loc, w, computeType));
  return castFloat(b, loc, castFloat(b, loc, s, elementType), computeType);
}

/// Group statistics of xg ([..., K, Fk]) in the compute type: the mean
/// (optional) and the reciprocal standard deviation (σ² + eps)^(-1/2), where
/// σ² is the two-pass population variance (centered) or the mean square
/// (RMS). Both results are [..., K].
std::pair<Value, Value> groupStatistics(OpBuilder &b, Location loc, Value xg,
                                        Type computeType, double eps,
                                        bool centered) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = cast<RankedTensorType>(xg.getType()).getRank();
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap stat = leadingMap(ctx, rank);
  AffineMap statIdentity = b.getMultiDimIdentityMap(rank - 1);
  Value count = dimAsFloat(b, loc, xg, rank - 1, computeType);
  Value mean;
  if (centered) {
    Value sum = reduceInnermost(b, loc, xg, {xg}, {identity}, computeType,
                                [&](OpBuilder &nb, Location nl, ValueRange a) {
                                  return castFloat(nb, nl, a[0], computeType);
                                });
    mean =
        mapInto(b, loc, {sum}, {statIdentity}, emptyTensorLike(b, loc, sum),
                [&](OpBuilder &nb, Location nl, ValueRange a) {
                  return arith::DivFOp::create(nb, nl, a[0], count).getResult();
                });
  }
  SmallVector<Value> inputs{xg};
  SmallVector<AffineMap> maps{identity};
  if (mean) {
    inputs.push_back(mean);
    maps.push_back(stat);
  }
  Value squares =
      reduceInnermost(b, loc, xg, inputs, maps, computeType,
                      [&](OpBuilder &nb, Location nl, ValueRange a) {
                        Value x = castFloat(nb, nl, a[0], computeType);
                        if (a.size() > 1)
                          x = arith::SubFOp::create(nb, nl, x, a[1]);
                        return arith::MulFOp::create(nb, nl, x, x).getResult();
                      });
  Value epsilon = floatConstant(b, loc, computeType, eps);
  Value rstd = mapInto(
      b, loc, {squares}, {statIdentity}, emptyTensorLike(b, loc, squares),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value var = arith::DivFOp::create(nb, nl, a[0], count);
        Value sum = arith::AddFOp::create(nb, nl, var, epsilon);
        return math::RsqrtOp::create(nb, nl, sum).getResult();
      });
  return {mean, rstd};
}

/// y = (x - mean) * rstd * (1 + w) + bias over the group view xg, with mean
/// and rstd indexed by `statMap`, w and bias ([K, Fk], optional) by the
/// channel map, and mean optional (RMS norm). Returns [..., F] in x's type.
Value normalize(OpBuilder &b, Location loc, Value xg, Value mean, Value rstd,
                AffineMap statMap, Value weightG, Value biasG,
                Type computeType) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(xg.getType());
  int64_t rank = type.getRank();
  Type elementType = type.getElementType();
  SmallVector<Value> inputs{xg, rstd};
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank), statMap};
  auto add = [&](Value v, AffineMap map) {
    inputs.push_back(v);
    maps.push_back(map);
  };
  if (mean)
    add(mean, statMap);
  if (weightG)
    add(weightG, channelMap(ctx, rank));
  if (biasG)
    add(biasG, channelMap(ctx, rank));
  Value yg = mapInto(
      b, loc, inputs, maps, emptyTensorLike(b, loc, xg),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        unsigned next = 2;
        Value x = castFloat(nb, nl, a[0], computeType);
        if (mean)
          x = arith::SubFOp::create(nb, nl, x, a[next++]);
        Value y = arith::MulFOp::create(nb, nl, x, a[1]);
        if (weightG)
          y = arith::MulFOp::create(
              nb, nl, y, onePlus(nb, nl, a[next++], elementType, computeType));
        if (biasG)
          y = arith::AddFOp::create(nb, nl, y,
                                    castFloat(nb, nl, a[next++], computeType));
        return castFloat(nb, nl, y, elementType);
      });
  return mergeGroups(b, loc, yg);
}

//===----------------------------------------------------------------------===//
// rms_norm, layer_norm
//===----------------------------------------------------------------------===//

/// Group RMS norm: one reduction (Σ x²), rstd on the [..., K] statistics,
/// one elementwise generic.
struct LowerRmsNorm : OpConversionPattern<RmsNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RmsNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type computeType = getComputeType(op.getType().getElementType());
    int64_t groups = op.getNumGroups();
    Value xg = splitGroups(rewriter, loc, adaptor.getX(), groups);
    int64_t rank = cast<RankedTensorType>(xg.getType()).getRank();
    auto [mean, rstd] =
        groupStatistics(rewriter, loc, xg, computeType,
                        op.getEps().convertToDouble(), /*centered=*/false);
    Value weightG =
        adaptor.getWeight()
            ? splitGroups(rewriter, loc, adaptor.getWeight(), groups)
            : Value();
    AffineMap statMap = leadingMap(getContext(), rank);
    rewriter.replaceOp(op, normalize(rewriter, loc, xg, mean, rstd, statMap,
                                     weightG, Value(), computeType));
    return success();
  }
};

/// Group layer norm: two reductions (mean, then squared deviations), one
/// elementwise generic.
struct LowerLayerNorm : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type computeType = getComputeType(op.getType().getElementType());
    int64_t groups = op.getNumGroups();
    Value xg = splitGroups(rewriter, loc, adaptor.getX(), groups);
    int64_t rank = cast<RankedTensorType>(xg.getType()).getRank();
    auto [mean, rstd] =
        groupStatistics(rewriter, loc, xg, computeType,
                        op.getEps().convertToDouble(), /*centered=*/true);
    auto split = [&](Value v) {
      return v ? splitGroups(rewriter, loc, v, groups) : Value();
    };
    AffineMap statMap = leadingMap(getContext(), rank);
    rewriter.replaceOp(op, normalize(rewriter, loc, xg, mean, rstd, statMap,
                                     split(adaptor.getWeight()),
                                     split(adaptor.getBias()), computeType));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// timestep_decay_norm, timestep_norm
//===----------------------------------------------------------------------===//

/// The fp32 bias-correction powers of the reference TDN kernel.
///
/// The reference forms beta^n as a running fp32 product of the fp32-rounded
/// beta (spec section 3.2; tests/oracle/NOTES.md): p_0 = 1, p_n =
/// fl(p_{n-1} * beta). 1 - p_n cancels catastrophically, so this alone moves
/// the fp32 result about 5e-5 (relative) away from exact arithmetic, and the
/// compiled f32 code reproduces it bit for bit. Within a call the product is
/// carried token by token; for an incoming count n0 > 0 it has to be
/// replayed. Replaying n0 products would cost O(n0) per call (hundreds of
/// thousands of dependent multiplies per decode step), so the sequence is
/// simulated at compile time and every kStride-th power is stored in a small
/// constant table: at run time p_{n0} = table[n0 / kStride] followed by at
/// most kStride - 1 products, the same numbers as the full product.
/// The table stops once p_n <= 2^-25, from where 1 - p rounds to exactly 1 in
/// fp32 for this and every later n (p never grows), or once p reaches a fixed
/// point of the rounding; either way later powers give the same bias
/// correction, so counts beyond the table use its last entry.
struct PowerTable {
  static constexpr int64_t kStride = 256;
  static constexpr int64_t kMaxEntries = 1 << 13;
  float beta;
  SmallVector<float> entries; ///< p_{j * kStride}
  bool complete = false;      ///< entries.back() is final (see above)

  explicit PowerTable(double betaAttr) : beta(static_cast<float>(betaAttr)) {
    float p = 1.0f;
    const float tiny = std::ldexp(1.0f, -25);
    for (int64_t n = 0; entries.size() < size_t(kMaxEntries); ++n) {
      if (n % kStride == 0) {
        entries.push_back(p);
        if (complete)
          break;
      }
      float next = p * beta;
      // Final from this n on; record one more table entry at or past n.
      if (p <= tiny || next == p)
        complete = true;
      p = next;
    }
  }

  /// p_n for the i64 count `n` (negative counts are treated as 0).
  Value build(OpBuilder &b, Location loc, Value n) const {
    Type i64 = b.getI64Type();
    Type f32 = b.getF32Type();
    auto i64Const = [&](int64_t v) {
      return arith::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
    };
    Value table = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(
            RankedTensorType::get({int64_t(entries.size())}, f32),
            ArrayRef<float>(entries)));
    Value count = arith::MaxSIOp::create(b, loc, n, i64Const(0));
    Value last = i64Const(int64_t(entries.size()) - 1);
    Value j = arith::MinSIOp::create(
        b, loc, arith::DivSIOp::create(b, loc, count, i64Const(kStride)), last);
    Value start = tensor::ExtractOp::create(
        b, loc, table,
        ValueRange{arith::IndexCastOp::create(b, loc, b.getIndexType(), j)});
    Value rest = arith::SubIOp::create(
        b, loc, count, arith::MulIOp::create(b, loc, j, i64Const(kStride)));
    if (complete) {
      Value atEnd =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, j, last);
      rest = arith::SelectOp::create(b, loc, atEnd, i64Const(0), rest);
    }
    Value betaValue = floatConstant(b, loc, f32, beta);
    Value steps = arith::IndexCastOp::create(b, loc, b.getIndexType(), rest);
    return scf::ForOp::create(
               b, loc, indexConstant(b, loc, 0), steps,
               indexConstant(b, loc, 1), ValueRange{start},
               [&](OpBuilder &nb, Location nl, Value, ValueRange args) {
                 Value p = arith::MulFOp::create(nb, nl, args[0], betaValue);
                 scf::YieldOp::create(nb, nl, p);
               })
        .getResult(0);
  }
};

/// One step of a timestep norm's state recurrence, on scalars. `inputs` are
/// mu_t, var_t (compute type), then the per-step row inputs (one per
/// `stepRows` tensor) and the per-row inputs; (m, v) the carried state
/// (f64). Returns (m', v', mean_t, rstd_t): the new state and the mean and
/// reciprocal std normalising token t (compute type).
struct ScanStep {
  Value m, v, mean, rstd;
};
using ScanBodyFn = llvm::function_ref<ScanStep(
    OpBuilder &, Location, Value t, ValueRange inputs, Value m, Value v)>;

/// The time scan shared by both timestep norms: scf.for b, g, t with the
/// state (m, v) in f64 scalars (loop-carried registers) starting at
/// m0[b, g], v0[b, g]. Step t reads mu[b, t, g], var[b, t, g] (B x L x G),
/// stepRows[k][b, t] (B x L) and rows[k][b] (B), and writes mean[b, t, g]
/// and rstd[b, t, g] with tensor.insert, which bufferizes in place. Returns
/// the final (m, v) (B x G) and the B x L x G mean and rstd.
///
/// The scan is O(B L G) scalar work next to the O(B L D) of the statistics
/// and the normalisation, so it is left scalar on purpose. (A linalg.generic
/// over (B, G) per step writing slices of the B x L x G results does not
/// stay in place: gecko-fuse-elementwise replaces its unread `outs`
/// with tensor.empty, which costs an allocation and a strided copy per
/// token.)
std::tuple<Value, Value, Value, Value>
buildTimeScan(OpBuilder &b, Location loc, Value mu, Value var,
              ValueRange stepRows, ValueRange rows, Value m0, Value v0,
              ScanBodyFn body) {
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, mu);
  Value batch = getValueOrCreateConstantIndexOp(b, loc, sizes[0]);
  Value length = getValueOrCreateConstantIndexOp(b, loc, sizes[1]);
  Value groups = getValueOrCreateConstantIndexOp(b, loc, sizes[2]);
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  SmallVector<Value> init{
      emptyTensorLike(b, loc, m0), emptyTensorLike(b, loc, v0),
      emptyTensorLike(b, loc, mu), emptyTensorLike(b, loc, mu)};
  auto rowLoop = scf::ForOp::create(
      b, loc, zero, batch, one, init,
      [&](OpBuilder &rb, Location rl, Value bi, ValueRange rowAcc) {
        SmallVector<Value> rowValues;
        for (Value r : rows)
          rowValues.push_back(
              tensor::ExtractOp::create(rb, rl, r, ValueRange{bi}));
        auto groupLoop = scf::ForOp::create(
            rb, rl, zero, groups, one, rowAcc,
            [&](OpBuilder &gb, Location gl, Value gi, ValueRange acc) {
              Value m =
                  tensor::ExtractOp::create(gb, gl, m0, ValueRange{bi, gi});
              Value v =
                  tensor::ExtractOp::create(gb, gl, v0, ValueRange{bi, gi});
              auto timeLoop = scf::ForOp::create(
                  gb, gl, zero, length, one, ValueRange{m, v, acc[2], acc[3]},
                  [&](OpBuilder &tb, Location tl, Value t, ValueRange it) {
                    SmallVector<Value> inputs{
                        tensor::ExtractOp::create(tb, tl, mu,
                                                  ValueRange{bi, t, gi}),
                        tensor::ExtractOp::create(tb, tl, var,
                                                  ValueRange{bi, t, gi})};
                    for (Value r : stepRows)
                      inputs.push_back(tensor::ExtractOp::create(
                          tb, tl, r, ValueRange{bi, t}));
                    inputs.append(rowValues);
                    ScanStep s = body(tb, tl, t, inputs, it[0], it[1]);
                    Value mean = tensor::InsertOp::create(
                        tb, tl, s.mean, it[2], ValueRange{bi, t, gi});
                    Value rstd = tensor::InsertOp::create(
                        tb, tl, s.rstd, it[3], ValueRange{bi, t, gi});
                    scf::YieldOp::create(tb, tl,
                                         ValueRange{s.m, s.v, mean, rstd});
                  });
              Value mOut = tensor::InsertOp::create(
                  gb, gl, timeLoop.getResult(0), acc[0], ValueRange{bi, gi});
              Value vOut = tensor::InsertOp::create(
                  gb, gl, timeLoop.getResult(1), acc[1], ValueRange{bi, gi});
              scf::YieldOp::create(gb, gl,
                                   ValueRange{mOut, vOut, timeLoop.getResult(2),
                                              timeLoop.getResult(3)});
            });
        scf::YieldOp::create(rb, rl, groupLoop.getResults());
      });
  return {rowLoop.getResult(0), rowLoop.getResult(1), rowLoop.getResult(2),
          rowLoop.getResult(3)};
}

/// `v` converted elementwise to f64.
Value widenToF64(OpBuilder &b, Location loc, Value v) {
  Type f64 = b.getF64Type();
  return buildElementwise(b, loc, v, f64,
                          [&](OpBuilder &nb, Location nl, ValueRange a) {
                            return castFloat(nb, nl, a[0], f64);
                          });
}

/// The incoming state of a timestep norm: count (B, i64) and (m, v) (B x G,
/// f64), from the operands or (0, mean0, var0) without them.
std::tuple<Value, Value, Value> incomingState(OpBuilder &b, Location loc,
                                              Value x, int64_t groups,
                                              Value count, Value mean,
                                              Value var, double var0) {
  Type f64 = b.getF64Type();
  if (count)
    return {count, widenToF64(b, loc, mean), widenToF64(b, loc, var)};
  SmallVector<OpFoldResult> batch{getSizes(b, loc, x)[0]};
  SmallVector<OpFoldResult> bg{batch[0], b.getIndexAttr(groups)};
  return {filledIntTensor(b, loc, batch, b.getI64Type(), 0),
          filledTensor(b, loc, bg, f64, 0.0),
          filledTensor(b, loc, bg, f64, var0)};
}

/// The f64 state rounded to x's element type (the op's mean/var results).
Value narrowState(OpBuilder &b, Location loc, Value state, Type elementType) {
  return buildElementwise(b, loc, state, elementType,
                          [&](OpBuilder &nb, Location nl, ValueRange a) {
                            return castFloat(nb, nl, a[0], elementType);
                          });
}

/// The per-token group statistics of x (B x L x D) in group view: xg
/// (B x L x G x Dg), mu and var (B x L x G, compute type, two-pass population
/// variance).
std::tuple<Value, Value, Value> tokenStatistics(OpBuilder &b, Location loc,
                                                Value x, int64_t groups,
                                                Type computeType) {
  MLIRContext *ctx = b.getContext();
  Value xg = splitGroups(b, loc, x, groups);
  AffineMap identity = b.getMultiDimIdentityMap(4);
  AffineMap stat = leadingMap(ctx, 4);
  Value count = dimAsFloat(b, loc, xg, 3, computeType);
  auto divideByCount = [&](Value sum) {
    return mapInto(
        b, loc, {sum}, {b.getMultiDimIdentityMap(3)},
        emptyTensorLike(b, loc, sum),
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          return arith::DivFOp::create(nb, nl, a[0], count).getResult();
        });
  };
  Value mu = divideByCount(
      reduceInnermost(b, loc, xg, {xg}, {identity}, computeType,
                      [&](OpBuilder &nb, Location nl, ValueRange a) {
                        return castFloat(nb, nl, a[0], computeType);
                      }));
  Value var = divideByCount(
      reduceInnermost(b, loc, xg, {xg, mu}, {identity, stat}, computeType,
                      [&](OpBuilder &nb, Location nl, ValueRange a) {
                        Value d = arith::SubFOp::create(
                            nb, nl, castFloat(nb, nl, a[0], computeType), a[1]);
                        return arith::MulFOp::create(nb, nl, d, d).getResult();
                      }));
  return {xg, mu, var};
}

/// The per-token bias corrections of TDN (B x L each) and the final count.
struct BiasCorrections {
  Value c1, c2; ///< 1 - beta^n_t as the forward forms it (compute type)
  /// 1 - exp(n_t ln beta) in f64, the backward's corrections (only when
  /// requested).
  Value exact1, exact2;
  Value countOut; ///< n after the last token (B, i64)
};

/// The count and bias corrections of TDN: a scalar scan per batch row over
/// t (O(B L), next to the O(B L D) of the rest) that applies the bos resets
/// and writes n_t's corrections c1 = 1 - beta1^n_t and c2 = 1 - beta2^n_t
/// (B x L, compute type). For f32 compute the powers are the reference's
/// fp32 running products (PowerTable); for f64 they are pow(beta, n) in f64,
/// as in the exact semantics. With `exact`, it also writes 1 - exp(n_t ln
/// beta) in f64 for both betas: the reference's backward forms beta^n that
/// way, in double, for every element type (spec section 5).
BiasCorrections buildBiasCorrections(OpBuilder &b, Location loc, Value x,
                                     Value bos, Value count0, double beta1,
                                     double beta2, Type computeType,
                                     bool exact) {
  Type i64 = b.getI64Type();
  Type f64 = b.getF64Type();
  bool fp32Powers = computeType.isF32();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<OpFoldResult> bl{sizes[0], sizes[1]};
  // Loop-carried B x L tensors: c1, c2 and, with `exact`, exact1, exact2;
  // then the B counts.
  SmallVector<Value> outerInit{emptyTensor(b, loc, bl, computeType),
                               emptyTensor(b, loc, bl, computeType)};
  if (exact) {
    outerInit.push_back(emptyTensor(b, loc, bl, f64));
    outerInit.push_back(emptyTensor(b, loc, bl, f64));
  }
  unsigned numRows = outerInit.size();
  outerInit.push_back(emptyTensor(b, loc, {sizes[0]}, i64));
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  Value batch = getValueOrCreateConstantIndexOp(b, loc, sizes[0]);
  Value length = getValueOrCreateConstantIndexOp(b, loc, sizes[1]);
  std::optional<PowerTable> table1, table2;
  if (fp32Powers) {
    table1.emplace(beta1);
    table2.emplace(beta2);
  }
  auto outer = scf::ForOp::create(
      b, loc, zero, batch, one, outerInit,
      [&](OpBuilder &ob, Location ol, Value bi, ValueRange acc) {
        Value n0 = tensor::ExtractOp::create(ob, ol, count0, ValueRange{bi});
        // Inner loop-carried values: n, the row tensors, the fp32 powers.
        SmallVector<Value> init{n0};
        init.append(acc.begin(), acc.begin() + numRows);
        if (fp32Powers) {
          init.push_back(table1->build(ob, ol, n0));
          init.push_back(table2->build(ob, ol, n0));
        }
        auto inner = scf::ForOp::create(
            ob, ol, zero, length, one, init,
            [&](OpBuilder &ib, Location il, Value t, ValueRange it) {
              Value nOne = arith::ConstantOp::create(ib, il, i64,
                                                     ib.getI64IntegerAttr(1));
              Value n = arith::AddIOp::create(ib, il, it[0], nOne);
              Value reset;
              if (bos) {
                reset =
                    tensor::ExtractOp::create(ib, il, bos, ValueRange{bi, t});
                n = arith::SelectOp::create(ib, il, reset, nOne, n);
              }
              SmallVector<Value> values, powers;
              Value oneF = floatConstant(ib, il, computeType, 1.0);
              if (fp32Powers) {
                auto advance = [&](Value p, float beta) {
                  Value betaValue = floatConstant(ib, il, computeType, beta);
                  Value q = arith::MulFOp::create(ib, il, p, betaValue);
                  // 1 * beta: a bos restarts the product at n = 1.
                  return reset ? arith::SelectOp::create(ib, il, reset,
                                                         betaValue, q)
                                     .getResult()
                               : q;
                };
                powers.push_back(advance(it[1 + numRows], table1->beta));
                powers.push_back(advance(it[2 + numRows], table2->beta));
                for (Value p : powers)
                  values.push_back(arith::SubFOp::create(ib, il, oneF, p));
              } else {
                Value nf = arith::SIToFPOp::create(ib, il, computeType, n);
                for (double beta : {beta1, beta2}) {
                  Value p = math::PowFOp::create(
                      ib, il, floatConstant(ib, il, computeType, beta), nf);
                  values.push_back(arith::SubFOp::create(ib, il, oneF, p));
                }
              }
              if (exact) {
                Value nf = arith::SIToFPOp::create(ib, il, f64, n);
                Value oneD = floatConstant(ib, il, f64, 1.0);
                for (double beta : {beta1, beta2}) {
                  Value p = math::ExpOp::create(
                      ib, il,
                      arith::MulFOp::create(
                          ib, il, nf,
                          floatConstant(ib, il, f64, std::log(beta))));
                  values.push_back(arith::SubFOp::create(ib, il, oneD, p));
                }
              }
              SmallVector<Value> yielded{n};
              for (auto [k, value] : llvm::enumerate(values))
                yielded.push_back(tensor::InsertOp::create(
                    ib, il, value, it[1 + k], ValueRange{bi, t}));
              yielded.append(powers);
              scf::YieldOp::create(ib, il, yielded);
            });
        SmallVector<Value> yielded(inner.getResults().slice(1, numRows).begin(),
                                   inner.getResults().slice(1, numRows).end());
        yielded.push_back(tensor::InsertOp::create(
            ob, ol, inner.getResult(0), acc[numRows], ValueRange{bi}));
        scf::YieldOp::create(ob, ol, yielded);
      });
  BiasCorrections result;
  result.c1 = outer.getResult(0);
  result.c2 = outer.getResult(1);
  if (exact) {
    result.exact1 = outer.getResult(2);
    result.exact2 = outer.getResult(3);
  }
  result.countOut = outer.getResult(numRows);
  return result;
}

/// TDN's betas as the lowering uses them: the f32 path uses the reference's
/// fp32 betas throughout (they also weigh the EMA updates, and the backward's
/// adjoint recurrence), as Config::tdnFp32BiasCorrection does.
std::pair<double, double> tdnBetas(Type computeType, double beta1,
                                   double beta2) {
  if (computeType.isF32())
    return {static_cast<float>(beta1), static_cast<float>(beta2)};
  return {beta1, beta2};
}

/// The forward of a timestep norm up to the normalisation: what the forward
/// returns and what the backward recomputes.
struct TimestepForward {
  Value xg, mu, var;          ///< group view of x; per-token statistics
  Value count0, m0, v0;       ///< incoming state (B i64; B x G f64)
  Value countOut, mOut, vOut; ///< outgoing state (B i64; B x G f64)
  Value mean, rstd;           ///< B x L x G normalisers (compute type)
  Value exact1, exact2;       ///< TDN with `exact`: see BiasCorrections
};

/// Gecko's TDN (spec 3.2) up to the normalisation: token statistics, bias
/// corrections per row, then the EMA scan over (B, G).
TimestepForward buildTdnForward(OpBuilder &b, Location loc, Value x, Value bos,
                                Value count, Value mean, Value var,
                                int64_t groups, double beta1, double beta2,
                                double eps, Type computeType, bool exact) {
  Type f64 = b.getF64Type();
  TimestepForward fwd;
  std::tie(fwd.xg, fwd.mu, fwd.var) =
      tokenStatistics(b, loc, x, groups, computeType);
  std::tie(fwd.count0, fwd.m0, fwd.v0) =
      incomingState(b, loc, x, groups, count, mean, var, 0.0);
  BiasCorrections corrections = buildBiasCorrections(
      b, loc, x, bos, fwd.count0, beta1, beta2, computeType, exact);
  fwd.countOut = corrections.countOut;
  fwd.exact1 = corrections.exact1;
  fwd.exact2 = corrections.exact2;

  SmallVector<Value> stepRows{corrections.c1, corrections.c2};
  if (bos)
    stepRows.push_back(bos);
  std::tie(fwd.mOut, fwd.vOut, fwd.mean, fwd.rstd) = buildTimeScan(
      b, loc, fwd.mu, fwd.var, stepRows, {}, fwd.m0, fwd.v0,
      [&](OpBuilder &sb, Location l, Value, ValueRange in, Value m,
          Value v) -> ScanStep {
        Value muT = castFloat(sb, l, in[0], f64);
        Value varT = castFloat(sb, l, in[1], f64);
        auto ema = [&](Value state, Value stat, double beta) {
          Value fresh = arith::MulFOp::create(
              sb, l, floatConstant(sb, l, f64, 1.0 - beta), stat);
          Value decayed = arith::AddFOp::create(
              sb, l,
              arith::MulFOp::create(sb, l, floatConstant(sb, l, f64, beta),
                                    state),
              fresh);
          return bos ? arith::SelectOp::create(sb, l, in[4], fresh, decayed)
                           .getResult()
                     : decayed;
        };
        Value mNew = ema(m, muT, beta1);
        Value vNew = ema(v, varT, beta2);
        // mhat = M / c1 and r = (V / c2 + eps)^(-1/2) from the state
        // rounded to the compute type, as the reference's fp32 kernel.
        Value mC = castFloat(sb, l, mNew, computeType);
        Value vC = castFloat(sb, l, vNew, computeType);
        Value mhat = arith::DivFOp::create(sb, l, mC, in[2]);
        Value vhat = arith::DivFOp::create(sb, l, vC, in[3]);
        Value rstd = math::RsqrtOp::create(
            sb, l,
            arith::AddFOp::create(sb, l, vhat,
                                  floatConstant(sb, l, computeType, eps)));
        return {mNew, vNew, mhat, rstd};
      });
  return fwd;
}

/// Megalodon's TimestepNorm (spec 9) up to the normalisation: token
/// statistics, then a Chan-merge scan over (B, G) with n_t = n0 + t + 1 (no
/// resets, so no count scan).
TimestepForward buildTimestepNormForward(OpBuilder &b, Location loc, Value x,
                                         Value count, Value mean, Value var,
                                         int64_t groups, double eps,
                                         Type computeType) {
  Type f64 = b.getF64Type();
  Type i64 = b.getI64Type();
  TimestepForward fwd;
  std::tie(fwd.xg, fwd.mu, fwd.var) =
      tokenStatistics(b, loc, x, groups, computeType);
  std::tie(fwd.count0, fwd.m0, fwd.v0) =
      incomingState(b, loc, x, groups, count, mean, var, 1.0);
  std::tie(fwd.mOut, fwd.vOut, fwd.mean, fwd.rstd) = buildTimeScan(
      b, loc, fwd.mu, fwd.var, {}, {fwd.count0}, fwd.m0, fwd.v0,
      [&](OpBuilder &sb, Location l, Value t, ValueRange in, Value m,
          Value v) -> ScanStep {
        // c = 1 / n_t with n_t = n0 + t + 1 (exact in f64 below 2^53).
        Value step = arith::IndexCastOp::create(sb, l, i64, t);
        Value n = arith::AddIOp::create(
            sb, l, arith::AddIOp::create(sb, l, in[2], step),
            arith::ConstantOp::create(sb, l, i64, sb.getI64IntegerAttr(1)));
        Value one = floatConstant(sb, l, f64, 1.0);
        Value c = arith::DivFOp::create(sb, l, one,
                                        arith::SIToFPOp::create(sb, l, f64, n));
        Value keep = arith::SubFOp::create(sb, l, one, c);
        Value delta =
            arith::SubFOp::create(sb, l, castFloat(sb, l, in[0], f64), m);
        Value mNew = arith::AddFOp::create(
            sb, l, m, arith::MulFOp::create(sb, l, c, delta));
        // v' = (1-c) v + c var + c (1-c) delta^2
        Value spread =
            arith::MulFOp::create(sb, l, arith::MulFOp::create(sb, l, c, keep),
                                  arith::MulFOp::create(sb, l, delta, delta));
        Value vNew = arith::AddFOp::create(
            sb, l,
            arith::AddFOp::create(
                sb, l, arith::MulFOp::create(sb, l, keep, v),
                arith::MulFOp::create(sb, l, c, castFloat(sb, l, in[1], f64))),
            spread);
        Value mC = castFloat(sb, l, mNew, computeType);
        Value rstd = math::RsqrtOp::create(
            sb, l,
            arith::AddFOp::create(sb, l, castFloat(sb, l, vNew, computeType),
                                  floatConstant(sb, l, computeType, eps)));
        return {mNew, vNew, mC, rstd};
      });
  // count_out = n0 + L.
  Value length = arith::IndexCastOp::create(
      b, loc, i64, tensor::DimOp::create(b, loc, x, 1));
  fwd.countOut = buildElementwise(
      b, loc, fwd.count0, i64, [&](OpBuilder &nb, Location l, ValueRange a) {
        return arith::AddIOp::create(nb, l, a[0], length).getResult();
      });
  return fwd;
}

/// Gecko's TDN (spec 3.2): buildTdnForward, then the elementwise
/// normalisation.
struct LowerTimestepDecayNorm : OpConversionPattern<TimestepDecayNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepDecayNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getY().getType().getElementType();
    Type computeType = getComputeType(elementType);
    int64_t groups = op.getNumGroups();
    double beta1, beta2;
    std::tie(beta1, beta2) =
        tdnBetas(computeType, op.getBeta1().convertToDouble(),
                 op.getBeta2().convertToDouble());
    TimestepForward fwd = buildTdnForward(
        rewriter, loc, adaptor.getX(), adaptor.getBos(), adaptor.getCount(),
        adaptor.getMean(), adaptor.getVar(), groups, beta1, beta2,
        op.getEps().convertToDouble(), computeType, /*exact=*/false);
    AffineMap statMap = leadingMap(getContext(), 4);
    Value y = normalize(rewriter, loc, fwd.xg, fwd.mean, fwd.rstd, statMap,
                        splitGroups(rewriter, loc, adaptor.getWeight(), groups),
                        splitGroups(rewriter, loc, adaptor.getBias(), groups),
                        computeType);
    rewriter.replaceOp(
        op, ValueRange{y, fwd.countOut,
                       narrowState(rewriter, loc, fwd.mOut, elementType),
                       narrowState(rewriter, loc, fwd.vOut, elementType)});
    return success();
  }
};

/// Megalodon's TimestepNorm (spec 9): buildTimestepNormForward, then the
/// elementwise normalisation.
struct LowerTimestepNorm : OpConversionPattern<TimestepNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getY().getType().getElementType();
    Type computeType = getComputeType(elementType);
    int64_t groups = op.getNumGroups();
    TimestepForward fwd = buildTimestepNormForward(
        rewriter, loc, adaptor.getX(), adaptor.getCount(), adaptor.getMean(),
        adaptor.getVar(), groups, op.getEps().convertToDouble(), computeType);
    AffineMap statMap = leadingMap(getContext(), 4);
    Value y = normalize(rewriter, loc, fwd.xg, fwd.mean, fwd.rstd, statMap,
                        splitGroups(rewriter, loc, adaptor.getWeight(), groups),
                        splitGroups(rewriter, loc, adaptor.getBias(), groups),
                        computeType);
    rewriter.replaceOp(
        op, ValueRange{y, fwd.countOut,
                       narrowState(rewriter, loc, fwd.mOut, elementType),
                       narrowState(rewriter, loc, fwd.vOut, elementType)});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Backward builders
//===----------------------------------------------------------------------===//

/// Σ over every dimension of the iteration space of `space` ([..., K, Fk])
/// but the last two of term(inputs), accumulated in `accType` from 0: the
/// [K, Fk] parameter cotangents (Σ over batch and time, or every leading
/// position). With no leading dimension it is the term itself.
Value reduceLeading(OpBuilder &b, Location loc, Value space, ValueRange inputs,
                    ArrayRef<AffineMap> inputMaps, Type accType, TermFn term) {
  int64_t rank = cast<RankedTensorType>(space.getType()).getRank();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, space);
  Value init = filledTensor(b, loc, ArrayRef(sizes).take_back(2), accType, 0.0);
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(channelMap(b.getContext(), rank));
  SmallVector<utils::IteratorType> iterators(rank - 2,
                                             utils::IteratorType::reduction);
  iterators.append(parallelIterators(2));
  return linalg::GenericOp::create(
             b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value value = term(nb, nl, args.drop_back());
               Value sum = arith::AddFOp::create(nb, nl, args.back(), value);
               linalg::YieldOp::create(nb, nl, sum);
             })
      .getResult(0);
}

/// A [K, Fk] parameter cotangent (compute type) as the op's 1-D result of
/// `elementType`.
Value parameterResult(OpBuilder &b, Location loc, Value acc, Type elementType) {
  Value narrowed = buildElementwise(
      b, loc, acc, elementType, [&](OpBuilder &nb, Location nl, ValueRange a) {
        return castFloat(nb, nl, a[0], elementType);
      });
  return mergeGroups(b, loc, narrowed);
}

/// The scale s_i of the group view from the channel operand `w` (1 + w in
/// the compute type, see onePlus), or 1 without a weight.
Value scaleOf(OpBuilder &b, Location loc, Value w, Type elementType,
              Type computeType) {
  return w ? onePlus(b, loc, w, elementType, computeType)
           : floatConstant(b, loc, computeType, 1.0);
}

/// value * s_i (see scaleOf), or value itself without a weight.
Value scaled(OpBuilder &b, Location loc, Value value, Value w, Type elementType,
             Type computeType) {
  if (!w)
    return value;
  return arith::MulFOp::create(b, loc, value,
                               onePlus(b, loc, w, elementType, computeType));
}

/// The two per-token sums of a timestep norm's backward over the group view
/// (B x L x G, compute type): ds_t = Σ dy γ (x - mean_t) and dc_t = Σ dy γ,
/// with γ = 1 + w and mean_t the normalising mean (m̂_t or m_t).
std::pair<Value, Value> tokenCotangentSums(OpBuilder &b, Location loc,
                                           Value dyg, Value xg, Value wg,
                                           Value mean, Type elementType,
                                           Type computeType) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = b.getMultiDimIdentityMap(4);
  AffineMap stat = leadingMap(ctx, 4);
  AffineMap channel = channelMap(ctx, 4);
  Value ds = reduceInnermost(
      b, loc, xg, {dyg, xg, wg, mean}, {identity, identity, channel, stat},
      computeType, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value dyS = arith::MulFOp::create(
            nb, nl, castFloat(nb, nl, a[0], computeType),
            scaleOf(nb, nl, a[2], elementType, computeType));
        Value centered = arith::SubFOp::create(
            nb, nl, castFloat(nb, nl, a[1], computeType), a[3]);
        return arith::MulFOp::create(nb, nl, dyS, centered).getResult();
      });
  Value dc = reduceInnermost(
      b, loc, xg, {dyg, wg}, {identity, channel}, computeType,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        return arith::MulFOp::create(
                   nb, nl, castFloat(nb, nl, a[0], computeType),
                   scaleOf(nb, nl, a[1], elementType, computeType))
            .getResult();
      });
  return {ds, dc};
}

/// One step of a timestep norm's adjoint recurrence: the adjoints (gA, gB)
/// of the state before the step (f64) and the cotangents (dmu_t, dvar_t) of
/// the token statistics (compute type).
struct AdjointStep {
  Value gA, gB, dmu, dvar;
};
using AdjointBodyFn = llvm::function_ref<AdjointStep(
    OpBuilder &, Location, Value bi, Value t, Value gi, Value gA, Value gB)>;

/// The reverse scan of a timestep norm's backward: scf.for b, g, and t from
/// L-1 down to 0, with the adjoints of the state (gA, gB) in loop-carried
/// f64 scalars starting at gA0[b, g], gB0[b, g]. The body reads what it
/// needs at (b, t, g) itself and its dmu_t, dvar_t are written into
/// B x L x G tensors shaped like `like` with tensor.insert (in place after
/// bufferization, like buildTimeScan, and for the same reason scalar).
/// Returns the adjoints of the incoming state (B x G, f64) and dmu, dvar.
std::tuple<Value, Value, Value, Value>
buildReverseScan(OpBuilder &b, Location loc, Value like, Value gA0, Value gB0,
                 AdjointBodyFn body) {
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, like);
  Value batch = getValueOrCreateConstantIndexOp(b, loc, sizes[0]);
  Value length = getValueOrCreateConstantIndexOp(b, loc, sizes[1]);
  Value groups = getValueOrCreateConstantIndexOp(b, loc, sizes[2]);
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  SmallVector<Value> init{
      emptyTensorLike(b, loc, gA0), emptyTensorLike(b, loc, gB0),
      emptyTensorLike(b, loc, like), emptyTensorLike(b, loc, like)};
  auto rowLoop = scf::ForOp::create(
      b, loc, zero, batch, one, init,
      [&](OpBuilder &rb, Location rl, Value bi, ValueRange rowAcc) {
        auto groupLoop = scf::ForOp::create(
            rb, rl, zero, groups, one, rowAcc,
            [&](OpBuilder &gb, Location gl, Value gi, ValueRange acc) {
              Value gA =
                  tensor::ExtractOp::create(gb, gl, gA0, ValueRange{bi, gi});
              Value gB =
                  tensor::ExtractOp::create(gb, gl, gB0, ValueRange{bi, gi});
              Value last = arith::SubIOp::create(gb, gl, length, one);
              auto timeLoop = scf::ForOp::create(
                  gb, gl, zero, length, one, ValueRange{gA, gB, acc[2], acc[3]},
                  [&](OpBuilder &tb, Location tl, Value s, ValueRange it) {
                    Value t = arith::SubIOp::create(tb, tl, last, s);
                    AdjointStep step = body(tb, tl, bi, t, gi, it[0], it[1]);
                    Value dmu = tensor::InsertOp::create(
                        tb, tl, step.dmu, it[2], ValueRange{bi, t, gi});
                    Value dvar = tensor::InsertOp::create(
                        tb, tl, step.dvar, it[3], ValueRange{bi, t, gi});
                    scf::YieldOp::create(
                        tb, tl, ValueRange{step.gA, step.gB, dmu, dvar});
                  });
              Value gAOut = tensor::InsertOp::create(
                  gb, gl, timeLoop.getResult(0), acc[0], ValueRange{bi, gi});
              Value gBOut = tensor::InsertOp::create(
                  gb, gl, timeLoop.getResult(1), acc[1], ValueRange{bi, gi});
              scf::YieldOp::create(gb, gl,
                                   ValueRange{gAOut, gBOut,
                                              timeLoop.getResult(2),
                                              timeLoop.getResult(3)});
            });
        scf::YieldOp::create(rb, rl, groupLoop.getResults());
      });
  return {rowLoop.getResult(0), rowLoop.getResult(1), rowLoop.getResult(2),
          rowLoop.getResult(3)};
}

/// The adjoints of the outgoing state (B x G, f64): the dstate operands
/// widened, or zeros without them.
std::pair<Value, Value> outgoingAdjoints(OpBuilder &b, Location loc,
                                         Value mean0, Value dmean, Value dvar) {
  if (dmean)
    return {widenToF64(b, loc, dmean), widenToF64(b, loc, dvar)};
  Value zeros =
      filledTensor(b, loc, getSizes(b, loc, mean0), b.getF64Type(), 0.0);
  return {zeros, zeros};
}

/// dx of a timestep norm over the group view:
///   dx = dy r γ + (dmu + 2 dvar (x - mu)) / D_g
/// with r, mu, dmu, dvar per token and group. Returns B x L x D.
Value timestepInputGrad(OpBuilder &b, Location loc, Value dyg, Value xg,
                        Value wg, Value rstd, Value mu, Value dmu, Value dvar,
                        Type elementType, Type computeType) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = b.getMultiDimIdentityMap(4);
  AffineMap stat = leadingMap(ctx, 4);
  Value count = dimAsFloat(b, loc, xg, 3, computeType);
  Value dxg = mapInto(
      b, loc, {dyg, xg, wg, rstd, mu, dmu, dvar},
      {identity, identity, channelMap(ctx, 4), stat, stat, stat, stat},
      emptyTensorLike(b, loc, xg),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value direct = arith::MulFOp::create(
            nb, nl,
            arith::MulFOp::create(nb, nl, castFloat(nb, nl, a[0], computeType),
                                  a[3]),
            scaleOf(nb, nl, a[2], elementType, computeType));
        Value centered = arith::SubFOp::create(
            nb, nl, castFloat(nb, nl, a[1], computeType), a[4]);
        Value two = floatConstant(nb, nl, computeType, 2.0);
        Value viaStats = arith::AddFOp::create(
            nb, nl, a[5],
            arith::MulFOp::create(
                nb, nl, arith::MulFOp::create(nb, nl, two, a[6]), centered));
        Value dx = arith::AddFOp::create(
            nb, nl, direct, arith::DivFOp::create(nb, nl, viaStats, count));
        return castFloat(nb, nl, dx, elementType);
      });
  return mergeGroups(b, loc, dxg);
}

/// dweight = Σ_{b,t} dy (x - mean_t) r_t and dbias = Σ_{b,t} dy of a
/// timestep norm, as the op's D-sized results.
std::pair<Value, Value> timestepParameterGrads(OpBuilder &b, Location loc,
                                               Value dyg, Value xg, Value mean,
                                               Value rstd, Type elementType,
                                               Type computeType) {
  AffineMap identity = b.getMultiDimIdentityMap(4);
  AffineMap stat = leadingMap(b.getContext(), 4);
  Value dw = reduceLeading(
      b, loc, xg, {dyg, xg, mean, rstd}, {identity, identity, stat, stat},
      computeType, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value centered = arith::SubFOp::create(
            nb, nl, castFloat(nb, nl, a[1], computeType), a[2]);
        Value xhat = arith::MulFOp::create(nb, nl, centered, a[3]);
        return arith::MulFOp::create(nb, nl,
                                     castFloat(nb, nl, a[0], computeType), xhat)
            .getResult();
      });
  Value db = reduceLeading(b, loc, xg, {dyg}, {identity}, computeType,
                           [&](OpBuilder &nb, Location nl, ValueRange a) {
                             return castFloat(nb, nl, a[0], computeType);
                           });
  return {parameterResult(b, loc, dw, elementType),
          parameterResult(b, loc, db, elementType)};
}

/// tensor[indices] widened to f64.
Value extractF64(OpBuilder &b, Location loc, Value tensor, ValueRange indices) {
  return castFloat(b, loc, tensor::ExtractOp::create(b, loc, tensor, indices),
                   b.getF64Type());
}

//===----------------------------------------------------------------------===//
// rms_norm_grad, layer_norm_grad
//===----------------------------------------------------------------------===//

/// rms_norm_grad: the forward's rstd (one reduction), Σ_g dy s x (one
/// reduction), dx elementwise, and dweight as a reduction over every leading
/// dimension.
///   dx = r s dy - x r³ (1/F_K) Σ_g dy s x ;  dweight = Σ dy x r
struct LowerRmsNormGrad : OpConversionPattern<RmsNormGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RmsNormGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Type elementType = op.getDx().getType().getElementType();
    Type computeType = getComputeType(elementType);
    int64_t groups = op.getNumGroups();
    Value xg = splitGroups(rewriter, loc, adaptor.getX(), groups);
    Value dyg = splitGroups(rewriter, loc, adaptor.getDy(), groups);
    Value wg = adaptor.getWeight()
                   ? splitGroups(rewriter, loc, adaptor.getWeight(), groups)
                   : Value();
    int64_t rank = cast<RankedTensorType>(xg.getType()).getRank();
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap stat = leadingMap(ctx, rank);
    AffineMap channel = channelMap(ctx, rank);
    Value rstd = groupStatistics(rewriter, loc, xg, computeType,
                                 op.getEps().convertToDouble(),
                                 /*centered=*/false)
                     .second;
    // The scale is the last input of each generic below, when present.
    SmallVector<Value> sumInputs{dyg, xg};
    SmallVector<AffineMap> sumMaps{identity, identity};
    SmallVector<Value> dxInputs{dyg, xg, rstd};
    SmallVector<AffineMap> dxMaps{identity, identity, stat};
    if (wg) {
      sumInputs.push_back(wg);
      sumMaps.push_back(channel);
    }
    // value * s, with the weight at a[at] when present.
    auto scale = [&](OpBuilder &nb, Location nl, Value value, ValueRange a,
                     size_t at) {
      return scaled(nb, nl, value, a.size() > at ? a[at] : Value(), elementType,
                    computeType);
    };
    Value dot =
        reduceInnermost(rewriter, loc, xg, sumInputs, sumMaps, computeType,
                        [&](OpBuilder &nb, Location nl, ValueRange a) {
                          Value p = arith::MulFOp::create(
                              nb, nl, castFloat(nb, nl, a[0], computeType),
                              castFloat(nb, nl, a[1], computeType));
                          return scale(nb, nl, p, a, 2);
                        });
    dxInputs.push_back(dot);
    dxMaps.push_back(stat);
    if (wg) {
      dxInputs.push_back(wg);
      dxMaps.push_back(channel);
    }
    Value count = dimAsFloat(rewriter, loc, xg, rank - 1, computeType);
    Value dxg = mapInto(
        rewriter, loc, dxInputs, dxMaps, emptyTensorLike(rewriter, loc, xg),
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value dy = castFloat(nb, nl, a[0], computeType);
          Value x = castFloat(nb, nl, a[1], computeType);
          Value r = a[2];
          Value direct =
              arith::MulFOp::create(nb, nl, scale(nb, nl, r, a, 4), dy);
          Value r3 = arith::MulFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, r, r), r);
          Value meanDot = arith::DivFOp::create(nb, nl, a[3], count);
          Value viaR = arith::MulFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, x, r3), meanDot);
          return castFloat(nb, nl, arith::SubFOp::create(nb, nl, direct, viaR),
                           elementType);
        });
    SmallVector<Value> results{mergeGroups(rewriter, loc, dxg)};
    if (wg) {
      Value dw = reduceLeading(
          rewriter, loc, xg, {dyg, xg, rstd}, {identity, identity, stat},
          computeType, [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value p = arith::MulFOp::create(
                nb, nl, castFloat(nb, nl, a[0], computeType),
                castFloat(nb, nl, a[1], computeType));
            return arith::MulFOp::create(nb, nl, p, a[2]).getResult();
          });
      results.push_back(parameterResult(rewriter, loc, dw, elementType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// layer_norm_grad: the forward's mean and rstd (two reductions), the group
/// means of s dy and s dy x̂ (two reductions), dx elementwise, and dweight,
/// dbias as reductions over every leading dimension.
///   dx = r [s dy - mean_g(s dy) - x̂ mean_g(s dy x̂)]
///   dweight = Σ dy x̂ ;  dbias = Σ dy          x̂ = (x - μ) r
struct LowerLayerNormGrad : OpConversionPattern<LayerNormGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LayerNormGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Type elementType = op.getDx().getType().getElementType();
    Type computeType = getComputeType(elementType);
    int64_t groups = op.getNumGroups();
    Value xg = splitGroups(rewriter, loc, adaptor.getX(), groups);
    Value dyg = splitGroups(rewriter, loc, adaptor.getDy(), groups);
    Value wg = adaptor.getWeight()
                   ? splitGroups(rewriter, loc, adaptor.getWeight(), groups)
                   : Value();
    int64_t rank = cast<RankedTensorType>(xg.getType()).getRank();
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap stat = leadingMap(ctx, rank);
    AffineMap channel = channelMap(ctx, rank);
    auto [mean, rstd] = groupStatistics(rewriter, loc, xg, computeType,
                                        op.getEps().convertToDouble(),
                                        /*centered=*/true);
    // Inputs dy, x, mean, rstd (and the weight last): s dy and x̂.
    SmallVector<Value> inputs{dyg, xg, mean, rstd};
    SmallVector<AffineMap> maps{identity, identity, stat, stat};
    if (wg) {
      inputs.push_back(wg);
      maps.push_back(channel);
    }
    auto scaledDy = [&](OpBuilder &nb, Location nl, ValueRange a) {
      return scaled(nb, nl, castFloat(nb, nl, a[0], computeType),
                    wg ? a[4] : Value(), elementType, computeType);
    };
    auto xhat = [&](OpBuilder &nb, Location nl, ValueRange a) {
      Value centered = arith::SubFOp::create(
          nb, nl, castFloat(nb, nl, a[1], computeType), a[2]);
      return arith::MulFOp::create(nb, nl, centered, a[3]).getResult();
    };
    Value sumDy =
        reduceInnermost(rewriter, loc, xg, inputs, maps, computeType, scaledDy);
    Value sumDyXhat = reduceInnermost(
        rewriter, loc, xg, inputs, maps, computeType,
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          return arith::MulFOp::create(nb, nl, scaledDy(nb, nl, a),
                                       xhat(nb, nl, a))
              .getResult();
        });
    SmallVector<Value> dxInputs{sumDy, sumDyXhat};
    SmallVector<AffineMap> dxMaps{stat, stat};
    dxInputs.append(inputs);
    dxMaps.append(maps);
    Value count = dimAsFloat(rewriter, loc, xg, rank - 1, computeType);
    Value dxg = mapInto(
        rewriter, loc, dxInputs, dxMaps, emptyTensorLike(rewriter, loc, xg),
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          ValueRange in = a.drop_front(2);
          Value meanDy = arith::DivFOp::create(nb, nl, a[0], count);
          Value meanDyXhat = arith::DivFOp::create(nb, nl, a[1], count);
          Value inner = arith::SubFOp::create(
              nb, nl,
              arith::SubFOp::create(nb, nl, scaledDy(nb, nl, in), meanDy),
              arith::MulFOp::create(nb, nl, xhat(nb, nl, in), meanDyXhat));
          return castFloat(nb, nl, arith::MulFOp::create(nb, nl, in[3], inner),
                           elementType);
        });
    SmallVector<Value> results{mergeGroups(rewriter, loc, dxg)};
    if (wg) {
      Value dw = reduceLeading(
          rewriter, loc, xg, inputs, maps, computeType,
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            return arith::MulFOp::create(nb, nl,
                                         castFloat(nb, nl, a[0], computeType),
                                         xhat(nb, nl, a))
                .getResult();
          });
      results.push_back(parameterResult(rewriter, loc, dw, elementType));
    }
    if (op.getWithBias()) {
      Value db =
          reduceLeading(rewriter, loc, xg, {dyg}, {identity}, computeType,
                        [&](OpBuilder &nb, Location nl, ValueRange a) {
                          return castFloat(nb, nl, a[0], computeType);
                        });
      results.push_back(parameterResult(rewriter, loc, db, elementType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// timestep_decay_norm_grad, timestep_norm_grad
//===----------------------------------------------------------------------===//

/// TDN backward (spec 3.2): the recomputed forward (buildTdnForward, with
/// the f64 corrections 1 - exp(n_t ln beta) of the reference's backward),
/// the per-token sums ds_t, dc_t as reductions, the adjoint recurrence as a
/// reverse scalar scan over (b, g, t) in f64, then dx elementwise and
/// dweight, dbias as reductions over (b, t).
///
/// The forward normalisers m̂_t and r_t are recomputed exactly as the
/// forward lowering forms them (for f32 with the fp32 running-product
/// powers: the reference saves the forward's m̂ and r), while the adjoint
/// recurrence divides by the f64 corrections, as the reference's backward
/// kernel. In f64 both are the exact 1 - beta^n.
struct LowerTimestepDecayNormGrad
    : OpConversionPattern<TimestepDecayNormGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepDecayNormGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getDx().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Type f64 = rewriter.getF64Type();
    int64_t groups = op.getNumGroups();
    double beta1, beta2;
    std::tie(beta1, beta2) =
        tdnBetas(computeType, op.getBeta1().convertToDouble(),
                 op.getBeta2().convertToDouble());
    Value bos = adaptor.getBos();
    TimestepForward fwd = buildTdnForward(
        rewriter, loc, adaptor.getX(), bos, adaptor.getCount(),
        adaptor.getMean(), adaptor.getVar(), groups, beta1, beta2,
        op.getEps().convertToDouble(), computeType, /*exact=*/true);
    Value dyg = splitGroups(rewriter, loc, adaptor.getDy(), groups);
    Value wg = splitGroups(rewriter, loc, adaptor.getWeight(), groups);
    Value ds, dc;
    std::tie(ds, dc) = tokenCotangentSums(rewriter, loc, dyg, fwd.xg, wg,
                                          fwd.mean, elementType, computeType);
    auto [gM0, gV0] = outgoingAdjoints(
        rewriter, loc, fwd.m0, adaptor.getDmeanOut(), adaptor.getDvarOut());
    auto [gM, gV, dmu, dvar] = buildReverseScan(
        rewriter, loc, fwd.mu, gM0, gV0,
        [&](OpBuilder &b, Location l, Value bi, Value t, Value gi, Value gMIn,
            Value gVIn) -> AdjointStep {
          auto constant = [&](double v) { return floatConstant(b, l, f64, v); };
          auto mul = [&](Value a, Value c) {
            return arith::MulFOp::create(b, l, a, c).getResult();
          };
          Value r = extractF64(b, l, fwd.rstd, {bi, t, gi});
          Value dcT = extractF64(b, l, dc, {bi, t, gi});
          Value dsT = extractF64(b, l, ds, {bi, t, gi});
          Value c1 = tensor::ExtractOp::create(b, l, fwd.exact1, {bi, t});
          Value c2 = tensor::ExtractOp::create(b, l, fwd.exact2, {bi, t});
          // ĝM = ḡM - r dc / c1 ;  ĝV = ḡV - ½ r³ ds / c2
          Value hM = arith::SubFOp::create(
              b, l, gMIn, arith::DivFOp::create(b, l, mul(r, dcT), c1));
          Value r3 = mul(mul(r, r), r);
          Value hV = arith::SubFOp::create(
              b, l, gVIn,
              arith::DivFOp::create(b, l, mul(mul(constant(0.5), r3), dsT),
                                    c2));
          Value dmuT = mul(constant(1.0 - beta1), hM);
          Value dvarT = mul(constant(1.0 - beta2), hV);
          Value nextM = mul(constant(beta1), hM);
          Value nextV = mul(constant(beta2), hV);
          if (bos) {
            // A bos discards the state before it: no adjoint flows back.
            Value reset = tensor::ExtractOp::create(b, l, bos, {bi, t});
            nextM = arith::SelectOp::create(b, l, reset, constant(0.0), nextM);
            nextV = arith::SelectOp::create(b, l, reset, constant(0.0), nextV);
          }
          return {nextM, nextV, castFloat(b, l, dmuT, computeType),
                  castFloat(b, l, dvarT, computeType)};
        });
    Value dx = timestepInputGrad(rewriter, loc, dyg, fwd.xg, wg, fwd.rstd,
                                 fwd.mu, dmu, dvar, elementType, computeType);
    auto [dw, db] = timestepParameterGrads(rewriter, loc, dyg, fwd.xg, fwd.mean,
                                           fwd.rstd, elementType, computeType);
    SmallVector<Value> results{dx, dw, db};
    if (op.getDmeanIn()) {
      results.push_back(narrowState(rewriter, loc, gM, elementType));
      results.push_back(narrowState(rewriter, loc, gV, elementType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// Megalodon TimestepNorm backward (derived, docs/dialect.md): the
/// recomputed forward (buildTimestepNormForward), ds_t and dc_t as
/// reductions, the adjoint recurrence of the Chan merge as a reverse scalar
/// scan over (b, g, t) in f64, then dx elementwise and dweight, dbias as
/// reductions over (b, t). m_{t-1} is read back from the forward's m_t (the
/// incoming mean at t = 0).
struct LowerTimestepNormGrad : OpConversionPattern<TimestepNormGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepNormGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getDx().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Type f64 = rewriter.getF64Type();
    Type i64 = rewriter.getI64Type();
    int64_t groups = op.getNumGroups();
    TimestepForward fwd = buildTimestepNormForward(
        rewriter, loc, adaptor.getX(), adaptor.getCount(), adaptor.getMean(),
        adaptor.getVar(), groups, op.getEps().convertToDouble(), computeType);
    Value dyg = splitGroups(rewriter, loc, adaptor.getDy(), groups);
    Value wg = splitGroups(rewriter, loc, adaptor.getWeight(), groups);
    Value ds, dc;
    std::tie(ds, dc) = tokenCotangentSums(rewriter, loc, dyg, fwd.xg, wg,
                                          fwd.mean, elementType, computeType);
    auto [gm0, gv0] = outgoingAdjoints(
        rewriter, loc, fwd.m0, adaptor.getDmeanOut(), adaptor.getDvarOut());
    auto [gm, gv, dmu, dvar] = buildReverseScan(
        rewriter, loc, fwd.mu, gm0, gv0,
        [&](OpBuilder &b, Location l, Value bi, Value t, Value gi, Value gmIn,
            Value gvIn) -> AdjointStep {
          auto constant = [&](double v) { return floatConstant(b, l, f64, v); };
          auto mul = [&](Value a, Value c) {
            return arith::MulFOp::create(b, l, a, c).getResult();
          };
          auto sub = [&](Value a, Value c) {
            return arith::SubFOp::create(b, l, a, c).getResult();
          };
          // c_t = 1 / n_t with n_t = n0 + t + 1, as in the forward.
          Value n0 = tensor::ExtractOp::create(b, l, fwd.count0, {bi});
          Value n = arith::AddIOp::create(
              b, l,
              arith::AddIOp::create(b, l, n0,
                                    arith::IndexCastOp::create(b, l, i64, t)),
              arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(1)));
          Value c = arith::DivFOp::create(
              b, l, constant(1.0), arith::SIToFPOp::create(b, l, f64, n));
          Value keep = sub(constant(1.0), c);
          // m_{t-1}: the forward's m at t - 1, or the incoming mean at t = 0
          // (the index is clamped so that the unused read stays in bounds).
          Value zero = indexConstant(b, l, 0);
          Value first =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, t, zero);
          Value prevT = arith::SelectOp::create(
              b, l, first, zero,
              arith::SubIOp::create(b, l, t, indexConstant(b, l, 1)));
          Value mPrev = arith::SelectOp::create(
              b, l, first, tensor::ExtractOp::create(b, l, fwd.m0, {bi, gi}),
              extractF64(b, l, fwd.mean, {bi, prevT, gi}));
          Value r = extractF64(b, l, fwd.rstd, {bi, t, gi});
          Value dcT = extractF64(b, l, dc, {bi, t, gi});
          Value dsT = extractF64(b, l, ds, {bi, t, gi});
          Value muT = extractF64(b, l, fwd.mu, {bi, t, gi});
          // ĝm = ḡm - r dc ;  ĝv = ḡv - ½ r³ ds
          Value hm = sub(gmIn, mul(r, dcT));
          Value hv = sub(gvIn, mul(mul(constant(0.5), mul(mul(r, r), r)), dsT));
          // e = 2 c (1 - c) (mu_t - m_{t-1}) ĝv
          Value e =
              mul(mul(mul(constant(2.0), mul(c, keep)), sub(muT, mPrev)), hv);
          Value dmuT = arith::AddFOp::create(b, l, mul(c, hm), e);
          Value dvarT = mul(c, hv);
          return {sub(mul(keep, hm), e), mul(keep, hv),
                  castFloat(b, l, dmuT, computeType),
                  castFloat(b, l, dvarT, computeType)};
        });
    Value dx = timestepInputGrad(rewriter, loc, dyg, fwd.xg, wg, fwd.rstd,
                                 fwd.mu, dmu, dvar, elementType, computeType);
    auto [dw, db] = timestepParameterGrads(rewriter, loc, dyg, fwd.xg, fwd.mean,
                                           fwd.rstd, elementType, computeType);
    SmallVector<Value> results{dx, dw, db};
    if (op.getDmeanIn()) {
      results.push_back(narrowState(rewriter, loc, gm, elementType));
      results.push_back(narrowState(rewriter, loc, gv, elementType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void populateGeckoNormLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRmsNorm, LowerLayerNorm, LowerTimestepDecayNorm,
               LowerTimestepNorm, LowerRmsNormGrad, LowerLayerNormGrad,
               LowerTimestepDecayNormGrad, LowerTimestepNormGrad>(
      patterns.getContext());
}

} // namespace mlir::gecko
