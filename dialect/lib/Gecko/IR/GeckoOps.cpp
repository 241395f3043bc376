//===- GeckoOps.cpp - Generated op definitions ----------------------------===//
//
// This file only instantiates the TableGen-generated op classes and the
// interface definitions. Verifiers, type inference and VJPs live in one file
// per op family (NormOps.cpp, EmaOps.cpp, ...).
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::gecko;

#include "gecko/Dialect/Gecko/IR/GeckoInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "gecko/Dialect/Gecko/IR/GeckoOps.cpp.inc"
