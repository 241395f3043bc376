//===- LowerTrainingOps.cpp - Lowering of the gecko training family
//---------===//
//
// Patterns rewriting the training family (docs/dialect.md) into linalg, tensor,
// scf, arith and math. See LoweringUtils.h for the shared builders.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "gecko/Conversion/GeckoToLinalg/GeckoToLinalg.h"
#include "gecko/Dialect/Gecko/IR/GeckoOps.h"

#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gecko {

void populateGeckoTrainingLoweringPatterns(RewritePatternSet &patterns) {
  (void)patterns;
}

} // namespace mlir::gecko
