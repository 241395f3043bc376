//===- TruncateContractionOperands.cpp - bf16 operands, f32 accumulation --===//
//
// The mixed-precision rewrite of `--precision=bf16` (Passes.td,
// gecko-truncate-contraction-operands; docs/lowering.md, "Precision"):
// every f32 matrix product on tensors reads bf16 copies of its two inputs
// and accumulates their exact f32 products in f32.
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOTRUNCATECONTRACTIONOPERANDS
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// The body's multiply and add when it is exactly `yield out + in0 * in1`
/// (either operand order of both), else nullopt.
std::optional<std::pair<arith::MulFOp, arith::AddFOp>>
plainMulAdd(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  if (!body || body->getNumArguments() != 3 ||
      !llvm::hasNItems(body->getOperations(), 3))
    return std::nullopt;
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return std::nullopt;
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return std::nullopt;
  Value out = body->getArgument(2);
  Value product = add.getLhs() == out   ? add.getRhs()
                  : add.getRhs() == out ? add.getLhs()
                                        : Value();
  auto mul = product ? product.getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul)
    return std::nullopt;
  Value a = body->getArgument(0), b = body->getArgument(1);
  if (!((mul.getLhs() == a && mul.getRhs() == b) ||
        (mul.getLhs() == b && mul.getRhs() == a)))
    return std::nullopt;
  return std::make_pair(mul, add);
}

/// True for a (batched) f32 matrix product on tensors: two inputs, one
/// init, body `out + a * b`, non-empty m, n and k groups and no reduction
/// outside k.
bool isF32MatrixProduct(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1)
    return false;
  for (Value v : op->getOperands()) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || !type.getElementType().isF32())
      return false;
  }
  if (!linalg::isaContractionOpInterface(op) || !plainMulAdd(op))
    return false;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  return succeeded(dims) && !dims->m.empty() && !dims->n.empty() &&
         !dims->k.empty() && op.getNumReductionLoops() == dims->k.size();
}

struct TruncateContractionOperandsPass
    : impl::GeckoTruncateContractionOperandsBase<
          TruncateContractionOperandsPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> products;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (isF32MatrixProduct(op))
        products.push_back(op);
    });
    // Every value read by a product, with its readers, in first-use order
    // (deterministic output).
    llvm::MapVector<Value, SmallVector<Operation *>> readers;
    for (linalg::LinalgOp op : products)
      for (OpOperand *input : op.getDpsInputOperands())
        readers[input->get()].push_back(op);
    DenseMap<Value, Value> truncated;
    for (auto &[value, users] : readers)
      truncated[value] = truncate(value, users);
    for (linalg::LinalgOp op : products)
      rewrite(op, truncated);
  }

  /// A bf16 copy of `value`, made once, just before the first op of
  /// `value`'s block that contains one of `users`: it dominates every
  /// user, is computed outside the loops the users sit in, and is not
  /// made before it is needed (a saved activation is rounded when the
  /// backward reads it, not while the forward runs).
  Value truncate(Value value, ArrayRef<Operation *> users) {
    Block *block = value.getParentBlock();
    Operation *first = nullptr;
    for (Operation *user : users) {
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (!first || ancestor->isBeforeInBlock(first))
        first = ancestor;
    }
    OpBuilder b(first);
    Location loc = value.getLoc();
    auto type = cast<RankedTensorType>(value.getType());
    Type bf16 = b.getBF16Type();
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, value);
    Value init = tensor::EmptyOp::create(b, loc, sizes, bf16);
    AffineMap identity = b.getMultiDimIdentityMap(type.getRank());
    SmallVector<utils::IteratorType> parallel(type.getRank(),
                                              utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, type.clone(bf16), ValueRange{value}, ValueRange{init},
        ArrayRef<AffineMap>{identity, identity}, parallel,
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          Value t = arith::TruncFOp::create(nb, nloc, bf16, args[0]);
          linalg::YieldOp::create(nb, nloc, t);
        });
    return generic.getResult(0);
  }

  /// Replaces `op` by a generic over the bf16 copies of its inputs whose
  /// body extends them back to f32 (exactly) and multiply-accumulates in
  /// f32 with the original ops' fastmath flags.
  void rewrite(linalg::LinalgOp op, const DenseMap<Value, Value> &truncated) {
    auto [mul, add] = *plainMulAdd(op);
    arith::FastMathFlags mulFlags = mul.getFastmath();
    arith::FastMathFlags addFlags = add.getFastmath();
    OpBuilder b(op);
    Location loc = op.getLoc();
    SmallVector<Value> inputs;
    for (OpOperand *input : op.getDpsInputOperands())
      inputs.push_back(truncated.lookup(input->get()));
    Type f32 = b.getF32Type();
    auto generic = linalg::GenericOp::create(
        b, loc, op->getResultTypes(), inputs, op.getDpsInits(),
        op.getIndexingMapsArray(), op.getIteratorTypesArray(),
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          Value lhs = arith::ExtFOp::create(nb, nloc, f32, args[0]);
          Value rhs = arith::ExtFOp::create(nb, nloc, f32, args[1]);
          Value product = arith::MulFOp::create(nb, nloc, lhs, rhs, mulFlags);
          Value sum =
              arith::AddFOp::create(nb, nloc, args[2], product, addFlags);
          linalg::YieldOp::create(nb, nloc, sum);
        });
    // Discardable attributes (markers of the lowerings) carry over.
    for (NamedAttribute attr : op->getDiscardableAttrs())
      generic->setAttr(attr.getName(), attr.getValue());
    op->replaceAllUsesWith(generic->getResults());
    op->erase();
  }
};

} // namespace
} // namespace mlir::gecko
