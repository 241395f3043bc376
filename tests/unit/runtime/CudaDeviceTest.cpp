//===- CudaDeviceTest.cpp - CUDA device tests (label: gpu) ----------------===//
//
// These run on the GPU machine (scripts/device/) and skip cleanly where no
// CUDA device can be opened, as in CI.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/device.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

using namespace gecko;

TEST(CudaDevice, AllocatesAndCopiesRoundTrip) {
  StatusOr<int> count = cudaDeviceCount();
  if (!count.isOk() || *count == 0)
    GTEST_SKIP() << "no CUDA device: "
                 << (count.isOk() ? "0 devices" : count.status().message());
  StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(0);
  ASSERT_TRUE(gpu.isOk()) << gpu.status().toString();
  EXPECT_GE((*gpu)->info().computeCapability, 50);
  StatusOr<Buffer> buf = (*gpu)->allocate(1 << 20);
  ASSERT_TRUE(buf.isOk()) << buf.status().toString();
  std::vector<float> src(1 << 18), dst(1 << 18, 0.f);
  std::iota(src.begin(), src.end(), 0.f);
  ASSERT_TRUE((*gpu)->copyFromHost(*buf, 0, src.data(), 1 << 20).isOk());
  ASSERT_TRUE((*gpu)->synchronize().isOk());
  ASSERT_TRUE((*gpu)->copyToHost(dst.data(), *buf, 0, 1 << 20).isOk());
  EXPECT_EQ(src, dst);
}

TEST(CudaDevice, MissingOrdinalIsNotFound) {
  StatusOr<int> count = cudaDeviceCount();
  if (!count.isOk())
    GTEST_SKIP() << count.status().message();
  StatusOr<std::unique_ptr<Device>> gpu = createCudaDevice(*count + 3);
  ASSERT_FALSE(gpu.isOk());
  EXPECT_EQ(gpu.status().code(), StatusCode::kNotFound);
}
