//===- LowerBasicOps.cpp - Lowering of the gecko basic family -------------===//
//
// Patterns rewriting the basic family (docs/dialect.md: embedding, linear,
// z_affine, rope, silu, swiglu) into linalg, tensor, arith and math. See
// LoweringUtils.h for the shared builders.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gecko {
namespace {

using namespace lowering;

/// silu(x) = x / (1 + exp(-x)), evaluated in the compute type.
Value buildSilu(OpBuilder &b, Location loc, Value x) {
  Value negated = arith::NegFOp::create(b, loc, x);
  Value exp = math::ExpOp::create(b, loc, negated);
  Value one = floatConstant(b, loc, x.getType(), 1.0);
  Value denominator = arith::AddFOp::create(b, loc, one, exp);
  return arith::DivFOp::create(b, loc, x, denominator);
}

struct LowerSilu : OpConversionPattern<SiluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SiluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type elementType = op.getType().getElementType();
    Type computeType = getComputeType(elementType);
    Value result = buildElementwise(
        rewriter, loc, adaptor.getX(), elementType,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = castFloat(b, l, args[0], computeType);
          return castFloat(b, l, buildSilu(b, l, x), elementType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void populateGeckoBasicLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerSilu>(patterns.getContext());
}

} // namespace mlir::gecko
