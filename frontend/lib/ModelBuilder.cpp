//===- ModelBuilder.cpp - Model config -> gecko IR ------------------------===//
//
// Emits the network graph of GECKO_MATH.md section 2 (Gecko), section 9
// (Megalodon) or a Llama-style transformer as gecko ops. The graph mirrors
// tests/oracle/oracle.cpp `forward`, which matches the reference
// implementation; keep the two in step.
//
//===----------------------------------------------------------------------===//

#include "gecko/Frontend/ModelBuilder.h"

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Verifier.h"

#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::gecko;

namespace gecko::frontend {
namespace {

/// How a parameter is initialized when training from scratch (spec 3.13),
/// carried to the artifact plan's "init" field.
struct InitSpec {
  std::string kind = "zeros"; ///< zeros, ones, constant, normal,
                              ///< truncated_normal, uniform, cema_theta,
                              ///< complex_real_normal
  double mean = 0.0, std = 0.0, a = 0.0, b = 0.0, value = 0.0;

  static InitSpec zeros() { return {}; }
  static InitSpec ones() { return {"ones"}; }
  static InitSpec constant(double v) {
    InitSpec s{"constant"};
    s.value = v;
    return s;
  }
  static InitSpec normal(double stddev) {
    InitSpec s{"normal"};
    s.std = stddev;
    return s;
  }
  /// Normal(0, stddev) cut at [lo, hi] (absolute).
  static InitSpec truncated(double stddev, double lo, double hi) {
    InitSpec s{"truncated_normal"};
    s.std = stddev;
    s.a = lo;
    s.b = hi;
    return s;
  }
};

/// One parameter (or buffer) of the model: its state_dict name and shape.
struct ParamSpec {
  std::string name;
  SmallVector<int64_t> shape;
  bool isI64 = false;
  /// Buffers (norm priors) are bound like parameters but never trained.
  bool isBuffer = false;
  InitSpec init;
};

/// The ordered parameter list of a config: the function signature of every
/// mode, and exactly the tensors the reference's state_dict holds (minus
/// `rope.freqs`, which the rope op recomputes bit-exactly).
std::vector<ParamSpec> parameterList(const ModelConfig &c) {
  std::vector<ParamSpec> p;
  const int64_t D = c.model_dim, S = c.z_dim, E = c.value_dim;
  const int64_t N = c.cema_ndim, F = c.ffn_hidden_dim, V = c.vocab_size;
  const int64_t Vout = c.effectiveOutputSize();
  auto add = [&](std::string name, SmallVector<int64_t> shape, InitSpec init) {
    p.push_back({std::move(name), std::move(shape), false, false, init});
  };
  // "he": Kaiming normal with a = sqrt(5), fan_in = in_features (spec 3.13).
  auto he = [](int64_t fanIn) {
    return InitSpec::normal(1.0 / std::sqrt(3.0 * double(fanIn)));
  };
  const double embStd = 1.0 / std::sqrt(double(D));
  const InitSpec embInit = InitSpec::truncated(embStd, -3 * embStd, 3 * embStd);
  // Megalodon's TimestepNorm keeps the prior variance as its logarithm.
  const char *priorVar =
      c.architecture == Architecture::Megalodon ? ".prior_logv" : ".prior_var";
  auto addTimenorm = [&](const std::string &prefix, int64_t groups) {
    add(prefix + ".weight", {D}, InitSpec::zeros());
    add(prefix + ".bias", {D}, InitSpec::zeros());
    p.push_back({prefix + ".prior_count",
                 {},
                 /*isI64=*/true,
                 /*isBuffer=*/true,
                 InitSpec::zeros()});
    p.push_back(
        {prefix + ".prior_mean", {groups}, false, true, InitSpec::zeros()});
    p.push_back({prefix + priorVar, {groups}, false, true, InitSpec::zeros()});
  };

  if (c.architecture == Architecture::Llama) {
    const int64_t H = c.num_heads, KV = c.num_kv_heads, d = D / H;
    const InitSpec w = InitSpec::normal(0.02);
    add("tok_embeddings.weight", {V, D}, w);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      std::string pre = "layers." + std::to_string(l) + ".";
      add(pre + "attention.wq.weight", {D, D}, w);
      add(pre + "attention.wk.weight", {KV * d, D}, w);
      add(pre + "attention.wv.weight", {KV * d, D}, w);
      add(pre + "attention.wo.weight", {D, D}, w);
      add(pre + "feed_forward.w1.weight", {F, D}, w);
      add(pre + "feed_forward.w2.weight", {D, F}, w);
      add(pre + "feed_forward.w3.weight", {F, D}, w);
      add(pre + "attention_norm.weight", {D}, InitSpec::ones());
      add(pre + "ffn_norm.weight", {D}, InitSpec::ones());
    }
    add("norm.weight", {D}, InitSpec::ones());
    if (!c.share_emb)
      add("output.weight", {Vout, D}, w);
    return p;
  }

  const bool megalodon = c.architecture == Architecture::Megalodon;
  const int64_t views = megalodon ? 2 : 4;
  add("embed.weight", {V, D}, embInit);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    std::string mp = "layers." + std::to_string(l) + ".mega.";
    addTimenorm(mp + "timenorm", c.timenorm_num_groups);
    add(mp + "cema.alpha", {D, N}, InitSpec::normal(0.2));
    add(mp + "cema.delta", {D, N}, InitSpec::normal(0.2));
    add(mp + "cema.theta", {D}, InitSpec{"cema_theta"});
    // gamma: real part N(0, 1/N) (Megalodon: N(0, 1), scaled in forward),
    // imaginary part 0 (spec 3.3, 9).
    InitSpec gamma{"complex_real_normal"};
    gamma.std = megalodon ? 1.0 : 1.0 / std::sqrt(double(N));
    add(mp + "cema.gamma", {D, N, 2}, gamma);
    if (megalodon)
      add(mp + "cema.omega", {D}, InitSpec::truncated(0.25, -1.0, 1.0));
    if (c.norm_affine)
      add(mp + "rmsnorm.weight", {D}, InitSpec::zeros());
    add(mp + "wz.weight", {S, D}, he(D));
    add(mp + "wz.bias", {S}, InitSpec::zeros());
    add(mp + "wv.weight", {E, D}, he(D));
    add(mp + "wv.bias", {E}, InitSpec::zeros());
    add(mp + "wr.weight", {E, D}, he(D));
    add(mp + "wr.bias", {E}, InitSpec::zeros());
    add(mp + "wh1.weight", {D, D}, he(D));
    add(mp + "wh1.bias", {D}, InitSpec::zeros());
    add(mp + "wh2.weight", {D, E}, he(E));
    add(mp + "gamma", {views, S}, InitSpec::zeros());
    add(mp + "beta", {views, S}, InitSpec::zeros());
    std::string fp = "layers." + std::to_string(l) + ".nffn.";
    if (c.norm_affine) {
      add(fp + "norm.weight", {D}, InitSpec::zeros());
      add(fp + "norm.bias", {D}, InitSpec::zeros());
    }
    add(fp + "fc1.weight", {F, D}, he(D));
    if (c.swiglu)
      add(fp + "fc3.weight", {F, D}, he(D));
    add(fp + "fc2.weight", {D, F}, he(F));
    if (c.rescale_nffn)
      add(fp + "alpha", {D}, InitSpec::constant(0.1 * std::pow(0.5, l)));
  }
  addTimenorm("output.final_norm", c.timenorm_num_groups);
  if (!c.share_emb)
    add("output.output.weight", {Vout, D}, embInit);
  return p;
}

/// The init spec as a dictionary attribute (kind plus its numbers).
DictionaryAttr initAttr(OpBuilder &b, const InitSpec &init) {
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("kind", b.getStringAttr(init.kind))};
  auto num = [&](const char *name, double v) {
    fields.push_back(b.getNamedAttr(name, b.getF64FloatAttr(v)));
  };
  if (init.kind == "constant")
    num("value", init.value);
  if (init.kind == "normal" || init.kind == "truncated_normal" ||
      init.kind == "complex_real_normal") {
    num("mean", init.mean);
    num("std", init.std);
  }
  if (init.kind == "truncated_normal" || init.kind == "uniform") {
    num("a", init.a);
    num("b", init.b);
  }
  return b.getDictionaryAttr(fields);
}

/// Emits one function. Parameters are looked up by name among its
/// arguments; every helper below adds the ops of one spec step.
class FunctionEmitter {
public:
  FunctionEmitter(ImplicitLocOpBuilder &b, const ModelConfig &c, int64_t batch,
                  int64_t seqLen, std::map<std::string, Value> params,
                  Type floatType)
      : b(b), c(c), B(batch), L(seqLen), params(std::move(params)),
        ft(floatType) {}

  /// tokens (B x L, i64) -> logits (B x L x Vout, the float type).
  Value logits(Value tokens) {
    switch (c.architecture) {
    case Architecture::Llama:
      return llamaLogits(tokens);
    case Architecture::Gecko:
    case Architecture::Megalodon:
      return megaLogits(tokens);
    }
    llvm_unreachable("unknown architecture");
  }

private:
  Value param(const std::string &name) {
    auto it = params.find(name);
    assert(it != params.end() && "parameter list and graph disagree");
    return it->second;
  }

  RankedTensorType seqType(int64_t width) {
    return RankedTensorType::get({B, L, width}, ft);
  }

  /// A splat f32 constant with the shape of `like`.
  Value splatLike(Value like, double value) {
    auto type = cast<RankedTensorType>(like.getType());
    return arith::ConstantOp::create(
        b, type,
        DenseElementsAttr::get(type,
                               b.getFloatAttr(type.getElementType(), value)));
  }

  /// Broadcasts `value` (shape `dims` of `target`, in order) to `target`.
  Value broadcast(Value value, RankedTensorType target,
                  ArrayRef<int64_t> addedDims) {
    Value init =
        tensor::EmptyOp::create(b, target.getShape(), target.getElementType());
    return linalg::BroadcastOp::create(b, value, init, addedDims)
        .getResult()[0];
  }

  /// The TDN (or Megalodon timestep norm) state given by the parameter
  /// buffers prior_count/prior_mean/prior_var, broadcast over the batch.
  std::array<Value, 3> priorState(const std::string &prefix) {
    const int64_t G = c.timenorm_num_groups;
    Value count = broadcast(param(prefix + ".prior_count"),
                            RankedTensorType::get({B}, b.getI64Type()), {0});
    Value mean = broadcast(param(prefix + ".prior_mean"),
                           RankedTensorType::get({B, G}, ft), {0});
    auto stateType = RankedTensorType::get({B, G}, ft);
    if (c.architecture == Architecture::Megalodon) {
      Value logVar = broadcast(param(prefix + ".prior_logv"), stateType, {0});
      return {count, mean, math::ExpOp::create(b, logVar)};
    }
    Value var = broadcast(param(prefix + ".prior_var"), stateType, {0});
    return {count, mean, var};
  }

  /// Spec 3.2 (Gecko TDN) or 9 (Megalodon timestep norm).
  /// Spec 3.2 (TDN) or 9 (Megalodon). `stateName` names the streaming
  /// state ("layers.0.norm"); in a stream the priors apply at position 0
  /// and the carried statistics afterwards.
  Value sequenceNorm(Value x, const std::string &prefix,
                     const std::string &stateName) {
    auto [count, mean, var] = priorState(prefix);
    if (stream) {
      count = freshOr(count, state(stateName + ".count", count.getType()));
      mean = freshOr(mean, state(stateName + ".mean", mean.getType()));
      var = freshOr(var, state(stateName + ".var", var.getType()));
    }
    Value weight = param(prefix + ".weight"), bias = param(prefix + ".bias");
    const uint64_t G = c.timenorm_num_groups;
    Value y, countOut, meanOut, varOut;
    if (c.architecture == Architecture::Megalodon) {
      auto op = TimestepNormOp::create(b, x, weight, bias, count, mean, var, G,
                                       APFloat(c.norm_eps));
      y = op.getY();
      countOut = op.getCountOut();
      meanOut = op.getMeanOut();
      varOut = op.getVarOut();
    } else {
      auto op = TimestepDecayNormOp::create(
          b, x, weight, bias, bos, count, mean, var, G,
          APFloat(c.timenorm_beta1), APFloat(c.timenorm_beta2),
          APFloat(c.norm_eps));
      y = op.getY();
      countOut = op.getCountOut();
      meanOut = op.getMeanOut();
      varOut = op.getVarOut();
    }
    if (stream) {
      next(stateName + ".count", countOut);
      next(stateName + ".mean", meanOut);
      next(stateName + ".var", varOut);
    }
    return y;
  }

  //===--------------------------------------------------------------------===//
  // Streaming state (spec 4.1): prefill and decode functions carry it as
  // `gecko.state` arguments named `stream.<name>` and return `next:` results.
  //===--------------------------------------------------------------------===//

  /// The state argument `stream.<name>` (appended to the function).
  Value state(const std::string &name, Type type) {
    func::FuncOp func = stream->func;
    unsigned index = func.getNumArguments();
    auto attrs = b.getDictionaryAttr(
        {b.getNamedAttr(kStateAttrName, b.getStringAttr("stream." + name))});
    (void)func.insertArgument(index, type, attrs, func.getLoc());
    return func.getArgument(index);
  }

  /// Records the value the state `stream.<name>` has after the call.
  void next(const std::string &name, Value value) {
    stream->next.emplace_back("stream." + name, value);
  }

  /// A constant tensor of `type` filled with `value`.
  Value full(Type type, double value) {
    auto tensor = cast<RankedTensorType>(type);
    Type element = tensor.getElementType();
    Attribute scalar =
        isa<FloatType>(element)
            ? Attribute(b.getFloatAttr(element, value))
            : Attribute(b.getIntegerAttr(element, int64_t(value)));
    return arith::ConstantOp::create(b, tensor,
                                     DenseElementsAttr::get(tensor, scalar));
  }

  /// `freshValue` at position 0 of the stream, else `current`.
  Value freshOr(Value freshValue, Value current) {
    auto type = cast<RankedTensorType>(current.getType());
    SmallVector<int64_t> dims;
    for (int64_t i = 0; i < type.getRank(); ++i)
      dims.push_back(i);
    Value condition = stream->fresh;
    if (type.getRank() > 0)
      condition = broadcast(
          condition, RankedTensorType::get(type.getShape(), b.getI1Type()),
          dims);
    return arith::SelectOp::create(b, condition, freshValue, current);
  }

  /// Rows [offset, offset + size) of a B x R x W (or B x R) tensor.
  Value rows(Value x, OpFoldResult offset, OpFoldResult size) {
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)), sizes,
        strides(type.getRank(), b.getIndexAttr(1));
    for (int64_t d : type.getShape())
      sizes.push_back(b.getIndexAttr(d));
    offsets[1] = offset;
    sizes[1] = size;
    return tensor::ExtractSliceOp::create(b, x, offsets, sizes, strides);
  }

  /// The last `keep` rows of [history ; call] (the next history).
  Value roll(Value history, Value call, int64_t keep) {
    Value all = tensor::ConcatOp::create(b, 1, ValueRange{history, call});
    int64_t total = cast<RankedTensorType>(all.getType()).getDimSize(1);
    return rows(all, b.getIndexAttr(total - keep), b.getIndexAttr(keep));
  }

  Value linear(Value x, const std::string &name, bool withBias) {
    Value bias = withBias ? param(name + ".bias") : Value();
    return LinearOp::create(b, x, param(name + ".weight"), bias).getY();
  }

  /// Gecko / Megalodon: spec section 2.
  Value megaLogits(Value tokens) {
    const bool megalodon = c.architecture == Architecture::Megalodon;
    const int64_t H = c.num_heads, dk = c.zHeadDim();
    const uint64_t C = c.chunk_size;
    if (c.multi_segments) {
      // In a stream, ids continue from the last token of the previous call
      // (spec 4.4).
      Value offset;
      if (stream) {
        auto lastType = RankedTensorType::get({B}, b.getI64Type());
        offset = state("last_segment", lastType);
      }
      auto seg = SegmentsOp::create(b, tokens, offset,
                                    static_cast<uint64_t>(c.bos_id));
      bos = seg.getBos();
      segments = seg.getSegmentIds();
      if (stream)
        next("last_segment",
             tensor::CollapseShapeOp::create(
                 b, rows(segments, b.getIndexAttr(L - 1), b.getIndexAttr(1)),
                 ArrayRef<ReassociationIndices>{{0, 1}}));
    } else if (stream) {
      // Streams always compare segment ids: every real token is in document
      // 0, and cache slots before the stream's start are -1 (invisible).
      segments = full(RankedTensorType::get({B, L}, b.getI64Type()), 0);
    }
    Value x = EmbeddingOp::create(b, param("embed.weight"), tokens, c.scale_emb)
                  .getX();
    record("embed", x);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      Operation *mark = lastOp();
      const std::string layer = "layers." + std::to_string(l);
      const std::string mp = "layers." + std::to_string(l) + ".mega.";
      const std::string fp = "layers." + std::to_string(l) + ".nffn.";
      // 1. Sequence norm.
      Value xh = sequenceNorm(x, mp + "timenorm", layer + ".norm");
      record(mp + "timenorm", xh);
      // 2. CEMA (with the residual x-hat).
      Value gamma = param(mp + "cema.gamma");
      if (megalodon) // Megalodon scales gamma by 1/sqrt(N) in the forward.
        gamma = arith::MulFOp::create(
            b, gamma, splatLike(gamma, 1.0 / std::sqrt(double(c.cema_ndim))));
      auto coeffs = EmaCoeffsOp::create(b, param(mp + "cema.alpha"),
                                        param(mp + "cema.delta"),
                                        param(mp + "cema.theta"), gamma);
      Value h0;
      if (stream) {
        auto hType = RankedTensorType::get(
            {B, c.model_dim, c.cema_ndim, 2},
            cast<RankedTensorType>(coeffs.getP().getType()).getElementType());
        h0 = state(layer + ".ema.h", hType); // zero = fresh
      }
      auto scan = EmaScanOp::create(b, xh, coeffs.getP(), coeffs.getQ(),
                                    coeffs.getGammaC(), bos, h0);
      Value e = scan.getY();
      if (stream)
        next(layer + ".ema.h", scan.getHOut());
      if (megalodon) {
        // Residual x-hat * omega instead of x-hat: e + (omega - 1) * x-hat.
        auto type = cast<RankedTensorType>(xh.getType());
        Value omega = broadcast(param(mp + "cema.omega"), type, {0, 1});
        Value omegaMinusOne =
            arith::SubFOp::create(b, omega, splatLike(omega, 1.0));
        e = arith::AddFOp::create(b, e,
                                  arith::MulFOp::create(b, omegaMinusOne, xh));
      }
      // The reference runs the EMA on the B x D x L transpose.
      if (recordDebug)
        record(mp + "cema", transposeSeq(e));
      else
        labelSince(mp + "cema");
      // 3. mx = RMSNorm_D(e).
      Value rmsWeight = c.norm_affine ? param(mp + "rmsnorm.weight") : Value();
      Value mx =
          RmsNormOp::create(b, e, rmsWeight,
                            static_cast<uint64_t>(c.layernorm_num_groups),
                            APFloat(c.norm_eps))
              .getY();
      record(mp + "rmsnorm", mx);
      // 4-5. z, per-head RMS norm, affine views.
      Value z = linear(mx, mp + "wz", /*withBias=*/true);
      Value zn = RmsNormOp::create(b, z, Value(), static_cast<uint64_t>(H),
                                   APFloat(c.norm_eps))
                     .getY();
      record(mp + "znorm", zn);
      Value zGamma = param(mp + "gamma"), zBeta = param(mp + "beta");
      if (megalodon) {
        // Megalodon has two views (q, k); pad to z_affine's four with zero
        // rows whose aq/ak results are unused (and folded away).
        zGamma = padViews(zGamma);
        zBeta = padViews(zBeta);
      }
      auto views =
          ZAffineOp::create(b, zn, zGamma, zBeta, static_cast<uint64_t>(dk));
      // 6-7. Gates.
      Value v = SiluOp::create(b, linear(xh, mp + "wv", true)).getY();
      Value r = SiluOp::create(b, linear(mx, mp + "wr", true)).getY();
      // 8. Attention on rotated q, k.
      const uint64_t ropeHeads = c.effectiveRopeHeads();
      Value q = views.getQ(), k = views.getK();
      // Megalodon restarts positions in every chunk and attends within the
      // chunk only (spec section 9).
      IntegerAttr restart = megalodon ? b.getI64IntegerAttr(C) : IntegerAttr();
      Value start = stream ? stream->position : Value();
      if (ropeHeads > 0) {
        q = RopeOp::create(b, q, start, H, ropeHeads, APFloat(c.rope_base),
                           /*inverse=*/false, restart)
                .getY();
        k = RopeOp::create(b, k, start, H, ropeHeads, APFloat(c.rope_base),
                           /*inverse=*/false, restart)
                .getY();
      }
      // In a stream the keys and values of the last 2C tokens (rotated
      // keys, spec 4.1) are the cache; the visibility rule of chunk_attention
      // ignores what lies outside the window.
      Value histK, histV, histSeg;
      const int64_t keep = 2 * c.chunk_size;
      if (stream) {
        auto sType = cast<RankedTensorType>(k.getType());
        auto vType = cast<RankedTensorType>(v.getType());
        histK = state(layer + ".hist.k",
                      RankedTensorType::get({B, keep, sType.getDimSize(2)},
                                            sType.getElementType()));
        histV = state(layer + ".hist.v",
                      RankedTensorType::get({B, keep, vType.getDimSize(2)},
                                            vType.getElementType()));
        auto segType = RankedTensorType::get({B, keep}, b.getI64Type());
        histSeg =
            freshOr(full(segType, -1), state(layer + ".hist.seg", segType));
        next(layer + ".hist.k", roll(histK, k, keep));
        next(layer + ".hist.v", roll(histV, v, keep));
        next(layer + ".hist.seg", roll(histSeg, segments, keep));
      }
      Value os = ChunkAttentionOp::create(b, q, k, v, segments, histK, histV,
                                          histSeg, start, H, C,
                                          /*local=*/megalodon)
                     .getO();
      record(mp + "sliding_chunk_attention", os);
      // 9-10. Working memory (Gecko only) and the gated combination.
      Value a = arith::MulFOp::create(b, os, r);
      if (!megalodon) {
        Value om =
            stream
                ? streamingMemory(views.getAq(), views.getAk(), v, histV,
                                  histSeg, layer)
                : WorkingMemoryOp::create(b, views.getAq(), views.getAk(), v,
                                          segments, Value(), Value(), Value(),
                                          Value(), Value(), Value(), H, C)
                      .getY();
        record(mp + "adaptive_working_memory", om);
        a = arith::AddFOp::create(b, a, om);
      }
      // 11-12. h = mx Wh1^T + b + a Wh2^T ; y = x + h.
      Value h = arith::AddFOp::create(b, linear(mx, mp + "wh1", true),
                                      linear(a, mp + "wh2", false));
      Value y = arith::AddFOp::create(b, x, h);
      record(layer + ".mega", y);
      // 13. Normalized FFN.
      Value lnWeight = c.norm_affine ? param(fp + "norm.weight") : Value();
      Value lnBias = c.norm_affine ? param(fp + "norm.bias") : Value();
      Value u =
          LayerNormOp::create(b, y, lnWeight, lnBias,
                              static_cast<uint64_t>(c.layernorm_num_groups),
                              APFloat(c.norm_eps))
              .getY();
      record(fp + "norm", u);
      Value hidden;
      if (c.swiglu)
        hidden = SwigluOp::create(b, linear(u, fp + "fc1", false),
                                  linear(u, fp + "fc3", false))
                     .getY();
      else
        hidden = SiluOp::create(b, linear(u, fp + "fc1", false)).getY();
      Value f = linear(hidden, fp + "fc2", false);
      if (c.rescale_nffn) {
        auto type = cast<RankedTensorType>(f.getType());
        f = arith::MulFOp::create(b, f,
                                  broadcast(param(fp + "alpha"), type, {0, 1}));
      }
      bool twoHop = megalodon || c.two_hop_residual;
      x = arith::AddFOp::create(b, f, twoHop ? x : y);
      record(layer + ".nffn", x);
      record(layer, x);
      tagBlock(mark, l);
    }
    Value xf = sequenceNorm(x, "output.final_norm", "final_norm");
    record("output.final_norm", xf);
    std::string outName = c.share_emb ? "embed.weight" : "output.output.weight";
    Value logits = LinearOp::create(b, xf, param(outName), Value()).getY();
    labelSince("output.head");
    return logits;
  }

  /// The working memory of a prefill (chunked form) or decode (step form)
  /// call. The memory state starts empty (M = 0, log-normaliser -inf) with
  /// the document sentinel -2, which no real segment id equals, so reads
  /// before the first absorption are masked to zero and the first real
  /// chunk resets it, as a fresh memory (spec 4.3 step 3).
  Value streamingMemory(Value aq, Value ak, Value v, Value histV, Value histSeg,
                        const std::string &layer) {
    const int64_t H = c.num_heads, C = c.chunk_size, keep = 2 * C;
    const int64_t dk = c.zHeadDim(), dv = c.vHeadDim();
    auto akType = cast<RankedTensorType>(ak.getType());
    Value histAk = state(layer + ".hist.ak",
                         RankedTensorType::get({B, keep, akType.getDimSize(2)},
                                               akType.getElementType()));
    next(layer + ".hist.ak", roll(histAk, ak, keep));
    Value memory =
        state(layer + ".memory.m", RankedTensorType::get({B, H, dk, dv}, ft));
    auto lnType = RankedTensorType::get(
        {B, H, dk}, logNormType ? logNormType : Type(b.getF32Type()));
    Value logNorm =
        freshOr(full(lnType, -std::numeric_limits<double>::infinity()),
                state(layer + ".memory.log_norm", lnType));
    auto docType = RankedTensorType::get({B}, b.getI64Type());
    Value doc =
        freshOr(full(docType, -2), state(layer + ".memory.doc", docType));

    Value y, memoryOut, logNormOut, docOut;
    if (L % C == 0) {
      // Prefill on a chunk boundary: the cached chunk is the last C rows of
      // the history.
      auto op = WorkingMemoryOp::create(
          b, aq, ak, v, segments, memory, logNorm,
          rows(histAk, b.getIndexAttr(C), b.getIndexAttr(C)),
          rows(histV, b.getIndexAttr(C), b.getIndexAttr(C)),
          rows(histSeg, b.getIndexAttr(C), b.getIndexAttr(C)), doc, H, C);
      y = op.getY();
      memoryOut = op.getMemoryOut();
      logNormOut = op.getLogNormOut();
      docOut = op.getDocMemOut();
    } else {
      // Decode: the cache is the P tokens since the last roll, P = s in the
      // first chunk and C + s mod C afterwards (spec 4.3 step 4).
      Value s = arith::IndexCastOp::create(
          b, b.getIndexType(),
          tensor::ExtractOp::create(b, stream->position, ValueRange{}));
      Value cC = arith::ConstantIndexOp::create(b, C);
      Value firstChunk =
          arith::CmpIOp::create(b, arith::CmpIPredicate::slt, s, cC);
      Value later =
          arith::AddIOp::create(b, cC, arith::RemSIOp::create(b, s, cC));
      Value P = arith::SelectOp::create(b, firstChunk, s, later);
      Value offset =
          arith::SubIOp::create(b, arith::ConstantIndexOp::create(b, keep), P);
      auto op = WorkingMemoryStepOp::create(
          b, aq, ak, v, segments, memory, logNorm, doc, rows(histAk, offset, P),
          rows(histV, offset, P), rows(histSeg, offset, P),
          static_cast<uint64_t>(H), static_cast<uint64_t>(C));
      y = op.getY();
      memoryOut = op.getMemoryOut();
      logNormOut = op.getLogNormOut();
      docOut = op.getDocMemOut();
    }
    next(layer + ".memory.m", memoryOut);
    next(layer + ".memory.log_norm", logNormOut);
    next(layer + ".memory.doc", docOut);
    return y;
  }

  /// The op before the insertion point (null at the start of the block).
  Operation *lastOp() {
    Block *block = b.getInsertionBlock();
    auto point = b.getInsertionPoint();
    return point == block->begin() ? nullptr : &*std::prev(point);
  }

  /// Tags the ops emitted after `mark` with `gecko.block = l`: the unit
  /// gecko-autodiff{remat=block} recomputes (docs/training.md).
  void tagBlock(Operation *mark, int64_t l) {
    Block *block = b.getInsertionBlock();
    auto it = mark ? std::next(mark->getIterator()) : block->begin();
    for (; it != b.getInsertionPoint(); ++it)
      it->setAttr(kBlockAttrName, b.getI64IntegerAttr(l));
  }

  /// B x L x D -> B x D x L (the layout of the reference's EMA output).
  Value transposeSeq(Value x) {
    auto type = cast<RankedTensorType>(x.getType());
    Value init = tensor::EmptyOp::create(b,
                                         ArrayRef<int64_t>{type.getDimSize(0),
                                                           type.getDimSize(2),
                                                           type.getDimSize(1)},
                                         type.getElementType());
    return linalg::TransposeOp::create(b, x, init, ArrayRef<int64_t>{0, 2, 1})
        .getResult()[0];
  }

  /// Megalodon's 2 x S view parameters padded with zero rows to 4 x S.
  Value padViews(Value views) {
    auto type = cast<RankedTensorType>(views.getType());
    auto zerosType = RankedTensorType::get({2, type.getDimSize(1)}, ft);
    Value zeros = arith::ConstantOp::create(
        b, zerosType,
        DenseElementsAttr::get(zerosType, b.getFloatAttr(ft, 0.0)));
    return tensor::ConcatOp::create(b, /*dim=*/0, ValueRange{views, zeros});
  }

  /// RMSNorm with Llama's plain weight convention (scale w, not 1 + w):
  /// the unweighted gecko.rms_norm times the broadcast weight.
  Value llamaRmsNorm(Value x, const std::string &name) {
    Value normed =
        RmsNormOp::create(b, x, Value(), 1, APFloat(c.norm_eps)).getY();
    auto type = cast<RankedTensorType>(normed.getType());
    return arith::MulFOp::create(b, normed,
                                 broadcast(param(name), type, {0, 1}));
  }

  /// Llama-style pre-norm transformer: full causal attention is
  /// chunk_attention with one chunk spanning the sequence.
  Value llamaLogits(Value tokens) {
    const int64_t D = c.model_dim, H = c.num_heads, d = D / H;
    Value x =
        EmbeddingOp::create(b, param("tok_embeddings.weight"), tokens, false)
            .getX();
    for (int64_t l = 0; l < c.num_layers; ++l) {
      Operation *mark = lastOp();
      const std::string pre = "layers." + std::to_string(l) + ".";
      Value n = llamaRmsNorm(x, pre + "attention_norm.weight");
      Value q = linear(n, pre + "attention.wq", false);
      Value k = linear(n, pre + "attention.wk", false);
      Value v = linear(n, pre + "attention.wv", false);
      q = RopeOp::create(b, q, Value(), H, H, APFloat(c.rope_base),
                         /*inverse=*/false, IntegerAttr())
              .getY();
      k = RopeOp::create(b, k, Value(), H, H, APFloat(c.rope_base),
                         /*inverse=*/false, IntegerAttr())
              .getY();
      // chunk_attention has scale 1: fold 1/sqrt(d) into q.
      q = arith::MulFOp::create(b, q, splatLike(q, 1.0 / std::sqrt(double(d))));
      Value o = ChunkAttentionOp::create(b, q, k, v, Value(), Value(), Value(),
                                         Value(), Value(), H,
                                         static_cast<uint64_t>(L))
                    .getO();
      Value h =
          arith::AddFOp::create(b, x, linear(o, pre + "attention.wo", false));
      Value m = llamaRmsNorm(h, pre + "ffn_norm.weight");
      Value hidden =
          SwigluOp::create(b, linear(m, pre + "feed_forward.w1", false),
                           linear(m, pre + "feed_forward.w3", false))
              .getY();
      x = arith::AddFOp::create(b, h,
                                linear(hidden, pre + "feed_forward.w2", false));
      tagBlock(mark, l);
    }
    Value xf = llamaRmsNorm(x, "norm.weight");
    std::string outName =
        c.share_emb ? "tok_embeddings.weight" : "output.weight";
    return LinearOp::create(b, xf, param(outName), Value()).getY();
  }

  ImplicitLocOpBuilder &b;
  const ModelConfig &c;
  int64_t B, L;
  std::map<std::string, Value> params;
  Type ft;             ///< the float type of parameters and activations
  Value bos, segments; // set when multi_segments (segments also in streams)

public:
  /// Set for prefill/decode functions.
  struct Stream {
    func::FuncOp func;
    Value position; ///< tensor<i64>: stream position of the call's token 0
    Value fresh;    ///< tensor<i1>: position == 0
    std::vector<std::pair<std::string, Value>> next;
  };
  Stream *stream = nullptr;
  /// Element type of the memory's log-normaliser state (null: f32).
  Type logNormType;

private:
public:
  /// Intermediate activations named like the golden files' `debug.*`
  /// tensors, recorded when BuildOptions::debugOutputs is set.
  std::vector<std::pair<std::string, Value>> debug;
  bool recordDebug = false;

private:
  void record(const std::string &name, Value value) {
    labelSince(name);
    if (recordDebug)
      debug.emplace_back("debug." + name + ".out", value);
  }

  /// Gives the ops emitted since the previous call the location
  /// NameLoc(name): lowerings keep an op's location, so generated kernels
  /// are named after the model step they come from and profiles can be
  /// summed per op (docs/cuda.md, "Where the time goes").
  void labelSince(const std::string &name) {
    Block *block = b.getInsertionBlock();
    auto it = labelMark ? std::next(labelMark->getIterator()) : block->begin();
    Location named = NameLoc::get(b.getStringAttr(name), b.getLoc());
    for (; it != b.getInsertionPoint(); ++it)
      if (it->getLoc() == b.getLoc())
        it->setLoc(named);
    labelMark = lastOp();
  }
  Operation *labelMark = nullptr; ///< The last op labelSince() labelled.
};

Status checkBuildable(const ModelConfig &c, const BuildOptions &o,
                      int64_t seqLen) {
  GECKO_RETURN_IF_ERROR(validateModelConfig(c));
  if (o.batch < 1)
    return invalidArgument("--batch must be at least 1 (got " +
                           std::to_string(o.batch) + ")");
  if (seqLen < 1)
    return invalidArgument("--seq-len must be at least 1 (got " +
                           std::to_string(seqLen) + ")");
  if (c.architecture != Architecture::Llama && seqLen % c.chunk_size != 0)
    return invalidArgument(
        "--seq-len " + std::to_string(seqLen) +
        " is not a multiple of chunk_size " + std::to_string(c.chunk_size) +
        " (training and forward calls cover whole chunks, spec section 4.2)");
  if (c.architecture == Architecture::Llama && c.num_kv_heads != c.num_heads)
    return unimplemented("num_kv_heads " + std::to_string(c.num_kv_heads) +
                         " != num_heads " + std::to_string(c.num_heads) +
                         ": grouped-query attention is not supported by the "
                         "IR builder yet");
  if (o.floatType != "f32" && o.floatType != "f64")
    return invalidArgument("float type '" + o.floatType +
                           "' is not supported (f32, f64)");
  bool streaming =
      std::find(o.modes.begin(), o.modes.end(), "prefill") != o.modes.end() ||
      std::find(o.modes.begin(), o.modes.end(), "decode") != o.modes.end() ||
      std::find(o.modes.begin(), o.modes.end(), "chunk_loss") != o.modes.end();
  if (streaming && c.architecture == Architecture::Llama)
    return unimplemented("streaming (prefill/decode/chunk_loss) is "
                         "implemented for the gecko and megalodon "
                         "architectures, not llama");
  if (o.prefillLen < 0 ||
      (o.prefillLen > 0 && o.prefillLen % c.chunk_size != 0))
    return invalidArgument("--prefill-len " + std::to_string(o.prefillLen) +
                           " is not a positive multiple of chunk_size " +
                           std::to_string(c.chunk_size) +
                           " (prefill calls start and end on chunk "
                           "boundaries, spec section 4.2)");
  if (o.modes.empty())
    return invalidArgument("no mode requested");
  for (const std::string &mode : o.modes) {
    const auto &known = buildableModes();
    if (std::find(known.begin(), known.end(), mode) == known.end())
      return invalidArgument(
          "unknown mode '" + mode +
          "' (known: forward, loss, prefill, decode, chunk_loss; "
          "gecko-compile adds train, generate and chunk-train)");
  }
  return Status::ok();
}

} // namespace

const std::vector<std::string> &buildableModes() {
  static const std::vector<std::string> modes = {"forward", "loss", "prefill",
                                                 "decode", "chunk_loss"};
  return modes;
}

int64_t defaultSeqLen(const ModelConfig &c) {
  if (c.architecture == Architecture::Llama)
    return c.max_seq_len;
  return 4 * c.chunk_size;
}

StatusOr<OwningOpRef<ModuleOp>> buildModelModule(MLIRContext &context,
                                                 const ModelConfig &config,
                                                 const BuildOptions &options) {
  const int64_t L = options.seqLen > 0 ? options.seqLen : defaultSeqLen(config);
  GECKO_RETURN_IF_ERROR(checkBuildable(config, options, L));
  context.loadDialect<mlir::gecko::GeckoDialect, arith::ArithDialect,
                      func::FuncDialect, linalg::LinalgDialect,
                      math::MathDialect, tensor::TensorDialect>();

  Location loc = FileLineColLoc::get(
      &context, std::string(architectureName(config.architecture)) + ".json", 0,
      0);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  ImplicitLocOpBuilder b(loc, &context);
  b.setInsertionPointToEnd(module->getBody());
  (*module)->setAttr(mlir::gecko::kModelConfigAttrName,
                     b.getStringAttr(config.toJson(-1)));
  (*module)->setAttr(
      mlir::gecko::kFrontendContractAttrName,
      b.getI64IntegerAttr(mlir::gecko::kFrontendContractVersion));

  const int64_t B = options.batch;
  Type floatType =
      options.floatType == "f64" ? Type(b.getF64Type()) : Type(b.getF32Type());
  const std::vector<ParamSpec> paramList = parameterList(config);
  auto rangeAttr = [&](int64_t hi) { return b.getDenseI64ArrayAttr({0, hi}); };

  for (const std::string &mode : options.modes) {
    // Streaming calls: prefill covers whole chunks, decode one token;
    // chunk_loss is prefill's computation over the --seq-len tokens of one
    // piece of a longer sequence plus the mean cross entropy over the
    // piece's targets (chunk parallelism, docs/distributed.md).
    const bool chunkLoss = mode == "chunk_loss";
    const bool withTargets = mode == "loss" || chunkLoss;
    const bool streaming = mode == "prefill" || mode == "decode" || chunkLoss;
    const int64_t Lm =
        mode == "prefill"
            ? options.prefillLen > 0 ? options.prefillLen : config.chunk_size
        : mode == "decode" ? 1
                           : L;
    auto tokenType = RankedTensorType::get({B, Lm}, b.getI64Type());
    // Inputs first, then parameters in state_dict order.
    SmallVector<Type> argTypes;
    SmallVector<DictionaryAttr> argAttrs;
    auto addInput = [&](const char *name, int64_t range) {
      argTypes.push_back(tokenType);
      argAttrs.push_back(b.getDictionaryAttr(
          {b.getNamedAttr(mlir::gecko::kInputAttrName, b.getStringAttr(name)),
           b.getNamedAttr(mlir::gecko::kRangeAttrName, rangeAttr(range))}));
    };
    addInput("input.tokens", config.vocab_size);
    if (withTargets)
      addInput("input.targets", config.effectiveOutputSize());
    size_t firstParam = argTypes.size();
    for (const ParamSpec &p : paramList) {
      Type element = p.isI64 ? Type(b.getI64Type()) : floatType;
      argTypes.push_back(RankedTensorType::get(p.shape, element));
      SmallVector<NamedAttribute> attrs = {
          b.getNamedAttr(kParamAttrName, b.getStringAttr(p.name)),
          b.getNamedAttr(kInitAttrName, initAttr(b, p.init))};
      if (p.isBuffer)
        attrs.push_back(b.getNamedAttr(kBufferAttrName, b.getUnitAttr()));
      argAttrs.push_back(b.getDictionaryAttr(attrs));
    }

    SmallVector<Type> resultTypes;
    SmallVector<DictionaryAttr> resultAttrs;
    if (!withTargets) {
      resultTypes.push_back(RankedTensorType::get(
          {B, Lm, config.effectiveOutputSize()}, floatType));
      resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(
          mlir::gecko::kOutputAttrName, b.getStringAttr("output.logits"))}));
    } else {
      resultTypes.push_back(RankedTensorType::get({}, floatType));
      resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(
          mlir::gecko::kOutputAttrName, b.getStringAttr("output.loss"))}));
    }

    auto func =
        func::FuncOp::create(b, mode, b.getFunctionType(argTypes, resultTypes));
    func.setAllArgAttrs(argAttrs);
    func.setAllResultAttrs(resultAttrs);
    Block *entry = func.addEntryBlock();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(entry);

    std::map<std::string, Value> params;
    for (size_t i = 0; i < paramList.size(); ++i)
      params[paramList[i].name] = entry->getArgument(firstParam + i);
    FunctionEmitter emitter(b, config, B, Lm, std::move(params), floatType);
    emitter.recordDebug = options.debugOutputs && !withTargets;
    // chunk_loss passes the memory's log-normaliser between pieces in the
    // model's float type (prefill keeps f32), so that f64 pieces compose
    // exactly.
    if (chunkLoss)
      emitter.logNormType = floatType;
    FunctionEmitter::Stream stream;
    if (streaming) {
      stream.func = func;
      auto i64Scalar = RankedTensorType::get({}, b.getI64Type());
      unsigned index = func.getNumArguments();
      (void)func.insertArgument(
          index, i64Scalar,
          b.getDictionaryAttr({b.getNamedAttr(
              kStateAttrName, b.getStringAttr("stream.position"))}),
          func.getLoc());
      stream.position = func.getArgument(index);
      Value zero = arith::ConstantOp::create(
          b, i64Scalar, DenseElementsAttr::get(i64Scalar, int64_t(0)));
      stream.fresh = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                           stream.position, zero);
      Value len = arith::ConstantOp::create(
          b, i64Scalar, DenseElementsAttr::get(i64Scalar, int64_t(Lm)));
      stream.next.emplace_back(
          "stream.position",
          arith::AddIOp::create(b, stream.position, len).getResult());
      emitter.stream = &stream;
    }
    Value logits = emitter.logits(entry->getArgument(0));
    SmallVector<Value> results = {logits};
    for (auto &[name, value] : stream.next) {
      results.push_back(value);
      resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(
          kOutputAttrName, b.getStringAttr(kNextPrefix + name))}));
    }
    if (withTargets)
      results[0] =
          CrossEntropyOp::create(b, logits, entry->getArgument(1)).getLoss();
    for (auto &[name, value] : emitter.debug) {
      results.push_back(value);
      resultAttrs.push_back(b.getDictionaryAttr(
          {b.getNamedAttr(kOutputAttrName, b.getStringAttr(name))}));
    }
    func::ReturnOp::create(b, results);
    SmallVector<Type> finalResultTypes;
    for (Value v : results)
      finalResultTypes.push_back(v.getType());
    func.setFunctionType(
        b.getFunctionType(func.getArgumentTypes(), finalResultTypes));
    func.setAllResultAttrs(resultAttrs);
  }

  if (failed(verify(*module)))
    return internalError("the IR builder produced IR that does not verify "
                         "(a bug; the diagnostics above say where)");
  return module;
}

} // namespace gecko::frontend
