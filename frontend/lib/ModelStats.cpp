//===- ModelStats.cpp - Parameter and FLOP counts of a model -------------===//
//
// This file implements the parameter and FLOP accounting declared in
// ModelStats.h (GECKO_MATH.md 1.1 and 1.2, shared/perf/REFERENCE_H100.md).
//
//===----------------------------------------------------------------------===//

#include "gecko/Frontend/ModelStats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace gecko::frontend {

namespace {

int64_t sumCounts(const std::vector<ParamComponent> &components) {
  int64_t sum = 0;
  for (const ParamComponent &c : components)
    sum += c.count;
  return sum;
}

/// Gecko and Megalodon blocks share the projections and differ in the norm,
/// the EMA's omega and the number of z views.
void megaFamilyParams(const ModelConfig &c, ParamStats &p) {
  const bool megalodon = c.architecture == Architecture::Megalodon;
  const int64_t D = c.model_dim, S = c.z_dim, E = c.value_dim, N = c.cema_ndim,
                F = c.ffn_hidden_dim;
  const int64_t views = megalodon ? 2 : 4;

  p.attentionComponents = {
      {"TDN",
       megalodon ? "timenorm.weight, bias (TimestepNorm)"
                 : "timenorm.weight, bias",
       2 * D},
      {"CEMA",
       megalodon
           ? "cema.alpha, delta (DxN), theta (D), gamma (DxNx2), omega (D)"
           : "cema.alpha, delta (DxN), theta (D), gamma (DxNx2)",
       D * (4 * N + (megalodon ? 2 : 1))},
      {"RMSNorm", "rmsnorm.weight", c.norm_affine ? D : 0},
      {"projections", "wz, wv, wr, wh1 (with bias), wh2 (no bias)",
       (D * S + S) + 2 * (D * E + E) + (D * D + D) + E * D},
      {"qk_affine",
       megalodon ? "gamma, beta (2xS: q, k)"
                 : "gamma, beta (4xS: q, k, aq, ak)",
       2 * views * S},
  };
  p.ffnComponents = {
      {"norm", "nffn.norm.weight, bias (LayerNorm)", c.norm_affine ? 2 * D : 0},
      {"linear",
       c.swiglu ? "nffn.fc1, fc3 (DxF), fc2 (FxD), no bias"
                : "nffn.fc1 (DxF), fc2 (FxD), no bias",
       (c.swiglu ? 3 : 2) * D * F},
  };
  if (c.rescale_nffn)
    p.ffnComponents.push_back({"rescale", "nffn.alpha", D});

  p.finalNorm = 2 * D;
  const int64_t G = c.timenorm_num_groups;
  const int64_t norms = c.num_layers + 1;
  // prior_count (1 element) and two G-vectors per (Timestep/TimestepDecay)
  // norm; gecko also stores rope.freqs (d_k / 2 entries).
  p.bufferElements = norms * (1 + 2 * G);
  if (!megalodon)
    p.bufferElements += c.zHeadDim() / 2;
}

void llamaParams(const ModelConfig &c, ParamStats &p) {
  const int64_t D = c.model_dim, F = c.ffn_hidden_dim;
  const int64_t hd = D / c.num_heads;
  const int64_t q = c.num_heads * hd, kv = c.num_kv_heads * hd;
  p.attentionComponents = {
      {"attention_norm", "attention_norm.weight (RMSNorm)", D},
      {"attention", "wq (DxD), wk, wv (D x kv_heads*head_dim), wo (DxD)",
       D * q + 2 * D * kv + q * D},
  };
  p.ffnComponents = {
      {"ffn_norm", "ffn_norm.weight (RMSNorm)", D},
      {"linear", "w1, w3 (DxF), w2 (FxD), no bias", 3 * D * F},
  };
  p.finalNorm = D;
  p.bufferElements = 0;
}

/// Weight elements of the linear layers of one block (biases excluded), the
/// P_lin of REFERENCE_H100.md.
int64_t linearWeights(const ModelConfig &c) {
  const int64_t D = c.model_dim, F = c.ffn_hidden_dim;
  if (c.architecture == Architecture::Llama) {
    const int64_t hd = D / c.num_heads;
    const int64_t q = c.num_heads * hd, kv = c.num_kv_heads * hd;
    return D * q + 2 * D * kv + q * D + 3 * D * F;
  }
  const int64_t S = c.z_dim, E = c.value_dim;
  return D * E + D * S + D * E + D * D + E * D + (c.swiglu ? 3 : 2) * D * F;
}

std::string formatFixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string flopString(double v) {
  std::string s = formatWithThousands(static_cast<int64_t>(std::llround(v)));
  if (v >= 1e9)
    return s + "  (" + formatFixed(v / 1e9, 2) + " GFLOP)";
  if (v >= 1e6)
    return s + "  (" + formatFixed(v / 1e6, 2) + " MFLOP)";
  return s;
}

void line(std::ostringstream &os, const std::string &label,
          const std::string &value, int labelWidth = 34) {
  os << "  " << label;
  for (int i = static_cast<int>(label.size()); i < labelWidth; ++i)
    os << ' ';
  os << ' ';
  // Right-align plain numbers to a common column.
  std::string v = value;
  size_t numEnd = v.find(' ');
  size_t numLen = numEnd == std::string::npos ? v.size() : numEnd;
  for (size_t i = numLen; i < 17; ++i)
    os << ' ';
  os << v << '\n';
}

} // namespace

ParamStats countParameters(const ModelConfig &config) {
  ParamStats p;
  if (config.architecture == Architecture::Llama)
    llamaParams(config, p);
  else
    megaFamilyParams(config, p);
  p.attentionPerBlock = sumCounts(p.attentionComponents);
  p.ffnPerBlock = sumCounts(p.ffnComponents);
  p.perBlock = p.attentionPerBlock + p.ffnPerBlock;
  p.nonEmbedding = config.num_layers * p.perBlock;
  p.embedding = config.vocab_size * config.model_dim;
  p.output =
      config.share_emb ? 0 : config.effectiveOutputSize() * config.model_dim;
  p.total = p.nonEmbedding + p.finalNorm + p.embedding + p.output;
  return p;
}

int64_t defaultStatsSeqLen(const ModelConfig &config) {
  if (config.architecture == Architecture::Llama)
    return config.max_seq_len;
  return 4 * config.chunk_size;
}

StatusOr<FlopStats> countFlops(const ModelConfig &config, int64_t seqLen) {
  GECKO_RETURN_IF_ERROR(validateModelConfig(config));
  if (seqLen < 0)
    return invalidArgument("model stats: sequence length must be >= 1, got " +
                           std::to_string(seqLen));
  const int64_t L = seqLen == 0 ? defaultStatsSeqLen(config) : seqLen;

  FlopStats f;
  f.seqLen = L;
  const double Ld = static_cast<double>(L);
  const double D = static_cast<double>(config.model_dim);
  f.linear = 2.0 * static_cast<double>(linearWeights(config));
  f.head = 2.0 * D * static_cast<double>(config.effectiveOutputSize());

  if (config.architecture == Architecture::Llama) {
    // Causal attention over the whole sequence: L(L+1)/2 visible pairs, each
    // 2*D for QK^T and 2*D for PV (grouped KV heads do not change the math).
    const double pairs = Ld * (Ld + 1.0) / 2.0;
    f.attention = pairs * 4.0 * D / Ld;
    // Flash attention skips fully masked tiles, so count it as executed.
    f.attentionExecuted = f.attention;
    f.memory = 0;
    f.ema = 0;
  } else {
    const int64_t C = config.chunk_size;
    const int64_t full = L / C, rem = L % C;
    const int64_t chunks = full + (rem ? 1 : 0);
    const int64_t firstChunk = std::min(C, L);
    const double Cd = static_cast<double>(C);
    const double fullD = static_cast<double>(full);
    const double remD = static_cast<double>(rem);
    // Causal pairs inside each chunk (block diagonal).
    double pairs = fullD * Cd * (Cd + 1.0) / 2.0 + remD * (remD + 1.0) / 2.0;
    double dense = fullD * Cd * Cd + remD * remD;
    if (config.architecture == Architecture::Gecko) {
      // Every query of chunk c >= 1 also sees all C keys of chunk c-1.
      const double later = static_cast<double>(L - firstChunk);
      pairs += Cd * later;
      dense += Cd * later;
    }
    const double pairFlops =
        2.0 * static_cast<double>(config.z_dim + config.value_dim);
    f.attention = pairs * pairFlops / Ld;
    f.attentionExecuted = dense * pairFlops / Ld;
    if (config.architecture == Architecture::Gecko) {
      // Per head: read 2 dk dv per query token of chunks >= 1 and absorb the
      // previous chunk at 4 C dk dv; summed over heads dk dv H = S E / H.
      const double sePerHead = static_cast<double>(config.z_dim) *
                               static_cast<double>(config.value_dim) /
                               static_cast<double>(config.num_heads);
      const double reads = 2.0 * static_cast<double>(L - firstChunk);
      const double absorbs = 4.0 * Cd * static_cast<double>(chunks - 1);
      f.memory = (reads + absorbs) * sePerHead / Ld;
    }
    f.ema = 12.0 * D * static_cast<double>(config.cema_ndim);
  }

  const double layers = static_cast<double>(config.num_layers);
  f.layerForward = f.linear + f.attention + f.memory;
  f.forward = layers * f.layerForward + f.head;
  f.training = 3.0 * f.forward;
  f.forwardExecuted =
      layers * (f.linear + f.attentionExecuted + f.memory + f.ema) + f.head;
  // Backward: linear 2x, attention 2x (from saved probabilities), EMA ~2x,
  // working memory recompute 4 + backward 12 (per 6 of forward).
  f.trainingExecuted =
      layers * (3.0 * (f.linear + f.attentionExecuted + f.ema) +
                f.memory * 22.0 / 6.0) +
      3.0 * f.head;
  return f;
}

StatusOr<ModelStats> computeModelStats(const ModelConfig &config,
                                       int64_t seqLen) {
  ModelStats s;
  GECKO_ASSIGN_OR_RETURN(s.flops, countFlops(config, seqLen));
  s.params = countParameters(config);
  return s;
}

std::string formatWithThousands(int64_t value) {
  const bool negative = value < 0;
  // Work on the unsigned magnitude so INT64_MIN is safe.
  uint64_t mag = negative ? uint64_t(0) - static_cast<uint64_t>(value)
                          : static_cast<uint64_t>(value);
  std::string digits = std::to_string(mag);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out += digits[i];
    int left = n - 1 - i;
    if (left > 0 && left % 3 == 0)
      out += ',';
  }
  return negative ? "-" + out : out;
}

std::string formatModelStatsReport(const ModelConfig &c,
                                   const ModelStats &stats) {
  const ParamStats &p = stats.params;
  const FlopStats &f = stats.flops;
  std::ostringstream os;
  os << "Model: " << architectureName(c.architecture) << ", " << c.num_layers
     << " layers, D=" << c.model_dim;
  if (c.architecture == Architecture::Llama) {
    os << ", heads=" << c.num_heads << " (kv " << c.num_kv_heads
       << "), head_dim=" << c.zHeadDim();
  } else {
    os << ", S=" << c.z_dim << ", E=" << c.value_dim << ", H=" << c.num_heads
       << ", N=" << c.cema_ndim << ", C=" << c.chunk_size;
  }
  os << ", F=" << c.ffn_hidden_dim << (c.swiglu ? " (SwiGLU)" : "")
     << ", V=" << c.vocab_size;
  if (c.effectiveOutputSize() != c.vocab_size)
    os << ", V_out=" << c.effectiveOutputSize();
  if (c.share_emb)
    os << ", tied embeddings";
  os << "\n\nParameters\n";
  auto component = [&](const ParamComponent &pc) {
    line(os, "    " + pc.name,
         formatWithThousands(pc.count) + "  " + pc.detail);
  };
  line(os, "per block", formatWithThousands(p.perBlock));
  line(os, "  token mixing sublayer", formatWithThousands(p.attentionPerBlock));
  for (const ParamComponent &pc : p.attentionComponents)
    component(pc);
  line(os, "  FFN sublayer", formatWithThousands(p.ffnPerBlock));
  for (const ParamComponent &pc : p.ffnComponents)
    component(pc);
  line(os, "non-embedding (" + std::to_string(c.num_layers) + " blocks)",
       formatWithThousands(p.nonEmbedding));
  line(os, "final norm", formatWithThousands(p.finalNorm));
  line(os, "embedding", formatWithThousands(p.embedding));
  line(os, "output projection",
       c.share_emb ? std::string("0  (tied to the embedding)")
                   : formatWithThousands(p.output));
  line(os, "total", formatWithThousands(p.total));
  if (p.bufferElements)
    line(os, "buffers (not parameters)", formatWithThousands(p.bufferElements));

  os << "\nFLOPs per token (seq_len " << formatWithThousands(f.seqLen)
     << ", multiply-add = 2)\n";
  line(os, "per layer, forward", flopString(f.layerForward));
  line(os, "  linear layers", flopString(f.linear));
  line(os, "  attention (causal pairs)", flopString(f.attention));
  if (c.architecture == Architecture::Gecko)
    line(os, "  working memory", flopString(f.memory));
  line(os, "output head", flopString(f.head));
  line(os, "forward (model FLOPs)", flopString(f.forward));
  line(os, "training (3 x forward)", flopString(f.training));
  if (c.architecture != Architecture::Llama) {
    line(os, "forward, executed (reference)", flopString(f.forwardExecuted));
    line(os, "training, executed (reference)", flopString(f.trainingExecuted));
  }
  return os.str();
}

} // namespace gecko::frontend
