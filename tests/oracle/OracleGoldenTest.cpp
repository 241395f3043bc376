//===- OracleGoldenTest.cpp - Oracle vs golden files and self-checks ------===//
//
// This file checks the float64 oracle against the reference golden vectors
// (logits, loss and every debug activation) and runs the self-consistency
// cases of GECKO_MATH.md section 10 that need no golden file: streaming
// equivalence, document isolation and multi_segments on/off identity.
//
//===----------------------------------------------------------------------===//

#include "oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

using namespace gecko;
using namespace gecko::oracle;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

struct ErrorStats {
  double maxAbs = 0.0; ///< max |ours - ref|
  double maxRef = 0.0; ///< max |ref|
  double relInf = 0.0; ///< maxAbs / maxRef
  double relL2 = 0.0;  ///< ||ours - ref|| / ||ref||
};

ErrorStats compare(const Vec &ours, const Vec &ref) {
  ErrorStats s;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double d = std::abs(ours[i] - ref[i]);
    s.maxAbs = std::max(s.maxAbs, d);
    s.maxRef = std::max(s.maxRef, std::abs(ref[i]));
    num += d * d;
    den += ref[i] * ref[i];
  }
  s.relInf = s.maxRef > 0 ? s.maxAbs / s.maxRef : s.maxAbs;
  s.relL2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return s;
}

std::string goldenPath(const char *name) {
  return std::string(GECKO_SHARED_DIR) + "/golden/" + name;
}

bool fileExists(const std::string &path) { return std::ifstream(path).good(); }

/// Tolerances against the fp32 CUDA golden, as max |ours - ref| / max |ref|
/// per tensor (every debug activation, the logits) and |ours - ref| / |ref|
/// for the loss.
///
/// Exact arithmetic: the reference TDN forms beta2^n as an fp32 running
/// product and divides by 1 - beta2^n ~ 1e-4 * n, a catastrophic cancellation
/// that leaves up to ~n * 3e-8 / (n * 1e-4) = 3e-4 relative error in the
/// variance correction, i.e. up to 1.5e-4 in r (observed: 4-5e-5 on every
/// TDN output and the logits). So the exact oracle is held to 1.5e-4.
constexpr double kExactRelTol = 1.5e-4;
/// With Config::tdnFp32BiasCorrection (that one kernel detail emulated, all
/// else float64) the remaining gap is plain fp32 rounding, observed below
/// 8e-7; 2e-6 keeps a margin yet is 5x tighter than the README's 1e-5.
constexpr double kEmulatedRelTol = 2e-6;

/// Runs the oracle on one golden file and checks logits, loss and every
/// debug activation.
void checkGolden(const char *fileName, bool emulateTdn) {
  const double tol = emulateTdn ? kEmulatedRelTol : kExactRelTol;
  std::string path = goldenPath(fileName);
  if (!fileExists(path))
    GTEST_SKIP() << path << " is absent";
  StatusOr<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.isOk()) << file.status().toString();
  const auto &meta = file->metadata();
  ASSERT_TRUE(meta.count("config"));
  StatusOr<Config> cfg = Config::fromJson(meta.at("config"));
  ASSERT_TRUE(cfg.isOk()) << cfg.status().toString();
  cfg->multiSegments = meta.at("multi_segments") == "true";
  cfg->bosId = std::stoll(meta.at("bos_id"));
  cfg->tdnFp32BiasCorrection = emulateTdn;
  std::printf("[%s] mode: %s, tolerance %.1e\n", fileName,
              emulateTdn ? "fp32 TDN bias correction" : "exact float64", tol);
  StatusOr<Weights> weights = loadWeights(*file);
  ASSERT_TRUE(weights.isOk()) << weights.status().toString();
  StatusOr<std::vector<int64_t>> tokens = file->readAsI64("input.tokens");
  StatusOr<std::vector<int64_t>> targets = file->readAsI64("input.targets");
  ASSERT_TRUE(tokens.isOk() && targets.isOk());
  const TensorInfo *tokInfo = file->find("input.tokens");
  int64_t B = tokInfo->shape[0], L = tokInfo->shape[1];

  StatusOr<ForwardResult> res =
      forward(*cfg, *weights, *tokens, B, L, &*targets);
  ASSERT_TRUE(res.isOk()) << res.status().toString();

  auto ref = [&](const std::string &name) {
    StatusOr<std::vector<double>> v = file->readAsF64(name);
    EXPECT_TRUE(v.isOk()) << v.status().toString();
    return v.isOk() ? *v : std::vector<double>();
  };

  ErrorStats logits = compare(res->logits, ref("output.logits"));
  double refLoss = ref("output.loss")[0];
  double lossAbs = std::abs(res->loss - refLoss);
  std::printf("[%s] logits: max abs %.3e, max|ref| %.3e, rel(inf) %.3e, "
              "rel(L2) %.3e\n",
              fileName, logits.maxAbs, logits.maxRef, logits.relInf,
              logits.relL2);
  std::printf("[%s] loss: oracle %.9f, golden %.9f, abs %.3e, rel %.3e\n",
              fileName, res->loss, refLoss, lossAbs, lossAbs / refLoss);

  std::string worstName;
  double worstRel = -1.0;
  for (const std::string &name : file->names()) {
    if (name.rfind("debug.", 0) != 0)
      continue;
    auto it = res->debug.find(name);
    EXPECT_NE(it, res->debug.end()) << "oracle lacks " << name;
    if (it == res->debug.end())
      continue;
    Vec golden = ref(name);
    ASSERT_EQ(it->second.size(), golden.size()) << name;
    ErrorStats s = compare(it->second, golden);
    std::printf("[%s]   %-52s max abs %.3e  rel(inf) %.3e  rel(L2) %.3e\n",
                fileName, name.c_str(), s.maxAbs, s.relInf, s.relL2);
    EXPECT_LT(s.relInf, tol) << name;
    if (s.relInf > worstRel) {
      worstRel = s.relInf;
      worstName = name;
    }
  }
  std::printf("[%s] worst debug activation: %s rel(inf) %.3e\n", fileName,
              worstName.c_str(), worstRel);
  EXPECT_LT(logits.relInf, tol);
  EXPECT_LT(lossAbs / refLoss, tol);
}

//===----------------------------------------------------------------------===//
// A tiny random model for the self-consistency tests
//===----------------------------------------------------------------------===//

Config tinyConfig() {
  Config c;
  c.numLayers = 2;
  c.modelDim = 32;
  c.zDim = 16;
  c.valueDim = 12;
  c.numHeads = 2;
  c.ffnHiddenDim = 24;
  c.cemaNdim = 4;
  c.chunkSize = 4;
  c.timenormNumGroups = 4;
  c.vocabSize = 11;
  c.bosId = 1;
  return c;
}

Vec randn(std::mt19937_64 &rng, size_t n, double stddev) {
  std::normal_distribution<double> dist(0.0, stddev);
  Vec v(n);
  for (double &x : v)
    x = dist(rng);
  return v;
}

Weights randomWeights(const Config &c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Weights w;
  const int64_t D = c.modelDim, S = c.zDim, E = c.valueDim, F = c.ffnHiddenDim;
  const int64_t N = c.cemaNdim, G = c.timenormNumGroups, V = c.vocabSize;
  auto add = [&](const std::string &name, std::vector<int64_t> shape,
                 double stddev) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    w[name] = Array{shape, randn(rng, n, stddev)};
  };
  auto he = [](int64_t fanIn) { return 1.0 / std::sqrt(3.0 * fanIn); };
  add("embed.weight", {V, D}, 1.0 / std::sqrt(double(D)));
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".mega.";
    add(p + "timenorm.weight", {D}, 0.1);
    add(p + "timenorm.bias", {D}, 0.1);
    w[p + "timenorm.prior_count"] = Array{{}, {0.0}};
    w[p + "timenorm.prior_mean"] = Array{{G}, Vec(G, 0.0)};
    w[p + "timenorm.prior_var"] = Array{{G}, Vec(G, 0.0)};
    add(p + "cema.alpha", {D, N}, 0.2);
    add(p + "cema.delta", {D, N}, 0.2);
    add(p + "cema.theta", {D}, 1.0);
    add(p + "cema.gamma", {D, N, 2}, 1.0 / std::sqrt(double(N)));
    add(p + "rmsnorm.weight", {D}, 0.1);
    add(p + "wz.weight", {S, D}, he(D));
    add(p + "wz.bias", {S}, 0.1);
    add(p + "wv.weight", {E, D}, he(D));
    add(p + "wv.bias", {E}, 0.1);
    add(p + "wr.weight", {E, D}, he(D));
    add(p + "wr.bias", {E}, 0.1);
    add(p + "wh1.weight", {D, D}, he(D));
    add(p + "wh1.bias", {D}, 0.1);
    add(p + "wh2.weight", {D, E}, he(E));
    // Larger Gamma/Beta so that attention and memory are not uniform.
    add(p + "gamma", {4, S}, 1.0);
    add(p + "beta", {4, S}, 0.5);
    std::string f = "layers." + std::to_string(l) + ".nffn.";
    add(f + "norm.weight", {D}, 0.1);
    add(f + "norm.bias", {D}, 0.1);
    add(f + "fc1.weight", {F, D}, he(D));
    add(f + "fc2.weight", {D, F}, he(F));
    add(f + "fc3.weight", {F, D}, he(D));
  }
  add("output.final_norm.weight", {D}, 0.1);
  add("output.final_norm.bias", {D}, 0.1);
  w["output.final_norm.prior_count"] = Array{{}, {0.0}};
  w["output.final_norm.prior_mean"] = Array{{G}, Vec(G, 0.0)};
  w["output.final_norm.prior_var"] = Array{{G}, Vec(G, 0.0)};
  add("output.output.weight", {V, D}, 1.0 / std::sqrt(double(D)));
  return w;
}

/// Random tokens in [2, V) (no BOS) for B rows of L.
std::vector<int64_t> randomTokens(uint64_t seed, int64_t n, int64_t V) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(2, V - 1);
  std::vector<int64_t> t(n);
  for (int64_t &x : t)
    x = dist(rng);
  return t;
}

double maxAbsDiff(const Vec &a, const Vec &b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

/// Concatenates two B x L_i x W tensors along time.
Vec concatTime(const Vec &a, const Vec &b, int64_t B, int64_t La, int64_t Lb,
               int64_t W) {
  Vec out;
  for (int64_t bi = 0; bi < B; ++bi) {
    out.insert(out.end(), a.begin() + bi * La * W,
               a.begin() + (bi + 1) * La * W);
    out.insert(out.end(), b.begin() + bi * Lb * W,
               b.begin() + (bi + 1) * Lb * W);
  }
  return out;
}

/// Takes time steps [t0, t0 + n) of a B x L x W tensor.
Vec sliceTime(const Vec &x, int64_t B, int64_t L, int64_t W, int64_t t0,
              int64_t n) {
  Vec out;
  for (int64_t bi = 0; bi < B; ++bi)
    out.insert(out.end(), x.begin() + (bi * L + t0) * W,
               x.begin() + (bi * L + t0 + n) * W);
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Golden parity
//===----------------------------------------------------------------------===//

TEST(OracleGolden, TinyAExact) {
  checkGolden("golden_tiny_a.safetensors", false);
}

TEST(OracleGolden, TinyBExact) {
  checkGolden("golden_tiny_b.safetensors", false);
}

TEST(OracleGolden, TinyAFp32TdnBiasCorrection) {
  checkGolden("golden_tiny_a.safetensors", true);
}

TEST(OracleGolden, TinyBFp32TdnBiasCorrection) {
  checkGolden("golden_tiny_b.safetensors", true);
}

TEST(OracleGolden, GoldenHeaderFacts) {
  std::string path = goldenPath("golden_tiny_b.safetensors");
  if (!fileExists(path))
    GTEST_SKIP() << path << " is absent";
  StatusOr<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.isOk());
  StatusOr<Config> cfg = Config::fromJson(file->metadata().at("config"));
  ASSERT_TRUE(cfg.isOk());
  EXPECT_EQ(cfg->numLayers, 2);
  EXPECT_EQ(cfg->zDim, 512);
  EXPECT_EQ(cfg->headDimV(), 64);
  EXPECT_EQ(cfg->ropeHeads(), 2);
  // rope.freqs holds base^(-2j/d_k) in fp32.
  StatusOr<std::vector<double>> freqs = file->readAsF64("rope.freqs");
  ASSERT_TRUE(freqs.isOk());
  ASSERT_EQ(static_cast<int64_t>(freqs->size()), cfg->headDimZ() / 2);
  for (size_t j = 0; j < freqs->size(); ++j)
    EXPECT_NEAR((*freqs)[j],
                std::pow(cfg->ropeBase, -2.0 * j / cfg->headDimZ()),
                1e-7 * (*freqs)[j]);
}

//===----------------------------------------------------------------------===//
// Operator self-consistency (section 10 tricky cases)
//===----------------------------------------------------------------------===//

TEST(OracleOps, TdnStreamingEqualsOneCall) {
  const int64_t B = 2, L = 9, D = 8, G = 2;
  std::mt19937_64 rng(1);
  Vec x = randn(rng, B * L * D, 1.0), w = randn(rng, D, 0.1),
      b = randn(rng, D, 0.1);
  BosMask bos(B * L, 0);
  bos[0 * L + 3] = bos[0 * L + 4] = 1; // consecutive bos
  bos[1 * L + 8] = 1;                  // bos on the last token
  TdnState one;
  Vec full =
      timestepDecayNorm(x, B, L, D, G, w, b, 0.999, 0.9999, 1e-5, bos, one);
  for (int64_t split : {1, 4, 5}) {
    TdnState st;
    BosMask b1, b2;
    for (int64_t bi = 0; bi < B; ++bi) {
      b1.insert(b1.end(), bos.begin() + bi * L, bos.begin() + bi * L + split);
      b2.insert(b2.end(), bos.begin() + bi * L + split,
                bos.begin() + (bi + 1) * L);
    }
    Vec y1 = timestepDecayNorm(sliceTime(x, B, L, D, 0, split), B, split, D, G,
                               w, b, 0.999, 0.9999, 1e-5, b1, st);
    Vec y2 =
        timestepDecayNorm(sliceTime(x, B, L, D, split, L - split), B, L - split,
                          D, G, w, b, 0.999, 0.9999, 1e-5, b2, st);
    EXPECT_LT(maxAbsDiff(concatTime(y1, y2, B, split, L - split, D), full),
              1e-12)
        << "split " << split;
    EXPECT_EQ(st.n, one.n);
    EXPECT_LT(maxAbsDiff(st.M, one.M), 1e-14);
    EXPECT_LT(maxAbsDiff(st.V, one.V), 1e-14);
  }
}

TEST(OracleOps, TdnBosAtStartIgnoresIncomingState) {
  const int64_t B = 1, L = 5, D = 4, G = 1;
  std::mt19937_64 rng(2);
  Vec x = randn(rng, B * L * D, 1.0), w(D, 0.0), b(D, 0.0);
  BosMask bos(B * L, 0);
  bos[0] = 1;
  TdnState zero, busy{{17}, {0.7}, {2.5}};
  Vec y0 =
      timestepDecayNorm(x, B, L, D, G, w, b, 0.999, 0.9999, 1e-5, bos, zero);
  Vec y1 =
      timestepDecayNorm(x, B, L, D, G, w, b, 0.999, 0.9999, 1e-5, bos, busy);
  EXPECT_EQ(y0, y1);
  // With n = 1 the first token is normalised by its own statistics.
  double mu = 0, var = 0;
  for (int64_t i = 0; i < D; ++i)
    mu += x[i] / D;
  for (int64_t i = 0; i < D; ++i)
    var += (x[i] - mu) * (x[i] - mu) / D;
  EXPECT_NEAR(y0[0], (x[0] - mu) / std::sqrt(var + 1e-5), 1e-12);
}

TEST(OracleOps, CemaStreamingEqualsOneCall) {
  const int64_t B = 2, D = 3, N = 4, L = 10;
  std::mt19937_64 rng(3);
  CemaCoeffs co =
      cemaCoefficients(randn(rng, D * N, 0.2), randn(rng, D * N, 0.2),
                       randn(rng, D, 1.0), randn(rng, D * N * 2, 0.5), D, N);
  Vec u = randn(rng, B * D * L, 1.0);
  BosMask bos(B * L, 0);
  bos[0 * L + 6] = 1;
  bos[1 * L + 9] = 1;
  CVec h;
  Vec full = cema(u, B, D, L, N, co, bos, h);
  for (int64_t split : {1, 6, 7}) {
    auto part = [&](int64_t t0, int64_t n) {
      Vec out;
      for (int64_t r = 0; r < B * D; ++r)
        out.insert(out.end(), u.begin() + r * L + t0,
                   u.begin() + r * L + t0 + n);
      return out;
    };
    auto bosPart = [&](int64_t t0, int64_t n) {
      BosMask out;
      for (int64_t bi = 0; bi < B; ++bi)
        out.insert(out.end(), bos.begin() + bi * L + t0,
                   bos.begin() + bi * L + t0 + n);
      return out;
    };
    CVec hs;
    Vec y1 = cema(part(0, split), B, D, split, N, co, bosPart(0, split), hs);
    Vec y2 = cema(part(split, L - split), B, D, L - split, N, co,
                  bosPart(split, L - split), hs);
    for (int64_t r = 0; r < B * D; ++r)
      for (int64_t t = 0; t < L; ++t) {
        double got =
            t < split ? y1[r * split + t] : y2[r * (L - split) + (t - split)];
        EXPECT_NEAR(got, full[r * L + t], 1e-12);
      }
    for (size_t i = 0; i < h.size(); ++i)
      EXPECT_LT(std::abs(hs[i] - h[i]), 1e-12);
  }
  // |q| = 1 - alpha*delta lies in (0, 1).
  for (const auto &q : co.q)
    EXPECT_TRUE(std::abs(q) > 0 && std::abs(q) < 1);
}

TEST(OracleOps, MegalodonNormIsCumulativePooledStatistics) {
  const int64_t B = 1, L = 6, D = 4, G = 1;
  std::mt19937_64 rng(4);
  Vec x = randn(rng, B * L * D, 1.0), w(D, 0.0), b(D, 0.0);
  MegalodonNormState st;
  Vec y = megalodonTimestepNorm(x, B, L, D, G, w, b, 1e-5, st);
  for (int64_t t = 0; t < L; ++t) {
    // Pooled mean and population variance of every element up to t.
    double mu = 0, var = 0;
    int64_t n = (t + 1) * D;
    for (int64_t i = 0; i < n; ++i)
      mu += x[i] / n;
    for (int64_t i = 0; i < n; ++i)
      var += (x[i] - mu) * (x[i] - mu) / n;
    for (int64_t i = 0; i < D; ++i)
      EXPECT_NEAR(y[t * D + i], (x[t * D + i] - mu) / std::sqrt(var + 1e-5),
                  1e-12);
  }
  EXPECT_EQ(st.count[0], L);
}

namespace {

/// Random q, k, v, aq, ak for SCA/AWM tests and a segment layout.
struct AttnInputs {
  int64_t B = 2, L = 16, H = 2, dk = 4, dv = 3, C = 4;
  Vec q, k, v, aq, ak;
  Segments seg;
};

AttnInputs makeAttnInputs(bool withSeg) {
  AttnInputs in;
  std::mt19937_64 rng(5);
  in.q = randn(rng, in.B * in.L * in.H * in.dk, 1.0);
  in.k = randn(rng, in.B * in.L * in.H * in.dk, 1.0);
  in.v = randn(rng, in.B * in.L * in.H * in.dv, 1.0);
  in.aq = randn(rng, in.B * in.L * in.H * in.dk, 1.0);
  in.ak = randn(rng, in.B * in.L * in.H * in.dk, 1.0);
  if (withSeg) {
    // Row 0: boundaries mid-chunk (6) and exactly on a chunk start (8) and on
    // a chunk's last token (11). Row 1: a document spanning > 3 chunks.
    const int64_t bos0[] = {0, 6, 8, 11}, bos1[] = {0, 2};
    in.seg.assign(in.B * in.L, 0);
    for (int64_t t = 0, s = 0; t < in.L; ++t) {
      s += std::count(std::begin(bos0), std::end(bos0), t);
      in.seg[t] = s;
    }
    for (int64_t t = 0, s = 0; t < in.L; ++t) {
      s += std::count(std::begin(bos1), std::end(bos1), t);
      in.seg[in.L + t] = s;
    }
  }
  return in;
}

} // namespace

class OracleAttnStreaming : public ::testing::TestWithParam<bool> {};

TEST_P(OracleAttnStreaming, PrefillInTwoCallsEqualsOneCall) {
  AttnInputs in = makeAttnInputs(GetParam());
  const int64_t B = in.B, L = in.L, H = in.H, dk = in.dk, dv = in.dv, C = in.C;
  Vec scaFull = slidingChunkAttention(in.q, in.k, in.v, B, L, H, dk, dv, C, 0,
                                      in.seg, nullptr);
  AwmState awmFull;
  Vec awmFull_y = adaptiveWorkingMemory(in.aq, in.ak, in.v, B, L, H, dk, dv, C,
                                        in.seg, awmFull);
  // The memory output is 0 for chunks 0 and 1 and nonzero later.
  for (int64_t t = 0; t < 2 * C; ++t)
    for (int64_t e = 0; e < H * dv; ++e)
      EXPECT_EQ(awmFull_y[t * H * dv + e], 0.0);
  EXPECT_GT(maxAbsDiff(sliceTime(awmFull_y, B, L, H * dv, 2 * C, C),
                       Vec(B * C * H * dv, 0.0)),
            1e-3);

  for (int64_t split : {C, 2 * C, 3 * C}) {
    const int64_t L2 = L - split;
    auto part = [&](const Vec &x, int64_t W, int64_t t0, int64_t n) {
      return sliceTime(x, B, L, W, t0, n);
    };
    Segments s1, s2;
    if (!in.seg.empty()) {
      for (int64_t bi = 0; bi < B; ++bi) {
        s1.insert(s1.end(), in.seg.begin() + bi * L,
                  in.seg.begin() + bi * L + split);
        s2.insert(s2.end(), in.seg.begin() + bi * L + split,
                  in.seg.begin() + (bi + 1) * L);
      }
    }
    // SCA: the second call sees the first call's last chunk as cache.
    Vec o1 = slidingChunkAttention(
        part(in.q, H * dk, 0, split), part(in.k, H * dk, 0, split),
        part(in.v, H * dv, 0, split), B, split, H, dk, dv, C, 0, s1, nullptr);
    KvCache cache;
    cache.len = C;
    cache.k = part(in.k, H * dk, split - C, C);
    cache.v = part(in.v, H * dv, split - C, C);
    if (!in.seg.empty())
      for (int64_t bi = 0; bi < B; ++bi)
        cache.seg.insert(cache.seg.end(), in.seg.begin() + bi * L + split - C,
                         in.seg.begin() + bi * L + split);
    Vec o2 = slidingChunkAttention(
        part(in.q, H * dk, split, L2), part(in.k, H * dk, split, L2),
        part(in.v, H * dv, split, L2), B, L2, H, dk, dv, C, split, s2, &cache);
    EXPECT_LT(maxAbsDiff(concatTime(o1, o2, B, split, L2, H * dv), scaFull),
              1e-12)
        << "SCA split " << split;

    // AWM: state (M, Lambda, doc_mem, cached chunk) carried across.
    AwmState st;
    Vec y1 = adaptiveWorkingMemory(
        part(in.aq, H * dk, 0, split), part(in.ak, H * dk, 0, split),
        part(in.v, H * dv, 0, split), B, split, H, dk, dv, C, s1, st);
    Vec y2 = adaptiveWorkingMemory(
        part(in.aq, H * dk, split, L2), part(in.ak, H * dk, split, L2),
        part(in.v, H * dv, split, L2), B, L2, H, dk, dv, C, s2, st);
    EXPECT_LT(maxAbsDiff(concatTime(y1, y2, B, split, L2, H * dv), awmFull_y),
              1e-12)
        << "AWM split " << split;
    EXPECT_LT(maxAbsDiff(st.M, awmFull.M), 1e-12);
  }
}

INSTANTIATE_TEST_SUITE_P(Segments, OracleAttnStreaming,
                         ::testing::Values(false, true));

TEST(OracleOps, ScaDocumentContinuesAcrossChunkBoundary) {
  // A document that starts in chunk c-1 stays visible from chunk c, and a key
  // two chunks back is never visible.
  const int64_t B = 1, L = 12, H = 1, dk = 2, dv = 1, C = 4;
  Vec q(B * L * H * dk, 0.0), k(B * L * H * dk, 0.0), v(B * L * H * dv);
  for (int64_t t = 0; t < L; ++t)
    v[t] = static_cast<double>(t);
  Segments seg(L, 0);
  for (int64_t t = 2; t < L; ++t)
    seg[t] = 1; // document 1 starts at t = 2 (inside chunk 0)
  Vec o = slidingChunkAttention(q, k, v, B, L, H, dk, dv, C, 0, seg, nullptr);
  // Zero scores: the output is the mean of the allowed values.
  EXPECT_NEAR(o[5], (2 + 3 + 4 + 5) / 4.0, 1e-12);         // keys 2..5
  EXPECT_NEAR(o[9], (4 + 5 + 6 + 7 + 8 + 9) / 6.0, 1e-12); // keys 4..9
  EXPECT_NEAR(o[1], (0 + 1) / 2.0, 1e-12);                 // document 0
}

//===----------------------------------------------------------------------===//
// Whole model (section 10)
//===----------------------------------------------------------------------===//

TEST(OracleModel, PrefillStreamingEqualsOneCall) {
  for (bool multi : {false, true}) {
    Config c = tinyConfig();
    c.multiSegments = multi;
    c.numRopeHeads = 1; // mixed RoPE heads (R < H)
    Weights w = randomWeights(c, 7);
    const int64_t B = 2, L = 6 * c.chunkSize;
    std::vector<int64_t> tok = randomTokens(8, B * L, c.vocabSize);
    tok[0 * L + 0] = tok[0 * L + 9] = tok[1 * L + 8] = tok[1 * L + 13] = 1;
    StatusOr<ForwardResult> full = forward(c, w, tok, B, L);
    ASSERT_TRUE(full.isOk()) << full.status().toString();
    for (int64_t first : {c.chunkSize, 2 * c.chunkSize, 4 * c.chunkSize}) {
      ModelState st;
      std::vector<int64_t> t1, t2;
      for (int64_t bi = 0; bi < B; ++bi) {
        t1.insert(t1.end(), tok.begin() + bi * L, tok.begin() + bi * L + first);
        t2.insert(t2.end(), tok.begin() + bi * L + first,
                  tok.begin() + (bi + 1) * L);
      }
      StatusOr<ForwardResult> r1 = forward(c, w, t1, B, first, nullptr, &st);
      StatusOr<ForwardResult> r2 =
          forward(c, w, t2, B, L - first, nullptr, &st);
      ASSERT_TRUE(r1.isOk() && r2.isOk());
      Vec joined =
          concatTime(r1->logits, r2->logits, B, first, L - first, c.vocabSize);
      EXPECT_LT(maxAbsDiff(joined, full->logits), 1e-11)
          << "multi " << multi << " first call " << first;
    }
  }
}

TEST(OracleModel, DocumentIsolation) {
  Config c = tinyConfig();
  c.multiSegments = true;
  Weights w = randomWeights(c, 9);
  const int64_t B = 1, L = 6 * c.chunkSize, V = c.vocabSize;
  std::vector<int64_t> tok = randomTokens(10, B * L, V);
  // Document 1 spans [0, 10); document 2 starts at 10 (mid-chunk) and lasts
  // more than 3 chunks, so its memory accumulates.
  tok[0] = 1;
  tok[10] = 1;
  StatusOr<ForwardResult> base = forward(c, w, tok, B, L);
  ASSERT_TRUE(base.isOk());
  for (int64_t changed : {1, 5, 9}) {
    std::vector<int64_t> alt = tok;
    alt[changed] = alt[changed] == 2 ? 3 : 2;
    StatusOr<ForwardResult> other = forward(c, w, alt, B, L);
    ASSERT_TRUE(other.isOk());
    for (int64_t t = 10; t < L; ++t)
      for (int64_t i = 0; i < V; ++i)
        ASSERT_EQ(base->logits[t * V + i], other->logits[t * V + i])
            << "t " << t << " changed " << changed;
    // ...and the edit does reach document 1's later outputs.
    EXPECT_GT(maxAbsDiff(sliceTime(base->logits, B, L, V, changed, 1),
                         sliceTime(other->logits, B, L, V, changed, 1)),
              0.0);
  }
}

TEST(OracleModel, MultiSegmentsOnOffIdenticalWithOnlyLeadingBos) {
  Config c = tinyConfig();
  Weights w = randomWeights(c, 11);
  const int64_t B = 2, L = 5 * c.chunkSize;
  std::vector<int64_t> tok = randomTokens(12, B * L, c.vocabSize);
  tok[0] = tok[L] = 1; // the only BOS of each row is at t = 0
  c.multiSegments = false;
  StatusOr<ForwardResult> off = forward(c, w, tok, B, L);
  c.multiSegments = true;
  StatusOr<ForwardResult> on = forward(c, w, tok, B, L);
  ASSERT_TRUE(off.isOk() && on.isOk());
  EXPECT_EQ(off->logits, on->logits);
  for (const auto &[name, value] : off->debug)
    EXPECT_EQ(value, on->debug.at(name)) << name;
}

TEST(OracleModel, LossCountsIgnoredTargetsInTheMean) {
  Vec logits = {0.0, 0.0, 1.0, 0.0};
  // Row 0: log 2; row 1 ignored but counted.
  EXPECT_NEAR(crossEntropyMean(logits, {1, -100}, 2, 2), std::log(2.0) / 2,
              1e-15);
}
