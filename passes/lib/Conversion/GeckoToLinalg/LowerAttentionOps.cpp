//===- LowerAttentionOps.cpp - Lowering of the gecko attention family
//---------===//
//
// Patterns rewriting the attention family (docs/dialect.md) into linalg,
// tensor, scf, arith and math. See LoweringUtils.h for the shared builders.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gecko {

void populateGeckoAttentionLoweringPatterns(RewritePatternSet &patterns) {
  (void)patterns;
}

} // namespace mlir::gecko
