//===- AutodiffTest.cpp - gecko-autodiff against finite differences -------===//
//
// Builds small random Gecko, Megalodon and Llama models in f64 with the IR
// builder, differentiates `loss` with gecko-autodiff, compiles both with the
// CPU pipeline and compares every gradient tensor with central finite
// differences of the compiled loss.
//
// Tolerance: central differences with h = 1e-5 have truncation error
// O(h^2 |f'''|) ~ 1e-10 and rounding error O(eps |f| / h) ~ 1e-11 for
// |f| ~ 4, so agreement to 1e-6 relative (per tensor, over the probed
// elements) leaves three orders of magnitude of margin while any wrong VJP
// shows up as an O(1) error.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Frontend/ModelBuilder.h"
#include "gecko/Training/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream> // TEMP DEBUG
#include <random>
#include <sstream> // TEMP DEBUG

namespace gecko::testing {
namespace {

using frontend::ModelConfig;

struct Arg {
  std::string name; ///< gecko.param / gecko.input name
  bool trainable = false;
  JitBuffer value;
};

/// Builds `loss` + `grad` for `config` in f64 and returns the module text
/// and the argument list of `loss` with random values.
std::string buildModule(const ModelConfig &config, int64_t B, int64_t L,
                        std::vector<Arg> &args, uint64_t seed) {
  mlir::MLIRContext context;
  frontend::BuildOptions options;
  options.batch = B;
  options.seqLen = L;
  options.modes = {"loss"};
  options.floatType = "f64";
  auto module = frontend::buildModelModule(context, config, options);
  EXPECT_TRUE(module.isOk()) << module.status().message();
  if (!module.isOk())
    return "";
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  pm.addPass(mlir::gecko::createGeckoAutodiff());
  EXPECT_TRUE(mlir::succeeded(pm.run(**module)));

  auto loss = (**module).lookupSymbol<mlir::func::FuncOp>("loss");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> token(0, config.vocab_size - 1);
  for (unsigned i = 0; i < loss.getNumArguments(); ++i) {
    auto type = mlir::cast<mlir::RankedTensorType>(loss.getArgumentTypes()[i]);
    std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
    Arg arg;
    if (auto input = loss.getArgAttrOfType<mlir::StringAttr>(
            i, mlir::gecko::kInputAttrName)) {
      arg.name = input.str();
      std::vector<double> ids(B * L);
      for (double &t : ids)
        t = double(token(rng));
      // Documents: BOS (id 1) mid-sequence in row 0, at t = 0 in row 1.
      if (arg.name == "input.tokens" && L > 5) {
        ids[3] = 1;
        ids[L] = 1;
      }
      arg.value = JitBuffer::i64(shape, ids);
    } else {
      arg.name = loss.getArgAttrOfType<mlir::StringAttr>(
                         i, mlir::gecko::kParamAttrName)
                     .str();
      bool buffer = bool(loss.getArgAttr(i, mlir::gecko::kBufferAttrName));
      arg.trainable = !buffer;
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      if (type.getElementType().isInteger(64))
        arg.value = JitBuffer::i64(shape, std::vector<double>(n, 0.0));
      else if (buffer)
        arg.value = JitBuffer::f64(shape, std::vector<double>(n, 0.0));
      else
        arg.value =
            JitBuffer::f64(shape, randomValues(n, seed + 17 * i, -0.5, 0.5));
    }
    args.push_back(std::move(arg));
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  (**module).print(os);
  return text;
}

void checkGradients(const ModelConfig &config, int64_t B, int64_t L) {
  std::vector<Arg> args;
  std::string source = buildModule(config, B, L, args, 7);
  ASSERT_FALSE(source.empty());
  std::string error;
  std::unique_ptr<CpuJit> jit = CpuJit::compile(source, error);
  ASSERT_TRUE(jit) << error;
  auto values = [&] {
    std::vector<JitBuffer> v;
    for (const Arg &a : args)
      v.push_back(a.value);
    return v;
  };
  auto lossAt = [&]() {
    std::vector<JitBuffer> out;
    EXPECT_TRUE(jit->run("loss", values(), out, error)) << error;
    return out.empty() ? NAN : out[0].values[0];
  };
  double before = lossAt();
  std::vector<JitBuffer> grads;
  ASSERT_TRUE(jit->run("grad", values(), grads, error)) << error;
  // Running a function has no effect on later runs.
  EXPECT_EQ(before, lossAt());
  // The gradient function computes the same loss as the loss function.
  EXPECT_NEAR(grads[0].values[0], lossAt(), 1e-12 * std::fabs(lossAt()));
  // grads[0] is the loss; then one gradient per trainable argument, in order.
  size_t g = 1;
  std::mt19937_64 rng(11);
  const double h = 1e-5;
  for (Arg &arg : args) {
    if (!arg.trainable)
      continue;
    ASSERT_LT(g, grads.size());
    const JitBuffer &grad = grads[g++];
    int64_t n = arg.value.numElements();
    // Probe up to 6 elements per tensor (all of a small one).
    std::vector<int64_t> probes;
    std::uniform_int_distribution<int64_t> pick(0, n - 1);
    for (int64_t k = 0; k < std::min<int64_t>(n, 6); ++k)
      probes.push_back(n <= 6 ? k : pick(rng));
    double errNorm = 0.0, refNorm = 0.0;
    for (int64_t e : probes) {
      double saved = arg.value.values[e];
      arg.value.values[e] = saved + h;
      double plus = lossAt();
      arg.value.values[e] = saved - h;
      double minus = lossAt();
      arg.value.values[e] = saved;
      double fd = (plus - minus) / (2 * h);
      errNorm += (grad.values[e] - fd) * (grad.values[e] - fd);
      refNorm += fd * fd;
    }
    // Below |fd| = 1e-3 the check is absolute (1e-9): the differences'
    // rounding error, ~eps |f| / h ~ 5e-11 per probe, is then no longer
    // 1e-6 of the gradient (e.g. mega.beta's |fd| ~ 6e-7 in the
    // with-documents model), while a wrong gradient is still off by O(|fd|).
    double rel = std::sqrt(errNorm) / std::max(std::sqrt(refNorm), 1e-3);
    EXPECT_LT(rel, 1e-6) << "grad." << arg.name
                         << " (|fd| = " << std::sqrt(refNorm) << ")";
  }
  EXPECT_EQ(g, grads.size());
}

/// gradients of `config` with and without remat=block must be identical.
void checkRematMatches(const ModelConfig &config, int64_t B, int64_t L) {
  std::vector<std::vector<JitBuffer>> grads;
  for (const char *remat : {"none", "block"}) {
    mlir::MLIRContext context;
    frontend::BuildOptions options;
    options.batch = B;
    options.seqLen = L;
    options.modes = {"loss"};
    options.floatType = "f64";
    auto module = frontend::buildModelModule(context, config, options);
    ASSERT_TRUE(module.isOk()) << module.status().message();
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    mlir::gecko::GeckoAutodiffOptions autodiff;
    autodiff.remat = remat;
    pm.addPass(mlir::gecko::createGeckoAutodiff(autodiff));
    ASSERT_TRUE(mlir::succeeded(pm.run(**module)));
    auto func = (**module).lookupSymbol<mlir::func::FuncOp>("grad");
    std::vector<JitBuffer> args;
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      auto type =
          mlir::cast<mlir::RankedTensorType>(func.getArgumentTypes()[i]);
      std::vector<int64_t> shape(type.getShape().begin(),
                                 type.getShape().end());
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      if (type.getElementType().isInteger(64))
        args.push_back(JitBuffer::i64(
            shape, std::vector<double>(n, double(i % config.vocab_size))));
      else
        args.push_back(JitBuffer::f64(shape, randomValues(n, 100 + i)));
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    (**module).print(os);
    std::string error;
    grads.push_back(compileAndRun(text, "grad", args, error));
    ASSERT_FALSE(grads.back().empty()) << error;
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t r = 0; r < grads[0].size(); ++r)
    EXPECT_TRUE(allClose(grads[1][r].values, grads[0][r].values, 1e-12, 1e-15))
        << "result " << r;
}

ModelConfig smallGecko(bool segments) {
  ModelConfig c;
  c.num_layers = 2;
  c.model_dim = 8;
  c.z_dim = 8;
  c.value_dim = 4;
  c.num_heads = 2;
  c.ffn_hidden_dim = 6;
  c.cema_ndim = 2;
  c.chunk_size = 4;
  c.timenorm_num_groups = 2;
  c.vocab_size = 7;
  c.multi_segments = segments;
  return c;
}

TEST(Autodiff, GeckoGradientsMatchFiniteDifferences) {
  checkGradients(smallGecko(false), 2, 12);
}

TEST(Autodiff, BlockRematerializationGivesTheSameGradients) {
  checkRematMatches(smallGecko(true), 2, 8);
}

TEST(Autodiff, GeckoWithDocumentsGradientsMatchFiniteDifferences) {
  checkGradients(smallGecko(true), 2, 12);
}

TEST(Autodiff, MegalodonGradientsMatchFiniteDifferences) {
  ModelConfig c = ModelConfig::defaultsFor(frontend::Architecture::Megalodon);
  ModelConfig g = smallGecko(false);
  c.num_layers = 1;
  c.model_dim = g.model_dim;
  c.z_dim = g.z_dim;
  c.value_dim = g.value_dim;
  c.num_heads = g.num_heads;
  c.ffn_hidden_dim = g.ffn_hidden_dim;
  c.cema_ndim = g.cema_ndim;
  c.chunk_size = g.chunk_size;
  c.timenorm_num_groups = g.timenorm_num_groups;
  c.vocab_size = g.vocab_size;
  checkGradients(c, 2, 8);
}

TEST(Autodiff, LlamaGradientsMatchFiniteDifferences) {
  ModelConfig c = ModelConfig::defaultsFor(frontend::Architecture::Llama);
  c.num_layers = 1;
  c.model_dim = 8;
  c.num_heads = 2;
  c.num_kv_heads = 2;
  c.ffn_hidden_dim = 6;
  c.vocab_size = 7;
  c.max_seq_len = 6;
  checkGradients(c, 2, 6);
}

} // namespace
} // namespace gecko::testing
