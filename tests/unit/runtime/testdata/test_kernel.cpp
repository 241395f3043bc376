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
//===----------------------------------------------------------------------===//

#include "gecko/abi/kernel_abi.h"

#include <cstdint>

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
