//===- ExternalModels.cpp - Gecko interfaces on upstream ops --------------===//
//
// Attaches DifferentiableOpInterface to the upstream arith ops a Gecko block
// uses on tensors: the residual y = x + h and the gated combination
// a = o_s * r + o_m (spec sections 2 and 3.9). docs/dialect.md#basic-family
// ("Upstream arith VJPs") documents the rules.
//
// arith ops have no implicit broadcasting (both operands and the result have
// one type), so every cotangent has the result's type and needs no
// reduction. The VJP is defined on ranked float tensors only.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoExternalModels.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::gecko;

namespace {

/// Fails with a diagnostic unless `op`'s result is a ranked float tensor.
LogicalResult checkRankedFloatTensor(Operation *op) {
  auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!type || !isa<FloatType>(type.getElementType()))
    return op->emitOpError(
               "VJP is only defined on ranked tensors of floats, got ")
           << op->getResult(0).getType();
  return success();
}

/// Creates -dy with the fast-math flags of `op`.
Value negate(OpBuilder &b, Operation *op, Value dy,
             arith::FastMathFlagsAttr fmf) {
  return arith::NegFOp::create(b, op->getLoc(), dy, fmf).getResult();
}

/// d(a + b) = (dy, dy).
struct AddFVjpModel
    : public DifferentiableOpInterface::ExternalModel<AddFVjpModel,
                                                      arith::AddFOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Value dy = resultGrads[0];
    return SmallVector<Value>{dy, dy};
  }
};

/// d(a - b) = (dy, -dy).
struct SubFVjpModel
    : public DifferentiableOpInterface::ExternalModel<SubFVjpModel,
                                                      arith::SubFOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Value dy = resultGrads[0];
    if (!dy)
      return SmallVector<Value>{Value(), Value()};
    auto sub = cast<arith::SubFOp>(op);
    return SmallVector<Value>{dy, negate(b, op, dy, sub.getFastmathAttr())};
  }
};

/// d(a * b) = (dy * b, dy * a).
struct MulFVjpModel
    : public DifferentiableOpInterface::ExternalModel<MulFVjpModel,
                                                      arith::MulFOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Value dy = resultGrads[0];
    if (!dy)
      return SmallVector<Value>{Value(), Value()};
    auto mul = cast<arith::MulFOp>(op);
    auto fmf = mul.getFastmathAttr();
    Value da = arith::MulFOp::create(b, op->getLoc(), dy, mul.getRhs(), fmf);
    Value db = arith::MulFOp::create(b, op->getLoc(), dy, mul.getLhs(), fmf);
    return SmallVector<Value>{da, db};
  }
};

/// d(-a) = -dy.
struct NegFVjpModel
    : public DifferentiableOpInterface::ExternalModel<NegFVjpModel,
                                                      arith::NegFOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Value dy = resultGrads[0];
    if (!dy)
      return SmallVector<Value>{Value()};
    auto neg = cast<arith::NegFOp>(op);
    return SmallVector<Value>{negate(b, op, dy, neg.getFastmathAttr())};
  }
};

} // namespace

void mlir::gecko::registerGeckoExternalModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::AddFOp::attachInterface<AddFVjpModel>(*ctx);
    arith::SubFOp::attachInterface<SubFVjpModel>(*ctx);
    arith::MulFOp::attachInterface<MulFVjpModel>(*ctx);
    arith::NegFOp::attachInterface<NegFVjpModel>(*ctx);
  });
}
