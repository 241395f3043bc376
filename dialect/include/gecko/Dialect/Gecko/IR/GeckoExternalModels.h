//===- GeckoExternalModels.h - Gecko interfaces on upstream ops -*- C++ -*-===//
//
// The residual arithmetic of a Gecko block uses upstream `arith` ops on
// tensors. This attaches DifferentiableOpInterface to them (as external
// models) so the autodiff pass treats them like gecko ops.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOEXTERNALMODELS_H
#define GECKO_DIALECT_GECKO_IR_GECKOEXTERNALMODELS_H

#include "mlir/IR/DialectRegistry.h"

namespace mlir::gecko {
void registerGeckoExternalModels(DialectRegistry &registry);
} // namespace mlir::gecko

#endif // GECKO_DIALECT_GECKO_IR_GECKOEXTERNALMODELS_H
