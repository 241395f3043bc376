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

/// The affine map (d0..d{rank-1}) -> (d_dims[0], d_dims[1], ...).
AffineMap dimsMap(MLIRContext *ctx, int64_t rank, ArrayRef<int64_t> dims) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

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
/// stay in place: linalg-fuse-elementwise-ops replaces its unread `outs`
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

/// The incoming state of a timestep norm: count (B, i64) and (m, v) (B x G,
/// f64), from the operands or (0, mean0, var0) without them.
std::tuple<Value, Value, Value> incomingState(OpBuilder &b, Location loc,
                                              Value x, int64_t groups,
                                              Value count, Value mean,
                                              Value var, double var0) {
  Type f64 = b.getF64Type();
  if (count) {
    auto widen = [&](Value v) {
      return buildElementwise(b, loc, v, f64,
                              [&](OpBuilder &nb, Location nl, ValueRange a) {
                                return castFloat(nb, nl, a[0], f64);
                              });
    };
    return {count, widen(mean), widen(var)};
  }
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

/// The count and bias corrections of TDN: a scalar scan per batch row over
/// t (O(B L), next to the O(B L D) of the rest) that applies the bos resets
/// and writes n_t's corrections c1 = 1 - beta1^n_t and c2 = 1 - beta2^n_t
/// (B x L, compute type); returns (c1, c2, count_out). For f32 compute the
/// powers are the reference's fp32 running products (PowerTable); for f64
/// they are pow(beta, n) in f64, as in the exact semantics.
std::tuple<Value, Value, Value> buildBiasCorrections(OpBuilder &b, Location loc,
                                                     Value x, Value bos,
                                                     Value count0, double beta1,
                                                     double beta2,
                                                     Type computeType) {
  Type i64 = b.getI64Type();
  bool fp32Powers = computeType.isF32();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<OpFoldResult> bl{sizes[0], sizes[1]};
  Value c1Init = emptyTensor(b, loc, bl, computeType);
  Value c2Init = emptyTensor(b, loc, bl, computeType);
  Value countInit = emptyTensor(b, loc, {sizes[0]}, i64);
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  Value batch = getValueOrCreateConstantIndexOp(b, loc, sizes[0]);
  Value length = getValueOrCreateConstantIndexOp(b, loc, sizes[1]);
  std::optional<PowerTable> table1, table2;
  if (fp32Powers) {
    table1.emplace(beta1);
    table2.emplace(beta2);
  }
  auto outer = scf::ForOp::create(
      b, loc, zero, batch, one, ValueRange{c1Init, c2Init, countInit},
      [&](OpBuilder &ob, Location ol, Value bi, ValueRange acc) {
        Value n0 = tensor::ExtractOp::create(ob, ol, count0, ValueRange{bi});
        SmallVector<Value> init{n0, acc[0], acc[1]};
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
              SmallVector<Value> next{n};
              Value c1, c2;
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
                Value p1 = advance(it[3], table1->beta);
                Value p2 = advance(it[4], table2->beta);
                c1 = arith::SubFOp::create(ib, il, oneF, p1);
                c2 = arith::SubFOp::create(ib, il, oneF, p2);
                next.append({p1, p2});
              } else {
                Value nf = arith::SIToFPOp::create(ib, il, computeType, n);
                auto correction = [&](double beta) {
                  Value p = math::PowFOp::create(
                      ib, il, floatConstant(ib, il, computeType, beta), nf);
                  return arith::SubFOp::create(ib, il, oneF, p).getResult();
                };
                c1 = correction(beta1);
                c2 = correction(beta2);
              }
              Value c1Acc = tensor::InsertOp::create(ib, il, c1, it[1],
                                                     ValueRange{bi, t});
              Value c2Acc = tensor::InsertOp::create(ib, il, c2, it[2],
                                                     ValueRange{bi, t});
              SmallVector<Value> yielded{n, c1Acc, c2Acc};
              if (fp32Powers)
                yielded.append({next[1], next[2]});
              scf::YieldOp::create(ib, il, yielded);
            });
        Value countAcc = tensor::InsertOp::create(ob, ol, inner.getResult(0),
                                                  acc[2], ValueRange{bi});
        scf::YieldOp::create(
            ob, ol,
            ValueRange{inner.getResult(1), inner.getResult(2), countAcc});
      });
  return {outer.getResult(0), outer.getResult(1), outer.getResult(2)};
}

/// Gecko's TDN (spec 3.2): token statistics, bias corrections per row, the
/// EMA scan over (B, G), then the elementwise normalisation.
struct LowerTimestepDecayNorm : OpConversionPattern<TimestepDecayNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepDecayNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getY().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Type f64 = rewriter.getF64Type();
    int64_t groups = op.getNumGroups();
    double beta1 = op.getBeta1().convertToDouble();
    double beta2 = op.getBeta2().convertToDouble();
    // The f32 path uses the reference's fp32 betas throughout (they also
    // weigh the EMA updates), as Config::tdnFp32BiasCorrection does.
    if (computeType.isF32()) {
      beta1 = static_cast<float>(beta1);
      beta2 = static_cast<float>(beta2);
    }
    double eps = op.getEps().convertToDouble();
    Value x = adaptor.getX();
    auto [xg, mu, var] = tokenStatistics(rewriter, loc, x, groups, computeType);
    auto [count0, m0, v0] =
        incomingState(rewriter, loc, x, groups, adaptor.getCount(),
                      adaptor.getMean(), adaptor.getVar(), 0.0);
    Value bos = adaptor.getBos();
    auto [c1, c2, countOut] = buildBiasCorrections(
        rewriter, loc, x, bos, count0, beta1, beta2, computeType);

    SmallVector<Value> stepRows{c1, c2};
    if (bos)
      stepRows.push_back(bos);
    auto [mOut, vOut, mean, rstd] = buildTimeScan(
        rewriter, loc, mu, var, stepRows, {}, m0, v0,
        [&](OpBuilder &b, Location l, Value, ValueRange in, Value m,
            Value v) -> ScanStep {
          Value muT = castFloat(b, l, in[0], f64);
          Value varT = castFloat(b, l, in[1], f64);
          auto ema = [&](Value state, Value stat, double beta) {
            Value fresh = arith::MulFOp::create(
                b, l, floatConstant(b, l, f64, 1.0 - beta), stat);
            Value decayed = arith::AddFOp::create(
                b, l,
                arith::MulFOp::create(b, l, floatConstant(b, l, f64, beta),
                                      state),
                fresh);
            return bos ? arith::SelectOp::create(b, l, in[4], fresh, decayed)
                             .getResult()
                       : decayed;
          };
          Value mNew = ema(m, muT, beta1);
          Value vNew = ema(v, varT, beta2);
          // mhat = M / c1 and r = (V / c2 + eps)^(-1/2) from the state
          // rounded to the compute type, as the reference's fp32 kernel.
          Value mC = castFloat(b, l, mNew, computeType);
          Value vC = castFloat(b, l, vNew, computeType);
          Value mhat = arith::DivFOp::create(b, l, mC, in[2]);
          Value vhat = arith::DivFOp::create(b, l, vC, in[3]);
          Value rstd = math::RsqrtOp::create(
              b, l,
              arith::AddFOp::create(b, l, vhat,
                                    floatConstant(b, l, computeType, eps)));
          return {mNew, vNew, mhat, rstd};
        });
    AffineMap statMap = leadingMap(getContext(), 4);
    Value y = normalize(rewriter, loc, xg, mean, rstd, statMap,
                        splitGroups(rewriter, loc, adaptor.getWeight(), groups),
                        splitGroups(rewriter, loc, adaptor.getBias(), groups),
                        computeType);
    rewriter.replaceOp(
        op,
        ValueRange{y, countOut, narrowState(rewriter, loc, mOut, elementType),
                   narrowState(rewriter, loc, vOut, elementType)});
    return success();
  }
};

/// Megalodon's TimestepNorm (spec 9): token statistics, a Chan-merge scan
/// over (B, G) with n_t = n0 + t + 1 (no resets, so no count scan), then the
/// elementwise normalisation.
struct LowerTimestepNorm : OpConversionPattern<TimestepNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TimestepNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getY().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Type f64 = rewriter.getF64Type();
    Type i64 = rewriter.getI64Type();
    int64_t groups = op.getNumGroups();
    double eps = op.getEps().convertToDouble();
    Value x = adaptor.getX();
    auto [xg, mu, var] = tokenStatistics(rewriter, loc, x, groups, computeType);
    auto [count0, m0, v0] =
        incomingState(rewriter, loc, x, groups, adaptor.getCount(),
                      adaptor.getMean(), adaptor.getVar(), 1.0);
    auto [mOut, vOut, mean, rstd] = buildTimeScan(
        rewriter, loc, mu, var, {}, {count0}, m0, v0,
        [&](OpBuilder &b, Location l, Value t, ValueRange in, Value m,
            Value v) -> ScanStep {
          // c = 1 / n_t with n_t = n0 + t + 1 (exact in f64 below 2^53).
          Value step = arith::IndexCastOp::create(b, l, i64, t);
          Value n = arith::AddIOp::create(
              b, l, arith::AddIOp::create(b, l, in[2], step),
              arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(1)));
          Value one = floatConstant(b, l, f64, 1.0);
          Value c = arith::DivFOp::create(
              b, l, one, arith::SIToFPOp::create(b, l, f64, n));
          Value keep = arith::SubFOp::create(b, l, one, c);
          Value delta =
              arith::SubFOp::create(b, l, castFloat(b, l, in[0], f64), m);
          Value mNew = arith::AddFOp::create(
              b, l, m, arith::MulFOp::create(b, l, c, delta));
          // v' = (1-c) v + c var + c (1-c) delta^2
          Value spread =
              arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, c, keep),
                                    arith::MulFOp::create(b, l, delta, delta));
          Value vNew = arith::AddFOp::create(
              b, l,
              arith::AddFOp::create(
                  b, l, arith::MulFOp::create(b, l, keep, v),
                  arith::MulFOp::create(b, l, c, castFloat(b, l, in[1], f64))),
              spread);
          Value mC = castFloat(b, l, mNew, computeType);
          Value rstd = math::RsqrtOp::create(
              b, l,
              arith::AddFOp::create(b, l, castFloat(b, l, vNew, computeType),
                                    floatConstant(b, l, computeType, eps)));
          return {mNew, vNew, mC, rstd};
        });
    // count_out = n0 + L.
    Value length = arith::IndexCastOp::create(
        rewriter, loc, i64, tensor::DimOp::create(rewriter, loc, x, 1));
    Value countOut = buildElementwise(
        rewriter, loc, count0, i64,
        [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::AddIOp::create(b, l, a[0], length).getResult();
        });
    AffineMap statMap = leadingMap(getContext(), 4);
    Value y = normalize(rewriter, loc, xg, mean, rstd, statMap,
                        splitGroups(rewriter, loc, adaptor.getWeight(), groups),
                        splitGroups(rewriter, loc, adaptor.getBias(), groups),
                        computeType);
    rewriter.replaceOp(
        op,
        ValueRange{y, countOut, narrowState(rewriter, loc, mOut, elementType),
                   narrowState(rewriter, loc, vOut, elementType)});
    return success();
  }
};

} // namespace

void populateGeckoNormLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRmsNorm, LowerLayerNorm, LowerTimestepDecayNorm,
               LowerTimestepNorm>(patterns.getContext());
}

} // namespace mlir::gecko
