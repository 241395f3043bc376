//===- ModelConfigTest.cpp - ModelConfig parsing and ModelStats counts ----===//
//
// This file tests the model configuration reader (every models/*.json loads,
// every validation rule rejects with a message naming the field) and the
// parameter and FLOP counts against GECKO_MATH.md 1.1/1.2,
// shared/perf/REFERENCE_H100.md and the golden tiny checkpoint.
//
//===----------------------------------------------------------------------===//

#include "gecko/Frontend/ModelConfig.h"
#include "gecko/Frontend/ModelStats.h"
#include "gecko/runtime/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using namespace gecko;
using namespace gecko::frontend;
namespace fs = std::filesystem;

namespace {

const std::string kSourceDir = GECKO_SOURCE_DIR;

std::string modelPath(const std::string &name) {
  return kSourceDir + "/models/" + name;
}

ModelConfig loadModel(const std::string &name) {
  StatusOr<ModelConfig> cfg = loadModelConfigFile(modelPath(name));
  EXPECT_TRUE(cfg.isOk()) << name << ": " << cfg.status().message();
  return cfg.isOk() ? *cfg : ModelConfig();
}

/// The golden tiny config (shared/golden/README.md) as a JSON object.
nlohmann::json tinyJson() {
  return nlohmann::json{
      {"num_layers", 2},  {"model_dim", 256}, {"z_dim", 512},
      {"value_dim", 128}, {"num_heads", 2},   {"ffn_hidden_dim", 128},
      {"cema_ndim", 4},   {"chunk_size", 16}, {"timenorm_num_groups", 4},
      {"vocab_size", 50}};
}

nlohmann::json llamaJson() {
  return nlohmann::json{{"architecture", "llama"}, {"num_layers", 2},
                        {"model_dim", 64},         {"num_heads", 4},
                        {"num_kv_heads", 2},       {"ffn_hidden_dim", 128},
                        {"vocab_size", 50}};
}

nlohmann::json megalodonJson() {
  nlohmann::json j = tinyJson();
  j["architecture"] = "megalodon";
  return j;
}

/// Parses `j` and expects a rejection whose message contains every string in
/// `needles` (the field name first).
void expectRejected(const nlohmann::json &j,
                    std::initializer_list<std::string> needles) {
  StatusOr<ModelConfig> cfg = parseModelConfig(j.dump());
  ASSERT_FALSE(cfg.isOk()) << "accepted: " << j.dump();
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  for (const std::string &n : needles)
    EXPECT_NE(cfg.status().message().find(n), std::string::npos)
        << "message \"" << cfg.status().message() << "\" lacks \"" << n
        << "\" for " << j.dump();
}

/// Sets `key` to `value` in the tiny config and expects a rejection naming
/// `key` (or `field` when given).
template <typename T>
void rejectTiny(const std::string &key, const T &value,
                const std::string &field = "") {
  nlohmann::json j = tinyJson();
  j[key] = value;
  expectRejected(j, {"'" + (field.empty() ? key : field) + "'"});
}

//===----------------------------------------------------------------------===//
// Golden checkpoint (read with the runtime's safetensors reader)
//===----------------------------------------------------------------------===//

std::string sharedDir() {
  if (const char *env = std::getenv("GECKO_SHARED_DIR"))
    return env;
  return GECKO_SHARED_DIR;
}

bool startsWith(const std::string &s, const std::string &prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

//===----------------------------------------------------------------------===//
// models/*.json
//===----------------------------------------------------------------------===//

TEST(ModelConfigFiles, EveryModelLoadsRoundTripsAndHasStats) {
  int count = 0;
  for (const fs::directory_entry &e :
       fs::directory_iterator(kSourceDir + "/models")) {
    if (e.path().extension() != ".json")
      continue;
    ++count;
    SCOPED_TRACE(e.path().string());
    StatusOr<ModelConfig> cfg = loadModelConfigFile(e.path().string());
    ASSERT_TRUE(cfg.isOk()) << cfg.status().message();
    // toJson() round trip.
    StatusOr<ModelConfig> again = parseModelConfig(cfg->toJson());
    ASSERT_TRUE(again.isOk()) << again.status().message();
    EXPECT_TRUE(*again == *cfg) << cfg->toJson();
    StatusOr<ModelStats> stats = computeModelStats(*cfg);
    ASSERT_TRUE(stats.isOk()) << stats.status().message();
    EXPECT_GT(stats->params.total, 0);
    EXPECT_GT(stats->flops.training, 0);
    EXPECT_FALSE(formatModelStatsReport(*cfg, *stats).empty());
  }
  EXPECT_GE(count, 7);
}

TEST(ModelConfigFiles, ExpectedArchitectures) {
  EXPECT_EQ(loadModel("tiny.json").architecture, Architecture::Gecko);
  EXPECT_FALSE(loadModel("tiny.json").multi_segments);
  EXPECT_TRUE(loadModel("tiny-segments.json").multi_segments);
  EXPECT_EQ(loadModel("gecko-7b.json").architecture, Architecture::Gecko);
  EXPECT_EQ(loadModel("small.json").architecture, Architecture::Gecko);
  EXPECT_EQ(loadModel("megalodon-7b.json").architecture,
            Architecture::Megalodon);
  EXPECT_EQ(loadModel("llama2-7b.json").architecture, Architecture::Llama);
  EXPECT_EQ(loadModel("llama-small.json").architecture, Architecture::Llama);
}

TEST(ModelConfigFiles, Gecko7BFileIsTheReferenceDefaults) {
  ModelConfig defaults;
  defaults.vocab_size = 32000;
  EXPECT_TRUE(loadModel("gecko-7b.json") == defaults);
}

TEST(ModelConfigFiles, TinySegmentsDiffersOnlyInMultiSegments) {
  ModelConfig a = loadModel("tiny.json");
  ModelConfig b = loadModel("tiny-segments.json");
  EXPECT_FALSE(a == b);
  b.multi_segments = false;
  EXPECT_TRUE(a == b);
}

//===----------------------------------------------------------------------===//
// Parameter counts
//===----------------------------------------------------------------------===//

TEST(ModelStats, Gecko7BMatchesSpec) {
  // GECKO_MATH.md 1.1.
  ParamStats p = countParameters(loadModel("gecko-7b.json"));
  EXPECT_EQ(p.attentionPerBlock, 121943040);
  EXPECT_EQ(p.ffnPerBlock, 100671488);
  EXPECT_EQ(p.perBlock, 222614528);
  EXPECT_EQ(p.nonEmbedding, 7123664896);
  EXPECT_EQ(p.finalNorm, 8192);
  EXPECT_EQ(p.embedding, 32000 * 4096);
  EXPECT_EQ(p.output, 32000 * 4096);
  EXPECT_EQ(p.total, 7385817088); // "7.386 B for V = 32000"
  std::map<std::string, int64_t> byName;
  for (const ParamComponent &c : p.attentionComponents)
    byName[c.name] = c.count;
  EXPECT_EQ(byName["TDN"], 2 * 4096);
  EXPECT_EQ(byName["CEMA"], 4096 * (4 * 16 + 1));
  EXPECT_EQ(byName["RMSNorm"], 4096);
  EXPECT_EQ(byName["qk_affine"], 8 * 1024);

  ModelConfig big = loadModel("gecko-7b.json");
  big.vocab_size = 128256;
  EXPECT_EQ(countParameters(big).total, 8174346240); // "8.174 B"
  big.share_emb = true;
  EXPECT_EQ(countParameters(big).total, 8174346240 - 128256LL * 4096);
}

TEST(ModelStats, OptionalParameters) {
  ModelConfig c = loadModel("tiny.json");
  const int64_t base = countParameters(c).perBlock;
  c.rescale_nffn = true;
  EXPECT_EQ(countParameters(c).perBlock, base + c.model_dim);
  c.rescale_nffn = false;
  c.swiglu = false;
  EXPECT_EQ(countParameters(c).perBlock, base - c.model_dim * c.ffn_hidden_dim);
  c.swiglu = true;
  c.norm_affine = false; // drops the mx RMSNorm weight and the FFN LayerNorm
  EXPECT_EQ(countParameters(c).perBlock, base - 3 * c.model_dim);
}

TEST(ModelStats, TinyMatchesGoldenHardCoded) {
  // Obtained offline from shared/golden/golden_tiny_a.safetensors with
  //   python3: sum(prod(shape)) over the 50 `grad.*` tensors (one per
  //   parameter) = 834048; buffers (prior_count x3, prior_mean/var 4 x6,
  //   rope.freqs 128) = 155.
  ParamStats p = countParameters(loadModel("tiny.json"));
  EXPECT_EQ(p.total, 834048);
  EXPECT_EQ(p.bufferElements, 155);
  EXPECT_EQ(p.perBlock, 403968);
}

TEST(ModelStats, TinyMatchesGoldenFile) {
  const std::string path = sharedDir() + "/golden/golden_tiny_a.safetensors";
  StatusOr<SafetensorsFile> file = SafetensorsFile::open(path);
  if (!file.isOk())
    GTEST_SKIP() << "golden file not readable: " << file.status().message();

  ModelConfig tiny = loadModel("tiny.json");
  // The checkpoint's own config metadata parses to models/tiny.json.
  const std::map<std::string, std::string> &meta = file->metadata();
  ASSERT_EQ(meta.count("config"), 1u);
  StatusOr<ModelConfig> fromMeta = parseModelConfig(meta.at("config"));
  ASSERT_TRUE(fromMeta.isOk()) << fromMeta.status().message();
  fromMeta->bos_id = std::stoll(meta.at("bos_id"));
  fromMeta->multi_segments = meta.at("multi_segments") == "true";
  EXPECT_TRUE(*fromMeta == tiny) << fromMeta->toJson();

  int64_t params = 0, buffers = 0, grads = 0, mega0 = 0, nffn0 = 0,
          finalNorm = 0, embed = 0, output = 0;
  for (const std::string &name : file->names()) {
    const int64_t n = file->find(name)->numel();
    if (startsWith(name, "grad."))
      grads += n;
    if (startsWith(name, "input.") || startsWith(name, "output.logits") ||
        startsWith(name, "output.loss") || startsWith(name, "grad.") ||
        startsWith(name, "debug."))
      continue;
    if (endsWith(name, ".prior_count") || endsWith(name, ".prior_mean") ||
        endsWith(name, ".prior_var") || name == "rope.freqs") {
      buffers += n;
      continue;
    }
    params += n;
    if (startsWith(name, "layers.0.mega."))
      mega0 += n;
    if (startsWith(name, "layers.0.nffn."))
      nffn0 += n;
    if (startsWith(name, "output.final_norm."))
      finalNorm += n;
    if (name == "embed.weight")
      embed += n;
    if (name == "output.output.weight")
      output += n;
  }
  ParamStats p = countParameters(tiny);
  EXPECT_EQ(params, p.total);
  EXPECT_EQ(grads, p.total);
  EXPECT_EQ(buffers, p.bufferElements);
  EXPECT_EQ(mega0, p.attentionPerBlock);
  EXPECT_EQ(nffn0, p.ffnPerBlock);
  EXPECT_EQ(finalNorm, p.finalNorm);
  EXPECT_EQ(embed, p.embedding);
  EXPECT_EQ(output, p.output);
}

TEST(ModelStats, Llama2And7BBaselines) {
  ParamStats llama = countParameters(loadModel("llama2-7b.json"));
  EXPECT_EQ(llama.total, 6738415616); // the published Llama-2-7B count
  EXPECT_EQ(llama.perBlock, 202383360);

  ModelConfig gqa = loadModel("llama2-7b.json");
  gqa.num_kv_heads = 8; // k and v shrink to D x 1024 each
  EXPECT_EQ(countParameters(gqa).perBlock,
            202383360 - 2 * 4096LL * (4096 - 1024));

  ModelConfig mega = loadModel("megalodon-7b.json");
  EXPECT_TRUE(mega.two_hop_residual);
  EXPECT_EQ(mega.chunk_size, 4096);
  ParamStats m = countParameters(mega);
  std::map<std::string, int64_t> byName;
  for (const ParamComponent &c : m.attentionComponents)
    byName[c.name] = c.count;
  EXPECT_EQ(byName["CEMA"], 4096 * (4 * 16 + 2)); // + omega
  EXPECT_EQ(byName["qk_affine"], 4 * 1024);       // 2 x S gamma and beta
  // At 7B dims the omega (+D) and the two dropped z views (-4S) cancel.
  EXPECT_EQ(m.perBlock, 222614528);
  EXPECT_EQ(m.bufferElements, 33 * (1 + 2 * 64));
}

//===----------------------------------------------------------------------===//
// FLOP counts
//===----------------------------------------------------------------------===//

TEST(ModelStats, Gecko7BFlopsMatchSpecAsymptotically) {
  ModelConfig c = loadModel("gecko-7b.json");
  // GECKO_MATH.md 1.2 quotes the large-L limit; 1024 chunks is close to it.
  StatusOr<FlopStats> f = countFlops(c, 1024 * c.chunk_size);
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->linear, 444596224.0); // "444.6 MFLOP"
  EXPECT_NEAR(f->attention / 1e6, 56.6, 0.1);
  EXPECT_NEAR(f->attentionExecuted / 1e6, 75.5, 0.1);
  EXPECT_NEAR(f->memory / 1e6, 12.6, 0.05);
  EXPECT_NEAR(f->ema / 1e6, 0.8, 0.05);
  EXPECT_NEAR(f->training / 1e9, 50.1, 0.05);
  EXPECT_NEAR(f->trainingExecuted / 1e9, 52.3, 0.05);
  c.vocab_size = 128256;
  f = countFlops(c, 1024 * c.chunk_size);
  ASSERT_TRUE(f.isOk());
  EXPECT_NEAR(f->training / 1e9, 52.5, 0.05);
  EXPECT_NEAR(f->trainingExecuted / 1e9, 54.6, 0.05);
}

TEST(ModelStats, ReferenceH100BlockConvention) {
  // shared/perf/REFERENCE_H100.md: one 7B block with F = 11264 at L = 8192 is
  // 577 MFLOP per token forward.
  ModelConfig c = loadModel("gecko-7b.json");
  c.ffn_hidden_dim = 11264;
  StatusOr<FlopStats> f = countFlops(c, 8192);
  ASSERT_TRUE(f.isOk());
  EXPECT_NEAR(f->layerForward / 1e6, 577.0, 0.5);
  // Visible pairs K(L) = (L/C) C(C+1)/2 + (L/C - 1) C^2, 2(S+E) FLOPs each.
  const double C = 2048, L = 8192;
  const double pairs = (L / C) * C * (C + 1) / 2 + (L / C - 1) * C * C;
  EXPECT_DOUBLE_EQ(f->attention, pairs * 2 * (1024 + 8192) / L);
  EXPECT_DOUBLE_EQ(f->memory, (L / C - 1) * 6 * C * 1024.0 * 8192 / 4 / L);
  // The default sequence length is 4 chunks.
  EXPECT_EQ(defaultStatsSeqLen(c), 8192);
  StatusOr<FlopStats> d = countFlops(c);
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->seqLen, 8192);
  EXPECT_DOUBLE_EQ(d->forward, f->forward);
  EXPECT_DOUBLE_EQ(d->training, 3 * d->forward);
}

TEST(ModelStats, LlamaLayerMatchesReferenceTable) {
  // REFERENCE_H100.md: the Llama2-7B layer at L = 8192 runs at 432 TFLOP/s
  // with 305,190 tok/s training, i.e. about 1.416 GFLOP per token per layer.
  ModelConfig c = loadModel("llama2-7b.json");
  StatusOr<FlopStats> f = countFlops(c, 8192);
  ASSERT_TRUE(f.isOk());
  EXPECT_NEAR(3 * f->layerForward / 1e9, 432e12 / 305190 / 1e9, 0.005);
  EXPECT_DOUBLE_EQ(f->attention, 8193.0 / 2 * 4 * 4096);
}

TEST(ModelStats, PartialChunkAndArchitectureAttention) {
  ModelConfig tiny = loadModel("tiny.json"); // C = 16, S + E = 640
  StatusOr<FlopStats> f = countFlops(tiny, 20);
  ASSERT_TRUE(f.isOk());
  // Chunk 0: 16*17/2 pairs; chunk 1 (4 tokens): 4*5/2 causal + 4*16 previous.
  EXPECT_DOUBLE_EQ(f->attention, (136.0 + 10 + 64) * 2 * 640 / 20);
  EXPECT_DOUBLE_EQ(f->attentionExecuted, (256.0 + 16 + 64) * 2 * 640 / 20);
  // Memory: 4 reads of 2 and one absorption of 4*C, times S*E/H.
  EXPECT_DOUBLE_EQ(f->memory, (2.0 * 4 + 4 * 16) * 512 * 128 / 2 / 20);

  ModelConfig mega = tiny;
  mega.architecture = Architecture::Megalodon;
  mega.two_hop_residual = true;
  mega.rope_base = 10000;
  f = countFlops(mega, 64);
  ASSERT_TRUE(f.isOk());
  EXPECT_DOUBLE_EQ(f->attention, 4 * 136.0 * 2 * 640 / 64);
  EXPECT_EQ(f->memory, 0.0);

  EXPECT_FALSE(countFlops(tiny, -1).isOk());
}

TEST(ModelStats, FormatWithThousands) {
  EXPECT_EQ(formatWithThousands(0), "0");
  EXPECT_EQ(formatWithThousands(999), "999");
  EXPECT_EQ(formatWithThousands(1000), "1,000");
  EXPECT_EQ(formatWithThousands(7123664896), "7,123,664,896");
  EXPECT_EQ(formatWithThousands(-1234567), "-1,234,567");
  EXPECT_EQ(formatWithThousands(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(ModelStats, ReportShowsSeparatedCounts) {
  ModelConfig c = loadModel("gecko-7b.json");
  StatusOr<ModelStats> s = computeModelStats(c);
  ASSERT_TRUE(s.isOk());
  std::string report = formatModelStatsReport(c, *s);
  EXPECT_NE(report.find("7,123,664,896"), std::string::npos) << report;
  EXPECT_NE(report.find("222,614,528"), std::string::npos) << report;
  EXPECT_NE(report.find("GFLOP"), std::string::npos) << report;
}

//===----------------------------------------------------------------------===//
// Accepted inputs
//===----------------------------------------------------------------------===//

TEST(ModelConfigParse, DefaultsAndOptionalForms) {
  StatusOr<ModelConfig> cfg = parseModelConfig(R"({"vocab_size": 32000})");
  ASSERT_TRUE(cfg.isOk()) << cfg.status().message();
  EXPECT_EQ(cfg->num_layers, 32);
  EXPECT_EQ(cfg->efficient_attn, "fused");
  EXPECT_EQ(cfg->rope_base, 500000.0);
  EXPECT_FALSE(cfg->num_rope_heads.has_value());
  EXPECT_EQ(cfg->effectiveRopeHeads(), 4);
  EXPECT_EQ(cfg->effectiveOutputSize(), 32000);
  EXPECT_EQ(cfg->zHeadDim(), 256);
  EXPECT_EQ(cfg->vHeadDim(), 2048);

  nlohmann::json j = tinyJson();
  j["num_rope_heads"] = 1;
  j["_note"] = "keys starting with an underscore are comments";
  j["rope_base"] = 10000; // an integer is a valid float
  j["efficient_attn"] = "swift";
  j["init_mode"] = "gaussian";
  cfg = parseModelConfig(j.dump());
  ASSERT_TRUE(cfg.isOk()) << cfg.status().message();
  EXPECT_EQ(cfg->effectiveRopeHeads(), 1);
  EXPECT_EQ(cfg->rope_base, 10000.0);

  // An odd head dim is fine when RoPE is off.
  j = tinyJson();
  j["z_dim"] = 6;
  j["num_rope_heads"] = 0;
  EXPECT_TRUE(parseModelConfig(j.dump()).isOk());

  // share_emb with output_size -1 or == vocab_size.
  j = tinyJson();
  j["share_emb"] = true;
  EXPECT_TRUE(parseModelConfig(j.dump()).isOk());
  j["output_size"] = 50;
  EXPECT_TRUE(parseModelConfig(j.dump()).isOk());

  // Architecture defaults.
  cfg = parseModelConfig(R"({"architecture": "llama", "vocab_size": 32000})");
  ASSERT_TRUE(cfg.isOk()) << cfg.status().message();
  EXPECT_EQ(cfg->num_heads, 32);
  EXPECT_EQ(cfg->ffn_hidden_dim, 11008);
  EXPECT_EQ(cfg->rope_base, 10000.0);
  EXPECT_EQ(countParameters(*cfg).total, 6738415616);
  cfg =
      parseModelConfig(R"({"architecture": "megalodon", "vocab_size": 32000})");
  ASSERT_TRUE(cfg.isOk()) << cfg.status().message();
  EXPECT_TRUE(cfg->two_hop_residual);
  EXPECT_EQ(cfg->rope_base, 10000.0);
}

TEST(ModelConfigParse, ToJsonListsOnlyApplicableFields) {
  ModelConfig llama = ModelConfig::defaultsFor(Architecture::Llama);
  llama.vocab_size = 100;
  std::string text = llama.toJson();
  EXPECT_EQ(text.find("z_dim"), std::string::npos) << text;
  EXPECT_NE(text.find("num_kv_heads"), std::string::npos) << text;
  EXPECT_TRUE(modelConfigFieldApplies("num_kv_heads", Architecture::Llama));
  EXPECT_FALSE(modelConfigFieldApplies("num_kv_heads", Architecture::Gecko));
  EXPECT_FALSE(
      modelConfigFieldApplies("two_hop_residual", Architecture::Megalodon));
  StatusOr<ModelConfig> back = parseModelConfig(text);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_TRUE(*back == llama);
}

//===----------------------------------------------------------------------===//
// Rejections: one per rule, each naming the field
//===----------------------------------------------------------------------===//

TEST(ModelConfigReject, SyntaxAndShape) {
  StatusOr<ModelConfig> cfg = parseModelConfig("{\"num_layers\": 2,");
  ASSERT_FALSE(cfg.isOk());
  EXPECT_NE(cfg.status().message().find("invalid JSON"), std::string::npos);
  cfg = parseModelConfig("[1, 2]");
  ASSERT_FALSE(cfg.isOk());
  EXPECT_NE(cfg.status().message().find("object"), std::string::npos);
}

TEST(ModelConfigReject, UnknownFieldSuggestsClosest) {
  nlohmann::json j = tinyJson();
  j["num_layer"] = 2;
  expectRejected(j, {"'num_layer'", "did you mean 'num_layers'"});
  j = tinyJson();
  j["norm_num_groups"] = 4; // Megalodon's name for the TDN group count
  expectRejected(j, {"'norm_num_groups'", "'timenorm_num_groups'"});
  j = tinyJson();
  j["completely_unrelated_key"] = 1;
  expectRejected(j, {"unknown field 'completely_unrelated_key'"});
}

TEST(ModelConfigReject, FieldOfAnotherArchitecture) {
  nlohmann::json j = llamaJson();
  j["z_dim"] = 64;
  expectRejected(j, {"'z_dim'", "llama"});
  j = tinyJson();
  j["num_kv_heads"] = 2;
  expectRejected(j, {"'num_kv_heads'", "gecko"});
  j = megalodonJson();
  j["timenorm_beta1"] = 0.9;
  expectRejected(j, {"'timenorm_beta1'", "megalodon"});
  j = megalodonJson();
  j["multi_segments"] = true;
  expectRejected(j, {"'multi_segments'", "megalodon"});
}

TEST(ModelConfigReject, Architecture) {
  nlohmann::json j = tinyJson();
  j["architecture"] = "gekko";
  expectRejected(j, {"'architecture'", "did you mean 'gecko'"});
  j["architecture"] = 1;
  expectRejected(j, {"'architecture'", "string"});
}

TEST(ModelConfigReject, WrongTypes) {
  rejectTiny("num_layers", "2");
  rejectTiny("num_layers", 2.5);
  rejectTiny("num_layers", true);
  rejectTiny("num_layers", nullptr);
  rejectTiny("model_dim", nlohmann::json::array({256}));
  rejectTiny("norm_eps", "1e-5");
  rejectTiny("timenorm_beta1", nullptr);
  rejectTiny("swiglu", 1);
  rejectTiny("multi_segments", "false");
  rejectTiny("efficient_attn", 3);
  rejectTiny("init_mode", nullptr);
  rejectTiny("num_rope_heads", "all");
  rejectTiny("num_rope_heads", 1.5);
  rejectTiny("vocab_size", 18446744073709551615ULL);
}

TEST(ModelConfigReject, OutOfRange) {
  rejectTiny("num_layers", 0);
  rejectTiny("num_layers", -3);
  rejectTiny("model_dim", 0);
  rejectTiny("z_dim", 0);
  rejectTiny("value_dim", -128);
  rejectTiny("num_heads", 0);
  rejectTiny("ffn_hidden_dim", 0);
  rejectTiny("cema_ndim", 0);
  rejectTiny("cema_ndim", 17);
  rejectTiny("chunk_size", 0);
  rejectTiny("timenorm_num_groups", 0);
  rejectTiny("layernorm_num_groups", 0);
  rejectTiny("dropout", 1.0);
  rejectTiny("dropout", -0.1);
  rejectTiny("hidden_dropout", 1.5);
  rejectTiny("attention_dropout", -1);
  rejectTiny("timenorm_beta1", 0.0);
  rejectTiny("timenorm_beta1", 1.0);
  rejectTiny("timenorm_beta2", 1.0001);
  rejectTiny("norm_eps", 0.0);
  rejectTiny("norm_eps", -1e-5);
  rejectTiny("rope_base", 1.0);
  rejectTiny("output_size", 0);
  rejectTiny("output_size", -2);
  rejectTiny("bos_id", 50);
  rejectTiny("bos_id", -1);
  rejectTiny("num_rope_heads", -1);
  rejectTiny("num_rope_heads", 3); // > num_heads
  rejectTiny("efficient_attn", "flash");
  rejectTiny("init_mode", "kaiming");
}

TEST(ModelConfigReject, VocabSizeMustBeSet) {
  nlohmann::json j = tinyJson();
  j.erase("vocab_size");
  expectRejected(j, {"'vocab_size'", "> 0"});
  rejectTiny("vocab_size", -1);
  rejectTiny("vocab_size", 0);
}

TEST(ModelConfigReject, Inconsistent) {
  rejectTiny("z_dim", 511);     // not divisible by num_heads = 2
  rejectTiny("value_dim", 129); // not divisible by num_heads = 2
  nlohmann::json j = tinyJson();
  j["num_heads"] = 3;
  expectRejected(j, {"'z_dim'", "num_heads"});
  j = tinyJson();
  j["timenorm_num_groups"] = 3;
  expectRejected(j, {"'model_dim'", "timenorm_num_groups"});
  j = tinyJson();
  j["layernorm_num_groups"] = 5;
  expectRejected(j, {"'model_dim'", "layernorm_num_groups"});
  j = tinyJson();
  j["timenorm_num_groups"] = 512; // more groups than channels
  expectRejected(j, {"'timenorm_num_groups'"});
  j = tinyJson();
  j["z_dim"] = 6; // head dim 3 with RoPE on
  expectRejected(j, {"'z_dim'", "odd"});
  j = tinyJson();
  j["share_emb"] = true;
  j["output_size"] = 40;
  expectRejected(j, {"'share_emb'", "output_size", "vocab_size"});
}

TEST(ModelConfigReject, LlamaRules) {
  nlohmann::json j = llamaJson();
  j["num_kv_heads"] = 3;
  expectRejected(j, {"'num_kv_heads'"});
  j = llamaJson();
  j["num_kv_heads"] = 8;
  expectRejected(j, {"'num_kv_heads'"});
  j = llamaJson();
  j["num_kv_heads"] = 0;
  expectRejected(j, {"'num_kv_heads'"});
  j = llamaJson();
  j["model_dim"] = 66;
  expectRejected(j, {"'model_dim'", "num_heads"});
  j = llamaJson();
  j["model_dim"] = 12; // head dim 3
  expectRejected(j, {"'model_dim'", "odd"});
  j = llamaJson();
  j["max_seq_len"] = 0;
  expectRejected(j, {"'max_seq_len'"});
  j = llamaJson();
  j["share_emb"] = true;
  j["output_size"] = 10;
  expectRejected(j, {"'share_emb'"});
}

TEST(ModelConfigReject, MegalodonRules) {
  nlohmann::json j = megalodonJson();
  j["timenorm_num_groups"] = 256; // per-channel groups need prior_count > 1
  expectRejected(j, {"'timenorm_num_groups'"});
  j = megalodonJson();
  j["z_dim"] = 6; // RoPE always on
  expectRejected(j, {"'z_dim'", "odd"});
  j = megalodonJson();
  j["two_hop_residual"] = true; // fixed, so not a key
  expectRejected(j, {"'two_hop_residual'", "megalodon"});
}

TEST(ModelConfigReject, ValidateBuiltInCode) {
  ModelConfig c = loadModel("tiny.json");
  c.num_heads = 5;
  Status s = validateModelConfig(c);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("'z_dim'"), std::string::npos) << s.message();
  EXPECT_FALSE(computeModelStats(c).isOk());
}

TEST(ModelConfigFile, ErrorsNameThePath) {
  const std::string missing = kSourceDir + "/models/does-not-exist.json";
  StatusOr<ModelConfig> cfg = loadModelConfigFile(missing);
  ASSERT_FALSE(cfg.isOk());
  EXPECT_EQ(cfg.status().code(), StatusCode::kNotFound);
  EXPECT_NE(cfg.status().message().find(missing), std::string::npos);

  const fs::path bad =
      fs::temp_directory_path() / "gecko_model_config_test_bad.json";
  {
    std::ofstream out(bad);
    out << R"({"vocab_size": 50, "num_layers": "two"})";
  }
  cfg = loadModelConfigFile(bad.string());
  fs::remove(bad);
  ASSERT_FALSE(cfg.isOk());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find(bad.string()), std::string::npos);
  EXPECT_NE(cfg.status().message().find("'num_layers'"), std::string::npos);
}
