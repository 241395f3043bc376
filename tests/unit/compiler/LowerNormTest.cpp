//===- LowerNormTest.cpp - Compiled norm-family ops vs the fp64 oracle ----===//
//
// Each test compiles a one-op gecko function with the CPU pipeline, runs it
// on random inputs and compares with tests/oracle in double precision (see
// LowerBasicTest.cpp for the method).
//
// Tolerances (|got - want| <= atol + rtol |want|):
//  - f64: rtol = atol = 1e-12. Every value goes through O(F) additions and a
//    handful of operations in f64 (about 1e-15 relative); 1e-12 leaves room
//    for the 1 - beta^n cancellation of TDN (1e-16 / 1e-4) and long scans.
//  - f32: rtol = atol = 2e-6. The group statistics accumulate in f32 over at
//    most 16 channels here (about 1e-6 relative in the worst case, typically
//    1e-7), and y = (x - mean) r s + b adds a few roundings. The absolute
//    part covers outputs near zero, where x - mean cancels (inputs and
//    outputs are O(1)). For TDN the oracle runs with
//    Config::tdnFp32BiasCorrection's emulation, which the lowering
//    reproduces exactly; against exact arithmetic the f32 result differs by
//    up to ~1e-4 (tests/oracle/NOTES.md), which TdnF32NeedsFp32Powers shows.
//
// The backward ops are checked against central finite differences of the
// fp64 oracle forward; their tolerances are given where those tests start.
//
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

namespace gecko::testing {
namespace {

using oracle::Vec;

constexpr double kEps = 1e-5;
constexpr double kBeta1 = 0.999;
constexpr double kBeta2 = 0.9999;

double rtolFor(const std::string &type) { return type == "f32" ? 2e-6 : 1e-12; }

/// Replaces every "FT" in `source` with the element type.
std::string withType(std::string source, const std::string &type) {
  for (size_t pos; (pos = source.find("FT")) != std::string::npos;)
    source.replace(pos, 2, type);
  return source;
}

/// "AxBxC" for a shape.
std::string dims(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

JitBuffer floats(const std::string &type, std::vector<int64_t> shape,
                 std::vector<double> v) {
  return type == "f32" ? JitBuffer::f32(std::move(shape), std::move(v))
                       : JitBuffer::f64(std::move(shape), std::move(v));
}

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<JitBuffer> run(const std::string &source,
                           const std::vector<JitBuffer> &args) {
  std::string error;
  std::vector<JitBuffer> out = compileAndRun(source, "f", args, error);
  EXPECT_FALSE(out.empty()) << error << "\n" << source;
  return out;
}

//===----------------------------------------------------------------------===//
// rms_norm, layer_norm
//===----------------------------------------------------------------------===//

struct GroupNormCase {
  std::vector<int64_t> shape; ///< x; the last dimension is F
  int64_t groups;
  bool weight, bias;
  bool dynamic; ///< pass x to the op as tensor<?x...> (tensor.cast)
};

const GroupNormCase kGroupNormCases[] = {
    {{3, 5, 8}, 2, true, true, false},  {{7, 12}, 3, false, false, false},
    {{10}, 5, true, false, false},      {{2, 3, 1, 6}, 1, false, true, false},
    {{4, 9, 15}, 5, true, true, false}, {{5, 16}, 4, true, true, true},
};

/// A function applying `opText` (with %x, %w, %b and type text `types`) to
/// x, optionally through a dynamically shaped view.
std::string groupNormSource(const GroupNormCase &c, const std::string &op) {
  std::string xType = "tensor<" + dims(c.shape) + "xFT>";
  std::string dynType = xType;
  if (c.dynamic) {
    dynType = "tensor<";
    for (size_t i = 0; i + 1 < c.shape.size(); ++i)
      dynType += "?x";
    dynType += std::to_string(c.shape.back()) + "xFT>";
  }
  std::string pType = "tensor<" + std::to_string(c.shape.back()) + "xFT>";
  std::string operands = " %xd", types = dynType;
  if (c.weight) {
    operands += " weight(%w)";
    types += ", " + pType;
  }
  if (c.bias) {
    operands += " bias(%b)";
    types += ", " + pType;
  }
  std::string s = "func.func @f(%x: " + xType;
  if (c.weight)
    s += ", %w: " + pType;
  if (c.bias)
    s += ", %b: " + pType;
  s += ") -> " + xType + " {\n";
  s += "  %xd = tensor.cast %x : " + xType + " to " + dynType + "\n";
  s += "  %y = gecko." + op + operands + " groups(" + std::to_string(c.groups) +
       ") eps(1.0e-05) : " + types + "\n";
  s += "  %ys = tensor.cast %y : " + dynType + " to " + xType + "\n";
  s += "  return %ys : " + xType + "\n}\n";
  return s;
}

void checkGroupNorm(const std::string &op) {
  for (const std::string type : {"f32", "f64"}) {
    uint64_t seed = 10;
    for (const GroupNormCase &c : kGroupNormCases) {
      if (op == "rms_norm" && c.bias)
        continue;
      SCOPED_TRACE(op + " " + type + " " + dims(c.shape) + " groups " +
                   std::to_string(c.groups));
      int64_t F = c.shape.back();
      int64_t rows = product(c.shape) / F;
      // Offset inputs, so that the centering of layer_norm matters.
      Vec x = randomValues(rows * F, ++seed, -1.5, 2.5);
      Vec w = randomValues(F, ++seed, -0.5, 0.5);
      Vec b = randomValues(F, ++seed, -0.5, 0.5);
      std::vector<JitBuffer> args{floats(type, c.shape, x)};
      if (c.weight)
        args.push_back(floats(type, {F}, w));
      if (c.bias)
        args.push_back(floats(type, {F}, b));
      std::vector<JitBuffer> out =
          run(withType(groupNormSource(c, op), type), args);
      if (out.empty())
        continue;
      Vec expected = op == "rms_norm"
                         ? oracle::groupRmsNorm(x, rows, F, c.groups,
                                                c.weight ? &w : nullptr, kEps)
                         : oracle::groupLayerNorm(x, rows, F, c.groups,
                                                  c.weight ? &w : nullptr,
                                                  c.bias ? &b : nullptr, kEps);
      EXPECT_TRUE(
          allClose(out[0].values, expected, rtolFor(type), rtolFor(type)));
    }
  }
}

TEST(LowerNorm, RmsNormMatchesOracle) { checkGroupNorm("rms_norm"); }

TEST(LowerNorm, LayerNormMatchesOracle) { checkGroupNorm("layer_norm"); }

//===----------------------------------------------------------------------===//
// timestep_decay_norm, timestep_norm
//===----------------------------------------------------------------------===//

struct TimestepCase {
  const char *name;
  int64_t B, L, D, G;
  bool withState;
  std::vector<int64_t> count0;             ///< B incoming counts (with a state)
  std::vector<std::vector<int64_t>> bosAt; ///< per row; empty = no bos operand
};

// Spec section 10's tricky cases: bos at t = 0 with a nonzero incoming
// state, consecutive bos, bos on the last token, n0 > 0 from a cache, and
// counts past the end of the fp32 power tables (beta2's is complete after
// about 173k tokens, beta1's after 17k).
const TimestepCase kTimestepCases[] = {
    {"plain", 2, 7, 12, 3, false, {}, {}},
    {"odd", 3, 1, 15, 5, false, {}, {}},
    {"state", 2, 9, 8, 2, true, {5, 37}, {}},
    {"bos", 3, 11, 12, 4, true, {3, 0, 1000}, {{0, 5}, {3, 4, 5}, {10}}},
    {"bos_no_state", 2, 6, 8, 2, false, {}, {{0}, {2}}},
    {"long_count", 2, 5, 8, 2, true, {100000, 400000}, {{}, {2}}},
    {"count_mid_table", 1, 3, 4, 1, true, {20000}, {}},
    // Table entry n0 / 256 plus n0 % 256 replayed products, where 1 - beta^n
    // is far from 1 and fp32 rounding of the product is visible.
    {"count_table_rest", 2, 4, 8, 2, true, {777, 1300}, {}},
};

struct TimestepInputs {
  Vec x, w, b, m0, v0;
  oracle::BosMask bos;
};

TimestepInputs makeInputs(const TimestepCase &c, uint64_t seed) {
  TimestepInputs in;
  in.x = randomValues(c.B * c.L * c.D, seed, -1.5, 2.5);
  in.w = randomValues(c.D, seed + 1, -0.5, 0.5);
  in.b = randomValues(c.D, seed + 2, -0.5, 0.5);
  in.m0 = randomValues(c.B * c.G, seed + 3, -1.0, 1.0);
  in.v0 = randomValues(c.B * c.G, seed + 4, 0.2, 2.0);
  if (!c.bosAt.empty()) {
    in.bos.assign(c.B * c.L, 0);
    for (int64_t r = 0; r < c.B; ++r)
      for (int64_t t : c.bosAt[r])
        in.bos[r * c.L + t] = 1;
  }
  return in;
}

/// A function calling gecko.<op> with the case's optional operands.
std::string timestepSource(const std::string &op, const TimestepCase &c,
                           const std::string &type) {
  std::string x = "tensor<" + dims({c.B, c.L, c.D}) + "xFT>";
  std::string p = "tensor<" + std::to_string(c.D) + "xFT>";
  std::string st = "tensor<" + dims({c.B, c.G}) + "xFT>";
  std::string n = "tensor<" + std::to_string(c.B) + "xi64>";
  std::string bos = "tensor<" + dims({c.B, c.L}) + "xi1>";
  std::string args = "%x: " + x + ", %w: " + p + ", %b: " + p;
  std::string operands = " %x weight(%w) bias(%b)";
  std::string types = x + ", " + p + ", " + p;
  if (!c.bosAt.empty()) {
    args += ", %bos: " + bos;
    operands += " bos(%bos)";
    types += ", " + bos;
  }
  if (c.withState) {
    args += ", %n0: " + n + ", %m0: " + st + ", %v0: " + st;
    operands += " state(%n0, %m0, %v0)";
    types += ", " + n + ", " + st + ", " + st;
  }
  std::string attrs = " groups(" + std::to_string(c.G) + ")";
  if (op == "timestep_decay_norm")
    attrs += " betas(0.999, 0.9999)";
  attrs += " eps(1.0e-05)";
  std::string results = x + ", " + n + ", " + st + ", " + st;
  return withType("func.func @f(" + args + ") -> (" + results + ") {\n" +
                      "  %y, %n, %m, %v = gecko." + op + operands + attrs +
                      " : " + types + "\n  return %y, %n, %m, %v : " + results +
                      "\n}\n",
                  type);
}

std::vector<JitBuffer> timestepArgs(const TimestepCase &c,
                                    const std::string &type,
                                    const TimestepInputs &in,
                                    const std::vector<int64_t> &count0) {
  std::vector<JitBuffer> args{floats(type, {c.B, c.L, c.D}, in.x),
                              floats(type, {c.D}, in.w),
                              floats(type, {c.D}, in.b)};
  if (!c.bosAt.empty())
    args.push_back(
        JitBuffer::i1({c.B, c.L}, Vec(in.bos.begin(), in.bos.end())));
  if (c.withState) {
    args.push_back(JitBuffer::i64({c.B}, Vec(count0.begin(), count0.end())));
    args.push_back(floats(type, {c.B, c.G}, in.m0));
    args.push_back(floats(type, {c.B, c.G}, in.v0));
  }
  return args;
}

/// The oracle's y and outgoing state for a case.
struct TimestepExpected {
  Vec y, mean, var;
  Vec count;
};

TimestepExpected timestepOracle(const std::string &op, const TimestepCase &c,
                                const std::string &type,
                                const TimestepInputs &in) {
  TimestepExpected e;
  if (op == "timestep_decay_norm") {
    oracle::TdnState state;
    if (c.withState)
      state = {c.count0, in.m0, in.v0};
    e.y = oracle::timestepDecayNorm(in.x, c.B, c.L, c.D, c.G, in.w, in.b,
                                    kBeta1, kBeta2, kEps, in.bos, state,
                                    /*fp32BiasCorrection=*/type == "f32");
    e.count.assign(state.n.begin(), state.n.end());
    e.mean = state.M;
    e.var = state.V;
  } else {
    oracle::MegalodonNormState state;
    if (c.withState)
      state = {c.count0, in.m0, in.v0};
    e.y = oracle::megalodonTimestepNorm(in.x, c.B, c.L, c.D, c.G, in.w, in.b,
                                        kEps, state);
    e.count.assign(state.count.begin(), state.count.end());
    e.mean = state.mean;
    e.var = state.var;
  }
  return e;
}

void checkTimestep(const std::string &op) {
  for (const std::string type : {"f32", "f64"}) {
    uint64_t seed = 100;
    for (const TimestepCase &c : kTimestepCases) {
      seed += 10;
      if (op == "timestep_norm" && !c.bosAt.empty())
        continue; // Megalodon's norm has no bos
      SCOPED_TRACE(op + " " + type + " case " + c.name);
      TimestepInputs in = makeInputs(c, seed);
      std::vector<JitBuffer> out =
          run(timestepSource(op, c, type), timestepArgs(c, type, in, c.count0));
      if (out.size() != 4)
        continue;
      TimestepExpected e = timestepOracle(op, c, type, in);
      double tol = rtolFor(type);
      EXPECT_TRUE(allClose(out[0].values, e.y, tol, tol)) << "y";
      EXPECT_EQ(out[1].values, e.count) << "count";
      // The state results are rounded to x's type: one more rounding.
      EXPECT_TRUE(allClose(out[2].values, e.mean, tol, tol)) << "mean";
      EXPECT_TRUE(allClose(out[3].values, e.var, tol, tol)) << "var";
    }
  }
}

TEST(LowerNorm, TimestepDecayNormMatchesOracle) {
  checkTimestep("timestep_decay_norm");
}

TEST(LowerNorm, TimestepNormMatchesOracle) { checkTimestep("timestep_norm"); }

/// One call over L tokens equals two calls over L1 and L - L1 that carry
/// the state, with the split mid-way, right after a bos and right before one
/// (f64 to 1e-12; f32 within its tolerance, as the state is rounded to f32
/// at the call boundary).
void checkStreaming(const std::string &op) {
  const int64_t B = 2, L = 10, D = 8, G = 2;
  for (const std::string type : {"f32", "f64"}) {
    for (int64_t split : {1, 4, 6, 9}) {
      SCOPED_TRACE(op + " " + type + " split " + std::to_string(split));
      std::vector<std::vector<int64_t>> bosAt;
      if (op == "timestep_decay_norm")
        bosAt = {{0, 4}, {6}};
      TimestepCase whole{"whole", B, L, D, G, true, {7, 2}, bosAt};
      TimestepInputs in = makeInputs(whole, 500 + split);
      std::vector<JitBuffer> full = run(timestepSource(op, whole, type),
                                        timestepArgs(whole, type, in, {7, 2}));
      // First part: tokens [0, split), then [split, L) from its state.
      std::vector<JitBuffer> state;
      Vec y;
      for (auto [lo, hi] :
           {std::pair<int64_t, int64_t>{0, split}, {split, L}}) {
        std::vector<std::vector<int64_t>> partBos;
        for (const auto &row : bosAt) {
          partBos.emplace_back();
          for (int64_t t : row)
            if (t >= lo && t < hi)
              partBos.back().push_back(t - lo);
        }
        TimestepCase part{"part", B, hi - lo, D, G, true, {7, 2}, partBos};
        TimestepInputs pin = in;
        pin.x.clear();
        pin.bos.clear();
        for (int64_t r = 0; r < B; ++r)
          for (int64_t t = lo; t < hi; ++t) {
            for (int64_t i = 0; i < D; ++i)
              pin.x.push_back(in.x[(r * L + t) * D + i]);
            if (!in.bos.empty())
              pin.bos.push_back(in.bos[r * L + t]);
          }
        std::vector<JitBuffer> args = timestepArgs(part, type, pin, {7, 2});
        if (!state.empty()) {
          size_t s = args.size() - 3;
          args[s] = state[1];
          args[s + 1] = state[2];
          args[s + 2] = state[3];
        }
        std::vector<JitBuffer> out = run(timestepSource(op, part, type), args);
        if (out.size() != 4)
          return;
        for (int64_t r = 0; r < B; ++r)
          for (int64_t t = 0; t < hi - lo; ++t)
            for (int64_t i = 0; i < D; ++i)
              y.push_back(out[0].values[(r * (hi - lo) + t) * D + i]);
        state = out;
      }
      if (full.size() != 4)
        continue;
      // Reorder the concatenated halves into B x L x D.
      Vec joined(B * L * D);
      int64_t offset = 0;
      for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, split}, {split, L}})
        for (int64_t r = 0; r < B; ++r)
          for (int64_t t = lo; t < hi; ++t)
            for (int64_t i = 0; i < D; ++i)
              joined[(r * L + t) * D + i] = y[offset++];
      double tol = rtolFor(type);
      EXPECT_TRUE(allClose(joined, full[0].values, tol, tol)) << "y";
      EXPECT_EQ(state[1].values, full[1].values) << "count";
      EXPECT_TRUE(allClose(state[2].values, full[2].values, tol, tol));
      EXPECT_TRUE(allClose(state[3].values, full[3].values, tol, tol));
    }
  }
}

TEST(LowerNorm, TimestepDecayNormStreamsLikeOneCall) {
  checkStreaming("timestep_decay_norm");
}

TEST(LowerNorm, TimestepNormStreamsLikeOneCall) {
  checkStreaming("timestep_norm");
}

/// A bos on the first token discards the incoming state: rows that start
/// with bos give bit-identical y for different incoming states.
TEST(LowerNorm, TdnBosAtStartIgnoresState) {
  TimestepCase c{"bos0", 2, 5, 8, 2, true, {12, 3}, {{0}, {0, 3}}};
  for (const std::string type : {"f32", "f64"}) {
    TimestepInputs in = makeInputs(c, 900);
    std::vector<JitBuffer> a =
        run(timestepSource("timestep_decay_norm", c, type),
            timestepArgs(c, type, in, {12, 3}));
    in.m0 = randomValues(c.B * c.G, 901, -3.0, 3.0);
    in.v0 = randomValues(c.B * c.G, 902, 0.5, 5.0);
    std::vector<JitBuffer> b =
        run(timestepSource("timestep_decay_norm", c, type),
            timestepArgs(c, type, in, {900, 40}));
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), 4u);
    EXPECT_EQ(a[0].values, b[0].values) << type;
    EXPECT_EQ(a[1].values, b[1].values) << type;
  }
}

/// Why the f32 lowering forms beta^n as the reference's fp32 running
/// product: over 64 tokens, or from an incoming count of a few hundred, the
/// exact powers move the f32 result by more than 10x the f32 tolerance,
/// while the emulated oracle matches.
TEST(LowerNorm, TdnF32NeedsFp32Powers) {
  for (const TimestepCase &c :
       {TimestepCase{"long", 1, 64, 8, 1, false, {}, {}},
        TimestepCase{"cached", 2, 2, 8, 2, true, {777, 1300}, {}}}) {
    SCOPED_TRACE(c.name);
    TimestepInputs in = makeInputs(c, 77);
    std::vector<JitBuffer> out =
        run(timestepSource("timestep_decay_norm", c, "f32"),
            timestepArgs(c, "f32", in, c.count0));
    ASSERT_EQ(out.size(), 4u);
    TimestepExpected emulated =
        timestepOracle("timestep_decay_norm", c, "f32", in);
    TimestepExpected exact =
        timestepOracle("timestep_decay_norm", c, "f64", in);
    EXPECT_TRUE(allClose(out[0].values, emulated.y, 2e-6, 2e-6));
    EXPECT_FALSE(allClose(out[0].values, exact.y, 2e-5, 2e-5));
  }
}

//===----------------------------------------------------------------------===//
// Backward ops: compiled f64 vs central finite differences of the fp64
// oracle forward, compiled f32 vs the f64 result.
//
// For a random cotangent dy (and dstate), the scalar
//   loss(inputs) = <dy, y(inputs)> [+ <dmean, mean_out> + <dvar, var_out>]
// has the op's results as its gradient. Each partial derivative is taken
// with the fourth-order central stencil
//   (8 (f(v + h) - f(v - h)) - (f(v + 2h) - f(v - 2h))) / 12h,  h = 1e-4,
// whose truncation error (~h^4 f^(5)) is negligible here and whose
// cancellation error is about 1e-16 |loss| / h ~ 1e-11 (|loss| ~ 10).
//
// Tolerances, per tensor: max |got - want| <= tol * max(max |want|, 1e-2)
// (the floor only matters for gradients that vanish, e.g. dmean_in with an
// incoming count of 0):
//  - f64 vs finite differences: 1e-7. The finite differences are good to
//    ~1e-10; 1e-7 is the usual bar, with room for the 1/(1 - beta^n)
//    amplification of TDN (up to 1e4 for n = 1).
//  - f64 vs the direct-loop TDN backward below: 1e-12 (same formulas, f64
//    rounding only).
//  - f32 vs f64 (or, for TDN, the direct-loop reference with the
//    reference's fp32 betas and fp32 power products): 1e-5. The f32 group
//    sums of at most 16 terms, the sums over (b, t) of at most 60 terms and
//    the recomputed f32 normalisers each cost a few 1e-7; the adjoint
//    recurrence runs in f64. For the group norms' dx the scale is the
//    largest term of dx instead (largestDxTerm).
// Measured worst cases: f64 vs finite differences 6e-9 (layer_norm dx with
// two channels per group), 1.5e-9 (TDN dx), else below 1e-10; f32 6.3e-6
// (layer_norm dx) and 3.8e-6 (its dweight), both in the two-channel case
// where a small group variance makes x - mean lose ulp(x) / σ in f32, else
// below 3e-7.
//===----------------------------------------------------------------------===//

constexpr double kFdTol = 1e-7;
constexpr double kF32GradTol = 1e-5;

/// Per-tensor comparison, see above.
::testing::AssertionResult closeTensor(const Vec &got, const Vec &want,
                                       double tol, double floor = 1e-2) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != " << want.size();
  double scale = floor, worst = 0.0;
  size_t at = 0;
  for (double v : want)
    scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(got[i] - want[i]);
    if (std::isnan(got[i]) || err > worst) {
      worst = std::isnan(got[i]) ? INFINITY : err;
      at = i;
    }
  }
  if (worst > tol * scale)
    return ::testing::AssertionFailure()
           << "element " << at << ": got " << got[at] << ", want " << want[at]
           << "; max error " << worst << " > " << tol << " * " << scale;
  return ::testing::AssertionSuccess() << "max error " << worst / scale;
}

double dot(const Vec &a, const Vec &b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

/// The gradient of loss(inputs) with respect to inputs.*field by the
/// fourth-order central stencil (see above).
template <typename Inputs>
Vec finiteDifferences(const std::function<double(const Inputs &)> &loss,
                      Inputs inputs, Vec Inputs::*field) {
  const double h = 1e-4;
  Vec grad((inputs.*field).size());
  for (size_t i = 0; i < grad.size(); ++i) {
    double v = (inputs.*field)[i];
    auto at = [&](double d) {
      (inputs.*field)[i] = v + d;
      return loss(inputs);
    };
    grad[i] = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
    (inputs.*field)[i] = v;
  }
  return grad;
}

//===----------------------------------------------------------------------===//
// rms_norm_grad, layer_norm_grad
//===----------------------------------------------------------------------===//

struct GroupNormInputs {
  Vec x, w, b;
};

/// max |r s dy| over all elements: the size of the largest term of dx, which
/// bounds its f32 rounding error. dx = r [s dy - mean(s dy) - x̂ mean(s dy
/// x̂)] (or its RMS analogue) cancels when a group has few channels: with two
/// channels x̂ = ±(σ² / (σ² + eps))^(1/2) and the bracket vanishes up to
/// eps / (σ² + eps), so dx is tiny next to its terms and its f32 error is
/// relative to the terms, not to dx (1e-4 of dx in the 10 x 5 groups case).
double largestDxTerm(const GroupNormInputs &in, const Vec &dy, int64_t rows,
                     int64_t F, int64_t K, bool weight, bool centered) {
  int64_t Fk = F / K;
  double largest = 0.0;
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t k = 0; k < K; ++k) {
      const double *x = &in.x[row * F + k * Fk];
      double mean = 0.0, var = 0.0;
      for (int64_t i = 0; centered && i < Fk; ++i)
        mean += x[i] / Fk;
      for (int64_t i = 0; i < Fk; ++i)
        var += (x[i] - mean) * (x[i] - mean) / Fk;
      double r = 1.0 / std::sqrt(var + kEps);
      for (int64_t i = 0; i < Fk; ++i) {
        double s = weight ? 1.0 + in.w[k * Fk + i] : 1.0;
        largest =
            std::max(largest, std::fabs(r * s * dy[row * F + k * Fk + i]));
      }
    }
  return largest;
}

/// A function applying gecko.<op>_grad to dy and x (through dynamically
/// shaped views for dynamic cases), with weight and with_bias as the case
/// says; it returns dx, then dweight, then dbias.
std::string groupNormGradSource(const GroupNormCase &c, const std::string &op) {
  std::string xType = "tensor<" + dims(c.shape) + "xFT>";
  std::string dynType = xType;
  if (c.dynamic) {
    dynType = "tensor<";
    for (size_t i = 0; i + 1 < c.shape.size(); ++i)
      dynType += "?x";
    dynType += std::to_string(c.shape.back()) + "xFT>";
  }
  std::string pType = "tensor<" + std::to_string(c.shape.back()) + "xFT>";
  bool bias = op == "layer_norm" && c.bias;
  std::string s = "func.func @f(%dy: " + xType + ", %x: " + xType;
  std::string operands = " %dyd, %xd", types = dynType + ", " + dynType;
  std::string results = "%dx", resultTypes = dynType;
  std::string returns = "%dxs", returnTypes = xType;
  if (c.weight) {
    s += ", %w: " + pType;
    operands += " weight(%w)";
    types += ", " + pType;
    results += ", %dw";
    resultTypes += ", " + pType;
    returns += ", %dw";
    returnTypes += ", " + pType;
  }
  if (bias) {
    operands += " with_bias";
    results += ", %db";
    returns += ", %db";
    returnTypes += ", " + pType;
  }
  s += ") -> (" + returnTypes + ") {\n";
  s += "  %dyd = tensor.cast %dy : " + xType + " to " + dynType + "\n";
  s += "  %xd = tensor.cast %x : " + xType + " to " + dynType + "\n";
  s += "  " + results + " = gecko." + op + "_grad" + operands + " groups(" +
       std::to_string(c.groups) + ") eps(1.0e-05) : " + types + "\n";
  s += "  %dxs = tensor.cast %dx : " + dynType + " to " + xType + "\n";
  s += "  return " + returns + " : " + returnTypes + "\n}\n";
  return s;
}

void checkGroupNormGrad(const std::string &op) {
  uint64_t seed = 1000;
  for (const GroupNormCase &c : kGroupNormCases) {
    SCOPED_TRACE(op + "_grad " + dims(c.shape) + " groups " +
                 std::to_string(c.groups));
    bool bias = op == "layer_norm" && c.bias;
    int64_t F = c.shape.back();
    int64_t rows = product(c.shape) / F;
    GroupNormInputs in{randomValues(rows * F, ++seed, -1.5, 2.5),
                       randomValues(F, ++seed, -0.5, 0.5),
                       randomValues(F, ++seed, -0.5, 0.5)};
    Vec dy = randomValues(rows * F, ++seed);
    std::function<double(const GroupNormInputs &)> loss =
        [&](const GroupNormInputs &v) {
          Vec y = op == "rms_norm"
                      ? oracle::groupRmsNorm(v.x, rows, F, c.groups,
                                             c.weight ? &v.w : nullptr, kEps)
                      : oracle::groupLayerNorm(v.x, rows, F, c.groups,
                                               c.weight ? &v.w : nullptr,
                                               bias ? &v.b : nullptr, kEps);
          return dot(dy, y);
        };
    std::vector<Vec> want{finiteDifferences(loss, in, &GroupNormInputs::x)};
    if (c.weight)
      want.push_back(finiteDifferences(loss, in, &GroupNormInputs::w));
    if (bias)
      want.push_back(finiteDifferences(loss, in, &GroupNormInputs::b));

    double dxScale =
        largestDxTerm(in, dy, rows, F, c.groups, c.weight, op == "layer_norm");
    std::vector<JitBuffer> f64Out;
    for (const std::string type : {"f64", "f32"}) {
      SCOPED_TRACE(type);
      std::vector<JitBuffer> args{floats(type, c.shape, dy),
                                  floats(type, c.shape, in.x)};
      if (c.weight)
        args.push_back(floats(type, {F}, in.w));
      std::vector<JitBuffer> out =
          run(withType(groupNormGradSource(c, op), type), args);
      ASSERT_EQ(out.size(), want.size());
      for (size_t k = 0; k < out.size(); ++k) {
        if (type == "f64")
          EXPECT_TRUE(closeTensor(out[k].values, want[k], kFdTol))
              << "result " << k;
        else
          EXPECT_TRUE(closeTensor(out[k].values, f64Out[k].values, kF32GradTol,
                                  k == 0 ? dxScale : 1e-2))
              << "result " << k;
      }
      f64Out = out;
    }
  }
}

TEST(LowerNorm, RmsNormGradMatchesFiniteDifferences) {
  checkGroupNormGrad("rms_norm");
}

TEST(LowerNorm, LayerNormGradMatchesFiniteDifferences) {
  checkGroupNormGrad("layer_norm");
}

//===----------------------------------------------------------------------===//
// timestep_decay_norm_grad, timestep_norm_grad
//===----------------------------------------------------------------------===//

struct TimestepGradCase {
  TimestepCase base;
  bool dstate; ///< pass cotangents of the outgoing mean and var
};

// bos resets (at t = 0 over an incoming state, consecutive, on the last
// token), incoming state with and without dstate, dstate without a state,
// groups 1 and > 1, one token, counts 0 and large.
const TimestepGradCase kTimestepGradCases[] = {
    {{"plain", 2, 7, 12, 3, false, {}, {}}, false},
    {{"one_group", 1, 5, 8, 1, false, {}, {}}, false},
    {{"state_dstate", 2, 6, 8, 2, true, {5, 37}, {}}, true},
    {{"state_no_dstate", 2, 5, 12, 3, true, {2, 0}, {}}, false},
    {{"bos_state_dstate",
      3,
      8,
      12,
      4,
      true,
      {3, 0, 1000},
      {{0, 5}, {3, 4, 5}, {7}}},
     true},
    {{"bos_dstate_no_state", 2, 6, 8, 2, false, {}, {{0}, {2}}}, true},
    {{"one_token", 2, 1, 10, 5, true, {4, 0}, {}}, true},
    {{"long_count", 2, 4, 8, 2, true, {20000, 400000}, {{}, {2}}}, true},
};

/// A function calling gecko.<op>_grad with the case's optional operands,
/// returning dx, dweight, dbias and, with a state, dmean_in and dvar_in.
std::string timestepGradSource(const std::string &op, const TimestepGradCase &g,
                               const std::string &type) {
  const TimestepCase &c = g.base;
  std::string x = "tensor<" + dims({c.B, c.L, c.D}) + "xFT>";
  std::string p = "tensor<" + std::to_string(c.D) + "xFT>";
  std::string st = "tensor<" + dims({c.B, c.G}) + "xFT>";
  std::string n = "tensor<" + std::to_string(c.B) + "xi64>";
  std::string bos = "tensor<" + dims({c.B, c.L}) + "xi1>";
  std::string args = "%dy: " + x + ", %x: " + x + ", %w: " + p;
  std::string operands = " %dy, %x weight(%w)";
  std::string types = x + ", " + x + ", " + p;
  std::string results = "%dx, %dw, %db";
  std::string resultTypes = x + ", " + p + ", " + p;
  if (!c.bosAt.empty()) {
    args += ", %bos: " + bos;
    operands += " bos(%bos)";
    types += ", " + bos;
  }
  if (c.withState) {
    args += ", %n0: " + n + ", %m0: " + st + ", %v0: " + st;
    operands += " state(%n0, %m0, %v0)";
    types += ", " + n + ", " + st + ", " + st;
    results += ", %dm0, %dv0";
    resultTypes += ", " + st + ", " + st;
  }
  if (g.dstate) {
    args += ", %dm: " + st + ", %dv: " + st;
    operands += " dstate(%dm, %dv)";
    types += ", " + st + ", " + st;
  }
  std::string attrs = " groups(" + std::to_string(c.G) + ")";
  if (op == "timestep_decay_norm")
    attrs += " betas(0.999, 0.9999)";
  attrs += " eps(1.0e-05)";
  return withType("func.func @f(" + args + ") -> (" + resultTypes + ") {\n  " +
                      results + " = gecko." + op + "_grad" + operands + attrs +
                      " : " + types + "\n  return " + results + " : " +
                      resultTypes + "\n}\n",
                  type);
}

/// Cotangents of a timestep norm: dy (B x L x D), dmean, dvar (B x G).
struct TimestepCotangents {
  Vec dy, dm, dv;
};

std::vector<JitBuffer> timestepGradArgs(const TimestepGradCase &g,
                                        const std::string &type,
                                        const TimestepInputs &in,
                                        const TimestepCotangents &d) {
  const TimestepCase &c = g.base;
  std::vector<JitBuffer> args{floats(type, {c.B, c.L, c.D}, d.dy),
                              floats(type, {c.B, c.L, c.D}, in.x),
                              floats(type, {c.D}, in.w)};
  if (!c.bosAt.empty())
    args.push_back(
        JitBuffer::i1({c.B, c.L}, Vec(in.bos.begin(), in.bos.end())));
  if (c.withState) {
    args.push_back(
        JitBuffer::i64({c.B}, Vec(c.count0.begin(), c.count0.end())));
    args.push_back(floats(type, {c.B, c.G}, in.m0));
    args.push_back(floats(type, {c.B, c.G}, in.v0));
  }
  if (g.dstate) {
    args.push_back(floats(type, {c.B, c.G}, d.dm));
    args.push_back(floats(type, {c.B, c.G}, d.dv));
  }
  return args;
}

/// The loss whose gradient the op computes, from the oracle forward.
double timestepLoss(const std::string &op, const TimestepGradCase &g,
                    const TimestepInputs &in, const TimestepCotangents &d) {
  TimestepExpected e = timestepOracle(op, g.base, "f64", in);
  double loss = dot(d.dy, e.y);
  if (g.dstate)
    loss += dot(d.dm, e.mean) + dot(d.dv, e.var);
  return loss;
}

/// The op's results by finite differences: dx, dweight, dbias and, with a
/// state, dmean_in and dvar_in.
std::vector<Vec> timestepFiniteDifferences(const std::string &op,
                                           const TimestepGradCase &g,
                                           const TimestepInputs &in,
                                           const TimestepCotangents &d) {
  std::function<double(const TimestepInputs &)> loss =
      [&](const TimestepInputs &v) { return timestepLoss(op, g, v, d); };
  std::vector<Vec> grads;
  for (Vec TimestepInputs::*field :
       {&TimestepInputs::x, &TimestepInputs::w, &TimestepInputs::b})
    grads.push_back(finiteDifferences(loss, in, field));
  if (g.base.withState)
    for (Vec TimestepInputs::*field :
         {&TimestepInputs::m0, &TimestepInputs::v0})
      grads.push_back(finiteDifferences(loss, in, field));
  return grads;
}

/// A direct-loop TDN backward, the formulas of docs/dialect.md. With
/// `fp32`, it follows the f32 lowering and the reference kernel: betas
/// rounded to fp32, m̂_t and r_t with 1 - beta^n from the fp32 running
/// product (as the forward), and the adjoint recurrence dividing by
/// 1 - exp(n ln beta) in double (spec section 5).
std::vector<Vec> tdnGradReference(const TimestepGradCase &g,
                                  const TimestepInputs &in,
                                  const TimestepCotangents &d, bool fp32) {
  const TimestepCase &c = g.base;
  const int64_t B = c.B, L = c.L, D = c.D, G = c.G, Dg = D / G;
  double beta1 = fp32 ? double(float(kBeta1)) : kBeta1;
  double beta2 = fp32 ? double(float(kBeta2)) : kBeta2;
  Vec dx(B * L * D), dw(D, 0.0), db(D, 0.0), dm0(B * G), dv0(B * G);
  for (int64_t bi = 0; bi < B; ++bi) {
    int64_t n0 = c.withState ? c.count0[bi] : 0;
    for (int64_t gi = 0; gi < G; ++gi) {
      // Forward: n_t, mu_t, var_t, m̂_t, r_t.
      std::vector<int64_t> n(L);
      Vec mu(L), var(L), mhat(L), r(L);
      int64_t count = n0;
      double M = c.withState ? in.m0[bi * G + gi] : 0.0;
      double V = c.withState ? in.v0[bi * G + gi] : 0.0;
      float p1 = 1.0f, p2 = 1.0f;
      for (int64_t k = 0; fp32 && k < n0; ++k) {
        p1 *= float(beta1);
        p2 *= float(beta2);
      }
      for (int64_t t = 0; t < L; ++t) {
        const double *xt = &in.x[(bi * L + t) * D + gi * Dg];
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < Dg; ++i)
          s += xt[i];
        mu[t] = s / Dg;
        for (int64_t i = 0; i < Dg; ++i)
          s2 += (xt[i] - mu[t]) * (xt[i] - mu[t]);
        var[t] = s2 / Dg;
        bool reset = !in.bos.empty() && in.bos[bi * L + t];
        if (reset) {
          count = 1;
          M = (1 - beta1) * mu[t];
          V = (1 - beta2) * var[t];
          p1 = float(beta1);
          p2 = float(beta2);
        } else {
          count += 1;
          M = beta1 * M + (1 - beta1) * mu[t];
          V = beta2 * V + (1 - beta2) * var[t];
          p1 *= float(beta1);
          p2 *= float(beta2);
        }
        n[t] = count;
        double c1 = fp32 ? 1.0f - p1 : 1.0 - std::pow(beta1, double(count));
        double c2 = fp32 ? 1.0f - p2 : 1.0 - std::pow(beta2, double(count));
        mhat[t] = M / c1;
        r[t] = 1.0 / std::sqrt(V / c2 + kEps);
      }
      // Backward.
      double gM = g.dstate ? d.dm[bi * G + gi] : 0.0;
      double gV = g.dstate ? d.dv[bi * G + gi] : 0.0;
      for (int64_t t = L - 1; t >= 0; --t) {
        const double *xt = &in.x[(bi * L + t) * D + gi * Dg];
        const double *dyt = &d.dy[(bi * L + t) * D + gi * Dg];
        double ds = 0.0, dc = 0.0;
        for (int64_t i = 0; i < Dg; ++i) {
          double gamma = 1.0 + in.w[gi * Dg + i];
          ds += dyt[i] * gamma * (xt[i] - mhat[t]);
          dc += dyt[i] * gamma;
        }
        double e1 = 1.0 - std::exp(double(n[t]) * std::log(beta1));
        double e2 = 1.0 - std::exp(double(n[t]) * std::log(beta2));
        double hM = gM - r[t] * dc / e1;
        double hV = gV - 0.5 * r[t] * r[t] * r[t] * ds / e2;
        double dmu = (1 - beta1) * hM, dvar = (1 - beta2) * hV;
        bool reset = !in.bos.empty() && in.bos[bi * L + t];
        gM = reset ? 0.0 : beta1 * hM;
        gV = reset ? 0.0 : beta2 * hV;
        for (int64_t i = 0; i < Dg; ++i) {
          int64_t ch = gi * Dg + i;
          dx[(bi * L + t) * D + ch] = dyt[i] * r[t] * (1.0 + in.w[ch]) +
                                      (dmu + 2.0 * dvar * (xt[i] - mu[t])) / Dg;
          dw[ch] += dyt[i] * (xt[i] - mhat[t]) * r[t];
          db[ch] += dyt[i];
        }
      }
      dm0[bi * G + gi] = gM;
      dv0[bi * G + gi] = gV;
    }
  }
  std::vector<Vec> out{dx, dw, db};
  if (c.withState) {
    out.push_back(dm0);
    out.push_back(dv0);
  }
  return out;
}

const char *kGradNames[] = {"dx", "dweight", "dbias", "dmean_in", "dvar_in"};

void checkTimestepGrad(const std::string &op) {
  bool tdn = op == "timestep_decay_norm";
  uint64_t seed = 2000;
  for (const TimestepGradCase &g : kTimestepGradCases) {
    seed += 10;
    const TimestepCase &c = g.base;
    if (!tdn && !c.bosAt.empty())
      continue; // Megalodon's norm has no bos
    SCOPED_TRACE(op + "_grad case " + c.name);
    TimestepInputs in = makeInputs(c, seed);
    TimestepCotangents d{randomValues(c.B * c.L * c.D, seed + 5),
                         randomValues(c.B * c.G, seed + 6),
                         randomValues(c.B * c.G, seed + 7)};
    std::vector<Vec> fd = timestepFiniteDifferences(op, g, in, d);
    if (tdn) {
      // The direct-loop reference against the finite differences.
      std::vector<Vec> ref = tdnGradReference(g, in, d, /*fp32=*/false);
      for (size_t k = 0; k < fd.size(); ++k)
        EXPECT_TRUE(closeTensor(ref[k], fd[k], kFdTol))
            << "reference " << kGradNames[k];
    }
    std::vector<JitBuffer> f64Out = run(timestepGradSource(op, g, "f64"),
                                        timestepGradArgs(g, "f64", in, d));
    ASSERT_EQ(f64Out.size(), fd.size());
    for (size_t k = 0; k < fd.size(); ++k)
      EXPECT_TRUE(closeTensor(f64Out[k].values, fd[k], kFdTol))
          << "f64 " << kGradNames[k];
    std::vector<Vec> f32Want;
    if (tdn) {
      std::vector<Vec> ref = tdnGradReference(g, in, d, /*fp32=*/false);
      for (size_t k = 0; k < fd.size(); ++k)
        EXPECT_TRUE(closeTensor(f64Out[k].values, ref[k], 1e-12))
            << "f64 vs reference " << kGradNames[k];
      f32Want = tdnGradReference(g, in, d, /*fp32=*/true);
    } else {
      for (const JitBuffer &b : f64Out)
        f32Want.push_back(b.values);
    }
    std::vector<JitBuffer> f32Out = run(timestepGradSource(op, g, "f32"),
                                        timestepGradArgs(g, "f32", in, d));
    ASSERT_EQ(f32Out.size(), fd.size());
    for (size_t k = 0; k < fd.size(); ++k)
      EXPECT_TRUE(closeTensor(f32Out[k].values, f32Want[k], kF32GradTol))
          << "f32 " << kGradNames[k];
  }
}

TEST(LowerNorm, TimestepDecayNormGradMatchesFiniteDifferences) {
  checkTimestepGrad("timestep_decay_norm");
}

TEST(LowerNorm, TimestepNormGradMatchesFiniteDifferences) {
  checkTimestepGrad("timestep_norm");
}

/// Tokens [lo, hi) of a B x L x W row-major array.
Vec sliceTokens(const Vec &v, int64_t B, int64_t L, int64_t W, int64_t lo,
                int64_t hi) {
  Vec out;
  for (int64_t r = 0; r < B; ++r)
    out.insert(out.end(), v.begin() + (r * L + lo) * W,
               v.begin() + (r * L + hi) * W);
  return out;
}

/// The backward chains across calls like the forward: for a split of the
/// L tokens at `split`, the backward of the second part (from the state the
/// forward's first part leaves, with the whole call's dstate) returns
/// dmean_in, dvar_in, which as the first part's dstate give the rest of the
/// whole call's gradient: dx concatenates, dweight and dbias add, and
/// dmean_in, dvar_in agree. Splits mid-way, right after a bos and right
/// before one. f64 to 1e-12; f32 to 1e-5, as the state crossing the split
/// is rounded to f32.
void checkGradStreaming(const std::string &op) {
  const int64_t B = 2, L = 10, D = 8, G = 2;
  bool tdn = op == "timestep_decay_norm";
  for (const std::string type : {"f64", "f32"}) {
    double tol = type == "f64" ? 1e-12 : kF32GradTol;
    for (int64_t split : {1, 4, 6}) {
      SCOPED_TRACE(op + "_grad " + type + " split " + std::to_string(split));
      std::vector<std::vector<int64_t>> bosAt;
      if (tdn)
        bosAt = {{0, 4}, {6}};
      TimestepGradCase whole{{"whole", B, L, D, G, true, {7, 2}, bosAt}, true};
      TimestepInputs in = makeInputs(whole.base, 700 + split);
      TimestepCotangents d{randomValues(B * L * D, 710 + split),
                           randomValues(B * G, 720 + split),
                           randomValues(B * G, 730 + split)};
      std::vector<JitBuffer> full = run(timestepGradSource(op, whole, type),
                                        timestepGradArgs(whole, type, in, d));
      ASSERT_EQ(full.size(), 5u);

      // The parts' inputs.
      auto part = [&](int64_t lo, int64_t hi) {
        std::vector<std::vector<int64_t>> partBos;
        for (const auto &row : bosAt) {
          partBos.emplace_back();
          for (int64_t t : row)
            if (t >= lo && t < hi)
              partBos.back().push_back(t - lo);
        }
        TimestepGradCase c{{"part", B, hi - lo, D, G, true, {7, 2}, partBos},
                           true};
        TimestepInputs pin = in;
        pin.x = sliceTokens(in.x, B, L, D, lo, hi);
        if (!in.bos.empty()) {
          Vec bos(in.bos.begin(), in.bos.end());
          Vec sliced = sliceTokens(bos, B, L, 1, lo, hi);
          pin.bos.assign(sliced.begin(), sliced.end());
        }
        return std::make_pair(c, pin);
      };
      auto [first, firstIn] = part(0, split);
      auto [second, secondIn] = part(split, L);
      // The forward of the first part gives the second part's state.
      std::vector<JitBuffer> mid =
          run(timestepSource(op, first.base, type),
              timestepArgs(first.base, type, firstIn, {7, 2}));
      ASSERT_EQ(mid.size(), 4u);
      second.base.count0.assign(mid[1].values.begin(), mid[1].values.end());
      secondIn.m0 = mid[2].values;
      secondIn.v0 = mid[3].values;
      TimestepCotangents d2{sliceTokens(d.dy, B, L, D, split, L), d.dm, d.dv};
      std::vector<JitBuffer> g2 =
          run(timestepGradSource(op, second, type),
              timestepGradArgs(second, type, secondIn, d2));
      ASSERT_EQ(g2.size(), 5u);
      TimestepCotangents d1{sliceTokens(d.dy, B, L, D, 0, split), g2[3].values,
                            g2[4].values};
      std::vector<JitBuffer> g1 =
          run(timestepGradSource(op, first, type),
              timestepGradArgs(first, type, firstIn, d1));
      ASSERT_EQ(g1.size(), 5u);

      Vec dx(B * L * D);
      for (int64_t r = 0; r < B; ++r)
        for (int64_t t = 0; t < L; ++t)
          for (int64_t i = 0; i < D; ++i)
            dx[(r * L + t) * D + i] =
                t < split ? g1[0].values[(r * split + t) * D + i]
                          : g2[0].values[(r * (L - split) + t - split) * D + i];
      Vec dw(D), db(D);
      for (int64_t i = 0; i < D; ++i) {
        dw[i] = g1[1].values[i] + g2[1].values[i];
        db[i] = g1[2].values[i] + g2[2].values[i];
      }
      EXPECT_TRUE(closeTensor(dx, full[0].values, tol)) << "dx";
      EXPECT_TRUE(closeTensor(dw, full[1].values, tol)) << "dweight";
      EXPECT_TRUE(closeTensor(db, full[2].values, tol)) << "dbias";
      EXPECT_TRUE(closeTensor(g1[3].values, full[3].values, tol)) << "dmean_in";
      EXPECT_TRUE(closeTensor(g1[4].values, full[4].values, tol)) << "dvar_in";
    }
  }
}

TEST(LowerNorm, TimestepDecayNormGradStreamsLikeOneCall) {
  checkGradStreaming("timestep_decay_norm");
}

TEST(LowerNorm, TimestepNormGradStreamsLikeOneCall) {
  checkGradStreaming("timestep_norm");
}

} // namespace
} // namespace gecko::testing
