//===- ConfigSweepTest.cpp - Compiled models vs the fp64 oracle -----------===//
//
// The golden files pin one configuration; this test builds Gecko models of
// other shapes (layers, heads, chunk sizes, groups, vocabularies, RoPE on a
// subset of heads, documents, and the optional features: no SwiGLU,
// two-hop residual, scaled and shared embeddings, rescaled FFN) with the IR
// builder, compiles `forward` in f64 with the real CPU pipeline, and
// compares the logits and every intermediate activation with the fp64
// oracle (tests/oracle) on random weights.
//
// Tolerance: 2e-5 relative to each tensor's largest entry. Everything is
// f64 except RoPE's angle, which the op defines with the reference's f32
// recipe (fl32(tau * omega), docs/dialect.md) while the oracle uses exact
// angles; at positions below 64 that is an angle error of a few 1e-6,
// which bounds the difference. A wrong lowering or graph is O(1) off.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Frontend/ModelBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace gecko::testing {
namespace {

using frontend::ModelConfig;

void checkConfig(const ModelConfig &config, int64_t B, int64_t L,
                 uint64_t seed) {
  mlir::MLIRContext context;
  frontend::BuildOptions options;
  options.batch = B;
  options.seqLen = L;
  options.modes = {"forward"};
  options.floatType = "f64";
  options.debugOutputs = true;
  auto module = frontend::buildModelModule(context, config, options);
  ASSERT_TRUE(module.isOk()) << module.status().message();
  auto func = (**module).lookupSymbol<mlir::func::FuncOp>("forward");

  // Random tokens with BOS (id 1) mid-sequence and on a chunk boundary.
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> token(0, config.vocab_size - 1);
  std::vector<int64_t> tokens(B * L);
  for (int64_t &t : tokens)
    t = token(rng);
  tokens[std::min<int64_t>(3, L - 1)] = 1;
  if (B > 1)
    tokens[L + std::min<int64_t>(config.chunk_size, L - 1)] = 1;

  std::vector<JitBuffer> args;
  oracle::Weights weights;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto type = mlir::cast<mlir::RankedTensorType>(func.getArgumentTypes()[i]);
    std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    if (func.getArgAttr(i, mlir::gecko::kInputAttrName)) {
      args.push_back(JitBuffer::i64(
          shape, std::vector<double>(tokens.begin(), tokens.end())));
      continue;
    }
    std::string name =
        func.getArgAttrOfType<mlir::StringAttr>(i, mlir::gecko::kParamAttrName)
            .str();
    std::vector<double> values(n, 0.0);
    if (!func.getArgAttr(i, mlir::gecko::kBufferAttrName))
      values = randomValues(n, seed + 31 * i, -0.5, 0.5);
    args.push_back(type.getElementType().isInteger(64)
                       ? JitBuffer::i64(shape, values)
                       : JitBuffer::f64(shape, values));
    weights[name] = oracle::Array{shape, values};
  }

  std::string text;
  llvm::raw_string_ostream os(text);
  (**module).print(os);
  std::string error;
  std::vector<JitBuffer> out = compileAndRun(text, "forward", args, error);
  ASSERT_FALSE(out.empty()) << error;

  auto oracleConfig = oracle::Config::fromJson(config.toJson());
  ASSERT_TRUE(oracleConfig.isOk()) << oracleConfig.status().message();
  auto expected =
      oracle::forward(*oracleConfig, weights, tokens, B, L, nullptr, nullptr);
  ASSERT_TRUE(expected.isOk()) << expected.status().message();

  auto check = [&](const std::string &name, const std::vector<double> &got,
                   const std::vector<double> &want) {
    double scale = 0.0;
    for (double v : want)
      scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(allClose(got, want, 0.0, 2e-5 * std::max(scale, 1e-3))) << name;
  };
  check("output.logits", out[0].values, expected->logits);
  for (unsigned r = 1; r < func.getNumResults(); ++r) {
    std::string name = func.getResultAttrOfType<mlir::StringAttr>(
                               r, mlir::gecko::kOutputAttrName)
                           .str();
    auto it = expected->debug.find(name);
    ASSERT_NE(it, expected->debug.end()) << "oracle has no " << name;
    check(name, out[r].values, it->second);
  }
}

ModelConfig base() {
  ModelConfig c;
  c.num_layers = 1;
  c.model_dim = 16;
  c.z_dim = 16;
  c.value_dim = 8;
  c.num_heads = 2;
  c.ffn_hidden_dim = 12;
  c.cema_ndim = 3;
  c.chunk_size = 4;
  c.timenorm_num_groups = 4;
  c.vocab_size = 11;
  return c;
}

TEST(ConfigSweep, OneLayerSmallChunks) { checkConfig(base(), 2, 12, 1); }

TEST(ConfigSweep, ThreeHeadsDocumentsRopeSubsetGroupedNorms) {
  ModelConfig c = base();
  c.num_layers = 3;
  c.model_dim = 12;
  c.z_dim = 24;
  c.value_dim = 12;
  c.num_heads = 3;
  c.ffn_hidden_dim = 8;
  c.cema_ndim = 2;
  c.chunk_size = 6;
  c.timenorm_num_groups = 3;
  c.layernorm_num_groups = 2;
  c.num_rope_heads = 1;
  c.vocab_size = 7;
  c.multi_segments = true;
  checkConfig(c, 2, 18, 2);
}

TEST(ConfigSweep, OptionalFeatures) {
  ModelConfig c = base();
  c.num_layers = 2;
  c.chunk_size = 8;
  c.swiglu = false;
  c.two_hop_residual = true;
  c.scale_emb = true;
  c.share_emb = true;
  c.rescale_nffn = true;
  c.norm_affine = false;
  checkConfig(c, 1, 8, 3);
}

} // namespace
} // namespace gecko::testing
