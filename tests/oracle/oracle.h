//===- oracle.h - Double-precision reference oracle of Gecko ----*- C++ -*-===//
//
// This file declares a float64 oracle of the whole Gecko LM, written as
// direct loops that follow docs GECKO_MATH.md sections 2, 3 and 10 line by
// line. It is a test yardstick, not a fast implementation: clarity wins over
// speed everywhere. Layout conventions (row-major, innermost last):
//   activations    B x L x width      (width split into heads as h*d + j)
//   CEMA input     B x D x L          (the EMA runs on the transpose)
//   CEMA state     B x D x N complex
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TESTS_ORACLE_ORACLE_H
#define GECKO_TESTS_ORACLE_ORACLE_H

#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/status.h"

#include <complex>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gecko::oracle {

using Vec = std::vector<double>;
using CVec = std::vector<std::complex<double>>;
/// Segment ids (B x L); empty means "no segments" (multi_segments off).
using Segments = std::vector<int64_t>;
/// Document-start flags (B x L); empty means no resets.
using BosMask = std::vector<uint8_t>;

//===----------------------------------------------------------------------===//
// Configuration and weights
//===----------------------------------------------------------------------===//

/// The oracle's own copy of the ModelConf fields it needs (spec section 1).
struct Config {
  int64_t numLayers = 32;
  int64_t modelDim = 4096;     ///< D
  int64_t zDim = 1024;         ///< S
  int64_t valueDim = 8192;     ///< E
  int64_t numHeads = 4;        ///< H
  int64_t ffnHiddenDim = 8192; ///< F
  int64_t cemaNdim = 16;       ///< N
  int64_t chunkSize = 2048;    ///< C
  int64_t timenormNumGroups = 64;
  double timenormBeta1 = 0.999;
  double timenormBeta2 = 0.9999;
  int64_t layernormNumGroups = 1;
  double normEps = 1e-5;
  double ropeBase = 500000.0;
  int64_t numRopeHeads = -1; ///< -1 means "None": all heads.
  bool swiglu = true;
  bool twoHopResidual = false;
  bool rescaleNffn = false;
  bool scaleEmb = false;
  bool shareEmb = false;
  bool normAffine = true;
  bool multiSegments = false;
  int64_t bosId = 1;
  int64_t vocabSize = -1;

  /// Not a model field: when set, every TDN forms beta1, beta2 and the bias
  /// corrections 1 - beta^n the way the fp32 reference kernel does (betas
  /// rounded to fp32, beta^n as an fp32 running product). 1 - beta2^n
  /// cancels catastrophically in fp32 (about 1e-4 * n against an ulp of
  /// 6e-8), which alone puts the fp32 golden about 5e-5 (relative) away from
  /// exact arithmetic. See NOTES.md.
  bool tdnFp32BiasCorrection = false;

  /// Overrides the defaults with the keys of a ModelConf JSON object (as in
  /// the golden files' `config` metadata). Unknown keys are ignored.
  static StatusOr<Config> fromJson(const std::string &json);

  int64_t headDimZ() const { return zDim / numHeads; }
  int64_t headDimV() const { return valueDim / numHeads; }
  int64_t ropeHeads() const {
    return numRopeHeads < 0 ? numHeads : numRopeHeads;
  }
};

/// A named float64 array.
struct Array {
  std::vector<int64_t> shape;
  Vec data;
};

/// Parameters keyed by reference state_dict name (e.g.
/// `layers.0.mega.wz.weight`).
using Weights = std::map<std::string, Array>;

/// Loads every floating-point tensor whose name is not `debug.*`, `grad.*`,
/// `input.*` or `output.logits|loss` from a safetensors file.
StatusOr<Weights> loadWeights(const SafetensorsFile &file);

//===----------------------------------------------------------------------===//
// Operators (spec section 3)
//===----------------------------------------------------------------------===//

/// x = E_tab[token] (* sqrt(D) if scaleEmb). Returns B x L x D.
Vec embed(const Vec &table, int64_t vocab, int64_t D,
          const std::vector<int64_t> &tokens, bool scaleEmb);

/// Timestep Decay Norm state: count n (B), raw EMAs M and V (B x G).
struct TdnState {
  std::vector<int64_t> n;
  Vec M, V;
};

/// Section 3.2. `state` holds the incoming state (zeros if empty) and is
/// overwritten with the outgoing one. `fp32BiasCorrection` reproduces the
/// reference kernel's fp32 betas and fp32 running product for beta^n (see
/// Config::tdnFp32BiasCorrection); everything else stays float64.
Vec timestepDecayNorm(const Vec &x, int64_t B, int64_t L, int64_t D, int64_t G,
                      const Vec &w, const Vec &b, double beta1, double beta2,
                      double eps, const BosMask &bos, TdnState &state,
                      bool fp32BiasCorrection = false);

/// Megalodon's TimestepNorm (section 9): cumulative pooled mean and variance
/// over all tokens so far, merged per token with Chan's formula (equal weight
/// per token), no decay, no bias correction, no bos reset. The prior is
/// (count, mean, var); Megalodon's buffers give (0, 0, exp(0) = 1).
struct MegalodonNormState {
  std::vector<int64_t> count; ///< B
  Vec mean, var;              ///< B x G
};
Vec megalodonTimestepNorm(const Vec &x, int64_t B, int64_t L, int64_t D,
                          int64_t G, const Vec &w, const Vec &b, double eps,
                          MegalodonNormState &state);

/// CEMA coefficients (section 3.3): p (real), q and gamma, each D x N.
struct CemaCoeffs {
  Vec p;
  CVec q, gamma;
};
CemaCoeffs cemaCoefficients(const Vec &alpha, const Vec &delta,
                            const Vec &theta, const Vec &gamma, int64_t D,
                            int64_t N);

/// The complex EMA scan on u (B x D x L) with bos reset. `h` is the incoming
/// state (B x D x N, zeros if empty) and becomes the outgoing one. Returns
/// y = sum_n Re(gamma h) + u (B x D x L).
Vec cema(const Vec &u, int64_t B, int64_t D, int64_t L, int64_t N,
         const CemaCoeffs &coeffs, const BosMask &bos, CVec &h);

/// Group RMS norm over `rows` rows of width F in K groups; scale 1 + w when
/// `w` is non-null.
Vec groupRmsNorm(const Vec &x, int64_t rows, int64_t F, int64_t K, const Vec *w,
                 double eps);

/// Group LayerNorm (two-pass population variance), scale 1 + w, bias b.
Vec groupLayerNorm(const Vec &x, int64_t rows, int64_t F, int64_t K,
                   const Vec *w, const Vec *b, double eps);

/// y = x W^T + b, W is out x in.
Vec linear(const Vec &x, int64_t rows, int64_t in, int64_t out, const Vec &W,
           const Vec *bias);

double silu(double x);

/// Interleaved-pair RoPE on x (B x L x H x d) in place, for heads 0..R-1, at
/// absolute positions start + t. Frequencies base^(-2j/d) in double.
void applyRope(Vec &x, int64_t B, int64_t L, int64_t H, int64_t d, int64_t R,
               int64_t start, double base);

/// Keys and values of earlier tokens (after RoPE) for sliding chunk
/// attention, with their segment ids (empty if no segments).
struct KvCache {
  int64_t len = 0; ///< tokens held, at absolute positions start-len..start-1
  Vec k;           ///< B x len x H x dk
  Vec v;           ///< B x len x H x dv
  Segments seg;    ///< B x len
};

/// Section 3.7 via the absolute-position window rule: the query at absolute
/// position tau sees key position j iff (floor(tau/C)-1)*C <= j <= tau and
/// the segments match. Keys come from [cache ; call]. Returns B x L x H x dv.
Vec slidingChunkAttention(const Vec &q, const Vec &k, const Vec &v, int64_t B,
                          int64_t L, int64_t H, int64_t dk, int64_t dv,
                          int64_t C, int64_t start, const Segments &seg,
                          const KvCache *cache);

/// Adaptive working memory state (section 3.8, prefill form).
struct AwmState {
  bool hasMemory = false;      ///< false: M is None
  Vec M;                       ///< B x H x dk x dv
  Vec lambda;                  ///< B x H x dk (log-normalizer, -inf = empty)
  bool hasDoc = false;         ///< doc_mem defined
  std::vector<int64_t> docMem; ///< B
  bool hasPrev = false;        ///< a cached previous chunk exists
  Vec prevK;                   ///< B x C x H x dk (ak, not rotated)
  Vec prevV;                   ///< B x C x H x dv
  Segments prevSeg;            ///< B x C (empty without segments)
};

/// Section 3.8 over a call of L = n_c * C tokens (aq, ak: B x L x H x dk,
/// v: B x L x H x dv). `state` is the incoming state and becomes the
/// outgoing one (the last chunk goes into prevK/prevV/prevSeg). Returns
/// B x L x H x dv.
Vec adaptiveWorkingMemory(const Vec &aq, const Vec &ak, const Vec &v, int64_t B,
                          int64_t L, int64_t H, int64_t dk, int64_t dv,
                          int64_t C, const Segments &seg, AwmState &state);

/// Mean cross entropy over all B*L positions; targets == -100 contribute 0
/// but still count in the mean (section 3.12).
double crossEntropyMean(const Vec &logits, const std::vector<int64_t> &targets,
                        int64_t rows, int64_t V);

//===----------------------------------------------------------------------===//
// Whole model (section 2)
//===----------------------------------------------------------------------===//

/// Streaming state of the whole model for prefill calls (every call a
/// multiple of C tokens starting at a multiple of C).
struct ModelState {
  struct Layer {
    TdnState norm;
    CVec hx;
    KvCache sca;
    AwmState awm;
  };
  int64_t position = 0; ///< tokens consumed so far
  std::vector<Layer> layers;
  TdnState finalNorm;
  bool hasSeg = false;
  std::vector<int64_t> lastSeg; ///< B: last segment id of the previous call
};

struct ForwardResult {
  Vec logits;        ///< B x L x V
  double loss = 0.0; ///< NaN when no targets were given
  /// Activations keyed like the golden files' `debug.*` tensors (CEMA is
  /// B x D x L, everything else B x L x width).
  std::map<std::string, Vec> debug;
};

/// Runs the model on tokens (B x L). With `state`, the call continues the
/// stream it describes (prefill rules) and updates it. `targets` may be null.
StatusOr<ForwardResult> forward(const Config &config, const Weights &weights,
                                const std::vector<int64_t> &tokens, int64_t B,
                                int64_t L,
                                const std::vector<int64_t> *targets = nullptr,
                                ModelState *state = nullptr);

} // namespace gecko::oracle

#endif // GECKO_TESTS_ORACLE_ORACLE_H
