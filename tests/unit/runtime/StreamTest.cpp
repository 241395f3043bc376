//===- StreamTest.cpp - Tests for streaming inference and generation ------===//
//
// The Stream over the test kernel's recurrent LM (TestArtifact.h:
// streamTestPlan): the prefill/decode call plan, stream-vs-batch
// equivalence for every split, call rules and binding errors, state
// save/resume (bit-exact, byte-identical files) and rejection of another
// model's state, sampling (greedy, temperature, top-k, top-p, seeds),
// generate() and the byte-level UTF-8 printer.
//
//===----------------------------------------------------------------------===//

#include "gecko/runtime/executable.h"
#include "gecko/runtime/generate.h"
#include "gecko/runtime/training.h"

#include "TestArtifact.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <unistd.h>

using namespace gecko;
using namespace gecko::testing;

namespace {

using K = StreamCallKind;
const K P = K::kPrefill, D = K::kDecode;

std::string tempDir() {
  std::string base = ::testing::TempDir() + "gecko-stream-XXXXXX";
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

std::unique_ptr<Executable> load(const ArtifactPlan &plan) {
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, testKernelCode());
  EXPECT_TRUE(image.isOk()) << image.status().toString();
  StatusOr<std::unique_ptr<Executable>> exe =
      Executable::loadFromBytes(*image, "gen.gkm");
  EXPECT_TRUE(exe.isOk()) << exe.status().toString();
  return exe.isOk() ? std::move(exe).value() : nullptr;
}

TensorMap weights(int vocab) {
  std::vector<float> embed, head;
  streamTestWeights(vocab, embed, head);
  TensorMap m;
  const int64_t v = vocab;
  m.emplace("embed.weight",
            HostTensor::fromBytes(ElementType::kF32, {v, 4}, embed.data(),
                                  embed.size() * 4)
                .value());
  m.emplace("head.weight", HostTensor::fromBytes(ElementType::kF32, {4, v},
                                                 head.data(), head.size() * 4)
                               .value());
  return m;
}

std::unique_ptr<Stream> makeStream(const Executable &exe, int vocab) {
  StatusOr<std::unique_ptr<Stream>> s = Stream::create(exe, weights(vocab));
  EXPECT_TRUE(s.isOk()) << s.status().toString();
  return s.isOk() ? std::move(s).value() : nullptr;
}

std::vector<int64_t> textTokens(int64_t n, int vocab, int salt = 0) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[size_t(i)] = (i * 31 + salt * 7 + (i / 5)) % vocab;
  return t;
}

/// Collects the logits [rows, positions, V] a stream produces.
struct LogitsLog {
  int64_t batch, vocab;
  std::vector<std::vector<float>> rows;
  LogitsLog(int64_t b, int64_t v) : batch(b), vocab(v), rows(size_t(b)) {}
  Stream::LogitsFn fn() {
    return [this](const HostTensor &l, int64_t first) {
      int64_t len = l.shape()[1];
      for (int64_t b = 0; b < batch; ++b) {
        auto &r = rows[size_t(b)];
        EXPECT_EQ(int64_t(r.size()), first * vocab);
        const float *p = l.dataAs<float>() + b * len * vocab;
        r.insert(r.end(), p, p + len * vocab);
      }
    };
  }
};

TEST(StreamPlan, PrefillAtChunkBoundariesThenDecode) {
  EXPECT_EQ(planStreamCalls(0, 20, 8, 4), (std::vector<K>{P, P, D, D, D, D}));
  EXPECT_EQ(planStreamCalls(0, 16, 8, 8), (std::vector<K>{P, P}));
  // Decode to the next chunk boundary, then prefill again.
  EXPECT_EQ(planStreamCalls(2, 20, 8, 4), (std::vector<K>{D, D, P, P, D, D}));
  EXPECT_EQ(planStreamCalls(5, 7, 8, 4), std::vector<K>(7, D));
  // No prefill function: decode everything.
  EXPECT_EQ(planStreamCalls(0, 5, 0, 4), std::vector<K>(5, D));
  EXPECT_TRUE(planStreamCalls(3, 0, 8, 4).empty());
  // Chunk size 0 defaults to the prefill length.
  EXPECT_EQ(planStreamCalls(4, 8, 8, 0), std::vector<K>(8, D));
}

TEST(Stream, CreateDescribesTheArtifact) {
  auto exe = load(streamTestPlan(256, 2, 8));
  auto s = makeStream(*exe, 256);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->batch(), 2);
  EXPECT_EQ(s->vocab(), 256);
  EXPECT_EQ(s->prefillLength(), 8);
  EXPECT_EQ(s->chunkSize(), 4); // from the model config
  EXPECT_EQ(s->position(), 0);
  EXPECT_EQ(s->stateNames(),
            (std::vector<std::string>{"stream.position", "stream.last_token",
                                      "stream.layers.0.h"}));
  EXPECT_EQ(s->stateBytes(), 8u + 16u + 32u);
  EXPECT_TRUE(s->lastLogits().empty());
  EXPECT_EQ(s->modelHash().size(), 16u);
}

TEST(Stream, CreateErrors) {
  auto plain = load(testKernelPlan());
  StatusOr<std::unique_ptr<Stream>> s = Stream::create(*plain, {});
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("has no 'decode' function"),
            std::string::npos)
      << s.status().message();
  auto exe = load(streamTestPlan(16, 1, 8));
  TensorMap w = weights(16);
  w.erase("head.weight");
  s = Stream::create(*exe, std::move(w));
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("missing param 'head.weight'"),
            std::string::npos)
      << s.status().message();
  // A decode function taking more than one token.
  ArtifactPlan bad = streamTestPlan(16, 1, 8);
  bad.functions[1].entry = bad.functions[0].entry;
  bad.functions[1].args[0].shape = {1, 8};
  bad.functions[1].results[0].shape = {1, 8, 16};
  auto badExe = load(bad);
  s = Stream::create(*badExe, weights(16));
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("expected i64 [B, 1]"), std::string::npos)
      << s.status().message();
}

TEST(Stream, EverySplitEqualsTheFullSequence) {
  const int V = 16;
  auto exe = load(streamTestPlan(V, 2, 8));
  const int64_t n = 37;
  std::vector<int64_t> row0 = textTokens(n, V, 0), row1 = textTokens(n, V, 1);
  std::vector<int64_t> both = row0;
  both.insert(both.end(), row1.begin(), row1.end());
  std::vector<float> want0 = streamTestLogits(V, row0),
                     want1 = streamTestLogits(V, row1);
  std::vector<std::vector<int64_t>> splits = {
      {37}, {1, 36}, {8, 8, 21}, {3, 5, 1, 20, 8}, std::vector<int64_t>(37, 1)};
  for (const auto &split : splits) {
    auto s = makeStream(*exe, V);
    LogitsLog log(2, V);
    int64_t off = 0;
    for (int64_t len : split) {
      std::vector<int64_t> part;
      for (int b = 0; b < 2; ++b)
        part.insert(part.end(), both.begin() + b * n + off,
                    both.begin() + b * n + off + len);
      ASSERT_TRUE(s->feed(part.data(), len, log.fn()).isOk());
      off += len;
    }
    EXPECT_EQ(s->position(), n);
    EXPECT_EQ(log.rows[0], want0) << "split of " << split.size() << " feeds";
    EXPECT_EQ(log.rows[1], want1);
    EXPECT_EQ(s->stateTensor("stream.position")->dataAs<int64_t>()[0], n);
    std::vector<float> last(want1.end() - V, want1.end());
    EXPECT_EQ(
        std::vector<float>(s->lastLogits().begin() + V, s->lastLogits().end()),
        last);
  }
}

TEST(Stream, FeedUsesPrefillWhereLegal) {
  auto exe = load(streamTestPlan(256, 1, 8));
  auto s = makeStream(*exe, 256);
  std::vector<int64_t> t = textTokens(20, 256);
  ASSERT_TRUE(s->feed(t.data(), 20).isOk());
  EXPECT_EQ(s->stats().prefillCalls, 2);
  EXPECT_EQ(s->stats().prefillTokens, 16);
  EXPECT_EQ(s->stats().decodeCalls, 4);
  // Position 20 is a chunk boundary (4): 8 more tokens take one prefill.
  s->resetStats();
  ASSERT_TRUE(s->feed(t.data(), 8).isOk());
  EXPECT_EQ(s->stats().prefillCalls, 1);
  EXPECT_EQ(s->stats().decodeCalls, 0);
  // Without a prefill function everything is decoded, with the same result.
  auto dexe = load(streamTestPlan(256, 1, 0));
  auto d = makeStream(*dexe, 256);
  EXPECT_EQ(d->prefillLength(), 0);
  EXPECT_EQ(d->prefillFunction(), nullptr);
  LogitsLog log(1, 256);
  ASSERT_TRUE(d->feed(t.data(), 20, log.fn()).isOk());
  EXPECT_EQ(d->stats().decodeCalls, 20);
  EXPECT_EQ(log.rows[0], streamTestLogits(256, t));
}

TEST(Stream, CallRules) {
  auto exe = load(streamTestPlan(16, 1, 8));
  auto s = makeStream(*exe, 16);
  std::vector<int64_t> t = textTokens(16, 16);
  Status st = s->call(K::kPrefill, t.data(), 4, 4);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.toString();
  ASSERT_TRUE(s->call(K::kDecode, t.data(), 1, 1).isOk());
  st = s->call(K::kPrefill, t.data(), 8, 8);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("not a multiple of the chunk size 4"),
            std::string::npos)
      << st.message();
  int64_t bad = 16;
  st = s->call(K::kDecode, &bad, 1, 1);
  EXPECT_NE(st.message().find("token 16 (row 0, stream position 1) is "
                              "outside the model's vocabulary [0, 16)"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(s->position(), 1); // failed calls change nothing
  ASSERT_TRUE(s->reset().isOk());
  EXPECT_EQ(s->position(), 0);
  EXPECT_TRUE(s->lastLogits().empty());
  EXPECT_EQ(s->stateTensor("stream.layers.0.h")->dataAs<float>()[0], 0.0f);
}

TEST(StreamState, SaveAndResumeIsBitExact) {
  const int V = 256;
  auto exe = load(streamTestPlan(V, 2, 8));
  std::string dir = tempDir();
  const int64_t n = 45, half = 19;
  std::vector<int64_t> rows = textTokens(2 * n, V);
  auto slice = [&](int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int b = 0; b < 2; ++b)
      out.insert(out.end(), rows.begin() + b * n + from,
                 rows.begin() + b * n + to);
    return out;
  };
  auto whole = makeStream(*exe, V);
  std::vector<int64_t> all = slice(0, n);
  ASSERT_TRUE(whole->feed(all.data(), n).isOk());
  ASSERT_TRUE(whole->saveState(dir + "/whole.st").isOk());

  auto first = makeStream(*exe, V);
  std::vector<int64_t> a = slice(0, half), b = slice(half, n);
  ASSERT_TRUE(first->feed(a.data(), half).isOk());
  ASSERT_TRUE(first->saveState(dir + "/half.st").isOk());
  auto second = makeStream(*exe, V);
  ASSERT_TRUE(second->loadState(dir + "/half.st").isOk());
  EXPECT_EQ(second->position(), half);
  EXPECT_EQ(second->lastLogits(), first->lastLogits());
  ASSERT_TRUE(second->feed(b.data(), n - half).isOk());
  ASSERT_TRUE(second->saveState(dir + "/resumed.st").isOk());

  EXPECT_EQ(second->position(), n);
  EXPECT_EQ(second->lastLogits(), whole->lastLogits());
  for (const std::string &name : whole->stateNames()) {
    const HostTensor *x = whole->stateTensor(name),
                     *y = second->stateTensor(name);
    ASSERT_EQ(x->byteSize(), y->byteSize());
    EXPECT_EQ(std::memcmp(x->data(), y->data(), x->byteSize()), 0) << name;
  }
  EXPECT_EQ(fileBytes(dir + "/whole.st"), fileBytes(dir + "/resumed.st"));
  StatusOr<SafetensorsFile> f = SafetensorsFile::open(dir + "/whole.st");
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->metadata().at("position"), std::to_string(n));
  EXPECT_EQ(f->metadata().at("model_hash"), whole->modelHash());
  EXPECT_TRUE(f->find(kLastLogitsTensor));
}

TEST(StreamState, RejectsOtherModelsAndBadFiles) {
  std::string dir = tempDir();
  auto exe = load(streamTestPlan(256, 1, 8));
  auto s = makeStream(*exe, 256);
  int64_t tok = 3;
  ASSERT_TRUE(s->call(K::kDecode, &tok, 1, 1).isOk());
  ASSERT_TRUE(s->saveState(dir + "/s.st").isOk());
  for (const ArtifactPlan &other :
       {streamTestPlan(256, 2, 8), streamTestPlan(16, 1, 8)}) {
    auto oexe = load(other);
    auto o = makeStream(*oexe, int(other.functions[0].results[0].shape[2]));
    Status st = o->loadState(dir + "/s.st");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("holds the stream state of a different model"),
              std::string::npos)
        << st.message();
    EXPECT_EQ(o->position(), 0);
  }
  // The same model without a prefill function keeps its hash.
  auto dexe = load(streamTestPlan(256, 1, 0));
  auto d = makeStream(*dexe, 256);
  EXPECT_TRUE(d->loadState(dir + "/s.st").isOk());
  EXPECT_EQ(d->position(), 1);
  // Not a state file.
  std::map<std::string, HostTensor> none;
  ASSERT_TRUE(writeCheckpointFile(dir + "/ck.st", none, {}).isOk());
  Status st = s->loadState(dir + "/ck.st");
  EXPECT_NE(st.message().find("not a Gecko stream state file"),
            std::string::npos)
      << st.message();
  // A flipped byte in the data section.
  std::vector<uint8_t> bytes = fileBytes(dir + "/s.st");
  bytes[bytes.size() - 2] ^= 0x40;
  std::ofstream(dir + "/bad.st", std::ios::binary)
      .write(reinterpret_cast<const char *>(bytes.data()),
             std::streamsize(bytes.size()));
  st = s->loadState(dir + "/bad.st");
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.toString();
  EXPECT_EQ(s->loadState(dir + "/missing.st").code(), StatusCode::kNotFound);
}

TEST(Sampling, GreedyIsArgmax) {
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f, NAN};
  SamplingOptions o;
  EXPECT_EQ(sampleToken(l.data(), 5, o, 0.99), 1); // lowest index on ties
  std::vector<double> d = samplingDistribution(l.data(), 5, o);
  EXPECT_EQ(d, (std::vector<double>{0, 1, 0, 0, 0}));
  std::vector<float> big(1000);
  for (int i = 0; i < 1000; ++i)
    big[size_t(i)] = std::sin(float(i));
  int64_t want = std::max_element(big.begin(), big.end()) - big.begin();
  EXPECT_EQ(sampleToken(big.data(), 1000, o, 0.5), want);
}

TEST(Sampling, TemperatureScalesTheSoftmax) {
  std::vector<float> l = {1.0f, 2.0f, 0.0f, -1.0f};
  for (double T : {0.5, 1.0, 2.0}) {
    SamplingOptions o;
    o.temperature = T;
    std::vector<double> d = samplingDistribution(l.data(), 4, o);
    double z = 0;
    for (float x : l)
      z += std::exp(x / T);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(d[size_t(i)], std::exp(l[size_t(i)] / T) / z, 1e-12);
  }
  // Lower temperature sharpens.
  SamplingOptions cold, hot;
  cold.temperature = 0.1;
  hot.temperature = 10;
  EXPECT_GT(samplingDistribution(l.data(), 4, cold)[1], 0.99);
  EXPECT_LT(samplingDistribution(l.data(), 4, hot)[1], 0.3);
}

TEST(Sampling, TopKAndTopPRestrictTheSupport) {
  std::vector<float> l = {0.0f, 3.0f, 1.0f, 2.0f, -5.0f, 2.5f};
  SamplingOptions o;
  o.temperature = 1;
  o.topK = 3;
  std::vector<double> d = samplingDistribution(l.data(), 6, o);
  EXPECT_GT(d[1], 0);
  EXPECT_GT(d[5], 0);
  EXPECT_GT(d[3], 0);
  EXPECT_EQ(d[0], 0);
  EXPECT_EQ(d[2], 0);
  EXPECT_EQ(d[4], 0);
  EXPECT_NEAR(std::accumulate(d.begin(), d.end(), 0.0), 1.0, 1e-12);
  // Every draw lands in the support.
  for (int i = 0; i < 200; ++i) {
    int64_t t = sampleToken(l.data(), 6, o, samplingUniform(1, i, 0));
    EXPECT_TRUE(t == 1 || t == 5 || t == 3) << t;
  }
  // top-p: the smallest most-likely set with mass >= p.
  SamplingOptions p;
  p.temperature = 1;
  p.topP = 0.5;
  std::vector<double> full =
      samplingDistribution(l.data(), 6, SamplingOptions{1.0, 0, 1.0, 0});
  ASSERT_GT(full[1], 0.4);
  ASSERT_LT(full[1], 0.5); // so the nucleus needs the second token too
  d = samplingDistribution(l.data(), 6, p);
  EXPECT_GT(d[1], 0);
  EXPECT_GT(d[5], 0);
  for (int i : {0, 2, 3, 4})
    EXPECT_EQ(d[size_t(i)], 0) << i;
  EXPECT_NEAR(d[1] / d[5], full[1] / full[5], 1e-12);
  p.topP = 0.01;
  d = samplingDistribution(l.data(), 6, p);
  EXPECT_EQ(d[1], 1.0);
  // Both: top-k first, then the nucleus.
  p.topP = 0.9;
  p.topK = 2;
  d = samplingDistribution(l.data(), 6, p);
  EXPECT_EQ(
      int(std::count_if(d.begin(), d.end(), [](double x) { return x > 0; })),
      2);
}

TEST(Sampling, DrawsFollowTheDistributionAndTheSeed) {
  std::vector<float> l = {0.0f, 1.0f, 2.0f};
  SamplingOptions o;
  o.temperature = 1;
  std::vector<double> d = samplingDistribution(l.data(), 3, o);
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i)
    ++counts[size_t(sampleToken(l.data(), 3, o, samplingUniform(7, i, 0)))];
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(double(counts[size_t(i)]) / n, d[size_t(i)], 0.015) << i;
  // Inverse CDF at the edges.
  EXPECT_EQ(sampleToken(l.data(), 3, o, 0.0), 0);
  EXPECT_EQ(sampleToken(l.data(), 3, o, 0.999999), 2);
  // Uniforms: deterministic, in [0, 1), different per seed, position, row.
  EXPECT_EQ(samplingUniform(3, 10, 0), samplingUniform(3, 10, 0));
  EXPECT_NE(samplingUniform(3, 10, 0), samplingUniform(4, 10, 0));
  EXPECT_NE(samplingUniform(3, 10, 0), samplingUniform(3, 11, 0));
  EXPECT_NE(samplingUniform(3, 10, 0), samplingUniform(3, 10, 1));
  for (int i = 0; i < 1000; ++i) {
    double u = samplingUniform(9, i, 2);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  EXPECT_FALSE(validateSampling({-1, 0, 1, 0}).isOk());
  EXPECT_FALSE(validateSampling({1, -1, 1, 0}).isOk());
  EXPECT_FALSE(validateSampling({1, 0, 0, 0}).isOk());
  EXPECT_FALSE(validateSampling({1, 0, 1.5, 0}).isOk());
  EXPECT_FALSE(validateSampling({INFINITY, 0, 1, 0}).isOk());
  EXPECT_TRUE(validateSampling({0.7, 40, 0.9, 5}).isOk());
}

TEST(Generate, GreedyFollowsTheArgmaxAndUpdatesTheState) {
  const int V = 256;
  auto exe = load(streamTestPlan(V, 1, 8));
  auto s = makeStream(*exe, V);
  std::vector<int64_t> prompt = textTokens(13, V);
  GenerateOptions o;
  o.maxTokens = 10;
  int calls = 0;
  o.onTokens = [&](int64_t i, const std::vector<int64_t> &t) {
    EXPECT_EQ(i, calls++);
    EXPECT_EQ(t.size(), 1u);
    return true;
  };
  StatusOr<GenerateResult> r = generate(*s, prompt, 13, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(calls, 10);
  ASSERT_EQ(r->tokens[0].size(), 10u);
  EXPECT_EQ(s->position(), 23);
  // Replaying prompt + output: each generated token is the argmax of the
  // logits before it.
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), r->tokens[0].begin(), r->tokens[0].end());
  std::vector<float> logits = streamTestLogits(V, all);
  for (size_t i = 0; i < 10; ++i) {
    const float *row = logits.data() + (12 + i) * V;
    EXPECT_EQ(r->tokens[0][i], std::max_element(row, row + V) - row) << i;
  }
  // The state covers the output: the last logits are those after it.
  EXPECT_EQ(s->lastLogits(),
            std::vector<float>(logits.end() - V, logits.end()));
  // onTokens can stop early.
  auto s2 = makeStream(*exe, V);
  o.onTokens = [](int64_t i, const std::vector<int64_t> &) { return i < 2; };
  r = generate(*s2, prompt, 13, o);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->tokens[0].size(), 3u);
}

TEST(Generate, StopsAfterTheStopToken) {
  const int V = 256;
  auto exe = load(streamTestPlan(V, 1, 8));
  std::vector<int64_t> prompt = textTokens(13, V);
  GenerateOptions o;
  o.maxTokens = 10;
  auto s = makeStream(*exe, V);
  StatusOr<GenerateResult> full = generate(*s, prompt, 13, o);
  ASSERT_TRUE(full.isOk()) << full.status().toString();
  // Stop at the 4th greedy token (its first occurrence): 4 tokens, the
  // stop token last and fed back (the state covers it).
  const int64_t stop = full->tokens[0][3];
  size_t first =
      size_t(std::find(full->tokens[0].begin(), full->tokens[0].end(), stop) -
             full->tokens[0].begin());
  o.stopToken = stop;
  auto s2 = makeStream(*exe, V);
  StatusOr<GenerateResult> r = generate(*s2, prompt, 13, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->tokens[0].size(), first + 1);
  EXPECT_EQ(r->tokens[0].back(), stop);
  EXPECT_EQ(s2->position(), 13 + int64_t(first) + 1);
  // A stop token never sampled changes nothing.
  o.stopToken = V + 5;
  auto s3 = makeStream(*exe, V);
  r = generate(*s3, prompt, 13, o);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->tokens, full->tokens);
}

TEST(Generate, StopTokenWaitsForEveryRow) {
  const int V = 16;
  auto exe = load(streamTestPlan(V, 2, 8));
  std::vector<int64_t> prompt = textTokens(11, V);
  GenerateOptions o;
  o.maxTokens = 24;
  o.sampling = {1.0, 0, 1.0, 3}; // rows draw independently
  auto s = makeStream(*exe, V);
  StatusOr<GenerateResult> full = generate(*s, prompt, 11, o);
  ASSERT_TRUE(full.isOk()) << full.status().toString();
  // A token both rows generate, first at different steps: generation runs
  // until the later row has it too.
  const std::vector<int64_t> &a = full->tokens[0], &b = full->tokens[1];
  int64_t stop = -1;
  size_t inA = 0, inB = 0;
  for (size_t i = 0; i < a.size() && stop < 0; ++i) {
    inA = size_t(std::find(a.begin(), a.end(), a[i]) - a.begin());
    inB = size_t(std::find(b.begin(), b.end(), a[i]) - b.begin());
    if (inA == i && inB < b.size() && inB != inA)
      stop = a[i];
  }
  ASSERT_GE(stop, 0) << "seed 3 gives the rows a shared token";
  o.stopToken = stop;
  auto s2 = makeStream(*exe, V);
  StatusOr<GenerateResult> r = generate(*s2, prompt, 11, o);
  ASSERT_TRUE(r.isOk());
  const size_t n = std::max(inA, inB) + 1;
  ASSERT_EQ(r->tokens[0].size(), n) << stop;
  EXPECT_EQ(r->tokens[0], std::vector<int64_t>(a.begin(), a.begin() + long(n)));
  EXPECT_EQ(r->tokens[1], std::vector<int64_t>(b.begin(), b.begin() + long(n)));
}

TEST(Generate, SeededSamplingIsDeterministicAndResumable) {
  const int V = 256;
  auto exe = load(streamTestPlan(V, 2, 8));
  std::vector<int64_t> prompt = textTokens(11, V);
  GenerateOptions o;
  o.maxTokens = 12;
  o.sampling = {1.5, 50, 0.95, 42};
  auto run = [&](uint64_t seed) {
    auto s = makeStream(*exe, V);
    GenerateOptions g = o;
    g.sampling.seed = seed;
    StatusOr<GenerateResult> r = generate(*s, prompt, 11, g);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r->tokens;
  };
  auto a = run(42), b = run(42), c = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a[0], a[1]); // rows draw independently
  // 5 tokens, save, resume with an empty prompt, 7 more: the same tokens.
  std::string dir = tempDir();
  auto s = makeStream(*exe, V);
  GenerateOptions g = o;
  g.maxTokens = 5;
  StatusOr<GenerateResult> r1 = generate(*s, prompt, 11, g);
  ASSERT_TRUE(r1.isOk());
  ASSERT_TRUE(s->saveState(dir + "/g.st").isOk());
  auto t = makeStream(*exe, V);
  ASSERT_TRUE(t->loadState(dir + "/g.st").isOk());
  g.maxTokens = 7;
  StatusOr<GenerateResult> r2 = generate(*t, {}, 0, g);
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  for (int row = 0; row < 2; ++row) {
    std::vector<int64_t> joined = r1->tokens[size_t(row)];
    joined.insert(joined.end(), r2->tokens[size_t(row)].begin(),
                  r2->tokens[size_t(row)].end());
    EXPECT_EQ(joined, a[size_t(row)]) << row;
  }
}

TEST(Generate, PromptsAndErrors) {
  const int V = 16;
  auto exe = load(streamTestPlan(V, 2, 8));
  auto s = makeStream(*exe, V);
  GenerateOptions o;
  o.maxTokens = 3;
  StatusOr<GenerateResult> r = generate(*s, {}, 0, o);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  r = generate(*s, {1, 2, 3}, 2, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  o.sampling.topP = 0;
  r = generate(*s, {1, 2}, 2, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  // Per-row prompts (B * count tokens).
  o.sampling.topP = 1;
  r = generate(*s, {1, 2, 3, 4, 5, 6}, 3, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::vector<int64_t> row0 = {1, 2, 3}, row1 = {4, 5, 6};
  row0.insert(row0.end(), r->tokens[0].begin(), r->tokens[0].end());
  row1.insert(row1.end(), r->tokens[1].begin(), r->tokens[1].end());
  std::vector<float> l0 = streamTestLogits(V, row0),
                     l1 = streamTestLogits(V, row1);
  EXPECT_EQ(
      std::vector<float>(s->lastLogits().begin(), s->lastLogits().begin() + V),
      std::vector<float>(l0.end() - V, l0.end()));
  EXPECT_EQ(
      std::vector<float>(s->lastLogits().begin() + V, s->lastLogits().end()),
      std::vector<float>(l1.end() - V, l1.end()));
}

std::string printAll(const std::vector<int64_t> &tokens) {
  Utf8Printer p;
  std::string out;
  for (int64_t t : tokens)
    out += p.push(t);
  return out + p.flush();
}

TEST(Utf8Printer, PassesValidTextAndEscapesTheRest) {
  EXPECT_EQ(printAll({'h', 'i', '\n', '\t'}), "hi\n\t");
  Utf8Printer p;
  EXPECT_EQ(p.push(0xC3), "");
  EXPECT_EQ(p.push(0xA9), "\xC3\xA9"); // é once complete
  EXPECT_EQ(p.push(0xF0), "");
  EXPECT_EQ(p.push(0x9F), "");
  EXPECT_EQ(p.push(0xA6), "");
  EXPECT_EQ(p.push(0x8E), "\xF0\x9F\xA6\x8E"); // a lizard
  EXPECT_EQ(printAll({0xFF, 'a'}), "\\xFFa");
  EXPECT_EQ(printAll({0xC3, 'a'}), "\\xC3a"); // truncated sequence
  EXPECT_EQ(printAll({0xE0, 0x80, 0x80}), "\\xE0\\x80\\x80"); // overlong
  EXPECT_EQ(printAll({0xED, 0xA0, 0x80}), "\\xED\\xA0\\x80"); // surrogate
  EXPECT_EQ(printAll({0x1B, '[', '2', 'J'}), "\\x1B[2J");     // no escape codes
  EXPECT_EQ(printAll({0x7F, 0}), "\\x7F\\x00");
  EXPECT_EQ(printAll({300, 'x'}), "<|300|>x");
  EXPECT_EQ(printAll({0xE2, 0x82}), "\\xE2\\x82"); // flushed at the end
}

} // namespace
