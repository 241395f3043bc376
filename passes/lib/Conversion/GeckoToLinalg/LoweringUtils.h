//===- LoweringUtils.h - Shared helpers of the gecko lowering ---*- C++ -*-===//
//
// Small builders used by every family of gecko-to-linalg patterns: compute
// types, float casts and constants, empty/filled tensors with dynamic sizes,
// and an elementwise linalg.generic builder.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_LIB_CONVERSION_GECKOTOLINALG_LOWERINGUTILS_H
#define GECKO_LIB_CONVERSION_GECKOTOLINALG_LOWERINGUTILS_H

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>

namespace mlir::gecko::lowering {

/// The type statistics and reductions accumulate in for tensors of
/// `elementType`: f64 for f64, f32 for every narrower float
/// (docs/dialect.md, conventions).
Type getComputeType(Type elementType);

/// Converts a float scalar to `to` (arith.extf / arith.truncf, or nothing).
Value castFloat(OpBuilder &b, Location loc, Value value, Type to);

/// A float scalar constant of type `type`.
Value floatConstant(OpBuilder &b, Location loc, Type type, double value);

/// An index constant.
Value indexConstant(OpBuilder &b, Location loc, int64_t value);

/// The sizes of a ranked tensor: static ones as attributes, dynamic ones
/// through tensor.dim.
SmallVector<OpFoldResult> getSizes(OpBuilder &b, Location loc, Value tensor);

/// tensor.empty of the given sizes and element type.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elementType);

/// tensor.empty with the shape of `like` and `elementType` (default: like's).
Value emptyTensorLike(OpBuilder &b, Location loc, Value like,
                      Type elementType = {});

/// A tensor of the given sizes filled with `value` (linalg.fill).
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, double value);

/// `n` parallel iterators.
SmallVector<utils::IteratorType> parallelIterators(int64_t n);

/// Body of an elementwise generic: receives the scalar of every input and
/// returns the scalar result (of the result element type).
using ScalarBodyFn =
    llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic computing `body` elementwise over `inputs`, which all
/// have the shape of inputs[0]; the result has that shape and
/// `resultElementType`.
Value buildElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                       Type resultElementType, ScalarBodyFn body);

/// Body of a general generic: receives the scalars of the inputs followed by
/// those of the outputs and returns one value per output.
using GenericBodyFn =
    llvm::function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic with explicit maps and iterators; returns its results.
SmallVector<Value> buildGeneric(OpBuilder &b, Location loc, ValueRange ins,
                                ValueRange outs, ArrayRef<AffineMap> maps,
                                ArrayRef<utils::IteratorType> iterators,
                                GenericBodyFn body);

/// The map (d0, ..., d_{numDims-1}) -> (d_dims[0], d_dims[1], ...); a
/// negative entry selects the constant 0 (a size-1 or re/im position), and
/// `trailingConstant` appends one more constant result.
AffineMap dimsMap(MLIRContext *ctx, unsigned numDims, ArrayRef<int64_t> dims,
                  std::optional<int64_t> trailingConstant = std::nullopt);

} // namespace mlir::gecko::lowering

#endif // GECKO_LIB_CONVERSION_GECKOTOLINALG_LOWERINGUTILS_H
