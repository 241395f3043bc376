//===- LowerEmaOps.cpp - Lowering of the gecko ema family -----------------===//
//
// Patterns rewriting the EMA family (docs/dialect.md#ema-family) into linalg,
// tensor, scf, arith and math. See LoweringUtils.h for the shared builders.
//
// - ema_coeffs / ema_coeffs_grad: one linalg.generic per result (the complex
//   results iterate over the trailing re/im dimension and select).
// - ema_scan: an scf.for over time whose tensor iter_args are the complex
//   state, split into a real and an imaginary B x D x N tensor, and the
//   result y. Each step is one all-parallel linalg.generic updating the
//   state in place (it reads only its own element through the output block
//   arguments) and one linalg.generic reducing Sum_n Re(gamma h) over n;
//   the residual add writes straight into the y slice of step t.
// - ema_scan_grad: a forward scf.for that recomputes and keeps every state
//   ((L+1) x B x D x N, slot 0 holding h0), then a reverse scf.for over time
//   carrying the adjoint [not bos_t] conj(q) G_t, with the parameter
//   gradients accumulated in place as iter_args.
// Every dimension may be dynamic.
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
#include "mlir/Transforms/DialectConversion.h"

#include "llvm/Support/MathExtras.h"

namespace mlir::gecko {
namespace {

using namespace lowering;

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Value one = floatConstant(b, loc, x.getType(), 1.0);
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, one, e));
}

Value mulf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
Value addf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}
Value subf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}

/// Size `dim` of `tensor` as an OpFoldResult.
OpFoldResult dimSize(OpBuilder &b, Location loc, Value tensor, int64_t dim) {
  return getSizes(b, loc, tensor)[dim];
}

/// The size of dimension `dim` of `tensor` as a float of type `type`.
Value dimAsFloat(OpBuilder &b, Location loc, Value tensor, int64_t dim,
                 Type type) {
  auto shaped = cast<RankedTensorType>(tensor.getType());
  if (!shaped.isDynamicDim(dim))
    return floatConstant(b, loc, type, double(shaped.getDimSize(dim)));
  Value size = tensor::DimOp::create(b, loc, tensor, dim);
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  return arith::SIToFPOp::create(b, loc, type, i64);
}

/// Whether the linalg.index `dim` of the enclosing generic is 0 (the real
/// part of a trailing complex dimension).
Value isRealPart(OpBuilder &b, Location loc, int64_t dim) {
  Value c = linalg::IndexOp::create(b, loc, dim);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, c,
                               indexConstant(b, loc, 0));
}

/// re + i im (both of shape S) as one S x 2 tensor.
Value interleaveComplex(OpBuilder &b, Location loc, Value re, Value im) {
  auto type = cast<RankedTensorType>(re.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, re);
  sizes.push_back(b.getIndexAttr(2));
  Value init = emptyTensor(b, loc, sizes, type.getElementType());
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> dims = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  AffineMap inMap = dimsMap(ctx, rank + 1, dims);
  return buildGeneric(
      b, loc, {re, im}, {init},
      {inMap, inMap, b.getMultiDimIdentityMap(rank + 1)},
      parallelIterators(rank + 1),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {arith::SelectOp::create(nb, l, isRealPart(nb, l, rank), args[0],
                                        args[1])};
      })[0];
}

/// Part `part` (0 = re, 1 = im) of a complex S x 2 tensor, as a fresh S
/// tensor (a copy, so that it can be updated in place).
Value complexPart(OpBuilder &b, Location loc, Value z, int64_t part) {
  auto type = cast<RankedTensorType>(z.getType());
  int64_t rank = type.getRank() - 1;
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, z);
  sizes.pop_back();
  Value init = emptyTensor(b, loc, sizes, type.getElementType());
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> dims = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  return buildGeneric(
      b, loc, {z}, {init},
      {dimsMap(ctx, rank, dims, part), b.getMultiDimIdentityMap(rank)},
      parallelIterators(rank),
      [&](OpBuilder &, Location, ValueRange args) -> SmallVector<Value> {
        return {args[0]};
      })[0];
}

/// Slice [:, t, :] of a B x L x D tensor (or [:, t] of B x L) with the time
/// dimension dropped.
Value extractTimeSlice(OpBuilder &b, Location loc, Value src, Value t) {
  auto type = cast<RankedTensorType>(src.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, src);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[1] = t;
  sizes[1] = b.getIndexAttr(1);
  SmallVector<int64_t> shape(type.getShape());
  shape.erase(shape.begin() + 1);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, resultType, src, offsets, sizes,
                                        strides);
}

Value insertTimeSlice(OpBuilder &b, Location loc, Value slice, Value dest,
                      Value t) {
  auto type = cast<RankedTensorType>(dest.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, dest);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[1] = t;
  sizes[1] = b.getIndexAttr(1);
  return tensor::InsertSliceOp::create(b, loc, slice, dest, offsets, sizes,
                                       strides);
}

/// Slot `s` of a leading-dimension stack (S x rest) as a `rest` tensor.
Value extractSlot(OpBuilder &b, Location loc, Value stack, Value s) {
  auto type = cast<RankedTensorType>(stack.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, stack);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[0] = s;
  sizes[0] = b.getIndexAttr(1);
  auto resultType = RankedTensorType::get(type.getShape().drop_front(),
                                          type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, resultType, stack, offsets,
                                        sizes, strides);
}

Value insertSlot(OpBuilder &b, Location loc, Value slice, Value stack,
                 Value s) {
  auto type = cast<RankedTensorType>(stack.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, stack);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[0] = s;
  sizes[0] = b.getIndexAttr(1);
  return tensor::InsertSliceOp::create(b, loc, slice, stack, offsets, sizes,
                                       strides);
}

//===----------------------------------------------------------------------===//
// ema_coeffs
//===----------------------------------------------------------------------===//

/// Map of theta (D or D x 1) from the loops (d, n, ...).
AffineMap thetaMap(MLIRContext *ctx, Value theta, unsigned numDims) {
  if (cast<RankedTensorType>(theta.getType()).getRank() == 1)
    return dimsMap(ctx, numDims, {0});
  return dimsMap(ctx, numDims, {0, -1});
}

/// phi = (n + 1) * s * 2 pi / N in the order of the oracle, with `n` the
/// 0-based state index (docs/dialect.md, spec notes: phi indexing).
Value buildPhi(OpBuilder &b, Location loc, Value nIndex, Value s, Value N) {
  Type type = s.getType();
  Value n1 = arith::AddIOp::create(b, loc, nIndex, indexConstant(b, loc, 1));
  Value nI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), n1);
  Value nF = arith::SIToFPOp::create(b, loc, type, nI64);
  Value phi = mulf(b, loc, nF, s);
  phi = mulf(b, loc, phi, floatConstant(b, loc, type, 2.0));
  phi = mulf(b, loc, phi, floatConstant(b, loc, type, llvm::numbers::pi));
  return arith::DivFOp::create(b, loc, phi, N);
}

struct LowerEmaCoeffs : OpConversionPattern<EmaCoeffsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmaCoeffsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value alpha = adaptor.getAlpha(), delta = adaptor.getDelta();
    Value theta = adaptor.getTheta(), gamma = adaptor.getGamma();
    Type computeType = getComputeType(
        cast<RankedTensorType>(alpha.getType()).getElementType());

    // p = sigma(alpha).
    Value p = buildElementwise(
        rewriter, loc, alpha, computeType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          return sigmoid(b, l, castFloat(b, l, args[0], computeType));
        });

    // q = (1 - sigma(alpha) sigma(delta)) (cos phi, sin phi), over
    // (d, n, re/im).
    Value N = dimAsFloat(rewriter, loc, alpha, 1, computeType);
    SmallVector<OpFoldResult> qSizes = getSizes(rewriter, loc, alpha);
    qSizes.push_back(rewriter.getIndexAttr(2));
    Value qInit = emptyTensor(rewriter, loc, qSizes, computeType);
    AffineMap dn = dimsMap(ctx, 3, {0, 1});
    Value q = buildGeneric(
        rewriter, loc, {alpha, delta, theta}, {qInit},
        {dn, dn, thetaMap(ctx, theta, 3), rewriter.getMultiDimIdentityMap(3)},
        parallelIterators(3),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value a = sigmoid(b, l, castFloat(b, l, args[0], computeType));
          Value e = sigmoid(b, l, castFloat(b, l, args[1], computeType));
          Value s = sigmoid(b, l, castFloat(b, l, args[2], computeType));
          Value rho = subf(b, l, floatConstant(b, l, computeType, 1.0),
                           mulf(b, l, a, e));
          Value phi = buildPhi(b, l, linalg::IndexOp::create(b, l, 1), s, N);
          Value cos = math::CosOp::create(b, l, phi);
          Value sin = math::SinOp::create(b, l, phi);
          Value trig =
              arith::SelectOp::create(b, l, isRealPart(b, l, 2), cos, sin);
          return {mulf(b, l, rho, trig)};
        })[0];

    // gamma_c = gamma converted.
    Value gammaC =
        buildElementwise(rewriter, loc, gamma, computeType,
                         [&](OpBuilder &b, Location l, ValueRange args) {
                           return castFloat(b, l, args[0], computeType);
                         });
    rewriter.replaceOp(op, {p, q, gammaC});
    return success();
  }
};

struct LowerEmaCoeffsGrad : OpConversionPattern<EmaCoeffsGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmaCoeffsGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value dp = adaptor.getDp(), dq = adaptor.getDq();
    Value dgamma = adaptor.getDgamma();
    Value alpha = adaptor.getAlpha(), delta = adaptor.getDelta();
    Value theta = adaptor.getTheta();
    Type elementType = cast<RankedTensorType>(alpha.getType()).getElementType();
    Type ct = getComputeType(elementType);
    Value N = dimAsFloat(rewriter, loc, alpha, 1, ct);

    // Per (d, n): dalpha, ddelta and the theta term
    // s (1 - s) (2 pi / N) (n + 1) dphi, all parallel ...
    Value dalphaInit = emptyTensorLike(rewriter, loc, alpha);
    Value ddeltaInit = emptyTensorLike(rewriter, loc, delta);
    Value termInit = emptyTensorLike(rewriter, loc, alpha, ct);
    AffineMap dn = dimsMap(ctx, 2, {0, 1});
    AffineMap th = thetaMap(ctx, theta, 2);
    SmallVector<Value> r = buildGeneric(
        rewriter, loc, {dp, dq, dq, alpha, delta, theta},
        {dalphaInit, ddeltaInit, termInit},
        {dn, dimsMap(ctx, 2, {0, 1}, 0), dimsMap(ctx, 2, {0, 1}, 1), dn, dn, th,
         dn, dn, dn},
        parallelIterators(2),
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          Value dpv = args[0], dqr = args[1], dqi = args[2];
          Value a = sigmoid(b, l, castFloat(b, l, args[3], ct));
          Value e = sigmoid(b, l, castFloat(b, l, args[4], ct));
          Value s = sigmoid(b, l, castFloat(b, l, args[5], ct));
          Value one = floatConstant(b, l, ct, 1.0);
          Value rho = subf(b, l, one, mulf(b, l, a, e));
          Value nIndex = linalg::IndexOp::create(b, l, 1);
          Value phi = buildPhi(b, l, nIndex, s, N);
          Value cos = math::CosOp::create(b, l, phi);
          Value sin = math::SinOp::create(b, l, phi);
          Value drho = addf(b, l, mulf(b, l, dqr, cos), mulf(b, l, dqi, sin));
          Value dphi =
              mulf(b, l, rho,
                   subf(b, l, mulf(b, l, dqi, cos), mulf(b, l, dqr, sin)));
          Value da = subf(b, l, dpv, mulf(b, l, e, drho));
          Value dd = arith::NegFOp::create(b, l, mulf(b, l, a, drho));
          Value dalpha = mulf(b, l, mulf(b, l, a, subf(b, l, one, a)), da);
          Value ddelta = mulf(b, l, mulf(b, l, e, subf(b, l, one, e)), dd);
          Value n1 = arith::SIToFPOp::create(
              b, l, ct,
              arith::IndexCastOp::create(
                  b, l, b.getI64Type(),
                  arith::AddIOp::create(b, l, nIndex, indexConstant(b, l, 1))));
          Value scale = mulf(
              b, l, mulf(b, l, s, subf(b, l, one, s)),
              arith::DivFOp::create(
                  b, l, floatConstant(b, l, ct, 2.0 * llvm::numbers::pi), N));
          return {castFloat(b, l, dalpha, elementType),
                  castFloat(b, l, ddelta, elementType),
                  mulf(b, l, scale, mulf(b, l, n1, dphi))};
        });
    // ... then dtheta_d = Sum_n term_{d,n}, reduced in the compute type.
    Value dthetaAcc =
        filledTensor(rewriter, loc, getSizes(rewriter, loc, theta), ct, 0.0);
    Value dthetaSum = buildGeneric(
        rewriter, loc, {r[2]}, {dthetaAcc}, {dn, th},
        {utils::IteratorType::parallel, utils::IteratorType::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) -> SmallVector<Value> {
          return {addf(b, l, args[1], args[0])};
        })[0];
    Value dtheta =
        buildElementwise(rewriter, loc, dthetaSum, elementType,
                         [&](OpBuilder &b, Location l, ValueRange args) {
                           return castFloat(b, l, args[0], elementType);
                         });
    Value dgammaRaw =
        buildElementwise(rewriter, loc, dgamma, elementType,
                         [&](OpBuilder &b, Location l, ValueRange args) {
                           return castFloat(b, l, args[0], elementType);
                         });
    rewriter.replaceOp(op, {r[0], r[1], dtheta, dgammaRaw});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// ema_scan
//===----------------------------------------------------------------------===//

/// Operands of one scan, shared by the forward and the backward.
struct ScanOperands {
  Value u, p, q, gamma, bos, h0;
  Type elementType, computeType;
};

/// The initial state (re, im), B x D x N each: h0's parts or zeros.
std::pair<Value, Value> initialState(OpBuilder &b, Location loc,
                                     const ScanOperands &s) {
  if (s.h0)
    return {complexPart(b, loc, s.h0, 0), complexPart(b, loc, s.h0, 1)};
  SmallVector<OpFoldResult> sizes = {dimSize(b, loc, s.u, 0),
                                     dimSize(b, loc, s.u, 2),
                                     dimSize(b, loc, s.p, 1)};
  return {filledTensor(b, loc, sizes, s.computeType, 0.0),
          filledTensor(b, loc, sizes, s.computeType, 0.0)};
}

/// One step h_t = [not bos_t] q h_{t-1} + p u_t over (b, d, n). With null
/// `outRe`/`outIm` the update is in place: the previous state is read
/// through the output block arguments of `hRe`/`hIm` (each element depends
/// only on itself), so bufferization reuses the iter_arg buffers.
std::pair<Value, Value> buildScanStep(OpBuilder &b, Location loc,
                                      const ScanOperands &s, Value uT,
                                      Value bosT, Value hRe, Value hIm,
                                      Value outRe = {}, Value outIm = {}) {
  MLIRContext *ctx = b.getContext();
  Type ct = s.computeType;
  bool inPlace = !outRe;
  SmallVector<Value> ins = {uT, s.p, s.q, s.q};
  SmallVector<AffineMap> maps = {
      dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {1, 2}),
      dimsMap(ctx, 3, {1, 2}, 0), dimsMap(ctx, 3, {1, 2}, 1)};
  if (bosT) {
    ins.push_back(bosT);
    maps.push_back(dimsMap(ctx, 3, {0}));
  }
  if (!inPlace) {
    ins.append({hRe, hIm});
    maps.append(2, b.getMultiDimIdentityMap(3));
  }
  maps.append(2, b.getMultiDimIdentityMap(3));
  SmallVector<Value> outs =
      inPlace ? SmallVector<Value>{hRe, hIm} : SmallVector<Value>{outRe, outIm};
  SmallVector<Value> r = buildGeneric(
      b, loc, ins, outs, maps, parallelIterators(3),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value u = castFloat(nb, l, args[0], ct);
        Value p = args[1], qr = args[2], qi = args[3];
        unsigned next = 4;
        Value reset = bosT ? args[next++] : Value();
        Value hr = args[next], hi = args[next + 1];
        Value pu = mulf(nb, l, p, u);
        Value re = addf(
            nb, l, subf(nb, l, mulf(nb, l, qr, hr), mulf(nb, l, qi, hi)), pu);
        Value im = addf(nb, l, mulf(nb, l, qr, hi), mulf(nb, l, qi, hr));
        if (reset) {
          re = arith::SelectOp::create(nb, l, reset, pu, re);
          im = arith::SelectOp::create(nb, l, reset,
                                       floatConstant(nb, l, ct, 0.0), im);
        }
        return {re, im};
      });
  return {r[0], r[1]};
}

struct LowerEmaScan : OpConversionPattern<EmaScanOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmaScanOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    ScanOperands s{adaptor.getU(),
                   adaptor.getP(),
                   adaptor.getQ(),
                   adaptor.getGamma(),
                   adaptor.getBos(),
                   adaptor.getH0(),
                   {},
                   {}};
    s.elementType = cast<RankedTensorType>(s.u.getType()).getElementType();
    s.computeType = cast<RankedTensorType>(s.p.getType()).getElementType();
    Type ct = s.computeType;

    auto [hRe0, hIm0] = initialState(rewriter, loc, s);
    // The loop stores the EMA term Sum_n Re(gamma h) of every step into a
    // B x L x D stack in the scan type; the rounding and the residual add
    // run once after the loop. (The reduction accumulates into the stack's
    // slice, so bufferization updates it in place without copies.)
    Value sums0 = emptyTensorLike(rewriter, loc, s.u, ct);
    Value zero = indexConstant(rewriter, loc, 0);
    Value one = indexConstant(rewriter, loc, 1);
    Value length = getValueOrCreateConstantIndexOp(
        rewriter, loc, dimSize(rewriter, loc, s.u, 1));
    auto loop = scf::ForOp::create(
        rewriter, loc, zero, length, one, ValueRange{hRe0, hIm0, sums0},
        [&](OpBuilder &b, Location l, Value t, ValueRange iter) {
          Value uT = extractTimeSlice(b, l, s.u, t);
          Value bosT = s.bos ? extractTimeSlice(b, l, s.bos, t) : Value();
          auto [hRe, hIm] = buildScanStep(b, l, s, uT, bosT, iter[0], iter[1]);
          // acc = Sum_n Re(gamma_n h_n), reduced over n in the scan type.
          Value acc = linalg::FillOp::create(b, l, floatConstant(b, l, ct, 0.0),
                                             extractTimeSlice(b, l, iter[2], t))
                          .getResult(0);
          AffineMap bdn = b.getMultiDimIdentityMap(3);
          acc = buildGeneric(
              b, l, {hRe, hIm, s.gamma, s.gamma}, {acc},
              {bdn, bdn, dimsMap(ctx, 3, {1, 2}, 0), dimsMap(ctx, 3, {1, 2}, 1),
               dimsMap(ctx, 3, {0, 1})},
              {utils::IteratorType::parallel, utils::IteratorType::parallel,
               utils::IteratorType::reduction},
              [&](OpBuilder &nb, Location nl,
                  ValueRange args) -> SmallVector<Value> {
                Value term = subf(nb, nl, mulf(nb, nl, args[2], args[0]),
                                  mulf(nb, nl, args[3], args[1]));
                return {addf(nb, nl, args[4], term)};
              })[0];
          Value sums = insertTimeSlice(b, l, acc, iter[2], t);
          scf::YieldOp::create(b, l, ValueRange{hRe, hIm, sums});
        });
    // y = round_T(sum) + u, added in T.
    Value y = buildElementwise(
        rewriter, loc, ValueRange{loop.getResult(2), s.u}, s.elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          return addf(b, l, castFloat(b, l, args[0], s.elementType), args[1]);
        });
    Value hOut =
        interleaveComplex(rewriter, loc, loop.getResult(0), loop.getResult(1));
    rewriter.replaceOp(op, {y, hOut});
    return success();
  }
};

struct LowerEmaScanGrad : OpConversionPattern<EmaScanGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmaScanGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    ScanOperands s{adaptor.getU(),
                   adaptor.getP(),
                   adaptor.getQ(),
                   adaptor.getGamma(),
                   adaptor.getBos(),
                   adaptor.getH0(),
                   {},
                   {}};
    Value dy = adaptor.getDy(), dhOut = adaptor.getDhOut();
    s.elementType = cast<RankedTensorType>(s.u.getType()).getElementType();
    s.computeType = cast<RankedTensorType>(s.p.getType()).getElementType();
    Type ct = s.computeType;
    OpFoldResult B = dimSize(rewriter, loc, s.u, 0);
    OpFoldResult L = dimSize(rewriter, loc, s.u, 1);
    OpFoldResult D = dimSize(rewriter, loc, s.u, 2);
    OpFoldResult N = dimSize(rewriter, loc, s.p, 1);
    Value zero = indexConstant(rewriter, loc, 0);
    Value one = indexConstant(rewriter, loc, 1);
    Value length = getValueOrCreateConstantIndexOp(rewriter, loc, L);

    // 1. Recompute the states: slot t + 1 of the (L+1) x B x D x N stacks
    //    holds h_t, slot 0 holds h0 (or zeros).
    Value slots = arith::AddIOp::create(rewriter, loc, length, one);
    SmallVector<OpFoldResult> stackSizes = {slots, B, D, N};
    auto [hRe0, hIm0] = initialState(rewriter, loc, s);
    Value stackRe = insertSlot(
        rewriter, loc, hRe0, emptyTensor(rewriter, loc, stackSizes, ct), zero);
    Value stackIm = insertSlot(
        rewriter, loc, hIm0, emptyTensor(rewriter, loc, stackSizes, ct), zero);
    auto forward = scf::ForOp::create(
        rewriter, loc, zero, length, one, ValueRange{stackRe, stackIm},
        [&](OpBuilder &b, Location l, Value t, ValueRange iter) {
          Value uT = extractTimeSlice(b, l, s.u, t);
          Value bosT = s.bos ? extractTimeSlice(b, l, s.bos, t) : Value();
          Value t1 = arith::AddIOp::create(b, l, t, indexConstant(b, l, 1));
          auto [hRe, hIm] = buildScanStep(
              b, l, s, uT, bosT, extractSlot(b, l, iter[0], t),
              extractSlot(b, l, iter[1], t), extractSlot(b, l, iter[0], t1),
              extractSlot(b, l, iter[1], t1));
          scf::YieldOp::create(b, l,
                               ValueRange{insertSlot(b, l, hRe, iter[0], t1),
                                          insertSlot(b, l, hIm, iter[1], t1)});
        });
    stackRe = forward.getResult(0);
    stackIm = forward.getResult(1);

    // 2. Reverse scan. The carry A holds [not bos_{t+1}] conj(q) G_{t+1}
    //    (dh_out before the last step); G_t = conj(gamma) dy_t + A.
    Value aRe0, aIm0;
    if (dhOut) {
      aRe0 = complexPart(rewriter, loc, dhOut, 0);
      aIm0 = complexPart(rewriter, loc, dhOut, 1);
    } else {
      aRe0 = filledTensor(rewriter, loc, {B, D, N}, ct, 0.0);
      aIm0 = filledTensor(rewriter, loc, {B, D, N}, ct, 0.0);
    }
    // Sum_n p_n Re G_{t,n} per step, in a B x L x D stack of the scan type
    // (see LowerEmaScan); du = dy + that stack after the loop.
    Value sums0 = emptyTensorLike(rewriter, loc, s.u, ct);
    SmallVector<Value> params0;
    for (int i = 0; i < 5; ++i) // dp, dq re/im, dgamma re/im
      params0.push_back(filledTensor(rewriter, loc, {D, N}, ct, 0.0));
    // G_t is a fresh tensor each step, not an iter_arg: two write-only
    // iter_args initialized by the same (CSE-merged) tensor.empty and written
    // by one generic are given one buffer by one-shot bufferization, so G_t's
    // real part would be overwritten by its imaginary part.
    SmallVector<Value> init = {aRe0, aIm0, sums0};
    init.append(params0);

    auto backward = scf::ForOp::create(
        rewriter, loc, zero, length, one, init,
        [&](OpBuilder &b, Location l, Value i, ValueRange iter) {
          // t = L - 1 - i.
          Value t = arith::SubIOp::create(
              b, l, arith::SubIOp::create(b, l, length, i),
              indexConstant(b, l, 1));
          Value t1 = arith::AddIOp::create(b, l, t, indexConstant(b, l, 1));
          Value dyT = extractTimeSlice(b, l, dy, t);
          Value uT = extractTimeSlice(b, l, s.u, t);
          Value bosT = s.bos ? extractTimeSlice(b, l, s.bos, t) : Value();
          Value hPrevRe = extractSlot(b, l, stackRe, t);
          Value hPrevIm = extractSlot(b, l, stackIm, t);
          Value hRe = extractSlot(b, l, stackRe, t1);
          Value hIm = extractSlot(b, l, stackIm, t1);
          AffineMap bdn = b.getMultiDimIdentityMap(3);

          // G_t and the next carry [not bos_t] conj(q) G_t, over (b, d, n).
          SmallVector<Value> ins = {dyT, s.gamma, s.gamma, s.q, s.q};
          SmallVector<AffineMap> maps = {
              dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {1, 2}, 0),
              dimsMap(ctx, 3, {1, 2}, 1), dimsMap(ctx, 3, {1, 2}, 0),
              dimsMap(ctx, 3, {1, 2}, 1)};
          if (bosT) {
            ins.push_back(bosT);
            maps.push_back(dimsMap(ctx, 3, {0}));
          }
          maps.append(4, bdn);
          SmallVector<Value> g = buildGeneric(
              b, l, ins,
              {emptyTensor(b, l, {B, D, N}, ct),
               emptyTensor(b, l, {B, D, N}, ct), iter[0], iter[1]},
              maps, parallelIterators(3),
              [&](OpBuilder &nb, Location nl,
                  ValueRange args) -> SmallVector<Value> {
                Value dyv = castFloat(nb, nl, args[0], ct);
                Value gr = args[1], gi = args[2], qr = args[3], qi = args[4];
                unsigned next = 5;
                Value reset = bosT ? args[next++] : Value();
                Value ar = args[next + 2], ai = args[next + 3];
                Value Gr = addf(nb, nl, mulf(nb, nl, gr, dyv), ar);
                Value Gi = subf(nb, nl, ai, mulf(nb, nl, gi, dyv));
                Value nr =
                    addf(nb, nl, mulf(nb, nl, qr, Gr), mulf(nb, nl, qi, Gi));
                Value ni =
                    subf(nb, nl, mulf(nb, nl, qr, Gi), mulf(nb, nl, qi, Gr));
                if (reset) {
                  Value z = floatConstant(nb, nl, ct, 0.0);
                  nr = arith::SelectOp::create(nb, nl, reset, z, nr);
                  ni = arith::SelectOp::create(nb, nl, reset, z, ni);
                }
                return {Gr, Gi, nr, ni};
              });
          Value gRe = g[0], gIm = g[1];

          // Sum_n p_n Re G_{t,n} into slice t of the stack.
          Value duAcc =
              linalg::FillOp::create(b, l, floatConstant(b, l, ct, 0.0),
                                     extractTimeSlice(b, l, iter[2], t))
                  .getResult(0);
          duAcc = buildGeneric(
              b, l, {gRe, s.p}, {duAcc},
              {bdn, dimsMap(ctx, 3, {1, 2}), dimsMap(ctx, 3, {0, 1})},
              {utils::IteratorType::parallel, utils::IteratorType::parallel,
               utils::IteratorType::reduction},
              [&](OpBuilder &nb, Location nl,
                  ValueRange args) -> SmallVector<Value> {
                return {addf(nb, nl, args[2], mulf(nb, nl, args[1], args[0]))};
              })[0];
          Value sums = insertTimeSlice(b, l, duAcc, iter[2], t);

          // Parameter gradients, accumulated over (b, t) in place; loops
          // (d, n, b) with b reduced.
          SmallVector<Value> pins = {uT,      dyT,     gRe, gIm,
                                     hPrevRe, hPrevIm, hRe, hIm};
          AffineMap nbd = dimsMap(ctx, 3, {2, 0});
          AffineMap nbdn = dimsMap(ctx, 3, {2, 0, 1});
          SmallVector<AffineMap> pmaps = {nbd,  nbd,  nbdn, nbdn,
                                          nbdn, nbdn, nbdn, nbdn};
          if (bosT) {
            pins.push_back(bosT);
            pmaps.push_back(dimsMap(ctx, 3, {2}));
          }
          pmaps.append(5, dimsMap(ctx, 3, {0, 1}));
          SmallVector<Value> params = buildGeneric(
              b, l, pins, iter.slice(3, 5), pmaps,
              {utils::IteratorType::parallel, utils::IteratorType::parallel,
               utils::IteratorType::reduction},
              [&](OpBuilder &nb, Location nl,
                  ValueRange args) -> SmallVector<Value> {
                Value u = castFloat(nb, nl, args[0], ct);
                Value dyv = castFloat(nb, nl, args[1], ct);
                Value Gr = args[2], Gi = args[3];
                Value pr = args[4], pi = args[5], hr = args[6], hi = args[7];
                unsigned next = 8;
                Value reset = bosT ? args[next++] : Value();
                ValueRange acc = args.drop_front(next);
                // conj(h_{t-1}) G.
                Value dqr =
                    addf(nb, nl, mulf(nb, nl, pr, Gr), mulf(nb, nl, pi, Gi));
                Value dqi =
                    subf(nb, nl, mulf(nb, nl, pr, Gi), mulf(nb, nl, pi, Gr));
                if (reset) {
                  Value z = floatConstant(nb, nl, ct, 0.0);
                  dqr = arith::SelectOp::create(nb, nl, reset, z, dqr);
                  dqi = arith::SelectOp::create(nb, nl, reset, z, dqi);
                }
                return {addf(nb, nl, acc[0], mulf(nb, nl, u, Gr)),
                        addf(nb, nl, acc[1], dqr), addf(nb, nl, acc[2], dqi),
                        addf(nb, nl, acc[3], mulf(nb, nl, dyv, hr)),
                        subf(nb, nl, acc[4], mulf(nb, nl, dyv, hi))};
              });
          SmallVector<Value> yields = {g[2], g[3], sums};
          yields.append(params);
          scf::YieldOp::create(b, l, yields);
        });

    // du = dy + Sum_n p Re G (the residual path plus the scan), in T.
    Value du = buildElementwise(
        rewriter, loc, ValueRange{backward.getResult(2), dy}, s.elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value sum = addf(b, l, castFloat(b, l, args[1], ct), args[0]);
          return castFloat(b, l, sum, s.elementType);
        });
    SmallVector<Value> results = {
        du, backward.getResult(3),
        interleaveComplex(rewriter, loc, backward.getResult(4),
                          backward.getResult(5)),
        interleaveComplex(rewriter, loc, backward.getResult(6),
                          backward.getResult(7))};
    // After t = 0 the carry is [not bos_0] conj(q) G_0 = dh0.
    if (s.h0)
      results.push_back(interleaveComplex(rewriter, loc, backward.getResult(0),
                                          backward.getResult(1)));
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void populateGeckoEmaLoweringPatterns(RewritePatternSet &patterns) {
  patterns
      .add<LowerEmaCoeffs, LowerEmaCoeffsGrad, LowerEmaScan, LowerEmaScanGrad>(
          patterns.getContext());
}

} // namespace mlir::gecko
