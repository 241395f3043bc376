//===- LowerTrainingOps.cpp - Lowering of the gecko training family -------===//
//
// Patterns rewriting the training family (docs/dialect.md: cross_entropy,
// cross_entropy_grad, adamw) into linalg, tensor, arith and math. See
// LoweringUtils.h for the shared builders.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::gecko {
namespace {

using namespace lowering;

/// The scalar of a 0-d tensor.
Value extractScalar(OpBuilder &b, Location loc, Value tensor) {
  return tensor::ExtractOp::create(b, loc, tensor, ValueRange{});
}

/// N = B * L as a compute-type scalar.
Value rowCount(OpBuilder &b, Location loc, Value logits, Type type) {
  auto logitsType = cast<RankedTensorType>(logits.getType());
  if (!logitsType.isDynamicDim(0) && !logitsType.isDynamicDim(1))
    return floatConstant(b, loc, type,
                         double(logitsType.getDimSize(0)) *
                             double(logitsType.getDimSize(1)));
  Value rows =
      arith::MulIOp::create(b, loc, tensor::DimOp::create(b, loc, logits, 0),
                            tensor::DimOp::create(b, loc, logits, 1));
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), rows);
  return arith::SIToFPOp::create(b, loc, type, i64);
}

/// Row statistics of B x L x V logits in the compute type: the max over V
/// (one reduction generic, init -inf) and sum_v exp(logit - max) (a second
/// reduction generic reading the max). Returns {max, sumExp}, each B x L.
std::pair<Value, Value> buildSoftmaxStatistics(OpBuilder &b, Location loc,
                                               Value logits, Type computeType) {
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> rowSizes = getSizes(b, loc, logits);
  rowSizes.pop_back();
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  AffineMap full = dimsMap(ctx, 3, {0, 1, 2});
  AffineMap row = dimsMap(ctx, 3, {0, 1});
  Value max = buildGeneric(
      b, loc, {logits},
      {filledTensor(b, loc, rowSizes, computeType,
                    -std::numeric_limits<double>::infinity())},
      {full, row}, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) -> SmallVector<Value> {
        Value l = castFloat(nb, nl, args[0], computeType);
        return {arith::MaximumFOp::create(nb, nl, args[1], l)};
      })[0];
  Value sumExp = buildGeneric(
      b, loc, {logits, max}, {filledTensor(b, loc, rowSizes, computeType, 0.0)},
      {full, row, row}, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) -> SmallVector<Value> {
        Value l = castFloat(nb, nl, args[0], computeType);
        Value e = math::ExpOp::create(
            nb, nl, arith::SubFOp::create(nb, nl, l, args[1]));
        return {arith::AddFOp::create(nb, nl, args[2], e)};
      })[0];
  return {max, sumExp};
}

/// loss = (1/N) sum_{targets != ignore} (max + log(sumExp) - logit[target]).
/// After the two row-statistics generics, one generic over (b, t) with two
/// reduction iterators into a 0-d accumulator reads logits[b, t, target]
/// with tensor.extract; the target is clamped into [0, V-1] so that bad data
/// can never read out of bounds (the runtime validates targets; an
/// out-of-range target is a run-time error per docs/dialect.md). A last 0-d
/// generic divides by N = B*L (ignored positions included).
struct LowerCrossEntropy : OpConversionPattern<CrossEntropyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(CrossEntropyOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value logits = adaptor.getLogits();
    Value targets = adaptor.getTargets();
    Type logitType = cast<RankedTensorType>(logits.getType()).getElementType();
    Type computeType = getComputeType(logitType);
    Type lossType = op.getType().getElementType();
    auto [max, sumExp] =
        buildSoftmaxStatistics(rewriter, loc, logits, computeType);

    Type i64 = rewriter.getI64Type();
    Value ignore =
        arith::ConstantIntOp::create(rewriter, loc, i64, op.getIgnoreIndex());
    Value maxTarget = arith::SubIOp::create(
        rewriter, loc,
        arith::IndexCastOp::create(
            rewriter, loc, i64,
            tensor::DimOp::create(rewriter, loc, logits, 2)),
        arith::ConstantIntOp::create(rewriter, loc, i64, 1));
    AffineMap row = dimsMap(ctx, 2, {0, 1});
    AffineMap scalar = AffineMap::get(2, 0, {}, ctx);
    Value total = buildGeneric(
        rewriter, loc, {max, sumExp, targets},
        {filledTensor(rewriter, loc, {}, computeType, 0.0)},
        {row, row, row, scalar},
        {utils::IteratorType::reduction, utils::IteratorType::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value target = args[2];
          Value zero = arith::ConstantIntOp::create(b, l, i64, 0);
          Value clamped = arith::MinSIOp::create(
              b, l, arith::MaxSIOp::create(b, l, target, zero), maxTarget);
          Value index =
              arith::IndexCastOp::create(b, l, b.getIndexType(), clamped);
          Value bi = linalg::IndexOp::create(b, l, 0);
          Value ti = linalg::IndexOp::create(b, l, 1);
          Value picked = castFloat(b, l,
                                   tensor::ExtractOp::create(
                                       b, l, logits, ValueRange{bi, ti, index}),
                                   computeType);
          Value lse = arith::AddFOp::create(b, l, args[0],
                                            math::LogOp::create(b, l, args[1]));
          Value loss = arith::SubFOp::create(b, l, lse, picked);
          Value ignored = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                                target, ignore);
          loss = arith::SelectOp::create(
              b, l, ignored, floatConstant(b, l, computeType, 0.0), loss);
          return {arith::AddFOp::create(b, l, args[3], loss)};
        })[0];
    Value count = rowCount(rewriter, loc, logits, computeType);
    Value result = buildElementwise(
        rewriter, loc, total, lossType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          return castFloat(b, l, arith::DivFOp::create(b, l, args[0], count),
                           lossType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// dlogits = dloss * (softmax - onehot(target)) / N, zero on ignored rows:
/// the two row-statistics generics, then one parallel generic over
/// (b, t, v) comparing linalg.index v with the target (no indexed read, so
/// no clamping is needed here).
struct LowerCrossEntropyGrad : OpConversionPattern<CrossEntropyGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(CrossEntropyGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value logits = adaptor.getLogits();
    Type elementType = op.getType().getElementType();
    Type computeType = getComputeType(elementType);
    auto [max, sumExp] =
        buildSoftmaxStatistics(rewriter, loc, logits, computeType);
    Value dloss = castFloat(rewriter, loc,
                            extractScalar(rewriter, loc, adaptor.getDloss()),
                            computeType);
    Value scale = arith::DivFOp::create(
        rewriter, loc, dloss, rowCount(rewriter, loc, logits, computeType));
    Type i64 = rewriter.getI64Type();
    Value ignore =
        arith::ConstantIntOp::create(rewriter, loc, i64, op.getIgnoreIndex());
    AffineMap full = dimsMap(ctx, 3, {0, 1, 2});
    AffineMap row = dimsMap(ctx, 3, {0, 1});
    Value result = buildGeneric(
        rewriter, loc, {logits, max, sumExp, adaptor.getTargets()},
        {emptyTensorLike(rewriter, loc, logits, elementType)},
        {full, row, row, row, full}, parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value logit = castFloat(b, l, args[0], computeType);
          Value p = arith::DivFOp::create(
              b, l,
              math::ExpOp::create(b, l,
                                  arith::SubFOp::create(b, l, logit, args[1])),
              args[2]);
          Value target = args[3];
          Value v = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, 2));
          Value isTarget =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, v, target);
          Value zero = floatConstant(b, l, computeType, 0.0);
          Value onehot = arith::SelectOp::create(
              b, l, isTarget, floatConstant(b, l, computeType, 1.0), zero);
          Value g = arith::MulFOp::create(
              b, l, scale, arith::SubFOp::create(b, l, p, onehot));
          Value ignored = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                                target, ignore);
          g = arith::SelectOp::create(b, l, ignored, zero, g);
          return {castFloat(b, l, g, elementType)};
        })[0];
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// One elementwise generic with three results (param', m', v'). The
/// per-step scalars are formed once outside it, as PyTorch's single-tensor
/// AdamW forms them as Python floats: bc1 = 1 - beta1^t, sqrt(bc2),
/// step_size = lr / bc1 and the decay factor 1 - lr * weight_decay are
/// computed in f64 (math.powf on f64) and rounded to f32 once; the
/// elementwise update is f32 (the verifier restricts the tensors to f32;
/// f64 would simply compute in f64).
struct LowerAdamW : OpConversionPattern<AdamWOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AdamWOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getNewParam().getType().getElementType();
    Type computeType = getComputeType(elementType);
    Type f64 = rewriter.getF64Type();
    double beta1 = op.getBeta1().convertToDouble();
    double beta2 = op.getBeta2().convertToDouble();
    double eps = op.getEps().convertToDouble();
    double weightDecay = op.getWeightDecay().convertToDouble();

    // Per-step scalars in f64.
    Value step = arith::SIToFPOp::create(
        rewriter, loc, f64, extractScalar(rewriter, loc, adaptor.getStep()));
    Value lr = castFloat(rewriter, loc,
                         extractScalar(rewriter, loc, adaptor.getLr()), f64);
    Value one = floatConstant(rewriter, loc, f64, 1.0);
    auto oneMinusPow = [&](double beta) -> Value {
      Value power = math::PowFOp::create(
          rewriter, loc, floatConstant(rewriter, loc, f64, beta), step);
      return arith::SubFOp::create(rewriter, loc, one, power);
    };
    Value bc1 = oneMinusPow(beta1);
    Value bc2Sqrt = math::SqrtOp::create(rewriter, loc, oneMinusPow(beta2));
    Value stepSize = arith::DivFOp::create(rewriter, loc, lr, bc1);
    Value decay = arith::SubFOp::create(
        rewriter, loc, one,
        arith::MulFOp::create(rewriter, loc, lr,
                              floatConstant(rewriter, loc, f64, weightDecay)));
    stepSize = castFloat(rewriter, loc, stepSize, computeType);
    bc2Sqrt = castFloat(rewriter, loc, bc2Sqrt, computeType);
    decay = castFloat(rewriter, loc, decay, computeType);
    Value gradScale;
    if (Value s = adaptor.getGradScale())
      gradScale = castFloat(rewriter, loc, extractScalar(rewriter, loc, s),
                            computeType);

    SmallVector<Value> inputs = {adaptor.getParam(), adaptor.getGrad(),
                                 adaptor.getM(), adaptor.getV()};
    int64_t rank = op.getNewParam().getType().getRank();
    SmallVector<Value> inits;
    for (int i = 0; i < 3; ++i)
      inits.push_back(emptyTensorLike(rewriter, loc, inputs[0], elementType));
    SmallVector<AffineMap> maps(7, rewriter.getMultiDimIdentityMap(rank));
    SmallVector<Value> results = buildGeneric(
        rewriter, loc, inputs, inits, maps, parallelIterators(rank),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          auto c = [&](double v) {
            return floatConstant(b, l, computeType, v);
          };
          Value param = castFloat(b, l, args[0], computeType);
          Value g = castFloat(b, l, args[1], computeType);
          Value m = castFloat(b, l, args[2], computeType);
          Value v = castFloat(b, l, args[3], computeType);
          if (gradScale)
            g = arith::MulFOp::create(b, l, gradScale, g);
          Value decayed = arith::MulFOp::create(b, l, param, decay);
          Value newM = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, c(beta1), m),
              arith::MulFOp::create(b, l, c(1.0 - beta1), g));
          Value newV = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, c(beta2), v),
              arith::MulFOp::create(b, l, c(1.0 - beta2),
                                    arith::MulFOp::create(b, l, g, g)));
          Value denom = arith::AddFOp::create(
              b, l,
              arith::DivFOp::create(b, l, math::SqrtOp::create(b, l, newV),
                                    bc2Sqrt),
              c(eps));
          Value update = arith::MulFOp::create(
              b, l, stepSize, arith::DivFOp::create(b, l, newM, denom));
          Value newParam = arith::SubFOp::create(b, l, decayed, update);
          return {castFloat(b, l, newParam, elementType),
                  castFloat(b, l, newM, elementType),
                  castFloat(b, l, newV, elementType)};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void populateGeckoTrainingLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCrossEntropy, LowerCrossEntropyGrad, LowerAdamW>(
      patterns.getContext());
}

} // namespace mlir::gecko
