//===- mpi_communicator.cpp - Collectives over MPI, with timeouts ---------===//
//
// One process per rank (mpirun, srun). Every collective is started
// non-blocking (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier) and polled with
// MPI_Test until it completes or the timeout passes, so a dead or stuck peer
// becomes a DeadlineExceeded error naming this rank and the collective
// instead of a hang. Sends are MPI_Isend polled the same way; a receive
// polls MPI_Iprobe for the message, checks its size, then takes it with
// MPI_Recv (it has arrived, or its sender is waiting to hand it over). MPI
// errors are returned (MPI_ERRORS_RETURN), not fatal.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <unistd.h>

namespace gecko {

namespace {

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(len));
}

void finalizeAtExit() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized)
    MPI_Finalize();
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, int rank, int size)
      : comm_(comm), rank_(rank), size_(size) {
    char host[256] = {0};
    if (::gethostname(host, sizeof(host) - 1) != 0)
      host[0] = '\0';
    where_ = "rank " + std::to_string(rank) + " of " + std::to_string(size) +
             " (host " + host + ", pid " + std::to_string(::getpid()) + ")";
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && comm_ != MPI_COMM_NULL && !broken_)
      MPI_Comm_free(&comm_);
  }

  const char *backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status allReduce(void *data, int64_t count, ElementType dtype, ReduceOp op,
                   const std::string &what) override {
    std::string desc = std::string("all_reduce (") + reduceOpName(op) + ", " +
                       elementTypeName(dtype) + " x " + std::to_string(count) +
                       ") of " + what;
    MPI_Datatype type;
    if (dtype == ElementType::kF32)
      type = MPI_FLOAT;
    else if (dtype == ElementType::kF64)
      type = MPI_DOUBLE;
    else if (dtype == ElementType::kI64 && op != ReduceOp::kSum)
      type = MPI_INT64_T;
    else
      return invalidArgument(desc + ": dtype " + elementTypeName(dtype) +
                             " is not supported");
    if (count < 0 || count > int64_t(0x7fffffff))
      return invalidArgument(desc + ": count out of range (0..2^31-1; use "
                                    "smaller buckets)");
    MPI_Op mop = op == ReduceOp::kSum   ? MPI_SUM
                 : op == ReduceOp::kMax ? MPI_MAX
                                        : MPI_MIN;
    GECKO_RETURN_IF_ERROR(usable(desc));
    MPI_Request request;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, int(count), type, mop, comm_,
                            &request);
    return wait(rc, request, desc);
  }

  Status broadcast(void *data, size_t bytes, int root,
                   const std::string &what) override {
    std::string desc = "broadcast (" + std::to_string(bytes) +
                       " bytes from rank " + std::to_string(root) + ") of " +
                       what;
    if (root < 0 || root >= size_)
      return invalidArgument(desc + ": no such rank");
    if (bytes > size_t(0x7fffffff))
      return invalidArgument(desc + ": too large for one call");
    GECKO_RETURN_IF_ERROR(usable(desc));
    MPI_Request request;
    int rc = MPI_Ibcast(data, int(bytes), MPI_BYTE, root, comm_, &request);
    return wait(rc, request, desc);
  }

  Status barrier(const std::string &what) override {
    std::string desc = "barrier (" + what + ")";
    GECKO_RETURN_IF_ERROR(usable(desc));
    MPI_Request request;
    int rc = MPI_Ibarrier(comm_, &request);
    return wait(rc, request, desc);
  }

  Status send(const void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    uint64_t seq = ++messages_;
    GECKO_ASSIGN_OR_RETURN(std::string head,
                           startMessage(true, bytes, peer, tag, what));
    if (peer == rank_)
      return sendToSelf(data, bytes, tag);
    head += " (message #" + std::to_string(seq) + ")";
    MPI_Request request;
    int rc = MPI_Isend(data, int(bytes), MPI_BYTE, peer, tag, comm_, &request);
    if (rc != MPI_SUCCESS) {
      broken_ = true;
      return unavailable(head + " failed to start: " + mpiError(rc));
    }
    return poll(
        head,
        [&](int &done) { return MPI_Test(&request, &done, MPI_STATUS_IGNORE); },
        "rank " + std::to_string(peer) +
            " died, hangs or did not receive it (it must call recv from "
            "this rank with the same tag and size)");
  }

  Status recv(void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    uint64_t seq = ++messages_;
    GECKO_ASSIGN_OR_RETURN(std::string head,
                           startMessage(false, bytes, peer, tag, what));
    if (peer == rank_)
      return recvFromSelf(data, bytes, tag, head);
    head += " (message #" + std::to_string(seq) + ")";
    MPI_Status status;
    GECKO_RETURN_IF_ERROR(poll(
        head,
        [&](int &done) { return MPI_Iprobe(peer, tag, comm_, &done, &status); },
        "rank " + std::to_string(peer) +
            " died, hangs or did not send it (it must call send to this "
            "rank with the same tag and size)"));
    int count = 0;
    int rc = MPI_Get_count(&status, MPI_BYTE, &count);
    if (rc != MPI_SUCCESS) {
      broken_ = true;
      return unavailable(head + " failed: " + mpiError(rc));
    }
    if (size_t(count) != bytes) {
      broken_ = true;
      return invalidArgument(
          head + ": the message rank " + std::to_string(peer) + " sent has " +
          std::to_string(count) + " bytes, not " + std::to_string(bytes) +
          " (the two ranks disagree on its layout: the "
          "same artifact and options on every rank?)");
    }
    rc = MPI_Recv(data, count, MPI_BYTE, peer, tag, comm_, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      broken_ = true;
      return unavailable(head + " failed: " + mpiError(rc));
    }
    return Status::ok();
  }

  [[noreturn]] void abort(int exitCode, const std::string &message) override {
    std::fprintf(stderr, "%s\n[%s] aborting the job (MPI_Abort, exit %d)\n",
                 message.c_str(), where_.c_str(), exitCode);
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, exitCode);
    std::_Exit(exitCode); // MPI_Abort does not return; in case it does.
  }

private:
  /// The checks send() and recv() share; returns the message's description
  /// for errors ("rank 0 of 2 (...): send of 48 bytes to rank 1 ...").
  StatusOr<std::string> startMessage(bool isSend, size_t bytes, int peer,
                                     int tag, const std::string &what) const {
    std::string desc = messageDesc(isSend, bytes, peer, tag, what);
    std::string head = where_ + ": " + desc;
    GECKO_RETURN_IF_ERROR(checkMessage(peer, tag, head));
    if (bytes > size_t(0x7fffffff))
      return invalidArgument(head + ": too large for one message");
    GECKO_RETURN_IF_ERROR(usable(desc));
    return head;
  }

  Status usable(const std::string &desc) const {
    if (broken_)
      return failedPrecondition(
          where_ + ": " + desc +
          ": the communicator is unusable after an earlier failed collective "
          "or message");
    return Status::ok();
  }

  /// Polls the collective `request` until it completes or the timeout
  /// passes.
  Status wait(int rc, MPI_Request &request, const std::string &desc) {
    uint64_t seq = ++sequence_;
    std::string head =
        where_ + ": " + desc + " (collective #" + std::to_string(seq) + ")";
    if (rc != MPI_SUCCESS) {
      broken_ = true;
      return unavailable(head + " failed to start: " + mpiError(rc));
    }
    return poll(
        head,
        [&](int &done) { return MPI_Test(&request, &done, MPI_STATUS_IGNORE); },
        "another rank died, hangs or stopped calling collectives. Every rank "
        "that reached this collective reports it; a rank missing from these "
        "reports is the one that failed");
  }

  /// Calls `test` (an MPI_Test or MPI_Iprobe that sets its argument when
  /// done) until it reports done or the timeout passes; `cause` says what
  /// a timeout means.
  Status poll(const std::string &head, const std::function<int(int &)> &test,
              const std::string &cause) {
    using Clock = std::chrono::steady_clock;
    Clock::time_point start = Clock::now();
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(timeoutSeconds_));
    long sleepNs = 1000;
    for (;;) {
      int done = 0;
      int rc = test(done);
      if (rc != MPI_SUCCESS) {
        broken_ = true;
        return unavailable(head + " failed: " + mpiError(rc));
      }
      if (done)
        return Status::ok();
      if (Clock::now() >= deadline) {
        broken_ = true;
        char secs[32];
        std::snprintf(secs, sizeof(secs), "%g", timeoutSeconds_);
        return deadlineExceeded(head + " did not complete within " + secs +
                                " s (GECKO_COLLECTIVE_TIMEOUT): " + cause);
      }
      // Back off from 1 us to 1 ms so a waiting rank leaves the CPU to
      // ranks that still compute (CPU jobs are often oversubscribed).
      struct timespec ts = {0, sleepNs};
      ::nanosleep(&ts, nullptr);
      if (sleepNs < 1000000)
        sleepNs *= 2;
    }
  }

  MPI_Comm comm_;
  int rank_, size_;
  std::string where_;
  bool broken_ = false;
};

} // namespace

StatusOr<std::unique_ptr<Communicator>> createMpiCommunicator() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized)
    return failedPrecondition("MPI was already finalized in this process");
  if (!initialized) {
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
      return unavailable("MPI_Init_thread failed: " + mpiError(rc));
    std::atexit(finalizeAtExit);
  }
  MPI_Comm comm;
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  if (rc != MPI_SUCCESS)
    return unavailable("MPI_Comm_dup failed: " + mpiError(rc));
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::unique_ptr<Communicator>(
      std::make_unique<MpiCommunicator>(comm, rank, size));
}

} // namespace gecko
