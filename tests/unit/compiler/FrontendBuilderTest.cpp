//===- FrontendBuilderTest.cpp - The IR builder against stats and golden --===//
//
// Cross-checks the IR builder with two independent sources: the parameter
// counts of ModelStats (frontend/lib/ModelStats.cpp, written from the spec's
// formulas) and the tensors of the reference's golden checkpoint.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Frontend/ModelBuilder.h"
#include "gecko/Frontend/ModelStats.h"
#include "gecko/runtime/safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <map>

namespace gecko::frontend {
namespace {

using mlir::RankedTensorType;

struct ParamInfo {
  std::vector<int64_t> shape;
  bool isInteger = false;
};

/// The parameters of @forward by name.
std::map<std::string, ParamInfo> buildParams(const ModelConfig &config) {
  mlir::MLIRContext context;
  BuildOptions options;
  options.modes = {"forward"};
  auto module = buildModelModule(context, config, options);
  EXPECT_TRUE(module.isOk()) << module.status().message();
  std::map<std::string, ParamInfo> params;
  if (!module.isOk())
    return params;
  auto func = (**module).lookupSymbol<mlir::func::FuncOp>("forward");
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto name =
        func.getArgAttrOfType<mlir::StringAttr>(i, mlir::gecko::kParamAttrName);
    if (!name)
      continue;
    auto type = mlir::cast<RankedTensorType>(func.getArgumentTypes()[i]);
    params[name.str()] = {
        std::vector<int64_t>(type.getShape().begin(), type.getShape().end()),
        type.getElementType().isInteger()};
  }
  return params;
}

int64_t elements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

TEST(FrontendBuilder, ParameterCountsMatchModelStats) {
  for (const char *name : {"tiny", "tiny-segments", "small", "gecko-7b",
                           "megalodon-7b", "llama2-7b", "llama-small"}) {
    SCOPED_TRACE(name);
    auto config = loadModelConfigFile(std::string(GECKO_SOURCE_DIR) +
                                      "/models/" + name + ".json");
    ASSERT_TRUE(config.isOk()) << config.status().message();
    ParamStats stats = countParameters(*config);
    int64_t params = 0, buffers = 0;
    for (const auto &[pname, info] : buildParams(*config)) {
      bool isBuffer = pname.find(".prior_") != std::string::npos;
      (isBuffer ? buffers : params) += elements(info.shape);
    }
    EXPECT_EQ(params, stats.total);
    // ModelStats also counts rope.freqs (d_k / 2 floats), which gecko.rope
    // recomputes instead of binding.
    int64_t ropeFreqs = config->architecture == Architecture::Gecko
                            ? config->zHeadDim() / 2
                            : 0;
    EXPECT_EQ(buffers + ropeFreqs, stats.bufferElements);
  }
}

TEST(FrontendBuilder, TinyBindsEveryGoldenTensorByName) {
  auto config =
      loadModelConfigFile(std::string(GECKO_SOURCE_DIR) + "/models/tiny.json");
  ASSERT_TRUE(config.isOk()) << config.status().message();
  std::string path =
      std::string(GECKO_SHARED_DIR) + "/golden/golden_tiny_a.safetensors";
  auto golden = SafetensorsFile::open(path);
  if (!golden.isOk())
    GTEST_SKIP() << "no golden file: " << golden.status().message();
  std::map<std::string, ParamInfo> params = buildParams(*config);
  size_t bound = 0;
  for (const std::string &name : golden->names()) {
    // Data and results; note that "output." also prefixes the parameters
    // of the reference's output module (output.final_norm.*).
    if (name.rfind("input.", 0) == 0 || name == "output.logits" ||
        name == "output.loss" || name.rfind("grad.", 0) == 0 ||
        name.rfind("debug.", 0) == 0 || name == "rope.freqs")
      continue;
    auto it = params.find(name);
    ASSERT_NE(it, params.end()) << "golden tensor " << name << " is unbound";
    EXPECT_EQ(it->second.shape, golden->find(name)->shape) << name;
    ++bound;
  }
  EXPECT_EQ(bound, params.size()) << "the builder has parameters the golden "
                                     "checkpoint lacks";
}

} // namespace
} // namespace gecko::frontend
