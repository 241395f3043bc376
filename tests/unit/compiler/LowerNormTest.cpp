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
//===----------------------------------------------------------------------===//

#include "CpuJit.h"
#include "LoweringTestUtils.h"
#include "oracle.h"

#include <gtest/gtest.h>

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

} // namespace
} // namespace gecko::testing
