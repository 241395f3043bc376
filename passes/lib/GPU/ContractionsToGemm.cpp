//===- ContractionsToGemm.cpp - Library GEMMs for linalg contractions -----===//
//
// A linalg op whose body is a multiply-accumulate over one group of
// reduction dimensions is a (batched) matrix product once its dimension
// groups are collapsed. When every operand's layout allows that with unit
// stride where cuBLASLt needs it, the op becomes a call of the runtime's
// gemm import (kernel_abi.h) instead of a generated kernel: f32 or f64
// throughout, or (--precision=bf16) bf16 inputs extended to f32 in the
// body with an f32 output, GECKO_GEMM_BF16_F32.
//
//===----------------------------------------------------------------------===//

#include "gecko/GPU/Passes.h"
#include "gecko/abi/kernel_abi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::gecko {
#define GEN_PASS_DEF_GECKOGPUCONTRACTIONSTOGEMM
#include "gecko/GPU/Passes.h.inc"

namespace {

/// The stride of operand dimension group `group` (loop dims, outer to
/// inner) in an operand indexed by `map` with memref strides `strides`: 0
/// when the operand does not use the group (broadcast), the innermost
/// dim's stride when the group's dims are all used and collapse row-major,
/// nullopt otherwise.
std::optional<int64_t> groupStride(AffineMap map, ArrayRef<int64_t> strides,
                                   ArrayRef<int64_t> loopSizes,
                                   ArrayRef<unsigned> group) {
  SmallVector<std::optional<int64_t>> dimStride;
  unsigned used = 0;
  // Dims of extent 1 do not move through memory: their strides are free.
  SmallVector<unsigned> nontrivial;
  for (unsigned d : group)
    if (loopSizes[d] != 1)
      nontrivial.push_back(d);
  if (nontrivial.empty())
    return 0;
  group = nontrivial;
  for (unsigned d : group) {
    std::optional<int64_t> s;
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      if (map.getResult(r) == getAffineDimExpr(d, map.getContext()))
        s = strides[r];
    used += s.has_value();
    dimStride.push_back(s);
  }
  if (used == 0)
    return 0;
  if (used != group.size())
    return std::nullopt;
  for (size_t i = 0; i + 1 < group.size(); ++i)
    if (*dimStride[i] != *dimStride[i + 1] * loopSizes[group[i + 1]])
      return std::nullopt;
  return *dimStride.back();
}

/// The stride of loop dim `d` in an operand (0 if the operand does not use
/// it).
int64_t dimStride(AffineMap map, ArrayRef<int64_t> strides, unsigned d) {
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    if (map.getResult(r) == getAffineDimExpr(d, map.getContext()))
      return strides[r];
  return 0;
}

/// What a GEMM body computes, as the descriptor's dtype (kernel_abi.h).
enum class GemmBody {
  None,
  /// `out + a * b` in the element type of all three (f32 or f64).
  Plain,
  /// `out + extf(a) * extf(b)` with bf16 a and b and f32 out (the bf16
  /// mode's products, gecko-truncate-contraction-operands).
  Bf16F32,
};

/// Classifies the body: `yield out + x * y` (alpha = 1) or `yield out - x *
/// y` (alpha = -1) where {x, y} are the two input block arguments (Plain)
/// or their extensions from bf16 to f32 (Bf16F32), in any operand order.
/// Anything else (a transformed input, one input extended and not the
/// other, another reduction) is None. (isaContractionOpInterface also
/// accepts bodies that transform the inputs first, and no subtraction.)
GemmBody classifyBody(linalg::LinalgOp op, double *alpha = nullptr) {
  Block *body = op.getBlock();
  if (!body || body->getNumArguments() != 3)
    return GemmBody::None;
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return GemmBody::None;
  Operation *acc = yield.getOperand(0).getDefiningOp();
  Value out = body->getArgument(2);
  Value product;
  if (isa_and_nonnull<arith::AddFOp>(acc)) {
    product = acc->getOperand(0) == out   ? acc->getOperand(1)
              : acc->getOperand(1) == out ? acc->getOperand(0)
                                          : Value();
    if (alpha)
      *alpha = 1.0;
  } else if (isa_and_nonnull<arith::SubFOp>(acc) && acc->getOperand(0) == out) {
    product = acc->getOperand(1);
    if (alpha)
      *alpha = -1.0;
  }
  auto mul = product ? product.getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul)
    return GemmBody::None;
  Value a = body->getArgument(0), b = body->getArgument(1);
  auto multipliesInputs = [&](Value x, Value y) {
    return (mul.getLhs() == x && mul.getRhs() == y) ||
           (mul.getLhs() == y && mul.getRhs() == x);
  };
  if (llvm::hasNItems(body->getOperations(), 3))
    return multipliesInputs(a, b) ? GemmBody::Plain : GemmBody::None;
  if (!llvm::hasNItems(body->getOperations(), 5))
    return GemmBody::None;
  // The extension of `arg` from bf16 to f32 among the mul's operands.
  auto extension = [&](Value arg) -> Value {
    for (Value v : {mul.getLhs(), mul.getRhs()}) {
      auto ext = v.getDefiningOp<arith::ExtFOp>();
      if (ext && ext.getIn() == arg && ext.getIn().getType().isBF16() &&
          ext.getType().isF32())
        return v;
    }
    return Value();
  };
  Value ea = extension(a), eb = extension(b);
  if (!ea || !eb || !out.getType().isF32())
    return GemmBody::None;
  return multipliesInputs(ea, eb) ? GemmBody::Bf16F32 : GemmBody::None;
}

struct Operand {
  Value memref;
  unsigned bytes = 0;                // element size
  int64_t strides[3];                // row, column, batch (after collapsing)
  SmallVector<int64_t> outerStrides; // per host-loop batch dim
};

struct ContractionsToGemmPass
    : impl::GeckoGpuContractionsToGemmBase<ContractionsToGemmPass> {
  void runOnOperation() override {
    // A module pass: the import is declared once, in the module.
    for (auto func : getOperation().getOps<func::FuncOp>())
      runOnFunction(func);
  }

  void runOnFunction(func::FuncOp func) {
    SmallVector<linalg::LinalgOp> candidates;
    func.walk([&](linalg::LinalgOp op) {
      if (op.hasPureBufferSemantics() && op.getNumDpsInputs() == 2 &&
          op.getNumDpsInits() == 1 && op.getNumReductionLoops() > 0 &&
          llvm::all_of(
              op.getIndexingMapsArray(),
              [](AffineMap map) { return map.isProjectedPermutation(); }) &&
          classifyBody(op) != GemmBody::None)
        candidates.push_back(op);
    });
    deviceValues.clear();
    order.clear();
    computeHostHazards(func);
    // Decide before rewriting: rewriting erases ops the analysis refers to.
    SmallVector<linalg::LinalgOp> safe;
    for (linalg::LinalgOp op : candidates)
      if (!insideDeviceControl(op) && !splitsDeviceValue(op))
        safe.push_back(op);
    deviceValues.clear();
    order.clear();
    for (linalg::LinalgOp op : safe)
      (void)rewrite(op);
  }

  /// Scalars read from buffers (and what is computed from them) live on
  /// the device once gecko-gpu-wrap-host-compute has run; a library call
  /// is issued by the host. A contraction between the definition and a use
  /// of such a value, or under control flow that depends on one, would have
  /// to run inside a kernel, so it keeps the generated kernel.
  llvm::DenseSet<Value> deviceValues;
  DenseMap<Operation *, unsigned> order;

  void computeHostHazards(func::FuncOp func) {
    unsigned index = 0;
    func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      order[op] = index++;
      bool reads = false;
      if (auto iface = dyn_cast<MemoryEffectOpInterface>(op))
        reads = iface.hasEffect<MemoryEffects::Read>();
      bool tainted = reads || llvm::any_of(op->getOperands(), [&](Value v) {
                       return deviceValues.contains(v);
                     });
      if (tainted) {
        for (Value r : op->getResults())
          deviceValues.insert(r);
        for (Region &region : op->getRegions())
          for (Block &block : region)
            for (BlockArgument arg : block.getArguments())
              deviceValues.insert(arg);
      }
    });
    // Loop results carried from tainted yields.
    func.walk([&](scf::YieldOp yield) {
      for (auto [i, v] : llvm::enumerate(yield.getOperands()))
        if (deviceValues.contains(v)) {
          Operation *parent = yield->getParentOp();
          if (i < parent->getNumResults())
            deviceValues.insert(parent->getResult(i));
          if (auto loop = dyn_cast<scf::ForOp>(parent))
            deviceValues.insert(loop.getRegionIterArgs()[i]);
        }
    });
  }

  bool insideDeviceControl(Operation *op) {
    for (Operation *p = op->getParentOp(); p && !isa<func::FuncOp>(p);
         p = p->getParentOp()) {
      if (isa<scf::ParallelOp>(p))
        return true;
      if (llvm::any_of(p->getOperands(),
                       [&](Value v) { return deviceValues.contains(v); }))
        return true;
    }
    return false;
  }

  bool splitsDeviceValue(Operation *op) {
    unsigned at = order.lookup(op);
    for (Value v : deviceValues) {
      Operation *def = v.getDefiningOp();
      unsigned defAt = def ? order.lookup(def)
                           : order.lookup(v.getParentBlock()->getParentOp());
      if (defAt >= at)
        continue;
      for (Operation *user : v.getUsers())
        if (order.lookup(user) > at && !op->isAncestor(user))
          return true;
    }
    return false;
  }

  LogicalResult rewrite(linalg::LinalgOp op) {
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    if (failed(dims) || dims->m.empty() || dims->n.empty() || dims->k.empty())
      return failure();
    // The reduction dims must all be k (no other reductions).
    if (op.getNumReductionLoops() != dims->k.size())
      return failure();
    SmallVector<int64_t> loopSizes = op.getStaticLoopRanges();
    if (llvm::any_of(loopSizes, ShapedType::isDynamic))
      return failure();
    double alpha = 1.0;
    GemmBody body = classifyBody(op, &alpha);
    Operand ops[3];
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<SmallVector<int64_t>> operandStrides(3);
    // Batch dims that do not collapse into one stride in every operand are
    // peeled, outermost first, into host loops of GEMM calls.
    SmallVector<unsigned> batchDims;
    for (unsigned d : dims->batch)
      if (loopSizes[d] != 1)
        batchDims.push_back(d);
    for (unsigned i = 0; i < 3; ++i) {
      auto type = dyn_cast<MemRefType>(op->getOperand(i).getType());
      int64_t offset;
      if (!type ||
          failed(type.getStridesAndOffset(operandStrides[i], offset)) ||
          llvm::any_of(operandStrides[i], ShapedType::isDynamic))
        return failure();
    }
    size_t peel = 0;
    for (; peel < batchDims.size(); ++peel) {
      ArrayRef<unsigned> inner = ArrayRef<unsigned>(batchDims).drop_front(peel);
      if (llvm::all_of(llvm::seq(0u, 3u), [&](unsigned i) {
            return groupStride(maps[i], operandStrides[i], loopSizes, inner)
                .has_value();
          }))
        break;
    }
    ArrayRef<unsigned> outerDims =
        ArrayRef<unsigned>(batchDims).take_front(peel);
    ArrayRef<unsigned> innerDims =
        ArrayRef<unsigned>(batchDims).drop_front(peel);
    for (unsigned i = 0; i < 3; ++i) {
      Value v = op->getOperand(i);
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type || !maps[i].isProjectedPermutation())
        return failure();
      SmallVector<int64_t> strides;
      int64_t offset;
      if (failed(type.getStridesAndOffset(strides, offset)) ||
          llvm::any_of(strides, ShapedType::isDynamic))
        return failure();
      // A: (m, k), B: (k, n), C: (m, n).
      ArrayRef<unsigned> rows = i == 1 ? dims->k : dims->m;
      ArrayRef<unsigned> cols = i == 0 ? dims->k : dims->n;
      std::optional<int64_t> r = groupStride(maps[i], strides, loopSizes, rows);
      std::optional<int64_t> c = groupStride(maps[i], strides, loopSizes, cols);
      std::optional<int64_t> b =
          innerDims.empty()
              ? std::optional<int64_t>(0)
              : groupStride(maps[i], strides, loopSizes, innerDims);
      if (!r || !c || !b)
        return failure();
      ops[i] = {v, 0, {*r, *c, *b}, {}};
      for (unsigned d : outerDims)
        ops[i].outerStrides.push_back(dimStride(maps[i], strides, d));
    }
    // The operands' element types as the descriptor's dtype says.
    Type elementTypes[3];
    for (unsigned i = 0; i < 3; ++i)
      elementTypes[i] =
          cast<MemRefType>(op->getOperand(i).getType()).getElementType();
    unsigned dtype;
    if (body == GemmBody::Bf16F32) {
      if (!elementTypes[0].isBF16() || !elementTypes[1].isBF16() ||
          !elementTypes[2].isF32())
        return failure();
      dtype = GECKO_GEMM_BF16_F32;
    } else {
      if (elementTypes[0] != elementTypes[1] ||
          elementTypes[0] != elementTypes[2] ||
          (!elementTypes[0].isF32() && !elementTypes[0].isF64()))
        return failure();
      dtype = elementTypes[0].isF32() ? GECKO_GEMM_F32 : GECKO_GEMM_F64;
    }
    // Before the operands may be swapped below.
    for (unsigned i = 0; i < 3; ++i)
      ops[i].bytes = elementTypes[i].getIntOrFloatBitWidth() / 8;
    auto product = [&](ArrayRef<unsigned> group) {
      int64_t p = 1;
      for (unsigned d : group)
        p *= loopSizes[d];
      return p;
    };
    int64_t m = product(dims->m), n = product(dims->n), k = product(dims->k);
    int64_t batch = product(innerDims);
    // C must be row-major; a column-major C is the transposed product.
    if (ops[2].strides[1] != 1 && ops[2].strides[0] == 1) {
      std::swap(ops[0], ops[1]);
      for (Operand &o : ops)
        std::swap(o.strides[0], o.strides[1]);
      std::swap(m, n);
    }
    auto unitOrLd = [](const Operand &o, int64_t rows, int64_t cols) {
      return (o.strides[1] == 1 && o.strides[0] >= cols) ||
             (o.strides[0] == 1 && o.strides[1] >= rows);
    };
    if (ops[2].strides[1] != 1 || ops[2].strides[0] < n ||
        !unitOrLd(ops[0], m, k) || !unitOrLd(ops[1], k, n))
      return failure();
    // Every output element must be written once per batch: C may not be
    // broadcast along any group.
    if (ops[2].strides[0] == 0 || (batch > 1 && ops[2].strides[2] == 0))
      return failure();

    // C is written once per element: distinct outer iterations must not
    // alias in C.
    for (int64_t st : ops[2].outerStrides)
      if (st == 0)
        return failure();

    OpBuilder b(op);
    Location loc = op.getLoc();
    // Host loops over the peeled batch dims.
    SmallVector<Value> ivs;
    for (unsigned d : outerDims) {
      Value lb = arith::ConstantIndexOp::create(b, loc, 0);
      Value ub = arith::ConstantIndexOp::create(b, loc, loopSizes[d]);
      Value step = arith::ConstantIndexOp::create(b, loc, 1);
      auto loop = scf::ForOp::create(b, loc, lb, ub, step);
      ivs.push_back(loop.getInductionVar());
      b.setInsertionPoint(loop.getBody()->getTerminator());
    }
    auto address = [&](const Operand &o) -> Value {
      auto meta = memref::ExtractStridedMetadataOp::create(b, loc, o.memref);
      Value base =
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, o.memref);
      Value elements = meta.getOffset();
      for (auto [iv, stride] : llvm::zip(ivs, o.outerStrides)) {
        Value st = arith::ConstantIndexOp::create(b, loc, stride);
        elements = arith::AddIOp::create(b, loc, elements,
                                         arith::MulIOp::create(b, loc, iv, st));
      }
      Value scale = arith::ConstantIndexOp::create(b, loc, o.bytes);
      Value offset = arith::MulIOp::create(b, loc, elements, scale);
      return arith::AddIOp::create(b, loc, base, offset);
    };
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, v, 64);
    };
    SmallVector<Value> args = {
        arith::ConstantIntOp::create(b, loc, dtype, 32),
        i64(m),
        i64(n),
        i64(k),
        i64(batch),
        arith::ConstantFloatOp::create(b, loc, b.getF64Type(), APFloat(alpha)),
        arith::ConstantFloatOp::create(b, loc, b.getF64Type(), APFloat(1.0))};
    for (Operand &o : ops) {
      args.push_back(address(o));
      for (int64_t s : o.strides)
        args.push_back(i64(s));
    }
    func::FuncOp callee = declareImport(op->getParentOfType<ModuleOp>(), args);
    auto call = func::CallOp::create(b, loc, callee, args);
    call->setAttr(kGpuImportAttr, b.getStringAttr("gemm"));
    op->erase();
    return success();
  }

  func::FuncOp declareImport(ModuleOp module, ArrayRef<Value> args) {
    if (auto existing = module.lookupSymbol<func::FuncOp>(kGemmImportName))
      return existing;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto type = b.getFunctionType(ValueRange(args).getTypes(), {});
    auto decl = func::FuncOp::create(b, module.getLoc(), kGemmImportName, type);
    decl.setPrivate();
    return decl;
  }
};

} // namespace
} // namespace mlir::gecko
