//===- DeviceTest.cpp - CPU and CUDA device tests -------------------------===//

#include "gecko/runtime/device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

using namespace gecko;

TEST(CpuDevice, DescribesTheHost) {
  std::unique_ptr<Device> cpu = createCpuDevice();
  EXPECT_EQ(cpu->info().kind, DeviceKind::kCpu);
  EXPECT_GT(cpu->info().totalMemory, 0u);
  EXPECT_GT(cpu->info().multiprocessors, 0);
  EXPECT_FALSE(cpu->info().name.empty());
}

TEST(CpuDevice, AllocatesAlignedAndCopiesRoundTrip) {
  std::unique_ptr<Device> cpu = createCpuDevice();
  StatusOr<Buffer> buf = cpu->allocate(1000);
  ASSERT_TRUE(buf.isOk()) << buf.status().toString();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 64, 0u);
  EXPECT_EQ(buf->size(), 1000u);
  std::vector<uint8_t> src(1000), dst(1000, 0);
  std::iota(src.begin(), src.end(), 0);
  ASSERT_TRUE(cpu->copyFromHost(*buf, 0, src.data(), src.size()).isOk());
  ASSERT_TRUE(cpu->copyToHost(dst.data(), *buf, 0, dst.size()).isOk());
  EXPECT_EQ(src, dst);
}

TEST(CpuDevice, RejectsOutOfBoundsCopies) {
  std::unique_ptr<Device> cpu = createCpuDevice();
  StatusOr<Buffer> buf = cpu->allocate(16);
  ASSERT_TRUE(buf.isOk());
  char data[32] = {};
  Status s = cpu->copyFromHost(*buf, 8, data, 16);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("overruns"), std::string::npos);
  // An offset past the end must not wrap around in the bounds check.
  s = cpu->copyToHost(data, *buf, SIZE_MAX, 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(CpuDevice, HugeAllocationFailsWithAStatus) {
  std::unique_ptr<Device> cpu = createCpuDevice();
  StatusOr<Buffer> buf = cpu->allocate(size_t(1) << 62);
  ASSERT_FALSE(buf.isOk());
  EXPECT_EQ(buf.status().code(), StatusCode::kResourceExhausted);
}

TEST(Buffer, MoveTransfersOwnership) {
  std::unique_ptr<Device> cpu = createCpuDevice();
  StatusOr<Buffer> a = cpu->allocate(64);
  ASSERT_TRUE(a.isOk());
  void *ptr = a->data();
  Buffer b = std::move(*a);
  EXPECT_EQ(b.data(), ptr);
  EXPECT_EQ(a->data(), nullptr);
  EXPECT_EQ(a->size(), 0u);
}

TEST(Devices, EnumerationAlwaysListsTheCpuFirst) {
  std::vector<std::string> notes;
  std::vector<DeviceInfo> devices = enumerateDevices(&notes);
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0].kind, DeviceKind::kCpu);
  // Without a GPU the reason is reported, not an error.
  if (devices.size() == 1)
    EXPECT_FALSE(notes.empty());
}
