//===- LowerAttentionTest.cpp - Compiled attention ops vs the fp64 oracle -===//
//
// Each test compiles a one-op gecko function with the CPU pipeline, runs it
// on random inputs and compares with oracle::slidingChunkAttention, which
// implements the documented absolute-position rule over [cache ; call] for
// any start and cache, so it covers the training, prefill-with-cache, tail
// and decode forms. chunk_attention_grad is compared with central finite
// differences of the same fp64 oracle.
//
// Tolerances: f32 scores are dot products of d_k <= 5 terms in [-1, 1]
// accumulated in f32, and the softmax and the weighted sum add a few
// roundings each, so outputs (|o| <= max |v| = 1) are held to 1e-5 relative
// plus 1e-6 absolute. f64: 1e-12 relative plus 1e-13 absolute. Gradients
// (f64): per tensor max |analytic - fd| <= 1e-6 max |fd| with step 1e-5.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace gecko::testing {
namespace {

using oracle::Vec;

std::string shapeStr(const std::vector<int64_t> &shape,
                     const std::string &type) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
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

double relInf(const Vec &a, const Vec &b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  double scale = maxAbs(b);
  return scale == 0.0 ? worst : worst / scale;
}

/// One attention call: sizes, optional segments, cache and start.
struct Call {
  int64_t B, L, H, dk, dv, C;
  bool segments = false;
  int64_t P = -1;     ///< cache length, -1 for no cache
  int64_t start = -1; ///< -1 for no start operand (position 0)
};

struct Inputs {
  Vec q, k, v, dout, prevK, prevV;
  std::vector<int64_t> seg, prevSeg;
};

/// Segment ids: row b has documents starting mid-chunk, exactly on a chunk
/// boundary and two within one chunk; the ids continue from the cache.
std::vector<int64_t> makeSegments(int64_t B, int64_t len, int64_t C,
                                  int64_t first, uint64_t seed) {
  std::vector<int64_t> seg(B * len);
  for (int64_t b = 0; b < B; ++b) {
    int64_t id = first + b;
    for (int64_t t = 0; t < len; ++t) {
      bool startDoc = (t == C / 2 + b) || (t == C && b == 0) ||
                      (t == C + 1 + b) || (t == C + 2 + b) ||
                      ((t * 7 + seed) % 11 == 0 && t > 0);
      if (startDoc)
        ++id;
      seg[b * len + t] = id;
    }
  }
  return seg;
}

Inputs makeInputs(const Call &c, uint64_t seed) {
  Inputs in;
  int64_t S = c.H * c.dk, E = c.H * c.dv, P = std::max<int64_t>(c.P, 0);
  in.q = randomValues(c.B * c.L * S, seed);
  in.k = randomValues(c.B * c.L * S, seed + 1);
  in.v = randomValues(c.B * c.L * E, seed + 2);
  in.dout = randomValues(c.B * c.L * E, seed + 3);
  in.prevK = randomValues(c.B * P * S, seed + 4);
  in.prevV = randomValues(c.B * P * E, seed + 5);
  if (c.segments) {
    in.prevSeg = makeSegments(c.B, P, c.C, 0, seed);
    int64_t last = 0;
    for (int64_t x : in.prevSeg)
      last = std::max(last, x);
    in.seg = makeSegments(c.B, c.L, c.C, last, seed + 7);
  }
  return in;
}

/// The gecko function for `c`: forward (@f) or backward (@g).
std::string source(const Call &c, const std::string &type, bool grad) {
  int64_t S = c.H * c.dk, E = c.H * c.dv;
  int64_t P = c.P;
  std::string qt = shapeStr({c.B, c.L, S}, type);
  std::string vt = shapeStr({c.B, c.L, E}, type);
  std::string args, types, opnds, results;
  if (grad) {
    args = "%do: " + vt + ", ";
    types = vt + ", ";
  }
  args += "%q: " + qt + ", %k: " + qt + ", %v: " + vt;
  types += qt + ", " + qt + ", " + vt;
  if (c.segments) {
    std::string st = shapeStr({c.B, c.L}, "i64");
    args += ", %s: " + st;
    types += ", " + st;
    opnds += " segments(%s)";
  }
  if (c.P >= 0) {
    std::string pk = shapeStr({c.B, P, S}, type);
    std::string pv = shapeStr({c.B, P, E}, type);
    args += ", %pk: " + pk + ", %pv: " + pv;
    types += ", " + pk + ", " + pv;
    opnds += " cache(%pk, %pv";
    if (c.segments) {
      std::string ps = shapeStr({c.B, P}, "i64");
      args += ", %ps: " + ps;
      types += ", " + ps;
      opnds += ", %ps";
    }
    opnds += ")";
  }
  if (c.start >= 0) {
    args += ", %st: tensor<i64>";
    types += ", tensor<i64>";
    opnds += " start(%st)";
  }
  std::string attrs =
      " heads(" + std::to_string(c.H) + ") chunk(" + std::to_string(c.C) + ")";
  if (!grad)
    return "func.func @f(" + args + ") -> " + vt +
           " {\n  %o = gecko.chunk_attention %q, %k, %v" + opnds + attrs +
           " : " + types + "\n  return %o : " + vt + "\n}\n";
  results = qt + ", " + qt + ", " + vt;
  std::string rets = "%r#0, %r#1, %r#2";
  int n = 3;
  if (c.P >= 0) {
    results +=
        ", " + shapeStr({c.B, P, S}, type) + ", " + shapeStr({c.B, P, E}, type);
    rets += ", %r#3, %r#4";
    n = 5;
  }
  return "func.func @g(" + args + ") -> (" + results +
         ") {\n  %r:" + std::to_string(n) +
         " = gecko.chunk_attention_grad %do, %q, %k, %v" + opnds + attrs +
         " : " + types + "\n  return " + rets + " : " + results + "\n}\n";
}

std::vector<JitBuffer> arguments(const Call &c, const std::string &type,
                                 const Inputs &in, bool grad) {
  int64_t S = c.H * c.dk, E = c.H * c.dv, P = std::max<int64_t>(c.P, 0);
  std::vector<JitBuffer> args;
  if (grad)
    args.push_back(floatBuffer(type, {c.B, c.L, E}, in.dout));
  args.push_back(floatBuffer(type, {c.B, c.L, S}, in.q));
  args.push_back(floatBuffer(type, {c.B, c.L, S}, in.k));
  args.push_back(floatBuffer(type, {c.B, c.L, E}, in.v));
  if (c.segments)
    args.push_back(
        JitBuffer::i64({c.B, c.L}, Vec(in.seg.begin(), in.seg.end())));
  if (c.P >= 0) {
    args.push_back(floatBuffer(type, {c.B, P, S}, in.prevK));
    args.push_back(floatBuffer(type, {c.B, P, E}, in.prevV));
    if (c.segments)
      args.push_back(
          JitBuffer::i64({c.B, P}, Vec(in.prevSeg.begin(), in.prevSeg.end())));
  }
  if (c.start >= 0)
    args.push_back(JitBuffer::i64({}, {double(c.start)}));
  return args;
}

Vec oracleAttention(const Call &c, const Inputs &in) {
  oracle::KvCache cache;
  if (c.P >= 0) {
    cache.len = c.P;
    cache.k = in.prevK;
    cache.v = in.prevV;
    cache.seg = in.prevSeg;
  }
  return oracle::slidingChunkAttention(in.q, in.k, in.v, c.B, c.L, c.H, c.dk,
                                       c.dv, c.C, std::max<int64_t>(c.start, 0),
                                       in.seg, c.P >= 0 ? &cache : nullptr);
}

void checkForward(const Call &c, uint64_t seed) {
  Inputs in = makeInputs(c, seed);
  Vec expected = oracleAttention(c, in);
  for (std::string type : {"f32", "f64"}) {
    std::string error;
    std::vector<JitBuffer> out = compileAndRun(
        source(c, type, false), "f", arguments(c, type, in, false), error);
    ASSERT_EQ(out.size(), 1u) << error << "\n" << source(c, type, false);
    double rtol = type == "f32" ? 1e-5 : 1e-12;
    double atol = type == "f32" ? 1e-6 : 1e-13;
    EXPECT_TRUE(allClose(out[0].values, expected, rtol, atol))
        << type << " L=" << c.L << " C=" << c.C << " P=" << c.P
        << " start=" << c.start << " seg=" << c.segments;
  }
}

TEST(LowerAttention, TrainingFormMatchesOracle) {
  // B, L, H, dk, dv, C; one chunk, several chunks, odd sizes, C = 1.
  checkForward({2, 12, 2, 3, 5, 4}, 1);
  checkForward({1, 5, 1, 4, 4, 5}, 2);
  checkForward({2, 12, 3, 2, 3, 3}, 3);
  checkForward({1, 4, 2, 2, 2, 1}, 4);
  checkForward({3, 14, 1, 5, 2, 7}, 5);
}

TEST(LowerAttention, TrainingFormWithSegmentsMatchesOracle) {
  // Documents start mid-chunk, exactly on a chunk boundary and twice within
  // one chunk (makeSegments).
  checkForward({2, 12, 2, 3, 5, 4, true}, 11);
  checkForward({2, 18, 1, 4, 3, 6, true}, 12);
  checkForward({1, 8, 2, 2, 2, 8, true}, 13);
}

/// The attention output consumed by a contraction (gecko.linear, as the
/// output projection of every block): gecko-fuse-elementwise fuses the
/// elementwise generic that writes o into the linear's loop nest, which has
/// more loops. An elementwise generic that reads its `outs` (o = out + acc)
/// was fused by upstream's linalg-fuse-elementwise-ops into a
/// read-modify-write repeated per output channel, so o came out multiplied
/// by up to E (seen as a wrong Llama loss).
TEST(LowerAttention, OutputFeedingLinearMatchesOracle) {
  // One chunk (the chunk loop folds away) and several chunks.
  for (Call c : {Call{2, 6, 2, 4, 4, 6}, Call{2, 12, 2, 3, 5, 4}}) {
    int64_t E = c.H * c.dv, O = 3;
    Inputs in = makeInputs(c, 40 + c.L);
    Vec o = oracleAttention(c, in);
    Vec w = randomValues(O * E, 50 + c.L);
    Vec expected(c.B * c.L * O, 0.0);
    for (int64_t r = 0; r < c.B * c.L; ++r)
      for (int64_t j = 0; j < O; ++j)
        for (int64_t e = 0; e < E; ++e)
          expected[r * O + j] += o[r * E + e] * w[j * E + e];
    for (std::string type : {"f32", "f64"}) {
      std::string ot = shapeStr({c.B, c.L, O}, type);
      std::string wt = shapeStr({O, E}, type);
      std::string vt = shapeStr({c.B, c.L, E}, type);
      std::string text = source(c, type, false);
      // Take the output through a linear: @f(q, k, v, w) = linear(o, w).
      size_t sig = text.find(") -> ");
      text = text.substr(0, sig) + ", %w: " + wt + ") -> " + ot +
             text.substr(text.find(" {\n", sig));
      size_t ret = text.find("  return %o");
      text = text.substr(0, ret) + "  %y = gecko.linear %o, %w : " + vt + ", " +
             wt + "\n  return %y : " + ot + "\n}\n";
      std::vector<JitBuffer> args = arguments(c, type, in, false);
      args.push_back(floatBuffer(type, {O, E}, w));
      std::string error;
      std::vector<JitBuffer> out = compileAndRun(text, "f", args, error);
      ASSERT_EQ(out.size(), 1u) << error << "\n" << text;
      double rtol = type == "f32" ? 1e-5 : 1e-12;
      double atol = type == "f32" ? 1e-6 : 1e-13;
      EXPECT_TRUE(allClose(out[0].values, expected, rtol, atol))
          << type << " L=" << c.L << " C=" << c.C;
    }
  }
}

TEST(LowerAttention, CacheAndStartFormsMatchOracle) {
  // Prefill with a cached chunk (P = C, s a multiple of C, L = 2C).
  checkForward({2, 8, 2, 3, 2, 4, false, 4, 8}, 21);
  checkForward({2, 8, 2, 3, 2, 4, true, 4, 8}, 22);
  // The same without `start` (rule depends on s mod C only).
  checkForward({2, 8, 2, 3, 2, 4, true, 4, -1}, 23);
  // Tail calls (1 < L < C) after a full cache, and a first tail at s = 0.
  checkForward({2, 3, 2, 2, 3, 5, true, 5, 10}, 24);
  checkForward({1, 3, 1, 3, 3, 5, false, -1, 0}, 25);
  // Decode (L = 1) with caches of C + r entries at s = 2C + r, at a chunk
  // boundary, and first decode calls without a cache (a 0-row cache
  // cannot be passed: the CPU ABI rejects zero-sized memref arguments).
  checkForward({2, 1, 2, 3, 2, 4, true, 6, 10}, 26);
  checkForward({2, 1, 2, 3, 2, 4, false, 4, 8}, 27);
  checkForward({1, 1, 2, 3, 2, 4, false, -1, 0}, 28);
  checkForward({2, 1, 2, 3, 2, 4, true, -1, 3}, 31);
  checkForward({2, 1, 2, 3, 2, 4, true, 7, 11}, 29);
  // A start that is not a multiple of C with a multi-token call.
  checkForward({2, 6, 2, 2, 2, 4, true, 5, 5}, 30);
}

/// The block-diagonal (`local`, Megalodon) form: every chunk attends only to
/// itself, so the result (and every gradient) over L = n C equals n
/// independent single-chunk calls, which the oracle and the sliding form
/// agree on (a single chunk has no previous chunk).
TEST(LowerAttention, LocalFormEqualsIndependentChunks) {
  for (bool segments : {false, true}) {
    const Call whole{2, 12, 2, 3, 2, 4, segments};
    const Call chunk{2, 4, 2, 3, 2, 4, segments};
    const int64_t S = whole.H * whole.dk, E = whole.H * whole.dv;
    Inputs in = makeInputs(whole, 41);
    auto localSource = [](std::string text) {
      size_t pos = text.find(" chunk(4)");
      text.insert(pos + 9, " local");
      return text;
    };
    // Row slice [c*C, (c+1)*C) of a B x L x W tensor.
    auto rows = [&](const Vec &x, int64_t W, int64_t c) {
      Vec out;
      for (int64_t b = 0; b < whole.B; ++b)
        out.insert(out.end(), x.begin() + (b * whole.L + c * chunk.L) * W,
                   x.begin() + (b * whole.L + (c + 1) * chunk.L) * W);
      return out;
    };
    for (std::string type : {"f32", "f64"}) {
      std::string error;
      std::vector<JitBuffer> out =
          compileAndRun(localSource(source(whole, type, false)), "f",
                        arguments(whole, type, in, false), error);
      ASSERT_EQ(out.size(), 1u) << error;
      std::vector<JitBuffer> grads =
          compileAndRun(localSource(source(whole, type, true)), "g",
                        arguments(whole, type, in, true), error);
      ASSERT_EQ(grads.size(), 3u) << error;
      double tol = type == "f32" ? 1e-5 : 1e-12;
      for (int64_t c = 0; c < whole.L / chunk.L; ++c) {
        Inputs part;
        part.q = rows(in.q, S, c);
        part.k = rows(in.k, S, c);
        part.v = rows(in.v, E, c);
        part.dout = rows(in.dout, E, c);
        if (segments) {
          Vec seg(in.seg.begin(), in.seg.end());
          Vec sliced = rows(seg, 1, c);
          part.seg.assign(sliced.begin(), sliced.end());
        }
        EXPECT_TRUE(allClose(rows(out[0].values, E, c),
                             oracleAttention(chunk, part), tol, tol))
            << type << " chunk " << c << " seg " << segments;
        std::vector<JitBuffer> expected =
            compileAndRun(source(chunk, type, true), "g",
                          arguments(chunk, type, part, true), error);
        ASSERT_EQ(expected.size(), 3u) << error;
        const int64_t widths[3] = {S, S, E};
        for (int r = 0; r < 3; ++r)
          EXPECT_TRUE(allClose(rows(grads[r].values, widths[r], c),
                               expected[r].values, tol, tol))
              << type << " grad " << r << " chunk " << c;
      }
    }
  }
}

/// Two training-form halves with the first's last chunk as the second's
/// cache equal one long call (spec section 10).
TEST(LowerAttention, PrefillWithCacheEqualsOneCall) {
  Call whole{2, 12, 2, 3, 2, 4, true};
  Inputs in = makeInputs(whole, 41);
  std::vector<JitBuffer> all;
  std::string error;
  all = compileAndRun(source(whole, "f64", false), "f",
                      arguments(whole, "f64", in, false), error);
  ASSERT_EQ(all.size(), 1u) << error;
  // Second call: tokens 8..11, cache = tokens 4..7.
  Call second{2, 4, 2, 3, 2, 4, true, 4, 8};
  Inputs in2;
  auto rows = [&](const Vec &x, int64_t width, int64_t from, int64_t len) {
    Vec out;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = from; t < from + len; ++t)
        for (int64_t i = 0; i < width; ++i)
          out.push_back(x[(b * 12 + t) * width + i]);
    return out;
  };
  in2.q = rows(in.q, 6, 8, 4);
  in2.k = rows(in.k, 6, 8, 4);
  in2.v = rows(in.v, 4, 8, 4);
  in2.prevK = rows(in.k, 6, 4, 4);
  in2.prevV = rows(in.v, 4, 4, 4);
  Vec segAll(in.seg.begin(), in.seg.end());
  Vec s2 = rows(segAll, 1, 8, 4), ps = rows(segAll, 1, 4, 4);
  in2.seg.assign(s2.begin(), s2.end());
  in2.prevSeg.assign(ps.begin(), ps.end());
  std::vector<JitBuffer> part =
      compileAndRun(source(second, "f64", false), "f",
                    arguments(second, "f64", in2, false), error);
  ASSERT_EQ(part.size(), 1u) << error;
  EXPECT_TRUE(
      allClose(part[0].values, rows(all[0].values, 4, 8, 4), 1e-12, 1e-13));
}

//===----------------------------------------------------------------------===//
// chunk_attention_grad
//===----------------------------------------------------------------------===//

void checkGrad(const Call &c, uint64_t seed) {
  Inputs in = makeInputs(c, seed);
  std::string error;
  std::vector<JitBuffer> out = compileAndRun(
      source(c, "f64", true), "g", arguments(c, "f64", in, true), error);
  size_t expected = c.P >= 0 ? 5 : 3;
  ASSERT_EQ(out.size(), expected) << error << "\n" << source(c, "f64", true);
  auto loss = [&]() {
    Vec o = oracleAttention(c, in);
    double l = 0.0;
    for (size_t i = 0; i < o.size(); ++i)
      l += in.dout[i] * o[i];
    return l;
  };
  const double h = 1e-5;
  auto fd = [&](Vec &x) {
    Vec grad(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      double saved = x[i];
      x[i] = saved + h;
      double lp = loss();
      x[i] = saved - h;
      double lm = loss();
      x[i] = saved;
      grad[i] = (lp - lm) / (2 * h);
    }
    return grad;
  };
  std::string what = "L=" + std::to_string(c.L) + " P=" + std::to_string(c.P);
  EXPECT_LE(relInf(out[0].values, fd(in.q)), 1e-6) << "dq " << what;
  EXPECT_LE(relInf(out[1].values, fd(in.k)), 1e-6) << "dk " << what;
  EXPECT_LE(relInf(out[2].values, fd(in.v)), 1e-6) << "dv " << what;
  if (c.P > 0) {
    EXPECT_LE(relInf(out[3].values, fd(in.prevK)), 1e-6) << "dprev_k " << what;
    EXPECT_LE(relInf(out[4].values, fd(in.prevV)), 1e-6) << "dprev_v " << what;
  }
}

TEST(LowerAttention, GradMatchesFiniteDifferences) {
  checkGrad({2, 12, 2, 3, 2, 4}, 51);
  checkGrad({2, 12, 2, 3, 2, 4, true}, 52);
  checkGrad({1, 5, 1, 2, 3, 5}, 53);
  checkGrad({2, 8, 2, 3, 2, 4, true, 4, 8}, 54);
  checkGrad({2, 3, 2, 2, 3, 5, true, 5, 10}, 55);
  checkGrad({2, 1, 2, 3, 2, 4, false, 6, 10}, 56);
}

} // namespace
} // namespace gecko::testing
