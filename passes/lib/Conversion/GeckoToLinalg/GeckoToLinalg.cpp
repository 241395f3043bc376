//===- GeckoToLinalg.cpp - The convert-gecko-to-linalg pass ---------------===//
//
// Drives the per-family patterns with a partial conversion in which the
// whole gecko dialect is illegal, so an op without a lowering is reported
// by name instead of being left in the IR.
//
//===----------------------------------------------------------------------===//

#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Conversion/Passes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gecko {

#define GEN_PASS_DEF_CONVERTGECKOTOLINALG
#include "gecko/Conversion/Passes.h.inc"

void populateGeckoToLinalgPatterns(RewritePatternSet &patterns) {
  populateGeckoNormLoweringPatterns(patterns);
  populateGeckoEmaLoweringPatterns(patterns);
  populateGeckoBasicLoweringPatterns(patterns);
  populateGeckoAttentionLoweringPatterns(patterns);
  populateGeckoMemoryLoweringPatterns(patterns);
  populateGeckoTrainingLoweringPatterns(patterns);
}

namespace {

struct ConvertGeckoToLinalgPass
    : impl::ConvertGeckoToLinalgBase<ConvertGeckoToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    ConversionTarget target(*context);
    target.addIllegalDialect<GeckoDialect>();
    target.addLegalDialect<arith::ArithDialect, func::FuncDialect,
                           linalg::LinalgDialect, math::MathDialect,
                           scf::SCFDialect, tensor::TensorDialect>();
    RewritePatternSet patterns(context);
    populateGeckoToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns)))) {
      // The conversion driver has named the first op it could not
      // legalize ("failed to legalize operation 'gecko.x'"); the rest of the
      // IR is rolled back, so nothing else is meaningful to report.
      signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::gecko
