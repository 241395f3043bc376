//===- communicator.h - Collectives between the ranks of a job --*- C++ -*-===//
//
// The runtime's view of a distributed job: its rank, its size, the
// collectives the trainer needs (all-reduce, broadcast, barrier) and
// point-to-point messages (send, recv: the stream state and its cotangent
// between the ranks of chunk parallelism) on host buffers, and with NCCL
// all-reduces and messages in device memory. Every operation has a
// timeout: a rank that dies or stops communicating makes the others fail
// with DeadlineExceeded naming the rank, the operation and what it
// carried, never a silent hang. abort() then ends the whole job.
// docs/distributed.md describes launching and the env vars.
//
// Implementations: "local" (one rank, no communication), "mpi" (one
// process per rank, launched by mpirun or srun; built with
// GECKO_ENABLE_MPI), "threads" (the ranks are threads of one process:
// createThreadCommunicators) and "nccl" (device collectives over either of
// the last two: createNcclCommunicator).
//
// Thread safety: a Communicator is used by one thread at a time (the
// thread running its rank). The communicators of one thread group are meant
// to be used concurrently, one thread per rank; so are an MPI or NCCL
// communicator and other objects of the process. abort() may be called from
// any thread.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_COMMUNICATOR_H
#define GECKO_RUNTIME_COMMUNICATOR_H

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gecko {

/// The reduction of an all-reduce.
enum class ReduceOp { kSum, kMax, kMin };
/// "sum", "max", "min".
const char *reduceOpName(ReduceOp op);

/// A flat tensor: `count` elements of `dtype` at `data` (host or device
/// memory, as the call taking it says).
struct BucketTensor {
  void *data = nullptr;
  int64_t count = 0;
  ElementType dtype = ElementType::kF32;
};

class Communicator {
public:
  virtual ~Communicator();

  /// "local", "mpi", "threads" or "nccl".
  virtual const char *backend() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// Reduces `count` elements of `data` (f32 or f64; also i64 for kMax and
  /// kMin) over all ranks, in place: every rank ends with the result.
  /// `what` names the payload in errors ("gradients bucket 2/5").
  virtual Status allReduce(void *data, int64_t count, ElementType dtype,
                           ReduceOp op, const std::string &what) = 0;
  /// Copies `bytes` bytes from rank `root` to every rank.
  virtual Status broadcast(void *data, size_t bytes, int root,
                           const std::string &what) = 0;
  virtual Status barrier(const std::string &what) = 0;

  /// Sends `bytes` bytes of `data` to rank `peer` with `tag` (0..32767).
  /// Started non-blocking and polled against timeoutSeconds() like the
  /// collectives; returns once `data` may be reused. The peer must receive
  /// it with recv(..., this rank, tag) and the same size. A message to this
  /// rank itself is buffered until recv takes it. `what` names the payload
  /// in errors ("the stream state of step 3").
  virtual Status send(const void *data, size_t bytes, int peer, int tag,
                      const std::string &what) = 0;
  /// Receives the message with `tag` from rank `peer` into `data`, which
  /// holds `bytes` bytes; a message of another size is an InvalidArgument
  /// error naming both sizes (the communicator is unusable afterwards).
  /// Waits at most timeoutSeconds() for the message to arrive.
  virtual Status recv(void *data, size_t bytes, int peer, int tag,
                      const std::string &what) = 0;
  /// Ends every rank of the job with `exitCode` (after printing `message` on
  /// this rank's stderr). Does not return. With ranks in threads the job is
  /// this process: the first abort() prints and exits, a concurrent one from
  /// another rank waits for that exit.
  [[noreturn]] virtual void abort(int exitCode, const std::string &message) = 0;

  /// True when allReduceOnDevice works (the "nccl" backend).
  virtual bool hasDeviceCollectives() const { return false; }
  /// All-reduces `tensors` (f32 or f64, in device memory of the
  /// communicator's CUDA device) in place as one group: kSum, divided by
  /// size() with `mean`. The group is queued on `stream` (a CUstream, e.g.
  /// BoundCall::nativeStream()), after the work already queued there, and
  /// waited for under the timeout. Unimplemented without device
  /// collectives.
  virtual Status allReduceOnDevice(const std::vector<BucketTensor> &tensors,
                                   bool mean, void *stream,
                                   const std::string &what);

  /// Sends `tensors` (any dtype, in device memory of the communicator's
  /// CUDA device) to rank `peer` as one group of raw bytes, queued on
  /// `stream` after the work already queued there, and waits for it under
  /// the timeout. The peer receives them with recvOnDevice: the same
  /// number of tensors with the same byte sizes, in order; messages
  /// between two ranks in one direction arrive in the order sent (no
  /// tags). `what` names the payload in errors. Unimplemented without
  /// device collectives.
  virtual Status sendOnDevice(const std::vector<BucketTensor> &tensors,
                              int peer, void *stream, const std::string &what);
  /// Receives into `tensors` (device memory) what rank `peer` sent with
  /// sendOnDevice, queued on `stream`, and waits for it under the timeout.
  virtual Status recvOnDevice(const std::vector<BucketTensor> &tensors,
                              int peer, void *stream, const std::string &what);
  /// Starts the same all-reduce as allReduceOnDevice without waiting for
  /// it: records an event on `stream` (the work queued there so far, e.g.
  /// the part of a call that wrote `tensors`) and queues the group on the
  /// communicator's own communication stream after that event, so it
  /// overlaps with what `stream` runs next. The host is not blocked beyond
  /// NCCL issuing the group (bounded by the timeout). Nothing may touch
  /// `tensors` until waitDeviceAllReduces. Unimplemented without device
  /// collectives.
  virtual Status
  startAllReduceOnDevice(const std::vector<BucketTensor> &tensors, bool mean,
                         void *stream, const std::string &what);
  /// Makes `stream` wait (on the device) for every all-reduce started since
  /// the last wait, then waits on the host until they completed, under the
  /// timeout and with the same error handling as allReduceOnDevice. `what`
  /// names them in errors. OK when none was started.
  virtual Status waitDeviceAllReduces(void *stream, const std::string &what);

  /// All-reduce with kSum, then divide by size(): the mean over ranks.
  Status allReduceMean(void *data, int64_t count, ElementType dtype,
                       const std::string &what);

  /// The longest any collective, send or receive may wait for the other
  /// ranks (seconds, > 0). Default: GECKO_COLLECTIVE_TIMEOUT or 300.
  double timeoutSeconds() const { return timeoutSeconds_; }
  void setTimeoutSeconds(double seconds) { timeoutSeconds_ = seconds; }

  /// Collectives started so far (the sequence number errors report).
  uint64_t collectivesStarted() const { return sequence_; }
  /// Sends and receives started so far (their own sequence in errors).
  uint64_t messagesStarted() const { return messages_; }

  /// The largest tag send and recv accept (MPI guarantees at least this).
  static constexpr int kMaxTag = 32767;

protected:
  Communicator();
  /// Checks the arguments of a send or recv: `peer` in [0, size()), `tag`
  /// in [0, kMaxTag]; `desc` heads the error.
  Status checkMessage(int peer, int tag, const std::string &desc) const;
  /// "send of N bytes to rank P with tag T (what)" / "recv ... from ...".
  static std::string messageDesc(bool isSend, size_t bytes, int peer, int tag,
                                 const std::string &what);
  /// A message to this rank itself: queued by sendToSelf, taken (same tag,
  /// first in first out) by recvFromSelf, which fails when none is queued
  /// or its size differs.
  Status sendToSelf(const void *data, size_t bytes, int tag);
  Status recvFromSelf(void *data, size_t bytes, int tag,
                      const std::string &desc);

  double timeoutSeconds_ = 300;
  uint64_t sequence_ = 0;
  uint64_t messages_ = 0;

private:
  /// Messages this rank sent itself and has not received yet.
  std::vector<std::pair<int, std::vector<unsigned char>>> selfMessages_;
};

/// One rank, no communication: every collective returns its input.
std::unique_ptr<Communicator> createLocalCommunicator();

/// The most ranks createThreadCommunicators makes.
constexpr int kMaxThreadRanks = 1024;

/// `ranks` communicators of one group whose ranks are threads of this
/// process (backend "threads"; no MPI needed): element r is rank r, to be
/// used by the thread that runs rank r. They implement every host
/// operation with the MPI backend's semantics and errors:
/// - collectives are rendezvous of all ranks; the last rank to arrive
///   checks that every rank called the same collective (else every rank
///   gets InvalidArgument naming both calls), combines an all-reduce in
///   rank order (bitwise the same result on every rank and every run), and
///   writes every rank's buffer;
/// - a rank that waits longer than timeoutSeconds() fails with
///   DeadlineExceeded naming itself, the collective and the ranks that never
///   arrived, and the group breaks: every later collective of any rank
///   fails at once (FailedPrecondition);
/// - sends are buffered (they never wait for the receiver); recv waits for
///   the message under the timeout, messages of one (peer, tag) first in
///   first out;
/// - abort() ends the process.
/// The group's shared state lives until the last of them is destroyed.
/// InvalidArgument unless 1 <= ranks <= kMaxThreadRanks.
StatusOr<std::vector<std::unique_ptr<Communicator>>>
createThreadCommunicators(int ranks);

/// True when this process looks like one rank of a job started by mpirun
/// or srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK or SLURM_NTASKS > 1).
bool launchedByMpi();
/// True when this build has the MPI communicator.
bool haveMpi();

/// `backend`: "local", "mpi", or "auto" (mpi when launchedByMpi(), else
/// local). "mpi" initializes MPI (once per process); Unavailable when the
/// build has no MPI. (NCCL needs a device: createNcclCommunicator.)
StatusOr<std::unique_ptr<Communicator>>
createCommunicator(const std::string &backend);

/// This process's index among the job's ranks on its host, from the
/// launcher's environment (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID,
/// SLURM_LOCALID, PMI_LOCAL_RANK), or -1 when none says.
int localRankFromEnvironment();

/// True when this build has the NCCL communicator (GECKO_ENABLE_NCCL).
bool haveNccl();

class Device;
/// NCCL over the ranks of `bootstrap` (an MPI communicator, one process
/// per GPU, or a "threads" one, one thread per GPU in this process): rank
/// 0 makes the NCCL unique id and broadcasts it, and every rank joins with
/// `device` (a CUDA device; one per rank). With threads, every rank's
/// thread calls this concurrently (each joins NCCL non-blocking on its own
/// thread). Device collectives go through NCCL; the host collectives
/// (losses, flags, checksums), messages and abort() through `bootstrap`,
/// which the result takes over (on failure `bootstrap` is left to the
/// caller, e.g. to abort the job). The result is used by its rank's thread
/// and destroyed there too (ncclCommFinalize waits for the other ranks to
/// finalize theirs). Loads libnccl.so.2 at run time (GECKO_NCCL_LIBRARY
/// overrides the path); Unavailable without NCCL.
StatusOr<std::unique_ptr<Communicator>>
createNcclCommunicator(std::unique_ptr<Communicator> &bootstrap,
                       Device &device);

/// Reduces float tensors in buckets: the tensors are flattened, in order,
/// into a staging buffer of at most `bucketBytes` bytes (a tensor may span
/// buckets), each full bucket is all-reduced (mean or sum) and copied back.
/// Tensors of different dtypes go to separate buckets. `what` names the
/// payload in errors. Returns the number of buckets reduced.
StatusOr<int64_t> bucketedAllReduce(Communicator &comm,
                                    const std::vector<BucketTensor> &tensors,
                                    size_t bucketBytes, bool mean,
                                    const std::string &what);

} // namespace gecko

#endif // GECKO_RUNTIME_COMMUNICATOR_H
