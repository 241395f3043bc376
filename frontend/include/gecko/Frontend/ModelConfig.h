//===- ModelConfig.h - Model configuration and its JSON form ----*- C++ -*-===//
//
// This file declares ModelConfig, the hyper-parameters of a model the Gecko
// compiler can build, together with its JSON reader, validator and writer.
//
// The field names and defaults are those of the reference `ModelConf`
// (GECKO_MATH.md section 1), so a reference config dict loads unchanged. Three
// model families share the struct, selected by `architecture`:
//
//  - "gecko" (default): the Gecko LM of GECKO_MATH.md.
//  - "megalodon": Megalodon (GECKO_MATH.md section 9): cumulative timestep
//    norm, block-diagonal chunk attention, no working memory, always two-hop
//    residual, 2 z-views (q, k), RoPE restarting per chunk, learned EMA
//    residual weight omega. Only the fields Megalodon's own ModelConf has are
//    accepted.
//  - "llama": a Llama-2-style pre-norm transformer baseline (RMSNorm, RoPE on
//    all heads, grouped-query attention, SwiGLU FFN, no biases).
//
// Rules of the JSON form:
//  - The top level is an object. Unknown keys are rejected (with the closest
//    known name suggested), except keys starting with '_', which are comments.
//  - A key that exists but does not apply to the selected architecture (for
//    example `z_dim` with "llama") is rejected too.
//  - Types are strict: integer fields need JSON integers, float fields accept
//    any JSON number, booleans need true/false, `num_rope_heads` also accepts
//    null (= all heads).
//  - Fields that are absent take the architecture's defaults (see
//    ModelConfig::defaultsFor).
//  - Every error message names the offending field.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_FRONTEND_MODELCONFIG_H
#define GECKO_FRONTEND_MODELCONFIG_H

#include "gecko/runtime/status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gecko::frontend {

/// The model family a config describes.
enum class Architecture { Gecko, Megalodon, Llama };

/// "gecko", "megalodon" or "llama".
const char *architectureName(Architecture arch);

/// The hyper-parameters of one model. Member names deliberately match the
/// reference `ModelConf` keys (snake_case) so that JSON keys, reference
/// configs and C++ code read the same.
struct ModelConfig {
  Architecture architecture = Architecture::Gecko;

  //--- Reference ModelConf fields (GECKO_MATH.md section 1)
  //---------------===//
  int64_t num_layers = 32;
  int64_t model_dim = 4096;      ///< D
  int64_t z_dim = 1024;          ///< S (gecko, megalodon)
  int64_t value_dim = 8192;      ///< E (gecko, megalodon)
  int64_t num_heads = 4;         ///< H
  int64_t ffn_hidden_dim = 8192; ///< F
  int64_t cema_ndim = 16;        ///< N (gecko, megalodon)
  int64_t chunk_size = 2048;     ///< C (gecko, megalodon)
  std::string efficient_attn = "fused";
  std::string init_mode = "he";
  int64_t vocab_size = -1;  ///< V; must be set (> 0) in every accepted config
  int64_t output_size = -1; ///< -1 means vocab_size
  int64_t timenorm_num_groups = 64;
  double timenorm_beta1 = 0.999;
  double timenorm_beta2 = 0.9999;
  int64_t layernorm_num_groups = 1;
  bool memory_efficient_norm = false;
  bool norm_affine = true;
  double norm_eps = 1e-5;
  bool two_hop_residual = false; ///< always true for megalodon
  double rope_base = 500000.0;
  std::optional<int64_t> num_rope_heads; ///< nullopt: all heads; 0: no RoPE
  double dropout = 0.0;
  double hidden_dropout = 0.0;
  double attention_dropout = 0.0;
  bool swiglu = true;
  bool rescale_nffn = false;
  bool scale_emb = false;
  bool share_emb = false;

  //--- Gecko additions
  //----------------------------------------------------===//
  /// Segment-aware forward (bos resets, document masking); GECKO_MATH.md 0.
  bool multi_segments = false;
  /// The token id that starts a document.
  int64_t bos_id = 1;

  //--- Llama baseline only
  //------------------------------------------------===//
  /// Key/value heads (grouped-query attention); must divide num_heads.
  int64_t num_kv_heads = 32;
  /// Training context length; the default sequence length for FLOP counts.
  int64_t max_seq_len = 4096;

  /// The defaults of an architecture:
  ///  - gecko: the reference ModelConf defaults (= Gecko 7B, vocab unset).
  ///  - megalodon: the same dims (= Megalodon's `mega7.3B` preset), with
  ///    Megalodon semantics: rope_base 10000 (Megalodon's RoPE default when
  ///    `rope_base` is None), two_hop_residual true, multi_segments false.
  ///  - llama: Llama-2-7B: 32 layers, D 4096, 32 heads (32 KV heads), SwiGLU
  ///    FFN 11008, rope_base 10000, norm_eps 1e-5, max_seq_len 4096, untied
  ///    embeddings.
  /// vocab_size stays -1 in every case: a config must set it.
  static ModelConfig defaultsFor(Architecture arch);

  /// Per-head widths d_k = S/H and d_v = E/H (llama: both D/H).
  int64_t zHeadDim() const;
  int64_t vHeadDim() const;
  /// output_size, or vocab_size when output_size is -1.
  int64_t effectiveOutputSize() const;
  /// Heads that get RoPE: num_rope_heads, or num_heads when null.
  int64_t effectiveRopeHeads() const;

  /// Serialises the fields that apply to `architecture` (architecture first,
  /// then the reference order), pretty-printed with `indent` spaces (negative
  /// = one line). parseModelConfig(toJson()) reproduces the config.
  std::string toJson(int indent = 2) const;

  bool operator==(const ModelConfig &other) const;
  bool operator!=(const ModelConfig &other) const { return !(*this == other); }
};

/// Checks ranges and cross-field consistency. Used by the parser and usable
/// on configs built in code. The message names the offending field.
Status validateModelConfig(const ModelConfig &config);

/// Parses and validates a JSON object.
StatusOr<ModelConfig> parseModelConfig(const std::string &jsonText);

/// Reads `path` and parses it. File errors (kNotFound, kDataLoss) and parse
/// errors (kInvalidArgument) carry the path in the message.
StatusOr<ModelConfig> loadModelConfigFile(const std::string &path);

/// Every key the JSON form knows (all architectures), in reference order.
const std::vector<std::string> &knownModelConfigFields();

/// Whether `field` is a key that applies to `arch`.
bool modelConfigFieldApplies(const std::string &field, Architecture arch);

} // namespace gecko::frontend

#endif // GECKO_FRONTEND_MODELCONFIG_H
