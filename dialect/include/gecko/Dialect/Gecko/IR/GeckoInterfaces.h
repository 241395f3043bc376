//===- GeckoInterfaces.h - Interfaces of the gecko dialect ------*- C++ -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_H
#define GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/SmallVector.h"

#include "gecko/Dialect/Gecko/IR/GeckoInterfaces.h.inc"

#endif // GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_H
