//===- cuda_device.cpp - CUDA devices through a dlopen'ed driver API ------===//
//
// libcuda.so.1 is loaded on first use. Only cuda.h's types are used at build
// time, so this file compiles on machines without a driver (such as CI) and a
// CUDA-enabled binary still runs there, reporting that no GPU is available.
// Every driver error becomes a Status naming the call and the driver's text.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/device.h"

#include <cuda.h>
#include <dlfcn.h>
#include <mutex>

namespace gecko {
namespace {

/// The subset of the driver API the runtime uses, resolved with dlsym. The
/// versioned names (`_v2`) are the ones cuda.h maps the plain names to.
struct DriverApi {
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char **) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char **) = nullptr;
  CUresult (*cuDeviceGetCount)(int *) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
  CUresult (*cuDeviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int *, CUdevice_attribute,
                                   CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;
};

template <typename Fn>
bool resolve(void *lib, const char *name, Fn &fn, std::string &missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn) {
    missing = name;
    return false;
  }
  return true;
}

/// Loads libcuda and calls cuInit once per process.
StatusOr<const DriverApi *> loadDriver() {
  static std::once_flag once;
  static DriverApi api;
  static Status loadStatus;
  std::call_once(once, [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *err = dlerror();
      loadStatus = unavailable(std::string("cannot load the CUDA driver "
                                           "(libcuda.so.1): ") +
                               (err ? err : "unknown error"));
      return;
    }
    std::string missing;
    bool ok =
        resolve(lib, "cuInit", api.cuInit, missing) &&
        resolve(lib, "cuGetErrorName", api.cuGetErrorName, missing) &&
        resolve(lib, "cuGetErrorString", api.cuGetErrorString, missing) &&
        resolve(lib, "cuDeviceGetCount", api.cuDeviceGetCount, missing) &&
        resolve(lib, "cuDeviceGet", api.cuDeviceGet, missing) &&
        resolve(lib, "cuDeviceGetName", api.cuDeviceGetName, missing) &&
        resolve(lib, "cuDeviceTotalMem_v2", api.cuDeviceTotalMem, missing) &&
        resolve(lib, "cuDeviceGetAttribute", api.cuDeviceGetAttribute,
                missing) &&
        resolve(lib, "cuDevicePrimaryCtxRetain", api.cuDevicePrimaryCtxRetain,
                missing) &&
        resolve(lib, "cuDevicePrimaryCtxRelease_v2",
                api.cuDevicePrimaryCtxRelease, missing) &&
        resolve(lib, "cuCtxSetCurrent", api.cuCtxSetCurrent, missing) &&
        resolve(lib, "cuCtxSynchronize", api.cuCtxSynchronize, missing) &&
        resolve(lib, "cuMemAlloc_v2", api.cuMemAlloc, missing) &&
        resolve(lib, "cuMemFree_v2", api.cuMemFree, missing) &&
        resolve(lib, "cuMemcpyHtoD_v2", api.cuMemcpyHtoD, missing) &&
        resolve(lib, "cuMemcpyDtoH_v2", api.cuMemcpyDtoH, missing);
    if (!ok) {
      loadStatus = unavailable("the CUDA driver lacks the symbol " + missing +
                               " (driver too old?)");
      return;
    }
    CUresult rc = api.cuInit(0);
    if (rc != CUDA_SUCCESS) {
      const char *name = nullptr;
      api.cuGetErrorName(rc, &name);
      loadStatus = unavailable(std::string("cuInit failed: ") +
                               (name ? name : "unknown error"));
    }
  });
  if (!loadStatus.isOk())
    return loadStatus;
  return &api;
}

Status driverError(const DriverApi &api, CUresult rc, const char *call) {
  const char *name = nullptr;
  const char *text = nullptr;
  api.cuGetErrorName(rc, &name);
  api.cuGetErrorString(rc, &text);
  std::string msg = std::string(call) + " failed: " + (name ? name : "?") +
                    " (" + (text ? text : "no description") + ")";
  if (rc == CUDA_ERROR_OUT_OF_MEMORY)
    return resourceExhausted(msg);
  return internalError(msg);
}

#define GECKO_CU_RETURN_IF_ERROR(api, call)                                    \
  do {                                                                         \
    CUresult gecko_cu_rc_ = (call);                                            \
    if (gecko_cu_rc_ != CUDA_SUCCESS)                                          \
      return driverError(api, gecko_cu_rc_, #call);                            \
  } while (false)

class CudaDevice final : public Device {
public:
  CudaDevice(const DriverApi &api, CUdevice dev, CUcontext ctx, DeviceInfo info)
      : api_(api), dev_(dev), ctx_(ctx), info_(std::move(info)) {}
  ~CudaDevice() override { api_.cuDevicePrimaryCtxRelease(dev_); }

  const DeviceInfo &info() const override { return info_; }

  StatusOr<Buffer> allocate(size_t size) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUdeviceptr ptr = 0;
    CUresult rc = api_.cuMemAlloc(&ptr, size == 0 ? 1 : size);
    if (rc != CUDA_SUCCESS)
      return driverError(api_, rc, "cuMemAlloc")
          .withContext("cuda:" + std::to_string(info_.ordinal) +
                       ": allocating " + std::to_string(size) + " bytes");
    return Buffer(this, reinterpret_cast<void *>(ptr), size);
  }

  Status copyFromHost(Buffer &dst, size_t dstOffset, const void *src,
                      size_t size) override {
    if (dstOffset > dst.size() || size > dst.size() - dstOffset)
      return invalidArgument("cuda: host-to-device copy overruns the buffer");
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_RETURN_IF_ERROR(
        api_,
        api_.cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(dst.data()) + dstOffset,
                          src, size));
    return Status::ok();
  }

  Status copyToHost(void *dst, const Buffer &src, size_t srcOffset,
                    size_t size) override {
    if (srcOffset > src.size() || size > src.size() - srcOffset)
      return invalidArgument("cuda: device-to-host copy overruns the buffer");
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_RETURN_IF_ERROR(
        api_,
        api_.cuMemcpyDtoH(
            dst, reinterpret_cast<CUdeviceptr>(src.data()) + srcOffset, size));
    return Status::ok();
  }

  Status synchronize() override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_RETURN_IF_ERROR(api_, api_.cuCtxSynchronize());
    return Status::ok();
  }

protected:
  void release(void *ptr, size_t) override {
    // Nothing useful can be done with a failure while freeing.
    if (makeCurrent().isOk())
      (void)api_.cuMemFree(reinterpret_cast<CUdeviceptr>(ptr));
  }

private:
  Status makeCurrent() {
    GECKO_CU_RETURN_IF_ERROR(api_, api_.cuCtxSetCurrent(ctx_));
    return Status::ok();
  }

  const DriverApi &api_;
  CUdevice dev_;
  CUcontext ctx_;
  DeviceInfo info_;
};

} // namespace

StatusOr<int> cudaDeviceCount() {
  GECKO_ASSIGN_OR_RETURN(const DriverApi *api, loadDriver());
  int count = 0;
  GECKO_CU_RETURN_IF_ERROR(*api, api->cuDeviceGetCount(&count));
  return count;
}

StatusOr<std::unique_ptr<Device>> createCudaDevice(int ordinal) {
  GECKO_ASSIGN_OR_RETURN(int count, cudaDeviceCount());
  if (ordinal < 0 || ordinal >= count)
    return notFound("cuda:" + std::to_string(ordinal) + " does not exist (" +
                    std::to_string(count) + " CUDA devices visible)");
  GECKO_ASSIGN_OR_RETURN(const DriverApi *api, loadDriver());
  CUdevice dev = 0;
  GECKO_CU_RETURN_IF_ERROR(*api, api->cuDeviceGet(&dev, ordinal));
  DeviceInfo info;
  info.kind = DeviceKind::kCuda;
  info.ordinal = ordinal;
  char name[256] = {0};
  GECKO_CU_RETURN_IF_ERROR(*api,
                           api->cuDeviceGetName(name, sizeof(name) - 1, dev));
  info.name = name;
  size_t mem = 0;
  GECKO_CU_RETURN_IF_ERROR(*api, api->cuDeviceTotalMem(&mem, dev));
  info.totalMemory = mem;
  int major = 0, minor = 0, sms = 0;
  GECKO_CU_RETURN_IF_ERROR(
      *api, api->cuDeviceGetAttribute(
                &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
  GECKO_CU_RETURN_IF_ERROR(
      *api, api->cuDeviceGetAttribute(
                &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
  GECKO_CU_RETURN_IF_ERROR(
      *api, api->cuDeviceGetAttribute(
                &sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
  info.computeCapability = major * 10 + minor;
  info.multiprocessors = sms;
  CUcontext ctx = nullptr;
  GECKO_CU_RETURN_IF_ERROR(*api, api->cuDevicePrimaryCtxRetain(&ctx, dev));
  return std::unique_ptr<Device>(
      std::make_unique<CudaDevice>(*api, dev, ctx, std::move(info)));
}

} // namespace gecko
