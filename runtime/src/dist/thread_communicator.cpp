//===- thread_communicator.cpp - Ranks as threads of one process ----------===//
//
// The "threads" backend: createThreadCommunicators(n) makes n communicators
// that share one ThreadGroup, one per rank, each used by the thread that
// runs that rank (gecko-run train --ranks N). They implement every host
// operation of the interface with the semantics of the MPI backend:
//
// - A collective is a rendezvous. Each rank deposits its buffer and a
//   description of the call in its slot of the group's current round; the
//   last rank to arrive checks that every rank called the same collective
//   (kind, dtype, count, reduction, root), computes the result and writes
//   it into every rank's buffer, then opens the next round. An all-reduce
//   combines the ranks' buffers in rank order (rank 0's values, then
//   rank 1's, ...), so every rank gets bitwise the same result, the same on
//   every run.
// - The other ranks wait on a condition variable until the round completes
//   or the timeout passes. A rank that times out marks the group broken, so
//   the round can never complete on buffers it no longer owns, and reports
//   DeadlineExceeded naming itself, the collective and the ranks that never
//   arrived. Later collectives of any rank then fail at once.
// - Sends are buffered (MPI's eager protocol, for every size): send copies
//   the message into the receiver's mailbox and returns. recv waits for the
//   message from (peer, tag) under the timeout, first in first out.
// - abort() ends the whole process, which is the whole job.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace gecko {

namespace {

using Clock = std::chrono::steady_clock;

enum class Kind { kAllReduce, kBroadcast, kBarrier };

/// What one rank brought to a collective.
struct Slot {
  bool here = false;
  Kind kind = Kind::kBarrier;
  void *data = nullptr;
  int64_t count = 0; ///< Elements (all-reduce) or bytes (broadcast).
  ElementType dtype = ElementType::kF32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  std::string desc; ///< "all_reduce (sum, f32 x 10) of the loss".
};

/// The state the ranks of one group share. Everything is guarded by `mu`.
struct ThreadGroup {
  explicit ThreadGroup(int n) : size(n), slots(size_t(n)) {}

  const int size;
  std::mutex mu;
  std::condition_variable cv;

  /// The collective now gathering (1, 2, ...) and how many ranks are in it.
  uint64_t round = 1;
  int arrived = 0;
  std::vector<Slot> slots;
  /// Rounds completed; a rank waiting in round k is done once k <= this.
  uint64_t completed = 0;
  /// Set once a rank timed out or the ranks called different collectives;
  /// no round completes afterwards.
  bool broken = false;
  StatusCode brokenCode = StatusCode::kOk;
  std::string brokenReason;
  std::vector<unsigned char> scratch;

  /// Messages not yet received, per (from, to, tag), oldest first.
  std::map<std::tuple<int, int, int>, std::deque<std::vector<unsigned char>>>
      mail;
};

/// out = reduce(out, in) elementwise, for one rank's contribution.
template <typename T>
void combine(T *out, const T *in, int64_t count, ReduceOp op) {
  switch (op) {
  case ReduceOp::kSum:
    for (int64_t i = 0; i < count; ++i)
      out[i] += in[i];
    break;
  case ReduceOp::kMax:
    for (int64_t i = 0; i < count; ++i)
      out[i] = out[i] < in[i] ? in[i] : out[i];
    break;
  case ReduceOp::kMin:
    for (int64_t i = 0; i < count; ++i)
      out[i] = in[i] < out[i] ? in[i] : out[i];
    break;
  }
}

std::string rankList(const std::vector<int> &ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", s);
  return text;
}

/// The first abort() of the process wins; the others wait for its exit.
std::atomic<bool> gAborting{false};

class ThreadCommunicator final : public Communicator {
public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank)
      : group_(std::move(group)), rank_(rank) {
    char host[256] = {0};
    if (::gethostname(host, sizeof(host) - 1) != 0)
      host[0] = '\0';
    where_ = "rank " + std::to_string(rank) + " of " +
             std::to_string(group_->size) + " (host " + host + ", pid " +
             std::to_string(::getpid()) + ", thread rank)";
  }

  const char *backend() const override { return "threads"; }
  int rank() const override { return rank_; }
  int size() const override { return group_->size; }

  Status allReduce(void *data, int64_t count, ElementType dtype, ReduceOp op,
                   const std::string &what) override {
    std::string desc = std::string("all_reduce (") + reduceOpName(op) + ", " +
                       elementTypeName(dtype) + " x " + std::to_string(count) +
                       ") of " + what;
    if (dtype != ElementType::kF32 && dtype != ElementType::kF64 &&
        !(dtype == ElementType::kI64 && op != ReduceOp::kSum))
      return invalidArgument(where_ + ": " + desc + ": dtype " +
                             elementTypeName(dtype) + " is not supported");
    if (count < 0)
      return invalidArgument(where_ + ": " + desc + ": negative count");
    if (count > 0 && !data)
      return invalidArgument(where_ + ": " + desc + ": null buffer");
    Slot s;
    s.kind = Kind::kAllReduce;
    s.data = data;
    s.count = count;
    s.dtype = dtype;
    s.op = op;
    s.desc = std::move(desc);
    return collective(std::move(s));
  }

  Status broadcast(void *data, size_t bytes, int root,
                   const std::string &what) override {
    std::string desc = "broadcast (" + std::to_string(bytes) +
                       " bytes from rank " + std::to_string(root) + ") of " +
                       what;
    if (root < 0 || root >= size())
      return invalidArgument(where_ + ": " + desc + ": no such rank");
    if (bytes > 0 && !data)
      return invalidArgument(where_ + ": " + desc + ": null buffer");
    Slot s;
    s.kind = Kind::kBroadcast;
    s.data = data;
    s.count = int64_t(bytes);
    s.root = root;
    s.desc = std::move(desc);
    return collective(std::move(s));
  }

  Status barrier(const std::string &what) override {
    Slot s;
    s.kind = Kind::kBarrier;
    s.desc = "barrier (" + what + ")";
    return collective(std::move(s));
  }

  Status send(const void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    ++messages_;
    std::string head =
        where_ + ": " + messageDesc(true, bytes, peer, tag, what);
    GECKO_RETURN_IF_ERROR(checkMessage(peer, tag, head));
    GECKO_RETURN_IF_ERROR(usable(head));
    if (bytes > 0 && !data)
      return invalidArgument(head + ": null buffer");
    if (peer == rank_)
      return sendToSelf(data, bytes, tag);
    const auto *p = static_cast<const unsigned char *>(data);
    {
      std::lock_guard<std::mutex> lock(group_->mu);
      group_->mail[{rank_, peer, tag}].emplace_back(p, p + bytes);
    }
    group_->cv.notify_all();
    return Status::ok();
  }

  Status recv(void *data, size_t bytes, int peer, int tag,
              const std::string &what) override {
    uint64_t seq = ++messages_;
    std::string head =
        where_ + ": " + messageDesc(false, bytes, peer, tag, what);
    GECKO_RETURN_IF_ERROR(checkMessage(peer, tag, head));
    GECKO_RETURN_IF_ERROR(usable(head));
    if (bytes > 0 && !data)
      return invalidArgument(head + ": null buffer");
    if (peer == rank_)
      return recvFromSelf(data, bytes, tag, head);
    head += " (message #" + std::to_string(seq) + ")";
    ThreadGroup &g = *group_;
    std::unique_lock<std::mutex> lock(g.mu);
    auto key = std::make_tuple(peer, rank_, tag);
    bool arrived = g.cv.wait_until(lock, deadline(), [&] {
      auto it = g.mail.find(key);
      return it != g.mail.end() && !it->second.empty();
    });
    if (!arrived) {
      broken_ = true;
      return deadlineExceeded(
          head + " did not complete within " + seconds(timeoutSeconds_) +
          " s (GECKO_COLLECTIVE_TIMEOUT): rank " + std::to_string(peer) +
          " died, hangs or did not send it (it must call send to this rank "
          "with the same tag and size)");
    }
    std::deque<std::vector<unsigned char>> &queue = g.mail[key];
    if (queue.front().size() != bytes) {
      broken_ = true;
      return invalidArgument(
          head + ": the message rank " + std::to_string(peer) + " sent has " +
          std::to_string(queue.front().size()) + " bytes, not " +
          std::to_string(bytes) +
          " (the two ranks disagree on its layout: the same artifact and "
          "options on every rank?)");
    }
    if (bytes > 0)
      std::memcpy(data, queue.front().data(), bytes);
    queue.pop_front();
    return Status::ok();
  }

  [[noreturn]] void abort(int exitCode, const std::string &message) override {
    if (gAborting.exchange(true)) {
      // Another rank is already ending the process.
      for (;;)
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    std::fflush(stdout);
    std::fprintf(stderr,
                 "%s\n[%s] aborting the job (every rank of this process, exit "
                 "%d)\n",
                 message.c_str(), where_.c_str(), exitCode);
    std::fflush(stderr);
    std::_Exit(exitCode);
  }

private:
  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(timeoutSeconds_));
  }

  Status usable(const std::string &head) const {
    if (broken_)
      return failedPrecondition(
          head + ": the communicator is unusable after an earlier failed "
                 "collective or message");
    return Status::ok();
  }

  /// Joins the group's current round with `mine` and waits for the round
  /// to complete.
  Status collective(Slot mine) {
    uint64_t seq = ++sequence_;
    std::string head = where_ + ": " + mine.desc + " (collective #" +
                       std::to_string(seq) + ")";
    GECKO_RETURN_IF_ERROR(usable(head));
    ThreadGroup &g = *group_;
    std::unique_lock<std::mutex> lock(g.mu);
    if (g.broken) {
      broken_ = true;
      return failedPrecondition(head +
                                ": the communicator is unusable after an "
                                "earlier failed collective: " +
                                g.brokenReason);
    }
    uint64_t round = g.round;
    Slot &slot = g.slots[size_t(rank_)];
    slot = std::move(mine);
    slot.here = true;
    if (++g.arrived == g.size) {
      Status s = complete(g);
      lock.unlock();
      g.cv.notify_all();
      if (!s.isOk())
        broken_ = true;
      return s.isOk() ? s : Status(s.code(), head + ": " + s.message());
    }
    bool done = g.cv.wait_until(
        lock, deadline(), [&] { return g.completed >= round || g.broken; });
    if (g.completed >= round)
      return Status::ok();
    broken_ = true;
    if (done) // The group broke while this rank waited.
      return Status(g.brokenCode, head + ": " + g.brokenReason);
    std::vector<int> missing;
    for (int r = 0; r < g.size; ++r)
      if (!g.slots[size_t(r)].here)
        missing.push_back(r);
    g.broken = true;
    g.brokenCode = StatusCode::kDeadlineExceeded;
    g.brokenReason = "rank " + std::to_string(rank_) + " timed out in " +
                     slot.desc + " (collective #" + std::to_string(seq) +
                     ") waiting for " + rankList(missing);
    lock.unlock();
    g.cv.notify_all();
    return deadlineExceeded(
        head + " did not complete within " + seconds(timeoutSeconds_) +
        " s (GECKO_COLLECTIVE_TIMEOUT): another rank died, hangs or stopped "
        "calling collectives: " +
        rankList(missing) + " of this process never reached it");
  }

  /// Run by the last rank to arrive, with the lock held: checks that the
  /// ranks agree, writes the result into every rank's buffer and opens the
  /// next round. On disagreement the group breaks and every waiting rank
  /// returns the error.
  static Status complete(ThreadGroup &g) {
    const Slot &first = g.slots[0];
    for (int r = 1; r < g.size; ++r) {
      const Slot &s = g.slots[size_t(r)];
      bool same = s.kind == first.kind && s.count == first.count &&
                  s.dtype == first.dtype && s.op == first.op &&
                  s.root == first.root;
      if (!same) {
        g.broken = true;
        g.brokenCode = StatusCode::kInvalidArgument;
        g.brokenReason = "the ranks called different collectives: rank 0 " +
                         first.desc + ", rank " + std::to_string(r) + " " +
                         s.desc;
        return invalidArgument(g.brokenReason);
      }
    }
    switch (first.kind) {
    case Kind::kBarrier:
      break;
    case Kind::kBroadcast: {
      const Slot &root = g.slots[size_t(first.root)];
      for (int r = 0; r < g.size; ++r)
        if (r != first.root && first.count > 0)
          std::memcpy(g.slots[size_t(r)].data, root.data, size_t(first.count));
      break;
    }
    case Kind::kAllReduce: {
      size_t bytes = size_t(first.count) * elementTypeSize(first.dtype);
      if (bytes == 0)
        break;
      g.scratch.resize(bytes);
      std::memcpy(g.scratch.data(), first.data, bytes);
      for (int r = 1; r < g.size; ++r) {
        const Slot &s = g.slots[size_t(r)];
        switch (first.dtype) {
        case ElementType::kF32:
          combine(reinterpret_cast<float *>(g.scratch.data()),
                  static_cast<const float *>(s.data), first.count, first.op);
          break;
        case ElementType::kF64:
          combine(reinterpret_cast<double *>(g.scratch.data()),
                  static_cast<const double *>(s.data), first.count, first.op);
          break;
        default:
          combine(reinterpret_cast<int64_t *>(g.scratch.data()),
                  static_cast<const int64_t *>(s.data), first.count, first.op);
          break;
        }
      }
      for (int r = 0; r < g.size; ++r)
        std::memcpy(g.slots[size_t(r)].data, g.scratch.data(), bytes);
      break;
    }
    }
    for (Slot &s : g.slots)
      s = Slot();
    g.arrived = 0;
    g.completed = g.round++;
    return Status::ok();
  }

  std::shared_ptr<ThreadGroup> group_;
  int rank_;
  std::string where_;
  bool broken_ = false;
};

} // namespace

StatusOr<std::vector<std::unique_ptr<Communicator>>>
createThreadCommunicators(int ranks) {
  if (ranks < 1 || ranks > kMaxThreadRanks)
    return invalidArgument("a group of ranks in threads needs 1 to " +
                           std::to_string(kMaxThreadRanks) + " ranks, not " +
                           std::to_string(ranks));
  auto group = std::make_shared<ThreadGroup>(ranks);
  std::vector<std::unique_ptr<Communicator>> comms;
  comms.reserve(size_t(ranks));
  for (int r = 0; r < ranks; ++r)
    comms.push_back(std::make_unique<ThreadCommunicator>(group, r));
  return comms;
}

} // namespace gecko
