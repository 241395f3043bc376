//===- CudaExecutableTest.cpp - cuda artifacts on a GPU (label: gpu) ------===//
//
// Runs the CUDA test artifact (CudaTestArtifact.h: a host object built from
// testdata/cuda_test_host.c with an nvcc-made fatbin or PTX image embedded)
// through Executable: numbers, workspace and launch order, device-resident
// BoundCalls, CUDA-graph replay against eager calls, timing, and every
// error path: launch failures, bad kernel indices, missing kernels, chip
// mismatches, and a trapping kernel (last: it leaves the context unusable).
// Every test skips where no CUDA device can be opened.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/device.h"
#include "gecko/runtime/executable.h"

#include "CudaTestArtifact.h"

#include <gtest/gtest.h>

#include <cmath>

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
