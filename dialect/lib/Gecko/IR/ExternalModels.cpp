//===- ExternalModels.cpp - Gecko interfaces on upstream ops --------------===//
//
// Attaches DifferentiableOpInterface to the upstream ops a frontend module
// may use (docs/frontend.md, rule F7): the arith ops of the residual
// y = x + h and the gated combination a = o_s * r + o_m (spec sections 2 and
// 3.9), math.exp, linalg.broadcast (weights and priors broadcast over the
// batch), tensor.concat (Megalodon's padded z views), and, for the
// streaming state of chunk_loss (differentiated with wrt-state), the
// history's tensor.extract_slice and the fresh-stream arith.select.
// docs/dialect.md#basic-family ("Upstream VJPs") documents the rules.
//
// arith ops have no implicit broadcasting (both operands and the result have
// one type), so every cotangent has the result's type and needs no
// reduction. The VJP is defined on ranked float tensors only.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoExternalModels.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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

/// d exp(a) = dy * exp(a), reusing the forward result.
struct ExpVjpModel
    : public DifferentiableOpInterface::ExternalModel<ExpVjpModel,
                                                      math::ExpOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Value dy = resultGrads[0];
    if (!dy)
      return SmallVector<Value>{Value()};
    auto exp = cast<math::ExpOp>(op);
    return SmallVector<Value>{arith::MulFOp::create(
        b, op->getLoc(), dy, exp.getResult(), exp.getFastmathAttr())};
  }
};

/// linalg.broadcast copies its input along the added `dimensions`, so the
/// input's cotangent sums the result's cotangent over them.
struct BroadcastVjpModel
    : public DifferentiableOpInterface::ExternalModel<BroadcastVjpModel,
                                                      linalg::BroadcastOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    auto broadcast = cast<linalg::BroadcastOp>(op);
    // Operands: input, init. Only the input (a tensor) gets a cotangent.
    SmallVector<Value> grads(op->getNumOperands(), Value());
    Value dy = resultGrads.empty() ? Value() : resultGrads[0];
    auto inputType = dyn_cast<RankedTensorType>(broadcast.getInput().getType());
    if (!dy || !inputType || !isa<FloatType>(inputType.getElementType()))
      return grads;
    Location loc = op->getLoc();
    Type element = inputType.getElementType();
    Value zero = arith::ConstantOp::create(b, loc, element,
                                           b.getFloatAttr(element, 0.0));
    SmallVector<OpFoldResult> sizes;
    for (int64_t d : inputType.getShape())
      sizes.push_back(b.getIndexAttr(d));
    if (!inputType.hasStaticShape())
      return op->emitOpError("VJP needs a statically shaped input");
    Value init = tensor::EmptyOp::create(b, loc, sizes, element);
    Value filled = linalg::FillOp::create(b, loc, zero, init).getResult(0);
    auto reduce = linalg::ReduceOp::create(
        b, loc, dy, filled, broadcast.getDimensions(),
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value sum = arith::AddFOp::create(nb, nl, args[0], args[1]);
          linalg::YieldOp::create(nb, nl, sum);
        });
    grads[0] = reduce.getResult(0);
    return grads;
  }
};

/// tensor.concat along one dimension: each input's cotangent is its slice
/// of the result's cotangent.
struct ConcatVjpModel
    : public DifferentiableOpInterface::ExternalModel<ConcatVjpModel,
                                                      tensor::ConcatOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    auto concat = cast<tensor::ConcatOp>(op);
    SmallVector<Value> grads(op->getNumOperands(), Value());
    Value dy = resultGrads[0];
    if (!dy || !isa<FloatType>(concat.getResultType().getElementType()))
      return grads;
    int64_t dim = concat.getDim();
    int64_t offset = 0;
    for (auto [i, input] : llvm::enumerate(concat.getInputs())) {
      auto type = cast<RankedTensorType>(input.getType());
      if (!type.hasStaticShape())
        return op->emitOpError("VJP needs statically shaped inputs");
      SmallVector<int64_t> offsets(type.getRank(), 0),
          strides(type.getRank(), 1);
      offsets[dim] = offset;
      grads[i] = tensor::ExtractSliceOp::create(
          b, op->getLoc(), type, dy, ValueRange{}, ValueRange{}, ValueRange{},
          offsets, type.getShape(), strides);
      offset += type.getDimSize(dim);
    }
    return grads;
  }
};

/// tensor.extract_slice with static offsets, sizes and unit strides (not
/// rank-reducing): the source's cotangent is dy padded with zeros, built
/// with tensor.concat along each sliced dimension.
struct ExtractSliceVjpModel
    : public DifferentiableOpInterface::ExternalModel<ExtractSliceVjpModel,
                                                      tensor::ExtractSliceOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    auto slice = cast<tensor::ExtractSliceOp>(op);
    SmallVector<Value> grads(op->getNumOperands(), Value());
    Value dy = resultGrads[0];
    auto sourceType = slice.getSourceType();
    if (!dy || !isa<FloatType>(sourceType.getElementType()))
      return grads;
    auto resultType = slice.getResultType();
    if (!sourceType.hasStaticShape() || !resultType.hasStaticShape() ||
        resultType.getRank() != sourceType.getRank() ||
        ShapedType::isDynamicShape(slice.getStaticOffsets()) ||
        llvm::any_of(slice.getStaticStrides(),
                     [](int64_t s) { return s != 1; }))
      return op->emitOpError("VJP needs static offsets and sizes, unit "
                             "strides and no rank reduction");
    Location loc = op->getLoc();
    Value grad = dy;
    SmallVector<int64_t> shape(resultType.getShape());
    for (int64_t d = 0; d < sourceType.getRank(); ++d) {
      int64_t before = slice.getStaticOffsets()[d];
      int64_t after = sourceType.getDimSize(d) - before - shape[d];
      if (before == 0 && after == 0)
        continue;
      SmallVector<Value> parts;
      auto zeros = [&](int64_t n) {
        SmallVector<int64_t> zshape(shape);
        zshape[d] = n;
        auto type = RankedTensorType::get(zshape, sourceType.getElementType());
        return arith::ConstantOp::create(
                   b, loc, type,
                   DenseElementsAttr::get(
                       type, b.getFloatAttr(sourceType.getElementType(), 0.0)))
            .getResult();
      };
      if (before > 0)
        parts.push_back(zeros(before));
      parts.push_back(grad);
      if (after > 0)
        parts.push_back(zeros(after));
      grad = tensor::ConcatOp::create(b, loc, d, parts);
      shape[d] = sourceType.getDimSize(d);
    }
    grads[0] = grad;
    return grads;
  }
};

/// arith.select(c, t, f): (none, select(c, dy, 0), select(c, 0, dy)).
struct SelectVjpModel
    : public DifferentiableOpInterface::ExternalModel<SelectVjpModel,
                                                      arith::SelectOp> {
  FailureOr<SmallVector<Value>> buildVjp(Operation *op, OpBuilder &b,
                                         ValueRange resultGrads) const {
    auto select = cast<arith::SelectOp>(op);
    SmallVector<Value> grads(op->getNumOperands(), Value());
    Value dy = resultGrads[0];
    if (!dy)
      return grads;
    if (failed(checkRankedFloatTensor(op)))
      return failure();
    Location loc = op->getLoc();
    Value zeros = zerosLike(b, loc, dy);
    grads[1] = arith::SelectOp::create(b, loc, select.getCondition(), dy, zeros)
                   .getResult();
    grads[2] = arith::SelectOp::create(b, loc, select.getCondition(), zeros, dy)
                   .getResult();
    return grads;
  }
};

} // namespace

void mlir::gecko::registerGeckoExternalModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::AddFOp::attachInterface<AddFVjpModel>(*ctx);
    arith::SubFOp::attachInterface<SubFVjpModel>(*ctx);
    arith::MulFOp::attachInterface<MulFVjpModel>(*ctx);
    arith::NegFOp::attachInterface<NegFVjpModel>(*ctx);
    arith::SelectOp::attachInterface<SelectVjpModel>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, math::MathDialect *) {
    math::ExpOp::attachInterface<ExpVjpModel>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, linalg::LinalgDialect *) {
    linalg::BroadcastOp::attachInterface<BroadcastVjpModel>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, tensor::TensorDialect *) {
    tensor::ConcatOp::attachInterface<ConcatVjpModel>(*ctx);
    tensor::ExtractSliceOp::attachInterface<ExtractSliceVjpModel>(*ctx);
  });
}
