//===- LowerMemoryTest.cpp - Compiled memory-family ops vs the fp64 oracle ===//
//
// gecko.working_memory, gecko.working_memory_step and
// gecko.working_memory_grad compiled with the CPU pipeline and compared with
// tests/oracle (adaptiveWorkingMemory) or, where the oracle has no entry
// (the decode/tail step, the backward), with direct fp64 loops written
// here. The method is that of LowerBasicTest.cpp.
//
// golden_tiny_b's memory output is all zero (tests/oracle/NOTES.md, finding
// 2), so these tests are the only check of the memory with segments: the
// segment patterns below start documents mid-chunk, exactly on a chunk
// boundary and at a chunk's last token, put two documents in one chunk and
// let one document span more than three chunks.
//
// Tolerances. Each output element is a short chain of softmaxes (fp32
// accumulation over d_k or C terms), one d_k-term matmul per read and, per
// absorbed chunk, two matmuls and the rho update; M is carried through up
// to a handful of chunks. In f32 that is a few hundred roundings of ~6e-8
// at most, amplified by at most a small factor (rho <= 1 makes the update a
// contraction), so we hold f32 results to 2e-5 relative to the tensor's
// largest magnitude (elementwise relative error is meaningless for entries
// that cancel to ~0). f64 results are held to 1e-12 of the same scale; the
// two calls / one call and stream / one-shot equivalences compare compiled
// results with each other and use the same bounds.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

namespace gecko::testing {
namespace {

using oracle::Vec;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

std::string tensorType(std::vector<int64_t> shape, const std::string &elem) {
  std::ostringstream os;
  os << "tensor<";
  for (int64_t d : shape) {
    if (d < 0)
      os << "?x";
    else
      os << d << "x";
  }
  os << elem << ">";
  return os.str();
}

JitBuffer floatBuffer(const std::string &type, std::vector<int64_t> shape,
                      const Vec &v) {
  return type == "f32" ? JitBuffer::f32(std::move(shape), v)
                       : JitBuffer::f64(std::move(shape), v);
}

std::vector<double> toDouble(const std::vector<int64_t> &v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Tolerance of the file header, relative to the tensor's largest magnitude.
double relTol(const std::string &type) { return type == "f32" ? 2e-5 : 1e-12; }

::testing::AssertionResult closeScaled(const Vec &actual, const Vec &expected,
                                       double rtol) {
  double scale = 0.0;
  for (double e : expected)
    if (std::isfinite(e))
      scale = std::max(scale, std::fabs(e));
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size mismatch";
  // -inf entries (empty Lambda) must match exactly.
  for (size_t i = 0; i < actual.size(); ++i)
    if (std::isinf(expected[i]) || std::isinf(actual[i]))
      if (actual[i] != expected[i])
        return ::testing::AssertionFailure()
               << "element " << i << ": got " << actual[i] << ", expected "
               << expected[i];
  Vec a = actual, e = expected;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::isinf(e[i]))
      a[i] = e[i] = 0.0;
  return allClose(a, e, rtol, rtol * std::max(scale, 1e-30));
}

/// Segment ids built from document starts: bos[b][t] = 1 starts a new
/// document (ids count up from `first`).
std::vector<int64_t> segmentsFromBos(int64_t B, int64_t L,
                                     const std::vector<std::vector<int>> &bos,
                                     int64_t first = 0) {
  std::vector<int64_t> seg(B * L);
  for (int64_t b = 0; b < B; ++b) {
    int64_t id = first;
    for (int64_t t = 0; t < L; ++t) {
      if (std::find(bos[b].begin(), bos[b].end(), t) != bos[b].end() && t > 0)
        ++id;
      seg[b * L + t] = id;
    }
  }
  return seg;
}

struct Shape {
  int64_t B, H, dk, dv, C, nc;
  int64_t S() const { return H * dk; }
  int64_t E() const { return H * dv; }
  int64_t L() const { return nc * C; }
};

/// The incoming state of gecko.working_memory (all B-major, heads packed).
struct State {
  Vec M, lam, prevK, prevV;
  std::vector<int64_t> prevSeg, doc;
};

struct ChunkedResult {
  Vec y, M, lam;
  std::vector<int64_t> doc;
};

/// The source of a one-op function running gecko.working_memory.
std::string chunkedSource(const Shape &s, const std::string &T, bool seg,
                          bool state) {
  std::string aq = tensorType({s.B, s.L(), s.S()}, T);
  std::string v = tensorType({s.B, s.L(), s.E()}, T);
  std::string sg = tensorType({s.B, s.L()}, "i64");
  std::string m = tensorType({s.B, s.H, s.dk, s.dv}, T);
  std::string l = tensorType({s.B, s.H, s.dk}, T);
  std::string pk = tensorType({s.B, s.C, s.S()}, T);
  std::string pv = tensorType({s.B, s.C, s.E()}, T);
  std::string ps = tensorType({s.B, s.C}, "i64");
  std::string doc = tensorType({s.B}, "i64");
  std::string args = "%aq: " + aq + ", %ak: " + aq + ", %v: " + v;
  std::string operands = "%aq, %ak, %v";
  std::string types = aq + ", " + aq + ", " + v;
  if (seg) {
    args += ", %s: " + sg;
    operands += " segments(%s)";
    types += ", " + sg;
  }
  if (state) {
    args += ", %m: " + m + ", %l: " + l + ", %pk: " + pk + ", %pv: " + pv;
    operands += " state(%m, %l, %pk, %pv";
    types += ", " + m + ", " + l + ", " + pk + ", " + pv;
    if (seg) {
      args += ", %ps: " + ps + ", %doc: " + doc;
      operands += ", %ps, %doc";
      types += ", " + ps + ", " + doc;
    }
    operands += ")";
  }
  std::string results = v + ", " + m + ", " + l + (seg ? ", " + doc : "");
  std::string names = seg ? "%y, %mo, %lo, %do" : "%y, %mo, %lo";
  std::ostringstream os;
  os << "func.func @f(" << args << ") -> (" << results << ") {\n"
     << "  " << names << " = gecko.working_memory " << operands << " heads("
     << s.H << ") chunk(" << s.C << ") : " << types << "\n"
     << "  return " << names << " : " << results << "\n}\n";
  return os.str();
}

/// Compiles and runs gecko.working_memory; fails the test on errors.
ChunkedResult runChunked(const Shape &s, const std::string &T, const Vec &aq,
                         const Vec &ak, const Vec &v,
                         const std::vector<int64_t> *seg, const State *state) {
  std::string source = chunkedSource(s, T, seg != nullptr, state != nullptr);
  std::vector<JitBuffer> args = {floatBuffer(T, {s.B, s.L(), s.S()}, aq),
                                 floatBuffer(T, {s.B, s.L(), s.S()}, ak),
                                 floatBuffer(T, {s.B, s.L(), s.E()}, v)};
  if (seg)
    args.push_back(JitBuffer::i64({s.B, s.L()}, toDouble(*seg)));
  if (state) {
    args.push_back(floatBuffer(T, {s.B, s.H, s.dk, s.dv}, state->M));
    args.push_back(floatBuffer(T, {s.B, s.H, s.dk}, state->lam));
    args.push_back(floatBuffer(T, {s.B, s.C, s.S()}, state->prevK));
    args.push_back(floatBuffer(T, {s.B, s.C, s.E()}, state->prevV));
    if (seg) {
      args.push_back(JitBuffer::i64({s.B, s.C}, toDouble(state->prevSeg)));
      args.push_back(JitBuffer::i64({s.B}, toDouble(state->doc)));
    }
  }
  std::string error;
  std::vector<JitBuffer> out = compileAndRun(source, "f", args, error);
  ChunkedResult r;
  EXPECT_EQ(out.size(), seg ? 4u : 3u) << error << "\n" << source;
  if (out.size() < 3)
    return r;
  r.y = out[0].values;
  r.M = out[1].values;
  r.lam = out[2].values;
  if (seg && out.size() == 4)
    for (double d : out[3].values)
      r.doc.push_back(int64_t(d));
  return r;
}

/// The oracle on the same inputs.
ChunkedResult oracleChunked(const Shape &s, const Vec &aq, const Vec &ak,
                            const Vec &v, const std::vector<int64_t> *seg,
                            const State *state) {
  oracle::AwmState st;
  if (state) {
    st.hasMemory = true;
    st.M = state->M;
    st.lambda = state->lam;
    st.hasPrev = true;
    st.prevK = state->prevK;
    st.prevV = state->prevV;
    if (seg) {
      st.hasDoc = true;
      st.docMem = state->doc;
      st.prevSeg = state->prevSeg;
    }
  }
  ChunkedResult r;
  r.y = oracle::adaptiveWorkingMemory(aq, ak, v, s.B, s.L(), s.H, s.dk, s.dv,
                                      s.C, seg ? *seg : oracle::Segments(), st);
  r.M = st.M;
  r.lam = st.lambda;
  if (seg) {
    // docs/dialect.md: nothing absorbed (no state, n_c = 1) gives
    // segments[:, 0]; the oracle leaves doc_mem undefined there.
    if (st.hasDoc)
      r.doc = st.docMem;
    else
      for (int64_t b = 0; b < s.B; ++b)
        r.doc.push_back((*seg)[b * s.L()]);
  }
  return r;
}

void expectSame(const ChunkedResult &got, const ChunkedResult &want,
                double rtol, const std::string &what) {
  EXPECT_TRUE(closeScaled(got.y, want.y, rtol)) << what << ": y";
  EXPECT_TRUE(closeScaled(got.M, want.M, rtol)) << what << ": memory";
  EXPECT_TRUE(closeScaled(got.lam, want.lam, rtol)) << what << ": log_norm";
  EXPECT_EQ(got.doc, want.doc) << what << ": doc_mem";
}

/// A random incoming state; every third Lambda entry is -inf (empty).
State randomState(const Shape &s, uint64_t seed, bool seg,
                  int64_t firstSegOfPrev) {
  State st;
  st.M = randomValues(s.B * s.H * s.dk * s.dv, seed, -1.0, 1.0);
  st.lam = randomValues(s.B * s.H * s.dk, seed + 1, -1.0, 3.0);
  for (size_t i = 0; i < st.lam.size(); i += 3)
    st.lam[i] = -INFINITY;
  st.prevK = randomValues(s.B * s.C * s.S(), seed + 2, -2.0, 2.0);
  st.prevV = randomValues(s.B * s.C * s.E(), seed + 3, -1.0, 1.0);
  if (seg) {
    for (int64_t b = 0; b < s.B; ++b) {
      // Row b: the cached chunk holds documents firstSegOfPrev+{0,1} with a
      // boundary in the middle; doc_mem is either the cached chunk's last
      // document (no reset) or an older one (reset), alternating by row.
      for (int64_t j = 0; j < s.C; ++j)
        st.prevSeg.push_back(firstSegOfPrev + (j >= s.C / 2 ? 1 : 0));
      st.doc.push_back(firstSegOfPrev + (b % 2 == 0 ? 1 : 0));
    }
  }
  return st;
}

struct Inputs {
  Vec aq, ak, v;
};

Inputs randomInputs(const Shape &s, uint64_t seed) {
  return {randomValues(s.B * s.L() * s.S(), seed, -2.0, 2.0),
          randomValues(s.B * s.L() * s.S(), seed + 1, -2.0, 2.0),
          randomValues(s.B * s.L() * s.E(), seed + 2, -1.0, 1.0)};
}

/// Segment patterns for B = 3 rows of n_c chunks of C >= 4 tokens, all
/// continuing document `first` from before the call:
///  row 0: a document starting mid-chunk (C + 1), two documents inside one
///         chunk (2C + 1 and 2C + 3) and one starting at a chunk's last
///         token (3C + C - 1);
///  row 1: documents starting exactly on chunk boundaries (C, 3C);
///  row 2: no boundary at all (one document spanning every chunk).
std::vector<int64_t> edgeSegments(const Shape &s, int64_t first) {
  const int64_t C = s.C;
  std::vector<std::vector<int>> bos = {
      {int(C + 1), int(2 * C + 1), int(2 * C + 3), int(4 * C - 1)},
      {int(C), int(3 * C)},
      {}};
  bos.resize(s.B);
  return segmentsFromBos(s.B, s.L(), bos, first);
}

//===----------------------------------------------------------------------===//
// gecko.working_memory vs the oracle
//===----------------------------------------------------------------------===//

TEST(LowerMemory, ChunkedWithoutStateMatchesOracle) {
  // n_c = 1, 2, 3 (Y = 0 for chunks 0 and 1), odd sizes, C = 1.
  const std::vector<Shape> shapes = {{2, 2, 3, 4, 4, 3},
                                     {1, 1, 5, 3, 3, 1},
                                     {2, 3, 2, 5, 5, 2},
                                     {1, 2, 4, 2, 1, 6},
                                     {3, 1, 4, 4, 4, 5}};
  uint64_t seed = 10;
  for (const std::string T : {"f32", "f64"}) {
    for (const Shape &s : shapes) {
      for (bool seg : {false, true}) {
        Inputs in = randomInputs(s, seed += 7);
        std::vector<int64_t> ids =
            s.B == 3 && s.C >= 4 && s.nc >= 4
                ? edgeSegments(s, 0)
                : segmentsFromBos(s.B, s.L(), {{int(s.L() / 2)}, {1}, {}}, 0);
        const std::vector<int64_t> *segp = seg ? &ids : nullptr;
        ChunkedResult got = runChunked(s, T, in.aq, in.ak, in.v, segp, nullptr);
        ChunkedResult want =
            oracleChunked(s, in.aq, in.ak, in.v, segp, nullptr);
        std::ostringstream what;
        what << T << " B" << s.B << " H" << s.H << " dk" << s.dk << " dv"
             << s.dv << " C" << s.C << " nc" << s.nc << " seg" << seg;
        expectSame(got, want, relTol(T), what.str());
      }
    }
  }
}

TEST(LowerMemory, ChunkedWithStateMatchesOracle) {
  // With a state: n_c = 1 (spec section 11 item 1 with segments), 2, 5;
  // rows alternate between a reset at c = 0 and none; Lambda has -inf
  // entries.
  const std::vector<Shape> shapes = {
      {2, 2, 3, 2, 4, 1}, {3, 2, 2, 3, 4, 2}, {3, 1, 4, 3, 4, 5}};
  uint64_t seed = 100;
  for (const std::string T : {"f32", "f64"}) {
    for (const Shape &s : shapes) {
      for (bool seg : {false, true}) {
        Inputs in = randomInputs(s, seed += 7);
        State st = randomState(s, seed + 3, seg, 4);
        std::vector<int64_t> ids =
            s.nc >= 4 ? edgeSegments(s, 5)
                      : segmentsFromBos(s.B, s.L(), {{2}, {}, {1, 2}}, 5);
        const std::vector<int64_t> *segp = seg ? &ids : nullptr;
        ChunkedResult got = runChunked(s, T, in.aq, in.ak, in.v, segp, &st);
        ChunkedResult want = oracleChunked(s, in.aq, in.ak, in.v, segp, &st);
        std::ostringstream what;
        what << T << " state nc" << s.nc << " seg" << seg;
        expectSame(got, want, relTol(T), what.str());
      }
    }
  }
}

TEST(LowerMemory, ChunkedSegmentEdgeCases) {
  // The patterns of edgeSegments over 6 chunks, plus a row whose document
  // changes exactly at every chunk boundary (every chunk resets M), and a
  // long document (row 2) over which rho decreases.
  Shape s{4, 2, 3, 2, 4, 6};
  std::vector<std::vector<int>> bos = {
      {5, 9, 11, 15}, {4, 12}, {}, {4, 8, 12, 16, 20}};
  std::vector<int64_t> ids = segmentsFromBos(s.B, s.L(), bos, 0);
  for (const std::string T : {"f32", "f64"}) {
    Inputs in = randomInputs(s, 300);
    ChunkedResult got = runChunked(s, T, in.aq, in.ak, in.v, &ids, nullptr);
    ChunkedResult want = oracleChunked(s, in.aq, in.ak, in.v, &ids, nullptr);
    expectSame(got, want, relTol(T), T + " edge cases");
    // Sanity of the pattern: some read rows are masked, others are not.
    int64_t zeros = 0, nonzeros = 0;
    for (int64_t t = 2 * s.C; t < s.L(); ++t)
      for (int64_t b = 0; b < s.B; ++b)
        (want.y[(b * s.L() + t) * s.E()] == 0.0 ? zeros : nonzeros)++;
    EXPECT_GT(zeros, 0);
    EXPECT_GT(nonzeros, 0);
  }
}

//===----------------------------------------------------------------------===//
// State carried across calls equals one long call
//===----------------------------------------------------------------------===//

/// Slices rows [from, from + n) of the time axis of a B x L x W tensor.
Vec timeSlice(const Vec &x, int64_t B, int64_t L, int64_t W, int64_t from,
              int64_t n) {
  Vec out;
  for (int64_t b = 0; b < B; ++b)
    out.insert(out.end(), x.begin() + (b * L + from) * W,
               x.begin() + (b * L + from + n) * W);
  return out;
}

std::vector<int64_t> segSlice(const std::vector<int64_t> &x, int64_t B,
                              int64_t L, int64_t from, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t b = 0; b < B; ++b)
    out.insert(out.end(), x.begin() + b * L + from,
               x.begin() + b * L + from + n);
  return out;
}

TEST(LowerMemory, TwoCallsWithStateEqualOneCall) {
  // 7 chunks in one call vs split after k = 1, 2, 4 chunks, the second call
  // continuing from the first one's memory_out/log_norm_out/doc_mem_out and
  // its last chunk (as the streaming builder slices it).
  Shape whole{3, 2, 3, 2, 4, 7};
  std::vector<int64_t> ids = segmentsFromBos(
      whole.B, whole.L(), {{5, 9, 11, 15, 20}, {4, 12, 16}, {}}, 0);
  Inputs in = randomInputs(whole, 500);
  for (const std::string T : {"f32", "f64"}) {
    for (bool seg : {false, true}) {
      const std::vector<int64_t> *segp = seg ? &ids : nullptr;
      ChunkedResult one =
          runChunked(whole, T, in.aq, in.ak, in.v, segp, nullptr);
      for (int64_t k : {1, 2, 4}) {
        Shape first = whole, second = whole;
        first.nc = k;
        second.nc = whole.nc - k;
        int64_t L1 = first.L(), L = whole.L(), C = whole.C;
        auto part = [&](const Vec &x, int64_t W, int64_t from, int64_t n) {
          return timeSlice(x, whole.B, L, W, from, n);
        };
        std::vector<int64_t> seg1 = segSlice(ids, whole.B, L, 0, L1);
        std::vector<int64_t> seg2 = segSlice(ids, whole.B, L, L1, L - L1);
        ChunkedResult r1 = runChunked(first, T, part(in.aq, whole.S(), 0, L1),
                                      part(in.ak, whole.S(), 0, L1),
                                      part(in.v, whole.E(), 0, L1),
                                      seg ? &seg1 : nullptr, nullptr);
        State st;
        st.M = r1.M;
        st.lam = r1.lam;
        st.prevK = part(in.ak, whole.S(), L1 - C, C);
        st.prevV = part(in.v, whole.E(), L1 - C, C);
        if (seg) {
          st.prevSeg = segSlice(ids, whole.B, L, L1 - C, C);
          st.doc = r1.doc;
        }
        ChunkedResult r2 = runChunked(
            second, T, part(in.aq, whole.S(), L1, L - L1),
            part(in.ak, whole.S(), L1, L - L1),
            part(in.v, whole.E(), L1, L - L1), seg ? &seg2 : nullptr, &st);
        // y of the two calls, re-interleaved per batch row.
        ChunkedResult split;
        for (int64_t b = 0; b < whole.B; ++b) {
          split.y.insert(split.y.end(), r1.y.begin() + b * L1 * whole.E(),
                         r1.y.begin() + (b + 1) * L1 * whole.E());
          split.y.insert(split.y.end(), r2.y.begin() + b * (L - L1) * whole.E(),
                         r2.y.begin() + (b + 1) * (L - L1) * whole.E());
        }
        split.M = r2.M;
        split.lam = r2.lam;
        split.doc = r2.doc;
        expectSame(split, one, relTol(T),
                   T + " split after " + std::to_string(k) + " seg" +
                       std::to_string(seg));
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// gecko.working_memory_step vs a direct fp64 reference
//===----------------------------------------------------------------------===//

void softmax(double *x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    m = std::max(m, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i)
    sum += (x[i] = std::exp(x[i] - m));
  for (int64_t i = 0; i < n; ++i)
    x[i] /= sum;
}

struct StepResult {
  Vec y, M, lam;
  std::vector<int64_t> doc;
};

/// docs/dialect.md gecko.working_memory_step, as direct loops: read every
/// token with the incoming M (rows of another document than doc_mem are
/// 0), then, when P + L = 2C, absorb the cache's first C rows exactly as
/// spec section 3.8 absorbs a chunk.
StepResult stepReference(const Shape &s, int64_t L, int64_t P, const Vec &aq,
                         const Vec &ak, const Vec &v,
                         const std::vector<int64_t> *seg, const Vec &M0,
                         const Vec &lam0, const std::vector<int64_t> &doc0,
                         const Vec &prevK, const Vec &prevV,
                         const std::vector<int64_t> &prevSeg) {
  const int64_t B = s.B, H = s.H, dk = s.dk, dv = s.dv, C = s.C;
  const int64_t S = s.S(), E = s.E();
  StepResult r;
  r.y.assign(B * L * E, 0.0);
  r.M = M0;
  r.lam = lam0;
  r.doc = doc0;
  const bool absorb = P + L == 2 * C;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t d = seg && absorb ? prevSeg[b * P + C - 1] : 0;
    const bool reset = seg && absorb && d != doc0[b];
    for (int64_t h = 0; h < H; ++h) {
      double *M = &r.M[(b * H + h) * dk * dv];
      double *lam = &r.lam[(b * H + h) * dk];
      // 1. Read.
      for (int64_t t = 0; t < L; ++t) {
        if (seg && (*seg)[b * L + t] != doc0[b])
          continue;
        Vec p(&aq[(b * L + t) * S + h * dk],
              &aq[(b * L + t) * S + h * dk] + dk);
        softmax(p.data(), dk);
        for (int64_t e = 0; e < dv; ++e)
          for (int64_t k = 0; k < dk; ++k)
            r.y[(b * L + t) * E + h * dv + e] += p[k] * M[k * dv + e];
      }
      if (!absorb)
        continue;
      // 2. Absorb cache rows 0..C-1.
      if (reset) {
        std::fill(M, M + dk * dv, 0.0);
        std::fill(lam, lam + dk, -INFINITY);
      }
      auto key = [&](int64_t j) { return &prevK[(b * P + j) * S + h * dk]; };
      auto val = [&](int64_t j) { return &prevV[(b * P + j) * E + h * dv]; };
      auto valid = [&](int64_t j) { return !seg || prevSeg[b * P + j] == d; };
      Vec R(C * dv);
      for (int64_t j = 0; j < C; ++j) {
        Vec f(key(j), key(j) + dk);
        softmax(f.data(), dk);
        for (int64_t e = 0; e < dv; ++e) {
          double pred = 0.0;
          for (int64_t k = 0; k < dk; ++k)
            pred += f[k] * M[k * dv + e];
          R[j * dv + e] = val(j)[e] - pred;
        }
      }
      for (int64_t k = 0; k < dk; ++k) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < C; ++j)
          if (valid(j))
            mx = std::max(mx, key(j)[k]);
        double sum = 0.0;
        for (int64_t j = 0; j < C; ++j)
          if (valid(j))
            sum += std::exp(key(j)[k] - mx);
        double ell = mx + std::log(sum);
        double lamNew =
            std::isinf(lam[k])
                ? ell
                : std::max(ell, lam[k]) +
                      std::log(std::exp(ell - std::max(ell, lam[k])) +
                               std::exp(lam[k] - std::max(ell, lam[k])));
        double rho = std::exp(ell - lamNew);
        for (int64_t e = 0; e < dv; ++e) {
          double U = 0.0;
          for (int64_t j = 0; j < C; ++j)
            if (valid(j))
              U += std::exp(key(j)[k] - ell) * R[j * dv + e];
          M[k * dv + e] += rho * (U - M[k * dv + e]);
        }
        lam[k] = lamNew;
      }
    }
    if (seg && absorb)
      r.doc[b] = d;
  }
  return r;
}

/// Step functions: with `dynamic`, one function @<name>_dyn taking caches
/// of 2C rows and the cache length P as a tensor<1xi64>, slicing the first
/// P rows with a run-time size so that the op sees a dynamic P (the
/// lowering's scf.if path; dynamic shapes cannot cross the kernel ABI
/// itself); otherwise one function @<name>_<P> per static P in `ps`.
std::string stepSource(const Shape &s, const std::string &T, int64_t L,
                       bool seg, const std::vector<int64_t> &ps,
                       const std::string &name, bool dynamic) {
  std::string q = tensorType({s.B, L, s.S()}, T);
  std::string v = tensorType({s.B, L, s.E()}, T);
  std::string sg = tensorType({s.B, L}, "i64");
  std::string m = tensorType({s.B, s.H, s.dk, s.dv}, T);
  std::string l = tensorType({s.B, s.H, s.dk}, T);
  std::string doc = tensorType({s.B}, "i64");
  std::string results = v + ", " + m + ", " + l + (seg ? ", " + doc : "");
  std::string outs = seg ? "%y, %mo, %lo, %do" : "%y, %mo, %lo";
  auto function = [&](const std::string &fn, int64_t P) {
    int64_t argP = P < 0 ? 2 * s.C : P;
    std::string pk = tensorType({s.B, P, s.S()}, T);
    std::string pv = tensorType({s.B, P, s.E()}, T);
    std::string psg = tensorType({s.B, P}, "i64");
    std::string args = "%aq: " + q + ", %ak: " + q + ", %v: " + v;
    std::string types = q + ", " + q + ", " + v;
    if (seg) {
      args += ", %s: " + sg;
      types += ", " + sg;
    }
    args += ", %m: " + m + ", %l: " + l;
    types += ", " + m + ", " + l;
    if (seg) {
      args += ", %doc: " + doc;
      types += ", " + doc;
    }
    args += ", %pk0: " + tensorType({s.B, argP, s.S()}, T) +
            ", %pv0: " + tensorType({s.B, argP, s.E()}, T);
    types += ", " + pk + ", " + pv;
    if (seg) {
      args += ", %ps0: " + tensorType({s.B, argP}, "i64");
      types += ", " + psg;
    }
    if (P < 0)
      args += ", %pt: tensor<1xi64>";
    std::ostringstream os;
    os << "func.func @" << fn << "(" << args << ") -> (" << results << ") {\n";
    if (P < 0) {
      os << "  %c0 = arith.constant 0 : index\n"
         << "  %p64 = tensor.extract %pt[%c0] : tensor<1xi64>\n"
         << "  %p = arith.index_cast %p64 : i64 to index\n"
         << "  %pk = tensor.extract_slice %pk0[0, 0, 0] [" << s.B << ", %p, "
         << s.S() << "] [1, 1, 1] : " << tensorType({s.B, argP, s.S()}, T)
         << " to " << pk << "\n"
         << "  %pv = tensor.extract_slice %pv0[0, 0, 0] [" << s.B << ", %p, "
         << s.E() << "] [1, 1, 1] : " << tensorType({s.B, argP, s.E()}, T)
         << " to " << pv << "\n";
      if (seg)
        os << "  %ps = tensor.extract_slice %ps0[0, 0] [" << s.B
           << ", %p] [1, 1] : " << tensorType({s.B, argP}, "i64") << " to "
           << psg << "\n";
    }
    std::string suffix = P < 0 ? "" : "0";
    os << "  " << outs << " = gecko.working_memory_step %aq, %ak, %v"
       << (seg ? " segments(%s)" : "") << " state(%m, %l"
       << (seg ? ", %doc" : "") << ") cache(%pk" << suffix << ", %pv" << suffix
       << (seg ? ", %ps" + suffix : "") << ") heads(" << s.H << ") chunk("
       << s.C << ") : " << types << "\n"
       << "  return " << outs << " : " << results << "\n}\n";
    return os.str();
  };
  if (dynamic)
    return function(name + "_dyn", -1);
  std::string source;
  for (int64_t P : ps)
    source += function(name + "_" + std::to_string(P), P);
  return source;
}

/// Runs a step function of stepSource (`dynamic` as there).
StepResult runStep(CpuJit &jit, const std::string &fn, bool dynamic,
                   const Shape &s, const std::string &T, int64_t L, int64_t P,
                   const Vec &aq, const Vec &ak, const Vec &v,
                   const std::vector<int64_t> *seg, const Vec &M,
                   const Vec &lam, const std::vector<int64_t> &doc,
                   const Vec &prevK, const Vec &prevV,
                   const std::vector<int64_t> &prevSeg) {
  std::vector<JitBuffer> args = {floatBuffer(T, {s.B, L, s.S()}, aq),
                                 floatBuffer(T, {s.B, L, s.S()}, ak),
                                 floatBuffer(T, {s.B, L, s.E()}, v)};
  if (seg)
    args.push_back(JitBuffer::i64({s.B, L}, toDouble(*seg)));
  args.push_back(floatBuffer(T, {s.B, s.H, s.dk, s.dv}, M));
  args.push_back(floatBuffer(T, {s.B, s.H, s.dk}, lam));
  if (seg)
    args.push_back(JitBuffer::i64({s.B}, toDouble(doc)));
  // Dynamic: caches padded to 2C rows (garbage past P must not be read).
  int64_t rows = dynamic ? 2 * s.C : P;
  auto pad = [&](const Vec &x, int64_t W) {
    Vec out(s.B * rows * W, 1e30);
    for (int64_t b = 0; b < s.B; ++b)
      std::copy_n(&x[b * P * W], P * W, &out[b * rows * W]);
    return out;
  };
  args.push_back(floatBuffer(T, {s.B, rows, s.S()}, pad(prevK, s.S())));
  args.push_back(floatBuffer(T, {s.B, rows, s.E()}, pad(prevV, s.E())));
  if (seg) {
    std::vector<double> ps(s.B * rows, -5.0);
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t j = 0; j < P; ++j)
        ps[b * rows + j] = double(prevSeg[b * P + j]);
    args.push_back(JitBuffer::i64({s.B, rows}, ps));
  }
  if (dynamic)
    args.push_back(JitBuffer::i64({1}, {double(P)}));
  std::vector<JitBuffer> out;
  std::string error;
  StepResult r;
  EXPECT_TRUE(jit.run(dynamic ? fn + "_dyn" : fn + "_" + std::to_string(P),
                      args, out, error))
      << error;
  if (out.size() < 3)
    return r;
  r.y = out[0].values;
  r.M = out[1].values;
  r.lam = out[2].values;
  if (seg && out.size() == 4)
    for (double d : out[3].values)
      r.doc.push_back(int64_t(d));
  return r;
}

TEST(LowerMemory, StepMatchesReference) {
  // L = 1 (decode) and L = 3 (tail), cache lengths P without an absorption
  // (P = C, and 2C - L - 1 for decode) and with one (P = 2C - L); static
  // and dynamic P; rows alternate between a reset and none; Lambda has
  // -inf entries.
  Shape s{3, 2, 3, 2, 4, 0};
  for (const std::string T : {"f32", "f64"}) {
    for (bool dynamic : {false, true}) {
      for (int64_t L : {1, 3}) {
        std::vector<int64_t> ps = {s.C, 2 * s.C - L};
        if (L == 1)
          ps.push_back(2 * s.C - 2);
        for (bool seg : {false, true}) {
          std::string error;
          std::unique_ptr<CpuJit> jit = CpuJit::compile(
              stepSource(s, T, L, seg, ps, "step", dynamic), error);
          ASSERT_TRUE(jit) << error;
          for (int64_t P : ps) {
            uint64_t seed = 1000 + 10 * P + L;
            Vec aq = randomValues(s.B * L * s.S(), seed, -2, 2);
            Vec ak = randomValues(s.B * L * s.S(), seed + 1, -2, 2);
            Vec v = randomValues(s.B * L * s.E(), seed + 2, -1, 1);
            Shape cs = s;
            cs.nc = 1;
            State st = randomState(cs, seed + 3, false, 0);
            Vec prevK = randomValues(s.B * P * s.S(), seed + 4, -2, 2);
            Vec prevV = randomValues(s.B * P * s.E(), seed + 5, -1, 1);
            // Cache: document 7 then 8 from row C/2 on (the absorbed chunk
            // has invalid rows); doc_mem 8 (row 0, no reset), 7 (row 1,
            // reset), 8 (row 2); call: document 8, then 9 at its last token.
            std::vector<int64_t> prevSeg, ids, doc = {8, 7, 8};
            for (int64_t b = 0; b < s.B; ++b) {
              for (int64_t j = 0; j < P; ++j)
                prevSeg.push_back(j >= s.C / 2 ? 8 : 7);
              for (int64_t t = 0; t < L; ++t)
                ids.push_back(t == L - 1 && L > 1 ? 9 : 8);
            }
            const std::vector<int64_t> *segp = seg ? &ids : nullptr;
            StepResult got =
                runStep(*jit, "step", dynamic, s, T, L, P, aq, ak, v, segp,
                        st.M, st.lam, doc, prevK, prevV, prevSeg);
            StepResult want = stepReference(s, L, P, aq, ak, v, segp, st.M,
                                            st.lam, doc, prevK, prevV, prevSeg);
            std::string what =
                T + " L" + std::to_string(L) + " P" + std::to_string(P) +
                " seg" + std::to_string(seg) + " dyn" + std::to_string(dynamic);
            EXPECT_TRUE(closeScaled(got.y, want.y, relTol(T))) << what;
            EXPECT_TRUE(closeScaled(got.M, want.M, relTol(T))) << what;
            EXPECT_TRUE(closeScaled(got.lam, want.lam, relTol(T))) << what;
            if (seg)
              EXPECT_EQ(got.doc, want.doc) << what;
          }
        }
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// A stream of prefill / tail / decode calls equals one call
//===----------------------------------------------------------------------===//

TEST(LowerMemory, StreamEqualsOneCall) {
  // Spec section 4.3 with the builder's cache handling done here: prefill
  // of one chunk (no state: M = 0, Lambda = -inf, doc_mem = seg[:, 0]), a
  // tail of 3 tokens, decode steps across the first real absorption (at
  // 2C) and the next boundary, then a prefill of two chunks with the state
  // and the rolled cache. Per-token outputs and the final state must equal
  // one gecko.working_memory call over the whole stream (spec section 4.5).
  Shape whole{2, 2, 3, 2, 4, 5};
  const int64_t B = whole.B, C = whole.C, N = whole.L(), S = whole.S(),
                E = whole.E();
  const int64_t tail = 3;
  std::vector<int64_t> ids =
      segmentsFromBos(B, N, {{5, 9, 11, 15, 17}, {4, 12}}, 3);
  Inputs in = randomInputs(whole, 900);
  for (const std::string T : {"f32", "f64"}) {
    for (bool seg : {false, true}) {
      const std::vector<int64_t> *segp = seg ? &ids : nullptr;
      ChunkedResult one =
          runChunked(whole, T, in.aq, in.ak, in.v, segp, nullptr);
      std::string error;
      std::vector<int64_t> decodePs;
      for (int64_t P = C; P < 2 * C; ++P)
        decodePs.push_back(P);
      std::unique_ptr<CpuJit> tailJit = CpuJit::compile(
          stepSource(whole, T, tail, seg, {C}, "tail", true), error);
      ASSERT_TRUE(tailJit) << error;
      std::unique_ptr<CpuJit> decodeJit = CpuJit::compile(
          stepSource(whole, T, 1, seg, decodePs, "dec", true), error);
      ASSERT_TRUE(decodeJit) << error;

      Vec y(B * N * E, 0.0);
      auto putY = [&](const Vec &part, int64_t from, int64_t n) {
        for (int64_t b = 0; b < B; ++b)
          std::copy_n(&part[b * n * E], n * E, &y[(b * N + from) * E]);
      };
      auto part = [&](const Vec &x, int64_t W, int64_t from, int64_t n) {
        return timeSlice(x, B, N, W, from, n);
      };
      // Prefill of one chunk.
      Shape first = whole;
      first.nc = 1;
      std::vector<int64_t> seg0 = segSlice(ids, B, N, 0, C);
      ChunkedResult r0 =
          runChunked(first, T, part(in.aq, S, 0, C), part(in.ak, S, 0, C),
                     part(in.v, E, 0, C), seg ? &seg0 : nullptr, nullptr);
      putY(r0.y, 0, C);
      Vec M = r0.M, lam = r0.lam;
      std::vector<int64_t> doc = r0.doc;
      // The caches hold the tokens since the last roll: [start, pos).
      int64_t cacheStart = 0, pos = C;
      auto step = [&](CpuJit &jit, const std::string &fn, int64_t L) {
        int64_t P = pos - cacheStart;
        std::vector<int64_t> segc = segSlice(ids, B, N, pos, L);
        std::vector<int64_t> prevSeg = segSlice(ids, B, N, cacheStart, P);
        StepResult r = runStep(jit, fn, true, whole, T, L, P,
                               part(in.aq, S, pos, L), part(in.ak, S, pos, L),
                               part(in.v, E, pos, L), seg ? &segc : nullptr, M,
                               lam, doc, part(in.ak, S, cacheStart, P),
                               part(in.v, E, cacheStart, P), prevSeg);
        putY(r.y, pos, L);
        M = r.M;
        lam = r.lam;
        if (seg)
          doc = r.doc;
        pos += L;
        if (pos % C == 0)
          cacheStart = pos - C; // roll to the last C rows
      };
      step(*tailJit, "tail", tail);
      while (pos < 3 * C)
        step(*decodeJit, "dec", 1);
      // Prefill of the last two chunks with the state.
      Shape last = whole;
      last.nc = 2;
      State st;
      st.M = M;
      st.lam = lam;
      st.prevK = part(in.ak, S, pos - C, C);
      st.prevV = part(in.v, E, pos - C, C);
      st.prevSeg = segSlice(ids, B, N, pos - C, C);
      st.doc = doc;
      std::vector<int64_t> segL = segSlice(ids, B, N, pos, 2 * C);
      ChunkedResult r2 = runChunked(
          last, T, part(in.aq, S, pos, 2 * C), part(in.ak, S, pos, 2 * C),
          part(in.v, E, pos, 2 * C), seg ? &segL : nullptr, &st);
      putY(r2.y, pos, 2 * C);
      ChunkedResult stream{y, r2.M, r2.lam, r2.doc};
      expectSame(stream, one, relTol(T),
                 T + " stream seg" + std::to_string(seg));
    }
  }
}

//===----------------------------------------------------------------------===//
// gecko.working_memory_grad vs central finite differences
//===----------------------------------------------------------------------===//

/// One gradient case: the forward inputs, an optional state and random
/// cotangents of y and (optionally) of the final memory and log-normaliser.
struct GradCase {
  Shape s;
  bool seg, state, dmem, dlam;
};

std::string gradSource(const GradCase &g, const std::string &T) {
  const Shape &s = g.s;
  std::string aq = tensorType({s.B, s.L(), s.S()}, T);
  std::string v = tensorType({s.B, s.L(), s.E()}, T);
  std::string sg = tensorType({s.B, s.L()}, "i64");
  std::string m = tensorType({s.B, s.H, s.dk, s.dv}, T);
  std::string l = tensorType({s.B, s.H, s.dk}, T);
  std::string pk = tensorType({s.B, s.C, s.S()}, T);
  std::string pv = tensorType({s.B, s.C, s.E()}, T);
  std::string ps = tensorType({s.B, s.C}, "i64");
  std::string doc = tensorType({s.B}, "i64");
  std::string args =
      "%dy: " + v + ", %aq: " + aq + ", %ak: " + aq + ", %v: " + v;
  std::string operands = "%dy, %aq, %ak, %v";
  std::string types = v + ", " + aq + ", " + aq + ", " + v;
  if (g.seg) {
    args += ", %s: " + sg;
    operands += " segments(%s)";
    types += ", " + sg;
  }
  if (g.state) {
    args += ", %m: " + m + ", %l: " + l + ", %pk: " + pk + ", %pv: " + pv;
    operands += " state(%m, %l, %pk, %pv";
    types += ", " + m + ", " + l + ", " + pk + ", " + pv;
    if (g.seg) {
      args += ", %ps: " + ps + ", %doc: " + doc;
      operands += ", %ps, %doc";
      types += ", " + ps + ", " + doc;
    }
    operands += ")";
  }
  if (g.dmem) {
    args += ", %dm: " + m;
    operands += " memory_grad(%dm)";
    types += ", " + m;
  }
  if (g.dlam) {
    args += ", %dl: " + l;
    operands += " log_norm_grad(%dl)";
    types += ", " + l;
  }
  std::string results = aq + ", " + aq + ", " + v;
  std::string names = "%ga, %gk, %gv";
  if (g.state) {
    results += ", " + m + ", " + l + ", " + pk + ", " + pv;
    names += ", %gm, %gl, %gpk, %gpv";
  }
  std::ostringstream os;
  os << "func.func @g(" << args << ") -> (" << results << ") {\n"
     << "  " << names << " = gecko.working_memory_grad " << operands
     << " heads(" << s.H << ") chunk(" << s.C << ") : " << types << "\n"
     << "  return " << names << " : " << results << "\n}\n";
  return os.str();
}

/// max |got - want| / max |want| per tensor; a tensor that is all zero must
/// be zero to 1e-12 absolute.
::testing::AssertionResult gradClose(const Vec &got, const Vec &want,
                                     double tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size mismatch";
  double scale = 0.0, worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(want[i]));
    double err = std::fabs(got[i] - want[i]);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  double rel = scale > 0 ? worst / scale : worst;
  double bound = scale > 0 ? tol : 1e-12;
  if (rel <= bound)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "relative error " << rel << " at " << at << " (got " << got[at]
         << ", want " << want[at] << ", scale " << scale << ")";
}

void checkGradient(const GradCase &g, uint64_t seed) {
  const Shape &s = g.s;
  Inputs in = randomInputs(s, seed);
  State st = randomState(s, seed + 10, g.seg, 4);
  std::vector<int64_t> ids =
      s.nc >= 4 ? edgeSegments(s, 5)
                : segmentsFromBos(s.B, s.L(), {{2}, {int(s.C)}, {1, 2}}, 5);
  const std::vector<int64_t> *segp = g.seg ? &ids : nullptr;
  Vec dy = randomValues(s.B * s.L() * s.E(), seed + 20, -1, 1);
  Vec dm = g.dmem ? randomValues(s.B * s.H * s.dk * s.dv, seed + 21, -1, 1)
                  : Vec(s.B * s.H * s.dk * s.dv, 0.0);
  Vec dl = g.dlam ? randomValues(s.B * s.H * s.dk, seed + 22, -1, 1)
                  : Vec(s.B * s.H * s.dk, 0.0);

  // The scalar whose gradient the op returns, through the fp64 oracle.
  auto loss = [&](const Inputs &x, const State &state) {
    ChunkedResult r =
        oracleChunked(s, x.aq, x.ak, x.v, segp, g.state ? &state : nullptr);
    double total = 0.0;
    for (size_t i = 0; i < dy.size(); ++i)
      total += dy[i] * r.y[i];
    for (size_t i = 0; i < dm.size(); ++i)
      total += dm[i] * r.M[i];
    for (size_t i = 0; i < dl.size(); ++i)
      if (std::isfinite(r.lam[i])) // -inf: nothing absorbed, no gradient
        total += dl[i] * r.lam[i];
    return total;
  };
  // Central differences; -inf entries (empty Lambda) are not perturbed and
  // must get exactly 0.
  const double h = 1e-5;
  auto numeric = [&](Vec &x, Inputs &inp, State &state) {
    Vec grad(x.size(), 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isinf(x[i]))
        continue;
      double saved = x[i];
      x[i] = saved + h;
      double up = loss(inp, state);
      x[i] = saved - h;
      double down = loss(inp, state);
      x[i] = saved;
      grad[i] = (up - down) / (2 * h);
    }
    return grad;
  };
  Inputs inp = in;
  State stp = st;
  std::vector<std::pair<std::string, Vec>> want = {
      {"daq", numeric(inp.aq, inp, stp)},
      {"dak", numeric(inp.ak, inp, stp)},
      {"dv", numeric(inp.v, inp, stp)}};
  if (g.state) {
    want.push_back({"dmemory_in", numeric(stp.M, inp, stp)});
    want.push_back({"dlog_norm_in", numeric(stp.lam, inp, stp)});
    want.push_back({"dprev_ak", numeric(stp.prevK, inp, stp)});
    want.push_back({"dprev_v", numeric(stp.prevV, inp, stp)});
  }

  for (const std::string T : {"f64", "f32"}) {
    std::vector<JitBuffer> args = {floatBuffer(T, {s.B, s.L(), s.E()}, dy),
                                   floatBuffer(T, {s.B, s.L(), s.S()}, in.aq),
                                   floatBuffer(T, {s.B, s.L(), s.S()}, in.ak),
                                   floatBuffer(T, {s.B, s.L(), s.E()}, in.v)};
    if (g.seg)
      args.push_back(JitBuffer::i64({s.B, s.L()}, toDouble(ids)));
    if (g.state) {
      args.push_back(floatBuffer(T, {s.B, s.H, s.dk, s.dv}, st.M));
      args.push_back(floatBuffer(T, {s.B, s.H, s.dk}, st.lam));
      args.push_back(floatBuffer(T, {s.B, s.C, s.S()}, st.prevK));
      args.push_back(floatBuffer(T, {s.B, s.C, s.E()}, st.prevV));
      if (g.seg) {
        args.push_back(JitBuffer::i64({s.B, s.C}, toDouble(st.prevSeg)));
        args.push_back(JitBuffer::i64({s.B}, toDouble(st.doc)));
      }
    }
    if (g.dmem)
      args.push_back(floatBuffer(T, {s.B, s.H, s.dk, s.dv}, dm));
    if (g.dlam)
      args.push_back(floatBuffer(T, {s.B, s.H, s.dk}, dl));
    std::string source = gradSource(g, T), error;
    std::vector<JitBuffer> out = compileAndRun(source, "g", args, error);
    ASSERT_EQ(out.size(), want.size()) << error << "\n" << source;
    // f64: 1e-6 of each tensor's largest entry (finite differences with
    // h = 1e-5 are accurate to ~1e-9 here). f32: the backward accumulates
    // in f32 and has cancellations (sbwd, 1 - rho), 1e-4.
    double tol = T == "f64" ? 1e-6 : 1e-4;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(gradClose(out[i].values, want[i].second, tol))
          << T << " " << want[i].first << " seg" << g.seg << " state" << g.state
          << " nc" << s.nc;
    // The call's last chunk is never absorbed: zero dak and dv there.
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t t = s.L() - s.C; t < s.L(); ++t) {
        for (int64_t c = 0; c < s.S(); ++c)
          EXPECT_EQ(out[1].values[(b * s.L() + t) * s.S() + c], 0.0);
        for (int64_t c = 0; c < s.E(); ++c)
          EXPECT_EQ(out[2].values[(b * s.L() + t) * s.E() + c], 0.0);
      }
    // Empty Lambda entries get exactly zero gradient.
    if (g.state)
      for (size_t i = 0; i < st.lam.size(); ++i)
        if (std::isinf(st.lam[i]))
          EXPECT_EQ(out[4].values[i], 0.0) << i;
  }
}

TEST(LowerMemory, GradWithoutStateMatchesFiniteDifferences) {
  // The training case (no state cotangents), then segments with the edge
  // patterns and final-state cotangents; n_c = 1 (all zero), 2, 3, 5.
  checkGradient({{2, 2, 3, 2, 4, 3}, false, false, false, false}, 2000);
  checkGradient({{3, 2, 3, 2, 4, 5}, true, false, true, true}, 2100);
  checkGradient({{2, 1, 4, 3, 3, 2}, true, false, false, false}, 2200);
  checkGradient({{2, 2, 2, 2, 4, 1}, false, false, false, false}, 2300);
}

TEST(LowerMemory, GradWithStateMatchesFiniteDifferences) {
  // A state with -inf Lambda entries; with segments rows alternate between
  // a reset at c = 0 (zero dmemory_in there) and none.
  checkGradient({{2, 2, 3, 2, 4, 1}, false, true, true, true}, 3000);
  checkGradient({{3, 2, 2, 3, 4, 2}, true, true, true, true}, 3100);
  checkGradient({{3, 1, 3, 2, 4, 4}, true, true, false, false}, 3200);
}

} // namespace
} // namespace gecko::testing
