//===- GeckoVerifyUtils.h - Shared verifier helpers -------------*- C++ -*-===//
//
// Small helpers that every op family uses to check its labelled constraints
// (docs/dialect.md). Each helper emits "[Cn] ..." on failure so the
// diagnostic names the constraint it enforces. Dynamic dimensions are
// accepted wherever a static size is expected: they are checked at run time.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOVERIFYUTILS_H
#define GECKO_DIALECT_GECKO_IR_GECKOVERIFYUTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::gecko {

/// Starts an op error that names constraint `label` ("C3" -> "[C3] ...").
InFlightDiagnostic emitConstraintError(Operation *op, llvm::StringRef label);

/// True if two dimension sizes can be equal (either is dynamic, or equal).
inline bool dimsMatch(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// True if static `dim` is divisible by `divisor` (dynamic dims pass).
inline bool dimDivisible(int64_t dim, int64_t divisor) {
  return ShapedType::isDynamic(dim) || (divisor > 0 && dim % divisor == 0);
}

/// Checks that `value` (named `name` in messages) has rank `rank`.
LogicalResult verifyRank(Operation *op, llvm::StringRef label,
                         llvm::StringRef name, Value value, int64_t rank);

/// Checks that dimension `dim` of `value` can equal `expected` (described as
/// `what`, e.g. "the feature dimension of x").
LogicalResult verifyDim(Operation *op, llvm::StringRef label,
                        llvm::StringRef name, Value value, unsigned dim,
                        int64_t expected, llvm::StringRef what);

/// Checks that `value`'s shape is compatible with `shape`.
LogicalResult verifyShape(Operation *op, llvm::StringRef label,
                          llvm::StringRef name, Value value,
                          llvm::ArrayRef<int64_t> shape);

/// Checks that `value` has element type `elementType`.
LogicalResult verifyElementType(Operation *op, llvm::StringRef label,
                                llvm::StringRef name, Value value,
                                Type elementType);

/// Checks that `a` and `b` have compatible shapes and the same element type.
LogicalResult verifySameTensorType(Operation *op, llvm::StringRef label,
                                   llvm::StringRef nameA, Value a,
                                   llvm::StringRef nameB, Value b);

/// Formats a shape as "2x?x64" for diagnostics.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace mlir::gecko

#endif // GECKO_DIALECT_GECKO_IR_GECKOVERIFYUTILS_H
