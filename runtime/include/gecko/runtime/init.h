//===- init.h - Deterministic parameter initialization ----------*- C++ -*-===//
//
// Counter-based random numbers (Philox-4x32-10) and the plan's "init" specs
// (zeros, ones, constant, normal, truncated_normal, uniform). Element i of
// parameter P under seed S is a pure function of (S, P's name, i), so
// initialization does not depend on the order parameters are visited or on
// how many threads fill them. docs/training.md gives the exact recipe.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_INIT_H
#define GECKO_RUNTIME_INIT_H

#include "gecko/abi/artifact_format.h"
#include "gecko/runtime/host_tensor.h"
#include "gecko/runtime/status.h"

#include <array>
#include <cstdint>
#include <string>

namespace gecko {

/// Philox-4x32 with 10 rounds (Salmon et al., SC'11; the Random123 and
/// cuRAND generator): four 32-bit words from a 128-bit counter and a 64-bit
/// key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter,
                                   std::array<uint32_t, 2> key);

/// SplitMix64's finalizer (a bijective 64-bit mixer).
uint64_t splitMix64(uint64_t x);
/// FNV-1a, 64-bit.
uint64_t fnv1a64(const void *data, size_t size,
                 uint64_t h = 0xcbf29ce484222325ull);

/// The Philox key of stream `name` under `seed`:
/// splitMix64(seed ^ splitMix64(fnv1a64(name))), low word first.
std::array<uint32_t, 2> streamKey(uint64_t seed, const std::string &name);

/// A double in [0, 1) from 53 bits of (hi, lo).
double uniform01(uint32_t hi, uint32_t lo);

/// The inverse of the standard normal CDF (Acklam's approximation refined by
/// one Halley step; about 1e-15 relative error). p in (0, 1).
double normalQuantile(double p);

/// Element `index` of a tensor initialized by `init` in stream `key`, as a
/// double (before rounding to the tensor's dtype).
double initValue(const InitSpec &init, std::array<uint32_t, 2> key,
                 uint64_t index);

/// A tensor of `spec`'s dtype and shape filled by `init` with stream key
/// streamKey(seed, spec.name). Float dtypes only (f32, f64, bf16, f16; values
/// are rounded to nearest even); zeros also works for integer dtypes.
StatusOr<HostTensor> initializeTensor(const TensorSpec &spec,
                                      const InitSpec &init, uint64_t seed);

} // namespace gecko

#endif // GECKO_RUNTIME_INIT_H
