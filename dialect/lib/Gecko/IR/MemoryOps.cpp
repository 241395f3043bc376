//===- MemoryOps.cpp - Adaptive working memory: verifiers, types, VJPs ----===//
//
// Implements the memory family of docs/dialect.md#memory-family. Constraint
// labels in diagnostics refer to that document.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::gecko;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

namespace {
/// The operands and attributes that working_memory and its backward share.
struct WorkingMemoryOperands {
  Value aq, ak, v, segments, memory, logNorm, prevAk, prevV, prevSegments,
      docMem;
  int64_t numHeads, chunkSize;
};

/// The state types a working_memory call produces (or consumes).
struct MemoryStateTypes {
  Type memory, logNorm;
};
} // namespace

/// Dimension `dim` of `value`, or dynamic if `value` is not a ranked tensor
/// with such a dimension (type inference runs before the verifier).
static int64_t dimOrDynamic(Value value, unsigned dim) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && dim < type.getRank() ? type.getDimSize(dim)
                                      : ShapedType::kDynamic;
}

/// `width / heads`, or dynamic when unknown or not an exact division.
static int64_t headDim(int64_t width, int64_t heads) {
  if (ShapedType::isDynamic(width) || heads < 1 || width % heads != 0)
    return ShapedType::kDynamic;
  return width / heads;
}

/// The element type of the log-normaliser: f32 (spec section 5), or f64 for
/// f64 activations.
static Type wideType(Type elementType) {
  return elementType.isF64() ? elementType
                             : Float32Type::get(elementType.getContext());
}

/// Types of memory_out and log_norm_out. An incoming state fixes them;
/// otherwise they are B x H x d_k x d_v in v's element type and B x H x d_k
/// in wideType. Never fails: sizes it cannot derive (malformed operands, which
/// the verifier reports) are dynamic.
static MemoryStateTypes inferStateTypes(Value aq, Value v, Value memory,
                                        Value logNorm, int64_t numHeads) {
  Type elementType = getElementTypeOrSelf(v.getType());
  int64_t batch = dimOrDynamic(aq, 0);
  int64_t heads = numHeads >= 1 ? numHeads : ShapedType::kDynamic;
  int64_t dk = headDim(dimOrDynamic(aq, 2), numHeads);
  int64_t dv = headDim(dimOrDynamic(v, 2), numHeads);
  MemoryStateTypes types;
  types.memory =
      memory ? memory.getType()
             : RankedTensorType::get({batch, heads, dk, dv}, elementType);
  types.logNorm = logNorm ? logNorm.getType()
                          : RankedTensorType::get({batch, heads, dk},
                                                  wideType(elementType));
  return types;
}

/// working_memory constraints C1-C11.
static LogicalResult verifyWorkingMemory(Operation *op,
                                         const WorkingMemoryOperands &in) {
  // C1: ranks.
  for (auto [name, value] : {std::pair<StringRef, Value>{"aq", in.aq},
                             std::pair<StringRef, Value>{"ak", in.ak},
                             std::pair<StringRef, Value>{"v", in.v}})
    if (failed(verifyRank(op, "C1", name, value, 3)))
      return failure();
  auto aqType = cast<RankedTensorType>(in.aq.getType());
  int64_t batch = aqType.getDimSize(0), length = aqType.getDimSize(1);
  int64_t width = aqType.getDimSize(2);
  int64_t valueWidth = dimOrDynamic(in.v, 2);
  Type elementType = aqType.getElementType();

  // C2: ak like aq; v shares batch, length and element type.
  if (failed(verifySameTensorType(op, "C2", "aq", in.aq, "ak", in.ak)) ||
      failed(
          verifyDim(op, "C2", "v", in.v, 0, batch, "the batch size of aq")) ||
      failed(verifyDim(op, "C2", "v", in.v, 1, length, "the length of aq")) ||
      failed(verifyElementType(op, "C2", "v", in.v, elementType)))
    return failure();

  // C3: heads.
  if (in.numHeads < 1)
    return emitConstraintError(op, "C3")
           << "num_heads must be positive, got " << in.numHeads;
  if (!dimDivisible(width, in.numHeads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << in.numHeads
           << ") must divide the last dimension of aq (" << width << ")";
  if (!dimDivisible(valueWidth, in.numHeads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << in.numHeads
           << ") must divide the last dimension of v (" << valueWidth << ")";
  int64_t heads = in.numHeads;
  int64_t dk = headDim(width, heads), dv = headDim(valueWidth, heads);

  // C4: chunk size.
  if (in.chunkSize < 1)
    return emitConstraintError(op, "C4")
           << "chunk_size must be positive, got " << in.chunkSize;
  int64_t chunk = in.chunkSize;

  // C5: whole chunks, at least one.
  if (!ShapedType::isDynamic(length) && (length < 1 || length % chunk != 0))
    return emitConstraintError(op, "C5")
           << "the length of aq (" << length
           << ") must be a positive multiple of chunk_size (" << chunk << ")";

  // C6: segment ids.
  if (in.segments &&
      failed(verifyShape(op, "C6", "segments", in.segments, {batch, length})))
    return failure();

  // C7: the state group is all or nothing.
  bool hasState = in.memory || in.logNorm || in.prevAk || in.prevV;
  if (hasState && !(in.memory && in.logNorm && in.prevAk && in.prevV))
    return emitConstraintError(op, "C7")
           << "memory, log_norm, prev_ak and prev_v must be given together";

  if (hasState) {
    // C8: memory.
    if (failed(verifyShape(op, "C8", "memory", in.memory,
                           {batch, heads, dk, dv})) ||
        failed(verifyElementType(op, "C8", "memory", in.memory, elementType)))
      return failure();
    // C9: log-normaliser (f32 or f64 by type).
    if (failed(
            verifyShape(op, "C9", "log_norm", in.logNorm, {batch, heads, dk})))
      return failure();
    // C10: the cached previous chunk.
    if (failed(verifyShape(op, "C10", "prev_ak", in.prevAk,
                           {batch, chunk, width})) ||
        failed(verifyShape(op, "C10", "prev_v", in.prevV,
                           {batch, chunk, valueWidth})) ||
        failed(
            verifyElementType(op, "C10", "prev_ak", in.prevAk, elementType)) ||
        failed(verifyElementType(op, "C10", "prev_v", in.prevV, elementType)))
      return failure();
  }

  // C11: segment state exactly when both segments and a state are given.
  bool wantSegmentState = in.segments && hasState;
  bool hasSegmentState = in.prevSegments || in.docMem;
  if (wantSegmentState && !(in.prevSegments && in.docMem))
    return emitConstraintError(op, "C11")
           << "prev_segments and doc_mem are required when segments and a "
              "state are given";
  if (!wantSegmentState && hasSegmentState)
    return emitConstraintError(op, "C11")
           << "prev_segments and doc_mem require both segments and a state";
  if (in.prevSegments &&
      (failed(verifyShape(op, "C11", "prev_segments", in.prevSegments,
                          {batch, chunk})) ||
       failed(verifyShape(op, "C11", "doc_mem", in.docMem, {batch}))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// working_memory
//===----------------------------------------------------------------------===//

LogicalResult WorkingMemoryOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location>,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  MemoryStateTypes state = inferStateTypes(
      adaptor.getAq(), adaptor.getV(), adaptor.getMemory(),
      adaptor.getLogNorm(),
      adaptor.getNumHeadsAttr() ? adaptor.getNumHeadsAttr().getInt() : 0);
  types.push_back(adaptor.getV().getType());
  types.push_back(state.memory);
  types.push_back(state.logNorm);
  if (adaptor.getSegments())
    types.push_back(RankedTensorType::get(
        {dimOrDynamic(adaptor.getAq(), 0)},
        IntegerType::get(adaptor.getAq().getContext(), 64)));
  return success();
}

LogicalResult WorkingMemoryOp::verify() {
  return verifyWorkingMemory(*this, {getAq(), getAk(), getV(), getSegments(),
                                     getMemory(), getLogNorm(), getPrevAk(),
                                     getPrevV(), getPrevSegments(), getDocMem(),
                                     getNumHeadsAttr().getInt(),
                                     getChunkSizeAttr().getInt()});
}

FailureOr<SmallVector<Value>>
WorkingMemoryOp::buildVjp(OpBuilder &b, ValueRange resultGrads) {
  SmallVector<Value> grads(getNumOperands(), Value());
  Value dy = resultGrads[0], dmemory = resultGrads[1],
        dlogNorm = resultGrads[2];
  if (!dy && !dmemory && !dlogNorm)
    return grads;
  if (!dy)
    dy = zerosLike(b, getLoc(), getV());
  auto grad = WorkingMemoryGradOp::create(
      b, getLoc(), dy, getAq(), getAk(), getV(), getSegments(), getMemory(),
      getLogNorm(), getPrevAk(), getPrevV(), getPrevSegments(), getDocMem(),
      dmemory, dlogNorm, getNumHeadsAttr(), getChunkSizeAttr());
  // ODS operands: aq(0) ak(1) v(2) segments(3) memory(4) log_norm(5)
  // prev_ak(6) prev_v(7) prev_segments(8) doc_mem(9); the integer ones get
  // no cotangent.
  setOdsOperandGrad(*this, grads, 0, grad.getDaq());
  setOdsOperandGrad(*this, grads, 1, grad.getDak());
  setOdsOperandGrad(*this, grads, 2, grad.getDv());
  setOdsOperandGrad(*this, grads, 4, grad.getDmemoryIn());
  setOdsOperandGrad(*this, grads, 5, grad.getDlogNormIn());
  setOdsOperandGrad(*this, grads, 6, grad.getDprevAk());
  setOdsOperandGrad(*this, grads, 7, grad.getDprevV());
  return grads;
}

//===----------------------------------------------------------------------===//
// working_memory_grad
//===----------------------------------------------------------------------===//

LogicalResult
WorkingMemoryGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getAq().getType());
  types.push_back(adaptor.getAk().getType());
  types.push_back(adaptor.getV().getType());
  for (Value state : {adaptor.getMemory(), adaptor.getLogNorm(),
                      adaptor.getPrevAk(), adaptor.getPrevV()})
    if (state)
      types.push_back(state.getType());
  return success();
}

LogicalResult WorkingMemoryGradOp::verify() {
  if (failed(verifyWorkingMemory(
          *this,
          {getAq(), getAk(), getV(), getSegments(), getMemory(), getLogNorm(),
           getPrevAk(), getPrevV(), getPrevSegments(), getDocMem(),
           getNumHeadsAttr().getInt(), getChunkSizeAttr().getInt()})))
    return failure();
  // C12: dy has the type of the forward output (v's type).
  if (failed(verifySameTensorType(*this, "C12", "v", getV(), "dy", getDy())))
    return failure();
  // C13: the state cotangents have the types of the forward's final state.
  MemoryStateTypes state = inferStateTypes(
      getAq(), getV(), getMemory(), getLogNorm(), getNumHeadsAttr().getInt());
  // The operands passed C1-C11, so both state types are ranked tensors.
  auto memoryType = cast<RankedTensorType>(state.memory);
  auto logNormType = cast<RankedTensorType>(state.logNorm);
  if (Value dmemory = getDmemoryOut())
    if (failed(verifyShape(*this, "C13", "dmemory_out", dmemory,
                           memoryType.getShape())) ||
        failed(verifyElementType(*this, "C13", "dmemory_out", dmemory,
                                 memoryType.getElementType())))
      return failure();
  if (Value dlogNorm = getDlogNormOut())
    if (failed(verifyShape(*this, "C13", "dlog_norm_out", dlogNorm,
                           logNormType.getShape())) ||
        failed(verifyElementType(*this, "C13", "dlog_norm_out", dlogNorm,
                                 logNormType.getElementType())))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// working_memory_step
//===----------------------------------------------------------------------===//

LogicalResult
WorkingMemoryStepOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getV().getType());
  types.push_back(adaptor.getMemory().getType());
  types.push_back(adaptor.getLogNorm().getType());
  if (adaptor.getSegments())
    types.push_back(
        adaptor.getDocMem()
            ? adaptor.getDocMem().getType()
            : RankedTensorType::get(
                  {dimOrDynamic(adaptor.getAq(), 0)},
                  IntegerType::get(adaptor.getAq().getContext(), 64)));
  return success();
}

LogicalResult WorkingMemoryStepOp::verify() {
  Operation *op = *this;
  // C1: ranks.
  for (auto [name, value] : {std::pair<StringRef, Value>{"aq", getAq()},
                             std::pair<StringRef, Value>{"ak", getAk()},
                             std::pair<StringRef, Value>{"v", getV()}})
    if (failed(verifyRank(op, "C1", name, value, 3)))
      return failure();
  auto aqType = cast<RankedTensorType>(getAq().getType());
  int64_t batch = aqType.getDimSize(0), length = aqType.getDimSize(1);
  int64_t width = aqType.getDimSize(2);
  int64_t valueWidth = dimOrDynamic(getV(), 2);
  Type elementType = aqType.getElementType();

  // C2: ak like aq; v shares batch, length and element type.
  if (failed(verifySameTensorType(op, "C2", "aq", getAq(), "ak", getAk())) ||
      failed(
          verifyDim(op, "C2", "v", getV(), 0, batch, "the batch size of aq")) ||
      failed(verifyDim(op, "C2", "v", getV(), 1, length, "the length of aq")) ||
      failed(verifyElementType(op, "C2", "v", getV(), elementType)))
    return failure();

  // C3: heads.
  int64_t heads = getNumHeadsAttr().getInt();
  if (heads < 1)
    return emitConstraintError(op, "C3")
           << "num_heads must be positive, got " << heads;
  if (!dimDivisible(width, heads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << heads
           << ") must divide the last dimension of aq (" << width << ")";
  if (!dimDivisible(valueWidth, heads))
    return emitConstraintError(op, "C3")
           << "num_heads (" << heads
           << ") must divide the last dimension of v (" << valueWidth << ")";
  int64_t dk = headDim(width, heads), dv = headDim(valueWidth, heads);

  // C4: chunk size.
  int64_t chunk = getChunkSizeAttr().getInt();
  if (chunk < 1)
    return emitConstraintError(op, "C4")
           << "chunk_size must be positive, got " << chunk;

  // C5: the call fits in one chunk.
  if (!ShapedType::isDynamic(length) && (length < 1 || length > chunk))
    return emitConstraintError(op, "C5")
           << "the length of aq (" << length
           << ") must be between 1 and chunk_size (" << chunk << ")";

  // C6: segment ids.
  if (getSegments() &&
      failed(verifyShape(op, "C6", "segments", getSegments(), {batch, length})))
    return failure();

  // C7: memory.
  if (failed(verifyShape(op, "C7", "memory", getMemory(),
                         {batch, heads, dk, dv})) ||
      failed(verifyElementType(op, "C7", "memory", getMemory(), elementType)))
    return failure();

  // C8: log-normaliser (f32 or f64 by type).
  if (failed(
          verifyShape(op, "C8", "log_norm", getLogNorm(), {batch, heads, dk})))
    return failure();

  // C9: the cache.
  if (failed(verifyRank(op, "C9", "prev_ak", getPrevAk(), 3)))
    return failure();
  int64_t cached = dimOrDynamic(getPrevAk(), 1);
  if (failed(verifyShape(op, "C9", "prev_ak", getPrevAk(),
                         {batch, cached, width})) ||
      failed(verifyShape(op, "C9", "prev_v", getPrevV(),
                         {batch, cached, valueWidth})) ||
      failed(
          verifyElementType(op, "C9", "prev_ak", getPrevAk(), elementType)) ||
      failed(verifyElementType(op, "C9", "prev_v", getPrevV(), elementType)))
    return failure();
  // C10: at most two chunks once the call is appended.
  if (!ShapedType::isDynamic(cached) && !ShapedType::isDynamic(length) &&
      cached + length > 2 * chunk)
    return emitConstraintError(op, "C10")
           << "the cache (" << cached << ") and the call (" << length
           << ") must not exceed two chunks (" << 2 * chunk << ")";

  // C11: segment state exactly with segments.
  bool hasSegmentState = getPrevSegments() || getDocMem();
  if (getSegments() && !(getPrevSegments() && getDocMem()))
    return emitConstraintError(op, "C11")
           << "prev_segments and doc_mem are required with segments";
  if (!getSegments() && hasSegmentState)
    return emitConstraintError(op, "C11")
           << "prev_segments and doc_mem require segments";
  if (getSegments() &&
      (failed(verifyShape(op, "C11", "prev_segments", getPrevSegments(),
                          {batch, cached})) ||
       failed(verifyShape(op, "C11", "doc_mem", getDocMem(), {batch}))))
    return failure();
  return success();
}
