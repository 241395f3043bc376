//===- LoweringTestUtils.h - Helpers of the lowering oracle tests -*- C++
//-*-===//
//
// Deterministic random inputs and an element-wise comparison that reports
// the worst element, shared by the Lower*Test.cpp files.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TESTS_UNIT_COMPILER_LOWERINGTESTUTILS_H
#define GECKO_TESTS_UNIT_COMPILER_LOWERINGTESTUTILS_H

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace gecko::testing {

/// n values uniform in [lo, hi), deterministic in `seed`. Values are rounded
/// to float so that f32 inputs and the fp64 oracle see the same numbers.
inline std::vector<double> randomValues(int64_t n, uint64_t seed,
                                        double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double &x : v)
    x = double(float(dist(rng)));
  return v;
}

/// Asserts |actual - expected| <= atol + rtol * |expected| element-wise and
/// reports the worst offender with its flat index.
inline ::testing::AssertionResult allClose(const std::vector<double> &actual,
                                           const std::vector<double> &expected,
                                           double rtol, double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected " << expected.size();
  double worst = 0.0;
  size_t worstIndex = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double excess = std::fabs(actual[i] - expected[i]) -
                    (atol + rtol * std::fabs(expected[i]));
    if (std::isnan(actual[i]) != std::isnan(expected[i]))
      excess = INFINITY;
    if (excess > worst) {
      worst = excess;
      worstIndex = i;
    }
  }
  if (worst > 0.0)
    return ::testing::AssertionFailure()
           << "element " << worstIndex << ": got " << actual[worstIndex]
           << ", expected " << expected[worstIndex] << " (rtol " << rtol
           << ", atol " << atol << ")";
  return ::testing::AssertionSuccess();
}

} // namespace gecko::testing

#endif // GECKO_TESTS_UNIT_COMPILER_LOWERINGTESTUTILS_H
