//===- AttentionOps.cpp - Sliding chunk attention: verifiers, types, VJPs -===//
//
// Implements the attention family of docs/dialect.md#attention-family.
// Constraint labels in diagnostics refer to that document.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// Shared chunk-attention checks
//===----------------------------------------------------------------------===//

namespace {
/// The operands and attributes that chunk_attention and its backward share.
struct ChunkAttentionOperands {
  Value q, k, v, segments, prevK, prevV, prevSegments, start;
  int64_t numHeads, chunkSize;
};
} // namespace

static int64_t dimOf(Value value, unsigned dim) {
  return cast<RankedTensorType>(value.getType()).getDimSize(dim);
}

/// chunk_attention constraints C1-C9.
static LogicalResult verifyChunkAttention(Operation *op,
                                          const ChunkAttentionOperands &in) {
  // C1: ranks.
  for (auto [name, value] : {std::pair<StringRef, Value>{"q", in.q},
                             std::pair<StringRef, Value>{"k", in.k},
                             std::pair<StringRef, Value>{"v", in.v}})
    if (failed(verifyRank(op, "C1", name, value, 3)))
      return failure();
  auto qType = cast<RankedTensorType>(in.q.getType());
  int64_t batch = qType.getDimSize(0), length = qType.getDimSize(1);
  int64_t width = qType.getDimSize(2), valueWidth = dimOf(in.v, 2);
  Type elementType = qType.getElementType();

  // C2: k like q; v shares batch, length and element type.
  if (failed(verifySameTensorType(op, "C2", "q", in.q, "k", in.k)) ||
      failed(verifyDim(op, "C2", "v", in.v, 0, batch, "the batch size of q")) ||
      failed(verifyDim(op, "C2", "v", in.v, 1, length, "the length of q")) ||
      failed(verifyElementType(op, "C2", "v", in.v, elementType)))
    return failure();

  // C3: heads.
  if (in.numHeads < 1)
    return emitConstraintError(op, "C3")
           << "num_heads must be positive, got " << in.numHeads;
  if (!dimDivisible(width, in.numHeads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << in.numHeads
           << ") must divide the last dimension of q (" << width << ")";
  if (!dimDivisible(valueWidth, in.numHeads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << in.numHeads
           << ") must divide the last dimension of v (" << valueWidth << ")";

  // C4: chunk size.
  if (in.chunkSize < 1)
    return emitConstraintError(op, "C4")
           << "chunk_size must be positive, got " << in.chunkSize;

  // C5: segment ids.
  if (in.segments &&
      failed(verifyShape(op, "C5", "segments", in.segments, {batch, length})))
    return failure();

  // C6: the key/value cache.
  if (static_cast<bool>(in.prevK) != static_cast<bool>(in.prevV))
    return emitConstraintError(op, "C6")
           << "prev_k and prev_v must be given together";
  int64_t cached = ShapedType::kDynamic;
  if (in.prevK) {
    if (failed(verifyRank(op, "C6", "prev_k", in.prevK, 3)))
      return failure();
    cached = dimOf(in.prevK, 1);
    if (failed(verifyShape(op, "C6", "prev_k", in.prevK,
                           {batch, cached, width})) ||
        failed(verifyShape(op, "C6", "prev_v", in.prevV,
                           {batch, cached, valueWidth})) ||
        failed(verifyElementType(op, "C6", "prev_k", in.prevK, elementType)) ||
        failed(verifyElementType(op, "C6", "prev_v", in.prevV, elementType)))
      return failure();
  }

  // C7: cached segment ids exactly when both segments and a cache are used.
  bool wantPrevSegments = in.segments && in.prevK;
  if (wantPrevSegments && !in.prevSegments)
    return emitConstraintError(op, "C7")
           << "prev_segments is required when segments and a cache are given";
  if (!wantPrevSegments && in.prevSegments)
    return emitConstraintError(op, "C7")
           << "prev_segments requires both segments and a cache";
  if (in.prevSegments && failed(verifyShape(op, "C7", "prev_segments",
                                            in.prevSegments, {batch, cached})))
    return failure();

  // C8: the stream position is a scalar.
  if (in.start && failed(verifyRank(op, "C8", "start", in.start, 0)))
    return failure();

  // C9: the training form works on whole chunks.
  if (!in.prevK && !in.start && !dimDivisible(length, in.chunkSize))
    return emitConstraintError(op, "C9")
           << "without a cache or start, the length of q (" << length
           << ") must be a multiple of chunk_size (" << in.chunkSize << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// chunk_attention
//===----------------------------------------------------------------------===//

LogicalResult ChunkAttentionOp::inferReturnTypes(MLIRContext *,
                                                 std::optional<Location>,
                                                 Adaptor adaptor,
                                                 SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getV().getType());
  return success();
}

LogicalResult ChunkAttentionOp::verify() {
  return verifyChunkAttention(*this, {getQ(), getK(), getV(), getSegments(),
                                      getPrevK(), getPrevV(), getPrevSegments(),
                                      getStart(), getNumHeadsAttr().getInt(),
                                      getChunkSizeAttr().getInt()});
}

FailureOr<SmallVector<Value>>
ChunkAttentionOp::buildVjp(OpBuilder &b, ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  if (!resultGrads[0])
    return grads;
  auto grad = ChunkAttentionGradOp::create(
      b, getLoc(), resultGrads[0], getQ(), getK(), getV(), getSegments(),
      getPrevK(), getPrevV(), getPrevSegments(), getStart(), getNumHeadsAttr(),
      getChunkSizeAttr(), getLocalAttr());
  // Operand positions of the ODS operands q(0), k(1), v(2), prev_k(4) and
  // prev_v(5); segment ids and start are integers and get no cotangent.
  setOdsOperandGrad(*this, grads, 0, grad.getDq());
  setOdsOperandGrad(*this, grads, 1, grad.getDk());
  setOdsOperandGrad(*this, grads, 2, grad.getDv());
  setOdsOperandGrad(*this, grads, 4, grad.getDprevK());
  setOdsOperandGrad(*this, grads, 5, grad.getDprevV());
  return grads;
}

//===----------------------------------------------------------------------===//
// chunk_attention_grad
//===----------------------------------------------------------------------===//

LogicalResult
ChunkAttentionGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getQ().getType());
  types.push_back(adaptor.getK().getType());
  types.push_back(adaptor.getV().getType());
  if (adaptor.getPrevK())
    types.push_back(adaptor.getPrevK().getType());
  if (adaptor.getPrevV())
    types.push_back(adaptor.getPrevV().getType());
  return success();
}

LogicalResult ChunkAttentionGradOp::verify() {
  if (failed(verifyChunkAttention(
          *this, {getQ(), getK(), getV(), getSegments(), getPrevK(), getPrevV(),
                  getPrevSegments(), getStart(), getNumHeadsAttr().getInt(),
                  getChunkSizeAttr().getInt()})))
    return failure();
  // C10: the cotangent has the forward result's type (v's type).
  return verifySameTensorType(*this, "C10", "v", getV(), "dout", getDout());
}
