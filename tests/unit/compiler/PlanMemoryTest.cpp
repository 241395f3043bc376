//===- PlanMemoryTest.cpp - gecko-plan-memory keeps results unchanged -----===//
//
// A function with several temporaries, compiled with the CPU pipeline with
// and without gecko-plan-memory, must compute the same values bit for bit
// (the pass only changes where temporaries live, not the arithmetic). The
// JIT fills the workspace with a garbage pattern, so a buffer that shares
// memory with a live one, or is read before being written, shows up.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"

#include <gtest/gtest.h>

namespace gecko::testing {
namespace {

// Six 8x16xf32 (512-byte) temporaries in a chain with a skip connection: y1
// lives until the end, the others die one after the other, so the plan
// reuses memory and is smaller than the sum of the buffers.
constexpr const char *kChain = R"(
func.func @f(%x: tensor<8x16xf32>, %w1: tensor<16x16xf32>,
             %w2: tensor<16x16xf32>) -> tensor<8x16xf32> {
  %y1 = gecko.silu %x : tensor<8x16xf32>
  %y2 = gecko.linear %y1, %w1 : tensor<8x16xf32>, tensor<16x16xf32>
  %y3 = gecko.silu %y2 : tensor<8x16xf32>
  %y4 = gecko.linear %y3, %w2 : tensor<8x16xf32>, tensor<16x16xf32>
  %y5 = gecko.silu %y4 : tensor<8x16xf32>
  %y6 = gecko.linear %y5, %w1 : tensor<8x16xf32>, tensor<16x16xf32>
  %y7 = arith.addf %y6, %y1 : tensor<8x16xf32>
  %y8 = gecko.linear %y7, %w2 : tensor<8x16xf32>, tensor<16x16xf32>
  %y9 = arith.mulf %y8, %y3 : tensor<8x16xf32>
  return %y9 : tensor<8x16xf32>
}
// No temporary: no workspace.
func.func @g(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %y = gecko.silu %x : tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
)";

TEST(PlanMemory, PlannedMatchesUnplanned) {
  std::string error;
  std::unique_ptr<CpuJit> planned = CpuJit::compile(kChain, error);
  ASSERT_TRUE(planned) << error;
  CpuJitOptions options;
  options.planMemory = false;
  std::unique_ptr<CpuJit> unplanned = CpuJit::compile(kChain, error, options);
  ASSERT_TRUE(unplanned) << error;

  EXPECT_GT(planned->workspaceBytes("f"), 0);
  EXPECT_EQ(planned->workspaceBytes("f") % 64, 0);
  // At least three temporaries are live at once (y1, y3 and the one being
  // computed), and at most all of them: with sharing the arena is smaller
  // than one 512-byte slot per linear and silu.
  EXPECT_GE(planned->workspaceBytes("f"), 3 * 512);
  EXPECT_LT(planned->workspaceBytes("f"), 7 * 512);
  EXPECT_EQ(unplanned->workspaceBytes("f"), 0);
  EXPECT_EQ(planned->workspaceBytes("g"), 0);
  EXPECT_EQ(planned->loweredModule().find("@malloc"), std::string::npos)
      << planned->loweredModule();
  EXPECT_NE(unplanned->loweredModule().find("@malloc"), std::string::npos);

  for (uint64_t seed : {1, 2, 3}) {
    std::vector<JitBuffer> args = {
        JitBuffer::f32({8, 16}, randomValues(8 * 16, seed)),
        JitBuffer::f32({16, 16}, randomValues(16 * 16, seed + 10, -0.5, 0.5)),
        JitBuffer::f32({16, 16}, randomValues(16 * 16, seed + 20, -0.5, 0.5))};
    std::vector<JitBuffer> a, b;
    ASSERT_TRUE(planned->run("f", args, a, error)) << error;
    ASSERT_TRUE(unplanned->run("f", args, b, error)) << error;
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(a[0].values, b[0].values) << "seed " << seed;
    // Running again on the same (now dirty) workspace gives the same.
    std::vector<JitBuffer> c;
    ASSERT_TRUE(planned->run("f", args, c, error)) << error;
    EXPECT_EQ(a[0].values, c[0].values) << "seed " << seed;

    std::vector<JitBuffer> g;
    ASSERT_TRUE(planned->run("g", {args[0]}, g, error)) << error;
    ASSERT_EQ(g.size(), 1u);
  }
}

} // namespace
} // namespace gecko::testing
