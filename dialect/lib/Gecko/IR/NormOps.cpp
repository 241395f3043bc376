//===- NormOps.cpp - Normalisation ops: verifiers, types, VJPs ------------===//
//
// Implements the norm family of docs/dialect.md#norm-family. Constraint
// labels in diagnostics refer to that document.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// Shared group-norm checks
//===----------------------------------------------------------------------===//

/// rms_norm / layer_norm constraints C1-C4 on `x`, the optional affine
/// parameters, `num_groups` and `eps`.
static LogicalResult verifyGroupNorm(Operation *op, Value x, Value weight,
                                     Value bias, int64_t numGroups,
                                     double eps) {
  auto xType = cast<RankedTensorType>(x.getType());
  if (xType.getRank() < 1)
    return emitConstraintError(op, "C1") << "x must have rank >= 1";
  int64_t features = xType.getShape().back();
  if (numGroups < 1)
    return emitConstraintError(op, "C2")
           << "num_groups must be positive, got " << numGroups;
  if (!dimDivisible(features, numGroups))
    return emitConstraintError(op, "C2")
           << "num_groups (" << numGroups
           << ") must divide the last dimension of x (" << features << ")";
  for (auto [name, param] : {std::pair<StringRef, Value>{"weight", weight},
                             std::pair<StringRef, Value>{"bias", bias}}) {
    if (!param)
      continue;
    if (failed(verifyShape(op, "C3", name, param, {features})) ||
        failed(
            verifyElementType(op, "C3", name, param, xType.getElementType())))
      return failure();
  }
  if (!(eps > 0.0))
    return emitConstraintError(op, "C4") << "eps must be positive, got " << eps;
  return success();
}

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location>,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  return success();
}

LogicalResult RmsNormOp::verify() {
  return verifyGroupNorm(*this, getX(), getWeight(), Value(), getNumGroups(),
                         getEps().convertToDouble());
}

FailureOr<SmallVector<Value>> RmsNormOp::buildVjp(OpBuilder &b,
                                                  ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  auto grad =
      RmsNormGradOp::create(b, getLoc(), resultGrads[0], getX(), getWeight(),
                            getNumGroupsAttr(), getEpsAttr());
  grads[0] = grad.getDx();
  if (getWeight())
    grads[1] = grad.getDweight();
  return grads;
}

LogicalResult RmsNormGradOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  if (adaptor.getWeight())
    types.push_back(adaptor.getWeight().getType());
  return success();
}

LogicalResult RmsNormGradOp::verify() {
  if (failed(verifyGroupNorm(*this, getX(), getWeight(), Value(),
                             getNumGroups(), getEps().convertToDouble())))
    return failure();
  return verifySameTensorType(*this, "C5", "x", getX(), "dy", getDy());
}

//===----------------------------------------------------------------------===//
// layer_norm
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location>,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  return success();
}

LogicalResult LayerNormOp::verify() {
  return verifyGroupNorm(*this, getX(), getWeight(), getBias(), getNumGroups(),
                         getEps().convertToDouble());
}

FailureOr<SmallVector<Value>> LayerNormOp::buildVjp(OpBuilder &b,
                                                    ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  auto grad =
      LayerNormGradOp::create(b, getLoc(), resultGrads[0], getX(), getWeight(),
                              getBias() ? b.getUnitAttr() : UnitAttr(),
                              getNumGroupsAttr(), getEpsAttr());
  unsigned next = 0;
  grads[next++] = grad.getDx();
  if (getWeight())
    grads[next++] = grad.getDweight();
  if (getBias())
    grads[next++] = grad.getDbias();
  return grads;
}

LogicalResult LayerNormGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location>,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  Type xType = adaptor.getX().getType();
  types.push_back(xType);
  // dweight has weight's type; dbias is 1-D over the last dimension of x.
  if (adaptor.getWeight())
    types.push_back(adaptor.getWeight().getType());
  if (adaptor.getWithBias()) {
    auto ranked = dyn_cast<RankedTensorType>(xType);
    if (!ranked)
      return failure();
    int64_t features =
        ranked.getRank() >= 1 ? ranked.getShape().back() : ShapedType::kDynamic;
    types.push_back(RankedTensorType::get({features}, ranked.getElementType()));
  }
  return success();
}

LogicalResult LayerNormGradOp::verify() {
  if (failed(verifyGroupNorm(*this, getX(), getWeight(), Value(),
                             getNumGroups(), getEps().convertToDouble())))
    return failure();
  return verifySameTensorType(*this, "C5", "x", getX(), "dy", getDy());
}

//===----------------------------------------------------------------------===//
// Shared timestep-norm helpers
//===----------------------------------------------------------------------===//

/// Size of dimension `dim` of `type`, or dynamic if `type` has no such
/// dimension. Type inference runs before the verifier, so malformed shapes
/// infer dynamic sizes and the verifier reports the labelled constraint.
static int64_t dimOrDynamic(RankedTensorType type, unsigned dim) {
  return dim < type.getRank() ? type.getDimSize(dim) : ShapedType::kDynamic;
}

/// G as a dimension size (dynamic if the attribute is not positive).
static int64_t groupsDim(int64_t numGroups) {
  return numGroups >= 1 ? numGroups : ShapedType::kDynamic;
}

/// Result types of timestep_decay_norm / timestep_norm: y, count (B, i64),
/// mean and var (B x G, x's element type).
static LogicalResult inferTimestepNormTypes(Value x, int64_t numGroups,
                                            SmallVectorImpl<Type> &types) {
  auto xType = dyn_cast<RankedTensorType>(x.getType());
  if (!xType)
    return failure();
  int64_t batch = dimOrDynamic(xType, 0);
  auto stat = RankedTensorType::get({batch, groupsDim(numGroups)},
                                    xType.getElementType());
  types.push_back(xType);
  types.push_back(
      RankedTensorType::get({batch}, IntegerType::get(x.getContext(), 64)));
  types.push_back(stat);
  types.push_back(stat);
  return success();
}

/// Result types of the timestep-norm grads: dx, dweight, dbias and, with a
/// complete incoming state, dmean_in and dvar_in.
static LogicalResult inferTimestepNormGradTypes(Value x, Value weight,
                                                Value mean, Value var,
                                                SmallVectorImpl<Type> &types) {
  types.push_back(x.getType());
  types.push_back(weight.getType());
  types.push_back(weight.getType());
  if (mean && var) {
    types.push_back(mean.getType());
    types.push_back(var.getType());
  }
  return success();
}

/// Checks x (C1: B x L x D) and C2-C4 of the group-norm helper.
static LogicalResult verifyTimestepInput(Operation *op, Value x, Value weight,
                                         Value bias, int64_t numGroups,
                                         double eps) {
  if (failed(verifyRank(op, "C1", "x", x, 3)))
    return failure();
  return verifyGroupNorm(op, x, weight, bias, numGroups, eps);
}

/// Checks a (count, mean, var) state against x (B x L x D) and G:
/// `allLabel` all three or none, `countLabel` count is B, `statLabel` mean
/// and var are B x G with x's element type.
static LogicalResult verifyTimestepState(Operation *op, StringRef allLabel,
                                         StringRef countLabel,
                                         StringRef statLabel, Value x,
                                         Value count, Value mean, Value var,
                                         int64_t numGroups) {
  if (!count && !mean && !var)
    return success();
  if (!count || !mean || !var)
    return emitConstraintError(op, allLabel)
           << "the state needs all of count, mean and var";
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t batch = xType.getDimSize(0);
  if (failed(verifyShape(op, countLabel, "count", count, {batch})))
    return failure();
  for (auto [name, stat] : {std::pair<StringRef, Value>{"mean", mean},
                            std::pair<StringRef, Value>{"var", var}})
    if (failed(verifyShape(op, statLabel, name, stat, {batch, numGroups})) ||
        failed(verifyElementType(op, statLabel, name, stat,
                                 xType.getElementType())))
      return failure();
  return success();
}

/// Checks the cotangents of the outgoing (mean, var): `allLabel` both or
/// neither, `shapeLabel` B x G with x's element type.
static LogicalResult verifyStateCotangents(Operation *op, StringRef allLabel,
                                           StringRef shapeLabel, Value x,
                                           Value dmean, Value dvar,
                                           int64_t numGroups) {
  if (!dmean && !dvar)
    return success();
  if (!dmean || !dvar)
    return emitConstraintError(op, allLabel)
           << "dstate needs both dmean_out and dvar_out";
  auto xType = cast<RankedTensorType>(x.getType());
  for (auto [name, grad] : {std::pair<StringRef, Value>{"dmean_out", dmean},
                            std::pair<StringRef, Value>{"dvar_out", dvar}})
    if (failed(verifyShape(op, shapeLabel, name, grad,
                           {xType.getDimSize(0), numGroups})) ||
        failed(verifyElementType(op, shapeLabel, name, grad,
                                 xType.getElementType())))
      return failure();
  return success();
}

/// Cotangents of the outgoing (mean, var) for a timestep-norm grad: both
/// null if neither is set, otherwise zeros stand in for a missing one.
static std::pair<Value, Value> stateCotangents(OpBuilder &b, Location loc,
                                               Value dmean, Value dvar,
                                               Value meanOut, Value varOut) {
  if (!dmean && !dvar)
    return {Value(), Value()};
  if (!dmean)
    dmean = zerosLike(b, loc, meanOut);
  if (!dvar)
    dvar = zerosLike(b, loc, varOut);
  return {dmean, dvar};
}

//===----------------------------------------------------------------------===//
// timestep_decay_norm
//===----------------------------------------------------------------------===//

/// C5: 0 < beta1, beta2 < 1.
static LogicalResult verifyBetas(Operation *op, double beta1, double beta2) {
  for (auto [name, beta] : {std::pair<StringRef, double>{"beta1", beta1},
                            std::pair<StringRef, double>{"beta2", beta2}})
    if (!(beta > 0.0 && beta < 1.0))
      return emitConstraintError(op, "C5")
             << name << " must lie in (0, 1), got " << beta;
  return success();
}

/// C6: bos is B x L.
static LogicalResult verifyBos(Operation *op, Value x, Value bos) {
  if (!bos)
    return success();
  auto xType = cast<RankedTensorType>(x.getType());
  return verifyShape(op, "C6", "bos", bos,
                     {xType.getDimSize(0), xType.getDimSize(1)});
}

LogicalResult
TimestepDecayNormOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  return inferTimestepNormTypes(adaptor.getX(), adaptor.getNumGroups(), types);
}

LogicalResult TimestepDecayNormOp::verify() {
  if (failed(verifyTimestepInput(*this, getX(), getWeight(), getBias(),
                                 getNumGroups(), getEps().convertToDouble())) ||
      failed(verifyBetas(*this, getBeta1().convertToDouble(),
                         getBeta2().convertToDouble())) ||
      failed(verifyBos(*this, getX(), getBos())))
    return failure();
  return verifyTimestepState(*this, "C7", "C8", "C9", getX(), getCount(),
                             getMean(), getVar(), getNumGroups());
}

FailureOr<SmallVector<Value>>
TimestepDecayNormOp::buildVjp(OpBuilder &b, ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  Value dy = resultGrads[0];
  if (!dy && !resultGrads[2] && !resultGrads[3])
    return grads;
  Location loc = getLoc();
  if (!dy)
    dy = zerosLike(b, loc, getY());
  auto [dmean, dvar] = stateCotangents(b, loc, resultGrads[2], resultGrads[3],
                                       getMeanOut(), getVarOut());
  auto grad = TimestepDecayNormGradOp::create(
      b, loc, dy, getX(), getWeight(), getBos(), getCount(), getMean(),
      getVar(), dmean, dvar, getNumGroupsAttr(), getBeta1Attr(), getBeta2Attr(),
      getEpsAttr());
  grads[getXMutable().getOperandNumber()] = grad.getDx();
  grads[getWeightMutable().getOperandNumber()] = grad.getDweight();
  grads[getBiasMutable().getOperandNumber()] = grad.getDbias();
  if (getMean()) {
    grads[getMeanMutable()[0].getOperandNumber()] = grad.getDmeanIn();
    grads[getVarMutable()[0].getOperandNumber()] = grad.getDvarIn();
  }
  return grads;
}

LogicalResult TimestepDecayNormGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferTimestepNormGradTypes(adaptor.getX(), adaptor.getWeight(),
                                    adaptor.getMean(), adaptor.getVar(), types);
}

LogicalResult TimestepDecayNormGradOp::verify() {
  if (failed(verifyTimestepInput(*this, getX(), getWeight(), Value(),
                                 getNumGroups(), getEps().convertToDouble())) ||
      failed(verifyBetas(*this, getBeta1().convertToDouble(),
                         getBeta2().convertToDouble())) ||
      failed(verifyBos(*this, getX(), getBos())) ||
      failed(verifyTimestepState(*this, "C7", "C8", "C9", getX(), getCount(),
                                 getMean(), getVar(), getNumGroups())) ||
      failed(verifySameTensorType(*this, "C10", "x", getX(), "dy", getDy())))
    return failure();
  return verifyStateCotangents(*this, "C11", "C12", getX(), getDmeanOut(),
                               getDvarOut(), getNumGroups());
}

//===----------------------------------------------------------------------===//
// timestep_norm
//===----------------------------------------------------------------------===//

LogicalResult TimestepNormOp::inferReturnTypes(MLIRContext *,
                                               std::optional<Location>,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &types) {
  return inferTimestepNormTypes(adaptor.getX(), adaptor.getNumGroups(), types);
}

LogicalResult TimestepNormOp::verify() {
  if (failed(verifyTimestepInput(*this, getX(), getWeight(), getBias(),
                                 getNumGroups(), getEps().convertToDouble())))
    return failure();
  return verifyTimestepState(*this, "C5", "C6", "C7", getX(), getCount(),
                             getMean(), getVar(), getNumGroups());
}

FailureOr<SmallVector<Value>> TimestepNormOp::buildVjp(OpBuilder &b,
                                                       ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  Value dy = resultGrads[0];
  if (!dy && !resultGrads[2] && !resultGrads[3])
    return grads;
  Location loc = getLoc();
  if (!dy)
    dy = zerosLike(b, loc, getY());
  auto [dmean, dvar] = stateCotangents(b, loc, resultGrads[2], resultGrads[3],
                                       getMeanOut(), getVarOut());
  auto grad = TimestepNormGradOp::create(
      b, loc, dy, getX(), getWeight(), getCount(), getMean(), getVar(), dmean,
      dvar, getNumGroupsAttr(), getEpsAttr());
  grads[getXMutable().getOperandNumber()] = grad.getDx();
  grads[getWeightMutable().getOperandNumber()] = grad.getDweight();
  grads[getBiasMutable().getOperandNumber()] = grad.getDbias();
  if (getMean()) {
    grads[getMeanMutable()[0].getOperandNumber()] = grad.getDmeanIn();
    grads[getVarMutable()[0].getOperandNumber()] = grad.getDvarIn();
  }
  return grads;
}

LogicalResult
TimestepNormGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                     Adaptor adaptor,
                                     SmallVectorImpl<Type> &types) {
  return inferTimestepNormGradTypes(adaptor.getX(), adaptor.getWeight(),
                                    adaptor.getMean(), adaptor.getVar(), types);
}

LogicalResult TimestepNormGradOp::verify() {
  if (failed(verifyTimestepInput(*this, getX(), getWeight(), Value(),
                                 getNumGroups(), getEps().convertToDouble())) ||
      failed(verifyTimestepState(*this, "C5", "C6", "C7", getX(), getCount(),
                                 getMean(), getVar(), getNumGroups())) ||
      failed(verifySameTensorType(*this, "C8", "x", getX(), "dy", getDy())))
    return failure();
  return verifyStateCotangents(*this, "C9", "C10", getX(), getDmeanOut(),
                               getDvarOut(), getNumGroups());
}
