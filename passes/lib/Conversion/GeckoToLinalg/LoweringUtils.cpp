//===- LoweringUtils.cpp - Shared helpers of the gecko lowering -----------===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::gecko::lowering {

Type getComputeType(Type elementType) {
  if (elementType.isF64())
    return elementType;
  return Float32Type::get(elementType.getContext());
}

Value castFloat(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  auto fromFloat = cast<FloatType>(from);
  auto toFloat = cast<FloatType>(to);
  if (fromFloat.getWidth() < toFloat.getWidth())
    return arith::ExtFOp::create(b, loc, to, value);
  return arith::TruncFOp::create(b, loc, to, value);
}

Value floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
}

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

SmallVector<OpFoldResult> getSizes(OpBuilder &b, Location loc, Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

Value emptyTensorLike(OpBuilder &b, Location loc, Value like,
                      Type elementType) {
  if (!elementType)
    elementType = cast<RankedTensorType>(like.getType()).getElementType();
  return emptyTensor(b, loc, getSizes(b, loc, like), elementType);
}

Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value scalar = floatConstant(b, loc, elementType, value);
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

SmallVector<utils::IteratorType> parallelIterators(int64_t n) {
  return SmallVector<utils::IteratorType>(n, utils::IteratorType::parallel);
}

Value buildElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                       Type resultElementType, ScalarBodyFn body) {
  auto type = cast<RankedTensorType>(inputs.front().getType());
  int64_t rank = type.getRank();
  Value init = emptyTensorLike(b, loc, inputs.front(), resultElementType);
  SmallVector<AffineMap> maps(inputs.size() + 1,
                              b.getMultiDimIdentityMap(rank));
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps,
      parallelIterators(rank),
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

SmallVector<Value> buildGeneric(OpBuilder &b, Location loc, ValueRange ins,
                                ValueRange outs, ArrayRef<AffineMap> maps,
                                ArrayRef<utils::IteratorType> iterators,
                                GenericBodyFn body) {
  auto generic = linalg::GenericOp::create(
      b, loc, outs.getTypes(), ins, outs, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                body(nested, nestedLoc, args));
      });
  return SmallVector<Value>(generic.getResults());
}

AffineMap dimsMap(MLIRContext *ctx, unsigned numDims, ArrayRef<int64_t> dims,
                  std::optional<int64_t> trailingConstant) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d : dims)
    exprs.push_back(d < 0 ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(d, ctx));
  if (trailingConstant)
    exprs.push_back(getAffineConstantExpr(*trailingConstant, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

} // namespace mlir::gecko::lowering
