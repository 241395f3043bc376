//===- RuntimeOps.cpp - Ops of the lowered IR: verifiers ------------------===//
//
// Implements the runtime ops of docs/dialect.md#runtime-ops
// (gecko.ready_signal).
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::gecko;

#define GET_OP_CLASSES
#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.cpp.inc"

//===----------------------------------------------------------------------===//
// ready_signal
//===----------------------------------------------------------------------===//

LogicalResult ReadySignalOp::verify() {
  // I32Attr reads back as uint32_t; the sign is the attribute's.
  if (int64_t id = getIdAttr().getInt(); id < 0)
    return emitOpError() << "id must be >= 0, got " << id;
  if (getTensors().empty())
    return emitOpError() << "must name at least one tensor";
  llvm::SmallDenseSet<StringRef, 8> seen;
  for (Attribute attr : getTensors()) {
    StringRef name = cast<StringAttr>(attr).getValue();
    if (name.empty())
      return emitOpError() << "names an empty tensor";
    if (!seen.insert(name).second)
      return emitOpError() << "names tensor '" << name << "' twice";
  }
  // Exactly once per call: directly in the body of a function.
  Operation *parent = (*this)->getParentOp();
  if (!parent || !isa<FunctionOpInterface>(parent))
    return emitOpError() << "must be a top-level op of a function body, "
                            "not nested in '"
                         << (parent ? parent->getName().getStringRef()
                                    : StringRef("nothing"))
                         << "'";
  return success();
}
