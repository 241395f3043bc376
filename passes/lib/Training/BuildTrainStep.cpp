//===- BuildTrainStep.cpp - AdamW training step from a gradient function --===//
//
// gecko-build-train-step (see Passes.td): clones the gradient function,
// appends the optimizer state and schedule inputs, clips by global norm and
// applies gecko.adamw to every parameter. The result names tell the runtime
// which argument each new value replaces (`next:<name>`). With
// gradients-as-inputs it builds the optimizer half alone (apply_gradients),
// whose gradient inputs the runtime all-reduces across data-parallel ranks.
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
#include "llvm/ADT/StringSet.h"

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

DictionaryAttr named(MLIRContext *ctx, StringRef attr, StringRef name) {
  return DictionaryAttr::get(ctx, {NamedAttribute(StringAttr::get(ctx, attr),
                                                  StringAttr::get(ctx, name))});
}

/// One trained parameter: its name, its argument in the gradient function
/// and the result index of its gradient there.
struct Entry {
  std::string name;
  unsigned arg;
  unsigned gradResult;
};

/// The results of the optimizer step and their `gecko.output` names.
struct Results {
  SmallVector<Value> values;
  SmallVector<Type> types;
  SmallVector<DictionaryAttr> attrs;
  void add(MLIRContext *ctx, Value v, StringRef name) {
    values.push_back(v);
    types.push_back(v.getType());
    attrs.push_back(named(ctx, kOutputAttrName, name));
  }
};

/// Values the optimizer of one parameter works on.
struct Update {
  StringRef name;
  Value param, grad, m, v;
};

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
    if (gradientsAsInputs &&
        ((collectiveGroup != "data" && collectiveGroup != "chunk") ||
         (collectiveReduction != "mean" && collectiveReduction != "sum"))) {
      module.emitError() << "gecko-build-train-step: collective group '"
                         << collectiveGroup << "' and reduction '"
                         << collectiveReduction
                         << "' are not supported (data or chunk; mean or sum)";
      return signalPassFailure();
    }
    if (module.lookupSymbol(this->target)) {
      module.emitError() << "gecko-build-train-step: @" << this->target
                         << " already exists";
      return signalPassFailure();
    }
    FailureOr<SmallVector<Entry>> entries = collectEntries(source);
    if (failed(entries))
      return signalPassFailure();
    OpBuilder moduleBuilder(source);
    moduleBuilder.setInsertionPointAfter(source);
    if (gradientsAsInputs) {
      if (failed(buildApply(moduleBuilder, source, *entries)))
        return signalPassFailure();
      return;
    }
    auto step = cast<func::FuncOp>(moduleBuilder.clone(*source));
    step.setName(this->target);
    if (failed(build(step, *entries))) {
      step.erase();
      return signalPassFailure();
    }
  }

  /// Pairs every gradient result of `func` with its parameter argument
  /// (gradients of gecko.state arguments, chunk_grad's state cotangents,
  /// are skipped).
  FailureOr<SmallVector<Entry>> collectEntries(func::FuncOp func) {
    llvm::StringMap<unsigned> paramIndex;
    llvm::StringSet<> states;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kParamAttrName))
        paramIndex[name.getValue()] = i;
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kStateAttrName))
        states.insert(name.getValue());
    }
    SmallVector<Entry> entries;
    for (unsigned r = 0, e = func.getNumResults(); r < e; ++r) {
      auto name = func.getResultAttrOfType<StringAttr>(r, kOutputAttrName);
      if (!name || !name.getValue().starts_with(kGradPrefix))
        continue;
      std::string param = name.getValue().drop_front(kGradPrefix.size()).str();
      if (states.contains(param))
        continue;
      auto it = paramIndex.find(param);
      if (it == paramIndex.end())
        return func.emitError()
               << "gecko-build-train-step: result '" << name.getValue()
               << "' has no parameter argument '" << param << "'";
      entries.push_back({param, it->second, r});
    }
    if (entries.empty() || func.getNumResults() < 1)
      return func.emitError() << "gecko-build-train-step: @" << this->source
                              << " returns no grad.<param> results";
    return entries;
  }

  /// Global-norm clipping and gecko.adamw for every update; appends
  /// `output.grad_norm` and the `next:` results.
  void emitOptimizer(OpBuilder &b, Location loc, ArrayRef<Update> updates,
                     Value lr, Value step, Results &out) {
    MLIRContext *ctx = b.getContext();
    Value total;
    for (const Update &u : updates) {
      Value sq = sumOfSquares(b, loc, u.grad);
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
    out.add(ctx, norm, "output.grad_norm");
    for (const Update &u : updates) {
      int64_t rank = cast<RankedTensorType>(u.param.getType()).getRank();
      double decay = rank >= 2 ? weightDecay.getValue() : 0.0;
      auto adamw =
          AdamWOp::create(b, loc, u.param, u.grad, u.m, u.v, step, lr, scale,
                          b.getF64FloatAttr(beta1), b.getF64FloatAttr(beta2),
                          b.getF64FloatAttr(eps), b.getF64FloatAttr(decay));
      std::string name = u.name.str();
      out.add(ctx, adamw.getNewParam(), kNextPrefix + name);
      out.add(ctx, adamw.getNewM(), kNextPrefix + ("opt.m." + name));
      out.add(ctx, adamw.getNewV(), kNextPrefix + ("opt.v." + name));
    }
  }

  /// Appends the moments of every entry, then input.lr and input.step, to
  /// `func`'s arguments. Returns false on failure.
  LogicalResult addOptimizerArgs(func::FuncOp func, ArrayRef<Entry> entries,
                                 ArrayRef<Type> paramTypes,
                                 SmallVectorImpl<std::pair<Value, Value>> &mv,
                                 Value &lr, Value &step) {
    MLIRContext *ctx = &getContext();
    Location loc = func.getLoc();
    for (auto [e, type] : llvm::zip(entries, paramTypes)) {
      std::string m = "opt.m." + e.name, v = "opt.v." + e.name;
      unsigned n = func.getNumArguments();
      if (failed(func.insertArgument(n, type, named(ctx, kStateAttrName, m),
                                     loc)) ||
          failed(func.insertArgument(n + 1, type, named(ctx, kStateAttrName, v),
                                     loc)))
        return failure();
      mv.push_back({func.getArgument(n), func.getArgument(n + 1)});
    }
    unsigned n = func.getNumArguments();
    auto f32Scalar = RankedTensorType::get({}, Float32Type::get(ctx));
    auto i64Scalar = RankedTensorType::get({}, IntegerType::get(ctx, 64));
    if (failed(func.insertArgument(
            n, f32Scalar, named(ctx, kInputAttrName, "input.lr"), loc)) ||
        failed(func.insertArgument(
            n + 1, i64Scalar, named(ctx, kInputAttrName, "input.step"), loc)))
      return failure();
    lr = func.getArgument(n);
    step = func.getArgument(n + 1);
    return success();
  }

  /// The train step: `func` is a clone of the gradient function.
  LogicalResult build(func::FuncOp func, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Location loc = func.getLoc();
    SmallVector<Type> paramTypes;
    SmallVector<Value> grads;
    for (const Entry &e : entries) {
      paramTypes.push_back(func.getArgument(e.arg).getType());
      grads.push_back(ret.getOperand(e.gradResult));
    }
    Value loss = ret.getOperand(0);
    DictionaryAttr lossAttrs = func.getResultAttrDict(0);
    SmallVector<std::pair<Value, Value>> moments;
    Value lr, stepArg;
    if (failed(
            addOptimizerArgs(func, entries, paramTypes, moments, lr, stepArg)))
      return failure();
    SmallVector<Update> updates;
    for (auto [e, g, mv] : llvm::zip(entries, grads, moments))
      updates.push_back(
          {e.name, func.getArgument(e.arg), g, mv.first, mv.second});

    OpBuilder b(ret);
    Results out;
    out.values.push_back(loss);
    out.types.push_back(loss.getType());
    out.attrs.push_back(lossAttrs);
    emitOptimizer(b, loc, updates, lr, stepArg, out);
    ret->setOperands(out.values);
    func.setType(FunctionType::get(ctx, func.getArgumentTypes(), out.types));
    func.setAllResultAttrs(out.attrs);
    return success();
  }

  /// The optimizer half alone (gradients-as-inputs): a new function.
  LogicalResult buildApply(OpBuilder &moduleBuilder, func::FuncOp source,
                           ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Location loc = source.getLoc();
    SmallVector<Type> paramTypes;
    for (const Entry &e : entries)
      paramTypes.push_back(source.getArgument(e.arg).getType());
    SmallVector<Type> argTypes(paramTypes);
    argTypes.append(paramTypes.begin(), paramTypes.end());
    auto func = func::FuncOp::create(moduleBuilder, loc, this->target,
                                     FunctionType::get(ctx, argTypes, {}));
    Block *body = func.addEntryBlock();
    auto collective = DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, "op"),
                             StringAttr::get(ctx, "all_reduce")),
              NamedAttribute(StringAttr::get(ctx, "reduction"),
                             StringAttr::get(ctx, collectiveReduction)),
              NamedAttribute(StringAttr::get(ctx, "group"),
                             StringAttr::get(ctx, collectiveGroup))});
    size_t n = entries.size();
    for (size_t i = 0; i < n; ++i) {
      if (DictionaryAttr attrs = source.getArgAttrDict(entries[i].arg))
        func.setArgAttrs(unsigned(i), attrs);
      NamedAttrList gradAttrs;
      gradAttrs.set(kInputAttrName,
                    StringAttr::get(ctx, kGradPrefix.str() + entries[i].name));
      gradAttrs.set(kCollectiveAttrName, collective);
      func.setArgAttrs(unsigned(n + i), gradAttrs.getDictionary(ctx));
    }
    SmallVector<std::pair<Value, Value>> moments;
    Value lr, stepArg;
    if (failed(addOptimizerArgs(func, entries, paramTypes, moments, lr,
                                stepArg))) {
      func.erase();
      return failure();
    }
    // The source's gradient results carry the same collective: the
    // compiler signals each one as soon as it is final, so the runtime can
    // start reducing it while the backward goes on.
    for (unsigned r = 0, e = source.getNumResults(); r < e; ++r) {
      auto name = source.getResultAttrOfType<StringAttr>(r, kOutputAttrName);
      if (!name || !name.getValue().starts_with(kGradPrefix))
        continue;
      for (size_t i = 0; i < n; ++i)
        if (name.getValue().drop_front(kGradPrefix.size()) == entries[i].name)
          source.setResultAttr(r, kCollectiveAttrName, collective);
    }
    SmallVector<Update> updates;
    for (size_t i = 0; i < n; ++i)
      updates.push_back({entries[i].name, func.getArgument(unsigned(i)),
                         func.getArgument(unsigned(n + i)), moments[i].first,
                         moments[i].second});
    OpBuilder b = OpBuilder::atBlockEnd(body);
    Results out;
    emitOptimizer(b, loc, updates, lr, stepArg, out);
    func::ReturnOp::create(b, loc, out.values);
    func.setType(FunctionType::get(ctx, func.getArgumentTypes(), out.types));
    func.setAllResultAttrs(out.attrs);
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
