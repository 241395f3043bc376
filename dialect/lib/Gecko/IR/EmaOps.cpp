//===- EmaOps.cpp - Complex EMA ops: verifiers, types, VJPs ---------------===//
//
// Implements the EMA family of docs/dialect.md#ema-family: the CEMA
// coefficients and the scan, with their backward ops. Constraint labels in
// diagnostics refer to that document.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Size of dimension `dim` of `type`, or dynamic if `type` has no such
/// dimension. Type inference runs before the verifier, so malformed shapes
/// infer dynamic sizes and the verifier reports the labelled constraint.
static int64_t dimOrDynamic(RankedTensorType type, unsigned dim) {
  return dim < type.getRank() ? type.getDimSize(dim) : ShapedType::kDynamic;
}

/// Checks that `value` is a D x N x 2 complex tensor.
static LogicalResult verifyComplexDxN(Operation *op, StringRef label,
                                      StringRef name, Value value,
                                      int64_t channels, int64_t states) {
  return verifyShape(op, label, name, value, {channels, states, 2});
}

//===----------------------------------------------------------------------===//
// ema_coeffs
//===----------------------------------------------------------------------===//

/// ema_coeffs constraints C1-C3 and C5 on alpha, delta and theta.
static LogicalResult verifyEmaParams(Operation *op, Value alpha, Value delta,
                                     Value theta) {
  if (failed(verifyRank(op, "C1", "alpha", alpha, 2)))
    return failure();
  auto alphaType = cast<RankedTensorType>(alpha.getType());
  int64_t channels = alphaType.getDimSize(0);
  int64_t states = alphaType.getDimSize(1);
  if (!ShapedType::isDynamic(states) && states < 1)
    return emitConstraintError(op, "C1")
           << "alpha must have at least one EMA state (N >= 1), got N = "
           << states;
  if (failed(verifySameTensorType(op, "C2", "alpha", alpha, "delta", delta)))
    return failure();
  auto thetaType = cast<RankedTensorType>(theta.getType());
  bool thetaOk =
      (thetaType.getRank() == 1 || thetaType.getRank() == 2) &&
      dimsMatch(thetaType.getDimSize(0), channels) &&
      (thetaType.getRank() == 1 || dimsMatch(thetaType.getDimSize(1), 1));
  if (!thetaOk)
    return emitConstraintError(op, "C3")
           << "theta must have shape " << formatShape({channels}) << " or "
           << formatShape({channels, 1}) << ", got "
           << formatShape(thetaType.getShape());
  return verifyElementType(op, "C5", "theta", theta,
                           alphaType.getElementType());
}

/// f64 for f64 parameters, f32 otherwise.
static Type coefficientType(Type paramElementType) {
  if (paramElementType.isF64())
    return paramElementType;
  return Float32Type::get(paramElementType.getContext());
}

LogicalResult EmaCoeffsOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location>,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto alphaType = dyn_cast<RankedTensorType>(adaptor.getAlpha().getType());
  if (!alphaType)
    return failure();
  int64_t channels = dimOrDynamic(alphaType, 0);
  int64_t states = dimOrDynamic(alphaType, 1);
  Type elementType = coefficientType(alphaType.getElementType());
  auto complexType = RankedTensorType::get({channels, states, 2}, elementType);
  types.push_back(RankedTensorType::get({channels, states}, elementType));
  types.push_back(complexType);
  types.push_back(complexType);
  return success();
}

namespace {
/// gamma_c is gamma converted to the coefficient type: with f32 or f64
/// parameters the conversion is the identity, so uses of gamma_c become uses
/// of gamma.
struct ForwardIdentityGamma : OpRewritePattern<EmaCoeffsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmaCoeffsOp op,
                                PatternRewriter &rewriter) const override {
    Value gammaC = op.getGammaC();
    if (gammaC.use_empty() || gammaC.getType() != op.getGamma().getType())
      return failure();
    rewriter.replaceAllUsesWith(gammaC, op.getGamma());
    return success();
  }
};
} // namespace

void EmaCoeffsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<ForwardIdentityGamma>(context);
}

LogicalResult EmaCoeffsOp::verify() {
  if (failed(verifyEmaParams(*this, getAlpha(), getDelta(), getTheta())))
    return failure();
  auto alphaType = cast<RankedTensorType>(getAlpha().getType());
  if (failed(verifyComplexDxN(*this, "C4", "gamma", getGamma(),
                              alphaType.getDimSize(0),
                              alphaType.getDimSize(1))))
    return failure();
  return verifyElementType(*this, "C5", "gamma", getGamma(),
                           alphaType.getElementType());
}

FailureOr<SmallVector<Value>> EmaCoeffsOp::buildVjp(OpBuilder &b,
                                                    ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (llvm::all_of(resultGrads, [](Value v) { return !v; }))
    return grads;
  Location loc = getLoc();
  SmallVector<Value> cotangents;
  for (auto [grad, result] : llvm::zip_equal(resultGrads, getResults()))
    cotangents.push_back(grad ? grad : zerosLike(b, loc, result));
  auto grad = EmaCoeffsGradOp::create(b, loc, cotangents[0], cotangents[1],
                                      cotangents[2], getAlpha(), getDelta(),
                                      getTheta());
  grads[0] = grad.getDalpha();
  grads[1] = grad.getDdelta();
  grads[2] = grad.getDtheta();
  grads[3] = grad.getDgammaRaw();
  return grads;
}

LogicalResult EmaCoeffsGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location>,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto alphaType = dyn_cast<RankedTensorType>(adaptor.getAlpha().getType());
  if (!alphaType)
    return failure();
  types.push_back(alphaType);
  types.push_back(adaptor.getDelta().getType());
  types.push_back(adaptor.getTheta().getType());
  types.push_back(RankedTensorType::get(
      {dimOrDynamic(alphaType, 0), dimOrDynamic(alphaType, 1), 2},
      alphaType.getElementType()));
  return success();
}

LogicalResult EmaCoeffsGradOp::verify() {
  if (failed(verifyEmaParams(*this, getAlpha(), getDelta(), getTheta())))
    return failure();
  auto alphaType = cast<RankedTensorType>(getAlpha().getType());
  int64_t channels = alphaType.getDimSize(0);
  int64_t states = alphaType.getDimSize(1);
  Type elementType = coefficientType(alphaType.getElementType());
  if (failed(verifyShape(*this, "C6", "dp", getDp(), {channels, states})) ||
      failed(verifyElementType(*this, "C6", "dp", getDp(), elementType)))
    return failure();
  for (auto [name, grad] : {std::pair<StringRef, Value>{"dq", getDq()},
                            std::pair<StringRef, Value>{"dgamma", getDgamma()}})
    if (failed(verifyComplexDxN(*this, "C7", name, grad, channels, states)) ||
        failed(verifyElementType(*this, "C7", name, grad, elementType)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// ema_scan
//===----------------------------------------------------------------------===//

/// ema_scan constraints C1-C6.
static LogicalResult verifyEmaScan(Operation *op, Value u, Value p, Value q,
                                   Value gamma, Value bos, Value h0) {
  if (failed(verifyRank(op, "C1", "u", u, 3)))
    return failure();
  auto uType = cast<RankedTensorType>(u.getType());
  int64_t batch = uType.getDimSize(0);
  int64_t channels = uType.getDimSize(2);
  if (failed(verifyRank(op, "C2", "p", p, 2)) ||
      failed(verifyDim(op, "C2", "p", p, 0, channels,
                       "the channel dimension D of u")))
    return failure();
  auto pType = cast<RankedTensorType>(p.getType());
  int64_t states = pType.getDimSize(1);
  if (!ShapedType::isDynamic(states) && states < 1)
    return emitConstraintError(op, "C2")
           << "p must have at least one EMA state (N >= 1), got N = " << states;
  if (failed(verifyComplexDxN(op, "C3", "q", q, channels, states)) ||
      failed(verifyComplexDxN(op, "C3", "gamma", gamma, channels, states)) ||
      failed(verifyElementType(op, "C4", "q", q, pType.getElementType())) ||
      failed(
          verifyElementType(op, "C4", "gamma", gamma, pType.getElementType())))
    return failure();
  if (bos &&
      failed(verifyShape(op, "C5", "bos", bos, {batch, uType.getDimSize(1)})))
    return failure();
  if (h0 &&
      (failed(verifyShape(op, "C6", "h0", h0, {batch, channels, states, 2})) ||
       failed(verifyElementType(op, "C6", "h0", h0, pType.getElementType()))))
    return failure();
  return success();
}

LogicalResult EmaScanOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location>,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto uType = dyn_cast<RankedTensorType>(adaptor.getU().getType());
  auto pType = dyn_cast<RankedTensorType>(adaptor.getP().getType());
  if (!uType || !pType)
    return failure();
  types.push_back(uType);
  types.push_back(
      RankedTensorType::get({dimOrDynamic(uType, 0), dimOrDynamic(uType, 2),
                             dimOrDynamic(pType, 1), 2},
                            pType.getElementType()));
  return success();
}

LogicalResult EmaScanOp::verify() {
  return verifyEmaScan(*this, getU(), getP(), getQ(), getGamma(), getBos(),
                       getH0());
}

FailureOr<SmallVector<Value>> EmaScanOp::buildVjp(OpBuilder &b,
                                                  ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  Value dy = resultGrads[0];
  Value dh = resultGrads[1];
  if (!dy && !dh)
    return grads;
  Location loc = getLoc();
  if (!dy)
    dy = zerosLike(b, loc, getY());
  auto grad = EmaScanGradOp::create(b, loc, dy, getU(), getP(), getQ(),
                                    getGamma(), getBos(), getH0(), dh);
  grads[getUMutable().getOperandNumber()] = grad.getDu();
  grads[getPMutable().getOperandNumber()] = grad.getDp();
  grads[getQMutable().getOperandNumber()] = grad.getDq();
  grads[getGammaMutable().getOperandNumber()] = grad.getDgamma();
  if (getH0())
    grads[getH0Mutable()[0].getOperandNumber()] = grad.getDh0();
  return grads;
}

LogicalResult EmaScanGradOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getU().getType());
  types.push_back(adaptor.getP().getType());
  types.push_back(adaptor.getQ().getType());
  types.push_back(adaptor.getGamma().getType());
  if (adaptor.getH0())
    types.push_back(adaptor.getH0().getType());
  return success();
}

LogicalResult EmaScanGradOp::verify() {
  if (failed(verifyEmaScan(*this, getU(), getP(), getQ(), getGamma(), getBos(),
                           getH0())) ||
      failed(verifySameTensorType(*this, "C7", "u", getU(), "dy", getDy())))
    return failure();
  Value dh = getDhOut();
  if (!dh)
    return success();
  auto uType = cast<RankedTensorType>(getU().getType());
  auto pType = cast<RankedTensorType>(getP().getType());
  if (failed(verifyShape(
          *this, "C8", "dh_out", dh,
          {uType.getDimSize(0), uType.getDimSize(2), pType.getDimSize(1), 2})))
    return failure();
  return verifyElementType(*this, "C8", "dh_out", dh, pType.getElementType());
}
