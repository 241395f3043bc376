//===- cuda_device.cpp - CUDA devices through a dlopen'ed driver API ------===//
//
// libcuda.so.1 is loaded on first use. Only cuda.h's types are used at build
// time, so this file compiles on machines without a driver (such as CI) and a
// CUDA-enabled binary still runs there, reporting that no GPU is available.
// Every driver error becomes a Status naming the call and the driver's text.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/device.h"

#include "cuda_internal.h"

#include <cuda.h>
#include <dlfcn.h>
#include <initializer_list>
#include <mutex>

namespace gecko {
namespace {

/// The subset of the driver API the runtime uses, resolved with dlsym. The
/// symbol names are the ones cuda.h maps the plain names to (`_v2`, the
/// legacy-stream variants): the member names below go through the same
/// macros, so `api.cuMemAlloc` is the pointer to `cuMemAlloc_v2`.
struct DriverApi {
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char **) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char **) = nullptr;
  CUresult (*cuDriverGetVersion)(int *) = nullptr;
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
  CUresult (*cuMemGetInfo)(size_t *, size_t *) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t,
                              CUstream) = nullptr;
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned,
                                 CUjit_option *, void **) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule,
                                  const char *) = nullptr;
  CUresult (*cuFuncSetAttribute)(CUfunction, CUfunction_attribute,
                                 int) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **) = nullptr;
  CUresult (*cuStreamCreate)(CUstream *, unsigned) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
  CUresult (*cuEventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*cuEventDestroy)(CUevent) = nullptr;
  CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent) = nullptr;
  CUresult (*cuEventQuery)(CUevent) = nullptr;
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned int) = nullptr;
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent) = nullptr;
  CUresult (*cuStreamBeginCapture)(CUstream, CUstreamCaptureMode) = nullptr;
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *) = nullptr;
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph,
                                          unsigned long long) = nullptr;
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*cuGraphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*cuGraphDestroy)(CUgraph) = nullptr;
  CUresult (*cuThreadExchangeStreamCaptureMode)(CUstreamCaptureMode *) =
      nullptr;
};

/// Resolves the first of `names` the driver exports.
template <typename Fn>
bool resolve(void *lib, std::initializer_list<const char *> names, Fn &fn,
             std::string &missing) {
  for (const char *name : names) {
    fn = reinterpret_cast<Fn>(dlsym(lib, name));
    if (fn)
      return true;
  }
  missing = *names.begin();
  return false;
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
    DriverApi &a = api;
    bool ok =
        resolve(lib, {"cuInit"}, a.cuInit, missing) &&
        resolve(lib, {"cuGetErrorName"}, a.cuGetErrorName, missing) &&
        resolve(lib, {"cuGetErrorString"}, a.cuGetErrorString, missing) &&
        resolve(lib, {"cuDriverGetVersion"}, a.cuDriverGetVersion, missing) &&
        resolve(lib, {"cuDeviceGetCount"}, a.cuDeviceGetCount, missing) &&
        resolve(lib, {"cuDeviceGet"}, a.cuDeviceGet, missing) &&
        resolve(lib, {"cuDeviceGetName"}, a.cuDeviceGetName, missing) &&
        resolve(lib, {"cuDeviceTotalMem_v2"}, a.cuDeviceTotalMem, missing) &&
        resolve(lib, {"cuDeviceGetAttribute"}, a.cuDeviceGetAttribute,
                missing) &&
        resolve(lib, {"cuDevicePrimaryCtxRetain"}, a.cuDevicePrimaryCtxRetain,
                missing) &&
        resolve(lib, {"cuDevicePrimaryCtxRelease_v2"},
                a.cuDevicePrimaryCtxRelease, missing) &&
        resolve(lib, {"cuCtxSetCurrent"}, a.cuCtxSetCurrent, missing) &&
        resolve(lib, {"cuCtxSynchronize"}, a.cuCtxSynchronize, missing) &&
        resolve(lib, {"cuMemAlloc_v2"}, a.cuMemAlloc, missing) &&
        resolve(lib, {"cuMemFree_v2"}, a.cuMemFree, missing) &&
        resolve(lib, {"cuMemGetInfo_v2"}, a.cuMemGetInfo, missing) &&
        resolve(lib, {"cuMemcpyHtoD_v2"}, a.cuMemcpyHtoD, missing) &&
        resolve(lib, {"cuMemcpyDtoH_v2"}, a.cuMemcpyDtoH, missing) &&
        resolve(lib, {"cuMemcpyHtoDAsync_v2"}, a.cuMemcpyHtoDAsync, missing) &&
        resolve(lib, {"cuMemcpyDtoHAsync_v2"}, a.cuMemcpyDtoHAsync, missing) &&
        resolve(lib, {"cuMemcpyDtoDAsync_v2"}, a.cuMemcpyDtoDAsync, missing) &&
        resolve(lib, {"cuMemsetD8Async"}, a.cuMemsetD8Async, missing) &&
        resolve(lib, {"cuModuleLoadDataEx"}, a.cuModuleLoadDataEx, missing) &&
        resolve(lib, {"cuModuleUnload"}, a.cuModuleUnload, missing) &&
        resolve(lib, {"cuModuleGetFunction"}, a.cuModuleGetFunction, missing) &&
        resolve(lib, {"cuFuncSetAttribute"}, a.cuFuncSetAttribute, missing) &&
        resolve(lib, {"cuLaunchKernel"}, a.cuLaunchKernel, missing) &&
        resolve(lib, {"cuStreamCreate"}, a.cuStreamCreate, missing) &&
        resolve(lib, {"cuStreamDestroy_v2"}, a.cuStreamDestroy, missing) &&
        resolve(lib, {"cuStreamSynchronize"}, a.cuStreamSynchronize, missing) &&
        resolve(lib, {"cuEventCreate"}, a.cuEventCreate, missing) &&
        resolve(lib, {"cuEventDestroy_v2"}, a.cuEventDestroy, missing) &&
        resolve(lib, {"cuEventRecord"}, a.cuEventRecord, missing) &&
        resolve(lib, {"cuEventSynchronize"}, a.cuEventSynchronize, missing) &&
        resolve(lib, {"cuEventQuery"}, a.cuEventQuery, missing) &&
        resolve(lib, {"cuStreamWaitEvent"}, a.cuStreamWaitEvent, missing) &&
        // _v2 appeared in CUDA 12.8; older drivers have only the original,
        // which has the same signature and meaning.
        resolve(lib, {"cuEventElapsedTime_v2", "cuEventElapsedTime"},
                a.cuEventElapsedTime, missing) &&
        resolve(lib, {"cuStreamBeginCapture_v2"}, a.cuStreamBeginCapture,
                missing) &&
        resolve(lib, {"cuStreamEndCapture"}, a.cuStreamEndCapture, missing) &&
        resolve(lib, {"cuGraphInstantiateWithFlags"},
                a.cuGraphInstantiateWithFlags, missing) &&
        resolve(lib, {"cuGraphLaunch"}, a.cuGraphLaunch, missing) &&
        resolve(lib, {"cuGraphExecDestroy"}, a.cuGraphExecDestroy, missing) &&
        resolve(lib, {"cuGraphDestroy"}, a.cuGraphDestroy, missing) &&
        resolve(lib, {"cuThreadExchangeStreamCaptureMode"},
                a.cuThreadExchangeStreamCaptureMode, missing);
    if (!ok) {
      loadStatus = unavailable("the CUDA driver lacks the symbol " + missing +
                               " (driver too old? CUDA 11.4 or newer is "
                               "needed)");
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
  if (rc == CUDA_ERROR_NOT_FOUND)
    return notFound(msg);
  return internalError(msg);
}

/// Returns a Status naming `name` (the plain driver API name) on failure.
#define GECKO_CU_CHECK(api, name, ...)                                         \
  do {                                                                         \
    CUresult gecko_cu_rc_ = (api).name(__VA_ARGS__);                           \
    if (gecko_cu_rc_ != CUDA_SUCCESS)                                          \
      return driverError(api, gecko_cu_rc_, #name);                            \
  } while (false)

#define GECKO_CU_RETURN_IF_ERROR(api, call)                                    \
  do {                                                                         \
    CUresult gecko_cu_rc_ = (call);                                            \
    if (gecko_cu_rc_ != CUDA_SUCCESS)                                          \
      return driverError(api, gecko_cu_rc_, #call);                            \
  } while (false)

CUdeviceptr dptr(const void *p) { return reinterpret_cast<CUdeviceptr>(p); }
CUstream asStream(void *s) { return static_cast<CUstream>(s); }

class CudaDevice final : public Device, public detail::CudaContext {
public:
  CudaDevice(const DriverApi &api, CUdevice dev, CUcontext ctx, DeviceInfo info)
      : api_(api), dev_(dev), ctx_(ctx), info_(std::move(info)) {}
  ~CudaDevice() override { api_.cuDevicePrimaryCtxRelease(dev_); }

  const DeviceInfo &info() const override { return info_; }
  Device &device() override { return *this; }

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
    GECKO_CU_CHECK(api_, cuMemcpyHtoD, dptr(dst.data()) + dstOffset, src, size);
    return Status::ok();
  }

  Status copyToHost(void *dst, const Buffer &src, size_t srcOffset,
                    size_t size) override {
    if (srcOffset > src.size() || size > src.size() - srcOffset)
      return invalidArgument("cuda: device-to-host copy overruns the buffer");
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuMemcpyDtoH, dst, dptr(src.data()) + srcOffset, size);
    return Status::ok();
  }

  Status synchronize() override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuCtxSynchronize);
    return Status::ok();
  }

  //===--------------------------------------------------------------------===//
  // detail::CudaContext
  //===--------------------------------------------------------------------===//

  Status makeCurrent() override {
    GECKO_CU_CHECK(api_, cuCtxSetCurrent, ctx_);
    return Status::ok();
  }

  StatusOr<void *> loadModule(const void *image) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    // PTX is compiled by the driver's JIT here; keep its error log.
    char log[8192] = {0};
    CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[2] = {log, reinterpret_cast<void *>(uintptr_t(sizeof(log)))};
    CUmodule module = nullptr;
    CUresult rc = api_.cuModuleLoadDataEx(&module, image, 2, opts, values);
    if (rc != CUDA_SUCCESS) {
      Status s = driverError(api_, rc, "cuModuleLoadData");
      log[sizeof(log) - 1] = '\0';
      if (log[0])
        s = Status(s.code(), s.message() + "; JIT log: " + std::string(log));
      return s;
    }
    return static_cast<void *>(module);
  }

  void unloadModule(void *module) override {
    if (module && makeCurrent().isOk())
      (void)api_.cuModuleUnload(static_cast<CUmodule>(module));
  }

  StatusOr<void *> getFunction(void *module, const std::string &name) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUfunction fn = nullptr;
    CUresult rc = api_.cuModuleGetFunction(&fn, static_cast<CUmodule>(module),
                                           name.c_str());
    if (rc == CUDA_ERROR_NOT_FOUND)
      return notFound("the device image has no kernel '" + name + "'");
    if (rc != CUDA_SUCCESS)
      return driverError(api_, rc, "cuModuleGetFunction")
          .withContext("kernel '" + name + "'");
    return static_cast<void *>(fn);
  }

  StatusOr<void *> createStream() override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUstream s = nullptr;
    GECKO_CU_CHECK(api_, cuStreamCreate, &s, CU_STREAM_NON_BLOCKING);
    return static_cast<void *>(s);
  }

  void destroyStream(void *stream) override {
    if (stream && makeCurrent().isOk())
      (void)api_.cuStreamDestroy(asStream(stream));
  }

  Status synchronizeStream(void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuStreamSynchronize, asStream(stream));
    return Status::ok();
  }

  Status launch(void *function, unsigned gridX, unsigned gridY, unsigned gridZ,
                unsigned blockX, unsigned blockY, unsigned blockZ,
                unsigned sharedBytes, void *stream, void **params) override {
    GECKO_CU_CHECK(api_, cuLaunchKernel, static_cast<CUfunction>(function),
                   gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                   asStream(stream), params, nullptr);
    return Status::ok();
  }

  Status setMaxDynamicSharedBytes(void *function, unsigned bytes) override {
    GECKO_CU_CHECK(api_, cuFuncSetAttribute, static_cast<CUfunction>(function),
                   CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes));
    return Status::ok();
  }

  Status memsetAsync(void *dst, uint8_t value, size_t bytes,
                     void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuMemsetD8Async, dptr(dst), value, bytes,
                   asStream(stream));
    return Status::ok();
  }

  Status copyToDeviceAsync(void *dst, const void *src, size_t bytes,
                           void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuMemcpyHtoDAsync, dptr(dst), src, bytes,
                   asStream(stream));
    return Status::ok();
  }

  Status copyToHostAsync(void *dst, const void *src, size_t bytes,
                         void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuMemcpyDtoHAsync, dst, dptr(src), bytes,
                   asStream(stream));
    return Status::ok();
  }

  Status copyDeviceAsync(void *dst, const void *src, size_t bytes,
                         void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuMemcpyDtoDAsync, dptr(dst), dptr(src), bytes,
                   asStream(stream));
    return Status::ok();
  }

  StatusOr<void *> createEvent() override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUevent e = nullptr;
    GECKO_CU_CHECK(api_, cuEventCreate, &e, CU_EVENT_DEFAULT);
    return static_cast<void *>(e);
  }

  void destroyEvent(void *event) override {
    if (event && makeCurrent().isOk())
      (void)api_.cuEventDestroy(static_cast<CUevent>(event));
  }

  Status recordEvent(void *event, void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuEventRecord, static_cast<CUevent>(event),
                   asStream(stream));
    return Status::ok();
  }

  StatusOr<bool> eventDone(void *event) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUresult rc = api_.cuEventQuery(static_cast<CUevent>(event));
    if (rc == CUDA_ERROR_NOT_READY)
      return false;
    if (rc != CUDA_SUCCESS)
      return driverError(api_, rc, "cuEventQuery");
    return true;
  }

  Status streamWaitEvent(void *stream, void *event) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuStreamWaitEvent, asStream(stream),
                   static_cast<CUevent>(event), 0);
    return Status::ok();
  }

  StatusOr<float> elapsedMs(void *start, void *end) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuEventSynchronize, static_cast<CUevent>(end));
    float ms = 0;
    GECKO_CU_CHECK(api_, cuEventElapsedTime, &ms, static_cast<CUevent>(start),
                   static_cast<CUevent>(end));
    return ms;
  }

  Status beginCapture(void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuStreamBeginCapture, asStream(stream),
                   CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    return Status::ok();
  }

  StatusOr<void *> endCapture(void *stream, bool keep) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    CUgraph graph = nullptr;
    CUresult rc = api_.cuStreamEndCapture(asStream(stream), &graph);
    if (rc != CUDA_SUCCESS || !keep) {
      if (graph)
        (void)api_.cuGraphDestroy(graph);
      if (rc != CUDA_SUCCESS)
        return driverError(api_, rc, "cuStreamEndCapture");
      return static_cast<void *>(nullptr);
    }
    CUgraphExec exec = nullptr;
    rc = api_.cuGraphInstantiateWithFlags(&exec, graph, 0);
    (void)api_.cuGraphDestroy(graph);
    if (rc != CUDA_SUCCESS)
      return driverError(api_, rc, "cuGraphInstantiate");
    return static_cast<void *>(exec);
  }

  Status launchGraph(void *graphExec, void *stream) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    GECKO_CU_CHECK(api_, cuGraphLaunch, static_cast<CUgraphExec>(graphExec),
                   asStream(stream));
    return Status::ok();
  }

  void destroyGraphExec(void *graphExec) override {
    if (graphExec && makeCurrent().isOk())
      (void)api_.cuGraphExecDestroy(static_cast<CUgraphExec>(graphExec));
  }

  Status memoryInfo(uint64_t *freeBytes, uint64_t *totalBytes) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    size_t f = 0, t = 0;
    GECKO_CU_CHECK(api_, cuMemGetInfo, &f, &t);
    *freeBytes = f;
    *totalBytes = t;
    return Status::ok();
  }

  int exchangeCaptureMode(int mode) override {
    auto m = static_cast<CUstreamCaptureMode>(mode);
    if (api_.cuThreadExchangeStreamCaptureMode(&m) != CUDA_SUCCESS)
      return mode;
    return int(m);
  }

  StatusOr<std::unique_ptr<detail::GemmEngine>>
  createGemmEngine(const detail::GemmOptions &options) override {
    GECKO_RETURN_IF_ERROR(makeCurrent());
    return detail::createCublasLtGemmEngine(*this, options);
  }

protected:
  void release(void *ptr, size_t) override {
    // Nothing useful can be done with a failure while freeing.
    if (makeCurrent().isOk())
      (void)api_.cuMemFree(dptr(ptr));
  }

private:
  const DriverApi &api_;
  CUdevice dev_;
  CUcontext ctx_;
  DeviceInfo info_;
};

} // namespace

detail::CudaContext *detail::cudaContextOf(Device *device) {
  // Every device of kind kCuda is a CudaDevice.
  if (!device || device->info().kind != DeviceKind::kCuda)
    return nullptr;
  return static_cast<CudaDevice *>(device);
}

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
