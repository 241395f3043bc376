//===- GeckoOps.h - Operations of the gecko dialect -------------*- C++ -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOOPS_H
#define GECKO_DIALECT_GECKO_IR_GECKOOPS_H

#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Dialect/Gecko/IR/GeckoInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "gecko/Dialect/Gecko/IR/GeckoOps.h.inc"

#endif // GECKO_DIALECT_GECKO_IR_GECKOOPS_H
