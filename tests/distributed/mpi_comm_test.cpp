//===- mpi_comm_test.cpp - The MPI communicator across real ranks ---------===//
//
// Run under mpirun with 2 or more ranks (ctest label `distributed`). Every
// rank checks the results of all-reduce (sum, mean, max, min; f32, f64,
// i64), broadcast, barrier, the bucketed all-reduce and point-to-point
// send/recv (a chain 0 -> 1 -> ... -> n-1 and back, as chunk parallelism
// passes the stream state and its cotangent, with a small and a 4 MiB
// message; a message to the rank itself; errors for a wrong size, a bad
// peer or tag and a receive that times out) against values it computes
// itself, then the ranks agree on the verdict: exit 0 only when every check
// passed on every rank.
//
//===----------------------------------------------------------------------===//

#include "comm_test_checks.h"
#include "gecko/runtime/communicator.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace gecko;
using namespace gecko::commtest;

namespace {} // namespace

int main() {
  StatusOr<std::unique_ptr<Communicator>> made = createCommunicator("mpi");
  if (!made.isOk()) {
    std::fprintf(stderr, "%s\n", made.status().toString().c_str());
    return 1;
  }
  Communicator &c = **made;
  c.setTimeoutSeconds(60);
  int r = c.rank(), n = c.size();
  check(std::string(c.backend()) == "mpi", "backend", r);
  check(n >= 2, "at least 2 ranks (run under mpirun -np 2)", r);

  // Sum and mean of f32: element i of rank r is (r + 1) * (i + 1).
  std::vector<float> f(1000);
  for (size_t i = 0; i < f.size(); ++i)
    f[i] = float((r + 1) * (int(i) + 1));
  checkOk(c.allReduce(f.data(), int64_t(f.size()), ElementType::kF32,
                      ReduceOp::kSum, "f32 sum"),
          "f32 sum", r);
  double ranksSum = n * (n + 1) / 2.0;
  for (size_t i = 0; i < f.size(); ++i)
    check(f[i] == float(ranksSum * double(i + 1)), "f32 sum element", r);
  std::vector<double> d = {double(r), 1.0, -2.0 * r};
  checkOk(c.allReduceMean(d.data(), 3, ElementType::kF64, "f64 mean"),
          "f64 mean", r);
  check(d[0] == (n - 1) / 2.0 && d[1] == 1.0 && d[2] == -(n - 1.0),
        "f64 mean values", r);
  int64_t mx = r * 10, mn = r * 10;
  checkOk(c.allReduce(&mx, 1, ElementType::kI64, ReduceOp::kMax, "max"),
          "i64 max", r);
  checkOk(c.allReduce(&mn, 1, ElementType::kI64, ReduceOp::kMin, "min"),
          "i64 min", r);
  check(mx == (n - 1) * 10 && mn == 0, "i64 max/min values", r);

  // Broadcast from the last rank.
  char text[16] = {0};
  if (r == n - 1)
    std::snprintf(text, sizeof(text), "from %d", r);
  checkOk(c.broadcast(text, sizeof(text), n - 1, "text"), "broadcast", r);
  check(std::string(text) == "from " + std::to_string(n - 1),
        "broadcast value '" + std::string(text) + "'", r);
  checkOk(c.barrier("middle"), "barrier", r);

  checkBucketedMean(c, r, n);

  checkMessageChain(c);
  uint64_t sent = c.messagesStarted();
  check(sent == uint64_t(2 * ((r > 0) + (r + 1 < n))) * 2,
        "messages counted: " + std::to_string(sent), r);

  // A message to the rank itself, and argument errors.
  double self = 10.0 + r, back = 0;
  checkOk(c.send(&self, 8, r, 3, "self"), "send to self", r);
  checkOk(c.recv(&back, 8, r, 3, "self"), "recv from self", r);
  check(back == self, "self message value", r);
  checkError(c.send(&self, 8, n, 0, "x"), StatusCode::kInvalidArgument,
             "send of 8 bytes to rank " + std::to_string(n) +
                 " with tag 0 (x): no rank " + std::to_string(n) +
                 " in a job of " + std::to_string(n) + " ranks",
             "bad peer", r);
  checkError(c.recv(&self, 8, 0, 40000, "x"), StatusCode::kInvalidArgument,
             "the tag must be in [0, 32767]", "bad tag", r);

  // A message of the wrong size, and a receive that times out, each on a
  // communicator of its own (either leaves it unusable).
  StatusOr<std::unique_ptr<Communicator>> sized = createCommunicator("mpi");
  StatusOr<std::unique_ptr<Communicator>> late = createCommunicator("mpi");
  checkOk(sized.status(), "second communicator", r);
  checkOk(late.status(), "third communicator", r);
  if (sized.isOk() && late.isOk()) {
    std::vector<char> buf(16);
    if (r == 0)
      checkOk((*sized)->send(buf.data(), 16, 1, 9, "sixteen"), "send 16", r);
    if (r == 1)
      checkError((*sized)->recv(buf.data(), 8, 0, 9, "eight"),
                 StatusCode::kInvalidArgument,
                 "recv of 8 bytes from rank 0 with tag 9 (eight) (message "
                 "#1): the message rank 0 sent has 16 bytes, not 8",
                 "size mismatch", r);
    if (r == 1) {
      (*late)->setTimeoutSeconds(0.3);
      auto t0 = std::chrono::steady_clock::now();
      checkError((*late)->recv(buf.data(), 16, 0, 11, "never sent"),
                 StatusCode::kDeadlineExceeded,
                 "recv of 16 bytes from rank 0 with tag 11 (never sent) "
                 "(message #1) did not complete within 0.3 s "
                 "(GECKO_COLLECTIVE_TIMEOUT): rank 0 died, hangs or did not "
                 "send it",
                 "recv timeout", r);
      double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      check(waited >= 0.3 && waited < 5,
            "recv timeout took " + std::to_string(waited) + " s", r);
      checkError((*late)->recv(buf.data(), 16, 0, 11, "again"),
                 StatusCode::kFailedPrecondition,
                 "unusable after an earlier failed collective",
                 "unusable after the timeout", r);
    }
  }

  // Everyone agrees on the verdict.
  double bad = failures;
  checkOk(c.allReduce(&bad, 1, ElementType::kF64, ReduceOp::kSum, "verdict"),
          "verdict", r);
  if (r == 0)
    std::printf("mpi communicator test on %d ranks: %s (%d collectives)\n", n,
                bad == 0 ? "PASS" : "FAIL", int(c.collectivesStarted()));
  return bad == 0 ? 0 : 1;
}
