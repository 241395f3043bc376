//===- thread_comm_test.cpp - The "threads" communicator group ------------===//
//
// ctest label `distributed`; needs no MPI. `gecko_thread_comm_test N` runs
// N ranks as threads of this process, each checking against values it
// computes itself: all-reduce (sum, mean, max, min; f32, f64, i64; results
// bitwise equal across ranks and equal to the sum in rank order), broadcast
// from every root, barrier, the bucketed all-reduce with tensors spanning
// buckets, send/recv in a chain forward and back (48 B and 4 MiB), several
// messages of one tag in order, a message to the rank itself, and the
// errors: bad arguments, a message of the wrong size, ranks that call
// different collectives, a receive that times out, a rank that never joins
// a collective (DeadlineExceeded within the timeout naming the missing
// rank, then every later collective fails at once), and abort() ending the
// process with its message and exit code (in a forked child).
//
//===----------------------------------------------------------------------===//

#include "comm_test_checks.h"
#include "gecko/runtime/communicator.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace gecko;
using namespace gecko::commtest;

namespace {

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// Runs `body(comm)` on every rank of a fresh group of `n`, one thread
/// each, and joins them.
template <typename Body> void onRanks(int n, double timeout, Body body) {
  StatusOr<std::vector<std::unique_ptr<Communicator>>> made =
      createThreadCommunicators(n);
  checkOk(made.status(), "createThreadCommunicators", -1);
  if (!made.isOk())
    return;
  std::vector<std::thread> threads;
  for (std::unique_ptr<Communicator> &c : *made) {
    c->setTimeoutSeconds(timeout);
    threads.emplace_back([&body, &c] { body(*c); });
  }
  for (std::thread &t : threads)
    t.join();
}

/// Rank r's f32 values: not exactly representable sums, so the order of
/// the additions shows in the result.
float valueOf(int r, size_t i) {
  return float(0.1 * double(r + 1) + 1e-3 * double(i) + 1.0 / double(r + 3));
}

void collectives(Communicator &c) {
  int r = c.rank(), n = c.size();
  check(std::string(c.backend()) == "threads", "backend", r);

  // f32 sum: equal to the sum in rank order, bitwise.
  std::vector<float> f(1000);
  for (size_t i = 0; i < f.size(); ++i)
    f[i] = valueOf(r, i);
  checkOk(c.allReduce(f.data(), int64_t(f.size()), ElementType::kF32,
                      ReduceOp::kSum, "f32 sum"),
          "f32 sum", r);
  bool exact = true;
  for (size_t i = 0; i < f.size(); ++i) {
    float want = valueOf(0, i);
    for (int q = 1; q < n; ++q)
      want += valueOf(q, i);
    exact = exact && std::memcmp(&want, &f[i], sizeof(float)) == 0;
  }
  check(exact, "f32 sum equals the sum in rank order bitwise", r);

  std::vector<double> d = {double(r), 1.0, -2.0 * r};
  checkOk(c.allReduceMean(d.data(), 3, ElementType::kF64, "f64 mean"),
          "f64 mean", r);
  check(d[0] == (n - 1) / 2.0 && d[1] == 1.0 && d[2] == -(n - 1.0),
        "f64 mean values", r);
  std::vector<double> dm = {double(r), -double(r)};
  checkOk(c.allReduce(dm.data(), 2, ElementType::kF64, ReduceOp::kMax, "max"),
          "f64 max", r);
  check(dm[0] == n - 1 && dm[1] == 0, "f64 max values", r);
  float fm = float(r) - 0.5f;
  checkOk(c.allReduce(&fm, 1, ElementType::kF32, ReduceOp::kMin, "min"),
          "f32 min", r);
  check(fm == -0.5f, "f32 min value", r);
  int64_t mx = r * 10 + (int64_t(1) << 40), mn = mx;
  checkOk(c.allReduce(&mx, 1, ElementType::kI64, ReduceOp::kMax, "max"),
          "i64 max", r);
  checkOk(c.allReduce(&mn, 1, ElementType::kI64, ReduceOp::kMin, "min"),
          "i64 min", r);
  check(mx == (n - 1) * 10 + (int64_t(1) << 40) && mn == int64_t(1) << 40,
        "i64 max/min values", r);
  // An empty all-reduce is a valid rendezvous.
  checkOk(c.allReduce(nullptr, 0, ElementType::kF32, ReduceOp::kSum, "none"),
          "empty all-reduce", r);

  // Broadcast from every root.
  for (int root = 0; root < n; ++root) {
    char text[16] = {0};
    if (r == root)
      std::snprintf(text, sizeof(text), "from %d", r);
    checkOk(c.broadcast(text, sizeof(text), root, "text"), "broadcast", r);
    check(std::string(text) == "from " + std::to_string(root),
          "broadcast value '" + std::string(text) + "'", r);
  }
  checkOk(c.barrier("middle"), "barrier", r);

  checkBucketedMean(c, r, n);
  // 7 all-reduces (f32 sum, f64 mean, f64 and i64 max, f32 and i64 min,
  // an empty one), n broadcasts, 1 barrier and 5 buckets.
  check(c.collectivesStarted() == uint64_t(13 + n),
        "collectives counted: " + std::to_string(c.collectivesStarted()), r);
}

void messages(Communicator &c) {
  int r = c.rank(), n = c.size();
  checkMessageChain(c);
  // Three messages with one tag arrive in order; another tag is separate.
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  for (int k = 0; k < 3; ++k) {
    int64_t x = r * 100 + k;
    checkOk(c.send(&x, 8, next, 5, "ordered"), "ordered send", r);
  }
  int64_t other = -r;
  checkOk(c.send(&other, 8, next, 6, "other tag"), "other-tag send", r);
  int64_t got = 0;
  checkOk(c.recv(&got, 8, prev, 6, "other tag"), "other-tag recv", r);
  check(got == -prev, "other-tag value", r);
  for (int k = 0; k < 3; ++k) {
    checkOk(c.recv(&got, 8, prev, 5, "ordered"), "ordered recv", r);
    check(got == prev * 100 + k,
          "message " + std::to_string(k) + " in order: " + std::to_string(got),
          r);
  }

  // A message to the rank itself, and argument errors.
  double self = 10.0 + r, selfBack = 0;
  checkOk(c.send(&self, 8, r, 3, "self"), "send to self", r);
  checkOk(c.recv(&selfBack, 8, r, 3, "self"), "recv from self", r);
  check(selfBack == self, "self message value", r);
  checkError(c.send(&self, 8, n, 0, "x"), StatusCode::kInvalidArgument,
             "send of 8 bytes to rank " + std::to_string(n) +
                 " with tag 0 (x): no rank " + std::to_string(n) +
                 " in a job of " + std::to_string(n) + " ranks",
             "bad peer", r);
  checkError(c.recv(&self, 8, 0, 40000, "x"), StatusCode::kInvalidArgument,
             "the tag must be in [0, 32767]", "bad tag", r);
  checkError(c.allReduce(&got, 1, ElementType::kI64, ReduceOp::kSum, "i64"),
             StatusCode::kInvalidArgument, "dtype i64 is not supported",
             "i64 sum", r);
  checkError(c.allReduce(&self, -1, ElementType::kF64, ReduceOp::kSum, "neg"),
             StatusCode::kInvalidArgument, "negative count", "negative count",
             r);
  checkError(c.broadcast(&self, 8, n, "far"), StatusCode::kInvalidArgument,
             "broadcast (8 bytes from rank " + std::to_string(n) +
                 ") of far: no such rank",
             "bad root", r);
  // The argument errors did not break the group.
  checkOk(c.barrier("after the argument errors"), "barrier after errors", r);
}

void wrongSize(Communicator &c) {
  int r = c.rank();
  std::vector<char> buf(16);
  if (r == 0)
    checkOk(c.send(buf.data(), 16, 1, 9, "sixteen"), "send 16", r);
  if (r == 1) {
    checkError(c.recv(buf.data(), 8, 0, 9, "eight"),
               StatusCode::kInvalidArgument,
               "recv of 8 bytes from rank 0 with tag 9 (eight) (message "
               "#1): the message rank 0 sent has 16 bytes, not 8",
               "size mismatch", r);
    checkError(c.recv(buf.data(), 16, 0, 9, "again"),
               StatusCode::kFailedPrecondition,
               "unusable after an earlier failed collective or message",
               "unusable after the size mismatch", r);
  }
}

void recvTimeout(Communicator &c) {
  if (c.rank() != 1)
    return;
  std::vector<char> buf(16);
  auto t0 = std::chrono::steady_clock::now();
  checkError(c.recv(buf.data(), 16, 0, 11, "never sent"),
             StatusCode::kDeadlineExceeded,
             "recv of 16 bytes from rank 0 with tag 11 (never sent) "
             "(message #1) did not complete within 0.3 s "
             "(GECKO_COLLECTIVE_TIMEOUT): rank 0 died, hangs or did not "
             "send it",
             "recv timeout", 1);
  double waited = secondsSince(t0);
  check(waited >= 0.3 && waited < 5,
        "recv timeout took " + std::to_string(waited) + " s", 1);
}

void differentCollectives(Communicator &c) {
  int r = c.rank();
  float x = 1;
  Status s =
      r == 0 ? c.allReduce(&x, 1, ElementType::kF32, ReduceOp::kSum, "the loss")
             : c.broadcast(&x, 4, 0, "the flag");
  checkError(s, StatusCode::kInvalidArgument,
             "the ranks called different collectives: rank 0 all_reduce "
             "(sum, f32 x 1) of the loss, rank 1 broadcast (4 bytes from "
             "rank 0) of the flag",
             "mismatch", r);
  checkError(c.barrier("after"), StatusCode::kFailedPrecondition,
             "unusable after an earlier failed collective", "after mismatch",
             r);
}

/// Ranks of neverJoins that have returned from their collective.
std::atomic<int> gaveUp{0};

/// The last rank never joins the all-reduce: every other rank times out
/// within the timeout, naming it; then the last rank's collective fails at
/// once.
void neverJoins(Communicator &c) {
  int r = c.rank(), n = c.size();
  std::vector<float> g(8, 1.0f);
  if (r == n - 1) {
    // Wait until the others have given up (at most 10 s), then try.
    auto start = std::chrono::steady_clock::now();
    while (gaveUp.load() < n - 1 && secondsSince(start) < 10)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    check(gaveUp.load() == n - 1, "the other ranks gave up", r);
    auto t0 = std::chrono::steady_clock::now();
    checkError(c.allReduce(g.data(), 8, ElementType::kF32, ReduceOp::kSum,
                           "the gradients bucket 1/1"),
               StatusCode::kFailedPrecondition,
               "the communicator is unusable after an earlier failed "
               "collective: rank ",
               "late rank", r);
    check(secondsSince(t0) < 0.1, "the late rank fails at once", r);
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  Status s = c.allReduce(g.data(), 8, ElementType::kF32, ReduceOp::kSum,
                         "the gradients bucket 1/1");
  double waited = secondsSince(t0);
  ++gaveUp;
  std::string missing = "rank " + std::to_string(n - 1);
  if (r == 0)
    checkError(s, StatusCode::kDeadlineExceeded,
               "rank 0 of " + std::to_string(n) +
                   " (host ", // then the host, pid and "thread rank"
               "who timed out", r);
  // The first rank to time out names the missing rank; any other rank still
  // waiting then fails with that reason.
  check((s.code() == StatusCode::kDeadlineExceeded &&
         s.message().find(
             "all_reduce (sum, f32 x 8) of the gradients bucket 1/1 "
             "(collective #1) did not complete within 0.5 s "
             "(GECKO_COLLECTIVE_TIMEOUT): another rank died, hangs or "
             "stopped calling collectives: " +
             missing + " of this process never reached it") !=
             std::string::npos) ||
            s.message().find("waiting for " + missing) != std::string::npos,
        "timeout names the missing rank: " + s.toString(), r);
  check(waited >= 0.4 && waited < 3,
        "timeout after " + std::to_string(waited) + " s", r);
}

/// abort() in a forked child: the process exits with the code and prints
/// the message.
void abortEndsProcess() {
  int fds[2];
  if (::pipe(fds) != 0) {
    check(false, "pipe", -1);
    return;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    StatusOr<std::vector<std::unique_ptr<Communicator>>> made =
        createThreadCommunicators(2);
    if (!made.isOk())
      std::_Exit(99);
    Communicator *other = (*made)[0].get();
    // Rank 0 waits in a barrier that never completes; rank 1 aborts.
    std::thread waiter([other] { (void)other->barrier("forever"); });
    waiter.detach();
    (*made)[1]->abort(3, "gecko-run: error: rank 1 of 2: boom");
  }
  ::close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t k; (k = ::read(fds[0], buf, sizeof(buf))) > 0;)
    text.append(buf, size_t(k));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 3,
        "abort exit status " + std::to_string(status), -1);
  check(text.find("gecko-run: error: rank 1 of 2: boom\n[rank 1 of 2 (host ") !=
                std::string::npos &&
            text.find("aborting the job (every rank of this process, exit "
                      "3)") != std::string::npos,
        "abort message: " + text, -1);
}

} // namespace

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2;
  if (n < 2) {
    std::fprintf(stderr, "usage: gecko_thread_comm_test RANKS (>= 2)\n");
    return 2;
  }
  checkError(createThreadCommunicators(0).status(),
             StatusCode::kInvalidArgument, "needs 1 to 1024 ranks, not 0",
             "zero ranks", -1);
  checkError(createCommunicator("threads").status(),
             StatusCode::kInvalidArgument, "createThreadCommunicators",
             "threads through createCommunicator", -1);
  onRanks(1, 1, [](Communicator &c) {
    float x = 2;
    checkOk(c.allReduce(&x, 1, ElementType::kF32, ReduceOp::kSum, "one"),
            "one-rank all-reduce", 0);
    check(x == 2, "one-rank value", 0);
  });
  onRanks(n, 60, collectives);
  onRanks(n, 60, messages);
  onRanks(2, 60, wrongSize);
  onRanks(2, 0.3, recvTimeout);
  onRanks(2, 60, differentCollectives);
  auto t0 = std::chrono::steady_clock::now();
  onRanks(n, 0.5, neverJoins);
  check(secondsSince(t0) < 5, "the never-joins case ended in time", -1);
  abortEndsProcess();
  int bad = failures.load();
  std::printf("thread communicator test on %d ranks: %s (%d failures)\n", n,
              bad == 0 ? "PASS" : "FAIL", bad);
  return bad == 0 ? 0 : 1;
}
