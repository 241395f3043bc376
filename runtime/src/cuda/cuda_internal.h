//===- cuda_internal.h - What Executable needs from a CUDA device -*- C++ -*-=//
//
// Internal to the runtime (not installed, not included by public headers).
// cuda.h is never included here: driver handles (CUmodule, CUfunction,
// CUstream, CUevent, CUgraphExec) travel as opaque void pointers, so
// executable.cpp compiles the same with and without CUDA support. The only
// implementation is the CUDA device of cuda_device.cpp; in a build without
// CUDA, cudaContextOf() returns nullptr.
//
// Every call returns a Status naming the driver call and the driver's error
// name and text; nothing aborts. Calls that take no stream make the device's
// context current on the calling thread first; launch() does not (call
// makeCurrent() once before a sequence of launches).
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_SRC_CUDA_CUDA_INTERNAL_H
#define GECKO_RUNTIME_SRC_CUDA_CUDA_INTERNAL_H

#include "gecko/abi/kernel_abi.h"
#include "gecko/runtime/device.h"
#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace gecko::detail {

/// gecko_host_imports.gemm's engine (cuBLASLt, cublaslt_gemm.cpp): a handle,
/// a preallocated workspace and a cache of matmul descriptors, layouts and
/// chosen algorithms keyed by everything but the pointers and scalars, so a
/// repeated GEMM creates nothing and allocates nothing (and is therefore
/// safe inside a CUDA-graph capture).
class GemmEngine {
public:
  virtual ~GemmEngine() = default;
  /// Validates `desc` (InvalidArgument naming the problem), then queues the
  /// product on `stream`; the context must be current. `*shape` is set to
  /// an id of the product's "m x n x k (batch b)" class, for describe().
  virtual Status enqueue(const gecko_gemm_desc &desc, void *stream,
                         unsigned *shape) = 0;
  /// "gemm f32 64 x 128 x 256 (batch 4)" for an id set by enqueue().
  virtual std::string describe(unsigned shape) const = 0;
};

/// How the engine computes f32 products.
struct GemmOptions {
  /// CUBLAS_COMPUTE_32F_FAST_TF32 instead of exact CUBLAS_COMPUTE_32F.
  bool tf32 = false;
  /// Bytes of the device workspace allocated once for cuBLASLt.
  size_t workspaceBytes = size_t(32) << 20;
};

class CudaContext {
public:
  virtual ~CudaContext() = default;

  virtual Device &device() = 0;
  virtual Status makeCurrent() = 0;

  /// Loads a device image (fatbin, cubin, or NUL-terminated PTX) with
  /// cuModuleLoadDataEx; a JIT failure's log is part of the message.
  virtual StatusOr<void *> loadModule(const void *image) = 0;
  virtual void unloadModule(void *module) = 0;
  /// NotFound naming the kernel when the module has no such function.
  virtual StatusOr<void *> getFunction(void *module,
                                       const std::string &name) = 0;

  /// A non-blocking stream of this device.
  virtual StatusOr<void *> createStream() = 0;
  virtual void destroyStream(void *stream) = 0;
  virtual Status synchronizeStream(void *stream) = 0;

  /// cuLaunchKernel on `stream` (the context must be current).
  virtual Status launch(void *function, unsigned gridX, unsigned gridY,
                        unsigned gridZ, unsigned blockX, unsigned blockY,
                        unsigned blockZ, unsigned sharedBytes, void *stream,
                        void **params) = 0;

  /// Lets `function` use more than the default 48 KiB of dynamic shared
  /// memory (cuFuncSetAttribute, MAX_DYNAMIC_SHARED_SIZE_BYTES).
  virtual Status setMaxDynamicSharedBytes(void *function, unsigned bytes) = 0;

  virtual Status memsetAsync(void *dst, uint8_t value, size_t bytes,
                             void *stream) = 0;
  virtual Status copyToDeviceAsync(void *dst, const void *src, size_t bytes,
                                   void *stream) = 0;
  virtual Status copyToHostAsync(void *dst, const void *src, size_t bytes,
                                 void *stream) = 0;
  virtual Status copyDeviceAsync(void *dst, const void *src, size_t bytes,
                                 void *stream) = 0;

  /// Events with timing enabled.
  virtual StatusOr<void *> createEvent() = 0;
  virtual void destroyEvent(void *event) = 0;
  virtual Status recordEvent(void *event, void *stream) = 0;
  /// Whether everything queued before `event`'s record has finished
  /// (cuEventQuery; never blocks).
  virtual StatusOr<bool> eventDone(void *event) = 0;
  /// Makes work queued on `stream` later wait for `event` (recorded on
  /// another stream) on the device; never blocks the host.
  virtual Status streamWaitEvent(void *stream, void *event) = 0;
  /// Waits for `end`, then returns the milliseconds between the two events.
  virtual StatusOr<float> elapsedMs(void *start, void *end) = 0;

  /// Stream capture (thread-local mode) into a graph, instantiated on end.
  virtual Status beginCapture(void *stream) = 0;
  /// Ends the capture; with `keep` false the captured graph is discarded
  /// (after a failure during capture) and nullptr is returned.
  virtual StatusOr<void *> endCapture(void *stream, bool keep) = 0;
  virtual Status launchGraph(void *graphExec, void *stream) = 0;
  virtual void destroyGraphExec(void *graphExec) = 0;

  /// Free and total bytes of device memory (cuMemGetInfo).
  virtual Status memoryInfo(uint64_t *freeBytes, uint64_t *totalBytes) = 0;

  /// Swaps the calling thread's stream-capture mode (CUstreamCaptureMode:
  /// 0 global, 1 thread-local, 2 relaxed) and returns the previous one. The
  /// GEMM engine sets relaxed while it creates descriptors or allocates its
  /// workspace, so that its first use may happen inside a capture.
  virtual int exchangeCaptureMode(int mode) = 0;

  /// A cuBLASLt GEMM engine on this device (loads libcublasLt on first use;
  /// Unavailable "cuBLASLt (libcublasLt.so.13) cannot be loaded: ..." when
  /// it cannot). Must not be called during a stream capture (it allocates).
  virtual StatusOr<std::unique_ptr<GemmEngine>>
  createGemmEngine(const GemmOptions &options) = 0;
};

/// Defined in cublaslt_gemm.cpp (CUDA builds only); what
/// CudaContext::createGemmEngine returns.
StatusOr<std::unique_ptr<GemmEngine>>
createCublasLtGemmEngine(CudaContext &context, const GemmOptions &options);

/// The CudaContext of `device` when it is a CUDA device of this build, else
/// nullptr.
CudaContext *cudaContextOf(Device *device);

} // namespace gecko::detail

#endif // GECKO_RUNTIME_SRC_CUDA_CUDA_INTERNAL_H
