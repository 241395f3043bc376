//===- TestArtifact.h - The test kernel's plan and artifact -----*- C++ -*-===//
//
// Shared by the artifact/executable tests and the gecko-run CLI test
// generator: the plan describing testdata/test_kernel.cpp and the bytes of
// its shared object (GECKO_TEST_KERNEL_PATH, set by CMake).
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TESTS_UNIT_RUNTIME_TESTARTIFACT_H
#define GECKO_TESTS_UNIT_RUNTIME_TESTARTIFACT_H

#include "gecko/abi/artifact_format.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace gecko::testing {

inline ArgSpec makeArg(ArgKind kind, std::string name, ElementType dtype,
                       std::vector<int64_t> shape) {
  ArgSpec a;
  a.kind = kind;
  a.name = std::move(name);
  a.dtype = dtype;
  a.shape = std::move(shape);
  return a;
}

inline TensorSpec makeResult(std::string name, ElementType dtype,
                             std::vector<int64_t> shape) {
  TensorSpec t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

/// The plan of testdata/test_kernel.cpp.
inline ArtifactPlan testKernelPlan() {
  ArtifactPlan plan;
  // The test kernel is a kernel ABI v1 object (it says so in
  // gecko_kernel_abi_version): every test that loads it also checks that
  // the runtime still loads v1 artifacts.
  plan.kernelAbiVersion = 1;
  plan.producer = "gecko-runtime-tests";
#if defined(__x86_64__)
  plan.target.triple = "x86_64-unknown-linux-gnu";
#else
  plan.target.triple = "aarch64-unknown-linux-gnu";
#endif
  plan.modelJson = R"({"name":"test","vocab_size":5,"model_dim":3})";

  FunctionPlan fwd;
  fwd.name = "forward";
  fwd.mode = "forward";
  fwd.entry = "gecko_entry_forward";
  ArgSpec tokens =
      makeArg(ArgKind::kInput, "input.tokens", ElementType::kI64, {2, 4});
  tokens.range = ValueRange{0, 5};
  fwd.args.push_back(tokens);
  fwd.args.push_back(
      makeArg(ArgKind::kParam, "embed.weight", ElementType::kF32, {5, 3}));
  fwd.results.push_back(
      makeResult("output.logits", ElementType::kF32, {2, 4, 3}));
  fwd.results.push_back(makeResult("output.loss", ElementType::kF32, {}));
  fwd.workspace.bytes = 64;
  fwd.workspace.alignment = 64;
  fwd.buffers.push_back(BufferSpec{0, 8});
  plan.functions.push_back(fwd);

  FunctionPlan sum;
  sum.name = "sum";
  sum.mode = "forward";
  sum.entry = "gecko_entry_sum";
  sum.args.push_back(
      makeArg(ArgKind::kInput, "input.x", ElementType::kF32, {4}));
  sum.results.push_back(makeResult("output.sum", ElementType::kF32, {}));
  plan.functions.push_back(sum);
  return plan;
}

/// The plan of the test kernel's bigram model (test_kernel.cpp) with
/// vocabulary `vocab`, batch `batch` and sequence length `seqLen`: functions
/// train_step and grad. `nanStep` > 0 selects the variant whose loss is NaN
/// at that step (test_kernel.cpp exports 16x2x8, 16x2x8_nan4, 256x4x16).
inline ArtifactPlan trainTestPlan(int vocab = 16, int batch = 2, int seqLen = 8,
                                  int nanStep = 0) {
  ArtifactPlan plan = testKernelPlan();
  plan.modelJson =
      R"({"name":"bigram","vocab_size":)" + std::to_string(vocab) + "}";
  plan.functions.clear();
  std::string suffix = std::to_string(vocab) + "x" + std::to_string(batch) +
                       "x" + std::to_string(seqLen);
  const int64_t v = vocab, bsz = batch, len = seqLen;
  ArgSpec tokens =
      makeArg(ArgKind::kInput, "input.tokens", ElementType::kI64, {bsz, len});
  tokens.range = ValueRange{0, v};
  ArgSpec targets = tokens;
  targets.name = "input.targets";
  ArgSpec w = makeArg(ArgKind::kParam, "w", ElementType::kF32, {v, v});
  InitSpec normal;
  normal.kind = InitKind::kNormal;
  normal.mean = 0;
  normal.stddev = 0.02;
  w.init = normal;
  ArgSpec b = makeArg(ArgKind::kParam, "b", ElementType::kF32, {v});
  b.init = InitSpec{};

  FunctionPlan step;
  step.name = "train_step";
  step.mode = "train_step";
  step.entry = "gecko_entry_train_step_" + suffix +
               (nanStep > 0 ? "_nan" + std::to_string(nanStep) : "");
  step.args = {tokens,
               targets,
               makeArg(ArgKind::kInput, "input.lr", ElementType::kF32, {}),
               makeArg(ArgKind::kInput, "input.step", ElementType::kI64, {}),
               w,
               b,
               makeArg(ArgKind::kState, "opt.m.w", ElementType::kF32, {v, v}),
               makeArg(ArgKind::kState, "opt.v.w", ElementType::kF32, {v, v}),
               makeArg(ArgKind::kState, "opt.m.b", ElementType::kF32, {v}),
               makeArg(ArgKind::kState, "opt.v.b", ElementType::kF32, {v})};
  step.results = {makeResult("output.loss", ElementType::kF32, {}),
                  makeResult("output.grad_norm", ElementType::kF32, {})};
  for (const char *n : {"w", "b", "opt.m.w", "opt.v.w", "opt.m.b", "opt.v.b"})
    for (const ArgSpec &a : step.args)
      if (a.name == n)
        step.results.push_back(
            makeResult(std::string("next:") + n, a.dtype, a.shape));
  step.workspace.bytes = uint64_t(v * v + v) * 4;
  plan.functions.push_back(step);

  FunctionPlan grad;
  grad.name = "grad";
  grad.mode = "grad";
  grad.entry = "gecko_entry_grad_" + suffix;
  grad.args = {tokens, targets, w, b};
  grad.results = {makeResult("output.loss", ElementType::kF32, {}),
                  makeResult("grad.w", ElementType::kF32, {v, v}),
                  makeResult("grad.b", ElementType::kF32, {v}),
                  makeResult("debug.logits", ElementType::kF32, {bsz, len, v})};
  plan.functions.push_back(grad);
  return plan;
}

/// The test kernel's recurrent LM (test_kernel.cpp) as a `--mode generate`
/// artifact: vocabulary `vocab`, batch `batch`, functions `prefill`
/// (`prefill` tokens; 0 = no prefill function) and `decode`, and with
/// `forwardLen` > 0 a `forward` of that many tokens. Exported variants:
/// prefill 256x1x8, 256x2x8, 16x1x8, 16x2x8, 16x2x16; decode 256x1, 256x2,
/// 16x1, 16x2; forward 16x2x24. Model config chunk size 4.
inline ArtifactPlan streamTestPlan(int vocab = 256, int batch = 1,
                                   int prefill = 8, int forwardLen = 0) {
  ArtifactPlan plan = testKernelPlan();
  plan.modelJson = R"({"name":"stream-lm","vocab_size":)" +
                   std::to_string(vocab) + R"(,"chunk_size":4})";
  plan.functions.clear();
  const int64_t v = vocab, b = batch, d = 4;
  auto tokens = [&](int64_t len) {
    ArgSpec t =
        makeArg(ArgKind::kInput, "input.tokens", ElementType::kI64, {b, len});
    t.range = ValueRange{0, v};
    return t;
  };
  std::vector<ArgSpec> params = {
      makeArg(ArgKind::kParam, "embed.weight", ElementType::kF32, {v, d}),
      makeArg(ArgKind::kParam, "head.weight", ElementType::kF32, {d, v})};
  std::vector<ArgSpec> state = {
      makeArg(ArgKind::kState, "stream.position", ElementType::kI64, {}),
      makeArg(ArgKind::kState, "stream.last_token", ElementType::kI64, {b}),
      makeArg(ArgKind::kState, "stream.layers.0.h", ElementType::kF32, {b, d})};
  auto fn = [&](const std::string &name, const std::string &entry,
                int64_t len) {
    FunctionPlan f;
    f.name = name;
    f.mode = name;
    f.entry = entry;
    f.args = {tokens(len), params[0], params[1]};
    f.args.insert(f.args.end(), state.begin(), state.end());
    f.results = {makeResult("output.logits", ElementType::kF32, {b, len, v})};
    for (const ArgSpec &s : state)
      f.results.push_back(makeResult("next:" + s.name, s.dtype, s.shape));
    return f;
  };
  std::string vb = std::to_string(vocab) + "x" + std::to_string(batch);
  if (prefill > 0)
    plan.functions.push_back(
        fn("prefill",
           "gecko_entry_lm_prefill_" + vb + "x" + std::to_string(prefill),
           prefill));
  plan.functions.push_back(fn("decode", "gecko_entry_lm_decode_" + vb, 1));
  if (forwardLen > 0) {
    FunctionPlan f;
    f.name = "forward";
    f.mode = "forward";
    f.entry = "gecko_entry_lm_forward_" + vb + "x" + std::to_string(forwardLen);
    f.args = {tokens(forwardLen), params[0], params[1]};
    f.results = {
        makeResult("output.logits", ElementType::kF32, {b, forwardLen, v})};
    plan.functions.push_back(f);
  }
  return plan;
}

/// Deterministic weights of the stream test LM: embed [V, 4], head [4, V].
inline void streamTestWeights(int vocab, std::vector<float> &embed,
                              std::vector<float> &head) {
  embed.assign(size_t(vocab) * 4, 0.0f);
  head.assign(size_t(vocab) * 4, 0.0f);
  for (int v = 0; v < vocab; ++v)
    for (int d = 0; d < 4; ++d) {
      embed[size_t(v * 4 + d)] = 0.5f * std::sin(0.37f * float(v) + 1.1f * d);
      head[size_t(d * vocab + v)] =
          0.5f * std::cos(0.23f * float(v) * float(d + 1) + float(d));
    }
}

/// The stream test LM's logits [L, V] for one fresh stream of `tokens`,
/// computed exactly as the kernel does.
inline std::vector<float> streamTestLogits(int vocab,
                                           const std::vector<int64_t> &tokens) {
  std::vector<float> embed, head;
  streamTestWeights(vocab, embed, head);
  std::vector<float> out;
  float h[4] = {0, 0, 0, 0};
  int64_t prev = 0;
  for (size_t p = 0; p < tokens.size(); ++p) {
    int64_t x = tokens[p];
    for (int d = 0; d < 4; ++d)
      h[d] = 0.5f * h[d] + embed[size_t(x * 4 + d)];
    for (int v = 0; v < vocab; ++v) {
      float acc = 0.0f;
      for (int d = 0; d < 4; ++d)
        acc += h[d] * head[size_t(d * vocab + v)];
      if (p > 0 && v == prev)
        acc += 0.25f;
      acc += 0.001f * float(int64_t(p) % 7);
      out.push_back(acc);
    }
    prev = x;
  }
  return out;
}

/// The bytes of the test kernel's shared object (empty if unreadable).
inline std::vector<uint8_t> testKernelCode() {
  std::ifstream in(GECKO_TEST_KERNEL_PATH, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>());
}

/// Deterministic embedding table of the test plan: embed[v][d] = v + d/10.
inline std::vector<float> testEmbedding() {
  std::vector<float> e(15);
  for (int v = 0; v < 5; ++v)
    for (int d = 0; d < 3; ++d)
      e[v * 3 + d] = float(v) + 0.1f * float(d);
  return e;
}

inline std::vector<int64_t> testTokens() { return {0, 1, 2, 3, 4, 3, 2, 1}; }

/// A container image laid out like serializeArtifact() does, but around an
/// arbitrary plan text and code, with every checksum correct; used to test
/// what the verifier does with content the writer would refuse.
inline std::vector<uint8_t> rawImage(const std::string &planText,
                                     const std::vector<uint8_t> &code,
                                     uint32_t formatVersion = 1,
                                     uint32_t kernelAbiVersion = 1) {
  using namespace artifact;
  uint64_t planOffset = kHeaderSize;
  uint64_t codeOffset = (planOffset + planText.size() + kSectionAlignment - 1) /
                        kSectionAlignment * kSectionAlignment;
  uint64_t fileSize = codeOffset + code.size();
  std::vector<uint8_t> out(fileSize, 0);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(&out[off], &v, 4); };
  auto put64 = [&](size_t off, uint64_t v) { std::memcpy(&out[off], &v, 8); };
  std::memcpy(&out[0], kMagic, 8);
  put32(kOffFormatVersion, formatVersion);
  put32(kOffKernelAbiVersion, kernelAbiVersion);
  put32(kOffHeaderSize, uint32_t(kHeaderSize));
  put64(kOffFileSize, fileSize);
  put64(kOffPlanOffset, planOffset);
  put64(kOffPlanSize, planText.size());
  put64(kOffCodeOffset, codeOffset);
  put64(kOffCodeSize, code.size());
  put32(kOffPlanCrc, crc32c(planText.data(), planText.size()));
  put32(kOffCodeCrc, crc32c(code.data(), code.size()));
  put32(kOffHeaderCrc, crc32c(out.data(), kOffHeaderCrc));
  std::memcpy(&out[planOffset], planText.data(), planText.size());
  if (!code.empty())
    std::memcpy(&out[codeOffset], code.data(), code.size());
  return out;
}

/// Recomputes the header checksum of an image after editing the header.
inline void resealHeader(std::vector<uint8_t> &image) {
  uint32_t crc = crc32c(image.data(), artifact::kOffHeaderCrc);
  std::memcpy(&image[artifact::kOffHeaderCrc], &crc, 4);
}

} // namespace gecko::testing

#endif // GECKO_TESTS_UNIT_RUNTIME_TESTARTIFACT_H
