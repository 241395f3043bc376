//===- GeckoRuntimeOps.h - Ops of the lowered IR ----------------*- C++ -*-===//
//
// gecko.ready_signal (GeckoRuntimeOps.td): the runtime calls of the
// bufferized IR, in a header of their own so that the tensor-level passes
// do not depend on them.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_H
#define GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_H

#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h.inc"

#endif // GECKO_DIALECT_GECKO_IR_GECKORUNTIMEOPS_H
