//===- comm_test_checks.h - Checks shared by the communicator tests
//--------===//
//
// The MPI, NCCL and thread communicator tests (each its own executable)
// count failed checks per process and print each with the rank that saw
// it; ranks in threads may check at the same time. They also share the
// bucketed all-reduce check, whose expected means are computed here.
//
//===----------------------------------------------------------------------===//
#ifndef GECKO_TESTS_DISTRIBUTED_COMM_TEST_CHECKS_H
#define GECKO_TESTS_DISTRIBUTED_COMM_TEST_CHECKS_H

#include "gecko/runtime/communicator.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace gecko::commtest {

/// Failed checks of this process (all its ranks).
inline std::atomic<int> failures{0};

inline void check(bool ok, const std::string &what, int rank) {
  static std::mutex printMu;
  if (ok)
    return;
  ++failures;
  std::lock_guard<std::mutex> lock(printMu);
  std::fprintf(stderr, "rank %d: FAIL %s\n", rank, what.c_str());
}

inline void checkOk(const Status &s, const std::string &what, int rank) {
  check(s.isOk(), what + ": " + s.toString(), rank);
}

/// `s` failed with `code` and its message contains `needle`.
inline void checkError(const Status &s, StatusCode code,
                       const std::string &needle, const std::string &what,
                       int rank) {
  check(s.code() == code && s.message().find(needle) != std::string::npos,
        what + ": expected an error containing '" + needle + "', got " +
            s.toString(),
        rank);
}

/// bucketedAllReduce (mean) of three f32 tensors of 17, 4 and 23
/// rank-dependent elements in 40-byte buckets (10 f32), so tensors span
/// buckets: 5 buckets, and every element the mean over the `n` ranks.
inline void checkBucketedMean(Communicator &c, int r, int n) {
  auto value = [](int rank, size_t k, size_t i) {
    return float(0.25 * double(rank) + double(k) + 0.001 * double(i));
  };
  std::vector<std::vector<float>> ts = {
      std::vector<float>(17), std::vector<float>(4), std::vector<float>(23)};
  std::vector<BucketTensor> bt;
  for (size_t k = 0; k < ts.size(); ++k) {
    for (size_t i = 0; i < ts[k].size(); ++i)
      ts[k][i] = value(r, k, i);
    bt.push_back({ts[k].data(), int64_t(ts[k].size()), ElementType::kF32});
  }
  StatusOr<int64_t> buckets = bucketedAllReduce(c, bt, 40, true, "buckets");
  checkOk(buckets.status(), "bucketed all-reduce", r);
  check(buckets.isOk() && *buckets == 5, "5 buckets of 10 for 44 floats", r);
  for (size_t k = 0; k < ts.size(); ++k)
    for (size_t i = 0; i < ts[k].size(); ++i) {
      double want = 0;
      for (int q = 0; q < n; ++q)
        want += double(value(q, k, i));
      want /= n;
      check(std::fabs(double(ts[k][i]) - want) <= 1e-6 * std::fabs(want) + 1e-7,
            "bucketed mean element", r);
    }
}

/// What rank r forwards in the chain of checkMessageChain: the sum over
/// q = 0..r of (q + 1) * (i % 1000) (exact in f32).
inline std::vector<float> chainValues(size_t count, int r) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i)
    v[i] = float((r + 1) * (r + 2) / 2 * int(i % 1000));
  return v;
}

/// Point-to-point in a chain, as chunk parallelism uses it: rank r
/// receives from r - 1, adds its part and sends to r + 1 (tag 1); the last
/// rank sends the negated sum back down the chain (tag 2). 12 floats
/// (eager) and 4 MiB (MPI hands it over only once the receiver is there).
inline void checkMessageChain(Communicator &c) {
  int r = c.rank(), n = c.size();
  for (size_t count : {size_t(12), size_t(1) << 20}) {
    std::string size = std::to_string(count * 4) + " bytes";
    std::vector<float> v(count);
    if (r > 0) {
      checkOk(c.recv(v.data(), count * 4, r - 1, 1, "chain"),
              "chain recv " + size, r);
      check(v == chainValues(count, r - 1), "chain forward values " + size, r);
    }
    for (size_t i = 0; i < count; ++i)
      v[i] += float((r + 1) * int(i % 1000));
    if (r + 1 < n)
      checkOk(c.send(v.data(), count * 4, r + 1, 1, "chain"),
              "chain send " + size, r);
    std::vector<float> back(count);
    if (r + 1 < n)
      checkOk(c.recv(back.data(), count * 4, r + 1, 2, "chain back"),
              "chain back recv " + size, r);
    else
      for (size_t i = 0; i < count; ++i)
        back[i] = -v[i];
    std::vector<float> want = chainValues(count, n - 1);
    for (float &x : want)
      x = -x;
    check(back == want, "chain backward values " + size, r);
    if (r > 0)
      checkOk(c.send(back.data(), count * 4, r - 1, 2, "chain back"),
              "chain back send " + size, r);
  }
}

} // namespace gecko::commtest

#endif // GECKO_TESTS_DISTRIBUTED_COMM_TEST_CHECKS_H
