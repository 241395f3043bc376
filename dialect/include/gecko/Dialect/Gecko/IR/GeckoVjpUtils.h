//===- GeckoVjpUtils.h - Helpers for building VJPs --------------*- C++ -*-===//
//
// Shared by the buildVjp implementations of every op family. Callers of
// buildVjp (the autodiff pass, test-gecko-vjp) must have the arith, tensor
// and linalg dialects loaded, since zerosLike creates their ops.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOVJPUTILS_H
#define GECKO_DIALECT_GECKO_IR_GECKOVJPUTILS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::gecko {

/// Zeros of `like`'s (ranked float tensor) type: a splat constant for static
/// shapes, otherwise tensor.empty + linalg.fill sized from `like`. Used where
/// a backward op needs a value for a result cotangent that is null (zero).
Value zerosLike(OpBuilder &b, Location loc, Value like);

/// Stores `grad` as the cotangent of ODS operand `odsIndex` of `op` when that
/// (optional) operand is present. `grads` is indexed by flat operand number.
template <typename OpTy>
void setOdsOperandGrad(OpTy op, llvm::SmallVectorImpl<Value> &grads,
                       unsigned odsIndex, Value grad) {
  auto [first, size] = op.getODSOperandIndexAndLength(odsIndex);
  if (size)
    grads[first] = grad;
}

} // namespace mlir::gecko

#endif // GECKO_DIALECT_GECKO_IR_GECKOVJPUTILS_H
