//===- LowerEmaTest.cpp - Compiled ema-family ops vs the fp64 oracle ------===//
//
// Each test compiles a one-op gecko function with the CPU pipeline, runs it
// on random inputs and compares with tests/oracle (cemaCoefficients, cema) in
// double precision; the _grad ops are compared with central finite
// differences of the fp64 oracle forward.
//
// Tolerances:
// - ema_coeffs: f32 evaluates sigmoid, cos and sin of phi <= 2 pi in f32, so
//   results carry a few ulps of phi (~1e-6 absolute on O(1) values): rtol
//   1e-6, atol 2e-6. f64: 1e-12.
// - ema_scan: the f32 state accumulates about one rounding per step, damped
//   by |q| <= 0.95, so the state error stays near (1 / (1 - |q|)) ulps of its
//   magnitude; y is held to 2e-5 relative to max |y| (atol) plus 1e-5
//   relative. f64: 1e-12 on the same scale.
// - _grad ops (f64 only): per tensor max |analytic - fd| <= 1e-6 max |fd|.
//   Central differences with step 1e-5 have truncation error ~1e-10 and
//   cancellation ~1e-11 at these magnitudes.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>

namespace gecko::testing {
namespace {

using oracle::CVec;
using oracle::Vec;

std::string shapeStr(const std::vector<int64_t> &shape,
                     const std::string &type) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + type + ">";
}

JitBuffer floatBuffer(const std::string &type, std::vector<int64_t> shape,
                      Vec v) {
  return type == "f32" ? JitBuffer::f32(std::move(shape), std::move(v))
                       : JitBuffer::f64(std::move(shape), std::move(v));
}

double maxAbs(const Vec &v) {
  double m = 0.0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

/// max |a - b| / max |b| (b the reference).
double relInf(const Vec &a, const Vec &b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  double scale = maxAbs(b);
  return scale == 0.0 ? worst : worst / scale;
}

//===----------------------------------------------------------------------===//
// ema_coeffs
//===----------------------------------------------------------------------===//

std::string coeffsSource(int64_t D, int64_t N, bool thetaColumn,
                         const std::string &type) {
  std::string a = shapeStr({D, N}, type);
  std::string th = thetaColumn ? shapeStr({D, 1}, type) : shapeStr({D}, type);
  std::string g = shapeStr({D, N, 2}, type);
  return "func.func @f(%a: " + a + ", %d: " + a + ", %t: " + th + ", %g: " + g +
         ") -> (" + a + ", " + g + ", " + g +
         ") {\n"
         "  %p, %q, %gc = gecko.ema_coeffs alpha(%a) delta(%d) theta(%t) "
         "gamma(%g) : " +
         a + ", " + a + ", " + th + ", " + g +
         "\n"
         "  return %p, %q, %gc : " +
         a + ", " + g + ", " + g + "\n}\n";
}

Vec flattenComplex(const CVec &z) {
  Vec out;
  for (auto c : z) {
    out.push_back(c.real());
    out.push_back(c.imag());
  }
  return out;
}

TEST(LowerEma, CoeffsMatchOracle) {
  struct Case {
    int64_t D, N;
    bool thetaColumn;
  };
  for (Case c : {Case{5, 3, false}, Case{4, 16, true}, Case{1, 1, false},
                 Case{7, 5, true}}) {
    for (std::string type : {"f32", "f64"}) {
      Vec alpha = randomValues(c.D * c.N, 11, -3.0, 3.0);
      Vec delta = randomValues(c.D * c.N, 12, -3.0, 3.0);
      Vec theta = randomValues(c.D, 13, -4.0, 4.0);
      Vec gamma = randomValues(c.D * c.N * 2, 14, -1.0, 1.0);
      std::string error;
      std::vector<JitBuffer> out =
          compileAndRun(coeffsSource(c.D, c.N, c.thetaColumn, type), "f",
                        {floatBuffer(type, {c.D, c.N}, alpha),
                         floatBuffer(type, {c.D, c.N}, delta),
                         c.thetaColumn ? floatBuffer(type, {c.D, 1}, theta)
                                       : floatBuffer(type, {c.D}, theta),
                         floatBuffer(type, {c.D, c.N, 2}, gamma)},
                        error);
      ASSERT_EQ(out.size(), 3u) << error;
      oracle::CemaCoeffs ref =
          oracle::cemaCoefficients(alpha, delta, theta, gamma, c.D, c.N);
      double rtol = type == "f32" ? 1e-6 : 1e-12;
      double atol = type == "f32" ? 2e-6 : 1e-12;
      EXPECT_TRUE(allClose(out[0].values, ref.p, rtol, atol)) << type << " p";
      EXPECT_TRUE(allClose(out[1].values, flattenComplex(ref.q), rtol, atol))
          << type << " q D=" << c.D << " N=" << c.N;
      EXPECT_TRUE(allClose(out[2].values, gamma, 0.0, 0.0)) << type << " g";
    }
  }
}

/// Finite differences of L = <dp, p> + <dq, q> + <dg, gamma_c> through the
/// oracle's coefficients.
TEST(LowerEma, CoeffsGradMatchesFiniteDifferences) {
  for (bool thetaColumn : {false, true}) {
    const int64_t D = 3, N = 5;
    Vec alpha = randomValues(D * N, 21, -2.0, 2.0);
    Vec delta = randomValues(D * N, 22, -2.0, 2.0);
    Vec theta = randomValues(D, 23, -2.0, 2.0);
    Vec gamma = randomValues(D * N * 2, 24);
    Vec dp = randomValues(D * N, 25);
    Vec dq = randomValues(D * N * 2, 26);
    Vec dg = randomValues(D * N * 2, 27);
    std::string a = shapeStr({D, N}, "f64");
    std::string th =
        thetaColumn ? shapeStr({D, 1}, "f64") : shapeStr({D}, "f64");
    std::string g = shapeStr({D, N, 2}, "f64");
    std::string source =
        "func.func @f(%dp: " + a + ", %dq: " + g + ", %dg: " + g +
        ", %a: " + a + ", %d: " + a + ", %t: " + th + ") -> (" + a + ", " + a +
        ", " + th + ", " + g +
        ") {\n"
        "  %r:4 = gecko.ema_coeffs_grad dp(%dp) dq(%dq) dgamma(%dg) alpha(%a) "
        "delta(%d) theta(%t) : " +
        a + ", " + g + ", " + g + ", " + a + ", " + a + ", " + th +
        "\n  return %r#0, %r#1, %r#2, %r#3 : " + a + ", " + a + ", " + th +
        ", " + g + "\n}\n";
    std::string error;
    std::vector<JitBuffer> out = compileAndRun(
        source, "f",
        {JitBuffer::f64({D, N}, dp), JitBuffer::f64({D, N, 2}, dq),
         JitBuffer::f64({D, N, 2}, dg), JitBuffer::f64({D, N}, alpha),
         JitBuffer::f64({D, N}, delta),
         thetaColumn ? JitBuffer::f64({D, 1}, theta)
                     : JitBuffer::f64({D}, theta)},
        error);
    ASSERT_EQ(out.size(), 4u) << error;

    auto loss = [&](const Vec &al, const Vec &de, const Vec &th2,
                    const Vec &ga) {
      oracle::CemaCoeffs c = oracle::cemaCoefficients(al, de, th2, ga, D, N);
      double l = 0.0;
      for (int64_t i = 0; i < D * N; ++i) {
        l += dp[i] * c.p[i];
        l += dq[2 * i] * c.q[i].real() + dq[2 * i + 1] * c.q[i].imag();
        l += dg[2 * i] * c.gamma[i].real() + dg[2 * i + 1] * c.gamma[i].imag();
      }
      return l;
    };
    const double h = 1e-5;
    auto fd = [&](Vec &x) {
      Vec grad(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        double saved = x[i];
        x[i] = saved + h;
        double lp = loss(alpha, delta, theta, gamma);
        x[i] = saved - h;
        double lm = loss(alpha, delta, theta, gamma);
        x[i] = saved;
        grad[i] = (lp - lm) / (2 * h);
      }
      return grad;
    };
    EXPECT_LE(relInf(out[0].values, fd(alpha)), 1e-6) << "dalpha";
    EXPECT_LE(relInf(out[1].values, fd(delta)), 1e-6) << "ddelta";
    EXPECT_LE(relInf(out[2].values, fd(theta)), 1e-6) << "dtheta";
    EXPECT_LE(relInf(out[3].values, fd(gamma)), 1e-6) << "dgamma";
  }
}

//===----------------------------------------------------------------------===//
// ema_scan
//===----------------------------------------------------------------------===//

/// Random coefficients with |q| in [0.3, 0.95], stored as the op wants them
/// (p: D x N, q and gamma: D x N x 2), rounded to float.
struct ScanCoeffs {
  Vec p, q, gamma;
  oracle::CemaCoeffs asOracle(int64_t D, int64_t N) const {
    oracle::CemaCoeffs c;
    c.p = p;
    for (int64_t i = 0; i < D * N; ++i) {
      c.q.push_back({q[2 * i], q[2 * i + 1]});
      c.gamma.push_back({gamma[2 * i], gamma[2 * i + 1]});
    }
    return c;
  }
};

ScanCoeffs randomCoeffs(int64_t D, int64_t N, uint64_t seed) {
  ScanCoeffs c;
  c.p = randomValues(D * N, seed, 0.05, 0.95);
  Vec rho = randomValues(D * N, seed + 1, 0.3, 0.95);
  Vec phi = randomValues(D * N, seed + 2, 0.0, 6.28);
  for (int64_t i = 0; i < D * N; ++i) {
    c.q.push_back(double(float(rho[i] * std::cos(phi[i]))));
    c.q.push_back(double(float(rho[i] * std::sin(phi[i]))));
  }
  c.gamma = randomValues(D * N * 2, seed + 3);
  return c;
}

/// B x L x D <-> B x D x L.
Vec transposeLD(const Vec &x, int64_t B, int64_t L, int64_t D) {
  Vec out(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < D; ++d)
        out[(b * D + d) * L + t] = x[(b * L + t) * D + d];
  return out;
}
Vec transposeDL(const Vec &x, int64_t B, int64_t D, int64_t L) {
  Vec out(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < D; ++d)
        out[(b * L + t) * D + d] = x[(b * D + d) * L + t];
  return out;
}

std::string scanSource(int64_t B, int64_t L, int64_t D, int64_t N, bool bos,
                       bool state, const std::string &type) {
  std::string u = shapeStr({B, L, D}, type), p = shapeStr({D, N}, type);
  std::string q = shapeStr({D, N, 2}, type), bt = shapeStr({B, L}, "i1");
  std::string h = shapeStr({B, D, N, 2}, type);
  std::string args = "%u: " + u + ", %p: " + p + ", %q: " + q + ", %g: " + q;
  std::string types = u + ", " + p + ", " + q + ", " + q;
  std::string opnds;
  if (bos) {
    args += ", %bos: " + bt;
    types += ", " + bt;
    opnds += " bos(%bos)";
  }
  if (state) {
    args += ", %h0: " + h;
    types += ", " + h;
    opnds += " state(%h0)";
  }
  return "func.func @f(" + args + ") -> (" + u + ", " + h +
         ") {\n"
         "  %y, %h = gecko.ema_scan %u coeffs(%p, %q, %g)" +
         opnds + " : " + types + "\n  return %y, %h : " + u + ", " + h +
         "\n}\n";
}

/// Runs the compiled ema_scan; returns {y, h_out}.
std::vector<JitBuffer> runScan(int64_t B, int64_t L, int64_t D, int64_t N,
                               const std::string &type, const Vec &u,
                               const ScanCoeffs &c, const Vec *bos,
                               const Vec *h0) {
  std::vector<JitBuffer> args = {
      floatBuffer(type, {B, L, D}, u), floatBuffer(type, {D, N}, c.p),
      floatBuffer(type, {D, N, 2}, c.q), floatBuffer(type, {D, N, 2}, c.gamma)};
  if (bos)
    args.push_back(JitBuffer::i1({B, L}, *bos));
  if (h0)
    args.push_back(floatBuffer(type, {B, D, N, 2}, *h0));
  std::string error;
  std::vector<JitBuffer> out =
      compileAndRun(scanSource(B, L, D, N, bos != nullptr, h0 != nullptr, type),
                    "f", args, error);
  EXPECT_EQ(out.size(), 2u) << error;
  return out;
}

/// The oracle's y (B x L x D) and h_out (B x D x N x 2).
std::pair<Vec, Vec> oracleScan(int64_t B, int64_t L, int64_t D, int64_t N,
                               const Vec &u, const ScanCoeffs &c,
                               const Vec *bos, const Vec *h0) {
  oracle::BosMask mask;
  if (bos)
    for (double x : *bos)
      mask.push_back(x != 0.0);
  CVec h;
  if (h0)
    for (int64_t i = 0; i < B * D * N; ++i)
      h.push_back({(*h0)[2 * i], (*h0)[2 * i + 1]});
  Vec y = oracle::cema(transposeLD(u, B, L, D), B, D, L, N, c.asOracle(D, N),
                       mask, h);
  return {transposeDL(y, B, D, L), flattenComplex(h)};
}

/// bos flags with documents starting at t = 0 of row 0, mid-sequence, on two
/// consecutive tokens and at the last token.
Vec bosFlags(int64_t B, int64_t L) {
  Vec bos(B * L, 0.0);
  bos[0] = 1.0;
  for (int64_t b = 0; b < B; ++b) {
    bos[b * L + (L / 2 + b) % L] = 1.0;
    if (L > 3) {
      bos[b * L + 2] = 1.0;
      bos[b * L + 3] = 1.0;
    }
    bos[b * L + L - 1] = b % 2 ? 1.0 : 0.0;
  }
  return bos;
}

TEST(LowerEma, ScanMatchesOracle) {
  struct Case {
    int64_t B, L, D, N;
    bool bos, state;
  };
  for (Case c :
       {Case{2, 7, 3, 4, false, false}, Case{1, 33, 5, 16, true, false},
        Case{3, 16, 4, 1, true, true}, Case{2, 1, 2, 3, false, true},
        Case{2, 20, 6, 2, true, true}}) {
    for (std::string type : {"f32", "f64"}) {
      uint64_t seed = 100 + c.L;
      Vec u = randomValues(c.B * c.L * c.D, seed, -2.0, 2.0);
      ScanCoeffs coeffs = randomCoeffs(c.D, c.N, seed + 10);
      Vec bos = bosFlags(c.B, c.L);
      Vec h0 = randomValues(c.B * c.D * c.N * 2, seed + 20);
      std::vector<JitBuffer> out =
          runScan(c.B, c.L, c.D, c.N, type, u, coeffs, c.bos ? &bos : nullptr,
                  c.state ? &h0 : nullptr);
      ASSERT_EQ(out.size(), 2u);
      auto [y, h] = oracleScan(c.B, c.L, c.D, c.N, u, coeffs,
                               c.bos ? &bos : nullptr, c.state ? &h0 : nullptr);
      double rtol = type == "f32" ? 1e-5 : 1e-12;
      double scale = type == "f32" ? 2e-5 : 1e-12;
      EXPECT_TRUE(allClose(out[0].values, y, rtol, scale * maxAbs(y)))
          << type << " y L=" << c.L;
      EXPECT_TRUE(allClose(out[1].values, h, rtol, scale * maxAbs(h)))
          << type << " h_out L=" << c.L;
    }
  }
}

/// Two calls carrying the state equal one long call (spec section 10), with
/// documents crossing the split and one starting exactly on it.
TEST(LowerEma, ScanStateCarryEqualsOneCall) {
  const int64_t B = 2, L1 = 9, L2 = 8, D = 3, N = 4, L = L1 + L2;
  for (std::string type : {"f32", "f64"}) {
    Vec u = randomValues(B * L * D, 7, -2.0, 2.0);
    ScanCoeffs coeffs = randomCoeffs(D, N, 70);
    Vec bos(B * L, 0.0);
    bos[0 * L + 4] = 1.0;  // a document inside the first call ...
    bos[1 * L + L1] = 1.0; // ... and one starting exactly on the split.
    std::vector<JitBuffer> whole =
        runScan(B, L, D, N, type, u, coeffs, &bos, nullptr);
    ASSERT_EQ(whole.size(), 2u);
    auto sliceTime = [&](const Vec &x, int64_t from, int64_t len,
                         int64_t width) {
      Vec out;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = from; t < from + len; ++t)
          for (int64_t i = 0; i < width; ++i)
            out.push_back(x[(b * L + t) * width + i]);
      return out;
    };
    Vec u1 = sliceTime(u, 0, L1, D), u2 = sliceTime(u, L1, L2, D);
    Vec b1 = sliceTime(bos, 0, L1, 1), b2 = sliceTime(bos, L1, L2, 1);
    std::vector<JitBuffer> first =
        runScan(B, L1, D, N, type, u1, coeffs, &b1, nullptr);
    ASSERT_EQ(first.size(), 2u);
    std::vector<JitBuffer> second =
        runScan(B, L2, D, N, type, u2, coeffs, &b2, &first[1].values);
    ASSERT_EQ(second.size(), 2u);
    Vec y1 = sliceTime(whole[0].values, 0, L1, D);
    Vec y2 = sliceTime(whole[0].values, L1, L2, D);
    // Same operations in the same order: equal to the last bit.
    EXPECT_TRUE(allClose(first[0].values, y1, 0.0, 0.0)) << type;
    EXPECT_TRUE(allClose(second[0].values, y2, 0.0, 0.0)) << type;
    EXPECT_TRUE(allClose(second[1].values, whole[1].values, 0.0, 0.0)) << type;
    auto [y, h] = oracleScan(B, L, D, N, u, coeffs, &bos, nullptr);
    double tol = type == "f32" ? 2e-5 : 1e-12;
    EXPECT_TRUE(allClose(whole[0].values, y, tol, tol * maxAbs(y))) << type;
  }
}

/// ema_scan_grad against finite differences of
/// L = <dy, y> + <dh_out, h_out> through the oracle's cema.
TEST(LowerEma, ScanGradMatchesFiniteDifferences) {
  struct Case {
    int64_t B, L, D, N;
    bool bos, state, dstate;
  };
  for (Case c :
       {Case{2, 6, 3, 2, false, false, false},
        Case{2, 9, 2, 3, true, true, true}, Case{1, 5, 3, 4, true, false, true},
        Case{3, 4, 2, 1, false, true, false}}) {
    const int64_t B = c.B, L = c.L, D = c.D, N = c.N;
    uint64_t seed = 300 + L;
    Vec u = randomValues(B * L * D, seed, -2.0, 2.0);
    ScanCoeffs co = randomCoeffs(D, N, seed + 1);
    Vec bos = bosFlags(B, L);
    Vec h0 = randomValues(B * D * N * 2, seed + 2);
    Vec dy = randomValues(B * L * D, seed + 3);
    Vec dh = randomValues(B * D * N * 2, seed + 4);

    std::string ut = shapeStr({B, L, D}, "f64"), pt = shapeStr({D, N}, "f64");
    std::string qt = shapeStr({D, N, 2}, "f64"), bt = shapeStr({B, L}, "i1");
    std::string ht = shapeStr({B, D, N, 2}, "f64");
    std::string args = "%dy: " + ut + ", %u: " + ut + ", %p: " + pt +
                       ", %q: " + qt + ", %g: " + qt;
    std::string types = ut + ", " + ut + ", " + pt + ", " + qt + ", " + qt;
    std::string opnds, results = ut + ", " + pt + ", " + qt + ", " + qt;
    std::vector<JitBuffer> in = {
        JitBuffer::f64({B, L, D}, dy), JitBuffer::f64({B, L, D}, u),
        JitBuffer::f64({D, N}, co.p), JitBuffer::f64({D, N, 2}, co.q),
        JitBuffer::f64({D, N, 2}, co.gamma)};
    if (c.bos) {
      args += ", %bos: " + bt;
      types += ", " + bt;
      opnds += " bos(%bos)";
      in.push_back(JitBuffer::i1({B, L}, bos));
    }
    if (c.state) {
      args += ", %h0: " + ht;
      types += ", " + ht;
      opnds += " state(%h0)";
      results += ", " + ht;
      in.push_back(JitBuffer::f64({B, D, N, 2}, h0));
    }
    if (c.dstate) {
      args += ", %dh: " + ht;
      types += ", " + ht;
      opnds += " dstate(%dh)";
      in.push_back(JitBuffer::f64({B, D, N, 2}, dh));
    }
    int numResults = c.state ? 5 : 4;
    std::string source = "func.func @f(" + args + ") -> (" + results +
                         ") {\n  %r:" + std::to_string(numResults) +
                         " = gecko.ema_scan_grad %dy, %u coeffs(%p, %q, %g)" +
                         opnds + " : " + types +
                         "\n  return %r#0, %r#1, %r#2, %r#3" +
                         (c.state ? ", %r#4" : "") + " : " + results + "\n}\n";
    // Also without gecko-fuse-elementwise: G_t's real and imaginary
    // parts once shared a buffer when nothing fused away their write-only
    // loop-carried `outs` (two iter_args from one CSE-merged tensor.empty).
    for (bool fuse : {true, false}) {
      std::string error;
      CpuJitOptions options;
      options.fuseElementwise = fuse;
      std::unique_ptr<CpuJit> jit = CpuJit::compile(source, error, options);
      ASSERT_TRUE(jit) << error;
      std::vector<JitBuffer> out;
      ASSERT_TRUE(jit->run("f", in, out, error)) << error;
      ASSERT_EQ(out.size(), size_t(numResults)) << error;

      auto loss = [&]() {
        auto [y, h] = oracleScan(B, L, D, N, u, co, c.bos ? &bos : nullptr,
                                 c.state ? &h0 : nullptr);
        double l = 0.0;
        for (size_t i = 0; i < y.size(); ++i)
          l += dy[i] * y[i];
        if (c.dstate)
          for (size_t i = 0; i < h.size(); ++i)
            l += dh[i] * h[i];
        return l;
      };
      const double step = 1e-5;
      auto fd = [&](Vec &x) {
        Vec grad(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          double saved = x[i];
          x[i] = saved + step;
          double lp = loss();
          x[i] = saved - step;
          double lm = loss();
          x[i] = saved;
          grad[i] = (lp - lm) / (2 * step);
        }
        return grad;
      };
      EXPECT_LE(relInf(out[0].values, fd(u)), 1e-6)
          << "du L=" << L << " fuse=" << fuse;
      EXPECT_LE(relInf(out[1].values, fd(co.p)), 1e-6)
          << "dp L=" << L << " fuse=" << fuse;
      EXPECT_LE(relInf(out[2].values, fd(co.q)), 1e-6)
          << "dq L=" << L << " fuse=" << fuse;
      EXPECT_LE(relInf(out[3].values, fd(co.gamma)), 1e-6)
          << "dgamma L=" << L << " fuse=" << fuse;
      if (c.state)
        EXPECT_LE(relInf(out[4].values, fd(h0)), 1e-6)
            << "dh0 L=" << L << " fuse=" << fuse;
    }
  }
}

} // namespace
} // namespace gecko::testing
