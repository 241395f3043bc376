//===- Passes.h - gecko transformation passes -------------------*- C++ -*-===//
#ifndef GECKO_TRANSFORMS_PASSES_H
#define GECKO_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gecko {

/// Prefix of the kernel-ABI entry symbol of a compiled function.
inline constexpr const char *kEntryPrefix = "gecko_entry_";

#define GEN_PASS_DECL
#include "gecko/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gecko/Transforms/Passes.h.inc"

} // namespace mlir::gecko

#endif // GECKO_TRANSFORMS_PASSES_H
