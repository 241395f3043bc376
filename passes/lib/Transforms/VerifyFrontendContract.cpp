//===- VerifyFrontendContract.cpp - Check the frontend contract -----------===//
//
// Implements the rules of docs/frontend.md ("The frontend contract"). Every
// rule is checked for every function, so one run reports all violations.
//
//===----------------------------------------------------------------------===//

#include "gecko/Dialect/Gecko/IR/GeckoAttributes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOVERIFYFRONTENDCONTRACT
#include "gecko/Transforms/Passes.h.inc"

namespace {

/// Upstream ops a frontend may use besides the gecko dialect (F7): each has
/// a CPU lowering and, where it carries floats, a VJP.
bool isAllowedUpstreamOp(Operation *op) {
  if (isa<func::ReturnOp, arith::ConstantOp, tensor::EmptyOp, tensor::ConcatOp,
          linalg::BroadcastOp, linalg::TransposeOp>(op))
    return true;
  // Streaming functions slice and roll their caches and compute cache
  // lengths from the stream position.
  if (isa<tensor::ExtractOp, tensor::ExtractSliceOp, tensor::CollapseShapeOp>(
          op))
    return true;
  if (isa<arith::ArithDialect>(op->getDialect()) &&
      llvm::all_of(op->getResultTypes(),
                   [](Type t) { return t.isIntOrIndexOrFloat(); }))
    return true;
  // Elementwise arith and math on tensors (add, mul, exp, compare, ...).
  if (isa<arith::ArithDialect, math::MathDialect>(op->getDialect()))
    return llvm::all_of(op->getResultTypes(),
                        [](Type t) { return isa<RankedTensorType>(t); });
  return false;
}

struct ContractChecker {
  ModuleOp module;
  bool failed = false;
  llvm::StringMap<Type> paramTypes; // F5
  llvm::StringMap<std::string> paramOwner;

  InFlightDiagnostic error(Operation *op, StringRef label) {
    failed = true;
    return op->emitError() << "[" << label << "] ";
  }

  static bool isStaticTensor(Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    return tensor && tensor.hasStaticShape();
  }

  void checkModule() {
    auto version =
        module->getAttrOfType<IntegerAttr>(kFrontendContractAttrName);
    if (!version)
      error(module, "F1") << "the module has no '" << kFrontendContractAttrName
                          << "' integer attribute";
    else if (version.getInt() != kFrontendContractVersion)
      error(module, "F1") << "frontend contract version " << version.getInt()
                          << " is not the supported version "
                          << kFrontendContractVersion;
    if (auto config = module->getAttr(kModelConfigAttrName);
        config && !isa<StringAttr>(config))
      error(module, "F1") << "'" << kModelConfigAttrName
                          << "' must be a string (the model config JSON)";
  }

  void checkFunction(func::FuncOp func) {
    if (func.isExternal()) {
      error(func, "F2") << "function @" << func.getName() << " has no body";
      return;
    }
    llvm::StringMap<unsigned> argNames;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      Type type = func.getArgumentTypes()[i];
      auto param = func.getArgAttrOfType<StringAttr>(i, kParamAttrName);
      auto input = func.getArgAttrOfType<StringAttr>(i, kInputAttrName);
      auto state = func.getArgAttrOfType<StringAttr>(i, kStateAttrName);
      if (!isStaticTensor(type))
        error(func, "F2") << "argument " << i << " of @" << func.getName()
                          << " has type " << type
                          << "; arguments must be statically shaped tensors";
      int kinds = bool(param) + bool(input) + bool(state);
      if (kinds != 1) {
        error(func, "F2") << "argument " << i << " of @" << func.getName()
                          << (kinds ? " has more than one of "
                                    : " has none of ")
                          << kParamAttrName << ", " << kInputAttrName << ", "
                          << kStateAttrName;
        continue;
      }
      StringRef name = param   ? param.getValue()
                       : input ? input.getValue()
                               : state.getValue();
      if (name.empty()) {
        error(func, "F2") << "argument " << i << " of @" << func.getName()
                          << " has an empty name";
        continue;
      }
      auto [it, inserted] = argNames.try_emplace(name, i);
      if (!inserted)
        error(func, "F4") << "arguments " << it->second << " and " << i
                          << " of @" << func.getName()
                          << " have the same name '" << name << "'";
      if (param) {
        auto [pit, fresh] = paramTypes.try_emplace(name, type);
        if (fresh)
          paramOwner[name] = func.getName().str();
        else if (pit->second != type)
          error(func, "F5") << "parameter '" << name << "' has type " << type
                            << " in @" << func.getName() << " but "
                            << pit->second << " in @" << paramOwner[name];
      }
      if (auto range = func.getArgAttr(i, kRangeAttrName))
        checkRange(func, i, type, bool(input), range);
    }

    llvm::StringSet<> resultNames;
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i) {
      Type type = func.getResultTypes()[i];
      auto name = func.getResultAttrOfType<StringAttr>(i, kOutputAttrName);
      if (!isStaticTensor(type))
        error(func, "F3") << "result " << i << " of @" << func.getName()
                          << " has type " << type
                          << "; results must be statically shaped tensors";
      if (!name || name.getValue().empty()) {
        error(func, "F3") << "result " << i << " of @" << func.getName()
                          << " has no " << kOutputAttrName << " name";
        continue;
      }
      if (name.getValue().starts_with(kNextPrefix)) {
        StringRef target =
            name.getValue().drop_front(StringRef(kNextPrefix).size());
        auto it = argNames.find(target);
        if (it == argNames.end() || func.getArgAttr(it->second, kInputAttrName))
          error(func, "F9")
              << "result " << i << " of @" << func.getName() << " updates '"
              << target << "', which is not a param or state argument";
        else if (func.getArgumentTypes()[it->second] != type)
          error(func, "F9") << "result " << i << " of @" << func.getName()
                            << " has type " << type << " but the argument '"
                            << target << "' it updates has type "
                            << func.getArgumentTypes()[it->second];
      }
      if (!resultNames.insert(name.getValue()).second)
        error(func, "F4") << "two results of @" << func.getName()
                          << " are named '" << name.getValue() << "'";
    }

    // Allowed ops are checked as a whole: the bodies of their regions (the
    // scalar yield of linalg.broadcast) are theirs.
    func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (op == func.getOperation())
        return WalkResult::advance();
      if (isa<GeckoDialect>(op->getDialect()) || isAllowedUpstreamOp(op))
        return WalkResult::skip();
      error(op, "F7") << "'" << op->getName()
                      << "' is not allowed in a frontend module (use gecko "
                         "ops; see docs/frontend.md for the upstream ops "
                         "that are accepted)";
      return WalkResult::skip();
    });
  }

  void checkRange(func::FuncOp func, unsigned i, Type type, bool isInput,
                  Attribute range) {
    auto bounds = dyn_cast<DenseI64ArrayAttr>(range);
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!isInput || !tensor || !tensor.getElementType().isInteger()) {
      error(func, "F6") << kRangeAttrName << " on argument " << i << " of @"
                        << func.getName()
                        << " is only allowed on integer inputs";
      return;
    }
    if (!bounds || bounds.size() != 2 || bounds[0] >= bounds[1])
      error(func, "F6") << kRangeAttrName << " on argument " << i << " of @"
                        << func.getName()
                        << " must be array<i64: lo, hi> with lo < hi";
  }
};

struct GeckoVerifyFrontendContractPass
    : impl::GeckoVerifyFrontendContractBase<GeckoVerifyFrontendContractPass> {
  void runOnOperation() override {
    ContractChecker checker;
    checker.module = getOperation();
    checker.checkModule();
    bool anyPublic = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isPrivate()) {
        checker.error(func, "F8")
            << "private function @" << func.getName()
            << ": a frontend module holds only public entry functions";
        continue;
      }
      anyPublic = true;
      checker.checkFunction(func);
    }
    for (Operation &op : getOperation().getBody()->getOperations())
      if (!isa<func::FuncOp>(op))
        checker.error(&op, "F8") << "'" << op.getName()
                                 << "' at module level: a frontend module "
                                    "holds only functions";
    if (!anyPublic)
      checker.error(getOperation(), "F8") << "the module has no function";
    if (checker.failed)
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
} // namespace mlir::gecko
