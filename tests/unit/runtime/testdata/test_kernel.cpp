//===- test_kernel.cpp - A hand-written kernel following kernel ABI v1 ----===//
//
// Built as a shared object (CMake MODULE) and packaged into test artifacts
// by the runtime tests, standing in for compiler output. Its plan (see
// TestArtifact.h) is:
//
//   forward  (gecko_entry_forward):
//     args    input.tokens i64 [2, 4] range [0, 5], embed.weight f32 [5, 3]
//     results output.logits f32 [2, 4, 3] = 2 * embed.weight[tokens]
//             output.loss   f32 []        = sum of output.logits
//     workspace 64 bytes (one float per batch row of partial sums)
//   sum      (gecko_entry_sum):
//     args    input.x f32 [4]; results output.sum f32 [] = sum of x
//
// and a bigram language model trained with AdamW, standing in for a
// compiled train_step (TestArtifact.h: trainTestPlan). logits = w[tok] + b,
// loss = mean cross entropy; the gradient is clipped to global norm 1; AdamW
// (beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.1 on w only):
//
//   gecko_entry_train_step_<V>x<B>x<L>[_nan<S>] (train_step):
//     args    input.tokens i64 [B, L], input.targets i64 [B, L],
//             input.lr f32 [], input.step i64 [] (1-based),
//             w f32 [V, V], b f32 [V] (params),
//             opt.m.w, opt.v.w f32 [V, V], opt.m.b, opt.v.b f32 [V] (state)
//     results output.loss f32 [], output.grad_norm f32 [],
//             next:w, next:b, next:opt.m.w, next:opt.v.w, next:opt.m.b,
//             next:opt.v.b
//     workspace (V*V + V) floats of gradient; the _nan<S> variant returns a
//     NaN loss (and NaN params) at step S
//   gecko_entry_grad_<V>x<B>x<L> (grad):
//     args    input.tokens, input.targets, w, b
//     results output.loss f32 [], grad.w f32 [V, V], grad.b f32 [V],
//             debug.logits f32 [B, L, V]
//
// and a tiny recurrent language model standing in for a compiled
// `--mode generate` artifact (TestArtifact.h: streamTestPlan), D = 4:
//
//   per row, for each token x at stream position p:
//     h      = 0.5 * h + embed[x]                         (h in R^D)
//     logits = h @ head + 0.25 * [p > 0 and v == prev] + 0.001 * (p % 7)
//     prev   = x
//
//   gecko_entry_lm_prefill_<V>x<B>x<P> (prefill), gecko_entry_lm_decode_<V>x<B>
//   (decode, P = 1):
//     args    input.tokens i64 [B, P], embed.weight f32 [V, D],
//             head.weight f32 [D, V], stream.position i64 [],
//             stream.last_token i64 [B], stream.layers.0.h f32 [B, D]
//     results output.logits f32 [B, P, V], next:stream.position,
//             next:stream.last_token, next:stream.layers.0.h
//   gecko_entry_lm_forward_<V>x<B>x<L> (forward): the same from a fresh
//     state, args input.tokens, embed.weight, head.weight; result
//     output.logits.
//
// Tokens are processed one at a time in every variant, so any split of a
// stream into calls gives bit-identical logits and state.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/kernel_abi.h"

#include <cmath>
#include <cstdint>
#include <limits>

#define GECKO_TEST_EXPORT extern "C" __attribute__((visibility("default")))

GECKO_TEST_EXPORT const unsigned int gecko_kernel_abi_version = 1;

GECKO_TEST_EXPORT void gecko_entry_forward(void **args) {
  const int64_t *tokens = static_cast<const int64_t *>(args[0]);
  const float *embed = static_cast<const float *>(args[1]);
  float *logits = static_cast<float *>(args[2]);
  float *loss = static_cast<float *>(args[3]);
  float *partial = static_cast<float *>(args[4]); // workspace
  const int batch = 2, seq = 4, dim = 3;
  for (int b = 0; b < batch; ++b) {
    partial[b] = 0.0f;
    for (int s = 0; s < seq; ++s) {
      int64_t tok = tokens[b * seq + s];
      for (int d = 0; d < dim; ++d) {
        float v = 2.0f * embed[tok * dim + d];
        logits[(b * seq + s) * dim + d] = v;
        partial[b] += v;
      }
    }
  }
  *loss = partial[0] + partial[1];
}

GECKO_TEST_EXPORT void gecko_entry_sum(void **args) {
  const float *x = static_cast<const float *>(args[0]);
  float *out = static_cast<float *>(args[1]);
  *out = x[0] + x[1] + x[2] + x[3];
}

namespace {

/// Loss and (unclipped) gradients of the bigram model; returns the loss.
template <int V, int B, int L>
float bigramLossAndGrad(const int64_t *tokens, const int64_t *targets,
                        const float *w, const float *b, float *gw, float *gb,
                        float *logitsOut) {
  for (int i = 0; i < V * V; ++i)
    gw[i] = 0.0f;
  for (int i = 0; i < V; ++i)
    gb[i] = 0.0f;
  const float scale = 1.0f / float(B * L);
  double loss = 0;
  float logits[V];
  for (int p = 0; p < B * L; ++p) {
    int64_t tok = tokens[p], tgt = targets[p];
    float mx = -std::numeric_limits<float>::infinity();
    for (int v = 0; v < V; ++v) {
      logits[v] = w[tok * V + v] + b[v];
      if (logitsOut)
        logitsOut[p * V + v] = logits[v];
      mx = logits[v] > mx ? logits[v] : mx;
    }
    float sum = 0;
    for (int v = 0; v < V; ++v)
      sum += std::exp(logits[v] - mx);
    float lse = mx + std::log(sum);
    loss += double(lse - logits[tgt]);
    for (int v = 0; v < V; ++v) {
      float g = (std::exp(logits[v] - lse) - (v == tgt ? 1.0f : 0.0f)) * scale;
      gw[tok * V + v] += g;
      gb[v] += g;
    }
  }
  return float(loss / double(B * L));
}

template <int V, int B, int L, int NanStep> void bigramTrainStep(void **args) {
  const int64_t *tokens = static_cast<const int64_t *>(args[0]);
  const int64_t *targets = static_cast<const int64_t *>(args[1]);
  const float lr = *static_cast<const float *>(args[2]);
  const int64_t step = *static_cast<const int64_t *>(args[3]);
  const float *params[2] = {static_cast<const float *>(args[4]),
                            static_cast<const float *>(args[5])};
  const float *m[2] = {static_cast<const float *>(args[6]),
                       static_cast<const float *>(args[8])};
  const float *v[2] = {static_cast<const float *>(args[7]),
                       static_cast<const float *>(args[9])};
  float *loss = static_cast<float *>(args[10]);
  float *gradNorm = static_cast<float *>(args[11]);
  float *nextParams[2] = {static_cast<float *>(args[12]),
                          static_cast<float *>(args[13])};
  float *nextM[2] = {static_cast<float *>(args[14]),
                     static_cast<float *>(args[16])};
  float *nextV[2] = {static_cast<float *>(args[15]),
                     static_cast<float *>(args[17])};
  float *grad[2] = {static_cast<float *>(args[18]),
                    static_cast<float *>(args[18]) + V * V};
  const int sizes[2] = {V * V, V};

  *loss = bigramLossAndGrad<V, B, L>(tokens, targets, params[0], params[1],
                                     grad[0], grad[1], nullptr);
  double norm2 = 0;
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < sizes[t]; ++i)
      norm2 += double(grad[t][i]) * grad[t][i];
  float norm = float(std::sqrt(norm2));
  *gradNorm = norm;
  float clip = norm > 1.0f ? 1.0f / norm : 1.0f;
  const float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  const float bc1 = 1.0f - std::pow(beta1, float(step));
  const float bc2 = 1.0f - std::pow(beta2, float(step));
  for (int t = 0; t < 2; ++t) {
    float decay = t == 0 ? 0.1f : 0.0f;
    for (int i = 0; i < sizes[t]; ++i) {
      float g = grad[t][i] * clip;
      float mi = beta1 * m[t][i] + (1 - beta1) * g;
      float vi = beta2 * v[t][i] + (1 - beta2) * g * g;
      nextM[t][i] = mi;
      nextV[t][i] = vi;
      float update = (mi / bc1) / (std::sqrt(vi / bc2) + eps);
      nextParams[t][i] = params[t][i] - lr * (update + decay * params[t][i]);
    }
  }
  if (NanStep > 0 && step == NanStep) {
    *loss = std::numeric_limits<float>::quiet_NaN();
    for (int t = 0; t < 2; ++t)
      for (int i = 0; i < sizes[t]; ++i)
        nextParams[t][i] = std::numeric_limits<float>::quiet_NaN();
  }
}

template <int V, int B, int L> void bigramGrad(void **args) {
  const int64_t *tokens = static_cast<const int64_t *>(args[0]);
  const int64_t *targets = static_cast<const int64_t *>(args[1]);
  const float *w = static_cast<const float *>(args[2]);
  const float *b = static_cast<const float *>(args[3]);
  float *loss = static_cast<float *>(args[4]);
  float *gw = static_cast<float *>(args[5]);
  float *gb = static_cast<float *>(args[6]);
  float *logits = static_cast<float *>(args[7]);
  *loss = bigramLossAndGrad<V, B, L>(tokens, targets, w, b, gw, gb, logits);
}

} // namespace

GECKO_TEST_EXPORT void gecko_entry_train_step_16x2x8(void **args) {
  bigramTrainStep<16, 2, 8, 0>(args);
}
GECKO_TEST_EXPORT void gecko_entry_train_step_16x2x8_nan4(void **args) {
  bigramTrainStep<16, 2, 8, 4>(args);
}
GECKO_TEST_EXPORT void gecko_entry_grad_16x2x8(void **args) {
  bigramGrad<16, 2, 8>(args);
}
GECKO_TEST_EXPORT void gecko_entry_train_step_256x4x16(void **args) {
  bigramTrainStep<256, 4, 16, 0>(args);
}
GECKO_TEST_EXPORT void gecko_entry_grad_256x4x16(void **args) {
  bigramGrad<256, 4, 16>(args);
}

namespace {

template <int V, int B, int L, bool Stateful> void streamLm(void **args) {
  constexpr int D = 4;
  const int64_t *tokens = static_cast<const int64_t *>(args[0]);
  const float *embed = static_cast<const float *>(args[1]);
  const float *head = static_cast<const float *>(args[2]);
  int64_t position = 0;
  const int64_t *lastToken = nullptr;
  const float *h0 = nullptr;
  float *logits;
  if (Stateful) {
    position = *static_cast<const int64_t *>(args[3]);
    lastToken = static_cast<const int64_t *>(args[4]);
    h0 = static_cast<const float *>(args[5]);
    logits = static_cast<float *>(args[6]);
  } else {
    logits = static_cast<float *>(args[3]);
  }
  for (int b = 0; b < B; ++b) {
    float h[D];
    int64_t prev = Stateful ? lastToken[b] : 0;
    for (int d = 0; d < D; ++d)
      h[d] = Stateful ? h0[b * D + d] : 0.0f;
    for (int t = 0; t < L; ++t) {
      int64_t x = tokens[b * L + t], p = position + t;
      for (int d = 0; d < D; ++d)
        h[d] = 0.5f * h[d] + embed[x * D + d];
      for (int v = 0; v < V; ++v) {
        float acc = 0.0f;
        for (int d = 0; d < D; ++d)
          acc += h[d] * head[d * V + v];
        if (p > 0 && v == prev)
          acc += 0.25f;
        acc += 0.001f * float(p % 7);
        logits[(b * L + t) * V + v] = acc;
      }
      prev = x;
    }
    if (Stateful) {
      static_cast<int64_t *>(args[8])[b] = prev;
      for (int d = 0; d < D; ++d)
        static_cast<float *>(args[9])[b * D + d] = h[d];
    }
  }
  if (Stateful)
    *static_cast<int64_t *>(args[7]) = position + L;
}

} // namespace

#define GECKO_TEST_LM(V, B, P)                                                 \
  GECKO_TEST_EXPORT void gecko_entry_lm_prefill_##V##x##B##x##P(void **args) { \
    streamLm<V, B, P, true>(args);                                             \
  }
#define GECKO_TEST_LM_DECODE(V, B)                                             \
  GECKO_TEST_EXPORT void gecko_entry_lm_decode_##V##x##B(void **args) {        \
    streamLm<V, B, 1, true>(args);                                             \
  }
GECKO_TEST_LM(256, 1, 8)
GECKO_TEST_LM(256, 2, 8)
GECKO_TEST_LM(16, 1, 8)
GECKO_TEST_LM(16, 2, 8)
GECKO_TEST_LM(16, 2, 16)
GECKO_TEST_LM_DECODE(256, 1)
GECKO_TEST_LM_DECODE(256, 2)
GECKO_TEST_LM_DECODE(16, 1)
GECKO_TEST_LM_DECODE(16, 2)
GECKO_TEST_EXPORT void gecko_entry_lm_forward_16x2x24(void **args) {
  streamLm<16, 2, 24, false>(args);
}
