//===- cpu_device.cpp - The host CPU as a Device --------------------------===//

#include "gecko/runtime/device.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>
#include <unistd.h>

namespace gecko {
namespace {

std::string readCpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size())
        return line.substr(colon + 2);
    }
  }
  return "host CPU";
}

class CpuDevice final : public Device {
public:
  CpuDevice() {
    info_.kind = DeviceKind::kCpu;
    info_.ordinal = 0;
    info_.name = readCpuModelName();
    long pages = sysconf(_SC_PHYS_PAGES);
    long pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && pageSize > 0)
      info_.totalMemory = uint64_t(pages) * uint64_t(pageSize);
    info_.multiprocessors = int(std::thread::hardware_concurrency());
  }

  const DeviceInfo &info() const override { return info_; }

  StatusOr<Buffer> allocate(size_t size) override {
    constexpr size_t kAlignment = 64;
    size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded == 0)
      rounded = kAlignment;
    void *ptr = std::aligned_alloc(kAlignment, rounded);
    if (!ptr)
      return resourceExhausted("cpu: cannot allocate " + std::to_string(size) +
                               " bytes of host memory");
    return Buffer(this, ptr, size);
  }

  Status copyFromHost(Buffer &dst, size_t dstOffset, const void *src,
                      size_t size) override {
    if (dstOffset > dst.size() || size > dst.size() - dstOffset)
      return invalidArgument("cpu: copy of " + std::to_string(size) +
                             " bytes at offset " + std::to_string(dstOffset) +
                             " overruns a buffer of " +
                             std::to_string(dst.size()) + " bytes");
    std::memcpy(static_cast<char *>(dst.data()) + dstOffset, src, size);
    return Status::ok();
  }

  Status copyToHost(void *dst, const Buffer &src, size_t srcOffset,
                    size_t size) override {
    if (srcOffset > src.size() || size > src.size() - srcOffset)
      return invalidArgument("cpu: copy of " + std::to_string(size) +
                             " bytes at offset " + std::to_string(srcOffset) +
                             " overruns a buffer of " +
                             std::to_string(src.size()) + " bytes");
    std::memcpy(dst, static_cast<const char *>(src.data()) + srcOffset, size);
    return Status::ok();
  }

  Status synchronize() override { return Status::ok(); }

protected:
  void release(void *ptr, size_t) override { std::free(ptr); }

private:
  DeviceInfo info_;
};

} // namespace

std::unique_ptr<Device> createCpuDevice() {
  return std::make_unique<CpuDevice>();
}

} // namespace gecko
