//===- TestVjp.cpp - Exercise DifferentiableOpInterface::buildVjp ---------===//
//
// `test-gecko-vjp` asks every differentiable op in a function for its VJP.
// Each floating-point result's cotangent is a fresh argument appended to the
// function, and the function's results are replaced by every non-null operand
// cotangent, so lit tests can CHECK the backward ops each op emits and the
// verifier checks that they are well-formed.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {

struct TestVjpPass : PassWrapper<TestVjpPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestVjpPass)

  TestVjpPass() = default;
  TestVjpPass(const TestVjpPass &other) : PassWrapper(other) {}

  Option<bool> firstResultOnly{
      *this, "first-result-only",
      llvm::cl::desc("Give a cotangent to each op's first result only; the "
                     "others are null (zero), exercising the zero handling "
                     "of buildVjp"),
      llvm::cl::init(false)};

  void getDependentDialects(DialectRegistry &registry) const override {
    // buildVjp materialises zero cotangents with these dialects.
    registry.insert<arith::ArithDialect, linalg::LinalgDialect,
                    tensor::TensorDialect>();
  }

  StringRef getArgument() const final { return "test-gecko-vjp"; }
  StringRef getDescription() const final {
    return "Build the VJP of every differentiable gecko op (test only)";
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    SmallVector<gecko::DifferentiableOpInterface> ops;
    func.walk([&](gecko::DifferentiableOpInterface op) { ops.push_back(op); });
    if (ops.empty())
      return;

    Block &entry = func.getBody().front();
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    SmallVector<Value> outputs;
    OpBuilder b(ret);
    for (gecko::DifferentiableOpInterface op : ops) {
      SmallVector<Value> resultGrads;
      for (Value result : op->getResults()) {
        if (!isa<FloatType>(getElementTypeOrSelf(result.getType())) ||
            (firstResultOnly && result != op->getResult(0))) {
          resultGrads.push_back(Value());
          continue;
        }
        resultGrads.push_back(
            entry.addArgument(result.getType(), op->getLoc()));
      }
      FailureOr<SmallVector<Value>> grads = op.buildVjp(b, resultGrads);
      if (failed(grads)) {
        op->emitError("buildVjp failed");
        return signalPassFailure();
      }
      if (grads->size() != op->getNumOperands()) {
        op->emitError("buildVjp returned ")
            << grads->size() << " cotangents for " << op->getNumOperands()
            << " operands";
        return signalPassFailure();
      }
      for (Value g : *grads)
        if (g)
          outputs.push_back(g);
    }
    ret->setOperands(outputs);
    SmallVector<Type> resultTypes;
    for (Value v : outputs)
      resultTypes.push_back(v.getType());
    func.setType(FunctionType::get(&getContext(), entry.getArgumentTypes(),
                                   resultTypes));
  }
};

} // namespace

namespace mlir::gecko::test {
void registerTestGeckoPasses() { PassRegistration<TestVjpPass>(); }
} // namespace mlir::gecko::test
