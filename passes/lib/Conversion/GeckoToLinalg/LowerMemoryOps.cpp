//===- LowerMemoryOps.cpp - Lowering of the gecko memory family ---------===//
//
// Patterns rewriting the memory family (docs/dialect.md: working_memory,
// working_memory_step, working_memory_grad) into linalg, tensor, scf, arith
// and math. See LoweringUtils.h for the shared builders.
//
// Layout: aq/ak (B x L x S) and v (B x L x E) are viewed as B x L x H x d
// with tensor.expand_shape, so heads never need a transpose; every
// contraction is a linalg.generic whose indexing maps pick the head axes.
//
// Everything that does not depend on the memory is computed up front with
// parallel linalg ops over the whole call: the feature softmaxes P and F,
// and, per absorbed chunk, the time softmax A and the logsumexp l over the
// valid rows (the valid set depends only on the segment ids). Only the
// recurrence itself (read Y_c = P_c M, reset, Lambda/rho, R = V - F M,
// U = A R, M += rho (U - M)) runs in an scf.for over the chunks, each step
// a handful of linalg ops over all (b, h) at once.
//
// Numerics follow the reference (spec section 3.8, "Precision"): softmaxes,
// logsumexps and the statistics accumulate in the compute type (f32, f64 for
// f64), the feature maps, A, R and the memory M are stored in the activation
// type T between steps (M is rounded to T after every absorption, as the
// reference keeps it in T), and Lambda is stored in the log_norm type and
// updated in the wider of that type and the compute type.
//
// Bufferization (the CPU pipeline's one-shot-bufferize): loop-carried
// values are updated in place (each is the `outs` of the last op writing
// it, read through its block argument), as scf.for requires yields
// equivalent to its iteration arguments; the incoming state is first copied
// (linalg.copy) so that the caller's buffers are never written; and no
// strided slice reaches a copy (concatenations and id columns are gathered
// with tensor.extract inside linalg.generic), because a strided memref.copy
// lowers to a runtime call the kernels do not link.
//
// Shapes: all operands must be statically shaped, except the cache length
// P of working_memory_step (dimension 1 of prev_ak/prev_v/prev_segments),
// which is usually dynamic in a decode loop; other dynamic dimensions make
// the pattern fail (the pass then reports the op by name).
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
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::gecko {
namespace {

using namespace lowering;
using utils::IteratorType;

constexpr IteratorType kPar = IteratorType::parallel;
constexpr IteratorType kRed = IteratorType::reduction;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

SmallVector<OpFoldResult> indexAttrs(OpBuilder &b, ArrayRef<int64_t> values) {
  SmallVector<OpFoldResult> result;
  for (int64_t v : values)
    result.push_back(b.getIndexAttr(v));
  return result;
}

Value staticEmpty(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  Type elementType) {
  return emptyTensor(b, loc, indexAttrs(b, shape), elementType);
}

Value staticFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   Type elementType, double value) {
  return filledTensor(b, loc, indexAttrs(b, shape), elementType, value);
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

Type elementTypeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getElementType();
}

/// B x L x (H*d) -> B x L x H x d.
Value splitHeads(OpBuilder &b, Location loc, Value x, int64_t heads) {
  ArrayRef<int64_t> s = shapeOf(x);
  auto type = RankedTensorType::get({s[0], s[1], heads, s[2] / heads},
                                    elementTypeOf(x));
  return tensor::ExpandShapeOp::create(b, loc, type, x, {{0}, {1}, {2, 3}});
}

/// B x L x H x d -> B x L x (H*d).
Value mergeHeads(OpBuilder &b, Location loc, Value x) {
  return tensor::CollapseShapeOp::create(b, loc, x, {{0}, {1}, {2, 3}});
}

/// A static slice of `x` along dimension `dim` (offset, size); full
/// elsewhere, same rank.
Value sliceDim(OpBuilder &b, Location loc, Value x, unsigned dim,
               OpFoldResult offset, int64_t size) {
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
  offsets[dim] = offset;
  sizes[dim] = b.getIndexAttr(size);
  return tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides);
}

/// The slice of `x` at `index` along `dim`, with that dimension dropped.
Value sliceDropDim(OpBuilder &b, Location loc, Value x, unsigned dim,
                   OpFoldResult index) {
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = indexAttrs(b, shape);
  SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
  offsets[dim] = index;
  sizes[dim] = b.getIndexAttr(1);
  SmallVector<int64_t> reduced(shape);
  reduced.erase(reduced.begin() + dim);
  auto type = RankedTensorType::get(reduced, elementTypeOf(x));
  return tensor::ExtractSliceOp::create(b, loc, type, x, offsets, sizes,
                                        strides);
}

/// Inserts `src` into `dest` at `offset` along `dim` (0 elsewhere).
Value insertDim(OpBuilder &b, Location loc, Value src, Value dest, unsigned dim,
                OpFoldResult offset) {
  ArrayRef<int64_t> shape = shapeOf(src);
  SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
  offsets[dim] = offset;
  return tensor::InsertSliceOp::create(b, loc, src, dest, offsets,
                                       getSizes(b, loc, src), strides);
}

/// A copy of `x` in a fresh tensor (linalg.copy, which the canonicalisations
/// keep). The recurrences update M and Lambda in place; without this, an
/// incoming state that is a function argument would be bufferized in place
/// and the kernel would overwrite its caller's input buffer (function
/// arguments are writable under one-shot bufferization's defaults).
Value freshCopy(OpBuilder &b, Location loc, Value x) {
  return linalg::CopyOp::create(b, loc, x, emptyTensorLike(b, loc, x))
      .getResult(0);
}

/// The wider of two float types.
Type widerFloat(Type a, Type b) {
  return cast<FloatType>(a).getWidth() >= cast<FloatType>(b).getWidth() ? a : b;
}

//===----------------------------------------------------------------------===//
// AWM building blocks
//===----------------------------------------------------------------------===//

/// Element types of one AWM lowering.
struct AwmTypes {
  Type elem;       ///< T: activations, M, feature maps, A, R
  Type compute;    ///< accumulation type of everything in T
  Type lam;        ///< storage type of Lambda (log_norm)
  Type lamCompute; ///< type the Lambda/rho update is computed in
};

AwmTypes getAwmTypes(Type elem, Type lam) {
  AwmTypes t;
  t.elem = elem;
  t.compute = getComputeType(elem);
  t.lam = lam;
  t.lamCompute = widerFloat(t.compute, lam);
  return t;
}

/// softmax over the last dimension of a rank-4 tensor x (B x L x H x d),
/// max-shifted, accumulated in the compute type, result in T.
Value featureSoftmax(OpBuilder &b, Location loc, Value x, const AwmTypes &t) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<int64_t> rowShape(shape.drop_back());
  AffineMap id = b.getMultiDimIdentityMap(4);
  AffineMap row = dimsMap(ctx, 4, {0, 1, 2});
  SmallVector<IteratorType> reduceIters = {kPar, kPar, kPar, kRed};
  Type ct = t.compute;
  Value maxInit = staticFilled(b, loc, rowShape, ct, -INFINITY);
  Value rowMax = buildGeneric(
      b, loc, x, maxInit, {id, row}, reduceIters,
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value v = castFloat(nb, l, a[0], ct);
        return {arith::MaximumFOp::create(nb, l, v, a[1])};
      })[0];
  Value sumInit = staticFilled(b, loc, rowShape, ct, 0.0);
  Value rowSum = buildGeneric(
      b, loc, ValueRange{x, rowMax}, sumInit, {id, row, row}, reduceIters,
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value v = castFloat(nb, l, a[0], ct);
        Value e =
            math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, v, a[1]));
        return {arith::AddFOp::create(nb, l, a[2], e)};
      })[0];
  Value out = staticEmpty(b, loc, shape, t.elem);
  return buildGeneric(
      b, loc, ValueRange{x, rowMax, rowSum}, out, {id, row, row, id},
      parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value v = castFloat(nb, l, a[0], ct);
        Value e =
            math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, v, a[1]));
        Value p = arith::DivFOp::create(nb, l, e, a[2]);
        return {castFloat(nb, l, p, t.elem)};
      })[0];
}

/// Time statistics of the absorbed chunks.
struct ChunkStats {
  Value a;   ///< A: B x n x C x H x dk in T, 0 on invalid rows
  Value ell; ///< l: B x n x H x dk in the compute type
};

/// A and l of every chunk of k5 (B x n x C x H x dk). With segments, seg3
/// (B x n x C) and segLast (B x n, the id of each chunk's last token) select
/// the valid rows; the last row is always valid, so the maximum is finite.
ChunkStats chunkTimeStats(OpBuilder &b, Location loc, Value k5, Value seg3,
                          Value segLast, const AwmTypes &t) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> shape = shapeOf(k5);
  SmallVector<int64_t> statShape = {shape[0], shape[1], shape[3], shape[4]};
  // Dims (b, i, j, h, s), reduction over j (time within the chunk).
  AffineMap id = b.getMultiDimIdentityMap(5);
  AffineMap segMap = dimsMap(ctx, 5, {0, 1, 2});
  AffineMap lastMap = dimsMap(ctx, 5, {0, 1});
  AffineMap statMap = dimsMap(ctx, 5, {0, 1, 3, 4});
  SmallVector<IteratorType> reduceIters = {kPar, kPar, kRed, kPar, kPar};
  Type ct = t.compute;
  bool hasSeg = static_cast<bool>(seg3);

  SmallVector<Value> ins = {k5};
  SmallVector<AffineMap> inMaps = {id};
  if (hasSeg) {
    ins.append({seg3, segLast});
    inMaps.append({segMap, lastMap});
  }
  // valid(j): seg[j] == seg[last] (always without segments).
  auto validOf = [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    if (!hasSeg)
      return Value();
    return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, a[1], a[2]);
  };
  auto selectValid = [&](OpBuilder &nb, Location l, Value valid, Value yes,
                         Value no) -> Value {
    if (!valid)
      return yes;
    return arith::SelectOp::create(nb, l, valid, yes, no);
  };
  unsigned nIns = ins.size();

  SmallVector<AffineMap> maxMaps(inMaps);
  maxMaps.push_back(statMap);
  Value maxInit = staticFilled(b, loc, statShape, ct, -INFINITY);
  Value tMax = buildGeneric(
      b, loc, ins, maxInit, maxMaps, reduceIters,
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value k = castFloat(nb, l, a[0], ct);
        Value m = arith::MaximumFOp::create(nb, l, k, a[nIns]);
        return {selectValid(nb, l, validOf(nb, l, a), m, a[nIns])};
      })[0];

  SmallVector<Value> sumIns(ins);
  sumIns.push_back(tMax);
  SmallVector<AffineMap> sumMaps(inMaps);
  sumMaps.append({statMap, statMap});
  Value sumInit = staticFilled(b, loc, statShape, ct, 0.0);
  Value tSum = buildGeneric(
      b, loc, sumIns, sumInit, sumMaps, reduceIters,
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value k = castFloat(nb, l, a[0], ct);
        Value e = math::ExpOp::create(nb, l,
                                      arith::SubFOp::create(nb, l, k, a[nIns]));
        Value s = arith::AddFOp::create(nb, l, a[nIns + 1], e);
        return {selectValid(nb, l, validOf(nb, l, a), s, a[nIns + 1])};
      })[0];

  // l = max + log(sum).
  Value ell =
      buildElementwise(b, loc, ValueRange{tMax, tSum}, ct,
                       [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                         return arith::AddFOp::create(
                             nb, l, a[0], math::LogOp::create(nb, l, a[1]));
                       });

  // A = exp(k - max) / sum on valid rows, 0 elsewhere.
  SmallVector<Value> aIns(ins);
  aIns.append({tMax, tSum});
  SmallVector<AffineMap> aMaps(inMaps);
  aMaps.append({statMap, statMap, id});
  Value aInit = staticEmpty(b, loc, shape, t.elem);
  Value a = buildGeneric(
      b, loc, aIns, aInit, aMaps, parallelIterators(5),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value k = castFloat(nb, l, a[0], ct);
        Value e = math::ExpOp::create(nb, l,
                                      arith::SubFOp::create(nb, l, k, a[nIns]));
        Value w = arith::DivFOp::create(nb, l, e, a[nIns + 1]);
        Value zero = floatConstant(nb, l, ct, 0.0);
        return {castFloat(nb, l, selectValid(nb, l, validOf(nb, l, a), w, zero),
                          t.elem)};
      })[0];
  return {a, ell};
}

/// The id column `column` of a B x N i64 tensor, as a fresh B tensor. It is
/// built with tensor.extract inside a linalg.generic rather than returned as
/// a slice: a strided slice that reaches a function result or a loop-carried
/// value would be copied by bufferization with a strided memref.copy, which
/// lowers to a runtime call (memrefCopy) the kernels do not link.
Value gatherColumn(OpBuilder &b, Location loc, Value ids, int64_t column) {
  int64_t batch = shapeOf(ids)[0];
  Value init = staticEmpty(b, loc, {batch}, b.getI64Type());
  return buildGeneric(
      b, loc, ValueRange{}, init, {b.getMultiDimIdentityMap(1)},
      parallelIterators(1),
      [&](OpBuilder &nb, Location l, ValueRange) -> SmallVector<Value> {
        Value row = linalg::IndexOp::create(nb, l, 0);
        Value col = indexConstant(nb, l, column);
        return {tensor::ExtractOp::create(nb, l, ids, ValueRange{row, col})};
      })[0];
}

/// Y[b,t,h,e] = sum_s P[b,t,h,s] M[b,h,s,e] (p4: B x Lc x H x dk, m:
/// B x H x dk x dv), rows with seg[b,t] != doc[b] zeroed when seg2 (B x Lc)
/// and doc (B) are given. With `accumulate`, the result is added to `dest`
/// (B x Lc x H x dv in T, zero on entry: a slice of the zero-filled y inside
/// the chunk loop), so that the op writing it reads its `outs` and bufferizes
/// in place into y. Without it `dest` is only written: a generic that reads
/// its `outs` must never reach a linalg consumer, since elementwise fusion
/// into a consumer with more loops repeats its read-modify-write
/// (docs/lowering.md, "Bufferization hazards").
Value readMemory(OpBuilder &b, Location loc, Value p4, Value m, Value seg2,
                 Value doc, Value dest, const AwmTypes &t,
                 bool accumulate = true) {
  MLIRContext *ctx = b.getContext();
  ArrayRef<int64_t> yShape = shapeOf(dest);
  Type ct = t.compute;
  // Dims (b, t, h, e, s), reduction over s.
  Value acc = buildGeneric(
      b, loc, ValueRange{p4, m}, staticFilled(b, loc, yShape, ct, 0.0),
      {dimsMap(ctx, 5, {0, 1, 2, 4}), dimsMap(ctx, 5, {0, 2, 4, 3}),
       dimsMap(ctx, 5, {0, 1, 2, 3})},
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value p = castFloat(nb, l, a[0], ct);
        Value mm = castFloat(nb, l, a[1], ct);
        return {arith::AddFOp::create(nb, l, a[2],
                                      arith::MulFOp::create(nb, l, p, mm))};
      })[0];
  AffineMap id = b.getMultiDimIdentityMap(4);
  SmallVector<Value> ins = {acc};
  SmallVector<AffineMap> maps = {id};
  if (seg2) {
    ins.append({seg2, doc});
    maps.append({dimsMap(ctx, 4, {0, 1}), dimsMap(ctx, 4, {0})});
  }
  maps.push_back(id);
  return buildGeneric(
      b, loc, ins, dest, maps, parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value y = castFloat(nb, l, a[0], t.elem);
        if (seg2) {
          Value same = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                             a[1], a[2]);
          y = arith::SelectOp::create(nb, l, same, y,
                                      floatConstant(nb, l, t.elem, 0.0));
        }
        if (!accumulate)
          return {y};
        return {arith::AddFOp::create(nb, l, a.back(), y)};
      })[0];
}

/// Lambda' = lae(l, Lambda~) and rho = exp(l - Lambda') in the Lambda
/// compute type, Lambda~ being Lambda or -inf where `reset` (null: never).
/// l is finite (the last row of a chunk is always valid), so the max below
/// is finite and Lambda~ = -inf gives Lambda' = l and rho = 1 exactly.
std::pair<Value, Value> lambdaAndRho(OpBuilder &nb, Location l, Value lamIn,
                                     Value ellIn, Value reset,
                                     const AwmTypes &t) {
  Type lc = t.lamCompute;
  Value lam = castFloat(nb, l, lamIn, lc);
  if (reset)
    lam = arith::SelectOp::create(nb, l, reset,
                                  floatConstant(nb, l, lc, -INFINITY), lam);
  Value ell = castFloat(nb, l, ellIn, lc);
  Value mx = arith::MaximumFOp::create(nb, l, ell, lam);
  Value e1 = math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, ell, mx));
  Value e2 = math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, lam, mx));
  Value lamNew = arith::AddFOp::create(
      nb, l, mx,
      math::LogOp::create(nb, l, arith::AddFOp::create(nb, l, e1, e2)));
  Value rho =
      math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, ell, lamNew));
  return {lamNew, rho};
}

/// The memory state carried through the recurrence.
struct MemState {
  Value m;   ///< B x H x dk x dv in T
  Value lam; ///< B x H x dk in the log_norm type
  Value doc; ///< B (i64), null without segments
};

/// One absorption (spec section 3.8) of a chunk given by its time softmax
/// a4 (B x C x H x dk), feature softmax f4 (B x C x H x dk), logsumexp ell3
/// (B x H x dk, compute type), values v4 (B x C x H x dv) and, with
/// segments, the id d (B) of its last token. Returns the new M and Lambda;
/// the new doc_mem is d, which the callers materialise where they need it.
///
/// The new M and Lambda are written into the incoming tensors (each is the
/// `outs` of the last op touching it, read through its block argument), so
/// inside an scf.for the yielded values are equivalent to the iteration
/// arguments and one-shot bufferization updates them in place instead of
/// rejecting the loop. The reset (M~ = 0, Lambda~ = -inf where
/// d != doc_mem) is folded into the ops that read M and Lambda rather than
/// materialised.
MemState absorbChunk(OpBuilder &b, Location loc, MemState st, Value a4,
                     Value f4, Value ell3, Value v4, Value d,
                     const AwmTypes &t) {
  MLIRContext *ctx = b.getContext();
  Type ct = t.compute;
  ArrayRef<int64_t> mShape = shapeOf(st.m);
  SmallVector<int64_t> rShape(shapeOf(v4));
  AffineMap id3 = b.getMultiDimIdentityMap(3);
  AffineMap id4 = b.getMultiDimIdentityMap(4);

  // "reset" = d != doc_mem, for ops whose inputs end with (d, doc).
  auto resetOf = [&](OpBuilder &nb, Location l, Value dv, Value docv) -> Value {
    return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, dv, docv);
  };
  // Appends the inputs (d, doc) of an op whose dim 0 is b.
  auto withDoc = [&](SmallVector<Value> ins, SmallVector<AffineMap> maps,
                     unsigned numDims) {
    if (d) {
      ins.append({d, st.doc});
      maps.append({dimsMap(ctx, numDims, {0}), dimsMap(ctx, numDims, {0})});
    }
    return std::make_pair(ins, maps);
  };

  // FM[b,j,h,e] = sum_s F[b,j,h,s] M~[b,h,s,e]; dims (b,j,h,e,s).
  auto [fIns, fMaps] = withDoc(
      {f4, st.m},
      {dimsMap(ctx, 5, {0, 1, 2, 4}), dimsMap(ctx, 5, {0, 2, 4, 3})}, 5);
  fMaps.push_back(dimsMap(ctx, 5, {0, 1, 2, 3}));
  Value fm = buildGeneric(
      b, loc, fIns, staticFilled(b, loc, rShape, ct, 0.0), fMaps,
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value f = castFloat(nb, l, a[0], ct);
        Value mm = castFloat(nb, l, a[1], ct);
        Value acc = a.back();
        Value next = arith::AddFOp::create(nb, l, acc,
                                           arith::MulFOp::create(nb, l, f, mm));
        if (d)
          next = arith::SelectOp::create(nb, l, resetOf(nb, l, a[2], a[3]), acc,
                                         next);
        return {next};
      })[0];

  // U[b,h,s,e] = sum_j A[b,j,h,s] R[b,j,h,e] with R = V - FM rounded to T
  // (the reference keeps R in T); dims (b,h,s,e,j).
  Value u = buildGeneric(
      b, loc, ValueRange{a4, v4, fm}, staticFilled(b, loc, mShape, ct, 0.0),
      {dimsMap(ctx, 5, {0, 4, 1, 2}), dimsMap(ctx, 5, {0, 4, 1, 3}),
       dimsMap(ctx, 5, {0, 4, 1, 3}), dimsMap(ctx, 5, {0, 1, 2, 3})},
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value aa = castFloat(nb, l, a[0], ct);
        Value r =
            arith::SubFOp::create(nb, l, castFloat(nb, l, a[1], ct), a[2]);
        r = castFloat(nb, l, castFloat(nb, l, r, t.elem), ct);
        return {arith::AddFOp::create(nb, l, a[3],
                                      arith::MulFOp::create(nb, l, aa, r))};
      })[0];

  // M <- M~ + rho (U - M~), rounded to T, written over M. M enters only as
  // the `outs` operand, read through its block argument (an unread `outs`
  // would be replaced by a fresh tensor by the canonicalisations).
  auto [mIns, mMaps] =
      withDoc({u, st.lam, ell3},
              {id4, dimsMap(ctx, 4, {0, 1, 2}), dimsMap(ctx, 4, {0, 1, 2})}, 4);
  mMaps.push_back(id4);
  Value mNew = buildGeneric(
      b, loc, mIns, st.m, mMaps, parallelIterators(4),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value reset = d ? resetOf(nb, l, a[3], a[4]) : Value();
        Value rho = castFloat(
            nb, l, lambdaAndRho(nb, l, a[1], a[2], reset, t).second, ct);
        Value mm = castFloat(nb, l, a.back(), ct);
        if (reset)
          mm = arith::SelectOp::create(nb, l, reset,
                                       floatConstant(nb, l, ct, 0.0), mm);
        Value diff = arith::SubFOp::create(nb, l, a[0], mm);
        Value upd = arith::AddFOp::create(
            nb, l, mm, arith::MulFOp::create(nb, l, rho, diff));
        return {castFloat(nb, l, upd, t.elem)};
      })[0];

  // Lambda <- Lambda', written over Lambda (after its last read above).
  auto [lIns, lMaps] = withDoc({ell3}, {id3}, 3);
  lMaps.push_back(id3);
  Value lamNew = buildGeneric(
      b, loc, lIns, st.lam, lMaps, parallelIterators(3),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Value reset = d ? resetOf(nb, l, a[1], a[2]) : Value();
        Value lam = lambdaAndRho(nb, l, a.back(), a[0], reset, t).first;
        return {castFloat(nb, l, lam, t.lam)};
      })[0];
  return {mNew, lamNew, d};
}

bool allStatic(Operation *op) {
  for (Type type : op->getOperandTypes())
    if (!cast<RankedTensorType>(type).hasStaticShape())
      return false;
  for (Type type : op->getResultTypes())
    if (!cast<RankedTensorType>(type).hasStaticShape())
      return false;
  return true;
}

/// Statistics of consecutive chunks to absorb, taken from the time range
/// [0, n*C) of ak (B x L x S), v (B x L x E) and segments (B x L).
struct AbsorbSource {
  ChunkStats stats;
  Value f;       ///< F: B x nC x H x dk in T
  Value v;       ///< B x nC x H x dv
  Value segLast; ///< B x n, null without segments
};

AbsorbSource prepareAbsorption(OpBuilder &b, Location loc, Value ak, Value v,
                               Value seg, int64_t numChunks, int64_t chunk,
                               int64_t heads, const AwmTypes &t) {
  int64_t batch = shapeOf(ak)[0];
  AbsorbSource src;
  Value k4 = splitHeads(
      b, loc, sliceDim(b, loc, ak, 1, b.getIndexAttr(0), numChunks * chunk),
      heads);
  src.v = splitHeads(
      b, loc, sliceDim(b, loc, v, 1, b.getIndexAttr(0), numChunks * chunk),
      heads);
  Value seg3;
  if (seg) {
    seg3 = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({batch, numChunks, chunk}, b.getI64Type()),
        sliceDim(b, loc, seg, 1, b.getIndexAttr(0), numChunks * chunk),
        {{0}, {1, 2}});
    src.segLast = sliceDropDim(b, loc, seg3, 2, b.getIndexAttr(chunk - 1));
  }
  ArrayRef<int64_t> ks = shapeOf(k4);
  Value k5 = tensor::ExpandShapeOp::create(
      b, loc,
      RankedTensorType::get({batch, numChunks, chunk, ks[2], ks[3]}, t.elem),
      k4, {{0}, {1, 2}, {3}, {4}});
  src.stats = chunkTimeStats(b, loc, k5, seg3, src.segLast, t);
  src.f = featureSoftmax(b, loc, k4, t);
  return src;
}

/// Absorbs chunk `i` of `src` into `st` (d: the chunk's last id, with
/// segments).
MemState absorbFrom(OpBuilder &b, Location loc, MemState st,
                    const AbsorbSource &src, OpFoldResult i, Value d,
                    int64_t chunk, const AwmTypes &t) {
  Value start;
  OpFoldResult startOfr;
  if (auto attr = dyn_cast<Attribute>(i)) {
    startOfr = b.getIndexAttr(cast<IntegerAttr>(attr).getInt() * chunk);
  } else {
    start = arith::MulIOp::create(b, loc, cast<Value>(i),
                                  indexConstant(b, loc, chunk));
    startOfr = start;
  }
  Value a4 = sliceDropDim(b, loc, src.stats.a, 1, i);
  Value ell3 = sliceDropDim(b, loc, src.stats.ell, 1, i);
  Value f4 = sliceDim(b, loc, src.f, 1, startOfr, chunk);
  Value v4 = sliceDim(b, loc, src.v, 1, startOfr, chunk);
  return absorbChunk(b, loc, st, a4, f4, ell3, v4, d, t);
}

//===----------------------------------------------------------------------===//
// gecko.working_memory
//===----------------------------------------------------------------------===//

/// The chunked form. The statistics of the call chunks 0..n_c-2 (the ones
/// absorbed in this call) are computed in parallel up front. With a state,
/// chunk 0 is read and the cached chunk absorbed (its statistics computed
/// alone); then chunk 1 is read and call chunk 0 absorbed against the
/// doc_mem entering it; then an scf.for over i = 1..n_c-2 reads chunk i+1
/// and absorbs chunk i, with doc_mem = the last id of chunk i-1. Peeling
/// the first in-call absorption keeps doc_mem out of the loop-carried
/// values (it is a read-only slice of the segments in the loop).
///
/// Without a state chunk 0 reads y = 0 and the recurrence starts from
/// M = 0, Lambda = -inf and doc_mem = segments[:, 0]: the first absorption
/// (at c = 1) then reads zeros and its reset test can only reset an empty
/// memory, which is a no-op, so this equals "doc_mem undefined until c = 1"
/// (docs/dialect.md).
struct LowerWorkingMemory : OpConversionPattern<WorkingMemoryOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(WorkingMemoryOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!allStatic(op))
      return rewriter.notifyMatchFailure(op, "dynamic shapes not supported");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    int64_t heads = op.getNumHeads(), chunk = op.getChunkSize();
    ArrayRef<int64_t> qShape = shapeOf(adaptor.getAq());
    int64_t batch = qShape[0], len = qShape[1];
    int64_t dv = shapeOf(adaptor.getV())[2] / heads;
    int64_t numChunks = len / chunk;
    bool hasState = static_cast<bool>(adaptor.getMemory());
    bool hasSeg = static_cast<bool>(adaptor.getSegments());
    AwmTypes t = getAwmTypes(elementTypeOf(adaptor.getAq()),
                             elementTypeOf(op.getLogNormOut()));
    Value seg = adaptor.getSegments();

    // The incoming state, or the empty one.
    MemState st;
    ArrayRef<int64_t> mShape = shapeOf(op.getMemoryOut());
    if (hasState) {
      st.m = freshCopy(b, loc, adaptor.getMemory());
      st.lam = freshCopy(b, loc, adaptor.getLogNorm());
      st.doc = adaptor.getDocMem();
    } else {
      st.m = staticFilled(b, loc, mShape, t.elem, 0.0);
      st.lam = staticFilled(b, loc, mShape.drop_back(), t.lam, -INFINITY);
      if (hasSeg)
        st.doc = gatherColumn(b, loc, seg, 0);
    }
    Value docOut = st.doc;

    Value y = staticFilled(b, loc, {batch, len, heads, dv}, t.elem, 0.0);
    Value pAll;
    if (hasState || numChunks > 1)
      pAll =
          featureSoftmax(b, loc, splitHeads(b, loc, adaptor.getAq(), heads), t);
    // Reads chunk `c` (offset `start`) into y with the memory `cur`.
    auto readChunk = [&](OpBuilder &nb, Location l, Value yIn,
                         OpFoldResult start, const MemState &cur) -> Value {
      Value pc = sliceDim(nb, l, pAll, 1, start, chunk);
      Value segc = hasSeg ? sliceDim(nb, l, seg, 1, start, chunk) : Value();
      Value dest = sliceDim(nb, l, yIn, 1, start, chunk);
      Value yc = readMemory(nb, l, pc, cur.m, segc, cur.doc, dest, t);
      return insertDim(nb, l, yc, yIn, 1, start);
    };

    if (hasState) {
      // c = 0: read, then absorb the cached chunk.
      y = readChunk(b, loc, y, b.getIndexAttr(0), st);
      Value d;
      if (hasSeg) {
        d = gatherColumn(b, loc, adaptor.getPrevSegments(), chunk - 1);
        docOut = d;
      }
      AbsorbSource prev =
          prepareAbsorption(b, loc, adaptor.getPrevAk(), adaptor.getPrevV(),
                            adaptor.getPrevSegments(), 1, chunk, heads, t);
      st = absorbFrom(b, loc, st, prev, b.getIndexAttr(0), d, chunk, t);
    }

    if (numChunks > 1) {
      AbsorbSource call =
          prepareAbsorption(b, loc, adaptor.getAk(), adaptor.getV(), seg,
                            numChunks - 1, chunk, heads, t);
      // c = 1: read, absorb call chunk 0 against the incoming doc_mem.
      y = readChunk(b, loc, y, b.getIndexAttr(chunk), st);
      Value d0 = hasSeg
                     ? sliceDropDim(b, loc, call.segLast, 1, b.getIndexAttr(0))
                     : Value();
      st = absorbFrom(b, loc, st, call, b.getIndexAttr(0), d0, chunk, t);

      // c = i + 1 for i = 1..n_c-2: doc_mem is chunk i-1's last id.
      if (numChunks > 2) {
        auto loop = scf::ForOp::create(
            b, loc, indexConstant(b, loc, 1),
            indexConstant(b, loc, numChunks - 1), indexConstant(b, loc, 1),
            ValueRange{y, st.m, st.lam},
            [&](OpBuilder &nb, Location l, Value i, ValueRange args) {
              MemState cur{args[1], args[2], Value()};
              Value d;
              if (hasSeg) {
                Value prevI =
                    arith::SubIOp::create(nb, l, i, indexConstant(nb, l, 1));
                cur.doc = sliceDropDim(nb, l, call.segLast, 1, prevI);
                d = sliceDropDim(nb, l, call.segLast, 1, i);
              }
              Value start = arith::MulIOp::create(
                  nb, l,
                  arith::AddIOp::create(nb, l, i, indexConstant(nb, l, 1)),
                  indexConstant(nb, l, chunk));
              Value yNew = readChunk(nb, l, args[0], start, cur);
              MemState next = absorbFrom(nb, l, cur, call, i, d, chunk, t);
              scf::YieldOp::create(nb, l, ValueRange{yNew, next.m, next.lam});
            });
        y = loop.getResult(0);
        st.m = loop.getResult(1);
        st.lam = loop.getResult(2);
      }
      if (hasSeg)
        docOut = gatherColumn(b, loc, seg, len - chunk - 1);
    }

    SmallVector<Value> results = {mergeHeads(b, loc, y), st.m, st.lam};
    if (hasSeg)
      results.push_back(docOut);
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// gecko.working_memory_step
//===----------------------------------------------------------------------===//

/// Read with the incoming M, then, when P + L = 2C, absorb the first C rows
/// of the cache (P + L = 2C with L <= C means P >= C, so the previous chunk
/// lies wholly in prev_ak/prev_v/prev_segments). With a static P the
/// decision is made here; with a dynamic P it is an scf.if, so the slice of
/// the first C cache rows is only taken when it is in bounds.
struct LowerWorkingMemoryStep : OpConversionPattern<WorkingMemoryStepOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(WorkingMemoryStepOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    for (Value v :
         {op.getAq(), op.getAk(), op.getV(), op.getMemory(), op.getLogNorm()})
      if (!cast<RankedTensorType>(v.getType()).hasStaticShape())
        return rewriter.notifyMatchFailure(
            op, "only the cache length may be dynamic");
    for (Value v : {op.getSegments(), op.getDocMem()})
      if (v && !cast<RankedTensorType>(v.getType()).hasStaticShape())
        return rewriter.notifyMatchFailure(
            op, "only the cache length may be dynamic");
    for (Value v : {op.getPrevAk(), op.getPrevV(), op.getPrevSegments()}) {
      if (!v)
        continue;
      auto type = cast<RankedTensorType>(v.getType());
      for (int64_t i = 0; i < type.getRank(); ++i)
        if (i != 1 && type.isDynamicDim(i))
          return rewriter.notifyMatchFailure(
              op, "only the cache length may be dynamic");
    }
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    int64_t heads = op.getNumHeads(), chunk = op.getChunkSize();
    ArrayRef<int64_t> qShape = shapeOf(adaptor.getAq());
    int64_t batch = qShape[0], len = qShape[1];
    int64_t dv = shapeOf(adaptor.getV())[2] / heads;
    bool hasSeg = static_cast<bool>(adaptor.getSegments());
    AwmTypes t = getAwmTypes(elementTypeOf(adaptor.getAq()),
                             elementTypeOf(adaptor.getLogNorm()));

    MemState st{adaptor.getMemory(), adaptor.getLogNorm(),
                hasSeg ? adaptor.getDocMem() : Value()};
    Value p4 =
        featureSoftmax(b, loc, splitHeads(b, loc, adaptor.getAq(), heads), t);
    // The step's y goes straight to the model's consumers: write-only.
    Value y =
        readMemory(b, loc, p4, st.m, adaptor.getSegments(), st.doc,
                   staticEmpty(b, loc, {batch, len, heads, dv}, t.elem), t,
                   /*accumulate=*/false);

    // The absorption of the cache's first C rows.
    auto absorbPrevious = [&](OpBuilder &nb, Location l) -> MemState {
      auto firstChunk = [&](Value x) {
        return sliceDim(nb, l, x, 1, nb.getIndexAttr(0), chunk);
      };
      Value prevSeg = hasSeg ? firstChunk(adaptor.getPrevSegments()) : Value();
      AbsorbSource src = prepareAbsorption(
          nb, l, firstChunk(adaptor.getPrevAk()),
          firstChunk(adaptor.getPrevV()), prevSeg, 1, chunk, heads, t);
      Value d = hasSeg ? gatherColumn(nb, l, prevSeg, chunk - 1) : Value();
      MemState fresh{freshCopy(nb, l, st.m), freshCopy(nb, l, st.lam), st.doc};
      return absorbFrom(nb, l, fresh, src, nb.getIndexAttr(0), d, chunk, t);
    };

    auto prevType = cast<RankedTensorType>(adaptor.getPrevAk().getType());
    MemState out = st;
    if (!prevType.isDynamicDim(1)) {
      if (prevType.getDimSize(1) + len == 2 * chunk)
        out = absorbPrevious(b, loc);
    } else {
      Value p = tensor::DimOp::create(b, loc, adaptor.getPrevAk(), 1);
      Value total =
          arith::AddIOp::create(b, loc, p, indexConstant(b, loc, len));
      Value full =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, total,
                                indexConstant(b, loc, 2 * chunk));
      auto toValues = [&](const MemState &s) {
        SmallVector<Value> v = {s.m, s.lam};
        if (hasSeg)
          v.push_back(s.doc);
        return v;
      };
      auto ifOp = scf::IfOp::create(
          b, loc, full,
          [&](OpBuilder &nb, Location l) {
            scf::YieldOp::create(nb, l, toValues(absorbPrevious(nb, l)));
          },
          [&](OpBuilder &nb, Location l) {
            // Fresh copies, like the absorbing branch's results: with one
            // branch yielding new buffers and the other the arguments,
            // deallocation would need run-time ownership checks (a
            // dynamically shaped helper the bare-pointer ABI cannot lower).
            MemState same{freshCopy(nb, l, st.m), freshCopy(nb, l, st.lam),
                          hasSeg ? freshCopy(nb, l, st.doc) : Value()};
            scf::YieldOp::create(nb, l, toValues(same));
          });
      out.m = ifOp.getResult(0);
      out.lam = ifOp.getResult(1);
      if (hasSeg)
        out.doc = ifOp.getResult(2);
    }

    SmallVector<Value> results = {mergeHeads(b, loc, y), out.m, out.lam};
    if (hasSeg)
      results.push_back(out.doc);
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// gecko.working_memory_grad
//===----------------------------------------------------------------------===//

/// `x` converted elementwise to `elementType` (x itself if it has it).
Value castTensor(OpBuilder &b, Location loc, Value x, Type elementType) {
  if (elementTypeOf(x) == elementType)
    return x;
  return buildElementwise(b, loc, x, elementType,
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return castFloat(nb, l, args[0], elementType);
                          });
}

using IndexBodyFn =
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value> indices)>;

/// A fresh tensor of `shape` whose element at index i is body(i) (a
/// linalg.generic without inputs that reads through tensor.extract). Used to
/// concatenate and shift along time without strided copies (see
/// gatherColumn).
Value buildFromIndices(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                       Type elementType, IndexBodyFn body) {
  unsigned rank = shape.size();
  return buildGeneric(
      b, loc, ValueRange{}, staticEmpty(b, loc, shape, elementType),
      {b.getMultiDimIdentityMap(rank)}, parallelIterators(rank),
      [&](OpBuilder &nb, Location l, ValueRange) -> SmallVector<Value> {
        SmallVector<Value> idx;
        for (unsigned d = 0; d < rank; ++d)
          idx.push_back(linalg::IndexOp::create(nb, l, d));
        return {body(nb, l, idx)};
      })[0];
}

/// [prev ; x] along time, `len` rows (B x len x ...): rows t < C from prev,
/// the others from x at t - C. Indices are clamped into range on both
/// sides, so the unselected read stays in bounds.
Value concatTime(OpBuilder &b, Location loc, Value prev, Value x, int64_t len) {
  int64_t chunk = shapeOf(prev)[1];
  SmallVector<int64_t> shape(shapeOf(x));
  shape[1] = len;
  return buildFromIndices(
      b, loc, shape, elementTypeOf(x),
      [&](OpBuilder &nb, Location l, ArrayRef<Value> idx) -> Value {
        Value c = indexConstant(nb, l, chunk);
        Value fromPrev =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, idx[1], c);
        SmallVector<Value> pIdx(idx), xIdx(idx);
        pIdx[1] = arith::MinSIOp::create(nb, l, idx[1],
                                         indexConstant(nb, l, chunk - 1));
        xIdx[1] = arith::MaxSIOp::create(
            nb, l, arith::SubIOp::create(nb, l, idx[1], c),
            indexConstant(nb, l, 0));
        Value pv = tensor::ExtractOp::create(nb, l, prev, pIdx);
        Value xv = tensor::ExtractOp::create(nb, l, x, xIdx);
        return arith::SelectOp::create(nb, l, fromPrev, pv, xv);
      });
}

/// The gradient. The forward recurrence is recomputed over the absorbed
/// chunks k = 0..n_a-1 (the cached chunk first with a state; chunk k of the
/// call otherwise), stacking the memory entering each absorption (stacks
/// are n_a-major so each entry is contiguous); then an scf.for runs k in
/// reverse with the adjoints G_M, G_Lambda (compute type) as in spec
/// section 3.8 Backward, one linalg op per term, accumulating daq and the
/// absorbed chunks' dK, dV in place. dak/dv of the call (and dprev_ak,
/// dprev_v) are gathered from the absorbed-chunk gradients at the end; the
/// call's last chunk gets zero.
struct LowerWorkingMemoryGrad : OpConversionPattern<WorkingMemoryGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(WorkingMemoryGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!allStatic(op))
      return rewriter.notifyMatchFailure(op, "dynamic shapes not supported");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    MLIRContext *ctx = b.getContext();
    const int64_t heads = op.getNumHeads(), chunk = op.getChunkSize();
    ArrayRef<int64_t> qShape = shapeOf(adaptor.getAq());
    const int64_t batch = qShape[0], len = qShape[1];
    const int64_t dk = qShape[2] / heads;
    const int64_t dv = shapeOf(adaptor.getV())[2] / heads;
    const int64_t numChunks = len / chunk;
    const bool hasState = static_cast<bool>(adaptor.getMemory());
    const bool hasSeg = static_cast<bool>(adaptor.getSegments());
    Type elem = elementTypeOf(adaptor.getAq());
    Type lamType = hasState ? elementTypeOf(adaptor.getLogNorm())
                            : (elem.isF64() ? elem : b.getF32Type());
    AwmTypes t = getAwmTypes(elem, lamType);
    Type ct = t.compute, lc = t.lamCompute;
    const int64_t numAbs = hasState ? numChunks : numChunks - 1;
    const int64_t readOffset = hasState ? 0 : 1;
    const int64_t absLen = numAbs * chunk;
    Value seg = adaptor.getSegments();

    SmallVector<int64_t> mShape = {batch, heads, dk, dv};
    SmallVector<int64_t> lShape = {batch, heads, dk};
    SmallVector<int64_t> qShape4 = {batch, len, heads, dk};
    SmallVector<int64_t> vShape4 = {batch, len, heads, dv};
    AffineMap id3 = b.getMultiDimIdentityMap(3);
    AffineMap id4 = b.getMultiDimIdentityMap(4);
    auto m = [&](unsigned n, ArrayRef<int64_t> dims) {
      return dimsMap(ctx, n, dims);
    };
    SmallVector<IteratorType> red5 = {kPar, kPar, kPar, kPar, kRed};
    SmallVector<IteratorType> red4 = {kPar, kPar, kPar, kRed};
    auto cf = [&](OpBuilder &nb, Location l, Value v) {
      return castFloat(nb, l, v, ct);
    };

    // Gathers rows [off, off + rows) of a B x absLen x H x d gradient in
    // the compute type into a fresh B x rows x H x d tensor of type T; rows
    // past `limit` are 0.
    auto gatherRows = [&](OpBuilder &nb, Location l, Value src, int64_t off,
                          int64_t rows, int64_t limit) {
      SmallVector<int64_t> shape(shapeOf(src));
      shape[1] = rows;
      return buildFromIndices(
          nb, l, shape, elem,
          [&](OpBuilder &bb, Location ll, ArrayRef<Value> idx) -> Value {
            Value inRange =
                arith::CmpIOp::create(bb, ll, arith::CmpIPredicate::slt, idx[1],
                                      indexConstant(bb, ll, limit));
            SmallVector<Value> sIdx(idx);
            Value shifted = arith::AddIOp::create(bb, ll, idx[1],
                                                  indexConstant(bb, ll, off));
            sIdx[1] = arith::MinSIOp::create(
                bb, ll, shifted,
                indexConstant(bb, ll, std::max<int64_t>(absLen - 1, 0)));
            Value v = tensor::ExtractOp::create(bb, ll, src, sIdx);
            Value zero = floatConstant(bb, ll, ct, 0.0);
            return castFloat(bb, ll,
                             arith::SelectOp::create(bb, ll, inRange, v, zero),
                             elem);
          });
    };

    if (numAbs == 0) {
      // No state and one chunk: nothing was absorbed or read, all
      // gradients are zero. Each zero tensor is built by a different op
      // (0 * index along a different dimension): identical fills would be
      // merged by CSE, and a function returning one buffer twice crashes
      // buffer-results-to-out-params{hoist-static-allocs} (LLVM 22).
      auto zeros = [&](ArrayRef<int64_t> shape, unsigned tagDim) {
        return buildFromIndices(
            b, loc, shape, elem,
            [&](OpBuilder &nb, Location l, ArrayRef<Value> idx) -> Value {
              Value i = arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                                   idx[tagDim]);
              Value f = arith::SIToFPOp::create(nb, l, elem, i);
              return arith::MulFOp::create(nb, l, f,
                                           floatConstant(nb, l, elem, 0.0));
            });
      };
      SmallVector<Value> results = {zeros(qShape, 0), zeros(qShape, 1),
                                    zeros(shapeOf(adaptor.getV()), 2)};
      rewriter.replaceOp(op, results);
      return success();
    }

    // The absorbed sequence: [prev ; call chunks 0..n_c-2] or call chunks
    // 0..n_c-2.
    Value kAbs, vAbs, segAbs;
    if (hasState) {
      kAbs = concatTime(b, loc, adaptor.getPrevAk(), adaptor.getAk(), absLen);
      vAbs = concatTime(b, loc, adaptor.getPrevV(), adaptor.getV(), absLen);
      if (hasSeg)
        segAbs = concatTime(b, loc, adaptor.getPrevSegments(), seg, absLen);
    } else {
      kAbs = sliceDim(b, loc, adaptor.getAk(), 1, b.getIndexAttr(0), absLen);
      vAbs = sliceDim(b, loc, adaptor.getV(), 1, b.getIndexAttr(0), absLen);
      if (hasSeg)
        segAbs = sliceDim(b, loc, seg, 1, b.getIndexAttr(0), absLen);
    }
    AbsorbSource src =
        prepareAbsorption(b, loc, kAbs, vAbs, segAbs, numAbs, chunk, heads, t);
    Value pAll =
        featureSoftmax(b, loc, splitHeads(b, loc, adaptor.getAq(), heads), t);
    Value dy4 = splitHeads(b, loc, adaptor.getDy(), heads);

    // d_k (last id of absorbed chunk k), doc_mem before absorption k and
    // reset_k = d_k != doc_k, all B x n_a.
    Value dAbs, docBefore;
    if (hasSeg) {
      dAbs = buildFromIndices(
          b, loc, {batch, numAbs}, b.getI64Type(),
          [&](OpBuilder &nb, Location l, ArrayRef<Value> idx) -> Value {
            Value col = arith::AddIOp::create(
                nb, l,
                arith::MulIOp::create(nb, l, idx[1],
                                      indexConstant(nb, l, chunk)),
                indexConstant(nb, l, chunk - 1));
            return tensor::ExtractOp::create(nb, l, segAbs,
                                             ValueRange{idx[0], col});
          });
      Value doc0 =
          hasState ? adaptor.getDocMem() : gatherColumn(b, loc, seg, 0);
      docBefore = buildFromIndices(
          b, loc, {batch, numAbs}, b.getI64Type(),
          [&](OpBuilder &nb, Location l, ArrayRef<Value> idx) -> Value {
            Value first =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, idx[1],
                                      indexConstant(nb, l, 0));
            Value prevK = arith::MaxSIOp::create(
                nb, l,
                arith::SubIOp::create(nb, l, idx[1], indexConstant(nb, l, 1)),
                indexConstant(nb, l, 0));
            Value a =
                tensor::ExtractOp::create(nb, l, doc0, ValueRange{idx[0]});
            Value c = tensor::ExtractOp::create(nb, l, dAbs,
                                                ValueRange{idx[0], prevK});
            return arith::SelectOp::create(nb, l, first, a, c);
          });
    }

    // Forward recomputation, stacking M and Lambda before each absorption.
    Value m0 = hasState ? freshCopy(b, loc, adaptor.getMemory())
                        : staticFilled(b, loc, mShape, elem, 0.0);
    Value l0 = hasState ? freshCopy(b, loc, adaptor.getLogNorm())
                        : staticFilled(b, loc, lShape, lamType, -INFINITY);
    Value mStack0 = staticEmpty(b, loc, {numAbs, batch, heads, dk, dv}, elem);
    Value lStack0 = staticEmpty(b, loc, {numAbs, batch, heads, dk}, lamType);
    auto pushStack = [&](OpBuilder &nb, Location l, Value x, Value stack,
                         Value k) {
      SmallVector<OpFoldResult> offsets(shapeOf(stack).size(),
                                        nb.getIndexAttr(0));
      offsets[0] = k;
      SmallVector<int64_t> sizes(shapeOf(stack));
      sizes[0] = 1;
      SmallVector<OpFoldResult> strides(sizes.size(), nb.getIndexAttr(1));
      return tensor::InsertSliceOp::create(nb, l, x, stack, offsets,
                                           indexAttrs(nb, sizes), strides)
          .getResult();
    };
    auto fwd = scf::ForOp::create(
        b, loc, indexConstant(b, loc, 0), indexConstant(b, loc, numAbs),
        indexConstant(b, loc, 1), ValueRange{mStack0, lStack0, m0, l0},
        [&](OpBuilder &nb, Location l, Value k, ValueRange args) {
          Value ms = pushStack(nb, l, args[2], args[0], k);
          Value ls = pushStack(nb, l, args[3], args[1], k);
          MemState cur{args[2], args[3],
                       hasSeg ? sliceDropDim(nb, l, docBefore, 1, k) : Value()};
          Value d = hasSeg ? sliceDropDim(nb, l, dAbs, 1, k) : Value();
          MemState next = absorbFrom(nb, l, cur, src, k, d, chunk, t);
          scf::YieldOp::create(nb, l, ValueRange{ms, ls, next.m, next.lam});
        });
    Value mStack = fwd.getResult(0), lStack = fwd.getResult(1);

    // Reverse sweep.
    Value gm0 = adaptor.getDmemoryOut()
                    ? castTensor(b, loc, adaptor.getDmemoryOut(), ct)
                    : staticFilled(b, loc, mShape, ct, 0.0);
    // The sweep updates G_M and G_Lambda in place: never in the caller's
    // cotangent buffers.
    if (gm0 == adaptor.getDmemoryOut())
      gm0 = freshCopy(b, loc, gm0);
    Value gl0 = adaptor.getDlogNormOut()
                    ? castTensor(b, loc, adaptor.getDlogNormOut(), lc)
                    : staticFilled(b, loc, lShape, lc, 0.0);
    if (gl0 == adaptor.getDlogNormOut())
      gl0 = freshCopy(b, loc, gl0);
    Value daq0 = staticFilled(b, loc, qShape4, ct, 0.0);
    Value dk0 = staticFilled(b, loc, {batch, absLen, heads, dk}, ct, 0.0);
    Value dv0 = staticFilled(b, loc, {batch, absLen, heads, dv}, ct, 0.0);

    auto bwd = scf::ForOp::create(
        b, loc, indexConstant(b, loc, 0), indexConstant(b, loc, numAbs),
        indexConstant(b, loc, 1), ValueRange{gm0, gl0, daq0, dk0, dv0},
        [&](OpBuilder &nb, Location l, Value i, ValueRange args) {
          Value gm = args[0], gl = args[1];
          Value k =
              arith::SubIOp::create(nb, l, indexConstant(nb, l, numAbs - 1), i);
          Value absStart =
              arith::MulIOp::create(nb, l, k, indexConstant(nb, l, chunk));
          Value readStart = arith::AddIOp::create(
              nb, l, absStart, indexConstant(nb, l, readOffset * chunk));
          Value mb = sliceDropDim(nb, l, mStack, 0, k);
          Value lb = sliceDropDim(nb, l, lStack, 0, k);
          Value a4 = sliceDropDim(nb, l, src.stats.a, 1, k);
          Value ell = sliceDropDim(nb, l, src.stats.ell, 1, k);
          Value f4 = sliceDim(nb, l, src.f, 1, absStart, chunk);
          Value v4 = sliceDim(nb, l, src.v, 1, absStart, chunk);
          Value pc = sliceDim(nb, l, pAll, 1, readStart, chunk);
          Value dyc = sliceDim(nb, l, dy4, 1, readStart, chunk);

          // reset (B x i1), M~ and rho.
          Value reset, docK, segAbsC, segC;
          if (hasSeg) {
            Value dK = sliceDropDim(nb, l, dAbs, 1, k);
            docK = sliceDropDim(nb, l, docBefore, 1, k);
            reset = buildGeneric(
                nb, l, ValueRange{dK, docK},
                staticEmpty(nb, l, {batch}, nb.getI1Type()),
                {m(1, {0}), m(1, {0}), m(1, {0})}, parallelIterators(1),
                [&](OpBuilder &bb, Location ll,
                    ValueRange a) -> SmallVector<Value> {
                  return {arith::CmpIOp::create(
                      bb, ll, arith::CmpIPredicate::ne, a[0], a[1])};
                })[0];
            segAbsC = sliceDim(nb, l, segAbs, 1, absStart, chunk);
            segC = sliceDim(nb, l, seg, 1, readStart, chunk);
          }
          // Appends reset (map to b) to an op's inputs.
          auto withReset = [&](SmallVector<Value> ins,
                               SmallVector<AffineMap> maps, unsigned n) {
            if (reset) {
              ins.push_back(reset);
              maps.push_back(m(n, {0}));
            }
            return std::make_pair(ins, maps);
          };
          auto [mtIns, mtMaps] = withReset({mb}, {id4}, 4);
          mtMaps.push_back(id4);
          Value mt = buildGeneric(nb, l, mtIns, staticEmpty(nb, l, mShape, ct),
                                  mtMaps, parallelIterators(4),
                                  [&](OpBuilder &bb, Location ll,
                                      ValueRange a) -> SmallVector<Value> {
                                    Value v = cf(bb, ll, a[0]);
                                    if (reset)
                                      v = arith::SelectOp::create(
                                          bb, ll, a[1],
                                          floatConstant(bb, ll, ct, 0.0), v);
                                    return {v};
                                  })[0];
          auto [rhoIns, rhoMaps] = withReset({lb, ell}, {id3, id3}, 3);
          rhoMaps.push_back(id3);
          Value rho =
              buildGeneric(nb, l, rhoIns, staticEmpty(nb, l, lShape, ct),
                           rhoMaps, parallelIterators(3),
                           [&](OpBuilder &bb, Location ll,
                               ValueRange a) -> SmallVector<Value> {
                             Value r = lambdaAndRho(bb, ll, a[0], a[1],
                                                    reset ? a[2] : Value(), t)
                                           .second;
                             return {cf(bb, ll, r)};
                           })[0];

          // R = round_T(V - F M~), U = A R.
          Value fm = buildGeneric(
              nb, l, ValueRange{f4, mt},
              staticFilled(nb, l, {batch, chunk, heads, dv}, ct, 0.0),
              {m(5, {0, 1, 2, 4}), m(5, {0, 2, 4, 3}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];
          Value r = buildGeneric(
              nb, l, ValueRange{v4, fm},
              staticEmpty(nb, l, {batch, chunk, heads, dv}, ct),
              {id4, id4, id4}, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value d = arith::SubFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]);
                return {cf(bb, ll, castFloat(bb, ll, d, elem))};
              })[0];
          Value u = buildGeneric(
              nb, l, ValueRange{a4, r}, staticFilled(nb, l, mShape, ct, 0.0),
              {m(5, {0, 4, 1, 2}), m(5, {0, 4, 1, 3}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];

          // g_rho = sum_e G_M (U - M~); dl = a rho + g_rho rho with
          // a = G_Lambda - g_rho rho.
          Value grho = buildGeneric(
              nb, l, ValueRange{gm, u, mt},
              staticFilled(nb, l, lShape, ct, 0.0),
              {id4, id4, id4, m(4, {0, 1, 2})}, red4,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value diff = arith::SubFOp::create(bb, ll, a[1], a[2]);
                return {arith::AddFOp::create(
                    bb, ll, a[3], arith::MulFOp::create(bb, ll, a[0], diff))};
              })[0];
          Value dell = buildGeneric(
              nb, l, ValueRange{gl, grho, rho}, staticEmpty(nb, l, lShape, ct),
              {id3, id3, id3, id3}, parallelIterators(3),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value g = castFloat(bb, ll, a[0], lc);
                Value gr = castFloat(bb, ll, a[1], lc);
                Value rh = castFloat(bb, ll, a[2], lc);
                Value grr = arith::MulFOp::create(bb, ll, gr, rh);
                Value aa = arith::SubFOp::create(bb, ll, g, grr);
                Value v = arith::AddFOp::create(
                    bb, ll, arith::MulFOp::create(bb, ll, aa, rh), grr);
                return {cf(bb, ll, v)};
              })[0];

          // dR = A^T (rho G_M); dA = (rho G_M) R^T; dF = -dR M~^T;
          // F^T dR.
          Value dr = buildGeneric(
              nb, l, ValueRange{a4, rho, gm},
              staticFilled(nb, l, {batch, chunk, heads, dv}, ct, 0.0),
              {m(5, {0, 1, 2, 4}), m(5, {0, 2, 4}), m(5, {0, 2, 4, 3}),
               m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value w = arith::MulFOp::create(
                    bb, ll, cf(bb, ll, a[0]),
                    arith::MulFOp::create(bb, ll, a[1], a[2]));
                return {arith::AddFOp::create(bb, ll, a[3], w)};
              })[0];
          Value da = buildGeneric(
              nb, l, ValueRange{rho, gm, r},
              staticFilled(nb, l, {batch, chunk, heads, dk}, ct, 0.0),
              {m(5, {0, 2, 3}), m(5, {0, 2, 3, 4}), m(5, {0, 1, 2, 4}),
               m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value w = arith::MulFOp::create(
                    bb, ll, arith::MulFOp::create(bb, ll, a[0], a[1]), a[2]);
                return {arith::AddFOp::create(bb, ll, a[3], w)};
              })[0];
          Value df = buildGeneric(
              nb, l, ValueRange{dr, mt},
              staticFilled(nb, l, {batch, chunk, heads, dk}, ct, 0.0),
              {m(5, {0, 1, 2, 4}), m(5, {0, 2, 3, 4}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::SubFOp::create(
                    bb, ll, a[2], arith::MulFOp::create(bb, ll, a[0], a[1]))};
              })[0];
          Value ftdr = buildGeneric(
              nb, l, ValueRange{f4, dr}, staticFilled(nb, l, mShape, ct, 0.0),
              {m(5, {0, 4, 1, 2}), m(5, {0, 4, 1, 3}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];

          // Softmax backwards: <A, dA> over time, <F, dF> over features.
          Value timeDot = buildGeneric(
              nb, l, ValueRange{a4, da}, staticFilled(nb, l, lShape, ct, 0.0),
              {m(4, {0, 3, 1, 2}), m(4, {0, 3, 1, 2}), m(4, {0, 1, 2})}, red4,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];
          Value featDot = buildGeneric(
              nb, l, ValueRange{f4, df},
              staticFilled(nb, l, {batch, chunk, heads}, ct, 0.0),
              {id4, id4, m(4, {0, 1, 2})}, red4,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];

          // dK of the absorbed chunk (0 on its invalid rows), dV += dR.
          SmallVector<Value> dkIns = {a4, da, timeDot, f4, df, featDot, dell};
          SmallVector<AffineMap> dkMaps = {id4,
                                           id4,
                                           m(4, {0, 2, 3}),
                                           id4,
                                           id4,
                                           m(4, {0, 1, 2}),
                                           m(4, {0, 2, 3})};
          if (hasSeg) {
            dkIns.append({segAbsC, sliceDropDim(nb, l, dAbs, 1, k)});
            dkMaps.append({m(4, {0, 1}), m(4, {0})});
          }
          dkMaps.push_back(id4);
          Value dkSlice = sliceDim(nb, l, args[3], 1, absStart, chunk);
          Value dkc = buildGeneric(
              nb, l, dkIns, dkSlice, dkMaps, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value av = cf(bb, ll, a[0]), fv = cf(bb, ll, a[3]);
                Value tpart = arith::MulFOp::create(
                    bb, ll, av, arith::SubFOp::create(bb, ll, a[1], a[2]));
                Value fpart = arith::MulFOp::create(
                    bb, ll, fv, arith::SubFOp::create(bb, ll, a[4], a[5]));
                Value lpart = arith::MulFOp::create(bb, ll, a[6], av);
                Value g = arith::AddFOp::create(
                    bb, ll, arith::AddFOp::create(bb, ll, tpart, fpart), lpart);
                if (hasSeg) {
                  Value valid = arith::CmpIOp::create(
                      bb, ll, arith::CmpIPredicate::eq, a[7], a[8]);
                  g = arith::SelectOp::create(bb, ll, valid, g,
                                              floatConstant(bb, ll, ct, 0.0));
                }
                return {arith::AddFOp::create(bb, ll, a.back(), g)};
              })[0];
          Value dkNew = insertDim(nb, l, dkc, args[3], 1, absStart);
          Value dvSlice = sliceDim(nb, l, args[4], 1, absStart, chunk);
          Value dvc = buildGeneric(
              nb, l, ValueRange{dr}, dvSlice, {id4, id4}, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(bb, ll, a[1], a[0])};
              })[0];
          Value dvNew = insertDim(nb, l, dvc, args[4], 1, absStart);

          // The read of chunk c: dY masked like Y, dM += P^T dY,
          // daq = sbwd_feat(dY M_before^T, P).
          SmallVector<Value> dyIns = {dyc};
          SmallVector<AffineMap> dyMaps = {id4};
          if (hasSeg) {
            dyIns.append({segC, docK});
            dyMaps.append({m(4, {0, 1}), m(4, {0})});
          }
          dyMaps.push_back(id4);
          Value dym = buildGeneric(
              nb, l, dyIns, staticEmpty(nb, l, {batch, chunk, heads, dv}, ct),
              dyMaps, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value v = cf(bb, ll, a[0]);
                if (hasSeg) {
                  Value same = arith::CmpIOp::create(
                      bb, ll, arith::CmpIPredicate::eq, a[1], a[2]);
                  v = arith::SelectOp::create(bb, ll, same, v,
                                              floatConstant(bb, ll, ct, 0.0));
                }
                return {v};
              })[0];
          Value ptdy = buildGeneric(
              nb, l, ValueRange{pc, dym}, staticFilled(nb, l, mShape, ct, 0.0),
              {m(5, {0, 4, 1, 2}), m(5, {0, 4, 1, 3}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];
          Value dp = buildGeneric(
              nb, l, ValueRange{dym, mb},
              staticFilled(nb, l, {batch, chunk, heads, dk}, ct, 0.0),
              {m(5, {0, 1, 2, 4}), m(5, {0, 2, 3, 4}), m(5, {0, 1, 2, 3})},
              red5,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, a[0], cf(bb, ll, a[1])))};
              })[0];
          Value pDot = buildGeneric(
              nb, l, ValueRange{pc, dp},
              staticFilled(nb, l, {batch, chunk, heads}, ct, 0.0),
              {id4, id4, m(4, {0, 1, 2})}, red4,
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                return {arith::AddFOp::create(
                    bb, ll, a[2],
                    arith::MulFOp::create(bb, ll, cf(bb, ll, a[0]), a[1]))};
              })[0];
          Value daqSlice = sliceDim(nb, l, args[2], 1, readStart, chunk);
          Value daqc = buildGeneric(
              nb, l, ValueRange{pc, dp, pDot}, daqSlice,
              {id4, id4, m(4, {0, 1, 2}), id4}, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value g = arith::MulFOp::create(
                    bb, ll, cf(bb, ll, a[0]),
                    arith::SubFOp::create(bb, ll, a[1], a[2]));
                return {arith::AddFOp::create(bb, ll, a[3], g)};
              })[0];
          Value daqNew = insertDim(nb, l, daqc, args[2], 1, readStart);

          // G_M <- (reset ? 0 : (1 - rho) G_M - F^T dR) + P^T dY and
          // G_Lambda <- reset ? 0 : (G_Lambda - g_rho rho)(1 - rho), both in
          // place.
          auto [gmIns, gmMaps] =
              withReset({ftdr, rho, ptdy}, {id4, m(4, {0, 1, 2}), id4}, 4);
          gmMaps.push_back(id4);
          Value gmNew = buildGeneric(
              nb, l, gmIns, gm, gmMaps, parallelIterators(4),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value one = floatConstant(bb, ll, ct, 1.0);
                Value keep = arith::SubFOp::create(
                    bb, ll,
                    arith::MulFOp::create(
                        bb, ll, arith::SubFOp::create(bb, ll, one, a[1]),
                        a.back()),
                    a[0]);
                if (reset)
                  keep = arith::SelectOp::create(
                      bb, ll, a[3], floatConstant(bb, ll, ct, 0.0), keep);
                return {arith::AddFOp::create(bb, ll, keep, a[2])};
              })[0];
          auto [glIns, glMaps] = withReset({grho, rho}, {id3, id3}, 3);
          glMaps.push_back(id3);
          Value glNew = buildGeneric(
              nb, l, glIns, gl, glMaps, parallelIterators(3),
              [&](OpBuilder &bb, Location ll,
                  ValueRange a) -> SmallVector<Value> {
                Value rh = castFloat(bb, ll, a[1], lc);
                Value gr = castFloat(bb, ll, a[0], lc);
                Value aa = arith::SubFOp::create(
                    bb, ll, a.back(), arith::MulFOp::create(bb, ll, gr, rh));
                Value one = floatConstant(bb, ll, lc, 1.0);
                Value v = arith::MulFOp::create(
                    bb, ll, aa, arith::SubFOp::create(bb, ll, one, rh));
                if (reset)
                  v = arith::SelectOp::create(
                      bb, ll, a[2], floatConstant(bb, ll, lc, 0.0), v);
                return {v};
              })[0];
          scf::YieldOp::create(nb, l,
                               ValueRange{gmNew, glNew, daqNew, dkNew, dvNew});
        });

    Value daq = mergeHeads(b, loc, castTensor(b, loc, bwd.getResult(2), elem));
    int64_t off = hasState ? chunk : 0;
    Value dak = mergeHeads(
        b, loc, gatherRows(b, loc, bwd.getResult(3), off, len, len - chunk));
    Value dvOut = mergeHeads(
        b, loc, gatherRows(b, loc, bwd.getResult(4), off, len, len - chunk));
    SmallVector<Value> results = {daq, dak, dvOut};
    if (hasState) {
      results.push_back(castTensor(b, loc, bwd.getResult(0), elem));
      results.push_back(castTensor(b, loc, bwd.getResult(1), lamType));
      results.push_back(mergeHeads(
          b, loc, gatherRows(b, loc, bwd.getResult(3), 0, chunk, chunk)));
      results.push_back(mergeHeads(
          b, loc, gatherRows(b, loc, bwd.getResult(4), 0, chunk, chunk)));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void populateGeckoMemoryLoweringPatterns(RewritePatternSet &patterns) {
  patterns
      .add<LowerWorkingMemory, LowerWorkingMemoryStep, LowerWorkingMemoryGrad>(
          patterns.getContext());
}

} // namespace mlir::gecko
