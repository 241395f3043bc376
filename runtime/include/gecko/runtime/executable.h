//===- executable.h - A verified, loaded .gkm artifact ----------*- C++ -*-===//
//
// An Executable is a .gkm artifact whose container and plan have been
// verified and whose code section has been loaded into the process (an ELF
// shared object, dlopen'ed from a memfd). run() binds tensors by their plan
// names, checks every shape, dtype and declared value range, allocates the
// results and the workspace, and calls the kernel entry.
//
// A "cuda" artifact runs on a CUDA device: its host object's entries launch
// the kernels of the embedded device image (kernel_abi.h, "GPU targets").
// run() then copies the arguments to the device and the results back;
// bind() gives a BoundCall whose buffers stay on the device between calls
// (benchmarks, training loops), with optional CUDA-graph capture and replay.
// docs/runtime.md describes the allocator, streams, graphs and errors.
//
// Thread safety: every load() gets its own copy of the code (a memfd of its
// own, dlopen'ed under a distinct path), its own stream and cuBLASLt engine
// (made on first use) and its own launch bookkeeping, so different
// Executables may be loaded and run concurrently from different threads,
// e.g. one per thread and device in gecko-run train --ranks N. The process
// globals they share (the libcuda and libcublasLt loaders) are initialized
// under std::call_once. Calls on one cuda Executable are serialized by its
// mutex, and every call makes its context current on the calling thread;
// a BoundCall is used by one thread at a time. CUDA-graph capture uses
// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, so a capture on one thread does not
// disturb the others.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_EXECUTABLE_H
#define GECKO_RUNTIME_EXECUTABLE_H

#include "gecko/abi/artifact_format.h"
#include "gecko/abi/kernel_abi.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/status.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

class Device;
class Executable;

/// Measurements of one run() call.
struct RunStats {
  /// CPU: wall time of the entry call alone. CUDA: GPU time of the call's
  /// kernels (CUDA events around the entry call, copies excluded).
  double kernelSeconds = 0;
  /// Binding checks, allocation, copies and the call.
  double totalSeconds = 0;
};

/// Where and how Executable::load places an artifact.
struct LoadOptions {
  /// The device to run on. nullptr: the artifact's target decides: the host
  /// CPU for a "cpu" artifact, CUDA device 0 (opened and owned by the
  /// Executable) for a "cuda" artifact. A device passed here must outlive
  /// the Executable. A cpu artifact runs only on the CPU (nullptr or a CPU
  /// device), a cuda artifact only on a CUDA device.
  Device *device = nullptr;
  /// CUDA: wait for every kernel right after launching it, so that an
  /// asynchronous fault (illegal address, trap) names the kernel that raised
  /// it. Slow; for debugging. The environment variable
  /// GECKO_CUDA_SYNC_LAUNCHES=1 turns it on too.
  bool syncEveryLaunch = false;
};

/// One function of an Executable with its arguments, results and workspace
/// bound to buffers that live as long as the BoundCall: on the executable's
/// CUDA device for a cuda artifact, in host memory on the CPU. Repeated
/// calls copy nothing. Buffers start zero-filled. Not thread-safe; calls on
/// one Executable are serialized internally. The Executable must outlive it.
class BoundCall {
public:
  ~BoundCall();
  BoundCall(const BoundCall &) = delete;
  BoundCall &operator=(const BoundCall &) = delete;

  const FunctionPlan &function() const;
  /// The buffer of plan arg or result `name` (a device address on CUDA, a
  /// host pointer on the CPU); NotFound for other names.
  StatusOr<void *> buffer(const std::string &name) const;

  /// Checks `tensor` against arg `name` (dtype, shape, declared range) and
  /// copies it into the arg's buffer.
  Status setArg(const std::string &name, const HostTensor &tensor);
  /// Executable::checkBindings, then copies every arg (params and state from
  /// `params`, inputs from `inputs`).
  Status setArgs(const TensorMap &params, const TensorMap &inputs);

  /// One call: runs the entry (on CUDA: queues its launches, waits for them)
  /// and reports a launch or execution error naming the function and, when
  /// known, the kernel.
  Status run();
  /// Queues one call without waiting (CUDA; on the CPU the same as run()).
  /// Execution errors surface at synchronize().
  Status enqueue();
  Status synchronize();

  /// CUDA: captures one call of the entry into a CUDA graph (replacing the
  /// previous one). The graph bakes in this BoundCall's buffer addresses and
  /// every kernel parameter, so it is valid only while the same buffers are
  /// bound: for the BoundCall's lifetime (its buffers never move; update
  /// their contents with setArg). Unimplemented on the CPU.
  Status captureGraph();
  bool hasGraph() const;
  /// Queues one replay of the captured graph (FailedPrecondition without
  /// one); synchronize() waits for it.
  Status replayGraph();

  /// Result `name` copied to the host (waits for queued work first).
  StatusOr<HostTensor> result(const std::string &name) const;
  /// Arg or result `name` copied to the host (waits for queued work first):
  /// after applyNextResults, the args hold the updated params and state.
  StatusOr<HostTensor> read(const std::string &name) const;

  /// From now on, arg or result `name` lives in `owner`'s buffer of
  /// `ownerName` instead of its own: two functions then share a tensor
  /// without copies (apply_gradients reads grad's gradients; grad reads
  /// the params apply_gradients updates). Both must have the same dtype and
  /// shape, and both calls must belong to the same Executable; `owner` must
  /// outlive this BoundCall. Drops a captured graph (it baked in the old
  /// address).
  Status shareBuffer(const std::string &name, const BoundCall &owner,
                     const std::string &ownerName);

  /// Receives the function's ready signals (FunctionPlan::signals, kernel
  /// ABI v2) during later calls: the host code calls `handler(id)`
  /// synchronously, in program order, once per signal and call, when every
  /// operation on the signal's tensors has been issued: executed on the
  /// CPU; on CUDA queued on nativeStream(), not necessarily run yet. The
  /// handler may start a collective on those result buffers (in place;
  /// nothing in the call touches them afterwards). Its first error is
  /// recorded, later signals of the call are skipped (on CUDA so are later
  /// launches), and run()/enqueue() return it naming the function and the
  /// signal. An empty handler removes it; without one, signals are only
  /// counted. Drops a captured CUDA graph, and captureGraph() refuses a call
  /// with a handler (a replay would not call it).
  void setSignalHandler(std::function<Status(unsigned id)> handler);

  /// The CUstream the calls are queued on (nullptr on the CPU): device
  /// collectives on this call's buffers are queued on it, so they are
  /// ordered with the calls without host synchronization.
  void *nativeStream() const;
  /// Every result by plan name.
  StatusOr<TensorMap> results() const;
  /// Copies every `next:<arg>` result into the buffer of <arg>, so the next
  /// call sees the updated params and state (a training loop on the device).
  Status applyNextResults();

  /// Milliseconds of each of `iters` calls after `warmup` untimed ones:
  /// CUDA events around each call on the GPU (replays of the captured graph
  /// with `useGraph`), steady_clock around each entry call on the CPU. Waits
  /// for every call, so the numbers are honest per-call latencies.
  StatusOr<std::vector<double>> time(int warmup, int iters,
                                     bool useGraph = false);

private:
  friend class Executable;
  struct Impl;
  explicit BoundCall(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Executable {
public:
  ~Executable();
  Executable(const Executable &) = delete;
  Executable &operator=(const Executable &) = delete;

  /// Reads and verifies `path` (parseArtifact), then loads its code:
  /// checks the ELF header against the host (class, byte order, machine,
  /// shared object), dlopen()s it and resolves every function's entry.
  /// A cuda artifact also needs a CUDA device (LoadOptions::device, else
  /// cuda:0) whose compute capability suits target.chip; its device image
  /// is loaded (cuModuleLoadData) and every target.kernels name resolved.
  static StatusOr<std::unique_ptr<Executable>>
  load(const std::string &path, const LoadOptions &options = {});
  /// The same from an in-memory image; `source` appears in messages.
  static StatusOr<std::unique_ptr<Executable>>
  loadFromBytes(const std::vector<uint8_t> &bytes, const std::string &source,
                const LoadOptions &options = {});

  const std::string &source() const { return source_; }
  const ArtifactHeader &header() const { return header_; }
  const ArtifactPlan &plan() const { return plan_; }
  const std::vector<FunctionPlan> &functions() const { return plan_.functions; }
  /// NotFound (listing the functions there are) when absent.
  StatusOr<const FunctionPlan *> function(const std::string &name) const;

  /// Checks the bindings of `function` without running it: every param and
  /// state arg must be in `params` and every input arg in `inputs`, with the
  /// plan's dtype and shape, and integer args inside their declared range.
  /// Tensors the plan does not mention are ignored. All problems are reported
  /// in one InvalidArgument, one line per tensor.
  Status checkBindings(const FunctionPlan &function, const TensorMap &params,
                       const TensorMap &inputs) const;

  /// checkBindings(), then allocates every result (zero-filled) and the
  /// workspace, calls the entry once and returns the results by plan name.
  /// On CUDA the args are copied to the device and the results back; the
  /// device buffers of each function are allocated on its first run() and
  /// reused by later ones (docs/runtime.md, "Device memory").
  StatusOr<TensorMap> run(const std::string &function, const TensorMap &params,
                          const TensorMap &inputs,
                          RunStats *stats = nullptr) const;

  /// A call of `function` with buffers of its own that stay bound (on the
  /// device for a cuda artifact). See BoundCall.
  StatusOr<std::unique_ptr<BoundCall>> bind(const std::string &function) const;

  /// True when the code runs on a CUDA device.
  bool onCuda() const { return cuda_ != nullptr; }
  /// "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3, sm_90)".
  std::string deviceDescription() const;

  struct CudaState; // Internal: the CUDA side of a loaded cuda artifact.

private:
  friend class BoundCall;
  Executable() = default;
  Status loadCode(const std::vector<uint8_t> &code);
  Status loadDeviceImage(const std::vector<uint8_t> &code);
  StatusOr<TensorMap> runCuda(const FunctionPlan &f, const TensorMap &params,
                              const TensorMap &inputs, RunStats *stats) const;

  std::string source_;
  ArtifactHeader header_;
  ArtifactPlan plan_;
  std::vector<gecko_kernel_entry_fn> entries_; ///< Parallel to functions.
  void *handle_ = nullptr;                     ///< dlopen handle.
  std::vector<int> fds_;                       ///< memfds kept open.
  std::unique_ptr<CudaState> cuda_;            ///< Set for cuda artifacts.
};

} // namespace gecko

#endif // GECKO_RUNTIME_EXECUTABLE_H
