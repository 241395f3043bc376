//===- TrainingOps.cpp - Loss and optimizer ops: verifiers, types, VJPs ---===//
//
// Implements the training family of docs/dialect.md#training-family (cross
// entropy and AdamW). Constraint labels in diagnostics refer to that document.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// cross_entropy
//===----------------------------------------------------------------------===//

/// Element type of the loss: f64 for f64 logits, f32 otherwise.
static Type lossElementType(Value logits) {
  Type element = cast<RankedTensorType>(logits.getType()).getElementType();
  if (element.isF64())
    return element;
  return Float32Type::get(logits.getContext());
}

/// cross_entropy / cross_entropy_grad constraints C1-C2.
static LogicalResult verifyCrossEntropy(Operation *op, Value logits,
                                        Value targets) {
  if (failed(verifyRank(op, "C1", "logits", logits, 3)))
    return failure();
  auto logitsType = cast<RankedTensorType>(logits.getType());
  return verifyShape(op, "C2", "targets", targets,
                     {logitsType.getDimSize(0), logitsType.getDimSize(1)});
}

LogicalResult CrossEntropyOp::inferReturnTypes(MLIRContext *,
                                               std::optional<Location>,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &types) {
  types.push_back(
      RankedTensorType::get({}, lossElementType(adaptor.getLogits())));
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  return verifyCrossEntropy(*this, getLogits(), getTargets());
}

FailureOr<SmallVector<Value>> CrossEntropyOp::buildVjp(OpBuilder &b,
                                                       ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  grads[0] =
      CrossEntropyGradOp::create(b, getLoc(), resultGrads[0], getLogits(),
                                 getTargets(), getIgnoreIndexAttr())
          .getDlogits();
  return grads;
}

LogicalResult
CrossEntropyGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                     Adaptor adaptor,
                                     SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getLogits().getType());
  return success();
}

LogicalResult CrossEntropyGradOp::verify() {
  if (failed(verifyCrossEntropy(*this, getLogits(), getTargets())))
    return failure();
  if (failed(verifyRank(*this, "C3", "dloss", getDloss(), 0)))
    return failure();
  return verifyElementType(*this, "C3", "dloss", getDloss(),
                           lossElementType(getLogits()));
}

//===----------------------------------------------------------------------===//
// adamw
//===----------------------------------------------------------------------===//

LogicalResult AdamWOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  types.append(3, adaptor.getParam().getType());
  return success();
}

LogicalResult AdamWOp::verify() {
  auto paramType = cast<RankedTensorType>(getParam().getType());
  for (auto [name, value] : {std::pair<StringRef, Value>{"grad", getGrad()},
                             std::pair<StringRef, Value>{"m", getM()},
                             std::pair<StringRef, Value>{"v", getV()}})
    if (failed(verifyShape(*this, "C1", name, value, paramType.getShape())))
      return failure();
  Type f32 = Float32Type::get(getContext());
  for (auto [name, value] : {std::pair<StringRef, Value>{"param", getParam()},
                             std::pair<StringRef, Value>{"grad", getGrad()},
                             std::pair<StringRef, Value>{"m", getM()},
                             std::pair<StringRef, Value>{"v", getV()}})
    if (failed(verifyElementType(*this, "C2", name, value, f32)))
      return failure();
  if (failed(verifyRank(*this, "C3", "step", getStep(), 0)))
    return failure();
  if (failed(verifyRank(*this, "C4", "lr", getLr(), 0)) ||
      failed(verifyElementType(*this, "C4", "lr", getLr(), f32)))
    return failure();
  if (Value scale = getGradScale())
    if (failed(verifyRank(*this, "C5", "grad_scale", scale, 0)) ||
        failed(verifyElementType(*this, "C5", "grad_scale", scale, f32)))
      return failure();
  for (auto [name, beta] :
       {std::pair<StringRef, double>{"beta1", getBeta1().convertToDouble()},
        std::pair<StringRef, double>{"beta2", getBeta2().convertToDouble()}})
    if (!(beta >= 0.0 && beta < 1.0))
      return emitConstraintError(*this, "C6")
             << name << " must be in [0, 1), got " << beta;
  double eps = getEps().convertToDouble();
  if (!(eps > 0.0) || std::isinf(eps))
    return emitConstraintError(*this, "C7")
           << "eps must be positive and finite, got " << eps;
  double weightDecay = getWeightDecay().convertToDouble();
  if (!(weightDecay >= 0.0) || std::isinf(weightDecay))
    return emitConstraintError(*this, "C8")
           << "weight_decay must be non-negative and finite, got "
           << weightDecay;
  return success();
}
