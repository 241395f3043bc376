//===- device.h - Devices the runtime executes on ---------------*- C++ -*-===//
//
// A Device owns memory and executes compiled kernels. The CPU device is always
// present. The CUDA device talks to the driver API through libcuda, which is
// loaded at run time, so a CUDA-enabled build still runs on a machine without
// a GPU or driver (it simply reports no CUDA devices).
//
// Thread safety: libcuda is loaded (and cuInit called) once per process
// under std::call_once, so enumerateDevices, cudaDeviceCount and
// createCudaDevice may be called from several threads at once. A CUDA
// Device keeps no mutable state of its own: every call makes the device's
// primary context current on the calling thread first (cuCtxSetCurrent is
// per thread), so several threads may each drive a device of their own
// (gecko-run train --ranks N: thread r drives cuda:r), and calls on one
// device from several threads are as safe as the driver makes them.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_DEVICE_H
#define GECKO_RUNTIME_DEVICE_H

#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

enum class DeviceKind { kCpu, kCuda };

const char *deviceKindName(DeviceKind kind);

/// A static description of one device.
struct DeviceInfo {
  DeviceKind kind = DeviceKind::kCpu;
  int ordinal = 0;           ///< Index among devices of the same kind.
  std::string name;          ///< e.g. "NVIDIA H100 80GB HBM3" or the CPU model.
  uint64_t totalMemory = 0;  ///< Bytes of device (or host) memory.
  int computeCapability = 0; ///< CUDA: major*10+minor (90 for sm_90); CPU: 0.
  int multiprocessors = 0;   ///< CUDA SMs, or logical CPU cores.
};

/// A device allocation. Moving transfers ownership; the memory is released by
/// the owning device when the Buffer dies.
class Device;
class Buffer {
public:
  Buffer() = default;
  Buffer(Device *device, void *ptr, size_t size)
      : device_(device), ptr_(ptr), size_(size) {}
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  Buffer(Buffer &&other) noexcept { *this = std::move(other); }
  Buffer &operator=(Buffer &&other) noexcept;
  ~Buffer() { reset(); }

  /// Device address (a host pointer on the CPU device).
  void *data() const { return ptr_; }
  size_t size() const { return size_; }
  Device *device() const { return device_; }
  void reset();

private:
  Device *device_ = nullptr;
  void *ptr_ = nullptr;
  size_t size_ = 0;
};

class Device {
public:
  virtual ~Device() = default;
  virtual const DeviceInfo &info() const = 0;

  /// Allocates `size` bytes aligned to at least 64 bytes.
  virtual StatusOr<Buffer> allocate(size_t size) = 0;
  virtual Status copyFromHost(Buffer &dst, size_t dstOffset, const void *src,
                              size_t size) = 0;
  virtual Status copyToHost(void *dst, const Buffer &src, size_t srcOffset,
                            size_t size) = 0;
  /// Blocks until all work queued on the device has finished.
  virtual Status synchronize() = 0;

protected:
  friend class Buffer;
  virtual void release(void *ptr, size_t size) = 0;
};

/// The host CPU.
std::unique_ptr<Device> createCpuDevice();

/// Enumerates every device this process can use: the CPU first, then CUDA
/// devices when the build has CUDA support and a driver is present. Driver
/// problems are reported in `notes` rather than failing the enumeration.
std::vector<DeviceInfo> enumerateDevices(std::vector<std::string> *notes);

/// Opens CUDA device `ordinal`. Unavailable when the build has no CUDA
/// support, when libcuda cannot be loaded, or when the ordinal is absent.
StatusOr<std::unique_ptr<Device>> createCudaDevice(int ordinal);

/// Number of CUDA devices visible through the driver, or an error saying why
/// none can be used (no CUDA build, no driver, driver error).
StatusOr<int> cudaDeviceCount();

} // namespace gecko

#endif // GECKO_RUNTIME_DEVICE_H
