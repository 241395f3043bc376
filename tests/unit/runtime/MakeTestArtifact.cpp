//===- MakeTestArtifact.cpp - Files for the gecko-run CLI test ------------===//
//
// Writes into DIR: test.gkm (the test kernel packaged with the writer),
// weights.safetensors, tokens.safetensors (one tensor, not named
// input.tokens), golden.safetensors (inputs, params and the exact expected
// results; output.loss stored as [1] like the reference's goldens),
// golden_bad.safetensors (one logit perturbed), golden_oob.safetensors (a
// token id equal to the vocabulary size), inputs_only.safetensors (just
// input.tokens) and foreign.gkm (the code's ELF
// machine patched to another architecture).
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/safetensors.h"

#include "TestArtifact.h"

#include <cstdio>
#include <cstring>
#include <elf.h>

using namespace gecko;
using namespace gecko::testing;

namespace {

int check(const Status &s) {
  if (s.isOk())
    return 0;
  std::fprintf(stderr, "gecko-make-test-artifact: %s\n", s.toString().c_str());
  return 1;
}

Status writeGolden(const std::string &path, const std::vector<int64_t> &tokens,
                   const std::vector<float> &embed,
                   const std::vector<float> &logits, float loss) {
  std::vector<TensorToWrite> t = {
      {"input.tokens", DType::kI64, {2, 4}, tokens.data(), tokens.size() * 8},
      {"embed.weight", DType::kF32, {5, 3}, embed.data(), embed.size() * 4},
      {"output.logits",
       DType::kF32,
       {2, 4, 3},
       logits.data(),
       logits.size() * 4},
      {"output.loss", DType::kF32, {1}, &loss, 4},
  };
  return writeSafetensors(path, t, {{"purpose", "gecko-run CLI test"}});
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gecko-make-test-artifact DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  std::vector<uint8_t> code = testKernelCode();
  if (code.empty()) {
    std::fprintf(stderr, "cannot read %s\n", GECKO_TEST_KERNEL_PATH);
    return 1;
  }
  ArtifactPlan plan = testKernelPlan();
  if (int rc = check(writeArtifact(dir + "/test.gkm", plan, code)))
    return rc;
  std::vector<uint8_t> foreign = code;
  uint16_t machine = EM_AARCH64;
#if defined(__aarch64__)
  machine = EM_X86_64;
#endif
  std::memcpy(foreign.data() + offsetof(Elf64_Ehdr, e_machine), &machine, 2);
  if (int rc = check(writeArtifact(dir + "/foreign.gkm", plan, foreign)))
    return rc;

  std::vector<float> embed = testEmbedding();
  std::vector<int64_t> tokens = testTokens();
  std::vector<float> logits;
  double loss = 0;
  for (int64_t tok : tokens)
    for (int d = 0; d < 3; ++d) {
      logits.push_back(2.0f * embed[tok * 3 + d]);
      loss += logits.back();
    }
  std::vector<TensorToWrite> w = {
      {"embed.weight", DType::kF32, {5, 3}, embed.data(), embed.size() * 4}};
  if (int rc = check(writeSafetensors(dir + "/weights.safetensors", w, {})))
    return rc;
  std::vector<TensorToWrite> t = {
      {"tokens", DType::kI64, {2, 4}, tokens.data(), tokens.size() * 8}};
  if (int rc = check(writeSafetensors(dir + "/tokens.safetensors", t, {})))
    return rc;
  if (int rc = check(writeGolden(dir + "/golden.safetensors", tokens, embed,
                                 logits, float(loss))))
    return rc;
  std::vector<TensorToWrite> in = {
      {"input.tokens", DType::kI64, {2, 4}, tokens.data(), tokens.size() * 8}};
  if (int rc =
          check(writeSafetensors(dir + "/inputs_only.safetensors", in, {})))
    return rc;
  std::vector<float> bad = logits;
  bad[5] += 0.5f;
  if (int rc = check(writeGolden(dir + "/golden_bad.safetensors", tokens, embed,
                                 bad, float(loss))))
    return rc;
  std::vector<int64_t> oob = tokens;
  oob[3] = 5;
  if (int rc = check(writeGolden(dir + "/golden_oob.safetensors", oob, embed,
                                 logits, float(loss))))
    return rc;
  return 0;
}
