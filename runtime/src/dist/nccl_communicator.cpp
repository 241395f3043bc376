//===- nccl_communicator.cpp - Device collectives over NCCL ---------------===//
//
// One rank per GPU: one process per GPU bootstrapped by MPI, or one thread
// per GPU in one process bootstrapped by a "threads" group. The bootstrap
// communicator carries rank 0's NCCL unique id, the small host collectives
// (losses, flags, checksums), messages and abort(). Gradients are
// all-reduced by NCCL in device memory, queued on the executable's stream
// (device messages, chunk parallelism's stream state, go by
// ncclSend/ncclRecv the same way), or, overlapped with the backward pass,
// on a communication stream of this file ordered after an event of the
// executable's stream.
//
// With ranks in threads every thread joins NCCL with its own
// ncclCommInitRankConfig (NCCL supports one rank per thread; group calls
// are per thread), on its own device's context: every CUDA call here makes
// that context current on the calling thread first. A rank's communicator
// must be used and destroyed by its thread.
//
// libnccl.so.2 is loaded at run time, like libcuda and libcublasLt, so the
// runtime still starts on machines without it. nccl.h provides the types
// only. The communicator is non-blocking (ncclConfig_t::blocking = 0): no
// NCCL call waits for a peer, and this file polls ncclCommGetAsyncError and
// a CUDA event against the collective timeout. A peer that dies or stops
// calling collectives therefore becomes a DeadlineExceeded error (after
// which the communicator is aborted with ncclCommAbort) instead of a hang.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"
#include "gecko/runtime/device.h"

#include "../cuda/cuda_internal.h"

#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <dlfcn.h>
#include <mutex>
#include <unistd.h>

namespace gecko {

namespace {

/// The NCCL entry points this file uses, from libnccl.so.2.
struct NcclApi {
  ncclResult_t (*getVersion)(int *) = nullptr;
  ncclResult_t (*getUniqueId)(ncclUniqueId *) = nullptr;
  ncclResult_t (*commInitRankConfig)(ncclComm_t *, int, ncclUniqueId, int,
                                     ncclConfig_t *) = nullptr;
  ncclResult_t (*commGetAsyncError)(ncclComm_t, ncclResult_t *) = nullptr;
  ncclResult_t (*commFinalize)(ncclComm_t) = nullptr;
  ncclResult_t (*commDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*commAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*allReduce)(const void *, void *, size_t, ncclDataType_t,
                            ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*send)(const void *, size_t, ncclDataType_t, int, ncclComm_t,
                       cudaStream_t) = nullptr;
  ncclResult_t (*recv)(void *, size_t, ncclDataType_t, int, ncclComm_t,
                       cudaStream_t) = nullptr;
  ncclResult_t (*groupStart)() = nullptr;
  ncclResult_t (*groupEnd)() = nullptr;
  const char *(*getErrorString)(ncclResult_t) = nullptr;
  const char *(*getLastError)(ncclComm_t) = nullptr;
  int version = 0;
  std::string path;
};

/// Loads libnccl once per process; the error says which paths were tried.
StatusOr<const NcclApi *> loadNccl() {
  static std::once_flag once;
  static NcclApi api;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> names;
    if (const char *env = std::getenv("GECKO_NCCL_LIBRARY"); env && *env)
      names.push_back(env);
    names.push_back("libnccl.so.2");
#ifdef GECKO_CUDA_LIBRARY_DIR
    names.push_back(std::string(GECKO_CUDA_LIBRARY_DIR) + "/libnccl.so.2");
#endif
    void *lib = nullptr;
    std::string tried;
    for (const std::string &name : names) {
      lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) {
        api.path = name;
        break;
      }
      const char *err = dlerror();
      tried += "\n  " + name + ": " + (err ? err : "not found");
    }
    if (!lib) {
      error = "NCCL (libnccl.so.2) cannot be loaded; set GECKO_NCCL_LIBRARY "
              "to its path. Tried:" +
              tried;
      return;
    }
    std::string missing;
    auto get = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, symbol));
      if (!fn)
        missing += std::string(missing.empty() ? "" : ", ") + symbol;
    };
    get(api.getVersion, "ncclGetVersion");
    get(api.getUniqueId, "ncclGetUniqueId");
    get(api.commInitRankConfig, "ncclCommInitRankConfig");
    get(api.commGetAsyncError, "ncclCommGetAsyncError");
    get(api.commFinalize, "ncclCommFinalize");
    get(api.commDestroy, "ncclCommDestroy");
    get(api.commAbort, "ncclCommAbort");
    get(api.allReduce, "ncclAllReduce");
    get(api.send, "ncclSend");
    get(api.recv, "ncclRecv");
    get(api.groupStart, "ncclGroupStart");
    get(api.groupEnd, "ncclGroupEnd");
    get(api.getErrorString, "ncclGetErrorString");
    get(api.getLastError, "ncclGetLastError");
    if (!missing.empty()) {
      error = api.path + " lacks " + missing + " (NCCL 2.14 or newer needed)";
      return;
    }
    if (api.getVersion(&api.version) != ncclSuccess || api.version < 21400) {
      error = api.path + " is NCCL " + std::to_string(api.version) +
              "; 2.14 or newer is needed (non-blocking communicators)";
      return;
    }
  });
  if (!error.empty())
    return unavailable(error);
  return &api;
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(const NcclApi &api, std::unique_ptr<Communicator> host,
                   detail::CudaContext &ctx)
      : api_(api), host_(std::move(host)), ctx_(ctx) {
    timeoutSeconds_ = host_->timeoutSeconds();
    char name[256] = {0};
    if (::gethostname(name, sizeof(name) - 1) != 0)
      name[0] = '\0';
    where_ = "rank " + std::to_string(host_->rank()) + " of " +
             std::to_string(host_->size()) + " (host " + name + ", pid " +
             std::to_string(::getpid()) + ", " + ctx_.device().info().name +
             " cuda:" + std::to_string(ctx_.device().info().ordinal) + ")";
  }

  ~NcclCommunicator() override {
    if (event_)
      ctx_.destroyEvent(event_);
    if (readyEvent_)
      ctx_.destroyEvent(readyEvent_);
    if (commStream_) {
      // Nothing may still run on it when it goes (a failed job aborts
      // the communicator first, which ends its kernels).
      if (!broken_ && settleIssue().isOk())
        (void)ctx_.synchronizeStream(commStream_);
      ctx_.destroyStream(commStream_);
    }
    if (!comm_)
      return;
    if (broken_) {
      api_.commAbort(comm_);
      return;
    }
    // Flush and release; a peer that vanished must not hang the exit.
    ncclResult_t rc = ctx_.makeCurrent().isOk() ? api_.commFinalize(comm_)
                                                : ncclInternalError;
    if ((rc == ncclSuccess || rc == ncclInProgress) && pollAsync(10.0))
      api_.commDestroy(comm_);
    else
      api_.commAbort(comm_);
  }

  /// Rank 0's unique id over the bootstrap communicator, then a
  /// non-blocking ncclCommInitRankConfig polled under the timeout.
  Status init() {
    GECKO_RETURN_IF_ERROR(ctx_.makeCurrent());
    ncclUniqueId id{};
    if (host_->rank() == 0) {
      ncclResult_t rc = api_.getUniqueId(&id);
      if (rc != ncclSuccess)
        return fail(rc, "ncclGetUniqueId");
    }
    GECKO_RETURN_IF_ERROR(
        host_->broadcast(&id, sizeof(id), 0, "the NCCL unique id"));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = api_.commInitRankConfig(&comm_, host_->size(), id,
                                              host_->rank(), &config);
    if (rc != ncclSuccess && rc != ncclInProgress)
      return fail(rc, "ncclCommInitRankConfig");
    GECKO_RETURN_IF_ERROR(waitIssued("ncclCommInitRankConfig (joining the "
                                     "NCCL communicator)"));
    GECKO_ASSIGN_OR_RETURN(event_, ctx_.createEvent());
    return Status::ok();
  }

  /// Gives the MPI communicator back (after a failed init()).
  std::unique_ptr<Communicator> releaseBootstrap() { return std::move(host_); }

  const char *backend() const override { return "nccl"; }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }

  Status allReduce(void *data, int64_t count, ElementType dtype, ReduceOp op,
                   const std::string &what) override {
    host_->setTimeoutSeconds(timeoutSeconds_);
    return host_->allReduce(data, count, dtype, op, what);
  }
  Status broadcast(void *data, size_t bytes, int root,
                   const std::string &what) override {
    host_->setTimeoutSeconds(timeoutSeconds_);
    return host_->broadcast(data, bytes, root, what);
  }
  Status barrier(const std::string &what) override {
    host_->setTimeoutSeconds(timeoutSeconds_);
    return host_->barrier(what);
  }
  // Host messages (chunk parallelism's state with --chunk-messages host)
  // go through MPI as well.
  Status send(const void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    host_->setTimeoutSeconds(timeoutSeconds_);
    return host_->send(data, bytes, peer, tag, what);
  }
  Status recv(void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    host_->setTimeoutSeconds(timeoutSeconds_);
    return host_->recv(data, bytes, peer, tag, what);
  }
  [[noreturn]] void abort(int exitCode, const std::string &message) override {
    if (comm_) {
      api_.commAbort(comm_);
      comm_ = nullptr;
    }
    host_->abort(exitCode, message);
  }

  bool hasDeviceCollectives() const override { return true; }

  Status allReduceOnDevice(const std::vector<BucketTensor> &tensors, bool mean,
                           void *stream, const std::string &what) override {
    GECKO_ASSIGN_OR_RETURN(std::string desc,
                           issueGroup(tensors, mean, stream, what));
    GECKO_RETURN_IF_ERROR(ctx_.recordEvent(event_, stream));
    return waitEvent(desc);
  }

  Status startAllReduceOnDevice(const std::vector<BucketTensor> &tensors,
                                bool mean, void *stream,
                                const std::string &what) override {
    if (broken_)
      return failedPrecondition(where_ + ": overlapped NCCL all_reduce of " +
                                what +
                                ": the communicator is unusable after an "
                                "earlier failed collective");
    GECKO_RETURN_IF_ERROR(ctx_.makeCurrent());
    // The previous overlapped group is issued by now in the common case;
    // settling it first keeps the groups in order on the stream.
    GECKO_RETURN_IF_ERROR(settleIssue());
    if (!commStream_) {
      GECKO_ASSIGN_OR_RETURN(commStream_, ctx_.createStream());
      GECKO_ASSIGN_OR_RETURN(readyEvent_, ctx_.createEvent());
    }
    // The group runs on the communication stream once `stream` has run
    // what it queued so far (a wait captures the event's state at the
    // call, so one event serves every start).
    GECKO_RETURN_IF_ERROR(ctx_.recordEvent(readyEvent_, stream));
    GECKO_RETURN_IF_ERROR(ctx_.streamWaitEvent(commStream_, readyEvent_));
    // Not waited for here: the signal handler returns at once and the host
    // goes on queueing the backward (settleIssue() waits before the next
    // NCCL call).
    GECKO_ASSIGN_OR_RETURN(std::string desc,
                           issueGroup(tensors, mean, commStream_, what,
                                      /*waitForIssue=*/false));
    pending_.push_back(std::move(desc));
    return Status::ok();
  }

  Status waitDeviceAllReduces(void *stream, const std::string &what) override {
    if (pending_.empty())
      return Status::ok();
    std::string desc = pending_.size() == 1
                           ? pending_.front()
                           : std::to_string(pending_.size()) +
                                 " overlapped NCCL all_reduce groups of " +
                                 what + " (" + pending_.front() + " ... " +
                                 pending_.back() + ")";
    pending_.clear();
    if (broken_)
      return failedPrecondition(where_ + ": " + desc +
                                ": the communicator is unusable after an "
                                "earlier failed collective");
    GECKO_RETURN_IF_ERROR(ctx_.makeCurrent());
    // The event must follow the last group's kernels on the stream.
    GECKO_RETURN_IF_ERROR(settleIssue());
    GECKO_RETURN_IF_ERROR(ctx_.recordEvent(event_, commStream_));
    // The device orders `stream` after the reductions; the host polls them
    // so that a peer that never joins becomes a timeout, not a hang.
    GECKO_RETURN_IF_ERROR(ctx_.streamWaitEvent(stream, event_));
    return waitEvent(desc);
  }

  Status sendOnDevice(const std::vector<BucketTensor> &tensors, int peer,
                      void *stream, const std::string &what) override {
    return messageOnDevice(/*isSend=*/true, tensors, peer, stream, what);
  }
  Status recvOnDevice(const std::vector<BucketTensor> &tensors, int peer,
                      void *stream, const std::string &what) override {
    return messageOnDevice(/*isSend=*/false, tensors, peer, stream, what);
  }

private:
  using Clock = std::chrono::steady_clock;

  /// Queues one ncclGroupStart/End of in-place all-reduces of `tensors` on
  /// `stream` and, with `waitForIssue`, waits until NCCL has issued it
  /// (otherwise the next NCCL call of this communicator does, through
  /// settleIssue()). Returns its description (with the collective's
  /// sequence number) for later errors.
  StatusOr<std::string> issueGroup(const std::vector<BucketTensor> &tensors,
                                   bool mean, void *stream,
                                   const std::string &what,
                                   bool waitForIssue = true) {
    int64_t elements = 0;
    for (const BucketTensor &t : tensors) {
      if (t.dtype != ElementType::kF32 && t.dtype != ElementType::kF64)
        return invalidArgument("all-reduce of " + what +
                               " on the device: "
                               "dtype " +
                               elementTypeName(t.dtype) +
                               " is not supported (f32 or f64)");
      elements += t.count;
    }
    std::string desc = std::string("NCCL all_reduce (") +
                       (mean ? "avg" : "sum") + ", " +
                       std::to_string(tensors.size()) + " tensors, " +
                       std::to_string(elements) + " elements) of " + what;
    if (broken_)
      return failedPrecondition(where_ + ": " + desc +
                                ": the communicator is unusable after an "
                                "earlier failed collective");
    ++sequence_;
    desc += " (collective #" + std::to_string(sequence_) + ")";
    GECKO_RETURN_IF_ERROR(ctx_.makeCurrent());
    GECKO_RETURN_IF_ERROR(settleIssue());
    ncclResult_t rc = api_.groupStart();
    for (const BucketTensor &t : tensors) {
      if (rc != ncclSuccess || t.count == 0)
        continue;
      rc = api_.allReduce(
          t.data, t.data, size_t(t.count),
          t.dtype == ElementType::kF32 ? ncclFloat32 : ncclFloat64,
          mean ? ncclAvg : ncclSum, comm_, static_cast<cudaStream_t>(stream));
    }
    ncclResult_t end = api_.groupEnd();
    if (rc != ncclSuccess)
      return fail(rc, desc + ": ncclAllReduce");
    if (end != ncclSuccess && end != ncclInProgress)
      return fail(end, desc + ": ncclGroupEnd");
    if (!waitForIssue) {
      unissued_ = desc;
      return desc;
    }
    GECKO_RETURN_IF_ERROR(waitIssued(desc));
    return desc;
  }

  /// ncclSend or ncclRecv of every tensor's bytes in one group on
  /// `stream`, then waited for like a collective (a peer that never
  /// matches it times out and aborts the communicator).
  Status messageOnDevice(bool isSend, const std::vector<BucketTensor> &tensors,
                         int peer, void *stream, const std::string &what) {
    size_t bytes = 0;
    for (const BucketTensor &t : tensors)
      bytes += size_t(t.count) * elementTypeSize(t.dtype);
    std::string desc = std::string("NCCL ") + (isSend ? "send" : "recv") +
                       " of " + std::to_string(bytes) + " bytes (" +
                       std::to_string(tensors.size()) + " tensors) " +
                       (isSend ? "to" : "from") + " rank " +
                       std::to_string(peer) + " (" + what + ")";
    if (peer < 0 || peer >= size() || peer == rank())
      return invalidArgument(where_ + ": " + desc +
                             ": the peer must be another rank of the job");
    if (broken_)
      return failedPrecondition(where_ + ": " + desc +
                                ": the communicator is unusable after an "
                                "earlier failed operation");
    ++messages_;
    desc += " (message #" + std::to_string(messages_) + ")";
    GECKO_RETURN_IF_ERROR(ctx_.makeCurrent());
    GECKO_RETURN_IF_ERROR(settleIssue());
    ncclResult_t rc = api_.groupStart();
    for (const BucketTensor &t : tensors) {
      size_t n = size_t(t.count) * elementTypeSize(t.dtype);
      if (rc != ncclSuccess || n == 0)
        continue;
      cudaStream_t s = static_cast<cudaStream_t>(stream);
      rc = isSend ? api_.send(t.data, n, ncclUint8, peer, comm_, s)
                  : api_.recv(t.data, n, ncclUint8, peer, comm_, s);
    }
    ncclResult_t end = api_.groupEnd();
    if (rc != ncclSuccess)
      return fail(rc, desc + (isSend ? ": ncclSend" : ": ncclRecv"));
    if (end != ncclSuccess && end != ncclInProgress)
      return fail(end, desc + ": ncclGroupEnd");
    GECKO_RETURN_IF_ERROR(waitIssued(desc));
    GECKO_RETURN_IF_ERROR(ctx_.recordEvent(event_, stream));
    return waitEvent(desc);
  }

  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(timeoutSeconds_));
  }

  /// Polls the communicator's async state until nothing is in progress, or
  /// `seconds` pass; false on error or timeout.
  bool pollAsync(double seconds) {
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(seconds));
    resetPause();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      if (api_.commGetAsyncError(comm_, &state) != ncclSuccess)
        return false;
      if (state == ncclSuccess)
        return true;
      if (state != ncclInProgress || Clock::now() >= until)
        return false;
      pause();
    }
  }

  /// Waits until the group issueGroup left unwaited (if any) is issued.
  Status settleIssue() {
    if (unissued_.empty())
      return Status::ok();
    std::string desc = std::move(unissued_);
    unissued_.clear();
    return waitIssued(desc);
  }

  /// Waits until NCCL has issued the operations of the last call (a
  /// non-blocking communicator returns ncclInProgress while it connects).
  Status waitIssued(const std::string &desc) {
    Clock::time_point until = deadline();
    resetPause();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclResult_t rc = api_.commGetAsyncError(comm_, &state);
      if (rc != ncclSuccess)
        return fail(rc, desc + ": ncclCommGetAsyncError");
      if (state == ncclSuccess)
        return Status::ok();
      if (state != ncclInProgress)
        return fail(state, desc);
      if (Clock::now() >= until)
        return timedOut(desc + " (while NCCL issued it)");
      pause();
    }
  }

  /// Waits for event_ (recorded after the collective) while watching for
  /// asynchronous NCCL errors.
  Status waitEvent(const std::string &desc) {
    Clock::time_point until = deadline();
    resetPause();
    for (;;) {
      GECKO_ASSIGN_OR_RETURN(bool done, ctx_.eventDone(event_));
      if (done)
        return Status::ok();
      ncclResult_t state = ncclSuccess;
      ncclResult_t rc = api_.commGetAsyncError(comm_, &state);
      if (rc != ncclSuccess)
        return fail(rc, desc + ": ncclCommGetAsyncError");
      if (state != ncclSuccess && state != ncclInProgress)
        return fail(state, desc);
      if (Clock::now() >= until)
        return timedOut(desc);
      pause();
    }
  }

  Status fail(ncclResult_t rc, const std::string &desc) {
    broken_ = true;
    std::string detail = api_.getErrorString(rc);
    if (comm_) {
      const char *last = api_.getLastError(comm_);
      if (last && *last)
        detail += ": " + std::string(last);
    }
    return unavailable(where_ + ": " + desc + " failed: " + detail);
  }

  Status timedOut(const std::string &desc) {
    broken_ = true;
    api_.commAbort(comm_);
    comm_ = nullptr;
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%g", timeoutSeconds_);
    return deadlineExceeded(
        where_ + ": " + desc + " did not complete within " + secs +
        " s (GECKO_COLLECTIVE_TIMEOUT): another rank died, hangs or stopped "
        "calling collectives; the NCCL communicator was aborted. Every rank "
        "that reached this collective reports it; a rank missing from these "
        "reports is the one that failed");
  }

  /// Backs off from 1 us to 1 ms between the polls of one wait (each wait
  /// starts again at 1 us: resetPause()).
  void resetPause() { sleepNs_ = 1000; }
  void pause() {
    struct timespec ts = {0, sleepNs_};
    ::nanosleep(&ts, nullptr);
    sleepNs_ = sleepNs_ < 1000000 ? sleepNs_ * 2 : sleepNs_;
  }

  const NcclApi &api_;
  std::unique_ptr<Communicator> host_;
  detail::CudaContext &ctx_;
  ncclComm_t comm_ = nullptr;
  void *event_ = nullptr;
  /// Overlapped all-reduces: their stream, the event that orders them
  /// after the compute stream, and the descriptions of those not waited
  /// for yet.
  void *commStream_ = nullptr;
  void *readyEvent_ = nullptr;
  std::vector<std::string> pending_;
  /// The overlapped group NCCL may still be issuing (its description).
  std::string unissued_;
  std::string where_;
  bool broken_ = false;
  long sleepNs_ = 1000;
};

} // namespace

bool haveNccl() { return true; }

StatusOr<std::unique_ptr<Communicator>>
createNcclCommunicator(std::unique_ptr<Communicator> &bootstrap,
                       Device &device) {
  std::string kind = bootstrap ? bootstrap->backend() : "";
  if (kind != "mpi" && kind != "threads")
    return invalidArgument("the NCCL communicator needs an MPI communicator "
                           "(launch with mpirun or srun) or a group of ranks "
                           "in threads (gecko-run train --ranks N) to "
                           "exchange its unique id, not " +
                           (kind.empty() ? "none" : "'" + kind + "'"));
  detail::CudaContext *ctx = detail::cudaContextOf(&device);
  if (!ctx)
    return invalidArgument("the NCCL communicator needs a CUDA device, not " +
                           device.info().name);
  GECKO_ASSIGN_OR_RETURN(const NcclApi *api, loadNccl());
  auto comm =
      std::make_unique<NcclCommunicator>(*api, std::move(bootstrap), *ctx);
  Status s = comm->init();
  if (!s.isOk()) {
    bootstrap = comm->releaseBootstrap(); // The caller may still abort.
    return s;
  }
  return std::unique_ptr<Communicator>(std::move(comm));
}

} // namespace gecko
