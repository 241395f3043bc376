//===- ModelConfig.cpp - Model configuration and its JSON form -----------===//
//
// This file implements the JSON reader, the validator and the writer of
// ModelConfig. No exception escapes: nlohmann exceptions are caught and
// turned into Status errors that name the offending field.
//
//===----------------------------------------------------------------------===//

#include "gecko/Frontend/ModelConfig.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace gecko::frontend {

namespace {

using ordered_json = nlohmann::ordered_json;

//===----------------------------------------------------------------------===//
// Field table
//===----------------------------------------------------------------------===//

constexpr unsigned kGecko = 1u << 0;
constexpr unsigned kMegalodon = 1u << 1;
constexpr unsigned kLlama = 1u << 2;
constexpr unsigned kGM = kGecko | kMegalodon;
constexpr unsigned kAll = kGecko | kMegalodon | kLlama;

unsigned archBit(Architecture arch) {
  switch (arch) {
  case Architecture::Gecko:
    return kGecko;
  case Architecture::Megalodon:
    return kMegalodon;
  case Architecture::Llama:
    return kLlama;
  }
  return 0;
}

enum class Kind { Int, OptInt, Float, Bool, String };

/// One JSON key: its type, the architectures it applies to and the member it
/// fills. Exactly one member pointer matching `kind` is set.
struct FieldDesc {
  const char *name;
  Kind kind;
  unsigned archMask;
  int64_t ModelConfig::*intMember = nullptr;
  std::optional<int64_t> ModelConfig::*optIntMember = nullptr;
  double ModelConfig::*floatMember = nullptr;
  bool ModelConfig::*boolMember = nullptr;
  std::string ModelConfig::*stringMember = nullptr;
};

FieldDesc intField(const char *name, unsigned mask,
                   int64_t ModelConfig::*member) {
  FieldDesc d{name, Kind::Int, mask};
  d.intMember = member;
  return d;
}
FieldDesc optIntField(const char *name, unsigned mask,
                      std::optional<int64_t> ModelConfig::*member) {
  FieldDesc d{name, Kind::OptInt, mask};
  d.optIntMember = member;
  return d;
}
FieldDesc floatField(const char *name, unsigned mask,
                     double ModelConfig::*member) {
  FieldDesc d{name, Kind::Float, mask};
  d.floatMember = member;
  return d;
}
FieldDesc boolField(const char *name, unsigned mask,
                    bool ModelConfig::*member) {
  FieldDesc d{name, Kind::Bool, mask};
  d.boolMember = member;
  return d;
}
FieldDesc stringField(const char *name, unsigned mask,
                      std::string ModelConfig::*member) {
  FieldDesc d{name, Kind::String, mask};
  d.stringMember = member;
  return d;
}

/// Every key except "architecture", in reference ModelConf order followed by
/// the Gecko and Llama additions.
const std::vector<FieldDesc> &fieldTable() {
  using M = ModelConfig;
  static const std::vector<FieldDesc> table = {
      intField("num_layers", kAll, &M::num_layers),
      intField("model_dim", kAll, &M::model_dim),
      intField("z_dim", kGM, &M::z_dim),
      intField("value_dim", kGM, &M::value_dim),
      intField("num_heads", kAll, &M::num_heads),
      intField("ffn_hidden_dim", kAll, &M::ffn_hidden_dim),
      intField("cema_ndim", kGM, &M::cema_ndim),
      intField("chunk_size", kGM, &M::chunk_size),
      stringField("efficient_attn", kGM, &M::efficient_attn),
      stringField("init_mode", kGM, &M::init_mode),
      intField("vocab_size", kAll, &M::vocab_size),
      intField("output_size", kAll, &M::output_size),
      intField("timenorm_num_groups", kGM, &M::timenorm_num_groups),
      floatField("timenorm_beta1", kGecko, &M::timenorm_beta1),
      floatField("timenorm_beta2", kGecko, &M::timenorm_beta2),
      intField("layernorm_num_groups", kGecko, &M::layernorm_num_groups),
      boolField("memory_efficient_norm", kGecko, &M::memory_efficient_norm),
      boolField("norm_affine", kGM, &M::norm_affine),
      floatField("norm_eps", kAll, &M::norm_eps),
      boolField("two_hop_residual", kGecko, &M::two_hop_residual),
      floatField("rope_base", kAll, &M::rope_base),
      optIntField("num_rope_heads", kGecko, &M::num_rope_heads),
      floatField("dropout", kGM, &M::dropout),
      floatField("hidden_dropout", kGM, &M::hidden_dropout),
      floatField("attention_dropout", kGM, &M::attention_dropout),
      boolField("swiglu", kGM, &M::swiglu),
      boolField("rescale_nffn", kGM, &M::rescale_nffn),
      boolField("scale_emb", kGM, &M::scale_emb),
      boolField("share_emb", kAll, &M::share_emb),
      boolField("multi_segments", kGecko, &M::multi_segments),
      intField("bos_id", kAll, &M::bos_id),
      intField("num_kv_heads", kLlama, &M::num_kv_heads),
      intField("max_seq_len", kLlama, &M::max_seq_len),
  };
  return table;
}

const FieldDesc *findField(const std::string &name) {
  for (const FieldDesc &d : fieldTable())
    if (name == d.name)
      return &d;
  return nullptr;
}

constexpr const char *kArchitectureKey = "architecture";

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Status fieldError(const std::string &field, const std::string &what) {
  return invalidArgument("model config: field '" + field + "' " + what);
}

/// Levenshtein distance, for "did you mean" suggestions.
size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// The closest candidate to `name`, or "" when nothing is reasonably close.
std::string closestName(const std::string &name,
                        const std::vector<std::string> &candidates) {
  std::string best;
  size_t bestDist = std::numeric_limits<size_t>::max();
  for (const std::string &c : candidates) {
    size_t d = editDistance(name, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(2, name.size() / 2);
  return bestDist <= limit ? best : std::string();
}

std::string suggestion(const std::string &name,
                       const std::vector<std::string> &candidates) {
  std::string best = closestName(name, candidates);
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

std::string jsonTypeName(const nlohmann::json &j) {
  if (j.is_number_integer())
    return "integer " + j.dump();
  if (j.is_number_float())
    return "number " + j.dump();
  if (j.is_string())
    return "string " + j.dump();
  if (j.is_boolean())
    return std::string("boolean ") + (j.get<bool>() ? "true" : "false");
  return j.type_name();
}

std::optional<Architecture> architectureFromName(const std::string &name) {
  if (name == "gecko")
    return Architecture::Gecko;
  if (name == "megalodon")
    return Architecture::Megalodon;
  if (name == "llama")
    return Architecture::Llama;
  return std::nullopt;
}

Status readInt(const std::string &name, const nlohmann::json &j, int64_t &out) {
  if (!j.is_number_integer())
    return fieldError(name, "must be an integer, got " + jsonTypeName(j));
  if (j.is_number_unsigned() &&
      j.get<uint64_t>() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return fieldError(name, "is out of range: " + j.dump());
  out = j.get<int64_t>();
  return Status::ok();
}

/// Assigns one JSON value to the member described by `d`.
Status assignField(const FieldDesc &d, const nlohmann::json &j,
                   ModelConfig &cfg) {
  const std::string name = d.name;
  switch (d.kind) {
  case Kind::Int:
    return readInt(name, j, cfg.*(d.intMember));
  case Kind::OptInt: {
    if (j.is_null()) {
      (cfg.*(d.optIntMember)).reset();
      return Status::ok();
    }
    int64_t v = 0;
    if (!j.is_number_integer())
      return fieldError(name,
                        "must be an integer or null, got " + jsonTypeName(j));
    GECKO_RETURN_IF_ERROR(readInt(name, j, v));
    cfg.*(d.optIntMember) = v;
    return Status::ok();
  }
  case Kind::Float: {
    if (!j.is_number())
      return fieldError(name, "must be a number, got " + jsonTypeName(j));
    double v = j.get<double>();
    if (!std::isfinite(v))
      return fieldError(name, "must be finite, got " + j.dump());
    cfg.*(d.floatMember) = v;
    return Status::ok();
  }
  case Kind::Bool:
    if (!j.is_boolean())
      return fieldError(name, "must be a boolean (true/false), got " +
                                  jsonTypeName(j));
    cfg.*(d.boolMember) = j.get<bool>();
    return Status::ok();
  case Kind::String:
    if (!j.is_string())
      return fieldError(name, "must be a string, got " + jsonTypeName(j));
    cfg.*(d.stringMember) = j.get<std::string>();
    return Status::ok();
  }
  return internalError("model config: bad field kind");
}

//===----------------------------------------------------------------------===//
// Validation helpers
//===----------------------------------------------------------------------===//

/// Upper bounds that keep every parameter and FLOP count inside int64 (and
/// far above any real model).
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxWidth = int64_t(1) << 20;
constexpr int64_t kMaxVocab = int64_t(1) << 24;
constexpr int64_t kMaxSeqLen = int64_t(1) << 31;

Status checkRange(const char *field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return fieldError(field, "must be in [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "], got " +
                                 std::to_string(v));
  return Status::ok();
}

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Status checkDropout(const char *field, double v) {
  if (!(v >= 0.0 && v < 1.0))
    return fieldError(field, "must be in [0, 1), got " + fmt(v));
  return Status::ok();
}

Status checkOpenUnit(const char *field, double v) {
  if (!(v > 0.0 && v < 1.0))
    return fieldError(field, "must be in (0, 1), got " + fmt(v));
  return Status::ok();
}

Status checkDivides(const char *field, int64_t value, const char *byField,
                    int64_t by) {
  if (by <= 0 || value % by != 0)
    return fieldError(field, "(" + std::to_string(value) +
                                 ") must be divisible by " + byField + " (" +
                                 std::to_string(by) + ")");
  return Status::ok();
}

Status validateCommon(const ModelConfig &c) {
  GECKO_RETURN_IF_ERROR(checkRange("num_layers", c.num_layers, 1, kMaxLayers));
  GECKO_RETURN_IF_ERROR(checkRange("model_dim", c.model_dim, 1, kMaxWidth));
  GECKO_RETURN_IF_ERROR(checkRange("num_heads", c.num_heads, 1, kMaxWidth));
  GECKO_RETURN_IF_ERROR(
      checkRange("ffn_hidden_dim", c.ffn_hidden_dim, 1, kMaxWidth));
  if (c.vocab_size <= 0)
    return fieldError("vocab_size",
                      "must be set to the tokenizer's vocabulary size (> 0) "
                      "for a compilable model, got " +
                          std::to_string(c.vocab_size));
  GECKO_RETURN_IF_ERROR(checkRange("vocab_size", c.vocab_size, 1, kMaxVocab));
  if (c.output_size != -1 && (c.output_size <= 0 || c.output_size > kMaxVocab))
    return fieldError("output_size", "must be -1 (= vocab_size) or in [1, " +
                                         std::to_string(kMaxVocab) + "], got " +
                                         std::to_string(c.output_size));
  if (c.share_emb && c.effectiveOutputSize() != c.vocab_size)
    return fieldError("share_emb",
                      "ties the output projection to the embedding, so it "
                      "needs output_size (" +
                          std::to_string(c.output_size) +
                          ") to be -1 or equal to vocab_size (" +
                          std::to_string(c.vocab_size) + ")");
  if (!(c.norm_eps > 0.0) || !std::isfinite(c.norm_eps))
    return fieldError("norm_eps", "must be > 0, got " + fmt(c.norm_eps));
  if (!(c.rope_base > 1.0) || !std::isfinite(c.rope_base))
    return fieldError("rope_base", "must be > 1, got " + fmt(c.rope_base));
  if (c.bos_id < 0 || c.bos_id >= c.vocab_size)
    return fieldError("bos_id", "must be a token id in [0, vocab_size = " +
                                    std::to_string(c.vocab_size) + "), got " +
                                    std::to_string(c.bos_id));
  return Status::ok();
}

/// Checks shared by gecko and megalodon (the Mega-family block).
Status validateMegaFamily(const ModelConfig &c) {
  GECKO_RETURN_IF_ERROR(checkRange("z_dim", c.z_dim, 1, kMaxWidth));
  GECKO_RETURN_IF_ERROR(checkRange("value_dim", c.value_dim, 1, kMaxWidth));
  GECKO_RETURN_IF_ERROR(
      checkDivides("z_dim", c.z_dim, "num_heads", c.num_heads));
  GECKO_RETURN_IF_ERROR(
      checkDivides("value_dim", c.value_dim, "num_heads", c.num_heads));
  GECKO_RETURN_IF_ERROR(checkRange("cema_ndim", c.cema_ndim, 1, 16));
  GECKO_RETURN_IF_ERROR(checkRange("chunk_size", c.chunk_size, 1, kMaxWidth));
  GECKO_RETURN_IF_ERROR(
      checkRange("timenorm_num_groups", c.timenorm_num_groups, 1, c.model_dim));
  GECKO_RETURN_IF_ERROR(checkDivides(
      "model_dim", c.model_dim, "timenorm_num_groups", c.timenorm_num_groups));
  if (c.efficient_attn != "fused" && c.efficient_attn != "swift")
    return fieldError("efficient_attn",
                      "must be \"fused\" or \"swift\" (both select the same "
                      "chunk attention), got \"" +
                          c.efficient_attn + "\"");
  static const std::vector<std::string> initModes = {"he", "bert", "gaussian",
                                                     "xavier", "none"};
  if (std::find(initModes.begin(), initModes.end(), c.init_mode) ==
      initModes.end())
    return fieldError(
        "init_mode", "must be one of he, bert, gaussian, xavier, none; got \"" +
                         c.init_mode + "\"" +
                         suggestion(c.init_mode, initModes));
  GECKO_RETURN_IF_ERROR(checkDropout("dropout", c.dropout));
  GECKO_RETURN_IF_ERROR(checkDropout("hidden_dropout", c.hidden_dropout));
  GECKO_RETURN_IF_ERROR(checkDropout("attention_dropout", c.attention_dropout));
  return Status::ok();
}

Status validateGecko(const ModelConfig &c) {
  GECKO_RETURN_IF_ERROR(validateMegaFamily(c));
  GECKO_RETURN_IF_ERROR(checkOpenUnit("timenorm_beta1", c.timenorm_beta1));
  GECKO_RETURN_IF_ERROR(checkOpenUnit("timenorm_beta2", c.timenorm_beta2));
  GECKO_RETURN_IF_ERROR(checkRange("layernorm_num_groups",
                                   c.layernorm_num_groups, 1, c.model_dim));
  GECKO_RETURN_IF_ERROR(checkDivides("model_dim", c.model_dim,
                                     "layernorm_num_groups",
                                     c.layernorm_num_groups));
  if (c.num_rope_heads &&
      (*c.num_rope_heads < 0 || *c.num_rope_heads > c.num_heads))
    return fieldError(
        "num_rope_heads",
        "must be null or in [0, num_heads = " + std::to_string(c.num_heads) +
            "], got " + std::to_string(*c.num_rope_heads));
  if (c.effectiveRopeHeads() > 0 && c.zHeadDim() % 2 != 0)
    return fieldError("z_dim", "gives an odd head dim z_dim / num_heads = " +
                                   std::to_string(c.zHeadDim()) +
                                   ", but RoPE rotates channel pairs "
                                   "(set num_rope_heads to 0 to disable RoPE)");
  return Status::ok();
}

Status validateMegalodon(const ModelConfig &c) {
  GECKO_RETURN_IF_ERROR(validateMegaFamily(c));
  // Megalodon's TimestepNorm asserts prior_count > 1 when every channel is its
  // own group, and the model always builds it with prior_count 0.
  if (c.timenorm_num_groups == c.model_dim && c.model_dim > 1)
    return fieldError("timenorm_num_groups",
                      "must be smaller than model_dim for megalodon (its "
                      "TimestepNorm needs prior_count > 1 for per-channel "
                      "groups)");
  if (c.zHeadDim() % 2 != 0)
    return fieldError("z_dim", "gives an odd head dim z_dim / num_heads = " +
                                   std::to_string(c.zHeadDim()) +
                                   ", but megalodon applies RoPE to "
                                   "every head");
  if (!c.two_hop_residual)
    return fieldError("two_hop_residual",
                      "is always true for megalodon (internal error)");
  return Status::ok();
}

Status validateLlama(const ModelConfig &c) {
  GECKO_RETURN_IF_ERROR(
      checkDivides("model_dim", c.model_dim, "num_heads", c.num_heads));
  if ((c.model_dim / c.num_heads) % 2 != 0)
    return fieldError("model_dim",
                      "gives an odd head dim model_dim / num_heads = " +
                          std::to_string(c.model_dim / c.num_heads) +
                          ", but RoPE rotates channel pairs");
  GECKO_RETURN_IF_ERROR(
      checkRange("num_kv_heads", c.num_kv_heads, 1, c.num_heads));
  if (c.num_heads % c.num_kv_heads != 0)
    return fieldError("num_kv_heads", "(" + std::to_string(c.num_kv_heads) +
                                          ") must divide num_heads (" +
                                          std::to_string(c.num_heads) + ")");
  GECKO_RETURN_IF_ERROR(
      checkRange("max_seq_len", c.max_seq_len, 1, kMaxSeqLen));
  return Status::ok();
}

StatusOr<ModelConfig> parseJsonValue(const nlohmann::json &root) {
  if (!root.is_object())
    return invalidArgument("model config: the top level must be a JSON "
                           "object, got " +
                           std::string(root.type_name()));

  Architecture arch = Architecture::Gecko;
  auto archIt = root.find(kArchitectureKey);
  if (archIt != root.end()) {
    if (!archIt->is_string())
      return fieldError(kArchitectureKey,
                        "must be a string, got " + jsonTypeName(*archIt));
    std::string name = archIt->get<std::string>();
    std::optional<Architecture> parsed = architectureFromName(name);
    if (!parsed)
      return fieldError(
          kArchitectureKey,
          "must be \"gecko\", \"megalodon\" or \"llama\", got \"" + name +
              "\"" + suggestion(name, {"gecko", "megalodon", "llama"}));
    arch = *parsed;
  }

  ModelConfig cfg = ModelConfig::defaultsFor(arch);
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string &key = it.key();
    if (key == kArchitectureKey || (!key.empty() && key[0] == '_'))
      continue;
    const FieldDesc *d = findField(key);
    if (!d)
      return invalidArgument("model config: unknown field '" + key + "'" +
                             suggestion(key, knownModelConfigFields()));
    if (!(d->archMask & archBit(arch)))
      return fieldError(key, "does not apply to architecture '" +
                                 std::string(architectureName(arch)) + "'" +
                                 (key == "two_hop_residual"
                                      ? " (megalodon is always two-hop)"
                                      : ""));
    GECKO_RETURN_IF_ERROR(assignField(*d, it.value(), cfg));
  }
  GECKO_RETURN_IF_ERROR(validateModelConfig(cfg));
  return cfg;
}

} // namespace

//===----------------------------------------------------------------------===//
// ModelConfig
//===----------------------------------------------------------------------===//

const char *architectureName(Architecture arch) {
  switch (arch) {
  case Architecture::Gecko:
    return "gecko";
  case Architecture::Megalodon:
    return "megalodon";
  case Architecture::Llama:
    return "llama";
  }
  return "unknown";
}

ModelConfig ModelConfig::defaultsFor(Architecture arch) {
  ModelConfig c;
  c.architecture = arch;
  switch (arch) {
  case Architecture::Gecko:
    break;
  case Architecture::Megalodon:
    c.rope_base = 10000.0;
    c.two_hop_residual = true;
    break;
  case Architecture::Llama:
    c.num_layers = 32;
    c.model_dim = 4096;
    c.num_heads = 32;
    c.num_kv_heads = 32;
    c.ffn_hidden_dim = 11008;
    c.rope_base = 10000.0;
    c.norm_eps = 1e-5;
    c.max_seq_len = 4096;
    break;
  }
  return c;
}

int64_t ModelConfig::zHeadDim() const {
  if (num_heads <= 0)
    return 0;
  return architecture == Architecture::Llama ? model_dim / num_heads
                                             : z_dim / num_heads;
}

int64_t ModelConfig::vHeadDim() const {
  if (num_heads <= 0)
    return 0;
  return architecture == Architecture::Llama ? model_dim / num_heads
                                             : value_dim / num_heads;
}

int64_t ModelConfig::effectiveOutputSize() const {
  return output_size == -1 ? vocab_size : output_size;
}

int64_t ModelConfig::effectiveRopeHeads() const {
  if (architecture == Architecture::Gecko && num_rope_heads)
    return *num_rope_heads;
  return num_heads;
}

std::string ModelConfig::toJson(int indent) const {
  ordered_json j;
  j[kArchitectureKey] = architectureName(architecture);
  for (const FieldDesc &d : fieldTable()) {
    if (!(d.archMask & archBit(architecture)))
      continue;
    switch (d.kind) {
    case Kind::Int:
      j[d.name] = this->*(d.intMember);
      break;
    case Kind::OptInt:
      if (this->*(d.optIntMember))
        j[d.name] = *(this->*(d.optIntMember));
      else
        j[d.name] = nullptr;
      break;
    case Kind::Float:
      j[d.name] = this->*(d.floatMember);
      break;
    case Kind::Bool:
      j[d.name] = this->*(d.boolMember);
      break;
    case Kind::String:
      j[d.name] = this->*(d.stringMember);
      break;
    }
  }
  return j.dump(indent);
}

bool ModelConfig::operator==(const ModelConfig &o) const {
  if (architecture != o.architecture)
    return false;
  for (const FieldDesc &d : fieldTable()) {
    switch (d.kind) {
    case Kind::Int:
      if (this->*(d.intMember) != o.*(d.intMember))
        return false;
      break;
    case Kind::OptInt:
      if (this->*(d.optIntMember) != o.*(d.optIntMember))
        return false;
      break;
    case Kind::Float:
      if (this->*(d.floatMember) != o.*(d.floatMember))
        return false;
      break;
    case Kind::Bool:
      if (this->*(d.boolMember) != o.*(d.boolMember))
        return false;
      break;
    case Kind::String:
      if (this->*(d.stringMember) != o.*(d.stringMember))
        return false;
      break;
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Public functions
//===----------------------------------------------------------------------===//

const std::vector<std::string> &knownModelConfigFields() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v{kArchitectureKey};
    for (const FieldDesc &d : fieldTable())
      v.push_back(d.name);
    return v;
  }();
  return names;
}

bool modelConfigFieldApplies(const std::string &field, Architecture arch) {
  if (field == kArchitectureKey)
    return true;
  const FieldDesc *d = findField(field);
  return d && (d->archMask & archBit(arch));
}

Status validateModelConfig(const ModelConfig &config) {
  GECKO_RETURN_IF_ERROR(validateCommon(config));
  switch (config.architecture) {
  case Architecture::Gecko:
    return validateGecko(config);
  case Architecture::Megalodon:
    return validateMegalodon(config);
  case Architecture::Llama:
    return validateLlama(config);
  }
  return fieldError(kArchitectureKey, "has an unknown value");
}

StatusOr<ModelConfig> parseModelConfig(const std::string &jsonText) {
  try {
    nlohmann::json root = nlohmann::json::parse(jsonText);
    return parseJsonValue(root);
  } catch (const nlohmann::json::parse_error &e) {
    return invalidArgument(std::string("model config: invalid JSON: ") +
                           e.what());
  } catch (const nlohmann::json::exception &e) {
    return invalidArgument(std::string("model config: ") + e.what());
  } catch (const std::bad_alloc &) {
    return resourceExhausted("model config: out of memory while parsing");
  } catch (const std::exception &e) {
    return internalError(std::string("model config: ") + e.what());
  }
}

StatusOr<ModelConfig> loadModelConfigFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return notFound("cannot open model config file '" + path +
                    "': " + std::strerror(err));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return dataLoss("cannot read model config file '" + path + "'");
  StatusOr<ModelConfig> cfg = parseModelConfig(buf.str());
  if (!cfg.isOk())
    return Status(cfg.status().code(), path + ": " + cfg.status().message());
  return cfg;
}

} // namespace gecko::frontend
