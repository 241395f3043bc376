//===- Passes.h - gecko training passes -------------------------*- C++ -*-===//
#ifndef GECKO_TRAINING_PASSES_H
#define GECKO_TRAINING_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gecko {

#define GEN_PASS_DECL
#include "gecko/Training/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gecko/Training/Passes.h.inc"

} // namespace mlir::gecko

#endif // GECKO_TRAINING_PASSES_H
