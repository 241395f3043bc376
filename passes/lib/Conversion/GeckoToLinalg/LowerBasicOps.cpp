//===- LowerBasicOps.cpp - Lowering of the gecko basic family -------------===//
//
// Patterns rewriting the basic family (docs/dialect.md: embedding, linear,
// z_affine, rope, silu, swiglu and their _grad ops) into linalg, tensor, scf,
// arith and math. See LoweringUtils.h for the shared builders.
//
// Common shape of every lowering: widen the operands to the compute type
// (f32, f64 for f64 tensors) inside the linalg body, do all arithmetic and
// accumulation there, and round to the op's element type once at the end.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::gecko {
namespace {

using namespace lowering;

/// Elementwise generic with several results (all of inputs[0]'s shape, one
/// element type each).
SmallVector<Value> buildElementwiseMulti(OpBuilder &b, Location loc,
                                         ValueRange inputs,
                                         ArrayRef<Type> resultElementTypes,
                                         GenericBodyFn body) {
  int64_t rank = cast<RankedTensorType>(inputs.front().getType()).getRank();
  SmallVector<Value> inits;
  for (Type t : resultElementTypes)
    inits.push_back(emptyTensorLike(b, loc, inputs.front(), t));
  SmallVector<AffineMap> maps(inputs.size() + inits.size(),
                              b.getMultiDimIdentityMap(rank));
  return buildGeneric(b, loc, inputs, inits, maps, parallelIterators(rank),
                      [&](OpBuilder &nb, Location nl, ValueRange args) {
                        return body(nb, nl, args.take_front(inputs.size()));
                      });
}

/// Rounds a compute-type tensor to `elementType` (no op when equal).
Value castTensor(OpBuilder &b, Location loc, Value tensor, Type elementType) {
  if (cast<RankedTensorType>(tensor.getType()).getElementType() == elementType)
    return tensor;
  return buildElementwise(b, loc, tensor, elementType,
                          [&](OpBuilder &nb, Location nl, ValueRange args) {
                            return castFloat(nb, nl, args[0], elementType);
                          });
}

/// A float scalar of type `type` holding the index-typed `value`.
Value indexToFloat(OpBuilder &b, Location loc, Value value, Type type) {
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), value);
  return arith::SIToFPOp::create(b, loc, type, i64);
}

/// sigma(x) = 1 / (1 + exp(-x)).
Value buildSigmoid(OpBuilder &b, Location loc, Value x) {
  Value exp = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  Value one = floatConstant(b, loc, x.getType(), 1.0);
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, one, exp));
}

/// silu(x) = x / (1 + exp(-x)), evaluated in the compute type.
Value buildSilu(OpBuilder &b, Location loc, Value x) {
  Value negated = arith::NegFOp::create(b, loc, x);
  Value exp = math::ExpOp::create(b, loc, negated);
  Value one = floatConstant(b, loc, x.getType(), 1.0);
  Value denominator = arith::AddFOp::create(b, loc, one, exp);
  return arith::DivFOp::create(b, loc, x, denominator);
}

/// silu'(x) = sigma(x) (1 + x (1 - sigma(x))).
Value buildSiluDerivative(OpBuilder &b, Location loc, Value x) {
  Value sigma = buildSigmoid(b, loc, x);
  Value one = floatConstant(b, loc, x.getType(), 1.0);
  Value oneMinus = arith::SubFOp::create(b, loc, one, sigma);
  Value inner = arith::AddFOp::create(
      b, loc, one, arith::MulFOp::create(b, loc, x, oneMinus));
  return arith::MulFOp::create(b, loc, sigma, inner);
}

/// Views x ([..., n], rank >= 1) as a 2-D M x n tensor.
Value flattenTo2d(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  if (rank == 2)
    return x;
  if (rank == 1) {
    SmallVector<OpFoldResult> shape = {b.getIndexAttr(1),
                                       getSizes(b, loc, x)[0]};
    auto resultType =
        RankedTensorType::get({1, type.getDimSize(0)}, type.getElementType());
    return tensor::ExpandShapeOp::create(
        b, loc, resultType, x, ArrayRef<ReassociationIndices>{{0, 1}}, shape);
  }
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < rank; ++i)
    leading.push_back(i);
  return tensor::CollapseShapeOp::create(
      b, loc, x,
      ArrayRef<ReassociationIndices>{leading, ReassociationIndices{rank - 1}});
}

/// Inverse of flattenTo2d: views the M x n tensor `flat` with the leading
/// dimensions of `like` (rank >= 1), as `resultType`.
Value unflattenFrom2d(OpBuilder &b, Location loc, Value flat, Value like,
                      RankedTensorType resultType) {
  int64_t rank = resultType.getRank();
  if (rank == 2)
    return flat;
  if (rank == 1)
    return tensor::CollapseShapeOp::create(
        b, loc, resultType, flat, ArrayRef<ReassociationIndices>{{0, 1}});
  SmallVector<OpFoldResult> shape = getSizes(b, loc, like);
  shape.back() = getSizes(b, loc, flat)[1];
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < rank; ++i)
    leading.push_back(i);
  return tensor::ExpandShapeOp::create(
      b, loc, resultType, flat,
      ArrayRef<ReassociationIndices>{leading, ReassociationIndices{rank - 1}},
      shape);
}

/// A 2-D contraction out[p, q] = init[p, q] + sum_r lhs(.) * rhs(.) as a
/// linalg.generic over (p, q, r); the maps say where lhs and rhs are read.
/// Operands are widened to the init's (compute) element type in the body.
Value buildContraction(OpBuilder &b, Location loc, Value lhs, AffineMap lhsMap,
                       Value rhs, AffineMap rhsMap, Value init) {
  MLIRContext *ctx = b.getContext();
  Type computeType = cast<RankedTensorType>(init.getType()).getElementType();
  AffineMap outMap = dimsMap(ctx, 3, {0, 1});
  return buildGeneric(
      b, loc, {lhs, rhs}, {init}, {lhsMap, rhsMap, outMap},
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](OpBuilder &nb, Location nl, ValueRange args) -> SmallVector<Value> {
        Value l = castFloat(nb, nl, args[0], computeType);
        Value r = castFloat(nb, nl, args[1], computeType);
        Value product = arith::MulFOp::create(nb, nl, l, r);
        return {arith::AddFOp::create(nb, nl, args[2], product)};
      })[0];
}

/// A scalar float of `type` equal to sqrt(dimension `dim` of `tensor`).
Value sqrtOfDim(OpBuilder &b, Location loc, Value tensor, int64_t dim,
                Type type) {
  auto tensorType = cast<RankedTensorType>(tensor.getType());
  if (!tensorType.isDynamicDim(dim))
    return floatConstant(b, loc, type,
                         std::sqrt(double(tensorType.getDimSize(dim))));
  Value size = tensor::DimOp::create(b, loc, tensor, dim);
  return math::SqrtOp::create(b, loc, indexToFloat(b, loc, size, type));
}

//===----------------------------------------------------------------------===//
// silu, swiglu and their gradients: single elementwise generics.
//===----------------------------------------------------------------------===//

struct LowerSilu : OpConversionPattern<SiluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SiluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value result = buildElementwise(
        rewriter, loc, adaptor.getX(), elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = castFloat(b, l, args[0], computeType);
          return castFloat(b, l, buildSilu(b, l, x), elementType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// dx = dy * silu'(x).
struct LowerSiluGrad : OpConversionPattern<SiluGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SiluGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value result = buildElementwise(
        rewriter, loc, {adaptor.getDy(), adaptor.getX()}, elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value dy = castFloat(b, l, args[0], computeType);
          Value x = castFloat(b, l, args[1], computeType);
          Value dx =
              arith::MulFOp::create(b, l, dy, buildSiluDerivative(b, l, x));
          return castFloat(b, l, dx, elementType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// y = silu(a) * b.
struct LowerSwiglu : OpConversionPattern<SwigluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SwigluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value result = buildElementwise(
        rewriter, loc, {adaptor.getA(), adaptor.getB()}, elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value a = castFloat(b, l, args[0], computeType);
          Value gate = castFloat(b, l, args[1], computeType);
          Value y = arith::MulFOp::create(b, l, buildSilu(b, l, a), gate);
          return castFloat(b, l, y, elementType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// da = dy * b * silu'(a), db = dy * silu(a): one generic, two results.
struct LowerSwigluGrad : OpConversionPattern<SwigluGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SwigluGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getDa().getType().getElementType();
    Type computeType = getComputeType(elementType);
    SmallVector<Value> results = buildElementwiseMulti(
        rewriter, loc, {adaptor.getDy(), adaptor.getA(), adaptor.getB()},
        {elementType, elementType},
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value dy = castFloat(b, l, args[0], computeType);
          Value a = castFloat(b, l, args[1], computeType);
          Value gate = castFloat(b, l, args[2], computeType);
          Value da =
              arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, dy, gate),
                                    buildSiluDerivative(b, l, a));
          Value db = arith::MulFOp::create(b, l, dy, buildSilu(b, l, a));
          return {castFloat(b, l, da, elementType),
                  castFloat(b, l, db, elementType)};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// embedding: a gather generic; embedding_grad: a scatter-add loop.
//===----------------------------------------------------------------------===//

/// x[b,t,:] = table[clamp(tokens[b,t]), :] (* sqrt(D)). One generic over
/// (b, t, d) whose body reads the table with tensor.extract. Tokens are
/// validated by the runtime (an out-of-range token is a run-time error per
/// docs/dialect.md); the lowering additionally clamps every token into
/// [0, V-1] so that bad data can never read out of bounds.
struct LowerEmbedding : OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value table = adaptor.getTable();
    Value tokens = adaptor.getTokens();
    RankedTensorType resultType = op.getType();
    Type elementType = resultType.getElementType();
    Type computeType = getComputeType(elementType);

    Value vocab = tensor::DimOp::create(rewriter, loc, table, 0);
    Value maxToken = arith::SubIOp::create(
        rewriter, loc,
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), vocab),
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(), 1));
    Value scale;
    if (op.getScaleEmb())
      scale = sqrtOfDim(rewriter, loc, table, 1, computeType);

    SmallVector<OpFoldResult> sizes = getSizes(rewriter, loc, tokens);
    sizes.push_back(getSizes(rewriter, loc, table)[1]);
    Value init = emptyTensor(rewriter, loc, sizes, elementType);
    Value result = buildGeneric(
        rewriter, loc, {tokens}, {init},
        {dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {0, 1, 2})},
        parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value zero = arith::ConstantIntOp::create(b, l, b.getI64Type(), 0);
          Value token = arith::MaxSIOp::create(b, l, args[0], zero);
          token = arith::MinSIOp::create(b, l, token, maxToken);
          Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), token);
          Value column = linalg::IndexOp::create(b, l, 2);
          Value value =
              tensor::ExtractOp::create(b, l, table, ValueRange{row, column});
          if (scale) {
            Value wide = castFloat(b, l, value, computeType);
            value = castFloat(b, l, arith::MulFOp::create(b, l, wide, scale),
                              elementType);
          }
          return {value};
        })[0];
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// dtable[v,:] = sum_{tokens[r] = v} dx[r,:] (* sqrt(D)): an scf.for over the
/// B*L tokens adding each dx row into its table row of a zero-initialised
/// compute-type accumulator (extract_slice / generic add / insert_slice,
/// in place after bufferization), then one scale-and-round generic. A token
/// outside [0, V) adds nothing (the runtime reports it; the lowering never
/// writes out of bounds).
struct LowerEmbeddingGrad : OpConversionPattern<EmbeddingGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmbeddingGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType resultType = op.getType();
    Type elementType = resultType.getElementType();
    Type computeType = getComputeType(elementType);
    int64_t vocabSize = op.getVocabSize();

    // Rows r = b*L + t.
    Value dx = tensor::CollapseShapeOp::create(
        rewriter, loc, adaptor.getDx(),
        ArrayRef<ReassociationIndices>{{0, 1}, {2}});
    Value tokens =
        tensor::CollapseShapeOp::create(rewriter, loc, adaptor.getTokens(),
                                        ArrayRef<ReassociationIndices>{{0, 1}});
    OpFoldResult width = getSizes(rewriter, loc, dx)[1];
    Value rows = tensor::DimOp::create(rewriter, loc, dx, 0);
    Value acc =
        filledTensor(rewriter, loc, {rewriter.getIndexAttr(vocabSize), width},
                     computeType, 0.0);

    Value zeroIndex = indexConstant(rewriter, loc, 0);
    Value oneIndex = indexConstant(rewriter, loc, 1);
    Value zeroI64 =
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(), 0);
    Value vocabI64 = arith::ConstantIntOp::create(
        rewriter, loc, rewriter.getI64Type(), vocabSize);
    auto rowType = RankedTensorType::get(
        {cast<RankedTensorType>(dx.getType()).getDimSize(1)}, computeType);
    auto dxRowType = RankedTensorType::get(
        {cast<RankedTensorType>(dx.getType()).getDimSize(1)},
        cast<RankedTensorType>(dx.getType()).getElementType());

    auto loop = scf::ForOp::create(
        rewriter, loc, zeroIndex, rows, oneIndex, ValueRange{acc},
        [&](OpBuilder &b, Location l, Value r, ValueRange iterArgs) {
          Value current = iterArgs[0];
          Value token = tensor::ExtractOp::create(b, l, tokens, ValueRange{r});
          Value inRange = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, token,
                                    zeroI64),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, token,
                                    vocabI64));
          auto ifOp = scf::IfOp::create(
              b, l, inRange,
              [&](OpBuilder &tb, Location tl) {
                Value v = arith::IndexCastOp::create(tb, tl, tb.getIndexType(),
                                                     token);
                SmallVector<OpFoldResult> ones = {tb.getIndexAttr(1),
                                                  tb.getIndexAttr(1)};
                Value row = tensor::ExtractSliceOp::create(
                    tb, tl, rowType, current,
                    ArrayRef<OpFoldResult>{v, tb.getIndexAttr(0)},
                    ArrayRef<OpFoldResult>{tb.getIndexAttr(1), width}, ones);
                Value dxRow = tensor::ExtractSliceOp::create(
                    tb, tl, dxRowType, dx,
                    ArrayRef<OpFoldResult>{r, tb.getIndexAttr(0)},
                    ArrayRef<OpFoldResult>{tb.getIndexAttr(1), width}, ones);
                Value sum = buildGeneric(
                    tb, tl, {dxRow}, {row},
                    {dimsMap(ctx, 1, {0}), dimsMap(ctx, 1, {0})},
                    parallelIterators(1),
                    [&](OpBuilder &gb, Location gl,
                        ValueRange args) -> SmallVector<Value> {
                      Value g = castFloat(gb, gl, args[0], computeType);
                      return {arith::AddFOp::create(gb, gl, args[1], g)};
                    })[0];
                Value updated = tensor::InsertSliceOp::create(
                    tb, tl, sum, current,
                    ArrayRef<OpFoldResult>{v, tb.getIndexAttr(0)},
                    ArrayRef<OpFoldResult>{tb.getIndexAttr(1), width}, ones);
                scf::YieldOp::create(tb, tl, updated);
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, current);
              });
          scf::YieldOp::create(b, l, ifOp.getResult(0));
        });

    Value scale;
    if (op.getScaleEmb())
      scale = sqrtOfDim(rewriter, loc, adaptor.getDx(), 2, computeType);
    Value result =
        buildElementwise(rewriter, loc, loop.getResult(0), elementType,
                         [&](OpBuilder &b, Location l, ValueRange args) {
                           Value value = args[0];
                           if (scale)
                             value = arith::MulFOp::create(b, l, value, scale);
                           return castFloat(b, l, value, elementType);
                         });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// linear and linear_grad: 2-D contraction generics on flattened operands.
//===----------------------------------------------------------------------===//

/// y = x W^T + b. x is collapsed to M x IN; one contraction generic over
/// (m, o, i) reads W[o, i] (the transpose lives in the indexing map),
/// accumulating in the compute type into an init holding the broadcast bias
/// (or zero); then one rounding generic (narrow types only) and the
/// expand_shape back to [..., OUT].
struct LowerLinear : OpConversionPattern<LinearOp> {
  /// Fewest rows M for which W is transposed first.
  static constexpr int64_t kTransposeMinRows = 16;

  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType resultType = op.getType();
    Type elementType = resultType.getElementType();
    Type computeType = getComputeType(elementType);
    Value x2 = flattenTo2d(rewriter, loc, adaptor.getX());
    Value weight = adaptor.getWeight();
    SmallVector<OpFoldResult> sizes = {getSizes(rewriter, loc, x2)[0],
                                       getSizes(rewriter, loc, weight)[0]};
    Value init;
    if (Value bias = adaptor.getBias()) {
      Value empty = emptyTensor(rewriter, loc, sizes, computeType);
      init = buildGeneric(
          rewriter, loc, {bias}, {empty},
          {dimsMap(ctx, 2, {1}), dimsMap(ctx, 2, {0, 1})}, parallelIterators(2),
          [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
            return {castFloat(b, l, args[0], computeType)};
          })[0];
    } else {
      init = filledTensor(rewriter, loc, sizes, computeType, 0.0);
    }
    // (m, o, i): x[m, i] * W[o, i], or x[m, i] * Wt[i, o] with W transposed
    // once (a linalg.transpose, which elementwise fusion leaves alone) when
    // M >= kTransposeMinRows: gecko-interchange-contractions can then put o
    // innermost, contiguous in Wt and y, and LLVM vectorizes the loop over o
    // without reordering any sum (docs/perf.md). The transpose costs one
    // pass over W and a W-sized temporary, against M passes of the product;
    // decode steps (M = batch) keep the dot-product form.
    auto x2Type = cast<RankedTensorType>(x2.getType());
    Value y;
    if (x2Type.isDynamicDim(0) || x2Type.getDimSize(0) >= kTransposeMinRows) {
      OpFoldResult in = getSizes(rewriter, loc, weight)[1];
      Value transposed = emptyTensor(
          rewriter, loc, {in, sizes[1]},
          cast<RankedTensorType>(weight.getType()).getElementType());
      Value weightT =
          linalg::TransposeOp::create(rewriter, loc, weight, transposed,
                                      ArrayRef<int64_t>{1, 0})
              .getResult()[0];
      y = buildContraction(rewriter, loc, x2, dimsMap(ctx, 3, {0, 2}), weightT,
                           dimsMap(ctx, 3, {2, 1}), init);
    } else {
      y = buildContraction(rewriter, loc, x2, dimsMap(ctx, 3, {0, 2}), weight,
                           dimsMap(ctx, 3, {1, 2}), init);
    }
    y = castTensor(rewriter, loc, y, elementType);
    rewriter.replaceOp(
        op, unflattenFrom2d(rewriter, loc, y, adaptor.getX(), resultType));
    return success();
  }
};

/// dx = dy W (generic over (m, i, o)), dW = dy^T x (generic over (o, i, m)),
/// db = column sums of dy (generic over (o, m)), all accumulated in the
/// compute type on the flattened M-row views and rounded at the end.
struct LowerLinearGrad : OpConversionPattern<LinearGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LinearGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type elementType = op.getDx().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value dy2 = flattenTo2d(rewriter, loc, adaptor.getDy());
    Value x2 = flattenTo2d(rewriter, loc, adaptor.getX());
    Value weight = adaptor.getWeight();
    OpFoldResult rows = getSizes(rewriter, loc, x2)[0];
    OpFoldResult in = getSizes(rewriter, loc, weight)[1];
    OpFoldResult out = getSizes(rewriter, loc, weight)[0];

    // dx[m, i] = sum_o dy[m, o] W[o, i]: loops (m, i, o).
    Value dx = buildContraction(
        rewriter, loc, dy2, dimsMap(ctx, 3, {0, 2}), weight,
        dimsMap(ctx, 3, {2, 1}),
        filledTensor(rewriter, loc, {rows, in}, computeType, 0.0));
    dx = castTensor(rewriter, loc, dx, elementType);
    dx = unflattenFrom2d(rewriter, loc, dx, adaptor.getX(),
                         op.getDx().getType());

    // dW[o, i] = sum_m dy[m, o] x[m, i]: loops (o, i, m).
    Value dweight = buildContraction(
        rewriter, loc, dy2, dimsMap(ctx, 3, {2, 0}), x2,
        dimsMap(ctx, 3, {2, 1}),
        filledTensor(rewriter, loc, {out, in}, computeType, 0.0));
    dweight = castTensor(rewriter, loc, dweight, elementType);

    SmallVector<Value> results = {dx, dweight};
    if (op.getWithBias()) {
      // db[o] = sum_m dy[m, o]: loops (o, m).
      Value db = buildGeneric(
          rewriter, loc, {dy2},
          {filledTensor(rewriter, loc, {out}, computeType, 0.0)},
          {dimsMap(ctx, 2, {1, 0}), dimsMap(ctx, 2, {0})},
          {utils::IteratorType::parallel, utils::IteratorType::reduction},
          [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
            Value g = castFloat(b, l, args[0], computeType);
            return {arith::AddFOp::create(b, l, args[1], g)};
          })[0];
      results.push_back(castTensor(rewriter, loc, db, elementType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// z_affine and z_affine_grad.
//===----------------------------------------------------------------------===//

/// g = fl_T(1 + gamma) / sqrt(d_k) as a 4 x S compute-type tensor. "1 + Γ" is
/// rounded to the op's element type T (formed in the compute dtype, spec §5:
/// under bf16 the offset is a bf16 value); the division is in the compute
/// type.
Value buildZAffineScale(OpBuilder &b, Location loc, Value gamma,
                        Type elementType, Type computeType, int64_t headDim) {
  return buildElementwise(
      b, loc, gamma, computeType,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value one = floatConstant(nb, nl, computeType, 1.0);
        Value g = castFloat(nb, nl, args[0], computeType);
        Value s = arith::AddFOp::create(nb, nl, one, g);
        s = castFloat(nb, nl, castFloat(nb, nl, s, elementType), computeType);
        Value sqrtDk =
            floatConstant(nb, nl, computeType, std::sqrt(double(headDim)));
        return arith::DivFOp::create(nb, nl, s, sqrtDk).getResult();
      });
}

/// Row i (a rank-reduced S vector) of a 4 x S tensor.
Value extractRow(OpBuilder &b, Location loc, Value matrix, int64_t i) {
  auto type = cast<RankedTensorType>(matrix.getType());
  OpFoldResult width = getSizes(b, loc, matrix)[1];
  auto rowType =
      RankedTensorType::get({type.getDimSize(1)}, type.getElementType());
  return tensor::ExtractSliceOp::create(
      b, loc, rowType, matrix,
      ArrayRef<OpFoldResult>{b.getIndexAttr(i), b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), width},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

/// zeta_i = z * g_i + beta_i for i = q, k, aq, ak: a small generic forming
/// g (4 x S), then one generic over (b, t, s) with four results.
struct LowerZAffine : OpConversionPattern<ZAffineOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ZAffineOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value z = adaptor.getZ();
    Type elementType = op.getQ().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value g = buildZAffineScale(rewriter, loc, adaptor.getGamma(), elementType,
                                computeType, op.getHeadDim());
    SmallVector<Value> inputs = {z};
    for (int64_t i = 0; i < 4; ++i)
      inputs.push_back(extractRow(rewriter, loc, g, i));
    for (int64_t i = 0; i < 4; ++i)
      inputs.push_back(extractRow(rewriter, loc, adaptor.getBeta(), i));
    SmallVector<AffineMap> maps = {dimsMap(ctx, 3, {0, 1, 2})};
    for (int64_t i = 0; i < 8; ++i)
      maps.push_back(dimsMap(ctx, 3, {2}));
    SmallVector<Value> inits;
    for (int64_t i = 0; i < 4; ++i) {
      inits.push_back(emptyTensorLike(rewriter, loc, z, elementType));
      maps.push_back(dimsMap(ctx, 3, {0, 1, 2}));
    }
    SmallVector<Value> results = buildGeneric(
        rewriter, loc, inputs, inits, maps, parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value zc = castFloat(b, l, args[0], computeType);
          SmallVector<Value> out;
          for (int64_t i = 0; i < 4; ++i) {
            Value beta = castFloat(b, l, args[5 + i], computeType);
            Value zeta = arith::AddFOp::create(
                b, l, arith::MulFOp::create(b, l, zc, args[1 + i]), beta);
            out.push_back(castFloat(b, l, zeta, elementType));
          }
          return out;
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// dz = sum_i dzeta_i * g_i (one elementwise generic over the present
/// cotangents); dgamma[i] = sum_{b,t} dzeta_i * z / sqrt(d_k) and
/// dbeta[i] = sum_{b,t} dzeta_i (one generic over (b, t, s) with reduction
/// iterators on b, t and two S-vector results per present cotangent),
/// assembled into zero 4 x S tensors and rounded.
struct LowerZAffineGrad : OpConversionPattern<ZAffineGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ZAffineGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value z = adaptor.getZ();
    Value gamma = adaptor.getGamma();
    Type elementType = op.getDz().getType().getElementType();
    Type computeType = getComputeType(elementType);
    int64_t headDim = op.getHeadDim();
    Value g = buildZAffineScale(rewriter, loc, gamma, elementType, computeType,
                                headDim);

    SmallVector<int64_t> present;
    SmallVector<Value> cotangents;
    Value all[4] = {adaptor.getDq(), adaptor.getDk(), adaptor.getDaq(),
                    adaptor.getDak()};
    for (int64_t i = 0; i < 4; ++i)
      if (all[i]) {
        present.push_back(i);
        cotangents.push_back(all[i]);
      }
    if (present.empty())
      return rewriter.notifyMatchFailure(op, "no cotangent present");
    int64_t n = present.size();

    // dz.
    SmallVector<Value> inputs(cotangents);
    SmallVector<AffineMap> maps(n, dimsMap(ctx, 3, {0, 1, 2}));
    for (int64_t i : present) {
      inputs.push_back(extractRow(rewriter, loc, g, i));
      maps.push_back(dimsMap(ctx, 3, {2}));
    }
    maps.push_back(dimsMap(ctx, 3, {0, 1, 2}));
    Value dz = buildGeneric(
        rewriter, loc, inputs, {emptyTensorLike(rewriter, loc, z, elementType)},
        maps, parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value sum;
          for (int64_t k = 0; k < n; ++k) {
            Value term = arith::MulFOp::create(
                b, l, castFloat(b, l, args[k], computeType), args[n + k]);
            sum =
                sum ? arith::AddFOp::create(b, l, sum, term).getResult() : term;
          }
          return {castFloat(b, l, sum, elementType)};
        })[0];

    // Column sums over (b, t).
    OpFoldResult width = getSizes(rewriter, loc, gamma)[1];
    SmallVector<Value> reduceInputs(cotangents);
    reduceInputs.push_back(z);
    SmallVector<AffineMap> reduceMaps(n + 1, dimsMap(ctx, 3, {0, 1, 2}));
    SmallVector<Value> inits;
    for (int64_t k = 0; k < 2 * n; ++k) {
      inits.push_back(filledTensor(rewriter, loc, {width}, computeType, 0.0));
      reduceMaps.push_back(dimsMap(ctx, 3, {2}));
    }
    SmallVector<Value> sums = buildGeneric(
        rewriter, loc, reduceInputs, inits, reduceMaps,
        {utils::IteratorType::reduction, utils::IteratorType::reduction,
         utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value zc = castFloat(b, l, args[n], computeType);
          SmallVector<Value> out;
          for (int64_t k = 0; k < n; ++k) {
            Value d = castFloat(b, l, args[k], computeType);
            out.push_back(arith::AddFOp::create(
                b, l, args[n + 1 + 2 * k], arith::MulFOp::create(b, l, d, zc)));
            out.push_back(arith::AddFOp::create(b, l, args[n + 2 + 2 * k], d));
          }
          return out;
        });

    // Assemble the 4 x S results in one generic over (i, s): row i selects
    // its column sums (zero for an absent cotangent), dgamma divided by
    // sqrt(d_k), both rounded to T.
    Value sqrtDk =
        floatConstant(rewriter, loc, computeType, std::sqrt(double(headDim)));
    SmallVector<OpFoldResult> matrixSizes = {rewriter.getIndexAttr(4), width};
    SmallVector<AffineMap> assembleMaps(2 * n, dimsMap(ctx, 2, {1}));
    assembleMaps.append(2, dimsMap(ctx, 2, {0, 1}));
    SmallVector<Value> assembled = buildGeneric(
        rewriter, loc, sums,
        {emptyTensor(rewriter, loc, matrixSizes, elementType),
         emptyTensor(rewriter, loc, matrixSizes, elementType)},
        assembleMaps, parallelIterators(2),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value row = linalg::IndexOp::create(b, l, 0);
          Value dg = floatConstant(b, l, computeType, 0.0);
          Value db = dg;
          for (int64_t k = 0; k < n; ++k) {
            Value isRow =
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, row,
                                      indexConstant(b, l, present[k]));
            dg = arith::SelectOp::create(b, l, isRow, args[2 * k], dg);
            db = arith::SelectOp::create(b, l, isRow, args[2 * k + 1], db);
          }
          dg = arith::DivFOp::create(b, l, dg, sqrtDk);
          return {castFloat(b, l, dg, elementType),
                  castFloat(b, l, db, elementType)};
        });
    Value dgamma = assembled[0], dbeta = assembled[1];
    rewriter.replaceOp(op, {dz, dgamma, dbeta});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// rope.
//===----------------------------------------------------------------------===//

/// One generic over (b, t, s) on x (B x L x S, channel s = h*d + 2j + p)
/// reads both members of pair j through floordiv indexing maps and selects
/// the p-th component of the rotated pair; channels of heads h >= R select
/// the input element unchanged (one pass over x, no copy). The frequencies
/// follow the op's exact f32 recipe, w_j = fl32(1 / fl32(base^(2j/d))), folded
/// at compile time into a d/2 constant; tau = fl32(start + t) and a = fl32(tau
/// * w_j) are f32; cos/sin and the rotation are in the compute type (f64 for
/// f64 inputs, from the f32 angle). Needs a static S (the constant table size).
struct LowerRope : OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getX();
    auto type = cast<RankedTensorType>(x.getType());
    int64_t numHeads = op.getNumHeads();
    int64_t ropeHeads = op.getNumRopeHeads();
    if (ropeHeads == 0) {
      rewriter.replaceOp(op, x);
      return success();
    }
    if (type.isDynamicDim(2))
      return rewriter.notifyMatchFailure(op, "dynamic S is not supported");
    int64_t width = type.getDimSize(2);
    int64_t d = width / numHeads;
    int64_t half = d / 2; // d is even when R > 0 (verifier C4)
    Type elementType = type.getElementType();
    Type computeType = getComputeType(elementType);
    Type f32 = rewriter.getF32Type();

    // Frequencies: power in f64, stored as f32, reciprocal in f32.
    double base = op.getBase().convertToDouble();
    SmallVector<float> omega;
    for (int64_t j = 0; j < half; ++j) {
      float power = static_cast<float>(std::pow(base, (2.0 * j) / double(d)));
      omega.push_back(1.0f / power);
    }
    auto omegaType = RankedTensorType::get({half}, f32);
    Value omegaTable = arith::ConstantOp::create(
        rewriter, loc, omegaType,
        DenseElementsAttr::get(omegaType, ArrayRef<float>(omega)));

    Value start;
    if (Value startTensor = adaptor.getStart())
      start =
          tensor::ExtractOp::create(rewriter, loc, startTensor, ValueRange{});
    else
      start =
          arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(), 0);

    // Loops (b, t, s) over the output; channel s = h*d + 2j + p reads its
    // pair (b, t, 2*(s floordiv 2) + {0, 1}) and w at j = (s mod d) floordiv 2.
    AffineExpr bE = getAffineDimExpr(0, ctx), tE = getAffineDimExpr(1, ctx),
               sE = getAffineDimExpr(2, ctx);
    AffineExpr pairE = sE.floorDiv(2) * 2;
    AffineMap realMap = AffineMap::get(3, 0, {bE, tE, pairE}, ctx);
    AffineMap imagMap = AffineMap::get(3, 0, {bE, tE, pairE + 1}, ctx);
    AffineMap omegaMap = AffineMap::get(3, 0, {(sE % d).floorDiv(2)}, ctx);
    AffineMap identity = rewriter.getMultiDimIdentityMap(3);
    bool inverse = op.getInverse();
    std::optional<int64_t> restart = op.getRestart();
    bool allHeads = ropeHeads == numHeads;
    Value init = emptyTensorLike(rewriter, loc, x, elementType);
    Value result = buildGeneric(
        rewriter, loc, {x, x, omegaTable, x}, {init},
        {realMap, imagMap, omegaMap, identity, identity}, parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value t = linalg::IndexOp::create(b, l, 1);
          Value s = linalg::IndexOp::create(b, l, 2);
          Value p = arith::RemUIOp::create(b, l, s, indexConstant(b, l, 2));
          Value position = arith::AddIOp::create(
              b, l, start, arith::IndexCastOp::create(b, l, b.getI64Type(), t));
          // Megalodon restarts positions every `restart` tokens (integer
          // remainder, before the conversion to f32).
          if (restart)
            position = arith::RemSIOp::create(
                b, l, position,
                arith::ConstantIntOp::create(b, l, b.getI64Type(), *restart));
          Value tau = arith::SIToFPOp::create(b, l, f32, position);
          Value angle = arith::MulFOp::create(b, l, tau, args[2]);
          Value rotates;
          if (!allHeads) {
            // Heads >= R pass through: their angle is 0 (cheap cos/sin) and
            // the input element is selected below, so they stay exact.
            rotates = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, s,
                                            indexConstant(b, l, ropeHeads * d));
            angle = arith::SelectOp::create(b, l, rotates, angle,
                                            floatConstant(b, l, f32, 0.0));
          }
          angle = castFloat(b, l, angle, computeType);
          Value cos = math::CosOp::create(b, l, angle);
          Value sin = math::SinOp::create(b, l, angle);
          if (inverse)
            sin = arith::NegFOp::create(b, l, sin);
          Value re = castFloat(b, l, args[0], computeType);
          Value im = castFloat(b, l, args[1], computeType);
          // (re + i im)(cos + i sin).
          Value outRe =
              arith::SubFOp::create(b, l, arith::MulFOp::create(b, l, re, cos),
                                    arith::MulFOp::create(b, l, im, sin));
          Value outIm =
              arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, re, sin),
                                    arith::MulFOp::create(b, l, im, cos));
          Value isReal = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                               p, indexConstant(b, l, 0));
          Value out = arith::SelectOp::create(b, l, isReal, outRe, outIm);
          out = castFloat(b, l, out, elementType);
          if (!allHeads)
            out = arith::SelectOp::create(b, l, rotates, out, args[3]);
          return {out};
        })[0];
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// segments
//===----------------------------------------------------------------------===//

/// bos = (tokens == bos_id) is elementwise; the segment ids are a running
/// count along t, one scf.for per batch row carrying the count as a scalar
/// and inserting into the result in place.
struct LowerSegments : OpConversionPattern<SegmentsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SegmentsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value tokens = adaptor.getTokens();
    Type i1 = rewriter.getI1Type(), i64 = rewriter.getI64Type();
    Value bosId = arith::ConstantIntOp::create(rewriter, loc, i64,
                                               int64_t(op.getBosId()));
    Value bos = buildElementwise(
        rewriter, loc, tokens, i1,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, args[0],
                                       bosId);
        });

    Value zero = indexConstant(rewriter, loc, 0);
    Value one = indexConstant(rewriter, loc, 1);
    Value batch = tensor::DimOp::create(rewriter, loc, tokens, 0);
    Value length = tensor::DimOp::create(rewriter, loc, tokens, 1);
    Value init = emptyTensorLike(rewriter, loc, tokens, i64);
    Value offset = adaptor.getOffset();
    auto outer = scf::ForOp::create(
        rewriter, loc, zero, batch, one, ValueRange{init},
        [&](OpBuilder &b, Location l, Value bi, ValueRange iter) {
          Value start =
              offset ? tensor::ExtractOp::create(b, l, offset, bi).getResult()
                     : arith::ConstantIntOp::create(b, l, i64, 0).getResult();
          auto inner = scf::ForOp::create(
              b, l, zero, length, one, ValueRange{iter[0], start},
              [&](OpBuilder &nb, Location nl, Value t, ValueRange carry) {
                Value isBos =
                    tensor::ExtractOp::create(nb, nl, bos, ValueRange{bi, t});
                Value count = arith::AddIOp::create(
                    nb, nl, carry[1],
                    arith::ExtUIOp::create(nb, nl, i64, isBos));
                Value ids = tensor::InsertOp::create(nb, nl, count, carry[0],
                                                     ValueRange{bi, t});
                scf::YieldOp::create(nb, nl, ValueRange{ids, count});
              });
          scf::YieldOp::create(b, l, inner.getResult(0));
        });
    rewriter.replaceOp(op, {bos, outer.getResult(0)});
    return success();
  }
};

} // namespace

void populateGeckoBasicLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerSilu, LowerSiluGrad, LowerSwiglu, LowerSwigluGrad,
               LowerEmbedding, LowerEmbeddingGrad, LowerLinear, LowerLinearGrad,
               LowerZAffine, LowerZAffineGrad, LowerRope, LowerSegments>(
      patterns.getContext());
}

} // namespace mlir::gecko
