//===- LowerBasicTest.cpp - Compiled basic-family ops vs the fp64 oracle --===//
//
// Each test compiles a one-op gecko function with the CPU pipeline, runs it
// on random inputs and compares with tests/oracle in double precision (or a
// direct-loop fp64 reference in this file where the oracle has no such
// piece: z_affine, swiglu, rope's exact f32 angle recipe, the backward ops).
//
// Tolerances:
// - Elementwise ops (silu, swiglu, z_affine, embedding): f32 results carry
//   about 1e-7 relative rounding per operation and the reference is exact,
//   so they are held to 1e-6 relative; f64 to 1e-12.
// - Contractions (linear, and the column sums of the backward ops) add one
//   f32 rounding per accumulated term: with n <= 16 terms of size O(1) the
//   error is <= n * 6e-8 * sum|terms|, so f32 is held to 1e-5 relative plus
//   1e-5 absolute (for results near zero after cancellation); f64 to 1e-12
//   relative plus 1e-12 absolute.
// - RoPE: against a reference that forms the angle with the op's exact f32
//   recipe, f32 differs only by f32 cos/sin/rotation rounding (1e-6
//   relative + 1e-6 absolute) and f64 by double rounding (1e-12). Against
//   the oracle (exact f64 angle), the f32 angle a = fl32(tau * w) is off by
//   up to ~2 ulp(a), so positions are kept small there (a < 8, 2e-6).
// - Backward ops: the compiled f64 gradient against central finite
//   differences (h = 1e-6) of the fp64 forward reference, per tensor
//   max|error| / max|fd| <= 1e-6 (truncation O(h^2), rounding O(1e-16/h));
//   the compiled f32 gradient against the compiled f64 one, per tensor
//   1e-5 (f32 accumulations of <= 30 terms).
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

TEST(LowerBasic, SiluMatchesOracle) {
  for (const char *type : {"f32", "f64"}) {
    std::string source = std::string(R"(
func.func @f(%x: tensor<3x5x7xT>) -> tensor<3x5x7xT> {
  %y = gecko.silu %x : tensor<3x5x7xT>
  return %y : tensor<3x5x7xT>
})");
    for (size_t pos; (pos = source.find("xT>")) != std::string::npos;)
      source.replace(pos, 3, std::string("x") + type + ">");
    std::vector<double> x = randomValues(3 * 5 * 7, 1, -8.0, 8.0);
    std::string error;
    JitBuffer input = std::string(type) == "f32" ? JitBuffer::f32({3, 5, 7}, x)
                                                 : JitBuffer::f64({3, 5, 7}, x);
    std::vector<JitBuffer> out = compileAndRun(source, "f", {input}, error);
    ASSERT_EQ(out.size(), 1u) << error;
    std::vector<double> expected;
    for (double v : x)
      expected.push_back(oracle::silu(v));
    double rtol = std::string(type) == "f32" ? 1e-6 : 1e-12;
    EXPECT_TRUE(allClose(out[0].values, expected, rtol, 1e-30)) << type;
  }
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

using Vec = std::vector<double>;
using Shape = std::vector<int64_t>;

const char *const kTypes[] = {"f32", "f64"};

bool isF32(const std::string &type) { return type == "f32"; }

/// "tensor<2x3xf32>" (rank 0: "tensor<f32>").
std::string tensorType(const Shape &shape, const std::string &element) {
  std::ostringstream os;
  os << "tensor<";
  for (int64_t d : shape)
    os << d << "x";
  os << element << ">";
  return os.str();
}

int64_t product(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

JitBuffer floatBuffer(const std::string &type, const Shape &shape,
                      const Vec &values) {
  return isF32(type) ? JitBuffer::f32(shape, values)
                     : JitBuffer::f64(shape, values);
}

std::vector<double> toDoubles(const std::vector<int64_t> &v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Compiles and runs @f, failing the test (empty result) on error.
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

/// max|actual - expected| / max|expected| <= tol.
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

/// Central finite differences of the scalar f at p, one coordinate at a time.
Vec finiteDifference(Vec p, const std::function<double(const Vec &)> &f,
                     double h = 1e-6) {
  Vec grad(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    double saved = p[i];
    p[i] = saved + h;
    double plus = f(p);
    p[i] = saved - h;
    double minus = f(p);
    p[i] = saved;
    grad[i] = (plus - minus) / (2.0 * h);
  }
  return grad;
}

double dot(const Vec &a, const Vec &b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

std::vector<int64_t> randomTokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> tokens;
  for (double v : randomValues(n, seed, 0.0, double(vocab)))
    tokens.push_back(std::min<int64_t>(vocab - 1, int64_t(v)));
  return tokens;
}

//===----------------------------------------------------------------------===//
// embedding / embedding_grad
//===----------------------------------------------------------------------===//

std::string embeddingSource(int64_t B, int64_t L, int64_t V, int64_t D,
                            bool scale, const std::string &t) {
  std::string table = tensorType({V, D}, t), tokens = tensorType({B, L}, "i64");
  return "func.func @f(%t: " + table + ", %tok: " + tokens + ") -> " +
         tensorType({B, L, D}, t) + " {\n  %x = gecko.embedding %t, %tok" +
         (scale ? " scale_emb" : "") + " : " + table + ", " + tokens +
         "\n  return %x : " + tensorType({B, L, D}, t) + "\n}";
}

TEST(LowerBasic, EmbeddingMatchesOracle) {
  struct Case {
    int64_t B, L, V, D;
  };
  for (Case c : {Case{2, 5, 11, 7}, Case{1, 1, 3, 4}, Case{3, 4, 2, 16}})
    for (const char *type : kTypes)
      for (bool scale : {false, true}) {
        Vec table = randomValues(c.V * c.D, 11, -2.0, 2.0);
        std::vector<int64_t> tokens = randomTokens(c.B * c.L, c.V, 12);
        auto out = runF(embeddingSource(c.B, c.L, c.V, c.D, scale, type),
                        {floatBuffer(type, {c.V, c.D}, table),
                         JitBuffer::i64({c.B, c.L}, toDoubles(tokens))},
                        1);
        ASSERT_FALSE(out.empty());
        Vec expected = oracle::embed(table, c.V, c.D, tokens, scale);
        // Without scale the gather is exact; the scale is one rounding.
        EXPECT_TRUE(
            allClose(out[0].values, expected, isF32(type) ? 1e-6 : 1e-12, 0.0))
            << type << " scale " << scale << " V " << c.V;
      }
}

// Out-of-range tokens are a run-time error reported by the runtime; the
// lowering clamps them into [0, V-1] so that it never reads out of bounds.
TEST(LowerBasic, EmbeddingClampsOutOfRangeTokens) {
  const int64_t V = 5, D = 3;
  Vec table = randomValues(V * D, 13);
  std::vector<int64_t> tokens = {-7, 0, 4, 5, 1000, -1};
  auto out = runF(embeddingSource(2, 3, V, D, false, "f64"),
                  {JitBuffer::f64({V, D}, table),
                   JitBuffer::i64({2, 3}, toDoubles(tokens))},
                  1);
  ASSERT_FALSE(out.empty());
  std::vector<int64_t> clamped;
  for (int64_t t : tokens)
    clamped.push_back(std::clamp<int64_t>(t, 0, V - 1));
  EXPECT_TRUE(allClose(out[0].values,
                       oracle::embed(table, V, D, clamped, false), 0.0, 0.0));
}

std::string embeddingGradSource(int64_t B, int64_t L, int64_t V, int64_t D,
                                bool scale, const std::string &t) {
  std::string dx = tensorType({B, L, D}, t), tokens = tensorType({B, L}, "i64");
  return "func.func @f(%dx: " + dx + ", %tok: " + tokens + ") -> " +
         tensorType({V, D}, t) + " {\n  %g = gecko.embedding_grad %dx, %tok " +
         "vocab(" + std::to_string(V) + ")" + (scale ? " scale_emb" : "") +
         " : " + dx + ", " + tokens +
         "\n  return %g : " + tensorType({V, D}, t) + "\n}";
}

TEST(LowerBasic, EmbeddingGradMatchesFiniteDifferences) {
  struct Case {
    int64_t B, L, V, D;
  };
  // V > B*L leaves absent rows (must be zero); small V repeats tokens.
  for (Case c : {Case{2, 5, 4, 3}, Case{1, 3, 9, 5}, Case{3, 7, 2, 4}})
    for (bool scale : {false, true}) {
      Vec dx = randomValues(c.B * c.L * c.D, 21);
      std::vector<int64_t> tokens = randomTokens(c.B * c.L, c.V, 22);
      Vec table = randomValues(c.V * c.D, 23);
      std::vector<JitBuffer> results;
      for (const char *type : kTypes) {
        auto out = runF(embeddingGradSource(c.B, c.L, c.V, c.D, scale, type),
                        {floatBuffer(type, {c.B, c.L, c.D}, dx),
                         JitBuffer::i64({c.B, c.L}, toDoubles(tokens))},
                        1);
        ASSERT_FALSE(out.empty());
        results.push_back(out[0]);
      }
      Vec fd = finiteDifference(table, [&](const Vec &t) {
        return dot(dx, oracle::embed(t, c.V, c.D, tokens, scale));
      });
      EXPECT_TRUE(relativeClose(results[1].values, fd, 1e-6)) << "f64";
      EXPECT_TRUE(relativeClose(results[0].values, results[1].values, 1e-5))
          << "f32 vs f64";
    }
}

// A token outside [0, V) adds nothing to the table gradient (no write out of
// bounds).
TEST(LowerBasic, EmbeddingGradSkipsOutOfRangeTokens) {
  const int64_t V = 3, D = 2;
  std::vector<int64_t> tokens = {1, -1, 3, 1};
  Vec dx = {1, 2, 3, 4, 5, 6, 7, 8};
  auto out = runF(embeddingGradSource(1, 4, V, D, false, "f64"),
                  {JitBuffer::f64({1, 4, D}, dx),
                   JitBuffer::i64({1, 4}, toDoubles(tokens))},
                  1);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].values, (Vec{0, 0, 8, 10, 0, 0}));
}

//===----------------------------------------------------------------------===//
// linear / linear_grad
//===----------------------------------------------------------------------===//

struct LinearCase {
  Shape x; // [..., in]
  int64_t out;
  bool bias;
  int64_t in() const { return x.back(); }
  int64_t rows() const { return product(x) / in(); }
  Shape y() const {
    Shape s = x;
    s.back() = out;
    return s;
  }
};

const LinearCase kLinearCases[] = {
    {{3, 5, 7}, 4, true}, {{3, 5, 7}, 4, false},   {{7}, 3, true},
    {{1, 6}, 1, false},   {{2, 1, 3, 6}, 5, true}, {{9, 16}, 13, true},
};

TEST(LowerBasic, LinearMatchesOracle) {
  for (const LinearCase &c : kLinearCases)
    for (const char *type : kTypes) {
      std::string x = tensorType(c.x, type),
                  w = tensorType({c.out, c.in()}, type),
                  b = tensorType({c.out}, type), y = tensorType(c.y(), type);
      std::string source = "func.func @f(%x: " + x + ", %w: " + w +
                           (c.bias ? ", %b: " + b : "") + ") -> " + y +
                           " {\n  %y = gecko.linear %x, %w" +
                           (c.bias ? " bias(%b)" : "") + " : " + x + ", " + w +
                           (c.bias ? ", " + b : "") + "\n  return %y : " + y +
                           "\n}";
      Vec xv = randomValues(product(c.x), 31);
      Vec wv = randomValues(c.out * c.in(), 32);
      Vec bv = randomValues(c.out, 33);
      std::vector<JitBuffer> args = {floatBuffer(type, c.x, xv),
                                     floatBuffer(type, {c.out, c.in()}, wv)};
      if (c.bias)
        args.push_back(floatBuffer(type, {c.out}, bv));
      auto out = runF(source, args, 1);
      ASSERT_FALSE(out.empty());
      Vec expected = oracle::linear(xv, c.rows(), c.in(), c.out, wv,
                                    c.bias ? &bv : nullptr);
      double tol = isF32(type) ? 1e-5 : 1e-12;
      EXPECT_TRUE(allClose(out[0].values, expected, tol, tol))
          << type << " rank " << c.x.size();
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

// bf16 operands accumulate in f32: on bf16-exact inputs the result is the
// exact value rounded once to bf16 (unit roundoff 2^-8) plus the f32
// accumulation error of 64 terms (<< 1e-4 absolute here). Accumulating in
// bf16 would be off by many bf16 ulps.
TEST(LowerBasic, LinearBf16AccumulatesInF32) {
  const int64_t rows = 5, in = 64, out = 6;
  Vec xv = randomValues(rows * in, 35), wv = randomValues(out * in, 36),
      bv = randomValues(out, 37);
  for (Vec *v : {&xv, &wv, &bv})
    for (double &e : *v)
      e = roundToBf16(e);
  std::string x = tensorType({rows, in}, "bf16"),
              w = tensorType({out, in}, "bf16"), b = tensorType({out}, "bf16"),
              y = tensorType({rows, out}, "bf16");
  std::string source = "func.func @f(%x: " + x + ", %w: " + w + ", %b: " + b +
                       ") -> " + y +
                       " {\n  %y = gecko.linear %x, %w bias(%b) : " + x + ", " +
                       w + ", " + b + "\n  return %y : " + y + "\n}";
  auto result =
      runF(source,
           {JitBuffer{"bf16", {rows, in}, xv}, JitBuffer{"bf16", {out, in}, wv},
            JitBuffer{"bf16", {out}, bv}},
           1);
  ASSERT_FALSE(result.empty());
  Vec expected = oracle::linear(xv, rows, in, out, wv, &bv);
  EXPECT_TRUE(allClose(result[0].values, expected, 1.0 / 256, 1e-4));
}

TEST(LowerBasic, LinearGradMatchesFiniteDifferences) {
  for (const LinearCase &c : kLinearCases) {
    Vec xv = randomValues(product(c.x), 41);
    Vec wv = randomValues(c.out * c.in(), 42);
    Vec bv = randomValues(c.out, 43);
    Vec dy = randomValues(c.rows() * c.out, 44);
    std::vector<std::vector<JitBuffer>> results;
    for (const char *type : kTypes) {
      std::string x = tensorType(c.x, type),
                  w = tensorType({c.out, c.in()}, type),
                  dyT = tensorType(c.y(), type), b = tensorType({c.out}, type);
      std::string resultTypes = x + ", " + w + (c.bias ? ", " + b : "");
      std::string source =
          "func.func @f(%dy: " + dyT + ", %x: " + x + ", %w: " + w + ") -> (" +
          resultTypes + ") {\n  " + (c.bias ? "%dx, %dw, %db" : "%dx, %dw") +
          " = gecko.linear_grad %dy, %x, %w" + (c.bias ? " with_bias" : "") +
          " : " + dyT + ", " + x + ", " + w + "\n  return " +
          (c.bias ? "%dx, %dw, %db : " : "%dx, %dw : ") + resultTypes + "\n}";
      auto out = runF(source,
                      {floatBuffer(type, c.y(), dy), floatBuffer(type, c.x, xv),
                       floatBuffer(type, {c.out, c.in()}, wv)},
                      c.bias ? 3 : 2);
      ASSERT_FALSE(out.empty());
      results.push_back(out);
    }
    auto loss = [&](const Vec &x, const Vec &w, const Vec &b) {
      return dot(dy, oracle::linear(x, c.rows(), c.in(), c.out, w,
                                    c.bias ? &b : nullptr));
    };
    Vec fdX =
        finiteDifference(xv, [&](const Vec &p) { return loss(p, wv, bv); });
    Vec fdW =
        finiteDifference(wv, [&](const Vec &p) { return loss(xv, p, bv); });
    EXPECT_TRUE(relativeClose(results[1][0].values, fdX, 1e-6)) << "dx";
    EXPECT_TRUE(relativeClose(results[1][1].values, fdW, 1e-6)) << "dw";
    if (c.bias) {
      Vec fdB =
          finiteDifference(bv, [&](const Vec &p) { return loss(xv, wv, p); });
      EXPECT_TRUE(relativeClose(results[1][2].values, fdB, 1e-6)) << "db";
    }
    for (size_t i = 0; i < results[0].size(); ++i)
      EXPECT_TRUE(
          relativeClose(results[0][i].values, results[1][i].values, 1e-5))
          << "f32 vs f64, result " << i;
  }
}

//===----------------------------------------------------------------------===//
// z_affine / z_affine_grad
//===----------------------------------------------------------------------===//

/// zeta_i = z * (1 + gamma_i) / sqrt(dk) + beta_i; returns the four results
/// concatenated (4 x B*L*S).
Vec zAffineReference(const Vec &z, const Vec &gamma, const Vec &beta, int64_t S,
                     int64_t dk) {
  int64_t n = z.size();
  Vec out(4 * n);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t r = 0; r < n; ++r) {
      int64_t s = r % S;
      out[i * n + r] = z[r] * (1.0 + gamma[i * S + s]) / std::sqrt(double(dk)) +
                       beta[i * S + s];
    }
  return out;
}

TEST(LowerBasic, ZAffineMatchesReference) {
  struct Case {
    int64_t B, L, S, dk;
  };
  for (Case c : {Case{2, 3, 8, 4}, Case{1, 5, 6, 6}, Case{3, 1, 9, 3}})
    for (const char *type : kTypes) {
      std::string z = tensorType({c.B, c.L, c.S}, type),
                  p = tensorType({4, c.S}, type);
      std::string source = "func.func @f(%z: " + z + ", %g: " + p +
                           ", %b: " + p + ") -> (" + z + ", " + z + ", " + z +
                           ", " + z +
                           ") {\n  %q, %k, %aq, %ak = gecko.z_affine %z, %g, "
                           "%b head_dim(" +
                           std::to_string(c.dk) + ") : " + z + ", " + p + ", " +
                           p + "\n  return %q, %k, %aq, %ak : " + z + ", " + z +
                           ", " + z + ", " + z + "\n}";
      Vec zv = randomValues(c.B * c.L * c.S, 51, -3.0, 3.0);
      Vec gv = randomValues(4 * c.S, 52);
      Vec bv = randomValues(4 * c.S, 53);
      auto out = runF(source,
                      {floatBuffer(type, {c.B, c.L, c.S}, zv),
                       floatBuffer(type, {4, c.S}, gv),
                       floatBuffer(type, {4, c.S}, bv)},
                      4);
      ASSERT_FALSE(out.empty());
      Vec expected = zAffineReference(zv, gv, bv, c.S, c.dk);
      int64_t n = zv.size();
      for (int64_t i = 0; i < 4; ++i) {
        Vec part(expected.begin() + i * n, expected.begin() + (i + 1) * n);
        double tol = isF32(type) ? 1e-6 : 1e-12;
        EXPECT_TRUE(allClose(out[i].values, part, tol, tol))
            << type << " result " << i;
      }
    }
}

TEST(LowerBasic, ZAffineGradMatchesFiniteDifferences) {
  const int64_t B = 2, L = 3, S = 8, dk = 4, n = B * L * S;
  // Which of dq, dk, daq, dak are present.
  for (std::vector<bool> present :
       {std::vector<bool>{true, true, true, true},
        std::vector<bool>{true, false, false, true},
        std::vector<bool>{false, false, true, false}}) {
    Vec zv = randomValues(n, 61, -2.0, 2.0);
    Vec gv = randomValues(4 * S, 62);
    Vec bv = randomValues(4 * S, 63);
    Vec dzeta = randomValues(4 * n, 64); // zero where absent, below
    const char *names[] = {"dq", "dk", "daq", "dak"};
    std::vector<std::vector<JitBuffer>> results;
    for (const char *type : kTypes) {
      std::string z = tensorType({B, L, S}, type), p = tensorType({4, S}, type);
      std::string args = "%z: " + z + ", %g: " + p, operands, types;
      std::vector<JitBuffer> buffers = {floatBuffer(type, {B, L, S}, zv),
                                        floatBuffer(type, {4, S}, gv)};
      for (int i = 0; i < 4; ++i)
        if (present[i]) {
          args += std::string(", %") + names[i] + ": " + z;
          operands += std::string(" ") + names[i] + "(%" + names[i] + ")";
          types += ", " + z;
          buffers.push_back(floatBuffer(
              type, {B, L, S},
              Vec(dzeta.begin() + i * n, dzeta.begin() + (i + 1) * n)));
        }
      std::string source =
          "func.func @f(" + args + ") -> (" + z + ", " + p + ", " + p +
          ") {\n  %dz, %dg, %db = gecko.z_affine_grad %z, %g" + operands +
          " head_dim(" + std::to_string(dk) + ") : " + z + ", " + p + types +
          "\n  return %dz, %dg, %db : " + z + ", " + p + ", " + p + "\n}";
      auto out = runF(source, buffers, 3);
      ASSERT_FALSE(out.empty());
      results.push_back(out);
    }
    for (int i = 0; i < 4; ++i)
      if (!present[i])
        std::fill(dzeta.begin() + i * n, dzeta.begin() + (i + 1) * n, 0.0);
    auto loss = [&](const Vec &z, const Vec &g, const Vec &b) {
      return dot(dzeta, zAffineReference(z, g, b, S, dk));
    };
    Vec fdZ =
        finiteDifference(zv, [&](const Vec &v) { return loss(v, gv, bv); });
    Vec fdG =
        finiteDifference(gv, [&](const Vec &v) { return loss(zv, v, bv); });
    Vec fdB =
        finiteDifference(bv, [&](const Vec &v) { return loss(zv, gv, v); });
    EXPECT_TRUE(relativeClose(results[1][0].values, fdZ, 1e-6)) << "dz";
    EXPECT_TRUE(relativeClose(results[1][1].values, fdG, 1e-6)) << "dgamma";
    EXPECT_TRUE(relativeClose(results[1][2].values, fdB, 1e-6)) << "dbeta";
    // Rows of absent cotangents are exactly zero.
    for (int i = 0; i < 4; ++i)
      if (!present[i])
        for (int64_t s = 0; s < S; ++s) {
          EXPECT_EQ(results[1][1].values[i * S + s], 0.0);
          EXPECT_EQ(results[1][2].values[i * S + s], 0.0);
        }
    for (int r = 0; r < 3; ++r)
      EXPECT_TRUE(
          relativeClose(results[0][r].values, results[1][r].values, 1e-5))
          << "f32 vs f64, result " << r;
  }
}

//===----------------------------------------------------------------------===//
// rope
//===----------------------------------------------------------------------===//

/// The op's exact recipe: w_j = fl32(1 / fl32(base^(2j/d))), tau = fl32(start
/// + t), a = fl32(tau * w_j); the rotation itself in double.
Vec ropeReference(const Vec &x, int64_t B, int64_t L, int64_t H, int64_t R,
                  int64_t d, int64_t start, double base, bool inverse) {
  Vec y = x;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < R; ++h)
        for (int64_t j = 0; j < d / 2; ++j) {
          float omega =
              1.0f / static_cast<float>(std::pow(base, (2.0 * j) / double(d)));
          float tau = static_cast<float>(start + t);
          double a = static_cast<float>(tau * omega);
          double s = inverse ? -std::sin(a) : std::sin(a), c = std::cos(a);
          int64_t i = ((b * L + t) * H + h) * d + 2 * j;
          y[i] = x[i] * c - x[i + 1] * s;
          y[i + 1] = x[i] * s + x[i + 1] * c;
        }
  return y;
}

std::string ropeSource(int64_t B, int64_t L, int64_t S, int64_t H, int64_t R,
                       bool withStart, bool inverse, const std::string &t) {
  std::string x = tensorType({B, L, S}, t);
  return "func.func @f(%x: " + x + (withStart ? ", %p: tensor<i64>" : "") +
         ") -> " + x + " {\n  %y = gecko.rope %x" +
         (withStart ? " start(%p)" : "") + " heads(" + std::to_string(H) +
         ") rope_heads(" + std::to_string(R) + ") base(5.000000e+05)" +
         (inverse ? " inverse" : "") + " : " + x +
         (withStart ? ", tensor<i64>" : "") + "\n  return %y : " + x + "\n}";
}

TEST(LowerBasic, RopeMatchesReference) {
  struct Case {
    int64_t B, L, H, R, d, start; // start < 0: no start operand
    bool inverse;
  };
  const Case cases[] = {
      {2, 5, 3, 3, 4, -1, false},     {2, 5, 3, 2, 4, 7, false},
      {1, 7, 4, 1, 8, 1000, false},   {1, 7, 4, 1, 8, 1000, true},
      {2, 3, 2, 2, 6, 123456, false}, {1, 4, 2, 0, 4, 3, false},
      {1, 3, 1, 1, 2, 20000000, true}};
  for (const Case &c : cases)
    for (const char *type : kTypes) {
      int64_t S = c.H * c.d;
      Vec x = randomValues(c.B * c.L * S, 71, -2.0, 2.0);
      std::vector<JitBuffer> args = {floatBuffer(type, {c.B, c.L, S}, x)};
      if (c.start >= 0)
        args.push_back(JitBuffer::i64({}, {double(c.start)}));
      auto out =
          runF(ropeSource(c.B, c.L, S, c.H, c.R, c.start >= 0, c.inverse, type),
               args, 1);
      ASSERT_FALSE(out.empty());
      Vec expected =
          ropeReference(x, c.B, c.L, c.H, c.R, c.d,
                        std::max<int64_t>(c.start, 0), 500000.0, c.inverse);
      double tol = isF32(type) ? 1e-6 : 1e-12;
      EXPECT_TRUE(allClose(out[0].values, expected, tol, tol))
          << type << " R " << c.R << " start " << c.start;
    }
}

// Megalodon's `restart(P)`: positions restart at 0 every P tokens (from the
// integer stream position), so chunk c of the result is the rotation of its
// rows from position (start + c P) mod P.
TEST(LowerBasic, RopeRestartRotatesEachChunkFromZero) {
  const int64_t B = 2, L = 12, H = 2, d = 4, S = H * d, P = 4;
  for (const char *type : kTypes) {
    for (int64_t start : {int64_t(0), int64_t(8), int64_t(5)}) {
      Vec x = randomValues(B * L * S, 73, -2.0, 2.0);
      std::string src = ropeSource(B, L, S, H, H, true, false, type);
      src.insert(src.find(" : "), " restart(4)");
      auto out = runF(src,
                      {floatBuffer(type, {B, L, S}, x),
                       JitBuffer::i64({}, {double(start)})},
                      1);
      ASSERT_FALSE(out.empty());
      for (int64_t t = 0; t < L; ++t) {
        // Token t alone, rotated from its restarted position.
        Vec row;
        for (int64_t b = 0; b < B; ++b)
          row.insert(row.end(), x.begin() + (b * L + t) * S,
                     x.begin() + (b * L + t + 1) * S);
        Vec expected =
            ropeReference(row, B, 1, H, H, d, (start + t) % P, 500000.0, false);
        Vec actual;
        for (int64_t b = 0; b < B; ++b)
          actual.insert(actual.end(), out[0].values.begin() + (b * L + t) * S,
                        out[0].values.begin() + (b * L + t + 1) * S);
        double tol = isF32(type) ? 1e-6 : 1e-12;
        EXPECT_TRUE(allClose(actual, expected, tol, tol))
            << type << " start " << start << " t " << t;
      }
    }
  }
}

// gecko.segments: BOS flags and running document ids, continuing from an
// optional per-row offset (spec sections 0 and 4.4).
TEST(LowerBasic, SegmentsCountDocuments) {
  const std::string source = R"(
func.func @f(%t: tensor<2x6xi64>, %o: tensor<2xi64>) -> (tensor<2x6xi1>, tensor<2x6xi64>, tensor<2x6xi64>) {
  %b, %s = gecko.segments %t bos_id(1) : tensor<2x6xi64>
  %b2, %s2 = gecko.segments %t offset(%o) bos_id(1) : tensor<2x6xi64>, tensor<2xi64>
  return %b, %s, %s2 : tensor<2x6xi1>, tensor<2x6xi64>, tensor<2x6xi64>
})";
  std::string error;
  auto out = compileAndRun(
      source, "f",
      {JitBuffer::i64({2, 6}, {1, 5, 1, 1, 7, 9, 3, 4, 1, 2, 2, 1}),
       JitBuffer::i64({2}, {10, 3})},
      error);
  ASSERT_EQ(out.size(), 3u) << error;
  EXPECT_EQ(out[0].values, Vec({1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(out[1].values, Vec({1, 1, 2, 3, 3, 3, 0, 0, 1, 1, 1, 2}));
  EXPECT_EQ(out[2].values, Vec({11, 11, 12, 13, 13, 13, 3, 3, 4, 4, 4, 5}));
}

// Against the oracle's exact f64 angle, at small positions where the f32
// angle recipe is within 2e-6.
TEST(LowerBasic, RopeMatchesOracleAtSmallPositions) {
  const int64_t B = 2, L = 6, H = 3, R = 2, d = 8, S = H * d;
  for (const char *type : kTypes) {
    Vec x = randomValues(B * L * S, 72);
    auto out =
        runF(ropeSource(B, L, S, H, R, true, false, type),
             {floatBuffer(type, {B, L, S}, x), JitBuffer::i64({}, {1})}, 1);
    ASSERT_FALSE(out.empty());
    Vec expected = x;
    oracle::applyRope(expected, B, L, H, d, R, 1, 500000.0);
    EXPECT_TRUE(allClose(out[0].values, expected, 2e-6, 2e-6)) << type;
  }
}

// The VJP of rope is rope with `inverse` toggled; rope then its inverse is
// the identity up to rounding.
TEST(LowerBasic, RopeInverseUndoesRope) {
  const int64_t B = 1, L = 5, H = 2, d = 4, S = H * d;
  std::string x = tensorType({B, L, S}, "f64");
  std::string source = "func.func @f(%x: " + x + ", %p: tensor<i64>) -> " + x +
                       " {\n  %y = gecko.rope %x start(%p) heads(2) "
                       "rope_heads(2) base(1.000000e+04) : " +
                       x +
                       ", tensor<i64>\n  %z = gecko.rope %y start(%p) "
                       "heads(2) rope_heads(2) base(1.000000e+04) inverse : " +
                       x + ", tensor<i64>\n  return %z : " + x + "\n}";
  Vec xv = randomValues(B * L * S, 73);
  auto out = runF(
      source, {JitBuffer::f64({B, L, S}, xv), JitBuffer::i64({}, {4096})}, 1);
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(allClose(out[0].values, xv, 1e-14, 1e-14));
}

//===----------------------------------------------------------------------===//
// silu_grad, swiglu, swiglu_grad
//===----------------------------------------------------------------------===//

TEST(LowerBasic, SiluGradMatchesFiniteDifferences) {
  const Shape shape = {3, 5, 7};
  Vec x = randomValues(product(shape), 81, -8.0, 8.0);
  Vec dy = randomValues(product(shape), 82);
  std::vector<Vec> results;
  for (const char *type : kTypes) {
    std::string t = tensorType(shape, type);
    std::string source = "func.func @f(%dy: " + t + ", %x: " + t + ") -> " + t +
                         " {\n  %dx = gecko.silu_grad %dy, %x : " + t + ", " +
                         t + "\n  return %dx : " + t + "\n}";
    auto out = runF(
        source, {floatBuffer(type, shape, dy), floatBuffer(type, shape, x)}, 1);
    ASSERT_FALSE(out.empty());
    results.push_back(out[0].values);
  }
  Vec fd = finiteDifference(x, [&](const Vec &p) {
    double s = 0.0;
    for (size_t i = 0; i < p.size(); ++i)
      s += dy[i] * oracle::silu(p[i]);
    return s;
  });
  EXPECT_TRUE(relativeClose(results[1], fd, 1e-6));
  // Elementwise: f32 within a few roundings of each element.
  EXPECT_TRUE(allClose(results[0], results[1], 1e-6, 1e-7));
}

TEST(LowerBasic, SwigluMatchesReference) {
  const Shape shape = {2, 9, 5};
  Vec a = randomValues(product(shape), 91, -8.0, 8.0);
  Vec b = randomValues(product(shape), 92, -3.0, 3.0);
  for (const char *type : kTypes) {
    std::string t = tensorType(shape, type);
    std::string source = "func.func @f(%a: " + t + ", %b: " + t + ") -> " + t +
                         " {\n  %y = gecko.swiglu %a, %b : " + t + ", " + t +
                         "\n  return %y : " + t + "\n}";
    auto out = runF(
        source, {floatBuffer(type, shape, a), floatBuffer(type, shape, b)}, 1);
    ASSERT_FALSE(out.empty());
    Vec expected;
    for (size_t i = 0; i < a.size(); ++i)
      expected.push_back(oracle::silu(a[i]) * b[i]);
    EXPECT_TRUE(
        allClose(out[0].values, expected, isF32(type) ? 1e-6 : 1e-12, 1e-30))
        << type;
  }
}

TEST(LowerBasic, SwigluGradMatchesFiniteDifferences) {
  const Shape shape = {4, 11};
  Vec a = randomValues(product(shape), 101, -8.0, 8.0);
  Vec b = randomValues(product(shape), 102, -3.0, 3.0);
  Vec dy = randomValues(product(shape), 103);
  std::vector<std::vector<JitBuffer>> results;
  for (const char *type : kTypes) {
    std::string t = tensorType(shape, type);
    std::string source =
        "func.func @f(%dy: " + t + ", %a: " + t + ", %b: " + t + ") -> (" + t +
        ", " + t + ") {\n  %da, %db = gecko.swiglu_grad %dy, %a, %b : " + t +
        ", " + t + ", " + t + "\n  return %da, %db : " + t + ", " + t + "\n}";
    auto out = runF(source,
                    {floatBuffer(type, shape, dy), floatBuffer(type, shape, a),
                     floatBuffer(type, shape, b)},
                    2);
    ASSERT_FALSE(out.empty());
    results.push_back(out);
  }
  auto loss = [&](const Vec &av, const Vec &bv) {
    double s = 0.0;
    for (size_t i = 0; i < av.size(); ++i)
      s += dy[i] * oracle::silu(av[i]) * bv[i];
    return s;
  };
  Vec fdA = finiteDifference(a, [&](const Vec &p) { return loss(p, b); });
  Vec fdB = finiteDifference(b, [&](const Vec &p) { return loss(a, p); });
  EXPECT_TRUE(relativeClose(results[1][0].values, fdA, 1e-6)) << "da";
  EXPECT_TRUE(relativeClose(results[1][1].values, fdB, 1e-6)) << "db";
  for (int r = 0; r < 2; ++r)
    EXPECT_TRUE(
        allClose(results[0][r].values, results[1][r].values, 1e-6, 1e-7))
        << "f32 vs f64, result " << r;
}

} // namespace
} // namespace gecko::testing
