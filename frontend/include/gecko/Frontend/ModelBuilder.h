//===- ModelBuilder.h - Model config -> gecko IR ----------------*- C++ -*-===//
//
// Builds a gecko module from a ModelConfig: one function per requested mode,
// parameters as function arguments named by the reference implementation's
// state_dict entries (`gecko.param`), data inputs named like the golden
// files (`gecko.input`, e.g. "input.tokens") and results named likewise
// (`gecko.output`, e.g. "output.logits"). docs/frontend.md specifies the
// contract; the gecko-verify-frontend-contract pass checks it.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_FRONTEND_MODELBUILDER_H
#define GECKO_FRONTEND_MODELBUILDER_H

#include "gecko/Frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace gecko::frontend {

/// What to build.
struct BuildOptions {
  /// Batch size B and sequence length L of every function (static shapes).
  int64_t batch = 1;
  int64_t seqLen = 0; ///< 0: four chunks (gecko, megalodon) or max_seq_len
  /// Functions to emit, in order: "forward" (tokens -> logits), "loss"
  /// (tokens, targets -> mean cross entropy), "prefill" and "decode"
  /// (streaming: tokens and state -> logits and next state), "chunk_loss"
  /// (one piece of a longer sequence for chunk parallelism: prefill's
  /// computation over seqLen tokens plus the mean cross entropy over the
  /// piece's `input.targets`; returns `output.loss`, then the `next:stream.*`
  /// state).
  std::vector<std::string> modes = {"forward", "loss"};
  /// Also return the intermediate activations of `forward` named like the
  /// golden files' debug tensors (debug.layers.0.mega.timenorm.out, ...;
  /// the EMA output transposed to B x D x L as the reference stores it), so
  /// `gecko-run check` localises a mismatch. Gecko and Megalodon only.
  bool debugOutputs = false;
  /// Element type of parameters and activations: "f32" (what the reference
  /// runs) or "f64" (gradient checks against finite differences).
  std::string floatType = "f32";
  /// Tokens per `prefill` call (a multiple of chunk_size; 0: one chunk).
  /// `decode` calls take one token. Both carry the stream state of spec
  /// 4.1 as `gecko.state` arguments named `stream.*` (docs/frontend.md).
  int64_t prefillLen = 0;
};

/// The sequence length BuildOptions{seqLen = 0} resolves to.
int64_t defaultSeqLen(const ModelConfig &config);

/// Builds the module, or returns an error naming the option or config field
/// that cannot be built (e.g. a sequence length that is not a multiple of
/// chunk_size, a mode that does not exist).
StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildModelModule(mlir::MLIRContext &context, const ModelConfig &config,
                 const BuildOptions &options);

/// The names the modes of BuildOptions accept.
const std::vector<std::string> &buildableModes();

} // namespace gecko::frontend

#endif // GECKO_FRONTEND_MODELBUILDER_H
