//===- CudaTestArtifact.h - The CUDA test artifact's plan -------*- C++ -*-===//
//
// The plan of testdata/cuda_test_host.c + cuda_test_kernels.cu, a "cuda"
// artifact made without MLIR: the host object is built by CMake (one per
// image format, GECKO_TEST_CUDA_FATBIN_HOST_PATH / _PTX_HOST_PATH) and
// packaged with the writer at test time. Functions (N = 1000 floats):
//   vadd       z = x + y                      (1 launch)
//   vadd2x     z = 2 (x + y) via the workspace (2 launches)
//   bad_index  launches kernel 99, then kernel 0 (which must be skipped)
//   bad_block  launches with 4096 threads per block (cuLaunchKernel fails)
//   trap       launches a kernel that executes `trap`
//   vadd_smem  vadd with 96 KiB of dynamic shared memory (above 48 KiB)
//   step       state x, result next:x = x + 1
// and GEMMs through gecko_host_imports.gemm (M x N x K = 37 x 45 x 61, batch
// 3; inputs input.a and param b, result output.c):
//   gemm_rr       c = 1.5 a b, row-major A and B
//   gemm_rc       c = a w^T (b is w [N, K]: a column-major B)
//   gemm_batched  c_i = 1.5 a b_i (a shared: batch stride 0; two GEMMs, the
//                 second with beta = 0.5)
//   gemm_f64      c = 2 at^T b in f64 (a is at [K, M]: a column-major A)
//   gemm_offset   c = a[1:] b (A aligned to 4 bytes only)
//   gemm_bad      A with strides [3, 2] (refused), then a skipped GEMM
//   gemm_bf16     c = 1.5 a w^T with bf16 a [M, K] and w [N, K] and f32 c
//                 (GECKO_GEMM_BF16_F32; two GEMMs, the second with beta
//                 = 0.5)
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TESTS_UNIT_RUNTIME_CUDATESTARTIFACT_H
#define GECKO_TESTS_UNIT_RUNTIME_CUDATESTARTIFACT_H

#include "TestArtifact.h"

#include <optional>

namespace gecko::testing {

inline constexpr int64_t kCudaTestN = 1000;
inline constexpr int64_t kGemmM = 37, kGemmK = 61, kGemmN = 45, kGemmB = 3;

inline std::vector<std::string> cudaTestKernels() {
  return {"gecko_test_vadd", "gecko_test_scale2", "gecko_test_trap",
          "gecko_test_addone"};
}

/// `format` is "fatbin" or "ptx"; `chip` the plan's target chip.
inline ArtifactPlan cudaTestPlan(const std::string &format = "fatbin",
                                 const std::string &chip = "sm_80") {
  ArtifactPlan plan = testKernelPlan();
  plan.modelJson.clear();
  plan.functions.clear();
  plan.target.kind = "cuda";
  plan.target.chip = chip;
  plan.target.deviceImageFormat = format;
  plan.target.kernels = cudaTestKernels();
  const int64_t n = kCudaTestN;
  auto binary = [&](const std::string &name) {
    FunctionPlan f;
    f.name = name;
    f.mode = "forward";
    f.entry = "gecko_entry_" + name;
    f.args = {makeArg(ArgKind::kInput, "input.x", ElementType::kF32, {n}),
              makeArg(ArgKind::kParam, "y", ElementType::kF32, {n})};
    f.results = {makeResult("output.z", ElementType::kF32, {n})};
    return f;
  };
  for (const char *name :
       {"vadd", "vadd2x", "bad_index", "bad_block", "trap", "vadd_smem"})
    plan.functions.push_back(binary(name));
  plan.functions[1].workspace.bytes = uint64_t(n) * 4;
  plan.functions[1].workspace.alignment = 1024;
  FunctionPlan step;
  step.name = "step";
  step.mode = "train_step";
  step.entry = "gecko_entry_step";
  step.args = {makeArg(ArgKind::kState, "x", ElementType::kF32, {n})};
  step.results = {makeResult("next:x", ElementType::kF32, {n})};
  plan.functions.push_back(step);
  const int64_t m = kGemmM, k = kGemmK, nn = kGemmN, b = kGemmB;
  auto gemm = [&](const std::string &name, ElementType t,
                  std::vector<int64_t> a, std::vector<int64_t> bs,
                  std::vector<int64_t> c,
                  std::optional<ElementType> out = std::nullopt) {
    FunctionPlan f;
    f.name = name;
    f.mode = "forward";
    f.entry = "gecko_entry_" + name;
    f.args = {makeArg(ArgKind::kInput, "input.a", t, std::move(a)),
              makeArg(ArgKind::kParam, "b", t, std::move(bs))};
    f.results = {makeResult("output.c", out.value_or(t), std::move(c))};
    plan.functions.push_back(f);
  };
  const ElementType f32 = ElementType::kF32;
  gemm("gemm_rr", f32, {m, k}, {k, nn}, {m, nn});
  gemm("gemm_rc", f32, {m, k}, {nn, k}, {m, nn});
  gemm("gemm_batched", f32, {m, k}, {b, k, nn}, {b, m, nn});
  gemm("gemm_f64", ElementType::kF64, {k, m}, {k, nn}, {m, nn});
  gemm("gemm_offset", f32, {m * k + 1}, {k, nn}, {m, nn});
  gemm("gemm_bad", f32, {m, k}, {k, nn}, {m, nn});
  gemm("gemm_bf16", ElementType::kBF16, {m, k}, {nn, k}, {m, nn}, f32);
  return plan;
}

inline std::vector<uint8_t> readBinaryFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>());
}

} // namespace gecko::testing

#endif // GECKO_TESTS_UNIT_RUNTIME_CUDATESTARTIFACT_H
