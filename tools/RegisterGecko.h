//===- RegisterGecko.h - One registration entry point for all tools -*- C++
//-*-===//
//
// gecko-opt and gecko-compile register dialects and passes through these
// functions only, so both tools always agree on what IR they accept and
// which passes and pipelines exist.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_TOOLS_REGISTERGECKO_H
#define GECKO_TOOLS_REGISTERGECKO_H

#include "gecko/Conversion/Passes.h"
#include "gecko/Dialect/Gecko/IR/GeckoDialect.h"
#include "gecko/Dialect/Gecko/IR/GeckoExternalModels.h"
#include "gecko/GPU/Passes.h"
#include "gecko/Pipelines/Pipelines.h"
#include "gecko/Training/Passes.h"
#include "gecko/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace mlir::gecko {

/// Registers the gecko dialect plus every upstream dialect and extension the
/// lowering pipelines may produce.
inline void registerGeckoDialects(DialectRegistry &registry) {
  registry.insert<GeckoDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerGeckoExternalModels(registry);
  // gpu-module-to-binary translates kernel modules to LLVM IR and PTX.
  registerAllGPUToLLVMIRTranslations(registry);
}

/// Registers upstream passes and every gecko pass and pipeline.
inline void registerGeckoPasses() {
  registerAllPasses();
  registerGeckoConversionPasses();
  registerGeckoTransformsPasses();
  registerGeckoTrainingPasses();
  registerGeckoGPUPasses();
  registerGeckoPipelines();
}

} // namespace mlir::gecko

#endif // GECKO_TOOLS_REGISTERGECKO_H
