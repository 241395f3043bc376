//===- TrainingTest.cpp - Tests for the trainer and its formats -----------===//
//
// The plan's training extensions (state args, `next:` results, init specs),
// deterministic initialization, token data, batches, the LR schedule,
// checkpoints (atomicity, corruption fallback, model mismatch), and the
// training loop on the test kernel's bigram model: bit-exact resume, NaN
// stop, SIGINT stop, metrics and the SVG loss curve.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/training.h"
#include "gecko/runtime/executable.h"
#include "gecko/runtime/init.h"

#include "TestArtifact.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace gecko;
using namespace gecko::testing;

namespace {

std::string makeTempDir() {
  std::string base = ::testing::TempDir() + "gecko-train-XXXXXX";
  std::vector<char> buf(base.begin(), base.end());
  buf.push_back('\0');
  const char *dir = ::mkdtemp(buf.data());
  EXPECT_NE(dir, nullptr);
  return dir ? dir : "/tmp";
}

std::vector<uint8_t> fileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>());
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::unique_ptr<Executable> loadPlan(const ArtifactPlan &plan) {
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, testKernelCode());
  EXPECT_TRUE(image.isOk()) << image.status().toString();
  if (!image.isOk())
    return nullptr;
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(*image, "bigram.gkm");
  EXPECT_TRUE(exe.isOk()) << exe.status().toString();
  return exe.isOk() ? std::move(exe).value() : nullptr;
}

/// A vocabulary-16 token stream with structure a bigram model can learn.
std::vector<int64_t> bigramTokens(size_t n) {
  std::vector<int64_t> t(n);
  uint64_t x = 7;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    t[i] = i == 0 ? 0 : ((t[i - 1] * 5 + 3) + ((x >> 60) == 0 ? 1 : 0)) % 16;
  }
  return t;
}

/// Options writing all output to a scratch file.
TrainOptions quietOptions(const std::string &data, const std::string &dir) {
  TrainOptions o;
  o.dataPath = data;
  o.checkpointDir = dir;
  o.quiet = true;
  static std::FILE *sink = std::tmpfile();
  o.out = sink;
  o.err = sink;
  o.lr = 0.05;
  o.seed = 1234;
  return o;
}

struct Fixture {
  std::string dir = makeTempDir();
  std::string data = dir + "/data.tok";
  std::unique_ptr<Executable> exe;
  explicit Fixture(int nanStep = 0) {
    EXPECT_TRUE(writeTokenFile(data, bigramTokens(4000), 2).isOk());
    exe = loadPlan(trainTestPlan(16, 2, 8, nanStep));
  }
};

void expectContains(const Status &s, const std::string &needle) {
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "'" << needle << "' not in: " << s.message();
}

} // namespace

//===----------------------------------------------------------------------===//
// Plan schema
//===----------------------------------------------------------------------===//

TEST(TrainPlan, StateInitAndNextRoundTrip) {
  ArtifactPlan plan = trainTestPlan();
  FunctionPlan &f = plan.functions[0];
  InitSpec tn;
  tn.kind = InitKind::kTruncatedNormal;
  tn.mean = 0.25;
  tn.stddev = 0.5;
  tn.a = -1;
  tn.b = 1.5;
  f.args[5].init = tn; // b
  StatusOr<std::string> text = planToJson(plan);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  EXPECT_NE(text->find("\"kind\": \"state\""), std::string::npos);
  EXPECT_NE(text->find("\"name\": \"next:opt.v.b\""), std::string::npos);
  StatusOr<ArtifactPlan> back = planFromJson(*text, "t");
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  const FunctionPlan &g = back->functions[0];
  EXPECT_EQ(g.args[6].kind, ArgKind::kState);
  ASSERT_TRUE(g.args[4].init.has_value());
  EXPECT_EQ(g.args[4].init->kind, InitKind::kNormal);
  EXPECT_DOUBLE_EQ(g.args[4].init->stddev, 0.02);
  ASSERT_TRUE(g.args[5].init.has_value());
  EXPECT_EQ(g.args[5].init->kind, InitKind::kTruncatedNormal);
  EXPECT_DOUBLE_EQ(g.args[5].init->mean, 0.25);
  EXPECT_DOUBLE_EQ(g.args[5].init->b, 1.5);
  EXPECT_FALSE(g.args[0].init.has_value());
  EXPECT_EQ(nextResultTarget("next:opt.m.w"), "opt.m.w");
  EXPECT_EQ(nextResultTarget("output.loss"), "");
  StatusOr<std::string> again = planToJson(*back);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again, *text);

  // Every init kind survives the round trip.
  f.args[4].shape = {8, 2}; // complex_real_normal needs a last dim of 2
  f.results[2].shape = {8, 2};
  plan.functions[1].args[2].shape = {8, 2};
  for (InitKind k :
       {InitKind::kZeros, InitKind::kOnes, InitKind::kConstant,
        InitKind::kNormal, InitKind::kTruncatedNormal, InitKind::kUniform,
        InitKind::kCemaTheta, InitKind::kComplexRealNormal}) {
    InitSpec s;
    s.kind = k;
    s.value = 0.5;
    s.mean = -0.1;
    s.stddev = 0.3;
    s.a = -2;
    s.b = 3;
    f.args[4].init = s;
    StatusOr<std::string> t = planToJson(plan);
    ASSERT_TRUE(t.isOk()) << initKindName(k) << ": " << t.status().toString();
    StatusOr<ArtifactPlan> p = planFromJson(*t, "t");
    ASSERT_TRUE(p.isOk()) << initKindName(k) << ": " << p.status().toString();
    EXPECT_EQ(p->functions[0].args[4].init->kind, k);
  }
}

TEST(TrainPlan, ValidationErrors) {
  struct Case {
    const char *needle;
    void (*edit)(ArtifactPlan &);
  } cases[] = {
      {"init is only allowed on param args, not on state",
       [](ArtifactPlan &p) { p.functions[0].args[6].init = InitSpec{}; }},
      {"needs a float dtype, not i32 (integer params allow only 'zeros')",
       [](ArtifactPlan &p) {
         p.functions[0].args[4].dtype = ElementType::kI32;
         p.functions[0].results[2].dtype = ElementType::kI32;
         p.functions[1].args[2].dtype = ElementType::kI32;
       }},
      {"negative std",
       [](ArtifactPlan &p) { p.functions[0].args[4].init->stddev = -1; }},
      {"empty interval [a, b]",
       [](ArtifactPlan &p) {
         InitSpec s;
         s.kind = InitKind::kTruncatedNormal;
         s.a = 1;
         s.b = 1;
         p.functions[0].args[4].init = s;
       }},
      {"empty interval [a, b)",
       [](ArtifactPlan &p) {
         InitSpec s;
         s.kind = InitKind::kUniform;
         s.a = 2;
         s.b = -2;
         p.functions[0].args[4].init = s;
       }},
      {"init 'complex_real_normal' needs a last dimension of 2 (re, im), "
       "not shape [16, 16]",
       [](ArtifactPlan &p) {
         p.functions[0].args[4].init->kind = InitKind::kComplexRealNormal;
       }},
      {"values must be finite",
       [](ArtifactPlan &p) { p.functions[0].args[4].init->mean = NAN; }},
      {"result 'next:nope' updates argument 'nope', which function "
       "'train_step' does not have",
       [](ArtifactPlan &p) { p.functions[0].results[2].name = "next:nope"; }},
      {"updates input argument 'input.lr'",
       [](ArtifactPlan &p) {
         p.functions[0].results[2].name = "next:input.lr";
         p.functions[0].results[2].shape = {};
       }},
      {"result 'next:opt.m.b' is f32 [15] but the argument 'opt.m.b' it "
       "updates is f32 [16]",
       [](ArtifactPlan &p) {
         for (TensorSpec &r : p.functions[0].results)
           if (r.name == "next:opt.m.b")
             r.shape = {15};
       }},
      {"result 'next:w' is f64 [16, 16] but the argument 'w'",
       [](ArtifactPlan &p) {
         p.functions[0].results[2].dtype = ElementType::kF64;
       }},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.needle);
    ArtifactPlan plan = trainTestPlan();
    c.edit(plan);
    Status s = validatePlan(plan);
    ASSERT_FALSE(s.isOk());
    expectContains(s, c.needle);
  }

  // JSON-level errors.
  StatusOr<std::string> good = planToJson(trainTestPlan());
  ASSERT_TRUE(good.isOk());
  struct JsonCase {
    const char *needle;
    void (*edit)(nlohmann::json &);
  } jsonCases[] = {
      {"unknown kind 'gaussian'",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][4]["init"] = {{"kind", "gaussian"}};
       }},
      {"unknown field 'scale'",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][4]["init"]["scale"] = 2;
       }},
      {"missing field 'std'",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][4]["init"].erase("std");
       }},
      {"field 'mean' is not a number",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][4]["init"]["mean"] = "0";
       }},
      {"init is not a JSON object",
       [](nlohmann::json &j) { j["functions"][0]["args"][4]["init"] = 3; }},
      {"(expected 'input', 'param' or 'state')",
       [](nlohmann::json &j) { j["functions"][0]["args"][6]["kind"] = "opt"; }},
      {"missing field 'value'",
       [](nlohmann::json &j) {
         j["functions"][0]["args"][4]["init"] = {{"kind", "constant"}};
       }},
  };
  for (const JsonCase &c : jsonCases) {
    SCOPED_TRACE(c.needle);
    nlohmann::json j = nlohmann::json::parse(*good);
    c.edit(j);
    StatusOr<ArtifactPlan> p = planFromJson(j.dump(), "bad.gkm");
    ASSERT_FALSE(p.isOk());
    expectContains(p.status(), c.needle);
  }
}

TEST(TrainPlan, StateArgsBindFromTheWeightsMap) {
  std::unique_ptr<Executable> exe = loadPlan(trainTestPlan());
  ASSERT_TRUE(exe);
  const FunctionPlan &f = exe->plan().functions[0];
  Status s = exe->checkBindings(f, {}, {});
  ASSERT_FALSE(s.isOk());
  expectContains(s, "missing state 'opt.m.w' (f32 [16, 16])");
  expectContains(s, "missing param 'w'");
  expectContains(s, "missing input 'input.lr'");
}

//===----------------------------------------------------------------------===//
// Initialization
//===----------------------------------------------------------------------===//

TEST(Init, PhiloxKnownAnswers) {
  // Random123's known-answer vectors for philox4x32-10.
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c,
                                     0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                       {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6,
                                     0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                       {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420,
                                     0x24126ea1}));
}

TEST(Init, NormalQuantile) {
  EXPECT_NEAR(normalQuantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(normalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normalQuantile(0.001), -3.090232306167813, 1e-12);
  EXPECT_NEAR(normalQuantile(1e-10), -6.361340902404056, 1e-9);
}

TEST(Init, DeterministicAndKeyedByName) {
  TensorSpec spec;
  spec.name = "layers.0.w";
  spec.dtype = ElementType::kF32;
  spec.shape = {64, 32};
  InitSpec n;
  n.kind = InitKind::kNormal;
  n.stddev = 1;
  auto bytesOf = [&](const TensorSpec &s, uint64_t seed) {
    StatusOr<HostTensor> t = initializeTensor(s, n, seed);
    EXPECT_TRUE(t.isOk());
    const uint8_t *p = static_cast<const uint8_t *>(t->data());
    return std::vector<uint8_t>(p, p + t->byteSize());
  };
  std::vector<uint8_t> a = bytesOf(spec, 7);
  EXPECT_EQ(a, bytesOf(spec, 7));
  EXPECT_NE(a, bytesOf(spec, 8));
  TensorSpec other = spec;
  other.name = "layers.1.w";
  EXPECT_NE(a, bytesOf(other, 7));
  // Element i does not depend on the shape: a prefix of a longer tensor.
  TensorSpec longer = spec;
  longer.shape = {128, 32};
  std::vector<uint8_t> l = bytesOf(longer, 7);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), l.begin()));
}

TEST(Init, CemaThetaAndComplexRealNormal) {
  // cema_theta: sigmoid(theta) is a permutation of D^(-k/D), k = 1..D.
  TensorSpec theta{"layers.0.mega.cema.theta", ElementType::kF64, {64}};
  InitSpec ct;
  ct.kind = InitKind::kCemaTheta;
  StatusOr<HostTensor> t = initializeTensor(theta, ct, 5);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  std::vector<double> f;
  for (int i = 0; i < 64; ++i)
    f.push_back(1 / (1 + std::exp(-t->dataAs<double>()[i])));
  std::vector<double> sorted = f;
  std::sort(sorted.begin(), sorted.end());
  for (int k = 1; k <= 64; ++k)
    EXPECT_NEAR(sorted[size_t(64 - k)], std::pow(64.0, -k / 64.0), 1e-12);
  EXPECT_NE(f, sorted); // permuted
  StatusOr<HostTensor> again = initializeTensor(theta, ct, 5);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(std::memcmp(t->data(), again->data(), t->byteSize()), 0);
  StatusOr<HostTensor> other = initializeTensor(theta, ct, 6);
  ASSERT_TRUE(other.isOk());
  EXPECT_NE(std::memcmp(t->data(), other->data(), t->byteSize()), 0);
  TensorSpec one{"theta1", ElementType::kF32, {1}};
  StatusOr<HostTensor> o = initializeTensor(one, ct, 0);
  ASSERT_TRUE(o.isOk());
  EXPECT_TRUE(std::isfinite(o->dataAs<float>()[0]));

  // complex_real_normal: imaginary parts zero, real parts N(mean, std).
  TensorSpec gamma{"gamma", ElementType::kF32, {500, 100, 2}};
  InitSpec crn;
  crn.kind = InitKind::kComplexRealNormal;
  crn.mean = 0;
  crn.stddev = 0.25;
  StatusOr<HostTensor> c = initializeTensor(gamma, crn, 1);
  ASSERT_TRUE(c.isOk());
  double s = 0, s2 = 0;
  int64_t n = c->numel() / 2;
  for (int64_t i = 0; i < n; ++i) {
    double re = c->dataAs<float>()[2 * i];
    EXPECT_EQ(c->dataAs<float>()[2 * i + 1], 0.0f);
    s += re;
    s2 += re * re;
  }
  EXPECT_NEAR(s / double(n), 0.0, 0.005);
  EXPECT_NEAR(std::sqrt(s2 / double(n)), 0.25, 0.005);
}

TEST(Init, DistributionSanity) {
  TensorSpec spec;
  spec.name = "x";
  spec.dtype = ElementType::kF64;
  spec.shape = {200000};
  auto stats = [&](const InitSpec &init, double &mean, double &sd, double &lo,
                   double &hi) {
    StatusOr<HostTensor> t = initializeTensor(spec, init, 99);
    ASSERT_TRUE(t.isOk()) << t.status().toString();
    const double *p = t->dataAs<double>();
    double s = 0, s2 = 0;
    lo = INFINITY;
    hi = -INFINITY;
    for (int64_t i = 0; i < t->numel(); ++i) {
      s += p[i];
      s2 += p[i] * p[i];
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
    mean = s / double(t->numel());
    sd = std::sqrt(s2 / double(t->numel()) - mean * mean);
  };
  double mean, sd, lo, hi;
  InitSpec n;
  n.kind = InitKind::kNormal;
  n.mean = 0.5;
  n.stddev = 2;
  stats(n, mean, sd, lo, hi);
  EXPECT_NEAR(mean, 0.5, 0.02);
  EXPECT_NEAR(sd, 2.0, 0.02);
  EXPECT_LT(lo, 0.5 - 8); // tails exist
  InitSpec u;
  u.kind = InitKind::kUniform;
  u.a = -1;
  u.b = 3;
  stats(u, mean, sd, lo, hi);
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_NEAR(sd, 4 / std::sqrt(12.0), 0.01);
  EXPECT_GE(lo, -1);
  EXPECT_LT(hi, 3);
  // Truncated normal: bounds respected, mean as theory says.
  InitSpec tn;
  tn.kind = InitKind::kTruncatedNormal;
  tn.mean = 0;
  tn.stddev = 1;
  tn.a = -0.5;
  tn.b = 2;
  stats(tn, mean, sd, lo, hi);
  auto pdf = [](double x) {
    return std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
  };
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  double want = (pdf(-0.5) - pdf(2)) / (cdf(2) - cdf(-0.5));
  EXPECT_NEAR(mean, want, 0.01);
  EXPECT_GE(lo, -0.5);
  EXPECT_LE(hi, 2);
  EXPECT_LT(lo, -0.49);
  EXPECT_GT(hi, 1.99);
  // Far in the tail (rejection sampling would stall): still in bounds.
  tn.mean = 0.1;
  tn.stddev = 0.02;
  tn.a = 0.3; // 10 std above the mean
  tn.b = 0.4;
  stats(tn, mean, sd, lo, hi);
  EXPECT_GE(lo, 0.3);
  EXPECT_LE(hi, 0.4);
  EXPECT_LT(mean, 0.302);
  // Constants and dtype rounding.
  InitSpec c;
  c.kind = InitKind::kConstant;
  c.value = 1.5;
  for (ElementType t : {ElementType::kBF16, ElementType::kF16}) {
    TensorSpec s{"c", t, {3}};
    StatusOr<HostTensor> h = initializeTensor(s, c, 0);
    ASSERT_TRUE(h.isOk());
    EXPECT_EQ(h->dataAs<uint16_t>()[2],
              t == ElementType::kBF16 ? 0x3FC0 : 0x3E00);
    EXPECT_EQ(h->elementAsDouble(1), 1.5);
  }
  InitSpec ones;
  ones.kind = InitKind::kOnes;
  TensorSpec s32{"o", ElementType::kF32, {4}};
  StatusOr<HostTensor> o = initializeTensor(s32, ones, 0);
  ASSERT_TRUE(o.isOk());
  EXPECT_EQ(o->dataAs<float>()[3], 1.0f);
  TensorSpec ints{"i", ElementType::kI32, {4}};
  EXPECT_FALSE(initializeTensor(ints, n, 0).isOk());
}

//===----------------------------------------------------------------------===//
// Data, batches and schedule
//===----------------------------------------------------------------------===//

TEST(TokenData, TextAndBinaryFiles) {
  std::string dir = makeTempDir();
  writeText(dir + "/a.txt", "hello");
  StatusOr<std::unique_ptr<TokenData>> t = TokenData::open(dir + "/a.txt");
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_STREQ((*t)->formatName(), "text");
  EXPECT_EQ((*t)->size(), 5);
  EXPECT_EQ((*t)->at(1), 'e');

  for (int width : {2, 4}) {
    std::vector<int64_t> toks = {0, 1, 65535, 7};
    if (width == 4)
      toks.push_back(100000);
    std::string p = dir + "/b" + std::to_string(width) + ".tok";
    ASSERT_TRUE(writeTokenFile(p, toks, width).isOk());
    StatusOr<std::unique_ptr<TokenData>> b = TokenData::open(p);
    ASSERT_TRUE(b.isOk()) << b.status().toString();
    EXPECT_STREQ((*b)->formatName(), width == 2 ? "u16" : "u32");
    ASSERT_EQ((*b)->size(), int64_t(toks.size()));
    for (size_t i = 0; i < toks.size(); ++i)
      EXPECT_EQ((*b)->at(int64_t(i)), toks[i]);
    // Out-of-vocabulary ids name the position and value.
    Status s = (*b)->checkRange(0, 1000);
    ASSERT_FALSE(s.isOk());
    expectContains(s, "token 2 (" + std::string(width == 2 ? "u16" : "u32") +
                          ") is 65535, outside the model's vocabulary "
                          "[0, 1000)");
  }
  EXPECT_FALSE(writeTokenFile(dir + "/x.tok", {70000}, 2).isOk());

  // A truncated binary file and an unknown version.
  std::vector<uint8_t> bytes = fileBytes(dir + "/b2.tok");
  std::string cut = dir + "/cut.tok";
  writeText(cut, std::string(bytes.begin(), bytes.end() - 1));
  StatusOr<std::unique_ptr<TokenData>> c = TokenData::open(cut);
  ASSERT_FALSE(c.isOk());
  expectContains(c.status(), "header says 4 tokens of 2 bytes, but the file "
                             "holds 7 bytes of tokens (truncated)");
  bytes[8] = 9;
  writeText(cut, std::string(bytes.begin(), bytes.end()));
  c = TokenData::open(cut);
  ASSERT_FALSE(c.isOk());
  expectContains(c.status(), "GECKOTOK version 9 is not supported");
  writeText(cut, "GECKOTOK\1");
  c = TokenData::open(cut);
  ASSERT_FALSE(c.isOk());
  expectContains(c.status(), "truncated GECKOTOK header");
  EXPECT_EQ(TokenData::open(dir + "/none").status().code(),
            StatusCode::kNotFound);
  // Text files are byte-level: a byte >= the vocabulary is rejected.
  Status s = (*t)->checkRange(0, 50);
  ASSERT_FALSE(s.isOk());
  expectContains(s, "token 0 (text) is 104");
  expectContains(s, "byte-level");
}

TEST(TokenData, BatchesAreDeterministicWindows) {
  std::string dir = makeTempDir();
  std::vector<int64_t> toks(1000);
  for (size_t i = 0; i < toks.size(); ++i)
    toks[i] = int64_t(i);
  ASSERT_TRUE(writeTokenFile(dir + "/d.tok", toks, 4).isOk());
  StatusOr<std::unique_ptr<TokenData>> d = TokenData::open(dir + "/d.tok");
  ASSERT_TRUE(d.isOk());
  auto batch = [&](uint64_t seed, int64_t step) {
    StatusOr<HostTensor> t = HostTensor::zeros(ElementType::kI64, {3, 5});
    StatusOr<HostTensor> g = HostTensor::zeros(ElementType::kI64, {3, 5});
    EXPECT_TRUE(fillBatch(**d, seed, step, *t, *g).isOk());
    std::vector<int64_t> out(t->dataAs<int64_t>(), t->dataAs<int64_t>() + 15);
    for (int i = 0; i < 15; ++i) // targets are the tokens shifted by one
      EXPECT_EQ(g->dataAs<int64_t>()[i], out[size_t(i)] + 1);
    for (int r = 0; r < 3; ++r)
      for (int j = 1; j < 5; ++j) // contiguous windows
        EXPECT_EQ(out[size_t(r * 5 + j)], out[size_t(r * 5)] + j);
    return out;
  };
  EXPECT_EQ(batch(1, 5), batch(1, 5));
  EXPECT_NE(batch(1, 5), batch(1, 6));
  EXPECT_NE(batch(1, 5), batch(2, 5));
  // Starts cover [0, N - L - 1].
  int64_t lo = 1 << 30, hi = -1;
  for (int64_t step = 0; step < 3000; ++step) {
    int64_t s = windowStart(3, step, 0, 10, 5);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 4);

  // Too short for one window.
  ASSERT_TRUE(writeTokenFile(dir + "/s.tok", {1, 2, 3, 4, 5}, 2).isOk());
  StatusOr<std::unique_ptr<TokenData>> s = TokenData::open(dir + "/s.tok");
  ASSERT_TRUE(s.isOk());
  StatusOr<HostTensor> t = HostTensor::zeros(ElementType::kI64, {1, 5});
  StatusOr<HostTensor> g = HostTensor::zeros(ElementType::kI64, {1, 5});
  Status st = fillBatch(**s, 0, 0, *t, *g);
  ASSERT_FALSE(st.isOk());
  expectContains(st, "5 tokens are too few for one training window of 6");
}

TEST(LrSchedule, WarmupThenCosine) {
  LrSchedule s{1.0, 0.1, 2, 10};
  EXPECT_DOUBLE_EQ(s.at(0), 0.5);
  EXPECT_DOUBLE_EQ(s.at(1), 1.0);
  EXPECT_DOUBLE_EQ(s.at(2), 1.0);
  EXPECT_NEAR(s.at(6), 0.55, 1e-12);
  EXPECT_NEAR(s.at(10), 0.1, 1e-12);
  EXPECT_GT(s.at(9), 0.1);
  LrSchedule none{3e-4, 0.1, 0, 4};
  EXPECT_DOUBLE_EQ(none.at(0), 3e-4);
  EXPECT_NEAR(none.at(2), 3e-4 * (0.1 + 0.9 * 0.5), 1e-15);
  for (int i = 1; i < 10; ++i)
    EXPECT_LE(s.at(i + 1), s.at(i) + 1e-15);
}

//===----------------------------------------------------------------------===//
// Checkpoints
//===----------------------------------------------------------------------===//

TEST(Checkpoint, AtomicChecksummedAndTempFilesIgnored) {
  std::string dir = makeTempDir();
  TensorMap m;
  float v[3] = {1, 2, 3};
  m.emplace(
      "w",
      std::move(
          HostTensor::fromBytes(ElementType::kF32, {3}, v, sizeof(v)).value()));
  std::string path = dir + "/" + checkpointFileName(3);
  EXPECT_EQ(checkpointFileName(3), "step-00000003.safetensors");
  ASSERT_TRUE(writeCheckpointFile(path, m, {{"step", "3"}}).isOk());
  // A partially written temporary file (a crash mid-write) and other names
  // are not checkpoints.
  writeText(dir + "/step-00000009.safetensors.tmp.4242", "partial");
  writeText(dir + "/step-9.safetensors", "x");
  writeText(dir + "/step-0000000x.safetensors", "x");
  auto list = listCheckpoints(dir);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first, 3);
  StatusOr<Checkpoint> ck = readCheckpointFile(path);
  ASSERT_TRUE(ck.isOk()) << ck.status().toString();
  EXPECT_EQ(ck->metadata.at("step"), "3");
  EXPECT_EQ(ck->tensors.at("w").dataAs<float>()[2], 3.0f);
  // One flipped data byte is detected.
  std::vector<uint8_t> bytes = fileBytes(path);
  bytes[bytes.size() - 2] ^= 0x40;
  writeText(path, std::string(bytes.begin(), bytes.end()));
  ck = readCheckpointFile(path);
  ASSERT_FALSE(ck.isOk());
  EXPECT_EQ(ck.status().code(), StatusCode::kDataLoss);
  expectContains(ck.status(), "tensor checksum mismatch");
}

//===----------------------------------------------------------------------===//
// The training loop
//===----------------------------------------------------------------------===//

TEST(Train, LossDecreasesAndFilesAreWritten) {
  Fixture fx;
  ASSERT_TRUE(fx.exe);
  TrainOptions o = quietOptions(fx.data, fx.dir + "/ck");
  o.steps = 60;
  o.lr = 0.1;
  o.warmup = 5;
  o.checkpointEvery = 10;
  o.metricsPath = fx.dir + "/m.jsonl";
  o.plotPath = fx.dir + "/loss.svg";
  std::vector<double> losses;
  o.onStep = [&](const StepRecord &r) { losses.push_back(r.loss); };
  StatusOr<TrainResult> r = train(*fx.exe, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->endStep, 60);
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_NEAR(losses[0], std::log(16.0), 0.05); // near-uniform init
  EXPECT_LT(losses.back(), losses[0] - 1.0);
  // The newest 3 checkpoints are kept.
  auto list = listCheckpoints(fx.dir + "/ck");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].first, 40);
  EXPECT_EQ(list[2].first, 60);
  StatusOr<Checkpoint> ck = readCheckpointFile(list[2].second);
  ASSERT_TRUE(ck.isOk());
  for (const char *n : {"w", "b", "opt.m.w", "opt.v.w", "opt.m.b", "opt.v.b"})
    EXPECT_TRUE(ck->tensors.count(n)) << n;
  EXPECT_EQ(ck->metadata.at("step"), "60");
  EXPECT_EQ(ck->metadata.at("seed"), "1234");
  EXPECT_EQ(ck->metadata.at("data_path"), fx.data);
  EXPECT_EQ(ck->metadata.at("model_hash"),
            modelSignatureHash(fx.exe->plan(), fx.exe->plan().functions[0]));
  // One JSON object per step.
  std::ifstream in(o.metricsPath);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["step"].get<int>(), ++n);
    for (const char *k :
         {"loss", "grad_norm", "lr", "tokens_per_s", "elapsed_s"})
      EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(n, 60);
  std::vector<uint8_t> svg = fileBytes(o.plotPath);
  std::string text(svg.begin(), svg.end());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("class=\"loss\""), std::string::npos);
  EXPECT_NE(text.find("class=\"smoothed\""), std::string::npos);
  EXPECT_NE(text.find(">step</text>"), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
}

TEST(Train, ResumeIsBitExact) {
  Fixture fx;
  ASSERT_TRUE(fx.exe);
  TrainOptions straight = quietOptions(fx.data, fx.dir + "/a");
  straight.steps = 6;
  straight.warmup = 2;
  straight.metricsPath = fx.dir + "/a.jsonl";
  ASSERT_TRUE(train(*fx.exe, straight).isOk());

  // 3 steps (stopped like Ctrl-C would), then resume for the other 3.
  TrainOptions first = straight;
  first.checkpointDir = fx.dir + "/b";
  first.metricsPath = fx.dir + "/b.jsonl";
  first.onStep = [](const StepRecord &r) {
    if (r.step == 3)
      requestTrainingStop();
  };
  StatusOr<TrainResult> r1 = train(*fx.exe, first);
  ASSERT_TRUE(r1.isOk()) << r1.status().toString();
  EXPECT_TRUE(r1->interrupted);
  EXPECT_EQ(r1->endStep, 3);
  TrainOptions second = quietOptions(fx.data, fx.dir + "/b");
  second.resume = true; // steps, seed, lr and warmup from the checkpoint
  second.lr.reset();
  second.seed.reset();
  second.metricsPath = fx.dir + "/b.jsonl";
  StatusOr<TrainResult> r2 = train(*fx.exe, second);
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_EQ(r2->startStep, 3);
  EXPECT_EQ(r2->endStep, 6);
  EXPECT_FALSE(r2->interrupted);

  std::string a = fx.dir + "/a/" + checkpointFileName(6);
  std::string b = fx.dir + "/b/" + checkpointFileName(6);
  StatusOr<Checkpoint> ca = readCheckpointFile(a);
  StatusOr<Checkpoint> cb = readCheckpointFile(b);
  ASSERT_TRUE(ca.isOk() && cb.isOk());
  for (auto &[name, t] : ca->tensors) {
    const HostTensor &u = cb->tensors.at(name);
    ASSERT_EQ(t.byteSize(), u.byteSize());
    EXPECT_EQ(std::memcmp(t.data(), u.data(), t.byteSize()), 0) << name;
  }
  EXPECT_EQ(fileBytes(a), fileBytes(b)); // metadata included
  // The resumed metrics file has steps 1..6 once each and equals the
  // straight run's losses.
  auto losses = [](const std::string &p) {
    std::vector<std::pair<int, double>> out;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      out.emplace_back(j["step"].get<int>(), j["loss"].get<double>());
    }
    return out;
  };
  EXPECT_EQ(losses(fx.dir + "/a.jsonl"), losses(fx.dir + "/b.jsonl"));
}

TEST(Train, CorruptNewestCheckpointFallsBack) {
  Fixture fx;
  ASSERT_TRUE(fx.exe);
  TrainOptions o = quietOptions(fx.data, fx.dir + "/ck");
  o.steps = 6;
  o.checkpointEvery = 2;
  o.stopAt = 4;
  ASSERT_TRUE(train(*fx.exe, o).isOk());
  std::string newest = fx.dir + "/ck/" + checkpointFileName(4);
  std::vector<uint8_t> bytes = fileBytes(newest);
  ASSERT_FALSE(bytes.empty());
  bytes[bytes.size() - 5] ^= 0x01;
  writeText(newest, std::string(bytes.begin(), bytes.end()));

  std::string log = fx.dir + "/log.txt";
  std::FILE *logFile = std::fopen(log.c_str(), "w");
  TrainOptions r = o;
  r.resume = true;
  r.stopAt = 0;
  r.err = logFile;
  StatusOr<TrainResult> res = train(*fx.exe, r);
  std::fclose(logFile);
  r.err = o.err;
  ASSERT_TRUE(res.isOk()) << res.status().toString();
  EXPECT_EQ(res->startStep, 2);
  std::vector<uint8_t> logBytes = fileBytes(log);
  std::string text(logBytes.begin(), logBytes.end());
  EXPECT_NE(text.find("checkpoint " + newest + " is unusable"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trying the previous one"), std::string::npos);

  // Same result as a straight run.
  TrainOptions straight = quietOptions(fx.data, fx.dir + "/straight");
  straight.steps = 6;
  ASSERT_TRUE(train(*fx.exe, straight).isOk());
  EXPECT_EQ(fileBytes(fx.dir + "/ck/" + checkpointFileName(6)),
            fileBytes(fx.dir + "/straight/" + checkpointFileName(6)));

  // Every checkpoint corrupt: an error, not a silent restart.
  for (auto &[step, path] : listCheckpoints(fx.dir + "/ck"))
    writeText(path, "garbage");
  StatusOr<TrainResult> none = train(*fx.exe, r);
  ASSERT_FALSE(none.isOk());
  expectContains(none.status(), "no usable checkpoint");
}

TEST(Train, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  Fixture fx(/*nanStep=*/4);
  ASSERT_TRUE(fx.exe);
  TrainOptions o = quietOptions(fx.data, fx.dir + "/ck");
  o.steps = 10;
  o.checkpointEvery = 2;
  StatusOr<TrainResult> r = train(*fx.exe, o);
  ASSERT_FALSE(r.isOk());
  expectContains(r.status(), "loss is NaN at step 4");
  expectContains(r.status(), "step-00000002.safetensors");
  auto list = listCheckpoints(fx.dir + "/ck");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first, 2);
  StatusOr<Checkpoint> ck = readCheckpointFile(list[0].second);
  ASSERT_TRUE(ck.isOk());
  const HostTensor &w = ck->tensors.at("w");
  for (int64_t i = 0; i < w.numel(); ++i)
    ASSERT_TRUE(std::isfinite(w.dataAs<float>()[i]));
}

TEST(Train, SigintStopsAfterTheStepWithACheckpoint) {
  Fixture fx;
  ASSERT_TRUE(fx.exe);
  TrainOptions o = quietOptions(fx.data, fx.dir + "/ck");
  o.steps = 50;
  o.checkpointEvery = 0;
  installTrainingSigintHandler();
  o.onStep = [](const StepRecord &r) {
    if (r.step == 5)
      std::raise(SIGINT);
  };
  StatusOr<TrainResult> r = train(*fx.exe, o);
  std::signal(SIGINT, SIG_DFL);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->interrupted);
  EXPECT_EQ(r->endStep, 5);
  auto list = listCheckpoints(fx.dir + "/ck");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first, 5);
}

TEST(Train, RefusesMismatchedModelsAndBadSetups) {
  Fixture fx;
  ASSERT_TRUE(fx.exe);
  TrainOptions o = quietOptions(fx.data, fx.dir + "/ck");
  o.steps = 2;
  ASSERT_TRUE(train(*fx.exe, o).isOk());
  // A fresh run into a directory with checkpoints.
  StatusOr<TrainResult> again = train(*fx.exe, o);
  ASSERT_FALSE(again.isOk());
  expectContains(again.status(), "pass --resume");
  // A checkpoint of another model.
  ArtifactPlan other = trainTestPlan();
  other.modelJson = R"({"name":"other","vocab_size":16})";
  std::unique_ptr<Executable> otherExe = loadPlan(other);
  ASSERT_TRUE(otherExe);
  TrainOptions r = o;
  r.resume = true;
  StatusOr<TrainResult> mismatch = train(*otherExe, r);
  ASSERT_FALSE(mismatch.isOk());
  expectContains(mismatch.status(), "was written for a different model");
  // Out-of-vocabulary data: text bytes against vocabulary 16.
  writeText(fx.dir + "/t.txt", "hello world, this is text");
  TrainOptions t = quietOptions(fx.dir + "/t.txt", fx.dir + "/ck2");
  t.steps = 1;
  StatusOr<TrainResult> oov = train(*fx.exe, t);
  ASSERT_FALSE(oov.isOk());
  expectContains(oov.status(), "token 0 (text) is 104, outside the model's "
                               "vocabulary [0, 16)");
  // Params without init and without --weights.
  ArtifactPlan noInit = trainTestPlan();
  noInit.functions[0].args[4].init.reset();
  std::unique_ptr<Executable> noInitExe = loadPlan(noInit);
  ASSERT_TRUE(noInitExe);
  TrainOptions n = quietOptions(fx.data, fx.dir + "/ck3");
  n.steps = 1;
  StatusOr<TrainResult> ni = train(*noInitExe, n);
  ASSERT_FALSE(ni.isOk());
  expectContains(ni.status(), "param 'w' has no init spec in the plan; pass "
                              "--weights");
  // ... which --weights fixes (and a wrong shape there is named).
  std::vector<float> w(256, 0.01f);
  TensorMap weights;
  weights.emplace("w",
                  std::move(HostTensor::fromBytes(ElementType::kF32, {16, 16},
                                                  w.data(), w.size() * 4)
                                .value()));
  ASSERT_TRUE(writeTensors(fx.dir + "/w.safetensors", weights).isOk());
  n.weightsPath = fx.dir + "/w.safetensors";
  StatusOr<TrainResult> withW = train(*noInitExe, n);
  ASSERT_TRUE(withW.isOk()) << withW.status().toString();
  weights.clear();
  weights.emplace("w", std::move(HostTensor::fromBytes(ElementType::kF32, {256},
                                                       w.data(), w.size() * 4)
                                     .value()));
  ASSERT_TRUE(writeTensors(fx.dir + "/w.safetensors", weights).isOk());
  n.checkpointDir = fx.dir + "/ck4";
  StatusOr<TrainResult> badW = train(*noInitExe, n);
  ASSERT_FALSE(badW.isOk());
  expectContains(badW.status(), "param 'w' is f32 [256], the plan expects f32 "
                                "[16, 16]");
  // Data too short for one window.
  ASSERT_TRUE(writeTokenFile(fx.dir + "/short.tok", {1, 2, 3}, 2).isOk());
  TrainOptions s = quietOptions(fx.dir + "/short.tok", fx.dir + "/ck5");
  s.steps = 1;
  StatusOr<TrainResult> sh = train(*fx.exe, s);
  ASSERT_FALSE(sh.isOk());
  expectContains(sh.status(), "3 tokens are too few for one training window "
                              "of 9");
}

TEST(LossCurveSvg, AxesTicksAndLines) {
  std::vector<std::pair<double, double>> pts;
  for (int i = 1; i <= 100; ++i)
    pts.emplace_back(i, 3.0 / std::sqrt(double(i)));
  std::string svg = lossCurveSvg(pts, "a <title> & more");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("a &lt;title&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos); // an x tick
  EXPECT_NE(svg.find(">loss</text>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"smoothed\""), std::string::npos);
  // Degenerate inputs still give a valid document.
  EXPECT_NE(lossCurveSvg({}, "empty").find("</svg>"), std::string::npos);
  EXPECT_NE(lossCurveSvg({{1, 2.0}}, "one").find("</svg>"), std::string::npos);
  EXPECT_NE(lossCurveSvg({{1, NAN}, {2, 1.0}}, "nan").find("</svg>"),
            std::string::npos);
}
