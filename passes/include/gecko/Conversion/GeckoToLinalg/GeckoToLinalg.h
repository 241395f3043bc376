//===- GeckoToLinalg.h - gecko to linalg lowering patterns ------*- C++ -*-===//
//
// One populate function per op family. Each lives in its own file under
// passes/lib/Conversion/GeckoToLinalg/ and adds OpConversionPatterns that
// rewrite a gecko op into upstream value-semantic IR (see Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_CONVERSION_GECKOTOLINALG_GECKOTOLINALG_H
#define GECKO_CONVERSION_GECKOTOLINALG_GECKOTOLINALG_H

namespace mlir {
class RewritePatternSet;
namespace gecko {

void populateGeckoNormLoweringPatterns(RewritePatternSet &patterns);
void populateGeckoEmaLoweringPatterns(RewritePatternSet &patterns);
void populateGeckoBasicLoweringPatterns(RewritePatternSet &patterns);
void populateGeckoAttentionLoweringPatterns(RewritePatternSet &patterns);
void populateGeckoMemoryLoweringPatterns(RewritePatternSet &patterns);
void populateGeckoTrainingLoweringPatterns(RewritePatternSet &patterns);

/// All of the above.
void populateGeckoToLinalgPatterns(RewritePatternSet &patterns);

} // namespace gecko
} // namespace mlir

#endif // GECKO_CONVERSION_GECKOTOLINALG_GECKOTOLINALG_H
