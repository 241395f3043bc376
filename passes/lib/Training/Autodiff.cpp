//===- Autodiff.cpp - Reverse-mode differentiation of a loss function -----===//
//
// gecko-autodiff (see Passes.td). The gradient function is a clone of the
// loss function followed by the reverse sweep; every op contributes its own
// VJP through DifferentiableOpInterface, so this file holds no op-specific
// knowledge.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoExternalModels.h"
#include "gecko/Dialect/Gecko/IR/GeckoInterfaces.h"
#include "gecko/Dialect/Gecko/IR/GeckoVjpUtils.h"
#include "gecko/Training/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseSet.h"

#include <map>

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOAUTODIFF
#include "gecko/Training/Passes.h.inc"

namespace {

bool isFloatTensor(Value v) {
  return isa<FloatType>(getElementTypeOrSelf(v.getType()));
}

/// Whether argument `i` of `func` is a trainable parameter.
bool isTrainable(func::FuncOp func, unsigned i) {
  return func.getArgAttr(i, kParamAttrName) &&
         !func.getArgAttr(i, kBufferAttrName) &&
         isFloatTensor(func.getArgument(i));
}

struct GeckoAutodiffPass : impl::GeckoAutodiffBase<GeckoAutodiffPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    // The VJPs of the upstream ops a frontend may use (arith, math,
    // linalg.broadcast, tensor.concat) are external models: make sure they
    // are attached whoever created the context.
    registerGeckoExternalModels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto source = module.lookupSymbol<func::FuncOp>(this->source);
    if (!source) {
      module.emitError() << "gecko-autodiff: no function @" << this->source;
      return signalPassFailure();
    }
    if (module.lookupSymbol(this->target)) {
      module.emitError() << "gecko-autodiff: @" << this->target
                         << " already exists";
      return signalPassFailure();
    }
    if (remat != "none" && remat != "block") {
      module.emitError() << "gecko-autodiff: remat must be 'none' or "
                            "'block', got '"
                         << remat << "'";
      return signalPassFailure();
    }
    if (source.isExternal() || !llvm::hasSingleElement(source.getBody())) {
      source.emitError() << "gecko-autodiff: @" << this->source
                         << " must have a body of one block";
      return signalPassFailure();
    }
    auto resultType =
        source.getNumResults() == 1 || (wrtState && source.getNumResults() > 0)
            ? dyn_cast<RankedTensorType>(source.getResultTypes()[0])
            : RankedTensorType();
    if (!resultType || resultType.getRank() != 0 ||
        !isa<FloatType>(resultType.getElementType())) {
      source.emitError() << "gecko-autodiff: @" << this->source
                         << (wrtState ? " must return a 0-d float tensor (the "
                                        "loss) first"
                                      : " must return exactly one 0-d float "
                                        "tensor (the loss)");
      return signalPassFailure();
    }
    // wrt-state: every further result is `next:<state>` of a gecko.state
    // argument of the same type.
    for (unsigned r = 1; r < source.getNumResults(); ++r) {
      auto name = source.getResultAttrOfType<StringAttr>(r, kOutputAttrName);
      std::string state;
      if (name && name.getValue().starts_with(kNextPrefix))
        state = name.getValue().drop_front(StringRef(kNextPrefix).size()).str();
      bool found = false;
      for (unsigned i = 0; i < source.getNumArguments() && !found; ++i)
        if (auto arg = source.getArgAttrOfType<StringAttr>(i, kStateAttrName))
          found = arg.getValue() == state &&
                  source.getArgument(i).getType() == source.getResultTypes()[r];
      if (!found) {
        source.emitError() << "gecko-autodiff: result " << r << " of @"
                           << this->source
                           << " is not `next:<state>` of a gecko.state "
                              "argument of its type (wrt-state)";
        return signalPassFailure();
      }
    }

    OpBuilder moduleBuilder(source);
    moduleBuilder.setInsertionPointAfter(source);
    auto grad = cast<func::FuncOp>(moduleBuilder.clone(*source));
    grad.setName(this->target);
    if (failed(differentiate(grad))) {
      grad.erase();
      return signalPassFailure();
    }
  }

  LogicalResult differentiate(func::FuncOp func) {
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(0);

    // Values that depend on a trainable parameter (forward, op order); with
    // wrt-state also on a float state argument.
    llvm::DenseSet<Value> active;
    SmallVector<unsigned> trainable, states;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      if (isTrainable(func, i)) {
        trainable.push_back(i);
        active.insert(func.getArgument(i));
      } else if (wrtState && func.getArgAttr(i, kStateAttrName) &&
                 isFloatTensor(func.getArgument(i))) {
        states.push_back(i);
        active.insert(func.getArgument(i));
      }
    }
    // wrt-state: one seed input per differentiated result, named
    // `cotangent.<result name>` (`next:` dropped), appended to the
    // arguments: the loss's and that of every float `next:` result.
    SmallVector<std::pair<Value, Value>> seeds; // (result, seed argument)
    if (wrtState) {
      for (unsigned r = 0, e = ret.getNumOperands(); r < e; ++r) {
        Value result = ret.getOperand(r);
        if (!isFloatTensor(result))
          continue;
        StringRef name =
            func.getResultAttrOfType<StringAttr>(r, kOutputAttrName)
                ? func.getResultAttrOfType<StringAttr>(r, kOutputAttrName)
                      .getValue()
                : StringRef("output.loss");
        name.consume_front(kNextPrefix);
        unsigned index = func.getNumArguments();
        OpBuilder attrs(func);
        (void)func.insertArgument(
            index, result.getType(),
            attrs.getDictionaryAttr({attrs.getNamedAttr(
                kInputAttrName, attrs.getStringAttr("cotangent." + name))}),
            func.getLoc());
        seeds.emplace_back(result, func.getArgument(index));
      }
    }
    SmallVector<Operation *> forward;
    for (Operation &op : body.without_terminator()) {
      forward.push_back(&op);
      bool anyActive = llvm::any_of(
          op.getOperands(), [&](Value v) { return active.contains(v); });
      if (anyActive)
        for (Value r : op.getResults())
          if (isFloatTensor(r))
            active.insert(r);
    }

    // Reverse sweep, inserting before the return.
    OpBuilder b(ret);
    DenseMap<Value, Value> cotangent;
    auto accumulate = [&](Value v, Value g) {
      auto [it, inserted] = cotangent.try_emplace(v, g);
      if (!inserted)
        it->second = arith::AddFOp::create(b, v.getLoc(), it->second, g);
    };
    if (wrtState) {
      for (auto [result, seed] : seeds)
        if (active.contains(result))
          accumulate(result, seed);
    } else if (active.contains(loss)) {
      auto type = cast<RankedTensorType>(loss.getType());
      Value one = arith::ConstantOp::create(
          b, func.getLoc(), type,
          DenseElementsAttr::get(type,
                                 b.getFloatAttr(type.getElementType(), 1.0)));
      cotangent[loss] = one;
    }

    // remat=block: the ops of each tagged block, in forward order.
    std::map<int64_t, SmallVector<Operation *>> blocks;
    if (remat == "block")
      for (Operation *op : forward)
        if (auto tag = op->getAttrOfType<IntegerAttr>(kBlockAttrName))
          blocks[tag.getInt()].push_back(op);
    DenseMap<Operation *, Operation *> recomputed;
    auto rematerialize = [&](int64_t tag) {
      IRMapping mapping;
      for (Operation *op : blocks[tag]) {
        Operation *clone = b.clone(*op, mapping);
        clone->removeAttr(kBlockAttrName);
        recomputed[op] = clone;
      }
      blocks.erase(tag);
    };

    for (Operation *op : llvm::reverse(forward)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value r : op->getResults()) {
        Value g = cotangent.lookup(r);
        resultGrads.push_back(g);
        any |= bool(g);
      }
      if (!any)
        continue;
      // The first backward op of a block recomputes the whole block; the
      // VJPs then read the recomputed values.
      if (auto tag = op->getAttrOfType<IntegerAttr>(kBlockAttrName);
          tag && blocks.count(tag.getInt()))
        rematerialize(tag.getInt());
      Operation *source = op;
      if (Operation *clone = recomputed.lookup(op))
        source = clone;
      auto differentiable = dyn_cast<DifferentiableOpInterface>(source);
      if (!differentiable)
        return op->emitError()
               << "gecko-autodiff: '" << op->getName()
               << "' lies on the path from a parameter to the loss but has "
                  "no VJP (DifferentiableOpInterface)";
      // Operand i of the clone is the recomputed operand i of `op`, so the
      // cotangents map back to `op`'s operands by position.
      FailureOr<SmallVector<Value>> grads =
          differentiable.buildVjp(b, resultGrads);
      if (failed(grads))
        return failure();
      if (grads->size() != op->getNumOperands())
        return op->emitError()
               << "gecko-autodiff: buildVjp returned " << grads->size()
               << " cotangents for " << op->getNumOperands() << " operands";
      for (auto [operand, g] : llvm::zip(op->getOperands(), *grads))
        if (g && active.contains(operand))
          accumulate(operand, g);
    }

    // Results: the loss, then one gradient per trainable parameter.
    SmallVector<Value> results = {loss};
    SmallVector<Type> resultTypes = {loss.getType()};
    SmallVector<DictionaryAttr> resultAttrs = {func.getResultAttrDict(0)};
    // The gradient of arg `i` (zeros when nothing reached it), named
    // `grad.<name>` after its `nameAttr`.
    auto addGradient = [&](unsigned i, StringRef nameAttr) {
      Value arg = func.getArgument(i);
      Value g = cotangent.lookup(arg);
      if (!g)
        g = zerosLike(b, func.getLoc(), arg);
      results.push_back(g);
      resultTypes.push_back(arg.getType());
      auto name = func.getArgAttrOfType<StringAttr>(i, nameAttr);
      resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(
          kOutputAttrName, b.getStringAttr("grad." + name.str()))}));
    };
    for (unsigned i : trainable)
      addGradient(i, kParamAttrName);
    // wrt-state: then one gradient per float state, `grad.<state name>`.
    for (unsigned i : states)
      addGradient(i, kStateAttrName);
    ret->setOperands(results);
    func.setType(b.getFunctionType(func.getArgumentTypes(), resultTypes));
    func.setAllResultAttrs(resultAttrs);
    return success();
  }
};

} // namespace
} // namespace mlir::gecko
