//===- ModelStats.h - Parameter and FLOP counts of a model ------*- C++ -*-===//
//
// This file declares the parameter and FLOP accounting of a ModelConfig for
// the gecko, megalodon and llama architectures, and the human-readable report
// that `gecko-compile --print-stats` prints.
//
// Parameters (GECKO_MATH.md 1.1). Every block of a model is identical, so the
// breakdown is given for one block. Conventions:
//  - nonEmbedding = num_layers * perBlock (the convention of GECKO_MATH.md
//    1.1, which gives 7,123,664,896 for Gecko 7B). The final norm and the
//    output projection are listed separately and are not part of it.
//  - total = nonEmbedding + finalNorm + embedding + output, where output is 0
//    when share_emb ties it to the embedding.
//  - Buffers (TDN priors, the RoPE frequency table) are not parameters; they
//    are reported as bufferElements.
//
// FLOPs per token (GECKO_MATH.md 1.2 and shared/perf/REFERENCE_H100.md):
//  - A multiply-add is 2 FLOPs. Counts are for a training-style forward over
//    one sequence of seqLen tokens, divided by seqLen (a per-token average).
//  - Model FLOPs (the MFU convention of REFERENCE_H100.md) = per layer
//    2 * P_lin (weights of every linear layer, biases ignored) + attention
//    over the causally visible (query, key) pairs at 2 * (S + E) FLOPs each
//    + working memory (gecko: 6 * C * S * E / H per chunk after the first),
//    plus the output head 2 * D * V_out. Norms, gates, RoPE and the EMA scan
//    are not counted. Training = 3 x forward.
//  - "Executed" FLOPs estimate what the reference implementation runs: dense
//    chunk GEMMs (masked entries included), the working-memory recompute in
//    backward (4 + 12 S E / H instead of 12) and the EMA scan (about 12 D N
//    per layer per token, x3 for training).
//  - The default sequence length is 4 * chunk_size for gecko and megalodon
//    (the golden tests' 4 chunks and the 8192-token H100 benchmark for 7B)
//    and max_seq_len for llama. Any seqLen >= 1 is accepted; a last partial
//    chunk is counted exactly.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_FRONTEND_MODELSTATS_H
#define GECKO_FRONTEND_MODELSTATS_H

#include "gecko/Frontend/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gecko::frontend {

/// One line of the per-block parameter breakdown.
struct ParamComponent {
  std::string name;   ///< e.g. "TDN", "CEMA", "projections"
  std::string detail; ///< the tensors it covers, e.g. "wz, wv, wr, wh1, wh2"
  int64_t count = 0;
};

struct ParamStats {
  /// Token-mixing sublayer of one block (gecko/megalodon: the `mega` module;
  /// llama: attention norm + attention), then the FFN sublayer.
  std::vector<ParamComponent> attentionComponents;
  std::vector<ParamComponent> ffnComponents;
  int64_t attentionPerBlock = 0;
  int64_t ffnPerBlock = 0;
  int64_t perBlock = 0;     ///< attentionPerBlock + ffnPerBlock
  int64_t nonEmbedding = 0; ///< num_layers * perBlock
  int64_t finalNorm = 0;
  int64_t embedding = 0; ///< vocab_size * model_dim
  int64_t output = 0;    ///< output_size * model_dim, 0 when tied
  int64_t total = 0;
  /// Elements of non-parameter state_dict buffers (gecko: TDN prior_count,
  /// prior_mean, prior_var and rope.freqs; megalodon: TimestepNorm
  /// prior_count, prior_mean, prior_logv; llama: 0).
  int64_t bufferElements = 0;
};

/// FLOPs per token; see the file comment for the conventions.
struct FlopStats {
  int64_t seqLen = 0;
  //--- One layer, forward, per token -------------------------------------===//
  double linear = 0;            ///< 2 * P_lin
  double attention = 0;         ///< useful (causally visible) pairs
  double attentionExecuted = 0; ///< dense blocks as the reference runs them
  double memory = 0;            ///< gecko working memory (0 otherwise)
  double ema = 0;               ///< EMA scan estimate; not part of model FLOPs
  double layerForward = 0;      ///< linear + attention + memory
  //--- Whole model, per token --------------------------------------------===//
  double head = 0;             ///< 2 * D * V_out
  double forward = 0;          ///< num_layers * layerForward + head
  double training = 0;         ///< 3 * forward
  double forwardExecuted = 0;  ///< reference estimate, forward
  double trainingExecuted = 0; ///< reference estimate, forward + backward
};

struct ModelStats {
  ParamStats params;
  FlopStats flops;
};

/// Parameter counts of a validated config.
ParamStats countParameters(const ModelConfig &config);

/// 4 * chunk_size (gecko, megalodon) or max_seq_len (llama).
int64_t defaultStatsSeqLen(const ModelConfig &config);

/// FLOPs per token at `seqLen` tokens (0 = defaultStatsSeqLen). Fails for a
/// negative seqLen or an invalid config.
StatusOr<FlopStats> countFlops(const ModelConfig &config, int64_t seqLen = 0);

/// Validates the config and computes both counts.
StatusOr<ModelStats> computeModelStats(const ModelConfig &config,
                                       int64_t seqLen = 0);

/// 7123664896 -> "7,123,664,896" (negative numbers keep their sign).
std::string formatWithThousands(int64_t value);

/// A multi-line human-readable report (used by `gecko-compile
/// --print-stats`), with thousands separators and GFLOP summaries.
std::string formatModelStatsReport(const ModelConfig &config,
                                   const ModelStats &stats);

} // namespace gecko::frontend

#endif // GECKO_FRONTEND_MODELSTATS_H
