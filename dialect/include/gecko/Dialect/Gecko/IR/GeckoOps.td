//===- GeckoOps.td - Operations of the gecko dialect -------*- tablegen -*-===//
//
// The ops are grouped by family, one file each; semantics and constraints are
// in docs/dialect.md.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOOPS_TD
#define GECKO_DIALECT_GECKO_IR_GECKOOPS_TD

include "gecko/Dialect/Gecko/IR/GeckoBase.td"
include "gecko/Dialect/Gecko/IR/GeckoNormOps.td"
include "gecko/Dialect/Gecko/IR/GeckoEmaOps.td"
include "gecko/Dialect/Gecko/IR/GeckoAttentionOps.td"
include "gecko/Dialect/Gecko/IR/GeckoMemoryOps.td"
include "gecko/Dialect/Gecko/IR/GeckoBasicOps.td"
include "gecko/Dialect/Gecko/IR/GeckoTrainingOps.td"

#endif // GECKO_DIALECT_GECKO_IR_GECKOOPS_TD
