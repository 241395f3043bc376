//===- init.cpp - Deterministic parameter initialization ------------------===//

#include "gecko/runtime/init.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace gecko {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c,
                                   std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    uint64_t p0 = uint64_t(kM0) * c[0];
    uint64_t p1 = uint64_t(kM1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1),
         uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
  }
  return c;
}

uint64_t splitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a64(const void *data, size_t size, uint64_t h) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::array<uint32_t, 2> streamKey(uint64_t seed, const std::string &name) {
  uint64_t k = splitMix64(seed ^ splitMix64(fnv1a64(name.data(), name.size())));
  return {uint32_t(k), uint32_t(k >> 32)};
}

double uniform01(uint32_t hi, uint32_t lo) {
  uint64_t bits = (uint64_t(hi) << 21) ^ (uint64_t(lo) >> 11);
  return double(bits & ((uint64_t(1) << 53) - 1)) * 0x1p-53;
}

double normalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  if (!(p > 0))
    return -INFINITY;
  if (!(p < 1))
    return INFINITY;
  const double pLow = 0.02425;
  double x;
  if (p < pLow || p > 1 - pLow) {
    double q = std::sqrt(-2 * std::log(p < pLow ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 1 - pLow)
      x = -x;
  } else {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) *
        q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // One Halley step against the exact CDF.
  double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

namespace {

/// Standard normal CDF.
double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

uint16_t floatToBf16(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  if ((w & 0x7fffffffu) > 0x7f800000u) // NaN: keep it a quiet NaN
    return uint16_t((w >> 16) | 0x40);
  w += 0x7fffu + ((w >> 16) & 1);
  return uint16_t(w >> 16);
}

uint16_t floatToF16(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  uint32_t sign = (w >> 16) & 0x8000u;
  uint32_t absw = w & 0x7fffffffu;
  if (absw > 0x7f800000u)
    return uint16_t(sign | 0x7e00u);
  if (absw >= 0x477ff000u) // rounds to >= 65520: infinity
    return uint16_t(sign | 0x7c00u);
  if (absw < 0x38800000u) { // subnormal or zero in half
    float af;
    std::memcpy(&af, &absw, 4);
    // Scale so the half subnormal unit (2^-24) becomes 1, round to nearest
    // even with the FPU's default mode.
    float scaled = af * 0x1p24f;
    return uint16_t(sign | uint32_t(std::nearbyint(scaled)));
  }
  uint32_t mant = absw & 0x7fffffu;
  uint32_t exp = (absw >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
    ++h;
  return uint16_t(sign | h);
}

} // namespace

double initValue(const InitSpec &init, std::array<uint32_t, 2> key,
                 uint64_t index) {
  switch (init.kind) {
  case InitKind::kZeros:
    return 0.0;
  case InitKind::kOnes:
    return 1.0;
  case InitKind::kConstant:
    return init.value;
  default:
    break;
  }
  std::array<uint32_t, 4> r =
      philox4x32({uint32_t(index), uint32_t(index >> 32), 0, 0}, key);
  double u1 = uniform01(r[0], r[1]);
  double u2 = uniform01(r[2], r[3]);
  switch (init.kind) {
  case InitKind::kComplexRealNormal:
    if (index % 2 == 1)
      return 0.0; // imaginary part
    [[fallthrough]];
  case InitKind::kNormal: {
    // Box-Muller with 1 - u1 in (0, 1].
    double radius = std::sqrt(-2.0 * std::log(1.0 - u1));
    return init.mean + init.stddev * radius * std::cos(2 * M_PI * u2);
  }
  case InitKind::kTruncatedNormal: {
    if (init.stddev == 0)
      return std::min(std::max(init.mean, init.a), init.b);
    // Inverse CDF on the side of the mean with more resolution: sample
    // -X on [-beta, -alpha] when the interval lies right of the mean.
    double alpha = (init.a - init.mean) / init.stddev;
    double beta = (init.b - init.mean) / init.stddev;
    bool flip = alpha > 0;
    if (flip) {
      double t = alpha;
      alpha = -beta;
      beta = -t;
    }
    double lo = phi(alpha), hi = phi(beta);
    double p = lo + u1 * (hi - lo);
    double z = hi > lo && p > 0 ? normalQuantile(p) : alpha;
    z = std::min(std::max(z, alpha), beta);
    if (flip)
      z = -z;
    double x = init.mean + init.stddev * z;
    return std::min(std::max(x, init.a), init.b);
  }
  case InitKind::kUniform: {
    double x = init.a + (init.b - init.a) * u1;
    return x < init.b ? x : init.a;
  }
  default:
    return 0.0;
  }
}

namespace {

/// cema_theta: f_k = D^(-k/D) for k = 1..D, permuted by sorting 64-bit
/// Philox keys (element d's key from counter (d, 0, 0, 0), ties by d), then
/// ln(f / (1 - f)). f is clamped below 1 - 2^-53 so D = 1 stays finite.
std::vector<double> cemaTheta(int64_t d, std::array<uint32_t, 2> key) {
  std::vector<std::pair<uint64_t, int64_t>> order(size_t(d > 0 ? d : 0));
  for (int64_t i = 0; i < d; ++i) {
    std::array<uint32_t, 4> r =
        philox4x32({uint32_t(i), uint32_t(uint64_t(i) >> 32), 0, 0}, key);
    order[size_t(i)] = {uint64_t(r[0]) << 32 | r[1], i};
  }
  std::sort(order.begin(), order.end());
  std::vector<double> out(order.size());
  for (int64_t pos = 0; pos < d; ++pos) {
    double k = double(order[size_t(pos)].second + 1);
    double f = std::pow(double(d), -k / double(d));
    f = std::min(f, 1.0 - 0x1p-53);
    out[size_t(pos)] = std::log(f / (1.0 - f));
  }
  return out;
}

} // namespace

StatusOr<HostTensor> initializeTensor(const TensorSpec &spec,
                                      const InitSpec &init, uint64_t seed) {
  GECKO_ASSIGN_OR_RETURN(HostTensor t,
                         HostTensor::zeros(spec.dtype, spec.shape));
  if (init.kind == InitKind::kZeros)
    return t;
  std::array<uint32_t, 2> key = streamKey(seed, spec.name);
  int64_t n = t.numel();
  std::vector<double> theta;
  if (init.kind == InitKind::kCemaTheta)
    theta = cemaTheta(n, key);
  auto value = [&](int64_t i) {
    return theta.empty() ? initValue(init, key, uint64_t(i)) : theta[size_t(i)];
  };
  switch (spec.dtype) {
  case ElementType::kF32: {
    float *p = t.dataAs<float>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = float(value(i));
    break;
  }
  case ElementType::kF64: {
    double *p = t.dataAs<double>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = value(i);
    break;
  }
  case ElementType::kBF16:
  case ElementType::kF16: {
    uint16_t *p = t.dataAs<uint16_t>();
    bool bf = spec.dtype == ElementType::kBF16;
    for (int64_t i = 0; i < n; ++i) {
      float v = float(value(i));
      p[i] = bf ? floatToBf16(v) : floatToF16(v);
    }
    break;
  }
  default:
    return invalidArgument(
        "tensor '" + spec.name + "': init '" + initKindName(init.kind) +
        "' needs a float dtype, not " + elementTypeName(spec.dtype));
  }
  return t;
}

} // namespace gecko
