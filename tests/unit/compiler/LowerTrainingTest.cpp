//===- LowerTrainingTest.cpp - Compiled training ops vs the fp64 oracle ---===//
//
// See LowerBasicTest.cpp for the method. Tolerances:
// - cross_entropy: the loss is a mean of B*L row losses, each a max-shifted
//   logsumexp over V <= 50 terms accumulated in f32; against the exact
//   oracle that is a few 1e-7 relative per row, so f32 is held to 1e-6
//   relative (plus 1e-6 absolute, the loss can be small); f64 to 1e-12.
// - cross_entropy_grad: compiled f64 against central finite differences
//   (h = 1e-6) of the fp64 loss, per tensor max|error| / max|fd| <= 1e-6;
//   compiled f32 against compiled f64 per tensor 1e-5.
// - adamw (f32 only, verifier C2): against a direct fp64 reference of the
//   PyTorch formulas. Each element goes through ~10 f32 operations, the
//   step m/(sqrt(v)+eps) amplifies nothing (|m|/sqrt(v) <= ~3), so param'
//   is held to 1e-6 relative plus 1e-7 * lr absolute, m' and v' to 1e-6
//   relative.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

namespace gecko::testing {
namespace {

using Vec = std::vector<double>;
using Shape = std::vector<int64_t>;

std::string tensorType(const Shape &shape, const std::string &element) {
  std::ostringstream os;
  os << "tensor<";
  for (int64_t d : shape)
    os << d << "x";
  os << element << ">";
  return os.str();
}

JitBuffer floatBuffer(const std::string &type, const Shape &shape,
                      const Vec &values) {
  return type == "f32" ? JitBuffer::f32(shape, values)
                       : JitBuffer::f64(shape, values);
}

std::vector<JitBuffer> runF(const std::string &source,
                            const std::vector<JitBuffer> &args,
                            size_t numResults) {
  std::string error;
  std::vector<JitBuffer> out = compileAndRun(source, "f", args, error);
  EXPECT_EQ(out.size(), numResults) << error << "\n" << source;
  if (out.size() != numResults)
    return {};
  return out;
}

::testing::AssertionResult relativeClose(const Vec &actual, const Vec &expected,
                                         double tol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != " << expected.size();
  double maxError = 0.0, maxRef = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double e = std::fabs(actual[i] - expected[i]);
    if (!(e <= maxError)) {
      maxError = e;
      worst = i;
    }
    maxRef = std::max(maxRef, std::fabs(expected[i]));
  }
  if (!(maxError <= tol * maxRef))
    return ::testing::AssertionFailure()
           << "relative error " << maxError / maxRef << " > " << tol
           << " (element " << worst << ": " << actual[worst] << " vs "
           << expected[worst] << ")";
  return ::testing::AssertionSuccess();
}

//===----------------------------------------------------------------------===//
// cross_entropy / cross_entropy_grad
//===----------------------------------------------------------------------===//

/// Mean over all rows of logsumexp - logit[target], rows whose target is
/// `ignore` contributing 0 (docs/dialect.md; the oracle fixes ignore = -100).
double crossEntropyReference(const Vec &logits, const std::vector<int64_t> &t,
                             int64_t rows, int64_t V, int64_t ignore) {
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    if (t[r] == ignore)
      continue;
    const double *l = &logits[r * V];
    double m = *std::max_element(l, l + V);
    double sum = 0.0;
    for (int64_t v = 0; v < V; ++v)
      sum += std::exp(l[v] - m);
    total += m + std::log(sum) - l[t[r]];
  }
  return total / double(rows);
}

struct CeCase {
  int64_t B, L, V;
  int64_t ignore; // ignore_index attribute
  double spread;  // logits uniform in [-spread, spread)
  int64_t numIgnored;
};

const CeCase kCeCases[] = {
    {2, 5, 11, -100, 4.0, 2},  {1, 1, 3, -100, 1.0, 0},
    {3, 4, 50, -100, 30.0, 3}, {2, 3, 7, 2, 5.0, 0},
    {1, 6, 9, -100, 5.0, 6}, // every target ignored: loss 0
};

std::vector<int64_t> ceTargets(const CeCase &c, uint64_t seed) {
  int64_t rows = c.B * c.L;
  std::vector<int64_t> t;
  for (double v : randomValues(rows, seed, 0.0, double(c.V)))
    t.push_back(std::min<int64_t>(c.V - 1, int64_t(v)));
  for (int64_t i = 0; i < c.numIgnored; ++i)
    t[(i * 5) % rows] = c.ignore;
  return t;
}

std::string ceSource(const CeCase &c, const std::string &type) {
  std::string logits = tensorType({c.B, c.L, c.V}, type),
              targets = tensorType({c.B, c.L}, "i64"),
              loss = tensorType({}, type);
  std::string ignore =
      c.ignore == -100 ? "" : " ignore_index(" + std::to_string(c.ignore) + ")";
  return "func.func @f(%l: " + logits + ", %t: " + targets + ") -> " + loss +
         " {\n  %loss = gecko.cross_entropy %l, %t" + ignore + " : " + logits +
         ", " + targets + "\n  return %loss : " + loss + "\n}";
}

TEST(LowerTraining, CrossEntropyMatchesOracle) {
  for (const CeCase &c : kCeCases)
    for (const char *type : {"f32", "f64"}) {
      int64_t rows = c.B * c.L;
      Vec logits = randomValues(rows * c.V, 111, -c.spread, c.spread);
      std::vector<int64_t> targets = ceTargets(c, 112);
      auto out = runF(
          ceSource(c, type),
          {floatBuffer(type, {c.B, c.L, c.V}, logits),
           JitBuffer::i64({c.B, c.L}, Vec(targets.begin(), targets.end()))},
          1);
      ASSERT_FALSE(out.empty());
      double expected =
          crossEntropyReference(logits, targets, rows, c.V, c.ignore);
      if (c.ignore == -100)
        EXPECT_DOUBLE_EQ(expected,
                         oracle::crossEntropyMean(logits, targets, rows, c.V));
      double tol = std::string(type) == "f32" ? 1e-6 : 1e-12;
      EXPECT_TRUE(allClose(out[0].values, {expected}, tol, tol))
          << type << " V " << c.V << " ignore " << c.ignore;
    }
}

/// v rounded to the nearest bf16 (ties to even), as a double.
double roundToBf16(double v) {
  float f = float(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  bits &= 0xFFFF0000u;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bf16 logits: the statistics are f32 and the loss is an f32 tensor, so on
// bf16-exact logits the loss is within f32 rounding (1e-6) of the exact one.
TEST(LowerTraining, CrossEntropyBf16ComputesInF32) {
  CeCase c{2, 3, 40, -100, 6.0, 1};
  Vec logits = randomValues(c.B * c.L * c.V, 114, -c.spread, c.spread);
  for (double &v : logits)
    v = roundToBf16(v);
  std::vector<int64_t> targets = ceTargets(c, 115);
  std::string l = tensorType({c.B, c.L, c.V}, "bf16"),
              t = tensorType({c.B, c.L}, "i64");
  std::string source = "func.func @f(%l: " + l + ", %t: " + t +
                       ") -> tensor<f32> {\n  %loss = gecko.cross_entropy %l, "
                       "%t : " +
                       l + ", " + t + "\n  return %loss : tensor<f32>\n}";
  auto out =
      runF(source,
           {JitBuffer{"bf16", {c.B, c.L, c.V}, logits},
            JitBuffer::i64({c.B, c.L}, Vec(targets.begin(), targets.end()))},
           1);
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(allClose(
      out[0].values,
      {oracle::crossEntropyMean(logits, targets, c.B * c.L, c.V)}, 1e-6, 1e-6));
}

// Non-ignored targets outside [0, V) are a run-time error reported by the
// runtime; the lowering clamps them into [0, V-1] so that the logit read is
// never out of bounds.
TEST(LowerTraining, CrossEntropyClampsOutOfRangeTargets) {
  CeCase c{1, 4, 5, -100, 2.0, 0};
  Vec logits = randomValues(4 * 5, 113, -2.0, 2.0);
  std::vector<int64_t> targets = {-3, 9, 2, -100};
  auto out = runF(ceSource(c, "f64"),
                  {JitBuffer::f64({1, 4, 5}, logits),
                   JitBuffer::i64({1, 4}, Vec(targets.begin(), targets.end()))},
                  1);
  ASSERT_FALSE(out.empty());
  std::vector<int64_t> clamped = {0, 4, 2, -100};
  EXPECT_TRUE(allClose(out[0].values,
                       {crossEntropyReference(logits, clamped, 4, 5, -100)},
                       1e-12, 1e-12));
}

TEST(LowerTraining, CrossEntropyGradMatchesFiniteDifferences) {
  for (const CeCase &c : kCeCases) {
    int64_t rows = c.B * c.L;
    Vec logits = randomValues(rows * c.V, 121, -c.spread, c.spread);
    std::vector<int64_t> targets = ceTargets(c, 122);
    const double dloss = 1.7;
    std::vector<Vec> results;
    for (const char *type : {"f32", "f64"}) {
      std::string l = tensorType({c.B, c.L, c.V}, type),
                  t = tensorType({c.B, c.L}, "i64"), d = tensorType({}, type);
      std::string ignore =
          c.ignore == -100 ? ""
                           : " ignore_index(" + std::to_string(c.ignore) + ")";
      std::string source =
          "func.func @f(%d: " + d + ", %l: " + l + ", %t: " + t + ") -> " + l +
          " {\n  %g = gecko.cross_entropy_grad %d, %l, %t" + ignore + " : " +
          d + ", " + l + ", " + t + "\n  return %g : " + l + "\n}";
      auto out = runF(
          source,
          {floatBuffer(type, {}, {dloss}),
           floatBuffer(type, {c.B, c.L, c.V}, logits),
           JitBuffer::i64({c.B, c.L}, Vec(targets.begin(), targets.end()))},
          1);
      ASSERT_FALSE(out.empty());
      results.push_back(out[0].values);
    }
    Vec fd(logits.size());
    Vec p = logits;
    const double h = 1e-6;
    for (size_t i = 0; i < p.size(); ++i) {
      double saved = p[i];
      p[i] = saved + h;
      double plus = crossEntropyReference(p, targets, rows, c.V, c.ignore);
      p[i] = saved - h;
      double minus = crossEntropyReference(p, targets, rows, c.V, c.ignore);
      p[i] = saved;
      fd[i] = dloss * (plus - minus) / (2.0 * h);
    }
    if (c.numIgnored == rows) {
      // Everything ignored: the gradient is exactly zero.
      for (double g : results[1])
        EXPECT_EQ(g, 0.0);
      continue;
    }
    EXPECT_TRUE(relativeClose(results[1], fd, 1e-6)) << "f64 V " << c.V;
    EXPECT_TRUE(relativeClose(results[0], results[1], 1e-5))
        << "f32 vs f64 V " << c.V;
    // Ignored rows are exactly zero.
    for (int64_t r = 0; r < rows; ++r)
      if (targets[r] == c.ignore)
        for (int64_t v = 0; v < c.V; ++v)
          EXPECT_EQ(results[1][r * c.V + v], 0.0);
  }
}

//===----------------------------------------------------------------------===//
// adamw
//===----------------------------------------------------------------------===//

struct AdamWResult {
  Vec param, m, v;
};

/// torch.optim.AdamW's single-tensor step in fp64 (docs/dialect.md).
AdamWResult adamwReference(const Vec &param, const Vec &grad, const Vec &m,
                           const Vec &v, int64_t step, double lr, double scale,
                           double beta1, double beta2, double eps,
                           double weightDecay) {
  AdamWResult r{param, m, v};
  double bc1 = 1.0 - std::pow(beta1, double(step));
  double bc2 = 1.0 - std::pow(beta2, double(step));
  for (size_t i = 0; i < param.size(); ++i) {
    double g = scale * grad[i];
    double p1 = param[i] * (1.0 - lr * weightDecay);
    r.m[i] = beta1 * m[i] + (1.0 - beta1) * g;
    r.v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
    r.param[i] =
        p1 - (lr / bc1) * r.m[i] / (std::sqrt(r.v[i]) / std::sqrt(bc2) + eps);
  }
  return r;
}

TEST(LowerTraining, AdamWMatchesReference) {
  struct Case {
    Shape shape;
    int64_t step;
    double lr;
    double scale; // < 0: no grad_scale operand
    double beta1, beta2, eps, weightDecay;
  };
  const Case cases[] = {
      {{5, 3}, 1, 1e-3, -1.0, 0.9, 0.98, 1e-8, 0.1},
      {{7}, 10, 3e-4, 0.37, 0.9, 0.98, 1e-8, 0.1},
      {{2, 3, 4}, 2000, 1e-2, 1.0, 0.9, 0.999, 1e-6, 0.0},
      {{4, 4}, 3, 5e-3, -1.0, 0.0, 0.5, 1e-3, 0.01},
  };
  for (const Case &c : cases) {
    int64_t n = 1;
    for (int64_t d : c.shape)
      n *= d;
    Vec param = randomValues(n, 131);
    Vec grad = randomValues(n, 132, -0.1, 0.1);
    Vec m = randomValues(n, 133, -0.01, 0.01);
    Vec v = randomValues(n, 134, 0.0, 1e-4);
    bool withScale = c.scale >= 0.0;
    std::string t = tensorType(c.shape, "f32");
    std::ostringstream source;
    source.precision(17);
    source << "func.func @f(%p: " << t << ", %g: " << t << ", %m: " << t
           << ", %v: " << t << ", %t: tensor<i64>, %lr: tensor<f32>"
           << (withScale ? ", %s: tensor<f32>" : "") << ") -> (" << t << ", "
           << t << ", " << t << ") {\n"
           << "  %p2, %m2, %v2 = gecko.adamw %p, %g, %m, %v step(%t) lr(%lr)"
           << (withScale ? " grad_scale(%s)" : "") << " betas("
           << std::scientific << c.beta1 << ", " << c.beta2 << ") eps(" << c.eps
           << ") weight_decay(" << c.weightDecay << ") : " << t << ", " << t
           << ", " << t << ", " << t << ", tensor<i64>, tensor<f32>"
           << (withScale ? ", tensor<f32>" : "") << "\n"
           << "  return %p2, %m2, %v2 : " << t << ", " << t << ", " << t
           << "\n}";
    std::vector<JitBuffer> args = {
        JitBuffer::f32(c.shape, param),       JitBuffer::f32(c.shape, grad),
        JitBuffer::f32(c.shape, m),           JitBuffer::f32(c.shape, v),
        JitBuffer::i64({}, {double(c.step)}), JitBuffer::f32({}, {c.lr})};
    if (withScale)
      args.push_back(JitBuffer::f32({}, {c.scale}));
    auto out = runF(source.str(), args, 3);
    ASSERT_FALSE(out.empty());
    // lr and the scale pass through f32 tensors.
    double lr = double(float(c.lr));
    double scale = withScale ? double(float(c.scale)) : 1.0;
    AdamWResult expected =
        adamwReference(param, grad, m, v, c.step, lr, scale, c.beta1, c.beta2,
                       c.eps, c.weightDecay);
    EXPECT_TRUE(allClose(out[0].values, expected.param, 1e-6, 1e-6 * lr))
        << "param, step " << c.step;
    EXPECT_TRUE(allClose(out[1].values, expected.m, 1e-6, 1e-9))
        << "m, step " << c.step;
    EXPECT_TRUE(allClose(out[2].values, expected.v, 1e-6, 1e-12))
        << "v, step " << c.step;
  }
}

} // namespace
} // namespace gecko::testing
