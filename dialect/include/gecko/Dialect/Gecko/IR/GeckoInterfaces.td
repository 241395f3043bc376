//===- GeckoInterfaces.td - Interfaces of the gecko dialect -*- tablegen -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_TD
#define GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_TD

include "mlir/IR/OpBase.td"

def Gecko_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::gecko";
  let description = [{
    An op that can build its own vector-Jacobian product. The autodiff pass
    walks a function in reverse and asks each op for the cotangents of its
    operands given the cotangents of its results; it needs no op-specific code
    of its own.

    `resultGrads` has one entry per result. A null Value means the cotangent
    of that result is zero (the result is unused, or only feeds
    non-differentiable uses); implementations materialise zeros only where
    their backward op needs a value. The returned vector has one entry per
    operand; a null Value means "no gradient" (integer operands such as token
    ids, segment ids or counts, and operands the math gives no gradient to).
  }];
  let methods = [
    InterfaceMethod<
      /*desc=*/"Builds the backward computation at the builder's insertion "
               "point and returns one cotangent per operand (null = none).",
      /*retTy=*/"::mlir::FailureOr<::llvm::SmallVector<::mlir::Value>>",
      /*methodName=*/"buildVjp",
      /*args=*/(ins "::mlir::OpBuilder &":$builder,
                    "::mlir::ValueRange":$resultGrads)>,
  ];
}

#endif // GECKO_DIALECT_GECKO_IR_GECKOINTERFACES_TD
