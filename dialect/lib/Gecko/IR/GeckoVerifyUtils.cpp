//===- GeckoVerifyUtils.cpp - Shared verifier helpers ---------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoVerifyUtils.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::gecko {

InFlightDiagnostic emitConstraintError(Operation *op, llvm::StringRef label) {
  return op->emitOpError() << "[" << label << "] ";
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      os << "x";
    if (ShapedType::isDynamic(shape[i]))
      os << "?";
    else
      os << shape[i];
  }
  if (shape.empty())
    os << "scalar";
  return out;
}

LogicalResult verifyRank(Operation *op, llvm::StringRef label,
                         llvm::StringRef name, Value value, int64_t rank) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != rank)
    return emitConstraintError(op, label)
           << name << " must have rank " << rank << ", got "
           << formatShape(type.getShape());
  return success();
}

LogicalResult verifyDim(Operation *op, llvm::StringRef label,
                        llvm::StringRef name, Value value, unsigned dim,
                        int64_t expected, llvm::StringRef what) {
  auto type = cast<RankedTensorType>(value.getType());
  if (dim >= type.getRank())
    return emitConstraintError(op, label)
           << name << " has rank " << type.getRank() << ", dimension " << dim
           << " does not exist";
  if (!dimsMatch(type.getDimSize(dim), expected))
    return emitConstraintError(op, label)
           << "dimension " << dim << " of " << name << " ("
           << type.getDimSize(dim) << ") must equal " << what << " ("
           << expected << ")";
  return success();
}

LogicalResult verifyShape(Operation *op, llvm::StringRef label,
                          llvm::StringRef name, Value value,
                          llvm::ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  bool ok = type.getRank() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i)
    ok = dimsMatch(type.getDimSize(i), shape[i]);
  if (!ok)
    return emitConstraintError(op, label)
           << name << " must have shape " << formatShape(shape) << ", got "
           << formatShape(type.getShape());
  return success();
}

LogicalResult verifyElementType(Operation *op, llvm::StringRef label,
                                llvm::StringRef name, Value value,
                                Type elementType) {
  Type actual = cast<RankedTensorType>(value.getType()).getElementType();
  if (actual != elementType)
    return emitConstraintError(op, label) << name << " must have element type "
                                          << elementType << ", got " << actual;
  return success();
}

LogicalResult verifySameTensorType(Operation *op, llvm::StringRef label,
                                   llvm::StringRef nameA, Value a,
                                   llvm::StringRef nameB, Value b) {
  auto ta = cast<RankedTensorType>(a.getType());
  if (failed(verifyShape(op, label, nameB, b, ta.getShape())))
    return failure();
  return verifyElementType(op, label, nameB, b, ta.getElementType());
}

} // namespace mlir::gecko
