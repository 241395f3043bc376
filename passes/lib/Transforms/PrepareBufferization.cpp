//===- PrepareBufferization.cpp - Read-only arguments, distinct results ---===//
//
// See Passes.td (gecko-prepare-bufferization).
//
//===----------------------------------------------------------------------===//

#include "gecko/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_GECKOPREPAREBUFFERIZATION
#include "gecko/Transforms/Passes.h.inc"

namespace {

struct GeckoPrepareBufferizationPass
    : impl::GeckoPrepareBufferizationBase<GeckoPrepareBufferizationPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      OpBuilder b(func.getContext());
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (isa<TensorType>(func.getArgumentTypes()[i]))
          func.setArgAttr(
              i, bufferization::BufferizationDialect::kWritableAttrName,
              b.getBoolAttr(false));
      func.walk([&](func::ReturnOp ret) {
        llvm::SmallDenseSet<Value> seen;
        b.setInsertionPoint(ret);
        for (OpOperand &operand : ret->getOpOperands()) {
          Value v = operand.get();
          auto type = dyn_cast<RankedTensorType>(v.getType());
          if (!type)
            continue;
          if (!isa<BlockArgument>(v) && seen.insert(v).second)
            continue;
          // A fresh copy: tensor.empty + linalg.copy (dynamic sizes from v).
          SmallVector<Value> dynamicSizes;
          for (int64_t d = 0; d < type.getRank(); ++d)
            if (type.isDynamicDim(d))
              dynamicSizes.push_back(
                  tensor::DimOp::create(b, ret.getLoc(), v, d));
          Value empty =
              tensor::EmptyOp::create(b, ret.getLoc(), type, dynamicSizes);
          operand.set(
              linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0));
        }
      });
    }
  }
};

} // namespace
} // namespace mlir::gecko
