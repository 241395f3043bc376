//===- MakeTestArtifact.cpp - Files for the gecko-run CLI test ------------===//
//
// Writes into DIR: test.gkm (the test kernel packaged with the writer),
// weights.safetensors, tokens.safetensors (one tensor, not named
// input.tokens), golden.safetensors (inputs, params and the exact expected
// results; output.loss stored as [1] like the reference's goldens),
// golden_bad.safetensors (one logit perturbed), golden_oob.safetensors (a
// token id equal to the vocabulary size), inputs_only.safetensors (just
// input.tokens) and foreign.gkm (the code's ELF machine patched to another
// architecture). For `gecko-run train`: train16.gkm (the bigram model,
// vocabulary 16), train_nan.gkm (its loss is NaN at step 4), train256.gkm
// (vocabulary 256, for byte-level text), tokens16.tok (a GECKOTOK file),
// text.txt, and golden_grad.safetensors / golden_grad_bad.safetensors
// (train16's `grad` function computed in double precision here; one grad
// element perturbed in the bad one). For streaming (generate, stream,
// check's stream replay): gen256.gkm (the test LM, vocabulary 256, batch 1,
// prefill 8), gen256_b2.gkm (batch 2), gen256_decode.gkm (no prefill),
// gen16.gkm (vocabulary 16, batch 2, prefill 8, forward of 24 tokens),
// gen16_b1.gkm (batch 1), gen16_p16.gkm (prefill 16), gen_weights256 /
// gen_weights16.safetensors, golden_stream16.safetensors (stream,
// stream_p16, stream_p4, stream_b and full logits of two rows of 24 tokens,
// with descriptions in the metadata like the reference's),
// golden_stream16_bad.safetensors (one stream_b logit off by 1e-3), and
// prompt.txt with its halves prompt_a.txt and prompt_b.txt.
//
// With a second argument, the CUDA test artifact's host object (fatbin
// image; CudaTestArtifact.h), it also writes cuda.gkm, cuda_weights and
// cuda_inputs.safetensors (y and input.x) and cuda_golden.safetensors (both
// plus vadd's exact output.z) for gecko-run-cuda-cli-test.sh.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/training.h"

#include "CudaTestArtifact.h"
#include "TestArtifact.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <elf.h>
#include <fstream>

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

/// Writes the grad golden of the vocabulary-16 bigram model (batch 2 x 8):
/// inputs, params and double-precision loss, gradients and logits.
Status writeGradGolden(const std::string &path, bool perturb) {
  const int V = 16, B = 2, L = 8;
  std::vector<int64_t> tokens(B * L), targets(B * L);
  for (int i = 0; i < B * L; ++i) {
    tokens[size_t(i)] = (i * 7 + 3) % V;
    targets[size_t(i)] = (i * 5 + 1) % V;
  }
  std::vector<float> w(V * V), b(V);
  for (int i = 0; i < V * V; ++i)
    w[size_t(i)] = 0.05f * float((i * 37) % 23 - 11);
  for (int i = 0; i < V; ++i)
    b[size_t(i)] = 0.01f * float(i % 5 - 2);
  std::vector<double> gw(V * V, 0.0), gb(V, 0.0);
  std::vector<float> logits(size_t(B * L * V));
  double loss = 0;
  for (int p = 0; p < B * L; ++p) {
    int64_t tok = tokens[size_t(p)], tgt = targets[size_t(p)];
    double mx = -INFINITY, z[16];
    for (int v = 0; v < V; ++v) {
      z[v] = double(w[size_t(tok * V + v)]) + double(b[size_t(v)]);
      logits[size_t(p * V + v)] = float(z[v]);
      mx = std::max(mx, z[v]);
    }
    double sum = 0;
    for (int v = 0; v < V; ++v)
      sum += std::exp(z[v] - mx);
    double lse = mx + std::log(sum);
    loss += lse - z[tgt];
    for (int v = 0; v < V; ++v) {
      double g = (std::exp(z[v] - lse) - (v == tgt ? 1 : 0)) / (B * L);
      gw[size_t(tok * V + v)] += g;
      gb[size_t(v)] += g;
    }
  }
  float lossF = float(loss / (B * L));
  std::vector<float> gwF(gw.begin(), gw.end()), gbF(gb.begin(), gb.end());
  if (perturb)
    gwF[size_t(tokens[0] * V)] += 0.01f;
  std::vector<TensorToWrite> t = {
      {"input.tokens", DType::kI64, {B, L}, tokens.data(), tokens.size() * 8},
      {"input.targets",
       DType::kI64,
       {B, L},
       targets.data(),
       targets.size() * 8},
      {"w", DType::kF32, {V, V}, w.data(), w.size() * 4},
      {"b", DType::kF32, {V}, b.data(), b.size() * 4},
      {"output.loss", DType::kF32, {1}, &lossF, 4},
      {"grad.w", DType::kF32, {V, V}, gwF.data(), gwF.size() * 4},
      {"grad.b", DType::kF32, {V}, gbF.data(), gbF.size() * 4},
      {"debug.logits",
       DType::kF32,
       {B, L, V},
       logits.data(),
       logits.size() * 4},
  };
  return writeSafetensors(path, t, {{"purpose", "gecko-run check --golden"}});
}

Status writeTrainFiles(const std::string &dir,
                       const std::vector<uint8_t> &code) {
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/train16.gkm", trainTestPlan(16, 2, 8), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/train_nan.gkm", trainTestPlan(16, 2, 8, 4), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/train256.gkm", trainTestPlan(256, 4, 16), code));
  std::vector<int64_t> toks(3000);
  for (size_t i = 1; i < toks.size(); ++i)
    toks[i] = (toks[i - 1] * 5 + 3 + int64_t(i % 7 == 0)) % 16;
  GECKO_RETURN_IF_ERROR(writeTokenFile(dir + "/tokens16.tok", toks, 2));
  std::ofstream text(dir + "/text.txt", std::ios::binary);
  for (int i = 0; i < 40; ++i)
    text << "The gecko climbs the wall at night and eats small insects. ";
  text.close();
  GECKO_RETURN_IF_ERROR(
      writeGradGolden(dir + "/golden_grad.safetensors", false));
  return writeGradGolden(dir + "/golden_grad_bad.safetensors", true);
}

Status writeStreamGolden(const std::string &path, bool perturb) {
  const int V = 16, G = 2, T = 24;
  std::vector<int64_t> tokens, tokensB;
  std::vector<float> logits, logitsB;
  for (int g = 0; g < G; ++g) {
    std::vector<int64_t> row, rowB;
    for (int t = 0; t < T; ++t) {
      row.push_back((t * 5 + g * 3 + 1) % V);
      rowB.push_back(t % 9 == 0 ? 0 : (t * 7 + g) % V);
    }
    tokens.insert(tokens.end(), row.begin(), row.end());
    tokensB.insert(tokensB.end(), rowB.begin(), rowB.end());
    std::vector<float> l = streamTestLogits(V, row);
    std::vector<float> lb = streamTestLogits(V, rowB);
    logits.insert(logits.end(), l.begin(), l.end());
    logitsB.insert(logitsB.end(), lb.begin(), lb.end());
  }
  std::vector<float> streamB = logitsB;
  if (perturb)
    streamB[100] += 1e-3f;
  const std::vector<int64_t> ls = {G, T, V};
  const size_t lb = logits.size() * 4;
  std::vector<TensorToWrite> t = {
      {"input.tokens", DType::kI64, {G, T}, tokens.data(), tokens.size() * 8},
      {"input.tokens_b",
       DType::kI64,
       {G, T},
       tokensB.data(),
       tokensB.size() * 8},
      {"stream.logits", DType::kF32, ls, logits.data(), lb},
      {"stream_p16.logits", DType::kF32, ls, logits.data(), lb},
      {"stream_p4.logits", DType::kF32, ls, logits.data(), lb},
      {"stream_b.logits", DType::kF32, ls, streamB.data(), lb},
      {"full.logits", DType::kF32, ls, logits.data(), lb},
      {"full_b.logits", DType::kF32, ls, logitsB.data(), lb},
  };
  return writeSafetensors(
      path, t,
      {{"stream.logits", "tokens[:, :8] as one prefill call, then 16 "
                         "single-token calls; logits concatenated along time"},
       {"stream_p16.logits", "same with a 16-token prefill then 8 "
                             "single-token calls"},
       {"stream_p4.logits", "same with a 4-token prefill then 20 "
                            "single-token calls"},
       {"stream_b.logits", "same as stream.logits but tokens_b"}});
}

Status writeStreamFiles(const std::string &dir,
                        const std::vector<uint8_t> &code) {
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/gen256.gkm", streamTestPlan(256, 1, 8), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/gen256_b2.gkm", streamTestPlan(256, 2, 8), code));
  GECKO_RETURN_IF_ERROR(writeArtifact(dir + "/gen256_decode.gkm",
                                      streamTestPlan(256, 1, 0), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/gen16.gkm", streamTestPlan(16, 2, 8, 24), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/gen16_b1.gkm", streamTestPlan(16, 1, 8), code));
  GECKO_RETURN_IF_ERROR(
      writeArtifact(dir + "/gen16_p16.gkm", streamTestPlan(16, 2, 16), code));
  for (int v : {256, 16}) {
    std::vector<float> embed, head;
    streamTestWeights(v, embed, head);
    const int64_t vv = v;
    std::vector<TensorToWrite> w = {
        {"embed.weight", DType::kF32, {vv, 4}, embed.data(), embed.size() * 4},
        {"head.weight", DType::kF32, {4, vv}, head.data(), head.size() * 4}};
    GECKO_RETURN_IF_ERROR(writeSafetensors(
        dir + "/gen_weights" + std::to_string(v) + ".safetensors", w, {}));
  }
  GECKO_RETURN_IF_ERROR(
      writeStreamGolden(dir + "/golden_stream16.safetensors", false));
  GECKO_RETURN_IF_ERROR(
      writeStreamGolden(dir + "/golden_stream16_bad.safetensors", true));
  std::string text;
  for (int i = 0; i < 3; ++i)
    text += "The gecko streams tokens through its memory, chunk by chunk. ";
  std::ofstream(dir + "/prompt.txt", std::ios::binary) << text;
  std::ofstream(dir + "/prompt_a.txt", std::ios::binary) << text.substr(0, 77);
  std::ofstream(dir + "/prompt_b.txt", std::ios::binary) << text.substr(77);
  return Status::ok();
}

Status writeCudaFiles(const std::string &dir, const std::string &hostPath) {
  std::vector<uint8_t> host = readBinaryFile(hostPath);
  if (host.empty())
    return notFound("cannot read " + hostPath);
  GECKO_RETURN_IF_ERROR(writeArtifact(dir + "/cuda.gkm", cudaTestPlan(), host));
  const int64_t n = kCudaTestN;
  std::vector<float> x(static_cast<size_t>(n)), y(x.size()), z(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = 0.25f * float(i) - 3.0f;
    y[i] = 1.0f / float(i + 1);
    z[i] = x[i] + y[i];
  }
  TensorToWrite tx{"input.x", DType::kF32, {n}, x.data(), x.size() * 4};
  TensorToWrite ty{"y", DType::kF32, {n}, y.data(), y.size() * 4};
  TensorToWrite tz{"output.z", DType::kF32, {n}, z.data(), z.size() * 4};
  GECKO_RETURN_IF_ERROR(
      writeSafetensors(dir + "/cuda_inputs.safetensors", {tx}, {}));
  GECKO_RETURN_IF_ERROR(
      writeSafetensors(dir + "/cuda_weights.safetensors", {ty}, {}));
  return writeSafetensors(dir + "/cuda_golden.safetensors", {tx, ty, tz}, {});
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr,
                 "usage: gecko-make-test-artifact DIR [CUDA_HOST_OBJECT]\n");
    return 2;
  }
  std::string dir = argv[1];
  if (argc == 3)
    if (int rc = check(writeCudaFiles(dir, argv[2])))
      return rc;
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
  if (int rc = check(writeTrainFiles(dir, code)))
    return rc;
  if (int rc = check(writeStreamFiles(dir, code)))
    return rc;
  std::vector<int64_t> oob = tokens;
  oob[3] = 5;
  if (int rc = check(writeGolden(dir + "/golden_oob.safetensors", oob, embed,
                                 logits, float(loss))))
    return rc;
  return 0;
}
