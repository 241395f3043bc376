//===- GeckoDialect.h - The gecko dialect -----------------------*- C++ -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKODIALECT_H
#define GECKO_DIALECT_GECKO_IR_GECKODIALECT_H

#include "mlir/IR/Dialect.h"

#include "gecko/Dialect/Gecko/IR/GeckoOpsDialect.h.inc"

#endif // GECKO_DIALECT_GECKO_IR_GECKODIALECT_H
