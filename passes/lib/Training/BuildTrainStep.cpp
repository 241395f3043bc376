//===- BuildTrainStep.cpp - AdamW training step from a gradient function --===//
//
// gecko-build-train-step (see Passes.td): clones the gradient function,
// appends the optimizer state and schedule inputs, clips by global norm and
// applies gecko.adamw to every parameter. The result names tell the runtime
// which argument each new value replaces (`next:<name>`).
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"
#include "gecko/Training/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOBUILDTRAINSTEP
#include "gecko/Training/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kGradPrefix = "grad.";

/// A 0-d f32 constant.
Value scalar(OpBuilder &b, Location loc, double value) {
  auto type = RankedTensorType::get({}, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, b.getF32FloatAttr(value)));
}

/// Sum of squares of every element of `g` as a 0-d f32 tensor.
Value sumOfSquares(OpBuilder &b, Location loc, Value g) {
  auto type = cast<RankedTensorType>(g.getType());
  Value squared = arith::MulFOp::create(b, loc, g, g);
  if (type.getRank() == 0)
    return squared;
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  Value init =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getF32Type());
  Value filled = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  SmallVector<int64_t> dims(type.getRank());
  for (int64_t i = 0; i < type.getRank(); ++i)
    dims[i] = i;
  return linalg::ReduceOp::create(
             b, loc, squared, filled, dims,
             [](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(
                   nb, nl,
                   arith::AddFOp::create(nb, nl, args[0], args[1]).getResult());
             })
      .getResult(0);
}

struct GeckoBuildTrainStepPass
    : impl::GeckoBuildTrainStepBase<GeckoBuildTrainStepPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto source = module.lookupSymbol<func::FuncOp>(this->source);
    if (!source) {
      module.emitError() << "gecko-build-train-step: no function @"
                         << this->source << " (run gecko-autodiff first)";
      return signalPassFailure();
    }
    if (module.lookupSymbol(this->target)) {
      module.emitError() << "gecko-build-train-step: @" << this->target
                         << " already exists";
      return signalPassFailure();
    }
    OpBuilder moduleBuilder(source);
    moduleBuilder.setInsertionPointAfter(source);
    auto step = cast<func::FuncOp>(moduleBuilder.clone(*source));
    step.setName(this->target);
    if (failed(build(step))) {
      step.erase();
      return signalPassFailure();
    }
  }

  LogicalResult build(func::FuncOp func) {
    MLIRContext *ctx = &getContext();
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Location loc = func.getLoc();

    // Pair every gradient result with its parameter argument.
    llvm::StringMap<unsigned> paramIndex;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kParamAttrName))
        paramIndex[name.getValue()] = i;
    struct Entry {
      std::string name;
      unsigned arg;
      Value grad;
    };
    SmallVector<Entry> entries;
    for (unsigned r = 0, e = func.getNumResults(); r < e; ++r) {
      auto name = func.getResultAttrOfType<StringAttr>(r, kOutputAttrName);
      if (!name || !name.getValue().starts_with(kGradPrefix))
        continue;
      std::string param = name.getValue().drop_front(kGradPrefix.size()).str();
      auto it = paramIndex.find(param);
      if (it == paramIndex.end())
        return func.emitError()
               << "gecko-build-train-step: result '" << name.getValue()
               << "' has no parameter argument '" << param << "'";
      entries.push_back({param, it->second, ret.getOperand(r)});
    }
    if (entries.empty() || func.getNumResults() < 1)
      return func.emitError() << "gecko-build-train-step: @" << this->source
                              << " returns no grad.<param> results";
    Value loss = ret.getOperand(0);

    // New arguments: moments, then the schedule inputs.
    auto named = [&](StringRef attr, StringRef name) {
      return DictionaryAttr::get(ctx,
                                 {NamedAttribute(StringAttr::get(ctx, attr),
                                                 StringAttr::get(ctx, name))});
    };
    SmallVector<std::pair<Value, Value>> moments;
    for (const Entry &e : entries) {
      Type type = func.getArgument(e.arg).getType();
      std::string m = "opt.m." + e.name, v = "opt.v." + e.name;
      unsigned n = func.getNumArguments();
      if (failed(func.insertArgument(n, type, named(kStateAttrName, m), loc)) ||
          failed(
              func.insertArgument(n + 1, type, named(kStateAttrName, v), loc)))
        return failure();
      moments.push_back({func.getArgument(n), func.getArgument(n + 1)});
    }
    unsigned n = func.getNumArguments();
    auto f32Scalar = RankedTensorType::get({}, Float32Type::get(ctx));
    auto i64Scalar = RankedTensorType::get({}, IntegerType::get(ctx, 64));
    if (failed(func.insertArgument(n, f32Scalar,
                                   named(kInputAttrName, "input.lr"), loc)) ||
        failed(func.insertArgument(n + 1, i64Scalar,
                                   named(kInputAttrName, "input.step"), loc)))
      return failure();
    Value lr = func.getArgument(n), stepArg = func.getArgument(n + 1);

    OpBuilder b(ret);
    // Global gradient norm and the clipping scale.
    Value total;
    for (const Entry &e : entries) {
      Value sq = sumOfSquares(b, loc, e.grad);
      total = total ? arith::AddFOp::create(b, loc, total, sq).getResult() : sq;
    }
    Value norm = math::SqrtOp::create(b, loc, total);
    Value scale;
    if (maxGradNorm > 0.0) {
      Value ratio = arith::DivFOp::create(
          b, loc, scalar(b, loc, maxGradNorm),
          arith::AddFOp::create(b, loc, norm, scalar(b, loc, 1e-6)));
      scale = arith::MinimumFOp::create(b, loc, ratio, scalar(b, loc, 1.0));
    }

    SmallVector<Value> results = {loss, norm};
    SmallVector<Type> types = {loss.getType(), norm.getType()};
    SmallVector<DictionaryAttr> attrs = {
        func.getResultAttrDict(0), named(kOutputAttrName, "output.grad_norm")};
    auto next = [&](Value v, const std::string &name) {
      results.push_back(v);
      types.push_back(v.getType());
      attrs.push_back(named(kOutputAttrName, kNextPrefix + name));
    };
    for (auto [e, mv] : llvm::zip(entries, moments)) {
      Value param = func.getArgument(e.arg);
      int64_t rank = cast<RankedTensorType>(param.getType()).getRank();
      double decay = rank >= 2 ? weightDecay.getValue() : 0.0;
      auto adamw = AdamWOp::create(
          b, loc, param, e.grad, mv.first, mv.second, stepArg, lr, scale,
          b.getF64FloatAttr(beta1), b.getF64FloatAttr(beta2),
          b.getF64FloatAttr(eps), b.getF64FloatAttr(decay));
      next(adamw.getNewParam(), e.name);
      next(adamw.getNewM(), "opt.m." + e.name);
      next(adamw.getNewV(), "opt.v." + e.name);
    }
    ret->setOperands(results);
    func.setType(FunctionType::get(ctx, func.getArgumentTypes(), types));
    func.setAllResultAttrs(attrs);
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
