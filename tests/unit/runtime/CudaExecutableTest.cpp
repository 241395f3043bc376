//===- CudaExecutableTest.cpp - cuda artifacts on a GPU (label: gpu) ------===//
//
// Runs the CUDA test artifact (CudaTestArtifact.h: a host object built from
// testdata/cuda_test_host.c with an nvcc-made fatbin or PTX image embedded)
// through Executable: numbers, workspace and launch order, device-resident
// BoundCalls, CUDA-graph replay against eager calls, timing, GEMMs through
// gecko_host_imports.gemm (cuBLASLt) against a CPU reference in double, and
// every error path: launch failures, bad kernel indices, bad GEMM
// descriptors, missing kernels, chip mismatches, and a trapping kernel
// (last: it leaves the context unusable).
// Every test skips where no CUDA device can be opened.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/device.h"
#include "gecko/runtime/executable.h"

#include "CudaTestArtifact.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>

using namespace gecko;
using namespace gecko::testing;

namespace {

#define SKIP_WITHOUT_GPU()                                                     \
  do {                                                                         \
    StatusOr<int> count_ = cudaDeviceCount();                                  \
    if (!count_.isOk() || *count_ == 0)                                        \
      GTEST_SKIP() << "no CUDA device: "                                       \
                   << (count_.isOk() ? "0 devices"                             \
                                     : count_.status().message());             \
  } while (false)

std::vector<uint8_t> hostCode(const std::string &format) {
  std::vector<uint8_t> code =
      readBinaryFile(format == "ptx" ? GECKO_TEST_CUDA_PTX_HOST_PATH
                                     : GECKO_TEST_CUDA_FATBIN_HOST_PATH);
  EXPECT_FALSE(code.empty());
  return code;
}

StatusOr<std::unique_ptr<Executable>>
loadPlan(const ArtifactPlan &plan, const std::string &format = "fatbin",
         LoadOptions options = {}) {
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, hostCode(format));
  if (!image.isOk())
    return image.status();
  return Executable::loadFromBytes(*image, "cuda_test.gkm", options);
}

std::unique_ptr<Executable> loadTest(const std::string &format = "fatbin",
                                     LoadOptions options = {}) {
  StatusOr<std::unique_ptr<Executable>> exe =
      loadPlan(cudaTestPlan(format), format, options);
  EXPECT_TRUE(exe.isOk()) << exe.status().toString();
  return exe.isOk() ? std::move(exe).value() : nullptr;
}

HostTensor floats(const std::vector<float> &v) {
  StatusOr<HostTensor> t = HostTensor::fromBytes(
      ElementType::kF32, {int64_t(v.size())}, v.data(), v.size() * 4);
  EXPECT_TRUE(t.isOk());
  return std::move(t).value();
}

std::vector<float> ramp(float scale) {
  std::vector<float> v(static_cast<size_t>(kCudaTestN));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = scale * float(i) + 0.5f;
  return v;
}

std::vector<float> toVector(const HostTensor &t) {
  const float *p = t.dataAs<float>();
  return std::vector<float>(p, p + t.numel());
}

TensorMap inputsX(const std::vector<float> &x) {
  TensorMap m;
  m.emplace("input.x", floats(x));
  return m;
}

TensorMap paramsY(const std::vector<float> &y) {
  TensorMap m;
  m.emplace("y", floats(y));
  return m;
}

void expectContains(const Status &s, const std::vector<std::string> &needles) {
  ASSERT_FALSE(s.isOk());
  for (const std::string &n : needles)
    EXPECT_NE(s.message().find(n), std::string::npos)
        << "'" << n << "' not in: " << s.toString();
}

//===--- GEMM helpers
//------------------------------------------------------===//

/// Deterministic values in [-1, 1).
template <typename T> std::vector<T> noise(size_t n, unsigned seed) {
  std::vector<T> v(n);
  uint32_t x = 2463534242u + seed * 7919u;
  for (T &e : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    e = T(double(x % 20000u) / 10000.0 - 1.0);
  }
  return v;
}

template <typename T>
HostTensor tensorOf(const std::vector<T> &v, std::vector<int64_t> shape) {
  ElementType t = sizeof(T) == 8 ? ElementType::kF64 : ElementType::kF32;
  StatusOr<HostTensor> h = HostTensor::fromBytes(t, std::move(shape), v.data(),
                                                 v.size() * sizeof(T));
  EXPECT_TRUE(h.isOk()) << h.status().toString();
  return std::move(h).value();
}

/// c[b][i][j] = alpha * sum_p A(b, i, p) B(b, p, j), in double, checked
/// within `rel` of sum_p |A B| (the bound for a floating-point dot product).
template <typename T>
void expectGemm(const HostTensor &c, int64_t batch, double alpha,
                const std::function<double(int64_t, int64_t, int64_t)> &a,
                const std::function<double(int64_t, int64_t, int64_t)> &b,
                double rel) {
  const T *got = c.dataAs<T>();
  ASSERT_EQ(c.numel(), batch * kGemmM * kGemmN);
  int bad = 0;
  for (int64_t q = 0; q < batch; ++q)
    for (int64_t i = 0; i < kGemmM; ++i)
      for (int64_t j = 0; j < kGemmN; ++j) {
        double ref = 0, mag = 0;
        for (int64_t p = 0; p < kGemmK; ++p) {
          ref += a(q, i, p) * b(q, p, j);
          mag += std::fabs(a(q, i, p) * b(q, p, j));
        }
        ref *= alpha;
        mag *= std::fabs(alpha);
        double v = double(got[(q * kGemmM + i) * kGemmN + j]);
        if (!(std::fabs(v - ref) <= rel * mag + 1e-300) && ++bad <= 5)
          ADD_FAILURE() << "c[" << q << "][" << i << "][" << j << "] = " << v
                        << ", expected " << ref << " (tolerance " << rel * mag
                        << ")";
      }
  EXPECT_EQ(bad, 0);
}

template <typename T>
StatusOr<TensorMap> runGemm(Executable &exe, const std::string &fn,
                            const std::vector<T> &a, std::vector<int64_t> as,
                            const std::vector<T> &b, std::vector<int64_t> bs) {
  TensorMap inputs, params;
  inputs.emplace("input.a", tensorOf(a, std::move(as)));
  params.emplace("b", tensorOf(b, std::move(bs)));
  return exe.run(fn, params, inputs);
}

/// `v` rounded to bf16 (nearest, ties to even; finite inputs), as bits.
uint16_t toBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

double fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return double(v);
}

/// A bf16 tensor holding `v` rounded to bf16 (the bits also go to `bits`).
HostTensor bf16Tensor(const std::vector<float> &v, std::vector<int64_t> shape,
                      std::vector<uint16_t> &bits) {
  bits.clear();
  for (float x : v)
    bits.push_back(toBf16(x));
  StatusOr<HostTensor> h = HostTensor::fromBytes(
      ElementType::kBF16, std::move(shape), bits.data(), bits.size() * 2);
  EXPECT_TRUE(h.isOk()) << h.status().toString();
  return std::move(h).value();
}

/// Sets an environment variable for one scope (read at Executable load).
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char *n, const char *v) : name(n) { setenv(n, v, 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

} // namespace

TEST(CudaExecutable, RunsVectorAddFromFatbin) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest("fatbin");
  ASSERT_TRUE(exe);
  EXPECT_TRUE(exe->onCuda());
  EXPECT_EQ(exe->deviceDescription().rfind("cuda:0 (", 0), 0u);
  std::vector<float> x = ramp(1.0f), y = ramp(-0.25f);
  RunStats stats;
  StatusOr<TensorMap> out = exe->run("vadd", paramsY(y), inputsX(x), &stats);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<float> z = toVector(out->at("output.z"));
  for (size_t i = 0; i < z.size(); ++i)
    ASSERT_EQ(z[i], x[i] + y[i]) << "element " << i;
  EXPECT_GT(stats.kernelSeconds, 0.0);
  EXPECT_GE(stats.totalSeconds, stats.kernelSeconds);
  // A second run reuses the function's device buffers.
  std::vector<float> x2 = ramp(3.0f);
  out = exe->run("vadd", paramsY(y), inputsX(x2));
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at("output.z").dataAs<float>()[999], x2[999] + y[999]);
}

TEST(CudaExecutable, RunsFromPtx) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest("ptx");
  ASSERT_TRUE(exe);
  std::vector<float> x = ramp(0.5f), y = ramp(2.0f);
  StatusOr<TensorMap> out = exe->run("vadd", paramsY(y), inputsX(x));
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<float> z = toVector(out->at("output.z"));
  for (size_t i = 0; i < z.size(); ++i)
    ASSERT_EQ(z[i], x[i] + y[i]) << "element " << i;
}

TEST(CudaExecutable, WorkspaceAndLaunchOrder) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  std::vector<float> x = ramp(1.5f), y = ramp(0.25f);
  StatusOr<TensorMap> out = exe->run("vadd2x", paramsY(y), inputsX(x));
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<float> z = toVector(out->at("output.z"));
  for (size_t i = 0; i < z.size(); ++i)
    ASSERT_EQ(z[i], 2.0f * (x[i] + y[i])) << "element " << i;
}

TEST(CudaExecutable, LargeDynamicSharedMemory) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  std::vector<float> x = ramp(1.0f), y = ramp(0.5f);
  for (int i = 0; i < 2; ++i) { // The second call finds the limit raised.
    StatusOr<TensorMap> out = exe->run("vadd_smem", paramsY(y), inputsX(x));
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    EXPECT_EQ(out->at("output.z").dataAs<float>()[999], x[999] + y[999]);
  }
}

TEST(CudaExecutable, BindingErrorsBeforeAnyCopy) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<TensorMap> out =
      exe->run("vadd", paramsY(std::vector<float>(3)), inputsX(ramp(1)));
  ASSERT_FALSE(out.isOk());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  expectContains(out.status(), {"param 'y' has shape [3], expected [1000]"});
}

TEST(CudaExecutable, BoundCallStaysOnTheDevice) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("vadd");
  ASSERT_TRUE(call.isOk()) << call.status().toString();
  BoundCall &c = **call;
  std::vector<float> x = ramp(1.0f), y = ramp(2.0f);
  ASSERT_TRUE(c.setArgs(paramsY(y), inputsX(x)).isOk());
  Status s = c.run();
  ASSERT_TRUE(s.isOk()) << s.toString();
  StatusOr<HostTensor> z = c.result("output.z");
  ASSERT_TRUE(z.isOk()) << z.status().toString();
  EXPECT_EQ(z->dataAs<float>()[10], x[10] + y[10]);
  // Change one input only; the param stays bound.
  std::vector<float> x2 = ramp(-1.0f);
  ASSERT_TRUE(c.setArg("input.x", floats(x2)).isOk());
  ASSERT_TRUE(c.enqueue().isOk());
  ASSERT_TRUE(c.synchronize().isOk());
  z = c.result("output.z");
  ASSERT_TRUE(z.isOk());
  EXPECT_EQ(z->dataAs<float>()[10], x2[10] + y[10]);
  StatusOr<void *> buf = c.buffer("output.z");
  ASSERT_TRUE(buf.isOk());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*buf) % 256, 0u);
  expectContains(c.setArg("nope", floats(x)), {"has no arg 'nope'"});
  expectContains(c.setArg("input.x", floats({1, 2})),
                 {"input 'input.x' has shape [2], expected [1000]"});
  expectContains(c.replayGraph(), {"no CUDA graph captured"});
}

TEST(CudaExecutable, GraphReplayEqualsEager) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  std::vector<float> x0 = ramp(0.125f);
  TensorMap state;
  state.emplace("x", floats(x0));
  auto stepFive = [&](bool graph) -> std::vector<float> {
    StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("step");
    EXPECT_TRUE(call.isOk()) << call.status().toString();
    BoundCall &c = **call;
    EXPECT_TRUE(c.setArgs(state, {}).isOk());
    if (graph) {
      Status s = c.captureGraph();
      EXPECT_TRUE(s.isOk()) << s.toString();
      EXPECT_TRUE(c.hasGraph());
    }
    for (int i = 0; i < 5; ++i) {
      Status s = graph ? c.replayGraph() : c.enqueue();
      EXPECT_TRUE(s.isOk()) << s.toString();
      EXPECT_TRUE(c.applyNextResults().isOk());
    }
    EXPECT_TRUE(c.synchronize().isOk());
    StatusOr<HostTensor> x = c.result("next:x");
    EXPECT_TRUE(x.isOk());
    return toVector(*x);
  };
  std::vector<float> eager = stepFive(false);
  std::vector<float> replayed = stepFive(true);
  ASSERT_EQ(eager.size(), x0.size());
  EXPECT_EQ(eager, replayed);
  EXPECT_EQ(eager[7], x0[7] + 5.0f);
}

TEST(CudaExecutable, TimesCallsWithEvents) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("vadd2x");
  ASSERT_TRUE(call.isOk());
  for (bool graph : {false, true}) {
    StatusOr<std::vector<double>> ms = (*call)->time(2, 5, graph);
    ASSERT_TRUE(ms.isOk()) << ms.status().toString();
    ASSERT_EQ(ms->size(), 5u);
    for (double t : *ms)
      EXPECT_GT(t, 0.0);
  }
}

TEST(CudaExecutable, LaunchFailureNamesTheKernel) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  std::vector<float> x = ramp(1), y = ramp(1);
  StatusOr<TensorMap> out = exe->run("bad_block", paramsY(y), inputsX(x));
  ASSERT_FALSE(out.isOk());
  expectContains(out.status(),
                 {"cuda_test.gkm: function 'bad_block'",
                  "kernel 'gecko_test_vadd'", "block [4096, 1, 1]",
                  "cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE"});
  // Not sticky: the executable keeps working.
  out = exe->run("vadd", paramsY(y), inputsX(x));
  EXPECT_TRUE(out.isOk()) << out.status().toString();
}

TEST(CudaExecutable, BadKernelIndexSkipsLaterLaunches) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  std::vector<float> x = ramp(1), y = ramp(1);
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("bad_index");
  ASSERT_TRUE(call.isOk());
  ASSERT_TRUE((*call)->setArgs(paramsY(y), inputsX(x)).isOk());
  Status s = (*call)->run();
  expectContains(s, {"function 'bad_index'", "kernel index 99",
                     "the plan lists 4 kernel(s)"});
  // The valid launch after the failure was skipped: z is still zero.
  StatusOr<HostTensor> z = (*call)->result("output.z");
  ASSERT_TRUE(z.isOk());
  EXPECT_EQ(z->dataAs<float>()[5], 0.0f);
  // Capturing the same call fails cleanly too, leaving no graph.
  expectContains((*call)->captureGraph(), {"kernel index 99"});
  EXPECT_FALSE((*call)->hasGraph());
  EXPECT_TRUE(exe->run("vadd", paramsY(y), inputsX(x)).isOk());
}

TEST(CudaExecutable, MissingKernelIsALoadError) {
  SKIP_WITHOUT_GPU();
  ArtifactPlan plan = cudaTestPlan();
  plan.target.kernels.push_back("gecko_test_missing");
  StatusOr<std::unique_ptr<Executable>> exe = loadPlan(plan);
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kNotFound);
  expectContains(exe.status(),
                 {"cuda_test.gkm", "no kernel(s) 'gecko_test_missing'"});
}

TEST(CudaExecutable, ChipMismatchIsALoadError) {
  SKIP_WITHOUT_GPU();
  StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(0);
  ASSERT_TRUE(gpu.isOk());
  int cc = (*gpu)->info().computeCapability;
  std::string other = cc == 120 ? "sm_100a" : "sm_120a";
  ArtifactPlan plan = cudaTestPlan("fatbin", other);
  LoadOptions options;
  options.device = gpu->get();
  StatusOr<std::unique_ptr<Executable>> exe = loadPlan(plan, "fatbin", options);
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kFailedPrecondition);
  expectContains(exe.status(),
                 {"artifact targets cuda (" + other + ")",
                  "which runs only on compute capability", "cuda:0"});
  // A future plain chip needs a newer device.
  exe = loadPlan(cudaTestPlan("ptx", "sm_990"), "ptx", options);
  ASSERT_FALSE(exe.isOk());
  expectContains(exe.status(), {"needs compute capability 99.0 or newer"});
}

TEST(CudaExecutable, TargetAndDeviceMustAgree) {
  SKIP_WITHOUT_GPU();
  StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(0);
  ASSERT_TRUE(gpu.isOk());
  LoadOptions onGpu;
  onGpu.device = gpu->get();
  StatusOr<std::vector<uint8_t>> cpuImage =
      serializeArtifact(testKernelPlan(), testKernelCode());
  ASSERT_TRUE(cpuImage.isOk());
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(*cpuImage, "cpu.gkm", onGpu);
  ASSERT_FALSE(exe.isOk());
  expectContains(exe.status(),
                 {"artifact targets cpu and cannot run on cuda:0"});
  std::unique_ptr<Device> cpu = createCpuDevice();
  LoadOptions onCpu;
  onCpu.device = cpu.get();
  exe = loadPlan(cudaTestPlan(), "fatbin", onCpu);
  ASSERT_FALSE(exe.isOk());
  expectContains(exe.status(), {"artifact targets cuda (sm_80) and cannot run "
                                "on the cpu device"});
  // An explicit CUDA device works like the default one.
  exe = loadPlan(cudaTestPlan(), "fatbin", onGpu);
  ASSERT_TRUE(exe.isOk()) << exe.status().toString();
  EXPECT_TRUE((*exe)->run("vadd", paramsY(ramp(1)), inputsX(ramp(2))).isOk());
}

TEST(CudaExecutable, ImageFormatMustMatchThePlan) {
  SKIP_WITHOUT_GPU();
  // The PTX host object under a plan that says fatbin.
  StatusOr<std::unique_ptr<Executable>> exe =
      loadPlan(cudaTestPlan("fatbin"), "ptx");
  ASSERT_FALSE(exe.isOk());
  expectContains(exe.status(),
                 {"device image (fatbin)", "does not start with the fatbin "
                                           "magic"});
  // The CPU test kernel exports no device image.
  ArtifactPlan plan = testKernelPlan();
  plan.target = cudaTestPlan().target;
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, testKernelCode());
  ASSERT_TRUE(image.isOk());
  exe = Executable::loadFromBytes(*image, "nodev.gkm");
  ASSERT_FALSE(exe.isOk());
  EXPECT_EQ(exe.status().code(), StatusCode::kNotFound);
  expectContains(exe.status(), {"does not export 'gecko_device_image'"});
}

TEST(CudaExecutable, GemmRowMajorAAndB) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<float> a = noise<float>(size_t(M * K), 1);
  std::vector<float> b = noise<float>(size_t(K * N), 2);
  for (int rep = 0; rep < 2; ++rep) { // The second call hits the cache.
    StatusOr<TensorMap> out = runGemm(*exe, "gemm_rr", a, {M, K}, b, {K, N});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    expectGemm<float>(
        out->at("output.c"), 1, 1.5,
        [&](int64_t, int64_t i, int64_t p) { return a[size_t(i * K + p)]; },
        [&](int64_t, int64_t p, int64_t j) { return b[size_t(p * N + j)]; },
        1e-5);
  }
}

TEST(CudaExecutable, GemmColumnMajorBIsATransposedWeight) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<float> a = noise<float>(size_t(M * K), 3);
  std::vector<float> w = noise<float>(size_t(N * K), 4);
  StatusOr<TensorMap> out = runGemm(*exe, "gemm_rc", a, {M, K}, w, {N, K});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectGemm<float>(
      out->at("output.c"), 1, 1.0,
      [&](int64_t, int64_t i, int64_t p) { return a[size_t(i * K + p)]; },
      [&](int64_t, int64_t p, int64_t j) { return w[size_t(j * K + p)]; },
      1e-5);
}

TEST(CudaExecutable, GemmStridedBatchWithBroadcastA) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN, B = kGemmB;
  std::vector<float> a = noise<float>(size_t(M * K), 5);
  std::vector<float> b = noise<float>(size_t(B * K * N), 6);
  StatusOr<TensorMap> out =
      runGemm(*exe, "gemm_batched", a, {M, K}, b, {B, K, N});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectGemm<float>(
      out->at("output.c"), B, 1.5,
      [&](int64_t, int64_t i, int64_t p) { return a[size_t(i * K + p)]; },
      [&](int64_t q, int64_t p, int64_t j) {
        return b[size_t((q * K + p) * N + j)];
      },
      1e-5);
}

TEST(CudaExecutable, GemmFloat64WithColumnMajorA) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<double> at = noise<double>(size_t(K * M), 7);
  std::vector<double> b = noise<double>(size_t(K * N), 8);
  StatusOr<TensorMap> out = runGemm(*exe, "gemm_f64", at, {K, M}, b, {K, N});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectGemm<double>(
      out->at("output.c"), 1, 2.0,
      [&](int64_t, int64_t i, int64_t p) { return at[size_t(p * M + i)]; },
      [&](int64_t, int64_t p, int64_t j) { return b[size_t(p * N + j)]; },
      1e-12);
}

TEST(CudaExecutable, GemmUnalignedOperand) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<float> a = noise<float>(size_t(M * K + 1), 9);
  std::vector<float> b = noise<float>(size_t(K * N), 10);
  StatusOr<TensorMap> out =
      runGemm(*exe, "gemm_offset", a, {M * K + 1}, b, {K, N});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectGemm<float>(
      out->at("output.c"), 1, 1.0,
      [&](int64_t, int64_t i, int64_t p) { return a[size_t(1 + i * K + p)]; },
      [&](int64_t, int64_t p, int64_t j) { return b[size_t(p * N + j)]; },
      1e-5);
}

TEST(CudaExecutable, GemmBadDescriptorIsAClearError) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe = loadTest();
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<float> a = noise<float>(size_t(M * K), 11);
  std::vector<float> b = noise<float>(size_t(K * N), 12);
  StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("gemm_bad");
  ASSERT_TRUE(call.isOk());
  TensorMap inputs, params;
  inputs.emplace("input.a", tensorOf(a, {M, K}));
  params.emplace("b", tensorOf(b, {K, N}));
  ASSERT_TRUE((*call)->setArgs(params, inputs).isOk());
  Status s = (*call)->run();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
  expectContains(s, {"cuda_test.gkm: function 'gemm_bad'", "gemm 1",
                     "gemm: A (37 x 61) has strides [3, 2]", "row-major",
                     "column-major"});
  // The valid GEMM after the failure was skipped: c is still zero.
  StatusOr<HostTensor> c = (*call)->result("output.c");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->dataAs<float>()[5], 0.0f);
  // The executable keeps working.
  StatusOr<TensorMap> out = runGemm(*exe, "gemm_rr", a, {M, K}, b, {K, N});
  EXPECT_TRUE(out.isOk()) << out.status().toString();
}

TEST(CudaExecutable, GemmGraphReplayEqualsEager) {
  SKIP_WITHOUT_GPU();
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN, B = kGemmB;
  TensorMap inputs, params;
  inputs.emplace("input.a", tensorOf(noise<float>(size_t(M * K), 13), {M, K}));
  params.emplace("b", tensorOf(noise<float>(size_t(B * K * N), 14), {B, K, N}));
  auto results = [&](bool graph) -> std::vector<float> {
    // A fresh executable each time: the capture sees the first GEMM of the
    // executable (the cuBLASLt handle, workspace and plan are made inside
    // the capture).
    std::unique_ptr<Executable> exe = loadTest();
    EXPECT_TRUE(exe);
    if (!exe)
      return {};
    StatusOr<std::unique_ptr<BoundCall>> call = exe->bind("gemm_batched");
    EXPECT_TRUE(call.isOk()) << call.status().toString();
    BoundCall &c = **call;
    EXPECT_TRUE(c.setArgs(params, inputs).isOk());
    if (graph) {
      Status s = c.captureGraph();
      EXPECT_TRUE(s.isOk()) << s.toString();
      for (int i = 0; i < 3; ++i) {
        s = c.replayGraph();
        EXPECT_TRUE(s.isOk()) << s.toString();
      }
    } else {
      Status s = c.run();
      EXPECT_TRUE(s.isOk()) << s.toString();
    }
    EXPECT_TRUE(c.synchronize().isOk());
    StatusOr<HostTensor> out = c.result("output.c");
    EXPECT_TRUE(out.isOk());
    return out.isOk() ? toVector(*out) : std::vector<float>();
  };
  // The entry's two GEMMs (beta 0, then beta 0.5) give the same result on
  // every replay.
  std::vector<float> eager = results(false);
  std::vector<float> replayed = results(true);
  ASSERT_EQ(eager.size(), size_t(B * M * N));
  EXPECT_EQ(eager, replayed);
}

TEST(CudaExecutable, GemmProfileNamesTheShape) {
  SKIP_WITHOUT_GPU();
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN, B = kGemmB;
  std::unique_ptr<Executable> exe;
  {
    ScopedEnv env("GECKO_CUDA_PROFILE", "1");
    exe = loadTest();
  }
  ASSERT_TRUE(exe);
  StatusOr<TensorMap> out =
      runGemm(*exe, "gemm_batched", noise<float>(size_t(M * K), 15), {M, K},
              noise<float>(size_t(B * K * N), 16), {B, K, N});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  ::testing::internal::CaptureStderr();
  exe.reset(); // Prints the profile.
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gemm f32 37 x 45 x 61 (batch 3)"), std::string::npos)
      << err;
}

TEST(CudaExecutable, GemmTf32IsCloseToFp32) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Executable> exe;
  {
    ScopedEnv env("GECKO_CUDA_TF32", "1");
    exe = loadTest();
  }
  ASSERT_TRUE(exe);
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::vector<float> a = noise<float>(size_t(M * K), 17);
  std::vector<float> b = noise<float>(size_t(K * N), 18);
  StatusOr<TensorMap> out = runGemm(*exe, "gemm_rr", a, {M, K}, b, {K, N});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  // TF32 keeps 10 mantissa bits of each input: about 1e-3 relative.
  expectGemm<float>(
      out->at("output.c"), 1, 1.5,
      [&](int64_t, int64_t i, int64_t p) { return a[size_t(i * K + p)]; },
      [&](int64_t, int64_t p, int64_t j) { return b[size_t(p * N + j)]; },
      4e-3);
}

TEST(CudaExecutable, GemmBf16InputsFloatOutput) {
  SKIP_WITHOUT_GPU();
  // bf16 A and B, f32 C and accumulation (--precision=bf16's GEMMs), even
  // with GECKO_CUDA_TF32 set, which applies to f32 inputs only.
  for (bool tf32 : {false, true}) {
    std::unique_ptr<Executable> exe;
    {
      ScopedEnv env("GECKO_CUDA_TF32", tf32 ? "1" : "0");
      exe = loadTest();
    }
    ASSERT_TRUE(exe);
    const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
    std::vector<uint16_t> a, w;
    TensorMap inputs, params;
    inputs.emplace("input.a",
                   bf16Tensor(noise<float>(size_t(M * K), 19), {M, K}, a));
    params.emplace("b", bf16Tensor(noise<float>(size_t(N * K), 20), {N, K}, w));
    StatusOr<TensorMap> out = exe->run("gemm_bf16", params, inputs);
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    ASSERT_EQ(out->at("output.c").dtype(), ElementType::kF32);
    // The reference multiplies the bf16 values in double: the products are
    // exact in f32 too, so only the f32 sum rounds (as for f32 GEMMs).
    expectGemm<float>(
        out->at("output.c"), 1, 1.5,
        [&](int64_t, int64_t i, int64_t p) {
          return fromBf16(a[size_t(i * K + p)]);
        },
        [&](int64_t, int64_t p, int64_t j) {
          return fromBf16(w[size_t(j * K + p)]);
        },
        1e-5);
  }
}

TEST(CudaExecutable, GemmProfileNamesTheBf16Shape) {
  SKIP_WITHOUT_GPU();
  const int64_t M = kGemmM, K = kGemmK, N = kGemmN;
  std::unique_ptr<Executable> exe;
  {
    ScopedEnv env("GECKO_CUDA_PROFILE", "1");
    exe = loadTest();
  }
  ASSERT_TRUE(exe);
  std::vector<uint16_t> a, w;
  TensorMap inputs, params;
  inputs.emplace("input.a",
                 bf16Tensor(noise<float>(size_t(M * K), 21), {M, K}, a));
  params.emplace("b", bf16Tensor(noise<float>(size_t(N * K), 22), {N, K}, w));
  StatusOr<TensorMap> out = exe->run("gemm_bf16", params, inputs);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  ::testing::internal::CaptureStderr();
  exe.reset(); // Prints the profile.
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gemm bf16>f32 37 x 45 x 61"), std::string::npos) << err;
}

// Last: a trap leaves the CUDA context unusable for the rest of the process
// (ctest runs every test in its own process).
TEST(CudaExecutable, ZzTrappingKernelIsReportedNotAborted) {
  SKIP_WITHOUT_GPU();
  LoadOptions options;
  options.syncEveryLaunch = true; // Names the kernel that faulted.
  std::unique_ptr<Executable> exe = loadTest("fatbin", options);
  ASSERT_TRUE(exe);
  StatusOr<TensorMap> out =
      exe->run("trap", paramsY(ramp(1)), inputsX(ramp(1)));
  ASSERT_FALSE(out.isOk());
  expectContains(out.status(),
                 {"function 'trap'", "kernel 'gecko_test_trap'",
                  "failed while executing", "cuStreamSynchronize failed"});
}
