//===- GeckoAttributes.h - Names of gecko discardable attributes -*- C++
//-*-===//
//
// The attribute names of the frontend contract (docs/frontend.md): the IR
// builder sets them, gecko-verify-frontend-contract checks them, and the
// artifact writer reads them to bind tensors by name.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOATTRIBUTES_H
#define GECKO_DIALECT_GECKO_IR_GECKOATTRIBUTES_H

#include <cstdint>

namespace mlir::gecko {

/// Module: the model config (JSON string) the module was built from.
inline constexpr const char *kModelConfigAttrName = "gecko.model_config";
/// Module: version of the frontend contract the module follows (i64).
inline constexpr const char *kFrontendContractAttrName =
    "gecko.frontend_contract";
inline constexpr int64_t kFrontendContractVersion = 1;
/// Function argument: a model parameter, by its state_dict name.
inline constexpr const char *kParamAttrName = "gecko.param";
/// Function argument: a data input, by its name ("input.tokens").
inline constexpr const char *kInputAttrName = "gecko.input";
/// Function result: an output, by its name ("output.logits").
inline constexpr const char *kOutputAttrName = "gecko.output";
/// Parameter: a buffer (bound by name, never trained), e.g. norm priors.
inline constexpr const char *kBufferAttrName = "gecko.buffer";
/// Parameter: how to initialize it when training from scratch, a dictionary
/// {kind = "normal", mean = 0.0, std = 0.02} (docs/frontend.md).
inline constexpr const char *kInitAttrName = "gecko.init";
/// Argument: persistent state kept by the runtime between calls (optimizer
/// moments, stream state), zero-initialized; named by this attribute.
inline constexpr const char *kStateAttrName = "gecko.state";
/// Result name prefix: the result is the next value of the argument named
/// by the rest of the name ("next:opt.m.embed.weight").
inline constexpr const char *kNextPrefix = "next:";
/// Op: the index of the model block it belongs to (the rematerialization
/// unit of gecko-autodiff).
inline constexpr const char *kBlockAttrName = "gecko.block";
/// Input argument: a collective the runtime applies to it across ranks
/// before the call, a dictionary {op = "all_reduce", reduction = "mean",
/// group = "data"} (docs/distributed.md). The CPU artifact lists these in
/// the function's plan `collectives`.
inline constexpr const char *kCollectiveAttrName = "gecko.collective";
/// Integer input: its valid range [lo, hi) as a dense i64 array.
inline constexpr const char *kRangeAttrName = "gecko.range";

} // namespace mlir::gecko

#endif // GECKO_DIALECT_GECKO_IR_GECKOATTRIBUTES_H
