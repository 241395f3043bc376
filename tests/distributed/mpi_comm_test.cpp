//===- mpi_comm_test.cpp - The MPI communicator across real ranks ---------===//
//
// Run under mpirun with 2 or more ranks (ctest label `distributed`). Every
// rank checks the results of all-reduce (sum, mean, max, min; f32, f64,
// i64), broadcast, barrier and the bucketed all-reduce against values it
// computes itself, then the ranks agree on the verdict: exit 0 only when
// every check passed on every rank.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/communicator.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace gecko;

namespace {

int failures = 0;

void check(bool ok, const std::string &what, int rank) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "rank %d: FAIL %s\n", rank, what.c_str());
  }
}

void checkOk(const Status &s, const std::string &what, int rank) {
  check(s.isOk(), what + ": " + s.toString(), rank);
}

} // namespace

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

  // Buckets: three tensors, rank-dependent values, 40-byte buckets (10 f32),
  // so tensors span buckets; the mean must equal the mean computed here.
  std::vector<std::vector<float>> ts = {
      std::vector<float>(17), std::vector<float>(4), std::vector<float>(23)};
  std::vector<BucketTensor> bt;
  for (size_t k = 0; k < ts.size(); ++k) {
    for (size_t i = 0; i < ts[k].size(); ++i)
      ts[k][i] = float(0.25 * double(r) + double(k) + 0.001 * double(i));
    bt.push_back({ts[k].data(), int64_t(ts[k].size()), ElementType::kF32});
  }
  StatusOr<int64_t> buckets = bucketedAllReduce(c, bt, 40, true, "buckets");
  checkOk(buckets.status(), "bucketed all-reduce", r);
  check(buckets.isOk() && *buckets == 5, "5 buckets of 10 for 44 floats", r);
  for (size_t k = 0; k < ts.size(); ++k)
    for (size_t i = 0; i < ts[k].size(); ++i) {
      double want = 0;
      for (int q = 0; q < n; ++q)
        want += double(float(0.25 * double(q) + double(k) + 0.001 * double(i)));
      want /= n;
      check(std::fabs(double(ts[k][i]) - want) <= 1e-6 * std::fabs(want) + 1e-7,
            "bucketed mean element", r);
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
