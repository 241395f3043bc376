//===- Passes.h - gecko conversion passes -----------------------*- C++ -*-===//
#ifndef GECKO_CONVERSION_PASSES_H
#define GECKO_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gecko {

#define GEN_PASS_DECL
#include "gecko/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gecko/Conversion/Passes.h.inc"

} // namespace mlir::gecko

#endif // GECKO_CONVERSION_PASSES_H
