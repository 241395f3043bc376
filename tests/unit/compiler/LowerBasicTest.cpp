//===- LowerBasicTest.cpp - Compiled basic-family ops vs the fp64 oracle --===//
//
// Each test compiles a one-op gecko function with the CPU pipeline, runs it
// on random inputs and compares with tests/oracle in double precision.
// Tolerances: f32 results carry about 1e-7 relative rounding per operation
// and the oracle is exact, so elementwise ops are held to 1e-6 relative;
// f64 to 1e-12.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

namespace gecko::testing {
namespace {

TEST(LowerBasic, SiluMatchesOracle) {
  for (const char *type : {"f32", "f64"}) {
    std::string source = std::string(R"(
func.func @f(%x: tensor<3x5x7xT>) -> tensor<3x5x7xT> {
  %y = gecko.silu %x : tensor<3x5x7xT>
  return %y : tensor<3x5x7xT>
})");
    for (size_t pos; (pos = source.find("xT>")) != std::string::npos;)
      source.replace(pos, 3, std::string("x") + type + ">");
    std::vector<double> x = randomValues(3 * 5 * 7, 1, -8.0, 8.0);
    std::string error;
    JitBuffer input = std::string(type) == "f32" ? JitBuffer::f32({3, 5, 7}, x)
                                                 : JitBuffer::f64({3, 5, 7}, x);
    std::vector<JitBuffer> out = compileAndRun(source, "f", {input}, error);
    ASSERT_EQ(out.size(), 1u) << error;
    std::vector<double> expected;
    for (double v : x)
      expected.push_back(oracle::silu(v));
    double rtol = std::string(type) == "f32" ? 1e-6 : 1e-12;
    EXPECT_TRUE(allClose(out[0].values, expected, rtol, 1e-30)) << type;
  }
}

} // namespace
} // namespace gecko::testing
