//===- communicator.cpp - The communicator interface and the local one ----===//
//
// The parts every backend shares: the timeout default, the mean helper,
// the checks of point-to-point messages and the queue of messages a rank
// sends itself, the bucketed all-reduce, backend selection, and the
// one-rank communicator.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace gecko {

#ifdef GECKO_HAVE_MPI
StatusOr<std::unique_ptr<Communicator>> createMpiCommunicator();
#endif

const char *reduceOpName(ReduceOp op) {
  switch (op) {
  case ReduceOp::kSum:
    return "sum";
  case ReduceOp::kMax:
    return "max";
  case ReduceOp::kMin:
    return "min";
  }
  return "?";
}

Communicator::Communicator() {
  if (const char *env = std::getenv("GECKO_COLLECTIVE_TIMEOUT")) {
    char *end = nullptr;
    double v = std::strtod(env, &end);
    // Once per process: a group of ranks in threads makes several.
    static std::atomic<bool> noted{false};
    if (end != env && *end == '\0' && v > 0)
      timeoutSeconds_ = v;
    else if (!noted.exchange(true))
      std::fprintf(stderr,
                   "gecko: note: ignoring GECKO_COLLECTIVE_TIMEOUT='%s' (not "
                   "a positive number of seconds); using %g\n",
                   env, timeoutSeconds_);
  }
}

Communicator::~Communicator() = default;

Status Communicator::allReduceOnDevice(const std::vector<BucketTensor> &, bool,
                                       void *, const std::string &what) {
  return unimplemented(std::string("all-reduce of ") + what +
                       " in device memory: the '" + backend() +
                       "' communicator has no device collectives (use NCCL)");
}

Status Communicator::sendOnDevice(const std::vector<BucketTensor> &, int,
                                  void *, const std::string &what) {
  return unimplemented(std::string("send of ") + what +
                       " from device memory: the '" + backend() +
                       "' communicator has no device messages (use NCCL)");
}

Status Communicator::recvOnDevice(const std::vector<BucketTensor> &, int,
                                  void *, const std::string &what) {
  return unimplemented(std::string("recv of ") + what +
                       " into device memory: the '" + backend() +
                       "' communicator has no device messages (use NCCL)");
}

Status Communicator::startAllReduceOnDevice(const std::vector<BucketTensor> &,
                                            bool, void *,
                                            const std::string &what) {
  return unimplemented(std::string("overlapped all-reduce of ") + what +
                       " in device memory: the '" + backend() +
                       "' communicator has no device collectives (use NCCL)");
}

Status Communicator::waitDeviceAllReduces(void *, const std::string &what) {
  return unimplemented(std::string("waiting for the all-reduces of ") + what +
                       " in device memory: the '" + backend() +
                       "' communicator has no device collectives (use NCCL)");
}

Status Communicator::allReduceMean(void *data, int64_t count, ElementType dtype,
                                   const std::string &what) {
  if (dtype != ElementType::kF32 && dtype != ElementType::kF64)
    return invalidArgument("mean all-reduce of " + what + ": dtype " +
                           elementTypeName(dtype) +
                           " is not supported (f32 or f64)");
  GECKO_RETURN_IF_ERROR(allReduce(data, count, dtype, ReduceOp::kSum, what));
  int n = size();
  if (n == 1)
    return Status::ok();
  if (dtype == ElementType::kF32) {
    float *p = static_cast<float *>(data);
    for (int64_t i = 0; i < count; ++i)
      p[i] /= float(n);
  } else {
    double *p = static_cast<double *>(data);
    for (int64_t i = 0; i < count; ++i)
      p[i] /= double(n);
  }
  return Status::ok();
}

std::string Communicator::messageDesc(bool isSend, size_t bytes, int peer,
                                      int tag, const std::string &what) {
  return std::string(isSend ? "send" : "recv") + " of " +
         std::to_string(bytes) + " bytes " + (isSend ? "to" : "from") +
         " rank " + std::to_string(peer) + " with tag " + std::to_string(tag) +
         " (" + what + ")";
}

Status Communicator::checkMessage(int peer, int tag,
                                  const std::string &desc) const {
  if (peer < 0 || peer >= size())
    return invalidArgument(desc + ": no rank " + std::to_string(peer) +
                           " in a job of " + std::to_string(size()) +
                           (size() == 1 ? " rank" : " ranks") +
                           (size() == 1 ? " (a one-rank job can only send "
                                          "to itself, rank 0)"
                                        : ""));
  if (tag < 0 || tag > kMaxTag)
    return invalidArgument(desc + ": the tag must be in [0, " +
                           std::to_string(kMaxTag) + "]");
  return Status::ok();
}

Status Communicator::sendToSelf(const void *data, size_t bytes, int tag) {
  const auto *p = static_cast<const unsigned char *>(data);
  selfMessages_.emplace_back(tag, std::vector<unsigned char>(p, p + bytes));
  return Status::ok();
}

Status Communicator::recvFromSelf(void *data, size_t bytes, int tag,
                                  const std::string &desc) {
  for (auto it = selfMessages_.begin(); it != selfMessages_.end(); ++it) {
    if (it->first != tag)
      continue;
    if (it->second.size() != bytes)
      return invalidArgument(desc +
                             ": the message this rank sent itself "
                             "with that tag has " +
                             std::to_string(it->second.size()) +
                             " bytes, not " + std::to_string(bytes));
    if (bytes > 0)
      std::memcpy(data, it->second.data(), bytes);
    selfMessages_.erase(it);
    return Status::ok();
  }
  return failedPrecondition(desc + ": this rank has sent itself no message "
                                   "with that tag (a receive from the rank "
                                   "itself must follow its send, or it would "
                                   "wait forever)");
}

namespace {

class LocalCommunicator final : public Communicator {
public:
  const char *backend() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status allReduce(void *, int64_t count, ElementType dtype, ReduceOp op,
                   const std::string &what) override {
    ++sequence_;
    if (count < 0)
      return invalidArgument("all-reduce of " + what + ": negative count");
    if (dtype != ElementType::kF32 && dtype != ElementType::kF64 &&
        !(dtype == ElementType::kI64 && op != ReduceOp::kSum))
      return invalidArgument("all-reduce (" + std::string(reduceOpName(op)) +
                             ") of " + what + ": dtype " +
                             elementTypeName(dtype) + " is not supported");
    return Status::ok();
  }
  Status broadcast(void *, size_t, int root, const std::string &what) override {
    ++sequence_;
    if (root != 0)
      return invalidArgument("broadcast of " + what + " from rank " +
                             std::to_string(root) + ": the job has 1 rank");
    return Status::ok();
  }
  Status barrier(const std::string &) override {
    ++sequence_;
    return Status::ok();
  }
  Status send(const void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    ++messages_;
    std::string desc = messageDesc(true, bytes, peer, tag, what);
    GECKO_RETURN_IF_ERROR(checkMessage(peer, tag, desc));
    return sendToSelf(data, bytes, tag);
  }
  Status recv(void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    ++messages_;
    std::string desc = messageDesc(false, bytes, peer, tag, what);
    GECKO_RETURN_IF_ERROR(checkMessage(peer, tag, desc));
    return recvFromSelf(data, bytes, tag, desc);
  }
  [[noreturn]] void abort(int exitCode, const std::string &message) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(exitCode);
  }
};

bool envSet(const char *name) {
  const char *v = std::getenv(name);
  return v && *v;
}

} // namespace

std::unique_ptr<Communicator> createLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

bool launchedByMpi() {
  if (envSet("OMPI_COMM_WORLD_SIZE") || envSet("PMI_SIZE") ||
      envSet("PMIX_RANK"))
    return true;
  const char *tasks = std::getenv("SLURM_NTASKS");
  return tasks && std::atoi(tasks) > 1 && envSet("SLURM_PROCID");
}

int localRankFromEnvironment() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                           "SLURM_LOCALID", "PMI_LOCAL_RANK"}) {
    const char *v = std::getenv(name);
    if (!v || !*v)
      continue;
    char *end = nullptr;
    long r = std::strtol(v, &end, 10);
    if (*end == '\0' && r >= 0 && r < 1 << 20)
      return int(r);
  }
  return -1;
}

#ifndef GECKO_HAVE_NCCL
bool haveNccl() { return false; }

StatusOr<std::unique_ptr<Communicator>>
createNcclCommunicator(std::unique_ptr<Communicator> &, Device &) {
  return unavailable("this build has no NCCL communicator "
                     "(GECKO_ENABLE_NCCL=OFF: it needs CUDA, nccl.h and MPI); "
                     "rebuild with -DGECKO_ENABLE_NCCL=ON, or use --dist mpi");
}
#endif

bool haveMpi() {
#ifdef GECKO_HAVE_MPI
  return true;
#else
  return false;
#endif
}

StatusOr<std::unique_ptr<Communicator>>
createCommunicator(const std::string &backend) {
  std::string kind = backend;
  if (kind == "auto")
    kind = launchedByMpi() ? "mpi" : "local";
  if (kind == "local")
    return createLocalCommunicator();
  if (kind == "mpi") {
#ifdef GECKO_HAVE_MPI
    return createMpiCommunicator();
#else
    return unavailable("this gecko-run was built without MPI "
                       "(GECKO_ENABLE_MPI=OFF); install an MPI library "
                       "(Debian: libopenmpi-dev) and rebuild, or run with "
                       "--dist local");
#endif
  }
  if (kind == "threads")
    return invalidArgument("the 'threads' backend makes a group of "
                           "communicators, one per rank: use "
                           "createThreadCommunicators(ranks)");
  return invalidArgument("unknown communicator backend '" + backend +
                         "' (auto, local or mpi)");
}

StatusOr<int64_t> bucketedAllReduce(Communicator &comm,
                                    const std::vector<BucketTensor> &tensors,
                                    size_t bucketBytes, bool mean,
                                    const std::string &what) {
  if (bucketBytes < 8)
    return invalidArgument("the all-reduce bucket size must be at least 8 "
                           "bytes, not " +
                           std::to_string(bucketBytes));
  // Group by dtype, keeping the order within each dtype.
  std::map<ElementType, std::vector<const BucketTensor *>> byType;
  int64_t buckets = 0;
  for (const BucketTensor &t : tensors) {
    if (t.dtype != ElementType::kF32 && t.dtype != ElementType::kF64)
      return invalidArgument("all-reduce of " + what + ": dtype " +
                             elementTypeName(t.dtype) +
                             " is not supported (f32 or f64)");
    if (t.count > 0)
      byType[t.dtype].push_back(&t);
  }
  // Count the buckets first so errors can say "bucket i/n".
  int64_t total = 0;
  for (auto &kv : byType) {
    size_t width = elementTypeSize(kv.first);
    int64_t perBucket = int64_t(bucketBytes / width);
    int64_t elements = 0;
    for (const BucketTensor *t : kv.second)
      elements += t->count;
    total += (elements + perBucket - 1) / perBucket;
  }
  if (comm.size() == 1)
    return total;
  std::vector<unsigned char> staging;
  for (auto &kv : byType) {
    ElementType dtype = kv.first;
    size_t width = elementTypeSize(dtype);
    int64_t perBucket = int64_t(bucketBytes / width);
    staging.resize(size_t(perBucket) * width);
    // Spans (tensor, offset, count) packed into the current bucket.
    struct Span {
      const BucketTensor *t;
      int64_t offset, count;
    };
    std::vector<Span> spans;
    int64_t filled = 0;
    auto flush = [&]() -> Status {
      if (filled == 0)
        return Status::ok();
      ++buckets;
      std::string name = what + " bucket " + std::to_string(buckets) + "/" +
                         std::to_string(total);
      Status s = mean ? comm.allReduceMean(staging.data(), filled, dtype, name)
                      : comm.allReduce(staging.data(), filled, dtype,
                                       ReduceOp::kSum, name);
      GECKO_RETURN_IF_ERROR(s);
      int64_t at = 0;
      for (const Span &sp : spans) {
        std::memcpy(static_cast<unsigned char *>(sp.t->data) +
                        size_t(sp.offset) * width,
                    staging.data() + size_t(at) * width,
                    size_t(sp.count) * width);
        at += sp.count;
      }
      spans.clear();
      filled = 0;
      return Status::ok();
    };
    for (const BucketTensor *t : kv.second) {
      int64_t offset = 0;
      while (offset < t->count) {
        int64_t n = std::min(t->count - offset, perBucket - filled);
        std::memcpy(staging.data() + size_t(filled) * width,
                    static_cast<const unsigned char *>(t->data) +
                        size_t(offset) * width,
                    size_t(n) * width);
        spans.push_back({t, offset, n});
        filled += n;
        offset += n;
        if (filled == perBucket)
          GECKO_RETURN_IF_ERROR(flush());
      }
    }
    GECKO_RETURN_IF_ERROR(flush());
  }
  return buckets;
}

} // namespace gecko
