//===- GeckoDialect.cpp - The gecko dialect -------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.h"

using namespace mlir;
using namespace mlir::gecko;

#include "gecko/Dialect/Gecko/IR/GeckoOpsDialect.cpp.inc"

void GeckoDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "gecko/Dialect/Gecko/IR/GeckoOps.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "gecko/Dialect/Gecko/IR/GeckoRuntimeOps.cpp.inc"
      >();
}
