//===- device.cpp - Device enumeration and Buffer ownership ---------------===//

#include "gecko/runtime/device.h"

#include "../cuda/cuda_internal.h"

namespace gecko {

const char *deviceKindName(DeviceKind kind) {
  switch (kind) {
  case DeviceKind::kCpu:
    return "cpu";
  case DeviceKind::kCuda:
    return "cuda";
  }
  return "unknown";
}

Buffer &Buffer::operator=(Buffer &&other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    ptr_ = other.ptr_;
    size_ = other.size_;
    other.device_ = nullptr;
    other.ptr_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Buffer::reset() {
  if (device_ && ptr_)
    device_->release(ptr_, size_);
  device_ = nullptr;
  ptr_ = nullptr;
  size_ = 0;
}

std::vector<DeviceInfo> enumerateDevices(std::vector<std::string> *notes) {
  std::vector<DeviceInfo> devices;
  devices.push_back(createCpuDevice()->info());
  StatusOr<int> count = cudaDeviceCount();
  if (!count.isOk()) {
    if (notes)
      notes->push_back("cuda: " + count.status().message());
    return devices;
  }
  for (int i = 0; i < *count; ++i) {
    StatusOr<std::unique_ptr<Device>> dev = createCudaDevice(i);
    if (!dev.isOk()) {
      if (notes)
        notes->push_back("cuda:" + std::to_string(i) + ": " +
                         dev.status().message());
      continue;
    }
    devices.push_back((*dev)->info());
  }
  return devices;
}

#ifndef GECKO_HAVE_CUDA
StatusOr<int> cudaDeviceCount() {
  return unavailable("this build of Gecko has no CUDA support "
                     "(configure with -DGECKO_ENABLE_CUDA=ON)");
}
StatusOr<std::unique_ptr<Device>> createCudaDevice(int ordinal) {
  return cudaDeviceCount().status();
}
detail::CudaContext *detail::cudaContextOf(Device *) { return nullptr; }
#endif

} // namespace gecko
