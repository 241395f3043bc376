//===- BasicOps.cpp - Basic ops: verifiers, types, VJPs -------------------===//
//
// Implements the basic family of docs/dialect.md#basic-family (embedding,
// linear, shared-z affine, RoPE, silu / swiglu). Constraint labels in
// diagnostics refer to that document.
//
// Result type inference never fails on ranked operands: where an operand has
// the wrong rank it falls back to dynamic sizes, so that the verifier, not
// the parser, reports the labelled constraint.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Size of dimension `dim` of `v`, or dynamic if `v` has no such dimension.
static int64_t dimOrDynamic(Value v, int64_t dim) {
  auto type = tensorType(v);
  if (dim < 0 || dim >= type.getRank())
    return ShapedType::kDynamic;
  return type.getDimSize(dim);
}

/// Size of the last dimension of `v`, or dynamic for a 0-d tensor.
static int64_t lastDimOrDynamic(Value v) {
  return dimOrDynamic(v, tensorType(v).getRank() - 1);
}

//===----------------------------------------------------------------------===//
// embedding
//===----------------------------------------------------------------------===//

/// embedding / embedding_grad constraint C2 on `tokens`.
static LogicalResult verifyTokens(Operation *op, Value tokens) {
  return verifyRank(op, "C2", "tokens", tokens, 2);
}

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location>,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto table = tensorType(adaptor.getTable());
  SmallVector<int64_t> shape(tensorType(adaptor.getTokens()).getShape());
  shape.push_back(lastDimOrDynamic(adaptor.getTable()));
  types.push_back(RankedTensorType::get(shape, table.getElementType()));
  return success();
}

LogicalResult EmbeddingOp::verify() {
  if (failed(verifyRank(*this, "C1", "table", getTable(), 2)))
    return failure();
  return verifyTokens(*this, getTokens());
}

FailureOr<SmallVector<Value>> EmbeddingOp::buildVjp(OpBuilder &b,
                                                    ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  int64_t vocab = tensorType(getTable()).getDimSize(0);
  if (ShapedType::isDynamic(vocab))
    return emitOpError("VJP needs a static vocabulary size (dimension 0 of "
                       "table)");
  grads[0] =
      EmbeddingGradOp::create(b, getLoc(), resultGrads[0], getTokens(),
                              b.getI64IntegerAttr(vocab), getScaleEmbAttr())
          .getDtable();
  return grads;
}

LogicalResult EmbeddingGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location>,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  int64_t vocab = static_cast<int64_t>(adaptor.getVocabSize());
  if (vocab < 0)
    vocab = ShapedType::kDynamic; // rejected by the verifier (C4)
  types.push_back(
      RankedTensorType::get({vocab, lastDimOrDynamic(adaptor.getDx())},
                            tensorType(adaptor.getDx()).getElementType()));
  return success();
}

LogicalResult EmbeddingGradOp::verify() {
  if (failed(verifyTokens(*this, getTokens())))
    return failure();
  auto tokens = tensorType(getTokens());
  if (failed(verifyRank(*this, "C3", "dx", getDx(), 3)) ||
      failed(verifyDim(*this, "C3", "dx", getDx(), 0, tokens.getDimSize(0),
                       "the batch size of tokens")) ||
      failed(verifyDim(*this, "C3", "dx", getDx(), 1, tokens.getDimSize(1),
                       "the sequence length of tokens")))
    return failure();
  int64_t vocab = static_cast<int64_t>(getVocabSize());
  if (vocab < 1)
    return emitConstraintError(*this, "C4")
           << "vocab_size must be positive, got " << vocab;
  return success();
}

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

/// linear / linear_grad constraints C1-C4 on `x`, `weight` and `bias`.
static LogicalResult verifyLinear(Operation *op, Value x, Value weight,
                                  Value bias) {
  auto xType = tensorType(x);
  if (xType.getRank() < 1)
    return emitConstraintError(op, "C1") << "x must have rank >= 1";
  if (failed(verifyRank(op, "C2", "weight", weight, 2)) ||
      failed(verifyDim(op, "C2", "weight", weight, 1, xType.getShape().back(),
                       "the last dimension of x")))
    return failure();
  if (failed(verifyElementType(op, "C3", "weight", weight,
                               xType.getElementType())))
    return failure();
  if (bias && (failed(verifyShape(op, "C4", "bias", bias,
                                  {tensorType(weight).getDimSize(0)})) ||
               failed(verifyElementType(op, "C4", "bias", bias,
                                        xType.getElementType()))))
    return failure();
  return success();
}

/// [..., out] for x = [..., in] and weight = [out, in], with x's element type.
static RankedTensorType linearResultType(Value x, Value weight) {
  auto xType = tensorType(x);
  SmallVector<int64_t> shape(xType.getShape());
  if (!shape.empty())
    shape.pop_back();
  shape.push_back(dimOrDynamic(weight, 0));
  return RankedTensorType::get(shape, xType.getElementType());
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  types.push_back(linearResultType(adaptor.getX(), adaptor.getWeight()));
  return success();
}

LogicalResult LinearOp::verify() {
  return verifyLinear(*this, getX(), getWeight(), getBias());
}

FailureOr<SmallVector<Value>> LinearOp::buildVjp(OpBuilder &b,
                                                 ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  bool withBias = static_cast<bool>(getBias());
  auto grad = LinearGradOp::create(b, getLoc(), resultGrads[0], getX(),
                                   getWeight(), withBias);
  grads[0] = grad.getDx();
  grads[1] = grad.getDweight();
  if (withBias)
    grads[2] = grad.getDbias();
  return grads;
}

LogicalResult LinearGradOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location>,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &types) {
  auto xType = tensorType(adaptor.getX());
  types.push_back(xType);
  types.push_back(adaptor.getWeight().getType());
  if (adaptor.getWithBias())
    types.push_back(RankedTensorType::get(
        {dimOrDynamic(adaptor.getWeight(), 0)}, xType.getElementType()));
  return success();
}

LogicalResult LinearGradOp::verify() {
  if (failed(verifyLinear(*this, getX(), getWeight(), Value())))
    return failure();
  auto expected = linearResultType(getX(), getWeight());
  if (failed(verifyShape(*this, "C5", "dy", getDy(), expected.getShape())))
    return failure();
  return verifyElementType(*this, "C5", "dy", getDy(),
                           expected.getElementType());
}

//===----------------------------------------------------------------------===//
// z_affine
//===----------------------------------------------------------------------===//

/// z_affine / z_affine_grad constraints C1-C3 on `z`, the parameters (`beta`
/// may be null) and `head_dim`.
static LogicalResult verifyZAffine(Operation *op, Value z, Value gamma,
                                   Value beta, int64_t headDim) {
  if (failed(verifyRank(op, "C1", "z", z, 3)))
    return failure();
  auto zType = tensorType(z);
  int64_t width = zType.getDimSize(2);
  for (auto [name, param] : {std::pair<StringRef, Value>{"gamma", gamma},
                             std::pair<StringRef, Value>{"beta", beta}}) {
    if (!param)
      continue;
    if (failed(verifyShape(op, "C2", name, param, {4, width})) ||
        failed(
            verifyElementType(op, "C2", name, param, zType.getElementType())))
      return failure();
  }
  if (headDim < 1)
    return emitConstraintError(op, "C3")
           << "head_dim must be positive, got " << headDim;
  if (!dimDivisible(width, headDim))
    return emitConstraintError(op, "C3")
           << "head_dim (" << headDim
           << ") must divide the last dimension of z (" << width << ")";
  return success();
}

LogicalResult ZAffineOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location>,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  types.append(4, adaptor.getZ().getType());
  return success();
}

LogicalResult ZAffineOp::verify() {
  return verifyZAffine(*this, getZ(), getGamma(), getBeta(), getHeadDim());
}

FailureOr<SmallVector<Value>> ZAffineOp::buildVjp(OpBuilder &b,
                                                  ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (llvm::all_of(resultGrads, [](Value v) { return !v; }))
    return grads;
  auto grad = ZAffineGradOp::create(
      b, getLoc(), getZ(), getGamma(), resultGrads[0], resultGrads[1],
      resultGrads[2], resultGrads[3], getHeadDimAttr());
  grads[0] = grad.getDz();
  grads[1] = grad.getDgamma();
  grads[2] = grad.getDbeta();
  return grads;
}

LogicalResult ZAffineGradOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getZ().getType());
  types.append(2, adaptor.getGamma().getType());
  return success();
}

LogicalResult ZAffineGradOp::verify() {
  if (failed(verifyZAffine(*this, getZ(), getGamma(), Value(), getHeadDim())))
    return failure();
  bool any = false;
  for (auto [name, grad] : {std::pair<StringRef, Value>{"dq", getDq()},
                            std::pair<StringRef, Value>{"dk", getDk()},
                            std::pair<StringRef, Value>{"daq", getDaq()},
                            std::pair<StringRef, Value>{"dak", getDak()}}) {
    if (!grad)
      continue;
    any = true;
    if (failed(verifySameTensorType(*this, "C4", "z", getZ(), name, grad)))
      return failure();
  }
  if (!any)
    return emitConstraintError(*this, "C5")
           << "at least one of dq, dk, daq, dak must be present";
  return success();
}

//===----------------------------------------------------------------------===//
// rope
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  return success();
}

LogicalResult RopeOp::verify() {
  if (failed(verifyRank(*this, "C1", "x", getX(), 3)))
    return failure();
  int64_t width = tensorType(getX()).getDimSize(2);
  int64_t heads = getNumHeads();
  if (heads < 1)
    return emitConstraintError(*this, "C2")
           << "num_heads must be positive, got " << heads;
  if (!dimDivisible(width, heads))
    return emitConstraintError(*this, "C2")
           << "num_heads (" << heads
           << ") must divide the last dimension of x (" << width << ")";
  int64_t ropeHeads = getNumRopeHeads();
  if (ropeHeads < 0 || ropeHeads > heads)
    return emitConstraintError(*this, "C3")
           << "num_rope_heads must be in [0, num_heads = " << heads << "], got "
           << ropeHeads;
  if (ropeHeads > 0 && !ShapedType::isDynamic(width) &&
      (width / heads) % 2 != 0)
    return emitConstraintError(*this, "C4")
           << "the head dimension (" << width / heads
           << ") must be even to form rotation pairs";
  double base = getBase().convertToDouble();
  if (!(base > 0.0) || std::isinf(base))
    return emitConstraintError(*this, "C5")
           << "base must be positive and finite, got " << base;
  if (getStart() && failed(verifyRank(*this, "C6", "start", getStart(), 0)))
    return failure();
  if (std::optional<int64_t> restart = getRestart(); restart && *restart < 1)
    return emitConstraintError(*this, "C7")
           << "restart must be positive, got " << *restart;
  return success();
}

OpFoldResult RopeOp::fold(FoldAdaptor) {
  // No head is rotated: the op is the identity on x.
  if (getNumRopeHeads() == 0)
    return getX();
  return {};
}

FailureOr<SmallVector<Value>> RopeOp::buildVjp(OpBuilder &b,
                                               ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  // R(a) is orthogonal, so R(a)^T = R(-a): rotate the cotangent back.
  grads[0] = RopeOp::create(
                 b, getLoc(), resultGrads[0], getStart(), getNumHeadsAttr(),
                 getNumRopeHeadsAttr(), getBaseAttr(),
                 getInverse() ? UnitAttr() : b.getUnitAttr(), getRestartAttr())
                 .getY();
  return grads;
}

//===----------------------------------------------------------------------===//
// silu / swiglu
//===----------------------------------------------------------------------===//

LogicalResult SiluOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  return success();
}

FailureOr<SmallVector<Value>> SiluOp::buildVjp(OpBuilder &b,
                                               ValueRange resultGrads) {
  SmallVector<Value> grads((*this)->getNumOperands(), Value());
  if (resultGrads[0])
    grads[0] = SiluGradOp::create(b, getLoc(), resultGrads[0], getX()).getDx();
  return grads;
}

LogicalResult SiluGradOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location>,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getX().getType());
  return success();
}

LogicalResult SiluGradOp::verify() {
  return verifySameTensorType(*this, "C1", "x", getX(), "dy", getDy());
}

LogicalResult SwigluOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getA().getType());
  return success();
}

LogicalResult SwigluOp::verify() {
  return verifySameTensorType(*this, "C1", "a", getA(), "b", getB());
}

FailureOr<SmallVector<Value>> SwigluOp::buildVjp(OpBuilder &b,
                                                 ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  auto grad = SwigluGradOp::create(b, getLoc(), resultGrads[0], getA(), getB());
  grads[0] = grad.getDa();
  grads[1] = grad.getDb();
  return grads;
}

LogicalResult SwigluGradOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location>,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getA().getType());
  types.push_back(adaptor.getB().getType());
  return success();
}

LogicalResult SwigluGradOp::verify() {
  if (failed(verifySameTensorType(*this, "C1", "a", getA(), "b", getB())))
    return failure();
  return verifySameTensorType(*this, "C2", "a", getA(), "dy", getDy());
}

//===----------------------------------------------------------------------===//
// segments
//===----------------------------------------------------------------------===//

LogicalResult SegmentsOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location>,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  ArrayRef<int64_t> shape = tensorType(adaptor.getTokens()).getShape();
  types.push_back(RankedTensorType::get(shape, IntegerType::get(context, 1)));
  types.push_back(RankedTensorType::get(shape, IntegerType::get(context, 64)));
  return success();
}

LogicalResult SegmentsOp::verify() {
  if (failed(verifyRank(*this, "C1", "tokens", getTokens(), 2)))
    return failure();
  if (Value offset = getOffset()) {
    if (failed(verifyShape(*this, "C2", "offset", offset,
                           {dimOrDynamic(getTokens(), 0)})))
      return failure();
  }
  return success();
}
