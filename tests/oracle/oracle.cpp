//===- oracle.cpp - Double-precision reference oracle of Gecko ------------===//
//
// This file implements the float64 oracle declared in oracle.h. Every
// operator is a direct loop over the formula in GECKO_MATH.md; section
// numbers are quoted next to the code they implement.
//
//===----------------------------------------------------------------------===//

#include "oracle.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace gecko::oracle {

/// Two-pass mean and population variance of x[0..n) (spec section 3.2).
static std::pair<double, double> meanAndVariance(const double *x, int64_t n) {
  double mu = 0.0;
  for (int64_t i = 0; i < n; ++i)
    mu += x[i];
  mu /= n;
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i)
    var += (x[i] - mu) * (x[i] - mu);
  return {mu, var / n};
}

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// lae(a, b) = log(e^a + e^b), with lae(a, -inf) = a.
double logAddExp(double a, double b) {
  if (a == kNegInf)
    return b;
  if (b == kNegInf)
    return a;
  double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

/// Softmax of n values in place.
void softmaxInPlace(double *x, int64_t n) {
  double m = kNegInf;
  for (int64_t i = 0; i < n; ++i)
    m = std::max(m, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i)
    x[i] /= sum;
}

/// 1 - beta^n: exact, or as the reference kernel forms it (beta^n as an fp32
/// running product; the subtraction from 1 is then exact in fp32).
double biasCorrection(double beta, int64_t n, bool fp32) {
  if (!fp32)
    return 1.0 - std::pow(beta, static_cast<double>(n));
  float power = 1.0f;
  for (int64_t i = 0; i < n; ++i)
    power *= static_cast<float>(beta);
  return 1.0f - power;
}

/// Looks up a parameter and checks its element count.
StatusOr<const Vec *> param(const Weights &weights, const std::string &name,
                            int64_t numel) {
  auto it = weights.find(name);
  if (it == weights.end())
    return notFound("oracle: missing parameter '" + name + "'");
  if (static_cast<int64_t>(it->second.data.size()) != numel)
    return invalidArgument("oracle: parameter '" + name + "' has " +
                           std::to_string(it->second.data.size()) +
                           " elements, expected " + std::to_string(numel));
  return &it->second.data;
}

} // namespace

//===----------------------------------------------------------------------===//
// Configuration and weights
//===----------------------------------------------------------------------===//

StatusOr<Config> Config::fromJson(const std::string &text) {
  using Json = nlohmann::json;
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalidArgument("oracle: config is not a JSON object");
  Config c;
  try {
    auto setInt = [&](const char *key, int64_t &field) {
      if (j.contains(key) && !j[key].is_null())
        field = j[key].get<int64_t>();
    };
    auto setDouble = [&](const char *key, double &field) {
      if (j.contains(key) && !j[key].is_null())
        field = j[key].get<double>();
    };
    auto setBool = [&](const char *key, bool &field) {
      if (j.contains(key) && !j[key].is_null())
        field = j[key].get<bool>();
    };
    setInt("num_layers", c.numLayers);
    setInt("model_dim", c.modelDim);
    setInt("z_dim", c.zDim);
    setInt("value_dim", c.valueDim);
    setInt("num_heads", c.numHeads);
    setInt("ffn_hidden_dim", c.ffnHiddenDim);
    setInt("cema_ndim", c.cemaNdim);
    setInt("chunk_size", c.chunkSize);
    setInt("timenorm_num_groups", c.timenormNumGroups);
    setDouble("timenorm_beta1", c.timenormBeta1);
    setDouble("timenorm_beta2", c.timenormBeta2);
    setInt("layernorm_num_groups", c.layernormNumGroups);
    setDouble("norm_eps", c.normEps);
    setDouble("rope_base", c.ropeBase);
    setInt("num_rope_heads", c.numRopeHeads); // null keeps -1 ("None")
    setBool("swiglu", c.swiglu);
    setBool("two_hop_residual", c.twoHopResidual);
    setBool("rescale_nffn", c.rescaleNffn);
    setBool("scale_emb", c.scaleEmb);
    setBool("share_emb", c.shareEmb);
    setBool("norm_affine", c.normAffine);
    setBool("multi_segments", c.multiSegments);
    setInt("bos_id", c.bosId);
    setInt("vocab_size", c.vocabSize);
  } catch (const std::exception &e) {
    return invalidArgument(std::string("oracle: bad config field: ") +
                           e.what());
  }
  return c;
}

StatusOr<Weights> loadWeights(const SafetensorsFile &file) {
  Weights out;
  for (const std::string &name : file.names()) {
    auto starts = [&](const char *prefix) {
      return name.rfind(prefix, 0) == 0;
    };
    if (starts("debug.") || starts("grad.") || starts("input.") ||
        name == "output.logits" || name == "output.loss")
      continue;
    Array a;
    a.shape = file.find(name)->shape;
    GECKO_ASSIGN_OR_RETURN(a.data, file.readAsF64(name));
    out.emplace(name, std::move(a));
  }
  return out;
}

//===----------------------------------------------------------------------===//
// 3.1 Embedding
//===----------------------------------------------------------------------===//

Vec embed(const Vec &table, int64_t vocab, int64_t D,
          const std::vector<int64_t> &tokens, bool scaleEmb) {
  double scale = scaleEmb ? std::sqrt(static_cast<double>(D)) : 1.0;
  Vec x(tokens.size() * D);
  for (size_t i = 0; i < tokens.size(); ++i) {
    assert(tokens[i] >= 0 && tokens[i] < vocab);
    for (int64_t c = 0; c < D; ++c)
      x[i * D + c] = table[tokens[i] * D + c] * scale;
  }
  return x;
}

//===----------------------------------------------------------------------===//
// 3.2 Timestep Decay Norm, and Megalodon's TimestepNorm (section 9)
//===----------------------------------------------------------------------===//

Vec timestepDecayNorm(const Vec &x, int64_t B, int64_t L, int64_t D, int64_t G,
                      const Vec &w, const Vec &b, double beta1, double beta2,
                      double eps, const BosMask &bos, TdnState &state,
                      bool fp32BiasCorrection) {
  const int64_t Dg = D / G;
  if (fp32BiasCorrection) {
    // The reference kernel holds the betas as fp32 constants.
    beta1 = static_cast<float>(beta1);
    beta2 = static_cast<float>(beta2);
  }
  if (state.n.empty()) {
    state.n.assign(B, 0);
    state.M.assign(B * G, 0.0);
    state.V.assign(B * G, 0.0);
  }
  Vec y(B * L * D);
  std::vector<int64_t> nOut(B);
  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t g = 0; g < G; ++g) {
      int64_t n = state.n[bi];
      double M = state.M[bi * G + g];
      double V = state.V[bi * G + g];
      for (int64_t t = 0; t < L; ++t) {
        const double *xt = &x[(bi * L + t) * D + g * Dg];
        auto [mu, var] = meanAndVariance(xt, Dg);
        if (!bos.empty() && bos[bi * L + t]) {
          n = 1;
          M = (1 - beta1) * mu;
          V = (1 - beta2) * var;
        } else {
          n += 1;
          M = beta1 * M + (1 - beta1) * mu;
          V = beta2 * V + (1 - beta2) * var;
        }
        double mhat = M / biasCorrection(beta1, n, fp32BiasCorrection);
        double r =
            1.0 /
            std::sqrt(V / biasCorrection(beta2, n, fp32BiasCorrection) + eps);
        for (int64_t i = 0; i < Dg; ++i) {
          int64_t c = g * Dg + i;
          y[(bi * L + t) * D + c] = (xt[i] - mhat) * r * (1 + w[c]) + b[c];
        }
      }
      state.M[bi * G + g] = M;
      state.V[bi * G + g] = V;
      nOut[bi] = n;
    }
  }
  state.n = nOut;
  return y;
}

Vec megalodonTimestepNorm(const Vec &x, int64_t B, int64_t L, int64_t D,
                          int64_t G, const Vec &w, const Vec &b, double eps,
                          MegalodonNormState &state) {
  const int64_t Dg = D / G;
  if (state.count.empty()) {
    state.count.assign(B, 0);
    state.mean.assign(B * G, 0.0);
    state.var.assign(B * G, 1.0); // prior var exp(0)
  }
  Vec y(B * L * D);
  std::vector<int64_t> countOut(B);
  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t g = 0; g < G; ++g) {
      int64_t n = state.count[bi];
      double M = state.mean[bi * G + g];
      double V = state.var[bi * G + g];
      for (int64_t t = 0; t < L; ++t) {
        const double *xt = &x[(bi * L + t) * D + g * Dg];
        auto [mu, var] = meanAndVariance(xt, Dg);
        // Chan merge of the pooled (n, M, V) with one token (1, mu, var):
        // V' = (n V + var + n/(n+1) (mu - M)^2) / (n + 1).
        double delta = mu - M;
        double n1 = static_cast<double>(n + 1);
        V = (n * V + var + n * delta * delta / n1) / n1;
        M = M + delta / n1;
        n += 1;
        double r = 1.0 / std::sqrt(V + eps);
        for (int64_t i = 0; i < Dg; ++i) {
          int64_t c = g * Dg + i;
          y[(bi * L + t) * D + c] = (xt[i] - M) * r * (1 + w[c]) + b[c];
        }
      }
      state.mean[bi * G + g] = M;
      state.var[bi * G + g] = V;
      countOut[bi] = n;
    }
  }
  state.count = countOut;
  return y;
}

//===----------------------------------------------------------------------===//
// 3.3 CEMA
//===----------------------------------------------------------------------===//

CemaCoeffs cemaCoefficients(const Vec &alpha, const Vec &delta,
                            const Vec &theta, const Vec &gamma, int64_t D,
                            int64_t N) {
  CemaCoeffs c;
  c.p.resize(D * N);
  c.q.resize(D * N);
  c.gamma.resize(D * N);
  for (int64_t d = 0; d < D; ++d) {
    double s = sigmoid(theta[d]);
    for (int64_t n = 0; n < N; ++n) {
      double a = sigmoid(alpha[d * N + n]);
      double dl = sigmoid(delta[d * N + n]);
      double phi = static_cast<double>(n + 1) * s * 2.0 * kPi / N;
      c.p[d * N + n] = a;
      c.q[d * N + n] = std::polar(1.0 - a * dl, phi);
      c.gamma[d * N + n] = {gamma[(d * N + n) * 2], gamma[(d * N + n) * 2 + 1]};
    }
  }
  return c;
}

Vec cema(const Vec &u, int64_t B, int64_t D, int64_t L, int64_t N,
         const CemaCoeffs &coeffs, const BosMask &bos, CVec &h) {
  if (h.empty())
    h.assign(B * D * N, {0.0, 0.0});
  Vec y(u); // the residual u
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t n = 0; n < N; ++n) {
        std::complex<double> state = h[(bi * D + d) * N + n];
        const std::complex<double> q = coeffs.q[d * N + n];
        const std::complex<double> g = coeffs.gamma[d * N + n];
        const double p = coeffs.p[d * N + n];
        for (int64_t t = 0; t < L; ++t) {
          bool reset = !bos.empty() && bos[bi * L + t];
          double ut = u[(bi * D + d) * L + t];
          state = (reset ? std::complex<double>(0.0, 0.0) : q * state) + p * ut;
          y[(bi * D + d) * L + t] += (g * state).real();
        }
        h[(bi * D + d) * N + n] = state;
      }
  return y;
}

//===----------------------------------------------------------------------===//
// 3.4 / 3.10 Norms, 3.5 projections
//===----------------------------------------------------------------------===//

Vec groupRmsNorm(const Vec &x, int64_t rows, int64_t F, int64_t K, const Vec *w,
                 double eps) {
  const int64_t Fk = F / K;
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < K; ++g) {
      const double *xr = &x[r * F + g * Fk];
      double ss = 0.0;
      for (int64_t i = 0; i < Fk; ++i)
        ss += xr[i] * xr[i];
      double rr = 1.0 / std::sqrt(ss / Fk + eps);
      for (int64_t i = 0; i < Fk; ++i) {
        int64_t c = g * Fk + i;
        y[r * F + c] = xr[i] * rr * (w ? 1.0 + (*w)[c] : 1.0);
      }
    }
  return y;
}

Vec groupLayerNorm(const Vec &x, int64_t rows, int64_t F, int64_t K,
                   const Vec *w, const Vec *b, double eps) {
  const int64_t Fk = F / K;
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < K; ++g) {
      const double *xr = &x[r * F + g * Fk];
      double mu = 0.0;
      for (int64_t i = 0; i < Fk; ++i)
        mu += xr[i];
      mu /= Fk;
      double var = 0.0;
      for (int64_t i = 0; i < Fk; ++i)
        var += (xr[i] - mu) * (xr[i] - mu);
      var /= Fk;
      double rr = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < Fk; ++i) {
        int64_t c = g * Fk + i;
        y[r * F + c] =
            (xr[i] - mu) * rr * (w ? 1.0 + (*w)[c] : 1.0) + (b ? (*b)[c] : 0.0);
      }
    }
  return y;
}

Vec linear(const Vec &x, int64_t rows, int64_t in, int64_t out, const Vec &W,
           const Vec *bias) {
  Vec y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias ? (*bias)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        acc += x[r * in + i] * W[o * in + i];
      y[r * out + o] = acc;
    }
  return y;
}

double silu(double x) { return x * sigmoid(x); }

//===----------------------------------------------------------------------===//
// 3.6 RoPE
//===----------------------------------------------------------------------===//

void applyRope(Vec &x, int64_t B, int64_t L, int64_t H, int64_t d, int64_t R,
               int64_t start, double base) {
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < std::min(R, H); ++h)
        for (int64_t j = 0; j < d / 2; ++j) {
          double omega = std::pow(base, -2.0 * j / static_cast<double>(d));
          double angle = static_cast<double>(start + t) * omega;
          double *pair = &x[((bi * L + t) * H + h) * d + 2 * j];
          std::complex<double> z(pair[0], pair[1]);
          z *= std::polar(1.0, angle);
          pair[0] = z.real();
          pair[1] = z.imag();
        }
}

//===----------------------------------------------------------------------===//
// 3.7 Sliding chunk attention
//===----------------------------------------------------------------------===//

Vec slidingChunkAttention(const Vec &q, const Vec &k, const Vec &v, int64_t B,
                          int64_t L, int64_t H, int64_t dk, int64_t dv,
                          int64_t C, int64_t start, const Segments &seg,
                          const KvCache *cache) {
  const int64_t P = cache ? cache->len : 0;
  const int64_t total = P + L;
  // Key j of the concatenation [cache ; call] is at absolute position
  // start - P + j.
  auto keyAt = [&](int64_t bi, int64_t j, int64_t h) -> const double * {
    if (j < P)
      return &cache->k[((bi * P + j) * H + h) * dk];
    return &k[((bi * L + (j - P)) * H + h) * dk];
  };
  auto valueAt = [&](int64_t bi, int64_t j, int64_t h) -> const double * {
    if (j < P)
      return &cache->v[((bi * P + j) * H + h) * dv];
    return &v[((bi * L + (j - P)) * H + h) * dv];
  };
  auto segAt = [&](int64_t bi, int64_t j) -> int64_t {
    if (j < P)
      return cache->seg[bi * P + j];
    return seg[bi * L + (j - P)];
  };
  Vec o(B * L * H * dv, 0.0);
  Vec score(total);
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < L; ++t) {
        const int64_t tau = start + t;
        const int64_t lo = (tau / C - 1) * C;
        const double *qt = &q[((bi * L + t) * H + h) * dk];
        double m = kNegInf;
        for (int64_t j = 0; j < total; ++j) {
          int64_t pos = start - P + j;
          bool allowed = pos >= lo && pos <= tau;
          if (allowed && !seg.empty())
            allowed = segAt(bi, j) == seg[bi * L + t];
          if (!allowed) {
            score[j] = kNegInf;
            continue;
          }
          const double *kj = keyAt(bi, j, h);
          double s = 0.0;
          for (int64_t i = 0; i < dk; ++i)
            s += qt[i] * kj[i];
          score[j] = s; // scale 1.0
          m = std::max(m, s);
        }
        if (m == kNegInf)
          continue; // no allowed key: the row is 0
        double sum = 0.0;
        for (int64_t j = 0; j < total; ++j) {
          score[j] = score[j] == kNegInf ? 0.0 : std::exp(score[j] - m);
          sum += score[j];
        }
        double *ot = &o[((bi * L + t) * H + h) * dv];
        for (int64_t j = 0; j < total; ++j) {
          if (score[j] == 0.0)
            continue;
          const double *vj = valueAt(bi, j, h);
          for (int64_t e = 0; e < dv; ++e)
            ot[e] += score[j] / sum * vj[e];
        }
      }
  return o;
}

//===----------------------------------------------------------------------===//
// 3.8 Adaptive working memory
//===----------------------------------------------------------------------===//

Vec adaptiveWorkingMemory(const Vec &aq, const Vec &ak, const Vec &v, int64_t B,
                          int64_t L, int64_t H, int64_t dk, int64_t dv,
                          int64_t C, const Segments &seg, AwmState &state) {
  assert(L % C == 0 && "AWM prefill needs whole chunks");
  const int64_t nc = L / C;
  const bool useSeg = !seg.empty();
  Vec y(B * L * H * dv, 0.0);

  // The state entering the call, shared by all (b, h) loops below.
  const bool hasMemory0 = state.hasMemory;
  const bool hasDoc0 = state.hasDoc;
  if (hasMemory0)
    assert(state.hasPrev && "a memory state needs its cached chunk");
  Vec Mout(B * H * dk * dv, 0.0), lambdaOut(B * H * dk, kNegInf);
  std::vector<int64_t> docOut(B, 0);
  bool hasDocOut = hasDoc0;

  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t h = 0; h < H; ++h) {
      bool hasMem = hasMemory0;
      bool hasDoc = hasDoc0;
      int64_t doc = hasDoc0 ? state.docMem[bi] : 0;
      Vec M(dk * dv, 0.0), lambda(dk, kNegInf);
      if (hasMem) {
        std::copy_n(&state.M[(bi * H + h) * dk * dv], dk * dv, M.begin());
        std::copy_n(&state.lambda[(bi * H + h) * dk], dk, lambda.begin());
      }
      // Row accessors of chunk kappa: -1 is the cached chunk.
      auto keyRow = [&](int64_t kappa, int64_t j) -> const double * {
        if (kappa < 0)
          return &state.prevK[((bi * C + j) * H + h) * dk];
        return &ak[((bi * L + kappa * C + j) * H + h) * dk];
      };
      auto valueRow = [&](int64_t kappa, int64_t j) -> const double * {
        if (kappa < 0)
          return &state.prevV[((bi * C + j) * H + h) * dv];
        return &v[((bi * L + kappa * C + j) * H + h) * dv];
      };
      auto segOf = [&](int64_t kappa, int64_t j) -> int64_t {
        if (kappa < 0)
          return state.prevSeg[bi * C + j];
        return seg[bi * L + kappa * C + j];
      };

      for (int64_t c = 0; c < nc; ++c) {
        if (!hasMem) {
          // No state: Y_c = 0, M <- 0, Lambda <- -inf, nothing absorbed.
          hasMem = true;
          std::fill(M.begin(), M.end(), 0.0);
          std::fill(lambda.begin(), lambda.end(), kNegInf);
          continue;
        }
        // Read before any reset/update at this c: Y_c = P_c M.
        for (int64_t t = c * C; t < (c + 1) * C; ++t) {
          if (useSeg && hasDoc && seg[bi * L + t] != doc)
            continue; // masked row stays 0
          Vec P(&aq[((bi * L + t) * H + h) * dk],
                &aq[((bi * L + t) * H + h) * dk] + dk);
          softmaxInPlace(P.data(), dk);
          double *yt = &y[((bi * L + t) * H + h) * dv];
          for (int64_t s = 0; s < dk; ++s)
            for (int64_t e = 0; e < dv; ++e)
              yt[e] += P[s] * M[s * dv + e];
        }
        // Absorb chunk kappa = c - 1 (the cached chunk when c == 0).
        const int64_t kappa = c - 1;
        const int64_t d = useSeg ? segOf(kappa, C - 1) : 0;
        if (useSeg && hasDoc && d != doc) {
          std::fill(M.begin(), M.end(), 0.0);
          std::fill(lambda.begin(), lambda.end(), kNegInf);
        }
        std::vector<bool> valid(C, true);
        if (useSeg)
          for (int64_t j = 0; j < C; ++j)
            valid[j] = segOf(kappa, j) == d;
        // l[s] = log sum_valid exp(ak_j[s]); A[s][j] = exp(ak_j[s] - l[s]).
        Vec ell(dk, kNegInf), A(dk * C, 0.0);
        for (int64_t s = 0; s < dk; ++s) {
          for (int64_t j = 0; j < C; ++j)
            if (valid[j])
              ell[s] = logAddExp(ell[s], keyRow(kappa, j)[s]);
          for (int64_t j = 0; j < C; ++j)
            if (valid[j])
              A[s * C + j] = std::exp(keyRow(kappa, j)[s] - ell[s]);
        }
        // R = V - F M (C x dv), F_j = softmax over features of ak_j.
        Vec R(C * dv);
        for (int64_t j = 0; j < C; ++j) {
          Vec F(keyRow(kappa, j), keyRow(kappa, j) + dk);
          softmaxInPlace(F.data(), dk);
          for (int64_t e = 0; e < dv; ++e) {
            double pred = 0.0;
            for (int64_t s = 0; s < dk; ++s)
              pred += F[s] * M[s * dv + e];
            R[j * dv + e] = valueRow(kappa, j)[e] - pred;
          }
        }
        // M <- M + rho (A R - M), Lambda <- lae(l, Lambda).
        for (int64_t s = 0; s < dk; ++s) {
          double lamNew = logAddExp(ell[s], lambda[s]);
          double rho = std::exp(ell[s] - lamNew);
          for (int64_t e = 0; e < dv; ++e) {
            double U = 0.0;
            for (int64_t j = 0; j < C; ++j)
              U += A[s * C + j] * R[j * dv + e];
            M[s * dv + e] += rho * (U - M[s * dv + e]);
          }
          lambda[s] = lamNew;
        }
        if (useSeg) {
          doc = d;
          hasDoc = true;
        }
      }
      std::copy(M.begin(), M.end(), &Mout[(bi * H + h) * dk * dv]);
      std::copy(lambda.begin(), lambda.end(), &lambdaOut[(bi * H + h) * dk]);
      docOut[bi] = doc;
      hasDocOut = hasDoc;
    }
  }

  // Outgoing state: memory, doc_mem and the call's last chunk.
  state.hasMemory = nc > 0 || hasMemory0;
  state.M = std::move(Mout);
  state.lambda = std::move(lambdaOut);
  state.hasDoc = hasDocOut;
  state.docMem = docOut;
  state.hasPrev = true;
  state.prevK.assign(B * C * H * dk, 0.0);
  state.prevV.assign(B * C * H * dv, 0.0);
  state.prevSeg.clear();
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t j = 0; j < C; ++j) {
      int64_t t = L - C + j;
      std::copy_n(&ak[(bi * L + t) * H * dk], H * dk,
                  &state.prevK[(bi * C + j) * H * dk]);
      std::copy_n(&v[(bi * L + t) * H * dv], H * dv,
                  &state.prevV[(bi * C + j) * H * dv]);
      if (useSeg)
        state.prevSeg.push_back(seg[bi * L + t]);
    }
  return y;
}

//===----------------------------------------------------------------------===//
// 3.12 Loss
//===----------------------------------------------------------------------===//

double crossEntropyMean(const Vec &logits, const std::vector<int64_t> &targets,
                        int64_t rows, int64_t V) {
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] == -100)
      continue;
    const double *l = &logits[r * V];
    double m = *std::max_element(l, l + V);
    double sum = 0.0;
    for (int64_t i = 0; i < V; ++i)
      sum += std::exp(l[i] - m);
    total += m + std::log(sum) - l[targets[r]];
  }
  return total / static_cast<double>(rows);
}

//===----------------------------------------------------------------------===//
// Section 2: the network graph
//===----------------------------------------------------------------------===//

StatusOr<ForwardResult> forward(const Config &cfg, const Weights &weights,
                                const std::vector<int64_t> &tokens, int64_t B,
                                int64_t L, const std::vector<int64_t> *targets,
                                ModelState *state) {
  const int64_t D = cfg.modelDim, S = cfg.zDim, E = cfg.valueDim;
  const int64_t H = cfg.numHeads, dk = cfg.headDimZ(), dv = cfg.headDimV();
  const int64_t N = cfg.cemaNdim, C = cfg.chunkSize, F = cfg.ffnHiddenDim;
  const int64_t G = cfg.timenormNumGroups, V = cfg.vocabSize;
  const int64_t rows = B * L;
  if (static_cast<int64_t>(tokens.size()) != rows)
    return invalidArgument("oracle: tokens must hold B*L entries");
  if (L % C != 0)
    return invalidArgument("oracle: L must be a multiple of chunk_size");
  for (int64_t tok : tokens)
    if (tok < 0 || tok >= V)
      return invalidArgument("oracle: token id out of range");
  const int64_t start = state ? state->position : 0;
  if (state && start % C != 0)
    return invalidArgument("oracle: a prefill call must start on a chunk");
  if (state && state->layers.empty())
    state->layers.resize(cfg.numLayers);

  // Document boundaries and segment ids (section 0).
  BosMask bos;
  Segments seg;
  if (cfg.multiSegments) {
    bos.assign(rows, 0);
    seg.assign(rows, 0);
    for (int64_t bi = 0; bi < B; ++bi) {
      int64_t running =
          state && state->hasSeg ? state->lastSeg[bi] : int64_t(0);
      for (int64_t t = 0; t < L; ++t) {
        bos[bi * L + t] = tokens[bi * L + t] == cfg.bosId;
        running += bos[bi * L + t];
        seg[bi * L + t] = running;
      }
    }
  }

  ForwardResult result;
  auto record = [&](const std::string &name, const Vec &value) {
    result.debug["debug." + name + ".out"] = value;
  };

  GECKO_ASSIGN_OR_RETURN(const Vec *embTable,
                         param(weights, "embed.weight", V * D));
  Vec x = embed(*embTable, V, D, tokens, cfg.scaleEmb);
  record("embed", x);

  // The buffers give the TDN prior when no state is carried.
  auto priorState = [&](const std::string &prefix) -> StatusOr<TdnState> {
    TdnState s;
    GECKO_ASSIGN_OR_RETURN(const Vec *count,
                           param(weights, prefix + ".prior_count", 1));
    GECKO_ASSIGN_OR_RETURN(const Vec *mean,
                           param(weights, prefix + ".prior_mean", G));
    GECKO_ASSIGN_OR_RETURN(const Vec *var,
                           param(weights, prefix + ".prior_var", G));
    s.n.assign(B, static_cast<int64_t>((*count)[0]));
    for (int64_t bi = 0; bi < B; ++bi) {
      s.M.insert(s.M.end(), mean->begin(), mean->end());
      s.V.insert(s.V.end(), var->begin(), var->end());
    }
    return s;
  };

  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    const std::string pre = "layers." + std::to_string(l) + ".";
    const std::string mp = pre + "mega.";
    auto get = [&](const std::string &n, int64_t numel) {
      return param(weights, n, numel);
    };
    GECKO_ASSIGN_OR_RETURN(const Vec *tnW, get(mp + "timenorm.weight", D));
    GECKO_ASSIGN_OR_RETURN(const Vec *tnB, get(mp + "timenorm.bias", D));
    GECKO_ASSIGN_OR_RETURN(const Vec *alpha, get(mp + "cema.alpha", D * N));
    GECKO_ASSIGN_OR_RETURN(const Vec *delta, get(mp + "cema.delta", D * N));
    GECKO_ASSIGN_OR_RETURN(const Vec *theta, get(mp + "cema.theta", D));
    GECKO_ASSIGN_OR_RETURN(const Vec *cgamma,
                           get(mp + "cema.gamma", D * N * 2));
    const Vec *rmsW = nullptr;
    if (cfg.normAffine) {
      GECKO_ASSIGN_OR_RETURN(rmsW, get(mp + "rmsnorm.weight", D));
    }
    GECKO_ASSIGN_OR_RETURN(const Vec *wz, get(mp + "wz.weight", S * D));
    GECKO_ASSIGN_OR_RETURN(const Vec *bz, get(mp + "wz.bias", S));
    GECKO_ASSIGN_OR_RETURN(const Vec *wv, get(mp + "wv.weight", E * D));
    GECKO_ASSIGN_OR_RETURN(const Vec *bv, get(mp + "wv.bias", E));
    GECKO_ASSIGN_OR_RETURN(const Vec *wr, get(mp + "wr.weight", E * D));
    GECKO_ASSIGN_OR_RETURN(const Vec *br, get(mp + "wr.bias", E));
    GECKO_ASSIGN_OR_RETURN(const Vec *wh1, get(mp + "wh1.weight", D * D));
    GECKO_ASSIGN_OR_RETURN(const Vec *bh1, get(mp + "wh1.bias", D));
    GECKO_ASSIGN_OR_RETURN(const Vec *wh2, get(mp + "wh2.weight", D * E));
    GECKO_ASSIGN_OR_RETURN(const Vec *zGamma, get(mp + "gamma", 4 * S));
    GECKO_ASSIGN_OR_RETURN(const Vec *zBeta, get(mp + "beta", 4 * S));
    const std::string fp = pre + "nffn.";
    const Vec *lnW = nullptr, *lnB = nullptr;
    if (cfg.normAffine) {
      GECKO_ASSIGN_OR_RETURN(lnW, get(fp + "norm.weight", D));
      GECKO_ASSIGN_OR_RETURN(lnB, get(fp + "norm.bias", D));
    }
    GECKO_ASSIGN_OR_RETURN(const Vec *fc1, get(fp + "fc1.weight", F * D));
    GECKO_ASSIGN_OR_RETURN(const Vec *fc2, get(fp + "fc2.weight", D * F));
    const Vec *fc3 = nullptr;
    if (cfg.swiglu) {
      GECKO_ASSIGN_OR_RETURN(fc3, get(fp + "fc3.weight", F * D));
    }
    const Vec *ffnScale = nullptr;
    if (cfg.rescaleNffn) {
      GECKO_ASSIGN_OR_RETURN(ffnScale, get(fp + "alpha", D));
    }

    ModelState::Layer scratch;
    ModelState::Layer &st = state ? state->layers[l] : scratch;
    if (st.norm.n.empty()) {
      GECKO_ASSIGN_OR_RETURN(st.norm, priorState(mp + "timenorm"));
    }
    const std::string dbg = pre + "mega.";

    // 1. TDN.
    Vec xh = timestepDecayNorm(x, B, L, D, G, *tnW, *tnB, cfg.timenormBeta1,
                               cfg.timenormBeta2, cfg.normEps, bos, st.norm,
                               cfg.tdnFp32BiasCorrection);
    record(dbg + "timenorm", xh);

    // 2. CEMA on the B x D x L transpose (includes the residual x-hat).
    Vec u(B * D * L);
    for (int64_t bi = 0; bi < B; ++bi)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t c = 0; c < D; ++c)
          u[(bi * D + c) * L + t] = xh[(bi * L + t) * D + c];
    CemaCoeffs coeffs = cemaCoefficients(*alpha, *delta, *theta, *cgamma, D, N);
    Vec eT = cema(u, B, D, L, N, coeffs, bos, st.hx);
    record(dbg + "cema", eT);
    Vec e(rows * D);
    for (int64_t bi = 0; bi < B; ++bi)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t c = 0; c < D; ++c)
          e[(bi * L + t) * D + c] = eT[(bi * D + c) * L + t];

    // 3. mx = RMSNorm_D(e).
    Vec mx =
        groupRmsNorm(e, rows, D, cfg.layernormNumGroups, rmsW, cfg.normEps);
    record(dbg + "rmsnorm", mx);

    // 4-5. z, per-head RMS norm, and the four views.
    Vec z = linear(mx, rows, D, S, *wz, bz);
    Vec zh = groupRmsNorm(z, rows, S, H, nullptr, cfg.normEps);
    record(dbg + "znorm", zh);
    Vec views[4];
    const double invSqrtDk = 1.0 / std::sqrt(static_cast<double>(dk));
    for (int i = 0; i < 4; ++i) {
      views[i].resize(rows * S);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t s = 0; s < S; ++s)
          views[i][r * S + s] =
              zh[r * S + s] * (1.0 + (*zGamma)[i * S + s]) * invSqrtDk +
              (*zBeta)[i * S + s];
    }
    Vec &q = views[0], &k = views[1], &aq = views[2], &ak = views[3];

    // 6-7. Gates: v from x-hat, r from mx.
    Vec v = linear(xh, rows, D, E, *wv, bv);
    for (double &a : v)
      a = silu(a);
    Vec r = linear(mx, rows, D, E, *wr, br);
    for (double &a : r)
      a = silu(a);

    // 8. SCA on rotated q, k.
    applyRope(q, B, L, H, dk, cfg.ropeHeads(), start, cfg.ropeBase);
    applyRope(k, B, L, H, dk, cfg.ropeHeads(), start, cfg.ropeBase);
    const KvCache *cache = state && st.sca.len > 0 ? &st.sca : nullptr;
    Vec os =
        slidingChunkAttention(q, k, v, B, L, H, dk, dv, C, start, seg, cache);
    record(dbg + "sliding_chunk_attention", os);

    // 9. AWM on un-rotated aq, ak.
    Vec om = adaptiveWorkingMemory(aq, ak, v, B, L, H, dk, dv, C, seg, st.awm);
    record(dbg + "adaptive_working_memory", om);

    if (state) {
      // The SCA cache keeps the call's last chunk.
      st.sca.len = C;
      st.sca.k.resize(B * C * H * dk);
      st.sca.v.resize(B * C * H * dv);
      st.sca.seg.clear();
      for (int64_t bi = 0; bi < B; ++bi) {
        std::copy_n(&k[(bi * L + L - C) * S], C * S, &st.sca.k[bi * C * S]);
        std::copy_n(&v[(bi * L + L - C) * E], C * E, &st.sca.v[bi * C * E]);
        if (!seg.empty())
          st.sca.seg.insert(st.sca.seg.end(), &seg[bi * L + L - C],
                            &seg[bi * L + L - C] + C);
      }
    }

    // 10-12. a = o_s * r + o_m; h = mx Wh1^T + b + a Wh2^T; y = x + h.
    Vec a(rows * E);
    for (int64_t i = 0; i < rows * E; ++i)
      a[i] = os[i] * r[i] + om[i];
    Vec h1 = linear(mx, rows, D, D, *wh1, bh1);
    Vec h2 = linear(a, rows, E, D, *wh2, nullptr);
    Vec y(rows * D);
    for (int64_t i = 0; i < rows * D; ++i)
      y[i] = x[i] + h1[i] + h2[i];
    record(pre + "mega", y);

    // 13. Normalized FFN.
    Vec n = groupLayerNorm(y, rows, D, cfg.layernormNumGroups, lnW, lnB,
                           cfg.normEps);
    record(pre + "nffn.norm", n);
    Vec g1 = linear(n, rows, D, F, *fc1, nullptr);
    Vec hid(rows * F);
    if (cfg.swiglu) {
      Vec g3 = linear(n, rows, D, F, *fc3, nullptr);
      for (int64_t i = 0; i < rows * F; ++i)
        hid[i] = silu(g1[i]) * g3[i];
    } else {
      for (int64_t i = 0; i < rows * F; ++i)
        hid[i] = silu(g1[i]);
    }
    Vec f = linear(hid, rows, F, D, *fc2, nullptr);
    const Vec &residual = cfg.twoHopResidual ? x : y;
    Vec out(rows * D);
    for (int64_t i = 0; i < rows * D; ++i)
      out[i] = (ffnScale ? (*ffnScale)[i % D] * f[i] : f[i]) + residual[i];
    record(pre + "nffn", out);
    record(pre.substr(0, pre.size() - 1), out);
    x = std::move(out);
  }

  // Final TDN and output projection.
  GECKO_ASSIGN_OR_RETURN(const Vec *fnW,
                         param(weights, "output.final_norm.weight", D));
  GECKO_ASSIGN_OR_RETURN(const Vec *fnB,
                         param(weights, "output.final_norm.bias", D));
  TdnState scratchFinal;
  TdnState &finalState = state ? state->finalNorm : scratchFinal;
  if (finalState.n.empty()) {
    GECKO_ASSIGN_OR_RETURN(finalState, priorState("output.final_norm"));
  }
  Vec xf = timestepDecayNorm(x, B, L, D, G, *fnW, *fnB, cfg.timenormBeta1,
                             cfg.timenormBeta2, cfg.normEps, bos, finalState,
                             cfg.tdnFp32BiasCorrection);
  record("output.final_norm", xf);
  const std::string outName =
      cfg.shareEmb ? "embed.weight" : "output.output.weight";
  GECKO_ASSIGN_OR_RETURN(const Vec *wout, param(weights, outName, V * D));
  result.logits = linear(xf, rows, D, V, *wout, nullptr);
  result.loss = targets ? crossEntropyMean(result.logits, *targets, rows, V)
                        : std::numeric_limits<double>::quiet_NaN();

  if (state) {
    state->position += L;
    if (cfg.multiSegments) {
      state->hasSeg = true;
      state->lastSeg.resize(B);
      for (int64_t bi = 0; bi < B; ++bi)
        state->lastSeg[bi] = seg[bi * L + L - 1];
    }
  }
  return result;
}

} // namespace gecko::oracle
