//===- LowerAttentionOps.cpp - Lowering of the gecko attention family -----===//
//
// Patterns rewriting the attention family (docs/dialect.md#attention-family)
// into linalg, tensor, scf, arith and math. See LoweringUtils.h for the
// shared builders.
//
// Both ops are built from one "attention block": queries Q (B x Lq x S),
// keys K and values V (B x Lk x S / E) and a visibility mask (B x Lq x Lk,
// i1, shared by the heads). Heads are split by tensor.expand_shape
// (B x n x H x d, no copy) and every product is a linalg.generic contraction
// (batch dims b, h) accumulating in f32 (f64 for f64); the softmax is
// masked and max-subtracted in that type, masked entries are exactly 0 and
// a row without a visible key is 0 (guarded reciprocal).
//
// - Training form (no cache, no start, L = n_c C): an scf.for over chunks;
//   chunk c attends to the key window [max(c-1, 0) C, (c+1) C) clipped to L
//   (2C keys, or L for a single chunk) through extract_slice views, so the
//   score block is B x H x C x 2C, never L x L.
// - General form (cache and/or start): one block with all L queries against
//   [prev ; call] (P + L keys, built by a gather generic) and the
//   absolute-position rule of the docs; simple and exact for tail, decode
//   and prefill-with-cache calls.
// Outputs written into slices of a loop-carried tensor are produced by the
// P.V contraction accumulating into the (zero-filled) slice, so that
// bufferization writes in place instead of copying through a strided
// memref.copy. No elementwise generic reads its `outs` (see
// buildWeightedValues).
//
// S and E (the packed head widths) must be static; B, L and P may be
// dynamic.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::gecko {
namespace {

using namespace lowering;
using utils::IteratorType;

Value mulf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
Value addf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}
Value subf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}

/// x (B x n x H*d) viewed as B x n x H x d.
Value splitHeads(OpBuilder &b, Location loc, Value x, int64_t heads) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t width = type.getDimSize(2);
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<OpFoldResult> outShape = {
      sizes[0], sizes[1], b.getIndexAttr(heads), b.getIndexAttr(width / heads)};
  auto resultType = RankedTensorType::get(
      {type.getDimSize(0), type.getDimSize(1), heads, width / heads},
      type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, resultType, x,
                                       {{0}, {1}, {2, 3}}, outShape);
}

/// x (B x n x H x d) viewed as B x n x H*d.
Value mergeHeads(OpBuilder &b, Location loc, Value x) {
  return tensor::CollapseShapeOp::create(b, loc, x, {{0}, {1}, {2, 3}});
}

/// [0:B, offset:offset+size, 0:W] of a B x n x W tensor (or B x n).
Value sliceRows(OpBuilder &b, Location loc, Value x, OpFoldResult offset,
                OpFoldResult size) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[1] = offset;
  sizes[1] = size;
  return tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides);
}

Value insertRows(OpBuilder &b, Location loc, Value src, Value dest,
                 OpFoldResult offset) {
  auto type = cast<RankedTensorType>(dest.getType());
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, src);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[1] = offset;
  return tensor::InsertSliceOp::create(b, loc, src, dest, offsets, sizes,
                                       strides);
}

Value zeroFill(OpBuilder &b, Location loc, Value tensor) {
  Type type = cast<RankedTensorType>(tensor.getType()).getElementType();
  return linalg::FillOp::create(b, loc, floatConstant(b, loc, type, 0.0),
                                tensor)
      .getResult(0);
}

/// [prev ; x] along dimension 1 (B x P x W and B x L x W -> B x (P+L) x W),
/// as a gather generic: each element reads one of the two operands under an
/// scf.if, so no index is ever out of bounds (P may be 0).
Value concatRows(OpBuilder &b, Location loc, Value prev, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  OpFoldResult prevRows = getSizes(b, loc, prev)[1];
  Value P = getValueOrCreateConstantIndexOp(b, loc, prevRows);
  std::optional<int64_t> staticP = getConstantIntValue(prevRows);
  std::optional<int64_t> staticL = getConstantIntValue(sizes[1]);
  if (staticP && staticL) {
    sizes[1] = b.getIndexAttr(*staticP + *staticL);
  } else {
    Value L = getValueOrCreateConstantIndexOp(b, loc, sizes[1]);
    sizes[1] = arith::AddIOp::create(b, loc, P, L).getResult();
  }
  Value init = emptyTensor(b, loc, sizes, type.getElementType());
  return buildGeneric(
      b, loc, {}, {init}, {b.getMultiDimIdentityMap(rank)},
      parallelIterators(rank),
      [&](OpBuilder &nb, Location l, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < rank; ++d)
          idx.push_back(linalg::IndexOp::create(nb, l, d));
        Value inCache =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, idx[1], P);
        auto ifOp = scf::IfOp::create(
            nb, l, inCache,
            [&](OpBuilder &tb, Location tl) {
              Value v = tensor::ExtractOp::create(tb, tl, prev, idx);
              scf::YieldOp::create(tb, tl, v);
            },
            [&](OpBuilder &eb, Location el) {
              SmallVector<Value> shifted = idx;
              shifted[1] = arith::SubIOp::create(eb, el, idx[1], P);
              Value v = tensor::ExtractOp::create(eb, el, x, shifted);
              scf::YieldOp::create(eb, el, v);
            });
        return {ifOp.getResult(0)};
      })[0];
}

/// Rows [offset, offset + size) of x (B x n x W) converted to `type`, as a
/// fresh tensor built by a gather generic. (A plain extract_slice would be
/// returned as a strided view, which bufferization copies with a strided
/// memref.copy, i.e. a call into the MLIR runtime library.)
Value copyRows(OpBuilder &b, Location loc, Value x, OpFoldResult offset,
               OpFoldResult size, Type type) {
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  sizes[1] = size;
  Value init = emptyTensor(b, loc, sizes, type);
  Value off = getValueOrCreateConstantIndexOp(b, loc, offset);
  return buildGeneric(
      b, loc, {}, {init}, {b.getMultiDimIdentityMap(3)}, parallelIterators(3),
      [&](OpBuilder &nb, Location l, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < 3; ++d)
          idx.push_back(linalg::IndexOp::create(nb, l, d));
        idx[1] = arith::AddIOp::create(nb, l, idx[1], off);
        Value v = tensor::ExtractOp::create(nb, l, x, idx);
        return {castFloat(nb, l, v, type)};
      })[0];
}

/// The visibility mask (B x Lq x Lk, i1) of docs/dialect.md: query t is at
/// tau = tauBase + t and key j at pi = piBase + j; pi is visible iff
/// floor(tau / C) C - C <= pi <= tau and,
/// with segments, segQ[t] == segK[j].
Value buildMask(OpBuilder &b, Location loc, OpFoldResult batch, OpFoldResult lq,
                OpFoldResult lk, Value tauBase, Value piBase, int64_t chunk,
                bool local, Value segQ, Value segK) {
  MLIRContext *ctx = b.getContext();
  Value init = emptyTensor(b, loc, {batch, lq, lk}, b.getI1Type());
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  if (segQ) {
    ins = {segQ, segK};
    maps = {dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {0, 2})};
  }
  maps.push_back(b.getMultiDimIdentityMap(3));
  return buildGeneric(
      b, loc, ins, {init}, maps, parallelIterators(3),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value tau = arith::AddIOp::create(nb, l, tauBase,
                                          linalg::IndexOp::create(nb, l, 1));
        Value pi = arith::AddIOp::create(nb, l, piBase,
                                         linalg::IndexOp::create(nb, l, 2));
        Value c = indexConstant(nb, l, chunk);
        // Window start: the previous chunk, or (local) the query's own.
        Value lo = arith::MulIOp::create(
            nb, l, arith::FloorDivSIOp::create(nb, l, tau, c), c);
        if (!local)
          lo = arith::SubIOp::create(nb, l, lo, c);
        Value visible = arith::AndIOp::create(
            nb, l,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, pi, lo),
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sle, pi, tau));
        if (segQ)
          visible = arith::AndIOp::create(
              nb, l, visible,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, args[0],
                                    args[1]));
        return {visible};
      })[0];
}

/// The masked softmax P (B x H x Lq x Lk, compute type) of an attention
/// block with heads split: q4 (B x Lq x H x dk), k4 (B x Lk x H x dk).
Value buildProbabilities(OpBuilder &b, Location loc, Value q4, Value k4,
                         Value mask, Type ct) {
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> qs = getSizes(b, loc, q4),
                            ks = getSizes(b, loc, k4);
  // Scores S[b,h,t,j] = Sum_i q[b,t,h,i] k[b,j,h,i]; loops (b,h,t,j,i).
  Value scores = filledTensor(b, loc, {qs[0], qs[2], qs[1], ks[1]}, ct, 0.0);
  scores = buildGeneric(
      b, loc, {q4, k4}, {scores},
      {dimsMap(ctx, 5, {0, 2, 1, 4}), dimsMap(ctx, 5, {0, 3, 1, 4}),
       dimsMap(ctx, 5, {0, 1, 2, 3})},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
       IteratorType::parallel, IteratorType::reduction},
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value prod = mulf(nb, l, castFloat(nb, l, args[0], ct),
                          castFloat(nb, l, args[1], ct));
        return {addf(nb, l, args[2], prod)};
      })[0];

  // Row max over the visible keys (-inf for an empty row); loops (b,h,t,j).
  AffineMap bhtj = b.getMultiDimIdentityMap(4);
  AffineMap btj = dimsMap(ctx, 4, {0, 2, 3});
  AffineMap bht = dimsMap(ctx, 4, {0, 1, 2});
  SmallVector<IteratorType> rowReduction = {
      IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
      IteratorType::reduction};
  double negInf = -std::numeric_limits<double>::infinity();
  Value rowMax = filledTensor(b, loc, {qs[0], qs[2], qs[1]}, ct, negInf);
  rowMax = buildGeneric(
      b, loc, {scores, mask}, {rowMax}, {bhtj, btj, bht}, rowReduction,
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value s = arith::SelectOp::create(nb, l, args[1], args[0],
                                          floatConstant(nb, l, ct, negInf));
        return {arith::MaximumFOp::create(nb, l, args[2], s)};
      })[0];

  // E = exp(S - max) on visible entries, exactly 0 elsewhere.
  Value expInit = emptyTensorLike(b, loc, scores);
  Value expo = buildGeneric(
      b, loc, {scores, rowMax, mask}, {expInit}, {bhtj, bht, btj, bhtj},
      parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value e = math::ExpOp::create(nb, l, subf(nb, l, args[0], args[1]));
        return {arith::SelectOp::create(nb, l, args[2], e,
                                        floatConstant(nb, l, ct, 0.0))};
      })[0];
  Value rowSum = filledTensor(b, loc, {qs[0], qs[2], qs[1]}, ct, 0.0);
  rowSum = buildGeneric(
      b, loc, {expo}, {rowSum}, {bhtj, bht}, rowReduction,
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {addf(nb, l, args[1], args[0])};
      })[0];
  // P = E / sum, or 0 when the row is empty (sum = 0).
  Value pInit = emptyTensorLike(b, loc, scores);
  return buildGeneric(
      b, loc, {expo, rowSum}, {pInit}, {bhtj, bht, bhtj}, parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        Value zero = floatConstant(nb, l, ct, 0.0);
        Value positive = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                               args[1], zero);
        Value p = arith::DivFOp::create(nb, l, args[0], args[1]);
        return {arith::SelectOp::create(nb, l, positive, p, zero)};
      })[0];
}

/// o4 = Sum_j P[b,h,t,j] v4[b,j,h,e] over loops (b,t,h,e,j), written into
/// `out4` (B x Lq x H x dv, zero-filled), rounded to its element type. In
/// the compute type the contraction accumulates straight into out4, so that
/// a slice of a loop-carried tensor is updated in place; otherwise it
/// accumulates in a compute-type tensor and one elementwise generic rounds
/// it into out4 without reading out4, so that it can still fuse into the
/// output projection (upstream's linalg-fuse-elementwise-ops miscompiles an
/// elementwise generic that reads its `outs` fused into a consumer with more
/// loops; gecko-fuse-elementwise refuses that fusion, docs/lowering.md).
Value buildWeightedValues(OpBuilder &b, Location loc, Value p, Value v4,
                          Value out4, Type ct) {
  MLIRContext *ctx = b.getContext();
  Type outType = cast<RankedTensorType>(out4.getType()).getElementType();
  Value acc = outType == ct
                  ? out4
                  : filledTensor(b, loc, getSizes(b, loc, out4), ct, 0.0);
  acc = buildGeneric(
      b, loc, {p, v4}, {acc},
      {dimsMap(ctx, 5, {0, 2, 1, 4}), dimsMap(ctx, 5, {0, 4, 2, 3}),
       dimsMap(ctx, 5, {0, 1, 2, 3})},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
       IteratorType::parallel, IteratorType::reduction},
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {addf(nb, l, args[2],
                     mulf(nb, l, args[0], castFloat(nb, l, args[1], ct)))};
      })[0];
  if (outType == ct)
    return acc;
  AffineMap id = b.getMultiDimIdentityMap(4);
  return buildGeneric(
      b, loc, {acc}, {out4}, {id, id}, parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {castFloat(nb, l, args[0], outType)};
      })[0];
}

/// Gradients of one block, accumulated into dq4 (B x Lq x H x dk), dk4
/// (B x Lk x H x dk) and dv4 (B x Lk x H x dv), all in the compute type:
///   dV += P^T dO ; dP = dO V^T ; dS = P (dP - rowsum(P dP))
///   dQ += dS K ;   dK += dS^T Q
struct BlockGrads {
  Value dq4, dk4, dv4;
};
BlockGrads buildBlockGrads(OpBuilder &b, Location loc, Value p, Value q4,
                           Value k4, Value v4, Value do4, BlockGrads acc,
                           Type ct) {
  MLIRContext *ctx = b.getContext();
  SmallVector<IteratorType> contraction = {
      IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
      IteratorType::parallel, IteratorType::reduction};
  auto fma = [&](OpBuilder &nb, Location l,
                 ValueRange args) -> SmallVector<Value> {
    return {addf(nb, l, args[2],
                 mulf(nb, l, castFloat(nb, l, args[0], ct),
                      castFloat(nb, l, args[1], ct)))};
  };
  // dV[b,j,h,e] += Sum_t P[b,h,t,j] dO[b,t,h,e]; loops (b,j,h,e,t).
  BlockGrads out;
  out.dv4 = buildGeneric(b, loc, {p, do4}, {acc.dv4},
                         {dimsMap(ctx, 5, {0, 2, 4, 1}),
                          dimsMap(ctx, 5, {0, 4, 2, 3}),
                          dimsMap(ctx, 5, {0, 1, 2, 3})},
                         contraction, fma)[0];
  // dP[b,h,t,j] = Sum_e dO[b,t,h,e] v[b,j,h,e]; loops (b,h,t,j,e).
  SmallVector<OpFoldResult> ps = getSizes(b, loc, p);
  Value dP = filledTensor(b, loc, ps, ct, 0.0);
  dP = buildGeneric(b, loc, {do4, v4}, {dP},
                    {dimsMap(ctx, 5, {0, 2, 1, 4}),
                     dimsMap(ctx, 5, {0, 3, 1, 4}),
                     dimsMap(ctx, 5, {0, 1, 2, 3})},
                    contraction, fma)[0];
  // rowsum(P dP) over j, then dS = P (dP - rowsum).
  AffineMap bhtj = b.getMultiDimIdentityMap(4);
  AffineMap bht = dimsMap(ctx, 4, {0, 1, 2});
  Value rows = filledTensor(b, loc, {ps[0], ps[1], ps[2]}, ct, 0.0);
  rows = buildGeneric(
      b, loc, {p, dP}, {rows}, {bhtj, bhtj, bht},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
       IteratorType::reduction},
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {addf(nb, l, args[2], mulf(nb, l, args[0], args[1]))};
      })[0];
  Value dS = buildGeneric(
      b, loc, {p, dP, rows}, {emptyTensorLike(b, loc, p)},
      {bhtj, bhtj, bht, bhtj}, parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange args) -> SmallVector<Value> {
        return {mulf(nb, l, args[0], subf(nb, l, args[1], args[2]))};
      })[0];
  // dQ[b,t,h,i] += Sum_j dS[b,h,t,j] k[b,j,h,i]; loops (b,t,h,i,j).
  out.dq4 = buildGeneric(b, loc, {dS, k4}, {acc.dq4},
                         {dimsMap(ctx, 5, {0, 2, 1, 4}),
                          dimsMap(ctx, 5, {0, 4, 2, 3}),
                          dimsMap(ctx, 5, {0, 1, 2, 3})},
                         contraction, fma)[0];
  // dK[b,j,h,i] += Sum_t dS[b,h,t,j] q[b,t,h,i]; loops (b,j,h,i,t).
  out.dk4 = buildGeneric(b, loc, {dS, q4}, {acc.dk4},
                         {dimsMap(ctx, 5, {0, 2, 4, 1}),
                          dimsMap(ctx, 5, {0, 4, 2, 3}),
                          dimsMap(ctx, 5, {0, 1, 2, 3})},
                         contraction, fma)[0];
  return out;
}

/// x converted elementwise to `type` (a fresh tensor).
Value convertTo(OpBuilder &b, Location loc, Value x, Type type) {
  return buildElementwise(b, loc, x, type,
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return castFloat(nb, l, args[0], type);
                          });
}

/// Operands shared by chunk_attention and chunk_attention_grad.
struct AttentionOperands {
  Value q, k, v, segments, prevK, prevV, prevSegments, start;
  int64_t heads, chunk;
  Type elementType, computeType;
  /// Block-diagonal (Megalodon) form: a chunk sees only itself.
  bool local = false;
  bool trainingForm() const { return !prevK && !start; }
};

LogicalResult checkOperands(Operation *op, ConversionPatternRewriter &rewriter,
                            const AttentionOperands &a) {
  auto qType = cast<RankedTensorType>(a.q.getType());
  auto vType = cast<RankedTensorType>(a.v.getType());
  if (qType.isDynamicDim(2) || vType.isDynamicDim(2))
    return rewriter.notifyMatchFailure(
        op, "the head widths S and E must be static");
  if (a.heads < 1 || a.chunk < 1)
    return rewriter.notifyMatchFailure(op, "bad heads or chunk size");
  return success();
}

/// The absolute position of the call's first token (0 without `start`).
Value startPosition(OpBuilder &b, Location loc, const AttentionOperands &a) {
  if (!a.start)
    return indexConstant(b, loc, 0);
  Value s = tensor::ExtractOp::create(b, loc, a.start, ValueRange{});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), s);
}

/// Keys, values, key segments and the mask of the general form, whose
/// block is all L queries against [prev ; call].
struct GeneralBlock {
  Value keys, values, mask;
  OpFoldResult P; // cache length (static when known)
};
GeneralBlock buildGeneralBlock(OpBuilder &b, Location loc,
                               const AttentionOperands &a) {
  GeneralBlock g;
  Value s = startPosition(b, loc, a);
  Value segK = a.segments;
  if (a.prevK) {
    g.keys = concatRows(b, loc, a.prevK, a.k);
    g.values = concatRows(b, loc, a.prevV, a.v);
    if (a.segments)
      segK = concatRows(b, loc, a.prevSegments, a.segments);
    g.P = getSizes(b, loc, a.prevK)[1];
  } else {
    g.keys = a.k;
    g.values = a.v;
    g.P = b.getIndexAttr(0);
  }
  SmallVector<OpFoldResult> qs = getSizes(b, loc, a.q);
  Value piBase = arith::SubIOp::create(
      b, loc, s, getValueOrCreateConstantIndexOp(b, loc, g.P));
  g.mask = buildMask(b, loc, qs[0], qs[1], getSizes(b, loc, g.keys)[1], s,
                     piBase, a.chunk, a.local, a.segments, segK);
  return g;
}

/// The key window of chunk c in the training form: offset max(c-1, 0) C,
/// size min(2C, L); with `local`, offset c C and size C.
std::pair<Value, OpFoldResult> trainingWindow(OpBuilder &b, Location loc,
                                              const AttentionOperands &a,
                                              Value c) {
  Value C = indexConstant(b, loc, a.chunk);
  if (a.local) // Only the chunk itself (training form: L is a multiple of C).
    return {arith::MulIOp::create(b, loc, c, C).getResult(),
            b.getIndexAttr(a.chunk)};
  Value zero = indexConstant(b, loc, 0);
  Value cm1 = arith::SubIOp::create(b, loc, c, indexConstant(b, loc, 1));
  Value offset = arith::MulIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, cm1, zero), C);
  auto qType = cast<RankedTensorType>(a.q.getType());
  OpFoldResult size;
  if (!qType.isDynamicDim(1)) {
    size = b.getIndexAttr(std::min<int64_t>(2 * a.chunk, qType.getDimSize(1)));
  } else {
    Value L = tensor::DimOp::create(b, loc, a.q, 1);
    size = arith::MinSIOp::create(b, loc, L, indexConstant(b, loc, 2 * a.chunk))
               .getResult();
  }
  return {offset, size};
}

template <typename OpTy, typename AdaptorTy>
AttentionOperands getOperands(OpTy op, AdaptorTy adaptor) {
  AttentionOperands a{adaptor.getQ(),
                      adaptor.getK(),
                      adaptor.getV(),
                      adaptor.getSegments(),
                      adaptor.getPrevK(),
                      adaptor.getPrevV(),
                      adaptor.getPrevSegments(),
                      adaptor.getStart(),
                      int64_t(op.getNumHeads()),
                      int64_t(op.getChunkSize()),
                      {},
                      {}};
  a.local = op.getLocal();
  a.elementType = cast<RankedTensorType>(a.q.getType()).getElementType();
  a.computeType = getComputeType(a.elementType);
  return a;
}

struct LowerChunkAttention : OpConversionPattern<ChunkAttentionOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ChunkAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    AttentionOperands a = getOperands(op, adaptor);
    if (failed(checkOperands(op, rewriter, a)))
      return failure();
    Type ct = a.computeType;
    int64_t H = a.heads;

    if (!a.trainingForm()) {
      GeneralBlock g = buildGeneralBlock(rewriter, loc, a);
      Value p =
          buildProbabilities(rewriter, loc, splitHeads(rewriter, loc, a.q, H),
                             splitHeads(rewriter, loc, g.keys, H), g.mask, ct);
      Value out4 = zeroFill(
          rewriter, loc,
          splitHeads(rewriter, loc, emptyTensorLike(rewriter, loc, a.v), H));
      Value o4 = buildWeightedValues(
          rewriter, loc, p, splitHeads(rewriter, loc, g.values, H), out4, ct);
      rewriter.replaceOp(op, mergeHeads(rewriter, loc, o4));
      return success();
    }

    // Training form: one block per chunk.
    Value C = indexConstant(rewriter, loc, a.chunk);
    Value L = getValueOrCreateConstantIndexOp(rewriter, loc,
                                              getSizes(rewriter, loc, a.q)[1]);
    Value numChunks = arith::DivUIOp::create(rewriter, loc, L, C);
    OpFoldResult batch = getSizes(rewriter, loc, a.q)[0];
    Value o0 = emptyTensorLike(rewriter, loc, a.v);
    auto loop = scf::ForOp::create(
        rewriter, loc, indexConstant(rewriter, loc, 0), numChunks,
        indexConstant(rewriter, loc, 1), ValueRange{o0},
        [&](OpBuilder &b, Location l, Value c, ValueRange iter) {
          Value qOffset = arith::MulIOp::create(b, l, c, C);
          OpFoldResult chunkSize = b.getIndexAttr(a.chunk);
          auto [kOffset, kSize] = trainingWindow(b, l, a, c);
          Value qBlock = sliceRows(b, l, a.q, qOffset, chunkSize);
          Value kBlock = sliceRows(b, l, a.k, kOffset, kSize);
          Value vBlock = sliceRows(b, l, a.v, kOffset, kSize);
          Value segQ, segK;
          if (a.segments) {
            segQ = sliceRows(b, l, a.segments, qOffset, chunkSize);
            segK = sliceRows(b, l, a.segments, kOffset, kSize);
          }
          Value mask = buildMask(b, l, batch, chunkSize, kSize, qOffset,
                                 kOffset, a.chunk, a.local, segQ, segK);
          Value p = buildProbabilities(b, l, splitHeads(b, l, qBlock, H),
                                       splitHeads(b, l, kBlock, H), mask, ct);
          Value oSlice = sliceRows(b, l, iter[0], qOffset, chunkSize);
          Value out4 = zeroFill(b, l, splitHeads(b, l, oSlice, H));
          Value o4 = buildWeightedValues(b, l, p, splitHeads(b, l, vBlock, H),
                                         out4, ct);
          Value o = insertRows(b, l, mergeHeads(b, l, o4), iter[0], qOffset);
          scf::YieldOp::create(b, l, o);
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

struct LowerChunkAttentionGrad : OpConversionPattern<ChunkAttentionGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ChunkAttentionGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    AttentionOperands a = getOperands(op, adaptor);
    if (failed(checkOperands(op, rewriter, a)))
      return failure();
    Value dout = adaptor.getDout();
    Type ct = a.computeType, et = a.elementType;
    int64_t H = a.heads;
    auto zeros = [&](Value like) {
      return filledTensor(rewriter, loc, getSizes(rewriter, loc, like), ct,
                          0.0);
    };

    if (!a.trainingForm()) {
      GeneralBlock g = buildGeneralBlock(rewriter, loc, a);
      Value q4 = splitHeads(rewriter, loc, a.q, H);
      Value k4 = splitHeads(rewriter, loc, g.keys, H);
      Value v4 = splitHeads(rewriter, loc, g.values, H);
      Value p = buildProbabilities(rewriter, loc, q4, k4, g.mask, ct);
      BlockGrads acc{splitHeads(rewriter, loc, zeros(a.q), H),
                     splitHeads(rewriter, loc, zeros(g.keys), H),
                     splitHeads(rewriter, loc, zeros(g.values), H)};
      BlockGrads r =
          buildBlockGrads(rewriter, loc, p, q4, k4, v4,
                          splitHeads(rewriter, loc, dout, H), acc, ct);
      Value dK = mergeHeads(rewriter, loc, r.dk4);
      Value dV = mergeHeads(rewriter, loc, r.dv4);
      OpFoldResult L = getSizes(rewriter, loc, a.q)[1];
      SmallVector<Value> results = {
          convertTo(rewriter, loc, mergeHeads(rewriter, loc, r.dq4), et),
          copyRows(rewriter, loc, dK, g.P, L, et),
          copyRows(rewriter, loc, dV, g.P, L, et)};
      if (a.prevK) {
        OpFoldResult zero = rewriter.getIndexAttr(0);
        results.push_back(copyRows(rewriter, loc, dK, zero, g.P, et));
        results.push_back(copyRows(rewriter, loc, dV, zero, g.P, et));
      }
      rewriter.replaceOp(op, results);
      return success();
    }

    // Training form: chunk c adds to dq of its rows and to dk, dv of its key
    // window (chunks c-1 and c), accumulated in the compute type.
    Value C = indexConstant(rewriter, loc, a.chunk);
    Value L = getValueOrCreateConstantIndexOp(rewriter, loc,
                                              getSizes(rewriter, loc, a.q)[1]);
    Value numChunks = arith::DivUIOp::create(rewriter, loc, L, C);
    OpFoldResult batch = getSizes(rewriter, loc, a.q)[0];
    auto loop = scf::ForOp::create(
        rewriter, loc, indexConstant(rewriter, loc, 0), numChunks,
        indexConstant(rewriter, loc, 1),
        ValueRange{zeros(a.q), zeros(a.k), zeros(a.v)},
        [&](OpBuilder &b, Location l, Value c, ValueRange iter) {
          Value qOffset = arith::MulIOp::create(b, l, c, C);
          OpFoldResult chunkSize = b.getIndexAttr(a.chunk);
          auto [kOffset, kSize] = trainingWindow(b, l, a, c);
          Value q4 =
              splitHeads(b, l, sliceRows(b, l, a.q, qOffset, chunkSize), H);
          Value k4 = splitHeads(b, l, sliceRows(b, l, a.k, kOffset, kSize), H);
          Value v4 = splitHeads(b, l, sliceRows(b, l, a.v, kOffset, kSize), H);
          Value do4 =
              splitHeads(b, l, sliceRows(b, l, dout, qOffset, chunkSize), H);
          Value segQ, segK;
          if (a.segments) {
            segQ = sliceRows(b, l, a.segments, qOffset, chunkSize);
            segK = sliceRows(b, l, a.segments, kOffset, kSize);
          }
          Value mask = buildMask(b, l, batch, chunkSize, kSize, qOffset,
                                 kOffset, a.chunk, a.local, segQ, segK);
          Value p = buildProbabilities(b, l, q4, k4, mask, ct);
          BlockGrads acc{
              splitHeads(b, l, sliceRows(b, l, iter[0], qOffset, chunkSize), H),
              splitHeads(b, l, sliceRows(b, l, iter[1], kOffset, kSize), H),
              splitHeads(b, l, sliceRows(b, l, iter[2], kOffset, kSize), H)};
          BlockGrads r = buildBlockGrads(b, l, p, q4, k4, v4, do4, acc, ct);
          scf::YieldOp::create(
              b, l,
              ValueRange{
                  insertRows(b, l, mergeHeads(b, l, r.dq4), iter[0], qOffset),
                  insertRows(b, l, mergeHeads(b, l, r.dk4), iter[1], kOffset),
                  insertRows(b, l, mergeHeads(b, l, r.dv4), iter[2], kOffset)});
        });
    rewriter.replaceOp(op, {convertTo(rewriter, loc, loop.getResult(0), et),
                            convertTo(rewriter, loc, loop.getResult(1), et),
                            convertTo(rewriter, loc, loop.getResult(2), et)});
    return success();
  }
};

} // namespace

void populateGeckoAttentionLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerChunkAttention, LowerChunkAttentionGrad>(
      patterns.getContext());
}

} // namespace mlir::gecko
